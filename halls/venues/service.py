"""Venues: register, read, update, soft-delete, blackouts, availability and quotes."""

from collections.abc import Iterable, Mapping
from typing import Any, NoReturn

from bson import ObjectId
from pymongo import ReturnDocument

from halls import clock, db, pricing, rules
from halls.bookings import claims
from halls.bookings import service as bookings
from halls.documents import Blackout, User, Venue, VenueFields
from halls.errors import Conflict, Forbidden, NotFound, Unprocessable
from halls.schemas import object_id

DELETED = "deleted"
MAX_BLACKOUTS = 1000  # per venue: the list lives in the venue document
FORCE_ROUNDS = 3  # cancel-then-claim rounds before a forced blackout gives up


def get_venue(venue_id: str | ObjectId) -> Venue:
    """The venue with this id (a path string), unless deleted: 404 `venue_not_found`."""
    oid = object_id(venue_id)
    venue = db.venues().find_one({"_id": oid, "status": {"$ne": DELETED}}) if oid else None
    if venue is None:
        raise NotFound("No venue has that id.", error_code="venue_not_found")
    return venue


def owned_venue(user: User, venue_id: str | ObjectId) -> Venue:
    """One of the user's venues: 404 `venue_not_found`, 403 `not_venue_owner` if another's."""
    venue = get_venue(venue_id)
    if venue["owner_id"] != user["_id"]:
        raise Forbidden("This venue belongs to another owner.", error_code="not_venue_owner")
    return venue


def register_venue(user: User, fields: VenueFields) -> Venue:
    """Store a new venue owned by the user."""
    now = clock.now()
    venue: Venue = {
        "_id": ObjectId(),
        "owner_id": user["_id"],
        **fields,
        "currency": "PKR",
        "created_at": now,
        "updated_at": now,
    }
    db.venues().insert_one(venue)
    return venue


def list_my_venues(user: User, page: int, limit: int) -> db.Page[Venue]:
    """A page of the owner's venues, newest first, inactive ones included."""
    return db.find_page(
        db.venues(), {"owner_id": user["_id"], "status": {"$ne": DELETED}}, page, limit
    )


def update_venue(user: User, venue_id: str | ObjectId, changes: Mapping[str, Any]) -> Venue:
    """Apply a partial update to one of the owner's venues."""
    venue = owned_venue(user, venue_id)
    _refuse_orphaned_claims(venue, changes)  # the plain case, before anything is written
    update = {name: value for name, value in changes.items() if name != "pricing"}
    # Each part of pricing on its own path, so sending overrides keeps the base price.
    for name, value in changes.get("pricing", {}).items():
        update[f"pricing.{name}"] = value
    update["updated_at"] = clock.now()
    before = db.venues().find_one_and_update(
        {"_id": venue["_id"], "status": {"$ne": DELETED}},
        {"$set": update},
        return_document=ReturnDocument.BEFORE,
    )
    if before is None:  # deleted between the read and the write
        raise NotFound("No venue has that id.", error_code="venue_not_found")
    # Write, then check again: a booking racing this change takes its claims before it
    # re-reads the venue (bookings.create.recheck_venue), so either it sees the date or
    # slot gone, or its claim is seen here and the change is taken back.
    try:
        _refuse_orphaned_claims(before, changes)
    except Conflict:
        names = {name.split(".")[0] for name in update}
        _restore(before, names)
        raise
    after = db.venues().find_one({"_id": venue["_id"]})
    if after is None:  # a venue is only ever soft-deleted: never, short of a person's hand
        raise NotFound("No venue has that id.", error_code="venue_not_found")
    return after


def _restore(before: Venue, names: Iterable[str]) -> None:
    """Put these top-level fields of the venue back as they were in `before`."""
    was: Mapping[str, object] = before  # by field name
    restore = {"$set": {name: was[name] for name in names if name in was}}
    missing = [name for name in names if name not in before]
    if missing:
        restore["$unset"] = dict.fromkeys(missing, "")
    db.venues().update_one({"_id": before["_id"]}, restore)


def _refuse_orphaned_claims(venue: Venue, changes: Mapping[str, Any]) -> None:
    """Removing a future date or a slot key that a booking holds would orphan the booking."""
    today = rules.local_today(venue)
    future = [date for date in venue.get("dates_available") or [] if date >= today]
    removed_dates = set(future) - set(changes.get("dates_available", future))
    keys = {slot["key"] for slot in rules.slots_of(venue)}
    removed_keys = keys - {slot["key"] for slot in changes.get("slots", rules.slots_of(venue))}
    if not removed_dates and not removed_keys:
        return
    held = claims.held_slots(venue["_id"], future)
    for blackout in rules.setting(venue, "blackouts"):
        # A blackout holds claims too (add_blackout); those are no booking's.
        held.get(blackout["date"], set()).difference_update(blackout.get("slots") or keys)
    busy_dates = sorted(date for date in removed_dates if held.get(date))
    if busy_dates:
        raise Conflict(
            "A booking holds a date you are removing; cancel or reject it first.",
            error_code="date_in_use",
            context={"dates": busy_dates},
        )
    busy_keys = sorted(removed_keys & set().union(*held.values()))
    if busy_keys:
        raise Conflict(
            "A booking holds a slot you are removing; cancel or reject it first.",
            error_code="slot_in_use",
            context={"slots": busy_keys},
        )


def delete_venue(user: User, venue_id: str | ObjectId) -> Venue:
    """Soft-delete one of the owner's venues unless it has upcoming bookings."""
    venue = owned_venue(user, venue_id)
    _refuse_live_bookings(venue)  # the plain case, before anything is written
    now = clock.now()
    before = db.venues().find_one_and_update(
        {"_id": venue["_id"], "status": {"$ne": DELETED}},
        {"$set": {"status": DELETED, "deleted_at": now, "updated_at": now}},
        return_document=ReturnDocument.BEFORE,
    )
    if before is None:
        raise NotFound("No venue has that id.", error_code="venue_not_found")
    # Write, then check again: a booking racing the delete is written before it re-reads its
    # venue (bookings.create.recheck_venue), so either it finds the venue deleted and
    # undoes itself, or it is found here and the venue comes back as it was.
    try:
        _refuse_live_bookings(before)
    except Conflict:
        _restore(before, ("status", "deleted_at", "updated_at"))
        raise
    return {**before, "status": DELETED, "deleted_at": now, "updated_at": now}


def _refuse_live_bookings(venue: Venue) -> None:
    """409 `venue_has_bookings` while a booking still holds a date of the venue to come."""
    now = clock.now()
    live = {
        "venue_id": venue["_id"],
        "date": {"$gte": rules.local_today(venue, now)},
        # A pending booking whose hold is over is no upcoming booking: its slots are free.
        "$or": [
            {"status": "confirmed"},
            {"status": "pending", "expires_at": None},
            {"status": "pending", "expires_at": {"$gt": now}},
        ],
    }
    if db.bookings().find_one(live, {"_id": 1}) is not None:
        raise Conflict(
            "The venue has upcoming bookings; cancel or reject them first.",
            error_code="venue_has_bookings",
        )


def venue_availability(
    venue_id: str | ObjectId,
    date: str | None = None,
    first: str | None = None,
    last: str | None = None,
) -> dict[str, Any]:
    """Slot availability and price on one date, or on each date of a range."""
    venue = get_venue(venue_id)
    dates = [date] if date else rules.dates_between(first, last)
    keys = [slot["key"] for slot in rules.slots_of(venue)]
    held = claims.held_slots(venue["_id"], dates, keys)  # one query for the whole range
    now = clock.now()
    days = [rules.day_availability(venue, day, held.get(day, set()), now) for day in dates]
    if date:
        return {"venue_id": venue["_id"], **days[0]}
    return {"venue_id": venue["_id"], "days": days}


def quote_venue(
    venue_id: str | ObjectId,
    date: str,
    guests: int,
    slots: list[str] | None = None,
    addons: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The price of booking these slots and add-ons now, and whether the slots are free."""
    venue = get_venue(venue_id)
    quote = pricing.quote(venue, date, slots, guests, addons)
    chosen = pricing.slot_details(venue, slots)
    keys = {slot["key"] for slot in chosen}
    own = [slot["key"] for slot in rules.slots_of(venue)]
    held = claims.held_slots(venue["_id"], [date], own).get(date, set())
    # The availability answer's own reasons: a quote never disagrees with availability.
    day = rules.day_availability(venue, date, held)
    refusals = [
        {"key": slot["key"], "reason": slot["reason"]}
        for slot in day["slots"]
        if slot["key"] in keys and not slot["available"]
    ]
    return {
        "venue_id": venue["_id"],
        "date": date,
        "guests": guests,
        "slots": chosen,
        **quote,
        "available": not refusals,
        "unavailable_slots": refusals,
    }


def add_blackout(user: User, venue_id: str | ObjectId, fields: Mapping[str, Any]) -> dict[str, Any]:
    """Close a date (or some of its slots) of one of the owner's venues.

    The blackout takes the slots' claims itself, so a booking racing it can never slip in
    between the check and the write: the claims' unique index decides, as between bookings.
    Bookings in the way are a 409 unless `force`, which cancels them as the owner first.
    """
    venue = owned_venue(user, venue_id)
    date, keys = _blackout_slots(venue, fields)
    blackout: Blackout = {
        "id": str(ObjectId()),
        "date": date,
        "slots": [] if not fields["slots"] else keys,
        "reason": fields["reason"],
    }
    claim_id = ObjectId(blackout["id"])
    cancelled = _claim_for_blackout(user, venue, claim_id, date, keys, fields)
    try:
        updated = db.venues().find_one_and_update(
            {
                "_id": venue["_id"],
                "status": {"$ne": DELETED},
                f"blackouts.{MAX_BLACKOUTS - 1}": {"$exists": False},
            },
            {"$push": {"blackouts": blackout}, "$set": {"updated_at": clock.now()}},
            return_document=ReturnDocument.AFTER,
        )
    except BaseException:
        claims.release_claims(claim_id)
        raise
    if updated is None:
        claims.release_claims(claim_id)
        _refuse_blackout_push(venue["_id"])
    if not claims.confirm_claims(claim_id, venue["_id"], date, keys):
        # The push outlived the claims' grace period and a booking took a lapsed claim over.
        _pull_blackout(venue["_id"], blackout["id"])
        claims.release_claims(claim_id)
        raise Conflict(
            "A booking took a slot while the blackout was being saved; try again.",
            error_code="blackout_conflicts_bookings",
            context={"date": date, "slots": keys, "booking_ids": []},
        )
    return {"blackout": blackout, "venue": updated, "cancelled_bookings": cancelled}


def _blackout_slots(venue: Venue, fields: Mapping[str, Any]) -> tuple[str, list[str]]:
    """The blackout's date and the slot keys it closes (all of them for a whole day)."""
    date, wanted = fields["date"], set(fields["slots"])
    if date < rules.local_today(venue):
        raise Unprocessable(
            "A blackout cannot start in the past.",
            details={"date": ["Must be today or later in the venue's time zone."]},
        )
    keys = [slot["key"] for slot in rules.slots_of(venue)]
    unknown = sorted(wanted - set(keys))
    if unknown:
        raise Unprocessable(
            "The venue has no such slot.",
            details={"slots": [f"Unknown: {', '.join(unknown)}. Use: {', '.join(keys)}."]},
        )
    overlapping = [
        blackout["id"]
        for blackout in rules.setting(venue, "blackouts")
        if blackout["date"] == date
        and (not blackout.get("slots") or not wanted or wanted & set(blackout["slots"]))
    ]
    if overlapping:
        raise Conflict(
            "A blackout already covers that date or slot; remove it first.",
            error_code="already_blacked_out",
            context={"date": date, "blackout_ids": overlapping},
        )
    return date, [key for key in keys if not wanted or key in wanted]


def _claim_for_blackout(
    user: User,
    venue: Venue,
    claim_id: ObjectId,
    date: str,
    keys: list[str],
    fields: Mapping[str, Any],
) -> list[str]:
    """Take the slots' claims for the blackout; ids of the bookings cancelled to free them."""
    cancelled: list[str] = []
    for attempt in range(1, FORCE_ROUNDS + 1):
        try:
            claims.claim_slots(venue["_id"], date, keys, claim_id)
            return cancelled
        except Conflict as taken:
            if taken.error_code != "slot_taken":
                raise
        holders = claims.holders(venue["_id"], date, keys)
        in_the_way = sorted({str(booking_id) for booking_id in holders.values()})
        if not fields["force"] or attempt == FORCE_ROUNDS:
            break
        for booking_id in in_the_way:
            if _cancel_for_blackout(user, booking_id, fields["reason"]):
                cancelled.append(booking_id)
    raise Conflict(
        "Bookings hold that date; cancel them first, or send force: true.",
        error_code="blackout_conflicts_bookings",
        context={"date": date, "slots": sorted(holders), "booking_ids": in_the_way},
    )


def _cancel_for_blackout(user: User, booking_id: str, reason: str) -> bool:
    """Cancel a booking in the blackout's way; False if it was not there to cancel."""
    try:
        bookings.cancel_booking(user, booking_id, reason=f"The venue closed: {reason}")
    except (NotFound, Conflict):
        # A booking still being written (its claim in its grace period), or one that left
        # pending/confirmed meanwhile: the next round's claim sees whether it is still there.
        return False
    return True


def _refuse_blackout_push(venue_id: ObjectId) -> NoReturn:
    if db.venues().find_one({"_id": venue_id, "status": {"$ne": DELETED}}, {"_id": 1}) is None:
        raise NotFound("No venue has that id.", error_code="venue_not_found")
    raise Conflict(
        f"A venue keeps at most {MAX_BLACKOUTS} blackouts; remove some old ones.",
        error_code="too_many_blackouts",
    )


def remove_blackout(user: User, venue_id: str | ObjectId, blackout_id: str) -> Venue:
    """Reopen what a blackout closed on one of the owner's venues."""
    venue = owned_venue(user, venue_id)
    claim_id = object_id(blackout_id)
    ids = {blackout["id"] for blackout in rules.setting(venue, "blackouts")}
    if claim_id is None or str(claim_id) not in ids:
        raise NotFound("The venue has no blackout with that id.", error_code="blackout_not_found")
    # Claims first: a crash in between leaves the blackout listed (slot_refusal still refuses)
    # and a repeated DELETE finishes the job; the other order could strand held claims.
    claims.release_claims(claim_id)
    updated = _pull_blackout(venue["_id"], str(claim_id))
    if updated is None:
        raise NotFound("The venue has no blackout with that id.", error_code="blackout_not_found")
    return updated


def _pull_blackout(venue_id: ObjectId, blackout_id: str) -> Venue | None:
    return db.venues().find_one_and_update(
        {"_id": venue_id, "status": {"$ne": DELETED}, "blackouts.id": blackout_id},
        {"$pull": {"blackouts": {"id": blackout_id}}, "$set": {"updated_at": clock.now()}},
        return_document=ReturnDocument.AFTER,
    )
