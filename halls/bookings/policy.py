"""Cancellation policy: how much a cancel refunds, by how long before the event it comes.

A booking keeps the terms in force when it was made (`policy`, written at creation by
`snapshot`): the venue's `cancellation_policy` tiers `{min_hours_before, refund_pct}` and its
`reschedule_cutoff_hours`. An owner's later edit of the venue reaches only later bookings.
A cancel refunds the pct of the tier with the largest `min_hours_before` that the time left
before the event still reaches; later than every tier (or after the start) refunds nothing.
The owner's side (an owner's cancel, or a reject) always refunds 100 %: the customer did
nothing wrong. The tiers bind only a booking the owner has confirmed: a customer withdrawing a
request the owner never accepted (still pending, never confirmed) gets 100 % back, since the
owner never committed the slots to it. A confirmed booking a reschedule sent back to pending
stays bound (`confirmed_once`), or moving it would be a way around the policy.

Moves neither dodge the policy nor turn it against the customer. Each move records in its
`history` entry `refund_pct_before`, what the customer's cancel would have refunded just before
it (null while the tiers did not bind): after a move of the customer's own, a cancel refunds at
most that pct; after the owner's, at least that pct. A move to a lower price gives back the
difference like a partial cancel, at the rate a cancel would refund then (100 % when the owner
moves it); the rest is `forfeited` to the venue and no longer counts as paid. A hold that lapses
after the customer moved a confirmed booking refunds what the customer's cancel would have
when the hold ended (`lapse_pct`).

The refund is a share of what the customer paid through halls; a pay-at-venue booking paid
nothing here, so it refunds 0 while the quote still shows the pct.

Pure functions of a booking and its venue: no queries, no clock (the caller says when).
"""

import datetime as dt
from typing import Any

from halls import rules
from halls.documents import Booking, BookingPolicy, CancellationTier, MoveTerms, Venue


def snapshot(venue: Venue) -> BookingPolicy:
    """The terms a booking made now keeps for good: the venue's tiers and reschedule cut-off."""
    return {
        "cancellation": tiers_of(venue),
        "reschedule_cutoff_hours": rules.setting(venue, "reschedule_cutoff_hours"),
    }


def refund_quote(
    booking: Booking, venue: Venue, now: dt.datetime, by_owner: bool = False
) -> dict[str, Any]:
    """What cancelling at `now` would refund: {refund_pct, refund_amount, hours_before, ...}."""
    start = rules.event_start(venue, booking["date"], booking["slots"])
    hours_before = (start - now).total_seconds() / 3600
    pct = 100 if by_owner else customer_pct(booking, hours_before)
    return {
        "refund_pct": pct,
        "refund_amount": refund_amount(booking, pct),
        "hours_before": round(hours_before, 2),
        "policy": booking["policy"]["cancellation"],
        "event_start": start,
        "paid": net_paid(booking),
        "by_owner": by_owner,
    }


def customer_pct(booking: Booking, hours_before: float) -> int:
    """The pct the customer's own cancel refunds: its tiers, within the limits its moves set."""
    if not bound_by_policy(booking):
        return 100
    floor, cap = move_limits(booking)
    return min(max(pct_for(booking["policy"]["cancellation"], hours_before), floor), cap)


def move_limits(booking: Booking) -> tuple[int, int]:
    """(floor, cap) of the customer's refund pct, from the pct each move found in force.

    A customer who moves a booking keeps at most the refund they had before (no moving a
    near date far out to cancel it for free); an owner who moves it leaves the customer at
    least that refund (no moving it nearer to cut the refund). Each recorded pct was already
    within the limits of the moves before it, so the floor never exceeds the cap.
    """
    floor, cap = 0, 100
    for change in booking["history"]:
        before = change["refund_pct_before"]
        if before is None:
            continue  # the tiers did not bind it yet: nothing to keep
        if change["by"] == booking["user_id"]:
            cap = min(cap, before)
        else:
            floor = max(floor, before)
    return floor, cap


def move_terms(
    booking: Booking, venue: Venue, now: dt.datetime, by_owner: bool, price_delta: int
) -> MoveTerms:
    """What a move does to the refunds: the history fields it records.

    refund_pct_before: the customer's cancel pct just before the move (None while unbound).
    refunded: of a lower price, what goes back to the customer, at the rate a cancel would
    refund now (100 % on the owner's side); forfeited: the rest of the difference, kept by the
    venue. Both count only money paid through halls (0 for a pay-at-venue booking).
    """
    before = refund_quote(booking, venue, now)["refund_pct"] if bound_by_policy(booking) else None
    rate = 100 if by_owner or before is None else before
    given_up = min(max(-price_delta, 0), net_paid(booking))
    refunded = given_up * rate // 100
    return {
        "refund_pct_before": before,
        "refund_pct": rate,
        "refunded": refunded,
        "forfeited": given_up - refunded,
    }


def lapse_pct(booking: Booking, venue: Venue, at: dt.datetime) -> int:
    """What a pending booking whose hold ended at `at` refunds.

    Everything, as the owner let it lapse; but when the customer's own move sent a booking the
    owner had confirmed back to pending, what the customer's cancel would have refunded then:
    moving and letting it lapse is no way around the policy.
    """
    history = booking["history"]
    if not (bound_by_policy(booking) and history and history[-1]["by"] == booking["user_id"]):
        return 100
    return refund_quote(booking, venue, at)["refund_pct"]


def net_paid(booking: Booking) -> int:
    """What the customer paid through halls for the booking and has not had back yet."""
    payment = booking["payment"]
    # What an earlier move gave back is no longer paid, nor what it forfeited to the venue.
    forfeited = sum(change["forfeited"] for change in booking["history"])
    return max(payment["paid"] - payment["refunded"] - forfeited, 0)


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
