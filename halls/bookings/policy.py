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

Pure functions of a booking and its venue: no queries, no clock (the caller says when).
"""

import datetime as dt
from typing import Any

from halls import rules
from halls.documents import Booking, CancellationTier, Venue


def refund_quote(
    booking: Booking, venue: Venue, now: dt.datetime, by_owner: bool = False
) -> dict[str, Any]:
    """What cancelling at `now` would refund: {refund_pct, refund_amount, hours_before, ...}."""
    start = rules.event_start(venue, booking["date"], booking["slots"])
    hours_before = (start - now).total_seconds() / 3600
    policy = tiers_of(venue)
    pct = pct_for(policy, hours_before) if bound_by_policy(booking, by_owner) else 100
    return {
        "refund_pct": pct,
        "refund_amount": refund_amount(booking, pct),
        "hours_before": round(hours_before, 2),
        "policy": policy,
        "event_start": start,
        "paid": net_paid(booking),
        "by_owner": by_owner,
    }


def net_paid(booking: Booking) -> int:
    """What the customer paid through halls for the booking and has not had back yet."""
    payment = booking["payment"]
    # What an earlier partial refund (a cheaper reschedule) gave back is no longer paid.
    return max(payment["paid"] - payment["refunded"], 0)


def refund_amount(booking: Booking, pct: int) -> int:
    """pct of what is still paid, in whole PKR (rounded down)."""
    return net_paid(booking) * pct // 100


def bound_by_policy(booking: Booking, by_owner: bool = False) -> bool:
    """A customer's cancel of a booking the owner has confirmed (now or before a move)."""
    confirmed = booking.get("status") == "confirmed" or booking.get("confirmed_once", False)
    return not by_owner and confirmed


def tiers_of(venue: Venue) -> list[CancellationTier]:
    """The venue's tiers (or the default ones), longest notice first."""
    tiers = rules.setting(venue, "cancellation_policy")
    return sorted(tiers, key=lambda tier: tier["min_hours_before"], reverse=True)


def pct_for(tiers: list[CancellationTier], hours_before: float) -> int:
    """The refund pct for cancelling hours_before the event, tiers longest notice first."""
    for tier in tiers:
        if hours_before >= tier["min_hours_before"]:
            return tier["refund_pct"]
    return 0
