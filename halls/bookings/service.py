"""Bookings: create, list, read, confirm or reject, cancel, and the cancellation quote.

The slot_claims collection (claims.py) makes double booking impossible; this module keeps each
booking and its claims in step, in an order of writes that never leaves a slot wrongly free:
claims are taken before the booking that needs them is written, and freed only after the
booking no longer needs them. Each multi-step write undoes its earlier steps when a later one
fails, so a refused request leaves nothing claimed and no money moved. Moving a booking is
reschedule.py; the status changes and refunds both share are lifecycle.py.

A pending booking holds its slots until `expires_at` (the venue's `hold_minutes`); its claims
carry the same `expires_at`, so once the hold is over the claim filter treats the slots as free
at once. `expire_holds` (maintenance.py, the `expire-holds` command) only tidies up afterwards:
it marks such bookings `expired`, tells their customers and returns any wallet payment.
"""

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any, cast

from bson import ObjectId
from pymongo import ReturnDocument

from halls import clock, db, notifications, pricing, rules
from halls.bookings import claims, lifecycle, policy
from halls.documents import BookedAddon, BookedSlot, Booking, Placement, PriceBreakdown, User, Venue
from halls.errors import Conflict, Forbidden, NotFound
from halls.schemas import object_id
from halls.wallet import service as wallet

# What a booking reads of its venue: all but the dates offered (the query decides the one date
# it needs) and what only the venue's page shows. pricing.overrides stays whole: a server
# refuses an $elemMatch projection of a nested array.
BOOKING_VIEW = dict.fromkeys(
    (
        "dates_available",
        "pictures",
        "videos",
        "additional_description",
        "amenities",
        "maps_location",
    ),
    0,
)


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
    user: User,
    venue_id: ObjectId,
    date: str,
    guests: int,
    slot: str | None = None,
    slots: list[str] | None = None,
    addons: list[dict[str, Any]] | None = None,
    expected_total: int | None = None,
    payment_method: str = "pay_at_venue",
) -> Booking:
    """Book one or more slots of a venue on a date: pending (held), or confirmed at once."""
    venue = get_bookable_venue(venue_id, date)
    now = clock.now()
    details = pricing.slot_details(venue, slots or ([slot] if slot else []))
    keys = [detail["key"] for detail in details]
    check_bookable(venue, date, keys, now)
    quote = pricing.quote(venue, date, keys, guests, addons, now)
    pricing.check_expected_total(quote, expected_total)
    booking = _new_booking(user, venue, date, guests, details, quote, payment_method, now)
    _write_claimed(booking)
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
            details={"date": date, "slots": slots},
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
        "venue_id": venue["_id"],
        "venue": {"id": venue["_id"], "venue_name": venue["venue_name"]},
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
        "price_locked": pricing.locked(quote),
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


def _write_claimed(booking: Booking) -> None:
    """Claim, insert, confirm the claims: any failure undoes the earlier steps."""
    booking_id, place = booking["_id"], (booking["venue_id"], booking["date"], booking["slots"])
    # The claims first: only their unique index can refuse a second booker atomically.
    claims.claim_slots(*place, booking_id)
    try:
        db.bookings().insert_one(booking)
    except BaseException:
        claims.release_claims(booking_id)
        raise
    try:
        recheck_venue(booking["venue_id"], booking["date"], booking["slots"])
        if lifecycle.paid_by_wallet(booking):
            wallet.debit_for_booking(booking["user_id"], booking_id, booking["payment"]["paid"])
        if not claims.confirm_claims(booking_id, *place, booking.get("expires_at")):
            # The insert outlived the grace period and someone took a lapsed claim over.
            raise slot_taken(booking["date"], booking["slots"])
    except BaseException:
        if lifecycle.paid_by_wallet(booking):
            wallet.void_debit(booking_id)
        db.bookings().delete_one({"_id": booking_id})
        claims.release_claims(booking_id)
        raise


def recheck_venue(venue_id: ObjectId, date: str, keys: list[str]) -> None:
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
                details={"date": date, "slots": list(keys)},
            )
    pricing.slot_details(venue, keys)  # 422 for a slot the venue no longer has


def slot_taken(date: str, slots: Iterable[str]) -> Conflict:
    return Conflict(
        "That slot is already booked.",
        error_code="slot_taken",
        details={"date": date, "slots": list(slots)},
    )


# Reading ----------------------------------------------------------------------------------


def list_bookings(user: User, args: Mapping[str, Any]) -> db.Page[Booking]:
    """A page of the bookings the user may see, newest first."""
    if user.get("is_venue_owner") and not args.get("mine"):
        query: dict[str, Any] = {"owner_id": user["_id"]}
    else:
        query = {"user_id": user["_id"]}
    if "venue_id" in args:
        query["venue_id"] = args["venue_id"]
    if "status" in args:
        now = clock.now()
        statuses = [_status_filter(status, now) for status in args["status"]]
        query.update(statuses[0] if len(statuses) == 1 else {"$or": statuses})
    dates: dict[str, str] = {}
    if "date_from" in args:
        dates["$gte"] = args["date_from"]
    if "date_to" in args:
        dates["$lte"] = args["date_to"]
    if dates:
        query["date"] = dates
    page = db.find_page(db.bookings(), query, args["page"], args["limit"])
    now = clock.now()
    page["items"] = [_as_seen(booking, now) for booking in page["items"]]
    return page


def _status_filter(status: str, now: dt.datetime) -> dict[str, Any]:
    # A pending booking whose hold is over is expired, swept or not: filter as we show it.
    if status == "pending":
        return {"status": "pending", "$or": [{"expires_at": None}, {"expires_at": {"$gt": now}}]}
    if status == "expired":
        return {"$or": [{"status": "expired"}, {"status": "pending", "expires_at": {"$lte": now}}]}
    return {"status": status}


def get_booking(user: User, booking_id: str) -> Booking:
    """A booking its booker or its venue's owner may see; 404 for anyone else."""
    return _as_seen(find_booking(user, booking_id), clock.now())


def find_booking(user: User, booking_id: str) -> Booking:
    oid = object_id(booking_id)
    booking = None
    if oid is not None:
        # Who may see it is part of the filter: a stranger's lookup finds nothing at all.
        booking = db.bookings().find_one(
            {"_id": oid, "$or": [{"user_id": user["_id"]}, {"owner_id": user["_id"]}]}
        )
    if booking is None:
        raise NotFound("No such booking.", error_code="booking_not_found")
    return booking


def _as_seen(booking: Booking, now: dt.datetime) -> Booking:
    """The booking as it truly stands: a pending one past its hold reads as expired."""
    if lifecycle.lapsed(booking, now):
        return {**booking, "status": "expired"}
    return booking


# Deciding ---------------------------------------------------------------------------------


def decide_booking(user: User, booking_id: str, status: str, reason: str | None = None) -> Booking:
    """The venue's owner confirms or rejects a pending booking while its hold lasts."""
    booking = find_booking(user, booking_id)
    if booking["owner_id"] != user["_id"]:
        raise Forbidden("Only the venue's owner may do this.", error_code="not_venue_owner")
    lifecycle.refuse_lapsed(booking)
    if booking["status"] != "pending":
        lifecycle.refuse_transition(booking["_id"], status, booking)
    if status == "confirmed":
        return _confirm(booking, reason)
    return _reject(booking, reason)


def _confirm(booking: Booking, reason: str | None) -> Booking:
    # The claims first, and only while live: once they are held for good the hold can no
    # longer lapse, so a confirmed booking always owns its slots. The other order is unsafe:
    # a crash after marking the booking confirmed but before holding its claims for good
    # would leave a confirmed booking whose claims still lapse when the old hold ends, free
    # for another booking to take. This order, crashing between the two writes, leaves only a
    # pending booking holding its slots for good: confirming again finishes the job, and once
    # its hold is over it reads as expired and expire-holds frees them (lifecycle.expire).
    slots = booking["slots"]
    if not claims.keep_live_claims(booking["_id"], booking["venue_id"], booking["date"], slots):
        current = lifecycle.reread(booking["_id"])
        if current["status"] in ("pending", "expired") and lifecycle.place(
            current
        ) == lifecycle.place(booking):
            # Its claims lapsed (and may have gone to another booking): the hold is over.
            lifecycle.expire(current, force=True)
            raise lifecycle.hold_expired(current)
        lifecycle.overtaken(booking, "confirmed")  # cancelled, rejected or moved meanwhile
    updated = _move_status(booking, "confirmed", reason, unset=("expires_at",))
    notifications.booking_confirmed(updated)
    return updated


def _reject(booking: Booking, reason: str | None) -> Booking:
    updated = _move_status(booking, "rejected", reason, refund_pct=100)
    claims.release_claims(booking["_id"])
    lifecycle.return_refund(updated)
    notifications.booking_rejected(updated)
    return updated


def _move_status(
    booking: Booking,
    status: str,
    reason: str | None = None,
    refund_pct: int | None = None,
    unset: tuple[str, ...] = (),
) -> Booking:
    """pending -> status in one guarded write; 409 if another request moved it first."""
    now = clock.now()
    changes: dict[str, Any] = {"status": status, "updated_at": now, f"{status}_at": now}
    if status == "confirmed":
        # Kept through moves back to pending: the cancellation tiers bind it from now on.
        changes["confirmed_once"] = True
    if reason is not None:
        changes["reason"] = reason
    if refund_pct is not None:
        changes.update(lifecycle.refund_fields(booking, refund_pct))
    update: dict[str, dict[str, Any]] = {"$set": changes}
    if unset:
        update["$unset"] = dict.fromkeys(unset, "")
    # status (and place) in the filter: of two clicks at once, exactly one finds it pending.
    updated = db.bookings().find_one_and_update(
        {"_id": booking["_id"], "status": "pending", **lifecycle.place(booking)},
        update,
        return_document=ReturnDocument.AFTER,
    )
    if updated is None:
        current = lifecycle.overtaken(booking, status)
        # Pending where it was read after all: it was moved away and back meanwhile.
        raise lifecycle.booking_changed(current)
    return updated


# Cancelling -------------------------------------------------------------------------------


def cancel_booking(user: User, booking_id: str, reason: str | None = None) -> Booking:
    """The booker or the venue's owner cancels; the slots are free at once. Repeats are no-ops."""
    booking = find_booking(user, booking_id)
    if booking["status"] == "cancelled":
        # Idempotent, and heals what a crash left undone after the booking was cancelled.
        claims.release_claims(booking["_id"])
        lifecycle.return_refund(booking)
        return booking
    lifecycle.refuse_lapsed(booking)
    if booking["status"] not in lifecycle.ACTIVE:
        lifecycle.refuse_transition(booking["_id"], "cancelled", booking)
    venue = _venue_of(booking)
    if booking["date"] < rules.local_today(venue):
        raise Conflict(
            "A booking in the past cannot be cancelled.",
            error_code="booking_in_past",
            details={"date": booking["date"]},
        )
    by_owner = booking["user_id"] != user["_id"]
    now = clock.now()
    quote = policy.refund_quote(booking, venue, now, by_owner=by_owner)
    changes: dict[str, Any] = {
        "status": "cancelled",
        "cancelled_by": "owner" if by_owner else "customer",
        "cancelled_at": now,
        "updated_at": now,
        **lifecycle.refund_fields(booking, quote["refund_pct"]),
    }
    if reason is not None:
        changes["reason"] = reason
    updated = db.bookings().find_one_and_update(
        {
            "_id": booking["_id"],
            "status": {"$in": list(lifecycle.ACTIVE)},
            **lifecycle.place(booking),
        },
        {"$set": changes},
        return_document=ReturnDocument.AFTER,
    )
    if updated is None:
        # Another request got there first. Cancelled: replaying is a no-op. Moved by a
        # reschedule: cancel it where it is now. Anything else: a conflict.
        current = lifecycle.reread(booking["_id"])
        if current["status"] not in ("cancelled", *lifecycle.ACTIVE):
            lifecycle.refuse_transition(booking["_id"], "cancelled", current)
        return cancel_booking(user, booking_id, reason)
    # The booking is inactive before its claims are freed: a crash in between blocks the
    # slots (healed by cancelling again) but can never let two bookings hold one.
    claims.release_claims(booking["_id"])
    lifecycle.return_refund(updated)
    notifications.booking_cancelled(updated)
    return updated


def quote_cancellation(
    user: User, booking_id: str, now: dt.datetime | None = None
) -> dict[str, Any]:
    """What cancelling now would refund, for the booker or the venue's owner."""
    booking = get_booking(user, booking_id)
    if booking["status"] not in lifecycle.ACTIVE:
        raise Conflict(
            f"A {booking['status']} booking cannot be cancelled.",
            error_code="invalid_transition",
            details={"from": booking["status"], "to": "cancelled"},
        )
    by_owner = booking["user_id"] != user["_id"]
    quote = policy.refund_quote(booking, _venue_of(booking), now or clock.now(), by_owner=by_owner)
    return {"booking_id": booking["_id"], "currency": "PKR", **quote}


def _venue_of(booking: Booking) -> Venue:
    # Venues are only soft-deleted; should one be gone all the same, the rules read defaults.
    return db.venues().find_one({"_id": booking["venue_id"]}) or cast(Venue, {})
