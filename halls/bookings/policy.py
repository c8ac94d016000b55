"""Cancellation policy: how much a cancel refunds, by how long before the event it comes.

A venue's `cancellation_policy` is a list of tiers `{min_hours_before, refund_pct}`. A cancel
refunds the pct of the tier with the largest `min_hours_before` that the time left before the
event still reaches; later than every tier (or after the start) refunds nothing. The owner's
side (an owner's cancel, or a reject) always refunds 100 %: the customer did nothing wrong.
The tiers bind only a booking the owner has confirmed: a customer withdrawing a request the
owner never accepted (still pending, never confirmed) gets 100 % back, since the owner never
committed the slots to it. A confirmed booking a reschedule sent back to pending stays bound
(`confirmed_once`), or moving it would be a way around the policy.
The refund is a share of what the customer paid through halls; a pay-at-venue booking paid
nothing here, so it refunds 0 while the quote still shows the pct.
"""

import datetime as dt

from halls import db, rules
from halls.errors import Conflict

CANCELLABLE = ("pending", "confirmed")


def refund_quote(booking, venue, now=None, by_owner=False):
    """What cancelling now would refund: {refund_pct, refund_amount, hours_before, policy, ...}."""
    now = now or dt.datetime.now(dt.UTC)
    start = rules.event_start(venue, booking["date"], booking["slots"])
    hours_before = (start - now).total_seconds() / 3600
    policy = tiers_of(venue)
    pct = pct_for(policy, hours_before) if bound_by_policy(booking, by_owner) else 100
    payment = booking["payment"]
    # What an earlier partial refund (a cheaper reschedule) gave back is no longer paid.
    net_paid = max(payment["paid"] - payment["refunded"], 0)
    return {
        "refund_pct": pct,
        "refund_amount": net_paid * pct // 100,
        "hours_before": round(hours_before, 2),
        "policy": policy,
        "event_start": start,
        "paid": net_paid,
        "by_owner": by_owner,
    }


def bound_by_policy(booking, by_owner=False):
    """A customer's cancel of a booking the owner has confirmed (now or before a move)."""
    confirmed = booking.get("status") == "confirmed" or booking.get("confirmed_once", False)
    return not by_owner and confirmed


def tiers_of(venue):
    """The venue's tiers (or the default ones), longest notice first."""
    tiers = rules.setting(venue, "cancellation_policy")
    return sorted(tiers, key=lambda tier: tier["min_hours_before"], reverse=True)


def pct_for(tiers, hours_before):
    """The refund pct for cancelling hours_before the event, tiers longest notice first."""
    for tier in tiers:
        if hours_before >= tier["min_hours_before"]:
            return tier["refund_pct"]
    return 0


def quote_cancellation(user, booking_id, now=None):
    """GET /bookings/<id>/cancellation-quote: for the booker or the venue's owner."""
    # Imported here: the booking service imports this module to price its refunds.
    from halls.bookings.service import get_booking

    booking = get_booking(user, booking_id)
    if booking["status"] not in CANCELLABLE:
        raise Conflict(
            f"A {booking['status']} booking cannot be cancelled.",
            error_code="invalid_transition",
            details={"from": booking["status"], "to": "cancelled"},
        )
    venue = db.venues().find_one({"_id": booking["venue_id"]}) or {}
    quote = refund_quote(booking, venue, now, by_owner=booking["user_id"] != user["_id"])
    return {"booking_id": booking["_id"], "currency": "PKR", **quote}
