"""Slot claims: the database's guard against double booking.

One document per (venue_id, date, slot), whose `_id` is that key (`db.claim_id`), so the
`_id` index is the unique index. A booking takes a slot with a single find-and-modify upsert
whose filter matches only a *free* claim (released, or past its `expires_at`). If the claim is
held, the filter matches nothing, the upsert tries to insert a second document with the same
`_id`, and the index refuses it: whoever loses a race gets a DuplicateKeyError. Every step of
a booking finds its claims by `_id`.

A claim is taken with a short `expires_at` (the grace period). Once the booking document is
written, `confirm_claims` moves it to the booking's own hold: the end of a pending booking's
hold, or None (held until released) for a confirmed one. If the process dies between the two
writes, the claim lapses by itself after the grace period; a pending booking nobody confirms
lapses at the end of its hold. Either way the claim filter itself treats it as free, so no
sweeper is needed for correctness.

A crash between two writes of a longer step can leave a claim held that nothing needs: a
reschedule that moved its booking but died before freeing the old slots, a cancel, reject or
expiry that marked its booking but died before freeing its claims, a failed booking deleted
but not yet released. `sweep_orphans` (run by `expire-holds`) frees those.

Several slots are claimed in the venue's slot order, all or none: at the first refusal the
request frees what it took. If only other requests still in flight (`in_flight`: claimed, not
yet confirmed) stood in its way, it tries again after a short random pause, because those may
be failing too; otherwise it answers 409 naming every requested slot that is held.

A claim on a date that is past everywhere guards nothing: `delete_past` (run by `expire-holds`)
deletes those, so the collection holds the future and a day or two of the past.
"""

import datetime as dt
import random
import time
from collections.abc import Iterable, Mapping
from typing import Any

from bson import ObjectId
from flask import current_app
from pymongo.errors import DuplicateKeyError

from halls import clock, db, rules
from halls.documents import Claim
from halls.errors import Conflict

FREE = "free"
TAKEN = "taken"
# A request refused only by others still in flight tries again, a few times, after a pause.
CLAIM_ATTEMPTS = 5
RETRY_PAUSE_SECONDS = 0.005


def _keys(venue_id: ObjectId, date: str, slots: Iterable[str]) -> list[str]:
    return [db.claim_id(venue_id, date, slot) for slot in slots]


def _free_filter(venue_id: ObjectId, date: str, slot: str, now: dt.datetime) -> dict[str, Any]:
    # Why this shape: the equality fields become the upserted document's `_id` and fields; the
    # $or only decides whether an existing claim may be taken over.
    return {
        "_id": db.claim_id(venue_id, date, slot),
        "venue_id": venue_id,
        "date": date,
        "slot": slot,
        "$or": [{"state": FREE}, {"expires_at": {"$lte": now}}],
    }


def _held_filter(now: dt.datetime) -> dict[str, Any]:
    # A claim counts as held while taken and not lapsed; expires_at None means held for good.
    return {"state": TAKEN, "$or": [{"expires_at": None}, {"expires_at": {"$gt": now}}]}


def claim_slots(venue_id: ObjectId, date: str, slots: list[str], booking_id: ObjectId) -> None:
    """Take every slot for the booking, or none: 409 `slot_taken` names the taken slots.

    Pass only slots the booking does not hold yet: on failure every requested slot is freed
    again (a reschedule keeps the claims it already had).
    """
    for attempt in range(1, CLAIM_ATTEMPTS + 1):
        if _claim_each(venue_id, date, slots, booking_id):
            return
        release_slots(booking_id, venue_id, date, slots)
        blocking = list(
            db.slot_claims().find(
                {"_id": {"$in": _keys(venue_id, date, slots)}, **_held_filter(clock.now())},
                {"slot": 1, "in_flight": 1},
            )
        )
        # Only requests still in flight stand in the way (or nobody, any more): they may yet
        # give up, as we just did. Try again after a random pause, so that racing multi-slot
        # requests that keep knocking each other out cannot all fail forever.
        if attempt == CLAIM_ATTEMPTS or not all(claim.get("in_flight") for claim in blocking):
            held = {claim["slot"] for claim in blocking}
            raise Conflict(
                "That slot is already booked.",
                error_code="slot_taken",
                details={"date": date, "slots": [slot for slot in slots if slot in held]},
            )
        time.sleep(random.uniform(0, RETRY_PAUSE_SECONDS * attempt))  # noqa: S311 - jitter


def _claim_each(venue_id: ObjectId, date: str, slots: list[str], booking_id: ObjectId) -> bool:
    """Claim the slots in order; False at the first one held by someone else."""
    now = clock.now()
    grace = dt.timedelta(seconds=current_app.config["CLAIM_GRACE_SECONDS"])
    update = {
        "$set": {
            "state": TAKEN,
            "booking_id": booking_id,
            "claimed_at": now,
            "expires_at": now + grace,
            # Until confirm_claims: the booking that wants it may still fail and let it go.
            "in_flight": True,
        }
    }
    try:
        for slot in slots:
            # One find-and-modify per slot: the take is a single atomic command. The claim
            # it returns is not needed, so only its _id comes back.
            db.slot_claims().find_one_and_update(
                _free_filter(venue_id, date, slot, now), update, projection={"_id": 1}, upsert=True
            )
    except DuplicateKeyError:
        return False
    except BaseException:
        release_slots(booking_id, venue_id, date, slots)
        raise
    return True


def confirm_claims(
    booking_id: ObjectId,
    venue_id: ObjectId,
    date: str,
    slots: list[str],
    expires_at: dt.datetime | None = None,
) -> bool:
    """Hold the booking's claims on these slots until expires_at (None: until released).

    False if any lapsed and was taken by someone else meanwhile.
    """
    query = {"_id": {"$in": _keys(venue_id, date, slots)}, "booking_id": booking_id}
    result = db.slot_claims().update_many(
        {**query, "state": TAKEN}, {"$set": {"expires_at": expires_at, "in_flight": False}}
    )
    return result.matched_count == len(slots)


def keep_live_claims(booking_id: ObjectId, venue_id: ObjectId, date: str, slots: list[str]) -> bool:
    """Hold a pending booking's claims for good, but only while its hold is live.

    False when any claim lapsed (or went to another booking) first: the booking's hold is over.
    """
    query = {"_id": {"$in": _keys(venue_id, date, slots)}, "booking_id": booking_id}
    result = db.slot_claims().update_many(
        {**query, **_held_filter(clock.now())}, {"$set": {"expires_at": None}}
    )
    return result.matched_count == len(slots)


def release_claims(booking_id: ObjectId) -> None:
    """Free every claim the booking holds (cancel, reject, or a failed write)."""
    _release({"booking_id": booking_id})


def release_slots(booking_id: ObjectId, venue_id: ObjectId, date: str, slots: list[str]) -> None:
    """Free the booking's claims on these slots of the date only (a reschedule's leftovers)."""
    _release({"_id": {"$in": _keys(venue_id, date, slots)}, "booking_id": booking_id})


def release_all_but(booking_id: ObjectId, venue_id: ObjectId, date: str, slots: list[str]) -> None:
    """Free the booking's claims anywhere but these slots of this date (where it now is)."""
    _release({"booking_id": booking_id, "_id": {"$nin": _keys(venue_id, date, slots)}})


def _release(query: Mapping[str, Any]) -> int:
    # booking_id in every filter: a claim another booking has taken over is never freed.
    result = db.slot_claims().update_many(
        query,
        {
            "$set": {
                "state": FREE,
                "booking_id": None,
                "expires_at": None,
                "released_at": clock.now(),
            }
        },
    )
    return result.modified_count


def sweep_orphans(now: dt.datetime | None = None) -> int:
    """Free held claims that no booking (nor blackout) needs any more; returns how many.

    Only claims taken longer ago than the grace period are looked at: a younger one may belong
    to a booking still being written or moved. (A held claim that old has been confirmed: an
    unconfirmed one lapses at the end of its grace period by itself.)
    """
    now = now or clock.now()
    settled = now - dt.timedelta(seconds=current_app.config["CLAIM_GRACE_SECONDS"])
    stale = {**_held_filter(now), "claimed_at": {"$lte": settled}}
    freed = 0
    for claim in db.slot_claims().find(stale):
        if _orphaned(claim, settled):
            # Unchanged since read (same taker, same claimed_at), or it is not ours to free.
            freed += _release(
                {
                    "_id": claim["_id"],
                    "state": TAKEN,
                    "booking_id": claim["booking_id"],
                    "claimed_at": claim["claimed_at"],
                }
            )
    return freed


def _orphaned(claim: Claim, settled: dt.datetime) -> bool:
    """No booking needs the claim: gone, over, or placed elsewhere for a while now."""
    booking = db.bookings().find_one(
        {"_id": claim["booking_id"]},
        {"status": 1, "venue_id": 1, "date": 1, "slots": 1, "updated_at": 1},
    )
    if booking is None:
        # A blackout holds its slots under its own id (venues.service.add_blackout).
        blackout = {"_id": claim["venue_id"], "blackouts.id": str(claim["booking_id"])}
        return db.venues().find_one(blackout, {"_id": 1}) is None
    if booking["status"] not in ("pending", "confirmed"):
        return True  # cancelled, rejected, expired, completed: it never needs a slot again
    place = (booking["venue_id"], booking["date"])
    if (claim["venue_id"], claim["date"]) == place and claim["slot"] in booking["slots"]:
        # Kept even for a pending booking past its hold: expire_holds frees those, with a
        # guarded pending -> expired write that a confirm cannot cross; a plain release here
        # could free the slots of a booking a confirm is just marking confirmed.
        return False
    # A move writes the booking before it frees the old claims, and moves it back when a later
    # step fails: only a booking that has not changed for the grace period has settled.
    return booking.get("updated_at", settled) <= settled


def held_slots(
    venue_id: ObjectId, dates: Iterable[str], slots: Iterable[str] | None = None
) -> dict[str, set[str]]:
    """{date: {slot, ...}} of the venue's held claims on the given dates.

    With slots (the keys that matter, e.g. the venue's own), the claims are found by `_id`.
    """
    if slots is None:
        query = {"venue_id": venue_id, "date": {"$in": list(dates)}}
    else:
        query = {"_id": {"$in": [key for date in dates for key in _keys(venue_id, date, slots)]}}
    query.update(_held_filter(clock.now()))
    held: dict[str, set[str]] = {}
    for claim in db.slot_claims().find(query, {"date": 1, "slot": 1, "_id": 0}):
        held.setdefault(claim["date"], set()).add(claim["slot"])
    return held


def held_by_venue(
    date: str, venue_ids: Iterable[ObjectId] | None = None
) -> dict[ObjectId, set[str]]:
    """{venue_id: {slot, ...}} of held claims on one date, for search."""
    query = {"date": date, **_held_filter(clock.now())}
    if venue_ids is not None:
        query["venue_id"] = {"$in": list(venue_ids)}
    held: dict[ObjectId, set[str]] = {}
    for claim in db.slot_claims().find(query, {"venue_id": 1, "slot": 1, "_id": 0}):
        held.setdefault(claim["venue_id"], set()).add(claim["slot"])
    return held


def holders(venue_id: ObjectId, date: str, slots: list[str]) -> dict[str, ObjectId | None]:
    """{slot: booking_id} of the held claims among these slots of the venue on the date."""
    query = {"_id": {"$in": _keys(venue_id, date, slots)}, **_held_filter(clock.now())}
    found = db.slot_claims().find(query, {"slot": 1, "booking_id": 1, "_id": 0})
    return {claim["slot"]: claim["booking_id"] for claim in found}


def delete_past(now: dt.datetime | None = None) -> int:
    """Delete the claims of dates that are over in every time zone; returns how many."""
    # Before today even where today began last (UTC-12): no slot of it can be booked anywhere.
    over = rules.today_in(rules.EARLIEST_ZONE, now or clock.now())
    return db.slot_claims().delete_many({"date": {"$lt": over}}).deleted_count
