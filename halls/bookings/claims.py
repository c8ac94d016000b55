"""Slot claims: the database's guard against double booking.

One document per (venue_id, date, slot), under a unique index. A booking takes a slot with a
single find-and-modify upsert whose filter matches only a *free* claim (released, or past its
`expires_at`). If the claim is held, the filter matches nothing, the upsert tries to insert a
second document with the same key, and the unique index refuses it: whoever loses a race gets
a DuplicateKeyError, on mongomock and on a real server alike.

A claim is taken with a short `expires_at` (the grace period). Once the booking document is
written, `confirm_claims` clears it, so the claim is held until released. If the process dies
between the two writes, the claim lapses by itself after the grace period: a crash cannot
block a slot forever, and no sweeper is needed for correctness.
"""

import datetime as dt

from flask import current_app
from pymongo.errors import DuplicateKeyError

from halls import db
from halls.errors import Conflict

FREE = "free"
TAKEN = "taken"


def _now():
    return dt.datetime.now(dt.UTC)


def _free_filter(venue_id, date, slot, now):
    # Why this shape: the equality fields become the upserted document's key; the $or only
    # decides whether an existing claim may be taken over.
    return {
        "venue_id": venue_id,
        "date": date,
        "slot": slot,
        "$or": [{"state": FREE}, {"expires_at": {"$lte": now}}],
    }


def _held_filter(now):
    # A claim counts as held while taken and not lapsed; expires_at None means held for good.
    return {"state": TAKEN, "$or": [{"expires_at": None}, {"expires_at": {"$gt": now}}]}


def claim_slots(venue_id, date, slots, booking_id):
    """Take every slot for the booking, or none: 409 `slot_taken` names the taken slots."""
    now = _now()
    grace = dt.timedelta(seconds=current_app.config["CLAIM_GRACE_SECONDS"])
    update = {
        "$set": {
            "state": TAKEN,
            "booking_id": booking_id,
            "claimed_at": now,
            "expires_at": now + grace,
        }
    }
    taken = []
    try:
        for slot in slots:
            try:
                db.slot_claims().find_one_and_update(
                    _free_filter(venue_id, date, slot, now), update, upsert=True
                )
            except DuplicateKeyError:
                taken.append(slot)
    except BaseException:
        release_claims(booking_id)
        raise
    if taken:
        release_claims(booking_id)
        raise Conflict(
            "That slot is already booked.",
            error_code="slot_taken",
            details={"date": date, "slots": taken},
        )


def confirm_claims(booking_id, count, expires_at=None):
    """Hold the booking's claims until released; False if any lapsed meanwhile."""
    result = db.slot_claims().update_many(
        {"booking_id": booking_id, "state": TAKEN}, {"$set": {"expires_at": expires_at}}
    )
    return result.matched_count == count


def release_claims(booking_id):
    """Free every claim the booking holds (cancel, reject, or a failed write)."""
    db.slot_claims().update_many(
        {"booking_id": booking_id},
        {"$set": {"state": FREE, "booking_id": None, "expires_at": None, "released_at": _now()}},
    )


def held_slots(venue_id, dates):
    """{date: {slot, ...}} of the venue's held claims on the given dates."""
    query = {"venue_id": venue_id, "date": {"$in": list(dates)}, **_held_filter(_now())}
    held = {}
    for claim in db.slot_claims().find(query, {"date": 1, "slot": 1, "_id": 0}):
        held.setdefault(claim["date"], set()).add(claim["slot"])
    return held


def held_by_venue(date, venue_ids=None):
    """{venue_id: {slot, ...}} of held claims on one date, for search."""
    query = {"date": date, **_held_filter(_now())}
    if venue_ids is not None:
        query["venue_id"] = {"$in": list(venue_ids)}
    held = {}
    for claim in db.slot_claims().find(query, {"venue_id": 1, "slot": 1, "_id": 0}):
        held.setdefault(claim["venue_id"], set()).add(claim["slot"])
    return held


def holders(venue_id, date, slots):
    """{slot: booking_id} of the held claims among these slots of the venue on the date."""
    query = {"venue_id": venue_id, "date": date, "slot": {"$in": list(slots)}}
    found = db.slot_claims().find(
        {**query, **_held_filter(_now())}, {"slot": 1, "booking_id": 1, "_id": 0}
    )
    return {claim["slot"]: claim["booking_id"] for claim in found}
