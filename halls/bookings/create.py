"""Creating a booking: the venue read for booking, the rules checked, the writes in order.

The slot_claims collection (claims.py) makes double booking impossible; a booking is written
in an order that never leaves a slot wrongly free: its claims are taken before the booking
that needs them is written (and freed only after the booking no longer needs them), and a
failure undoes the earlier steps, so a refused request leaves nothing claimed and no money
moved. What a fault leaves half-done, maintenance.repair finishes or undoes.
"""

import datetime as dt
from collections.abc import Iterable
from typing import Any

from bson import ObjectId
from pymongo.errors import DuplicateKeyError

from halls import clock, db, notifications, pricing, rules
from halls.bookings import claims, display, holds, lifecycle, policy, references
from halls.documents import BookedAddon, BookedSlot, Booking, Placement, PriceBreakdown, User, Venue
from halls.errors import Conflict, NotFound
from halls.wallet import service as wallet

# What a booking reads of its venue: all but the dates offered (the query decides the one date
# it needs) and what only the venue's page shows; of its pictures, the first (the booking's
# cover). pricing.overrides stays whole: a server refuses an $elemMatch projection of a nested
# array.
BOOKING_VIEW: dict[str, Any] = {
    **dict.fromkeys(
        ("dates_available", "videos", "additional_description", "amenities", "maps_location"), 0
    ),
    "pictures": {"$slice": 1},
}


def get_bookable_venue(venue_id: ObjectId, date: str) -> Venue:
    """The venue if it takes bookings (status active), read for booking on the date; else 404.

    Its `dates_available` reads [date] when it offers the date and [] when not, so the rules
    answer for that date as on the whole list, which is never copied out of the database.
    """
    active = {"_id": venue_id, "status": "active"}
    venue = db.venues().find_one({**active, "dates_available": date}, BOOKING_VIEW)
    offered = venue is not None
    if venue is None:  # the date is not offered, or there is no such venue
        venue = db.venues().find_one(active, BOOKING_VIEW)
        if venue is None:
            raise NotFound("No such venue.", error_code="venue_not_found")
    venue["dates_available"] = [date] if offered else []
    return venue


# Creating ---------------------------------------------------------------------------------


def create_booking(
    user,
    venue_id,
    date,
    guests,
    slot=None,
    slots=None,
    addons=None,
    expected_total=None,
    payment_method="pay_at_venue",
    request_key=None,
):
    """Book one or more slots of a venue on a date: pending (held), or confirmed at once.

    request_key (idempotency.request_key) names the client's action: a retry of a request that
    already made its booking gets that booking back instead of a second one.
    """
    if request_key is not None:
        made = db.bookings().find_one({"request_key": request_key})
        if made is not None:
            return _resume(made)
    venue = get_bookable_venue(venue_id, date)
    now = clock.now()
    details = pricing.slot_details(venue, slots or ([slot] if slot else []))
    keys = [detail["key"] for detail in details]
    check_bookable(venue, date, keys, now)
    quote = pricing.quote(venue, date, keys, guests, addons, now)
    pricing.check_expected_total(quote, expected_total)
    booking = _new_booking(user, venue, date, guests, details, quote, payment_method, now)
    holds.check_holds(booking, now)
    if request_key is not None:
        booking["request_key"] = request_key
    try:
        _write_claimed(booking)
    except DuplicateKeyError:
        # The same action's booking was written meanwhile (bookings.request_key is unique).
        made = request_key and db.bookings().find_one({"request_key": request_key})
        if not made:
            raise
        return _resume(made)
    notifications.booking_created(booking, venue, user)
    return booking


REFUSALS = {
    "venue_inactive": "The venue is not taking bookings.",
    "date_unavailable": "The venue is not open for booking on that date.",
    "outside_booking_window": "The date is further ahead than the venue takes bookings.",
    "blacked_out": "The venue has blocked that date or slot.",
    "too_late_to_book": "The slot starts too soon to book; the venue needs more notice.",
}


def check_bookable(venue: Venue, date: str, keys: list[str], now: dt.datetime) -> None:
    """409 with the venue's reason when any slot may not be booked now (claims aside)."""
    refusals: dict[str, list[str]] = {}
    for key in keys:
        refusal = rules.slot_refusal(venue, date, key, now)
        if refusal:
            refusals.setdefault(refusal, []).append(key)
    if refusals:
        # One code per answer: the first refusal found names every slot it applies to.
        code, slots = next(iter(refusals.items()))
        raise Conflict(
            REFUSALS.get(code, "That slot cannot be booked."),
            error_code=code,
            context={"date": date, "slots": slots},
        )


def _new_booking(
    user: User,
    venue: Venue,
    date: str,
    guests: int,
    details: list[BookedSlot],
    quote: PriceBreakdown,
    payment_method: str,
    now: dt.datetime,
) -> Booking:
    return {
        "_id": ObjectId(),
        "reference": references.new_reference(),
        "venue_id": venue["_id"],
        "venue": display.venue_summary(venue),
        "user_id": user["_id"],
        # The venue's owner, copied so an owner's list is one indexed query.
        "owner_id": venue["owner_id"],
        **placed(venue, date, details, quote, now),
        "guests": guests,
        "addons": _addons_of(quote),
        "currency": "PKR",
        "payment": {
            "method": payment_method,
            "paid": quote["total"] if payment_method == lifecycle.WALLET else 0,
            "refunded": 0,
        },
        "history": [],
        "policy": policy.snapshot(venue),  # the terms it keeps, whatever the venue does later
        "created_at": now,
        "updated_at": now,
    }


def placed(
    venue: Venue, date: str, details: list[BookedSlot], quote: PriceBreakdown, now: dt.datetime
) -> Placement:
    """Where a booking is, what it costs there, and how firmly it holds: new or moved."""
    fields: Placement = {
        "date": date,
        "slots": [detail["key"] for detail in details],
        "slot": details[0]["key"],
        "slot_details": details,
        "price_locked": quote["total"],
        "price_breakdown": pricing.locked(quote),
        "status": "pending",
    }
    if rules.setting(venue, "auto_confirm"):
        fields.update({"status": "confirmed", "confirmed_at": now, "confirmed_once": True})
    else:
        hold = now + dt.timedelta(minutes=rules.setting(venue, "hold_minutes"))
        # A hold never outlasts the start of the event it holds the slots for.
        fields["expires_at"] = min(hold, rules.event_start(venue, date, fields["slots"]))
    return fields


def _addons_of(quote: PriceBreakdown) -> list[BookedAddon]:
    return [
        {"key": line["key"], "qty": line["qty"]}
        for line in quote["lines"]
        if line["kind"] == "addon"
    ]


def _hold_until(venue, date, details, now):
    hold = now + dt.timedelta(minutes=rules.setting(venue, "hold_minutes"))
    # A hold never outlasts the start of the event it holds the slots for.
    return min(hold, rules.event_start(venue, date, [detail["key"] for detail in details]))


def _write_claimed(booking):
    """Claim, pay, insert, confirm the claims: a failure undoes what the request wrote.

    The insert is the step that makes the booking: before it, a crash leaves only claims still
    in flight (settled free by the next booker or `expire-holds`) and a payment for no booking
    (voided by `expire-holds`); after it, the claims stay the booking's (claims.py: an in-flight
    claim whose booking exists is held for it, never lapsed), and the payment was taken before.
    """
    booking_id, place = booking["_id"], (booking["venue_id"], booking["date"], booking["slots"])
    # The claims first: only their unique index can refuse a second booker atomically.
    claims.claim_slots(*place, booking_id)
    try:
        # Paid before the booking exists, so no booking ever stands on a payment never taken.
        if lifecycle.paid_by_wallet(booking):
            wallet.debit_for_booking(booking["user_id"], booking_id, booking["payment"]["paid"])
        references.write_drawing_again(
            lambda: db.bookings().insert_one(booking), booking, booking_id
        )
        recheck_venue(booking["venue_id"], booking["date"], booking["slots"])
        if not claims.confirm_claims(booking_id, *place, booking.get("expires_at")):
            # The insert outlived the grace period and someone took a lapsed claim over.
            raise slot_taken(booking["date"], booking["slots"])
    except BaseException:
        _undo_create(booking)
        raise


def _undo_create(booking):
    """Take back a booking whose request failed: the booking, then its payment and claims.

    The booking goes first (whether or not its insert was applied): a crash after it leaves
    what expire-holds repairs, never a booking without its payment or its slots. A booking
    someone acted on meanwhile (the owner confirmed it) is left as it is, and finished there.
    """
    booking_id = booking["_id"]
    mine = {"_id": booking_id, "status": booking["status"], **lifecycle.place(booking)}
    deleted = db.bookings().delete_one(mine).deleted_count
    if not deleted and db.bookings().find_one({"_id": booking_id}, {"_id": 1}) is not None:
        return
    if lifecycle.paid_by_wallet(booking):
        wallet.void_debit(booking_id)
    claims.release_claims(booking_id)


def _resume(booking):
    """A retry of the request that made this booking: the booking, finished if it was not.

    The first attempt has ended (its Idempotency-Key was released), so whatever it left in
    flight is judged now rather than after the grace period.
    """
    for claim in db.slot_claims().find(
        {"booking_id": booking["_id"], "state": claims.TAKEN, "in_flight": True}
    ):
        claims.settle_in_flight(claim)
    current = db.bookings().find_one({"_id": booking["_id"]})
    return lifecycle.as_seen(current, clock.now())


def recheck_venue(venue_id, date, keys):
    """Once the claims and the booking are written: the venue still offers these slots.

    Write, then check: the venue's owner deletes a venue or removes a date or slot by writing
    first and then looking for bookings and claims (venues.service), and a booking writes its
    claims and itself first and then reads the venue here. Of two such requests racing, at
    least one sees the other's write, so no booking is left on a deleted venue, a removed date
    or a removed slot.
    """
    offering = {"_id": venue_id, "status": "active", "dates_available": date}
    venue = db.venues().find_one(offering, {"slots": 1})  # its slots only: the usual answer
    if venue is None:
        venue = get_bookable_venue(venue_id, date)  # 404 when it is gone or inactive
        if not venue["dates_available"]:
            raise Conflict(
                REFUSALS["date_unavailable"],
                error_code="date_unavailable",
                context={"date": date, "slots": list(keys)},
            )
    pricing.slot_details(venue, keys)  # 422 for a slot the venue no longer has


def slot_taken(date: str, slots: Iterable[str]) -> Conflict:
    return Conflict(
        "That slot is already booked.",
        error_code="slot_taken",
        context={"date": date, "slots": list(slots)},
    )
