"""Rescheduling: a booking moved to other slots or another date, and priced there afresh.

New claims first, then the booking (one guarded write that also appends the move to its
`history`), then the claims it left: when a step fails the booking moves back, its new claims
are freed and any charge is voided, so a refused move leaves it where it was. A wallet booking
pays a dearer move's difference under `payment:<id>:move<n>` and gets back what a cheaper move
refunds (policy.move_terms) under `refund:<id>:move<n>` (maintenance.repair_move_refunds pays
one a crash cut off).

Who moves it matters (issue 13): a move may cost the customer more only when the customer asks
for it and names the new total (`expected_total`, shown first by the reschedule quote); the
owner may move a booking only at the same or a lower price. Every rule is checked before the
first write, so a refused move changes nothing.
"""

import datetime as dt
from collections.abc import Mapping
from typing import Any

from pymongo import ReturnDocument

from halls import clock, db, notifications, pricing, rules
from halls.bookings import claims, create, lifecycle, policy, service
from halls.documents import BookedSlot, Booking, Move, Place, PriceBreakdown, User, Venue
from halls.errors import Conflict, Unprocessable
from halls.wallet import service as wallet


def reschedule_booking(
    user: User,
    booking_id: str,
    date: str,
    slots: list[str],
    expected_total: int | None = None,
) -> tuple[Booking, Move]:
    """Move a booking to other slots or another date; returns (booking, the history entry)."""
    booking = service.find_booking(user, booking_id)
    lifecycle.refuse_lapsed(booking)
    if booking["status"] not in lifecycle.ACTIVE:
        lifecycle.refuse_transition(booking["_id"], "rescheduled", booking)
    venue = create.get_bookable_venue(booking["venue_id"], date)
    now = clock.now()
    details, quote, change = _plan(user, booking, venue, date, slots, now)
    _check_consent(booking, user, quote, change, expected_total)
    moved = _move(booking, venue, details, quote, change)
    notifications.booking_rescheduled(moved, change)
    return moved, change


def quote_reschedule(user: User, booking_id: str, date: str, slots: list[str]) -> dict[str, Any]:
    """What moving the booking there would cost or give back, before anyone moves it."""
    booking = service.get_booking(user, booking_id)  # a lapsed hold reads as expired
    if booking["status"] not in lifecycle.ACTIVE:
        lifecycle.refuse_transition(booking["_id"], "rescheduled", booking)
    venue = create.get_bookable_venue(booking["venue_id"], date)
    now = clock.now()
    details, quote, change = _plan(user, booking, venue, date, slots, now)
    delta = change["price_delta"]
    by_owner = _by_owner(booking, user)
    # The slots this booking holds itself are no obstacle to its own move.
    own = booking["slots"] if booking["date"] == date else []
    held = claims.held_slots(venue["_id"], [date], change["to"]["slots"]).get(date, set())
    return {
        "booking_id": booking["_id"],
        "date": date,
        "slots": details,
        "quote": quote,
        "current_total": booking["price_locked"],
        "price_delta": delta,
        "charge": max(delta, 0) if lifecycle.paid_by_wallet(booking) else 0,
        "refund_pct": change["refund_pct"],
        "refunded": change["refunded"],
        "forfeited": change["forfeited"],
        "by_owner": by_owner,
        "allowed": not (by_owner and delta > 0),
        "available": not (held - set(own)),
    }


def _plan(
    user: User, booking: Booking, venue: Venue, date: str, slots: list[str], now: dt.datetime
) -> tuple[list[BookedSlot], PriceBreakdown, Move]:
    """The move's checks (before any write), its new price and its history entry."""
    _check_cutoff(booking, venue, now)
    details = pricing.slot_details(venue, slots)
    to: Place = {"date": date, "slots": [detail["key"] for detail in details]}
    if to == lifecycle.place(booking):
        raise Unprocessable(
            "The booking already has that date and those slots.",
            details={"slots": ["Choose another date or other slots."]},
        )
    create.check_bookable(venue, date, to["slots"], now)
    quote = _requote(booking, venue, to, now)
    delta = quote["total"] - booking["price_locked"]
    change: Move = {
        "at": now,
        "by": user["_id"],
        "from": lifecycle.place(booking),
        "to": to,
        "price_delta": delta,
        **policy.move_terms(booking, venue, now, _by_owner(booking, user), delta),
    }
    return details, quote, change


def _by_owner(booking: Booking, user: User) -> bool:
    # An owner booking their own venue is its customer: the customer's rules are theirs.
    return booking["user_id"] != user["_id"]


def _check_consent(
    booking: Booking, user: User, quote: PriceBreakdown, change: Move, expected_total: int | None
) -> None:
    """A dearer move needs the customer's own request, at the total they were shown."""
    delta = change["price_delta"]
    if delta > 0 and _by_owner(booking, user):
        raise Conflict(
            "Moving the booking there costs the customer more; only the customer can ask for "
            "that move.",
            error_code="customer_must_accept",
            context={"price_delta": delta, "quote": pricing.rendered(quote)},
        )
    if delta > 0 and expected_total is None:
        raise Conflict(
            "Moving the booking there costs more; send the new total as expected_total to "
            "accept it.",
            error_code="move_costs_more",
            context={"price_delta": delta, "quote": pricing.rendered(quote)},
        )
    pricing.check_expected_total(quote, expected_total)


def _check_cutoff(booking: Booking, venue: Venue, now: dt.datetime) -> None:
    start = rules.event_start(venue, booking["date"], booking["slots"])
    hours = booking["policy"]["reschedule_cutoff_hours"]  # the cut-off it was booked under
    if now + dt.timedelta(hours=hours) > start:
        raise Conflict(
            f"A booking can be moved until {hours} hours before it starts.",
            error_code="reschedule_too_late",
            context={"cutoff_hours": hours, "event_start": lifecycle.timestamp(start)},
        )


def _requote(booking: Booking, venue: Venue, to: Place, now: dt.datetime) -> PriceBreakdown:
    """The slots priced afresh for the new date; the add-ons as they were locked."""
    quote = pricing.quote(venue, to["date"], to["slots"], booking["guests"], [], now)
    # Add-ons are a snapshot like any price: an owner's later edits never reach a booking.
    addons = [line for line in booking["price_breakdown"]["lines"] if line["kind"] == "addon"]
    quote["lines"] += addons
    quote["subtotal"] += sum(line["amount"] for line in addons)
    quote["total"] += sum(line["amount"] for line in addons)
    return quote


def _move(
    booking: Booking,
    venue: Venue,
    details: list[BookedSlot],
    quote: PriceBreakdown,
    change: Move,
) -> Booking:
    """New claims, then the booking, then the old claims: a failure leaves it where it was."""
    booking_id, venue_id = booking["_id"], booking["venue_id"]
    to, was = change["to"], change["from"]
    kept = [key for key in to["slots"] if was["date"] == to["date"] and key in was["slots"]]
    fresh = [key for key in to["slots"] if key not in kept]
    step = len(booking.get("history") or []) + 1
    delta = change["price_delta"] if lifecycle.paid_by_wallet(booking) else 0
    charge_key = f"payment:{booking_id}:move{step}"
    claims.claim_slots(venue_id, to["date"], fresh, booking_id)
    # The slots it keeps change hold with the booking: in flight meanwhile, so a crash before
    # confirm_claims leaves them to be settled on whatever hold the booking then has.
    claims.put_in_flight(booking_id, venue_id, to["date"], kept)
    try:
        if delta > 0:
            wallet.debit_for_booking(booking["user_id"], booking_id, delta, key=charge_key)
        moved = _write_move(booking, venue, details, quote, change, max(delta, 0))
    except BaseException:
        # The write may have been applied before the connection dropped: then the move
        # stands and goes on. (Should this read fail too, expire-holds judges it from the
        # booking: claims.settle_in_flight, maintenance.void_stray_payments.)
        moved = _written_anyway(booking, change)
        if moved is None:
            if delta > 0:
                wallet.void_debit(booking_id, key=charge_key)
            claims.release_slots(booking_id, venue_id, to["date"], fresh)
            _rehold(booking, kept)
            raise
    try:
        create.recheck_venue(venue_id, to["date"], to["slots"])
        if not claims.confirm_claims(
            booking_id, venue_id, to["date"], to["slots"], moved.get("expires_at")
        ):
            # A fresh claim outlived its grace period and went to someone else.
            raise create.slot_taken(to["date"], fresh)
    except BaseException:
        # Move back: the booking where it was, its kept claims on their old hold.
        _unmove(booking, moved, kept)
        if delta > 0:
            wallet.void_debit(booking_id, key=charge_key)
        claims.release_slots(booking_id, venue_id, to["date"], fresh)
        raise
    # Only now that the booking lives at its new place are the claims it left freed.
    claims.release_all_but(booking_id, venue_id, to["date"], to["slots"])
    if change["refunded"]:
        wallet.refund_for_booking(
            booking["user_id"],
            booking_id,
            change["refunded"],
            key=f"refund:{booking_id}:move{step}",
        )
    return moved


def _write_move(
    booking: Booking,
    venue: Venue,
    details: list[BookedSlot],
    quote: PriceBreakdown,
    change: Move,
    charged: int,
) -> Booking:
    """The guarded write that moves the booking; 409 if it changed since it was read."""
    now, to = change["at"], change["to"]
    changes: dict[str, Any] = {
        **create.placed(venue, to["date"], details, quote, now),
        "updated_at": now,
    }
    if "expires_at" in changes and booking.get("expires_at"):
        # A move never lengthens a pending booking's hold: else moving it would hold for ever.
        changes["expires_at"] = min(changes["expires_at"], booking["expires_at"])
    payment = booking["payment"]
    refunded = change["refunded"]  # policy.move_terms: a lower price's share given back
    changes["payment"] = {
        **payment,
        "paid": payment["paid"] + charged,
        "refunded": payment["refunded"] + refunded,
    }
    query: dict[str, Any] = {
        "_id": booking["_id"],
        "status": booking["status"],
        **lifecycle.place(booking),
    }
    if booking["status"] == "pending":
        query["$or"] = [{"expires_at": None}, {"expires_at": {"$gt": now}}]
    # Confirmed means confirmed where it is now; pending means a fresh hold there.
    stale = "expires_at" if changes["status"] == "confirmed" else "confirmed_at"
    update = {"$set": changes, "$push": {"history": change}, "$unset": {stale: ""}}
    moved = db.bookings().find_one_and_update(query, update, return_document=ReturnDocument.AFTER)
    if moved is None:
        current = lifecycle.overtaken(booking, "rescheduled")
        raise lifecycle.hold_expired(current)  # still pending where it was: its hold ran out
    return moved


def _written_anyway(booking, change):
    """The booking if this very move was written (its history entry is there), else None."""
    current = db.bookings().find_one({"_id": booking["_id"]})
    step = len(booking.get("history") or [])
    history = (current or {}).get("history") or []
    if len(history) > step and history[step] == change:
        return current
    return None


# What a move rewrites (create.placed's fields), to put back should the move have to be undone.
MOVED_FIELDS = (
    "date",
    "slots",
    "slot",
    "slot_details",
    "price_locked",
    "price_breakdown",
    "status",
    "expires_at",
    "confirmed_at",
    "confirmed_once",
)


def _unmove(booking: Booking, moved: Booking, kept: list[str]) -> None:
    """Put a moved booking back as it was read, and its kept claims back on its old hold."""
    fields = (*MOVED_FIELDS, "payment", "updated_at")
    read: Mapping[str, object] = booking  # by field name
    update: dict[str, dict[str, Any]] = {
        "$set": {field: read[field] for field in fields if field in read},
        "$pop": {"history": 1},
    }
    missing = [field for field in fields if field not in booking]
    if missing:
        update["$unset"] = dict.fromkeys(missing, "")
    # Kept claims in flight first: never, even after a crash here, on a shorter hold than
    # the booking they are back under.
    claims.put_in_flight(booking["_id"], booking["venue_id"], booking["date"], kept)
    db.bookings().update_one({"_id": booking["_id"], **lifecycle.place(moved)}, update)
    _rehold(booking, kept)


def _rehold(booking, kept):
    """The kept claims back on the hold of the booking as it was read."""
    claims.confirm_claims(
        booking["_id"], booking["venue_id"], booking["date"], kept, booking.get("expires_at")
    )
