"""Bookings: create, list, read, confirm or reject, cancel.

The slot_claims collection (claims.py) makes double booking impossible; this module keeps each
booking and its claim in step, in an order of writes that never leaves a slot wrongly free.
"""

import datetime as dt

from bson import ObjectId
from pymongo import ReturnDocument

from halls import db
from halls.bookings import claims
from halls.errors import Conflict, Forbidden, NotFound, Unprocessable
from halls.schemas import object_id
from halls.venues import rules

ACTIVE = ("pending", "confirmed")


def _now():
    return dt.datetime.now(dt.UTC)


def get_bookable_venue(venue_id):
    """The venue if it takes bookings (status active); else 404 `venue_not_found`."""
    venue = db.venues().find_one({"_id": venue_id, "status": "active"})
    if venue is None:
        raise NotFound("No such venue.", error_code="venue_not_found")
    return venue


def create_booking(user, venue_id, date, guests, slot=None):
    """Book one slot of a venue on a date for the user: a pending booking, slot held."""
    venue = get_bookable_venue(venue_id)
    slot_detail = _pick_slot(venue, slot)
    if guests > venue["capacity"]:
        raise Unprocessable(
            "More guests than the venue holds.",
            details={
                "guests": [f"Must be at most the venue's capacity of {venue['capacity']}."],
                "capacity": venue["capacity"],
            },
        )
    if not rules.is_open_on(venue, date):
        raise Conflict(
            "The venue is not open for booking on that date.",
            error_code="date_unavailable",
            details={"date": date},
        )
    price = rules.price_on(venue, date)
    if price is None:
        raise Conflict(
            "The venue has no price for that date.",
            error_code="no_price_for_date",
            details={"date": date},
        )
    booking = _new_booking(user, venue, date, guests, slot_detail, price)
    _write_claimed(booking)
    return booking


def _pick_slot(venue, key):
    slots = rules.slots_of(venue)
    keys = [slot["key"] for slot in slots]
    if key is None and len(slots) == 1:
        return dict(slots[0])
    if key is None:
        raise Unprocessable(
            "This venue has several slots; choose one.",
            details={"slot": ["Required for this venue."], "slots": keys},
        )
    for slot in slots:
        if slot["key"] == key:
            return dict(slot)
    raise Unprocessable(
        "The venue has no such slot.",
        details={"slot": [f"Must be one of: {', '.join(keys)}."], "slots": keys},
    )


def _new_booking(user, venue, date, guests, slot_detail, price):
    now = _now()
    return {
        "_id": ObjectId(),
        "venue_id": venue["_id"],
        "venue": {"id": venue["_id"], "venue_name": venue["venue_name"]},
        "user_id": user["_id"],
        # The venue's owner, copied so an owner's list is one indexed query.
        "owner_id": venue["owner_id"],
        "date": date,
        "slot": slot_detail["key"],
        "slot_detail": {k: slot_detail.get(k) for k in ("key", "label", "start", "end")},
        "guests": guests,
        "status": "pending",
        "price_locked": price,
        "currency": "PKR",
        "created_at": now,
        "updated_at": now,
    }


def _write_claimed(booking):
    """Claim, insert, confirm the claim: any failure undoes the earlier steps."""
    booking_id = booking["_id"]
    # The claim first: only its unique index can refuse a second booker atomically.
    claims.claim_slots(booking["venue_id"], booking["date"], [booking["slot"]], booking_id)
    try:
        db.bookings().insert_one(booking)
    except BaseException:
        claims.release_claims(booking_id)
        raise
    if not claims.confirm_claims(booking_id, 1):
        # The insert outlived the grace period and someone took the lapsed claim over.
        db.bookings().delete_one({"_id": booking_id})
        claims.release_claims(booking_id)
        raise Conflict(
            "That slot is already booked.",
            error_code="slot_taken",
            details={"date": booking["date"], "slots": [booking["slot"]]},
        )


def list_bookings(user, args):
    """A page of the bookings the user may see, newest first."""
    if user.get("is_venue_owner") and not args.get("mine"):
        query = {"owner_id": user["_id"]}
    else:
        query = {"user_id": user["_id"]}
    for field in ("status", "venue_id"):
        if field in args:
            query[field] = args[field]
    dates = {}
    if "date_from" in args:
        dates["$gte"] = args["date_from"]
    if "date_to" in args:
        dates["$lte"] = args["date_to"]
    if dates:
        query["date"] = dates
    return db.find_page(db.bookings(), query, args["page"], args["limit"])


def get_booking(user, booking_id):
    """A booking its booker or its venue's owner may see; 404 for anyone else."""
    booking_id = object_id(booking_id)
    booking = None
    if booking_id is not None:
        # Who may see it is part of the filter: a stranger's lookup finds nothing at all.
        booking = db.bookings().find_one(
            {"_id": booking_id, "$or": [{"user_id": user["_id"]}, {"owner_id": user["_id"]}]}
        )
    if booking is None:
        raise NotFound("No such booking.", error_code="booking_not_found")
    return booking


def decide_booking(user, booking_id, status, reason=None):
    """The venue's owner confirms or rejects a pending booking; rejecting frees the slot."""
    booking = get_booking(user, booking_id)
    if booking["owner_id"] != user["_id"]:
        raise Forbidden("Only the venue's owner may do this.", error_code="not_venue_owner")
    now = _now()
    changes = {"status": status, "updated_at": now, f"{status}_at": now}
    if reason is not None:
        changes["reason"] = reason
    # status: pending in the filter: of two clicks at once, exactly one finds it pending.
    updated = db.bookings().find_one_and_update(
        {"_id": booking["_id"], "status": "pending"},
        {"$set": changes},
        return_document=ReturnDocument.AFTER,
    )
    if updated is None:
        _refuse_transition(booking["_id"], status)
    if status == "rejected":
        claims.release_claims(booking["_id"])
    return updated


def cancel_booking(user, booking_id, reason=None):
    """The booker or the venue's owner cancels; the slot is free at once. Repeats are no-ops."""
    booking = get_booking(user, booking_id)
    if booking["status"] == "cancelled":
        # Idempotent, and heals a claim a crash left held between the two writes below.
        claims.release_claims(booking["_id"])
        return booking
    if booking["status"] not in ACTIVE:
        _refuse_transition(booking["_id"], "cancelled")
    venue = db.venues().find_one({"_id": booking["venue_id"]}, {"timezone": 1}) or {}
    if booking["date"] < rules.local_today(venue):
        raise Conflict(
            "A booking in the past cannot be cancelled.",
            error_code="booking_in_past",
            details={"date": booking["date"]},
        )
    now = _now()
    changes = {
        "status": "cancelled",
        "cancelled_by": "customer" if booking["user_id"] == user["_id"] else "owner",
        "cancelled_at": now,
        "updated_at": now,
    }
    if reason is not None:
        changes["reason"] = reason
    updated = db.bookings().find_one_and_update(
        {"_id": booking["_id"], "status": {"$in": list(ACTIVE)}},
        {"$set": changes},
        return_document=ReturnDocument.AFTER,
    )
    if updated is None:
        # Someone else moved it first: a cancel is still a no-op, a reject is a conflict.
        current = db.bookings().find_one({"_id": booking["_id"]})
        if current["status"] != "cancelled":
            _refuse_transition(booking["_id"], "cancelled", current)
        updated = current
    # The booking is inactive before its claim is freed: a crash in between blocks the slot
    # (healed by cancelling again) but can never let two bookings hold it.
    claims.release_claims(booking["_id"])
    return updated


def _refuse_transition(booking_id, to, current=None):
    current = current or db.bookings().find_one({"_id": booking_id}, {"status": 1})
    raise Conflict(
        f"A {current['status']} booking cannot become {to}.",
        error_code="invalid_transition",
        details={"from": current["status"], "to": to},
    )
