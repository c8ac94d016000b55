"""Venues: register, read, update, soft-delete, and availability."""

import datetime as dt

from pymongo import ReturnDocument

from halls import db
from halls.bookings import claims
from halls.errors import Conflict, Forbidden, NotFound
from halls.schemas import object_id
from halls.venues import rules

DELETED = "deleted"
ACTIVE_BOOKINGS = ["pending", "confirmed"]


def _now():
    return dt.datetime.now(dt.UTC)


def get_venue(venue_id):
    """The venue with this id (a path string), unless deleted: 404 `venue_not_found`."""
    oid = object_id(venue_id)
    venue = db.venues().find_one({"_id": oid, "status": {"$ne": DELETED}}) if oid else None
    if venue is None:
        raise NotFound("No venue has that id.", error_code="venue_not_found")
    return venue


def _owned_venue(user, venue_id):
    venue = get_venue(venue_id)
    if venue["owner_id"] != user["_id"]:
        raise Forbidden("This venue belongs to another owner.", error_code="not_venue_owner")
    return venue


def register_venue(user, fields):
    """Store a new venue owned by the user."""
    now = _now()
    venue = {
        "owner_id": user["_id"],
        **fields,
        "currency": "PKR",
        "created_at": now,
        "updated_at": now,
    }
    venue["_id"] = db.venues().insert_one(venue).inserted_id
    return venue


def list_my_venues(user, page, limit):
    """A page of the owner's venues, newest first, inactive ones included."""
    query = {"owner_id": user["_id"], "status": {"$ne": DELETED}}
    cursor = (
        db.venues()
        .find(query)
        .sort([("created_at", -1), ("_id", -1)])
        .skip((page - 1) * limit)
        .limit(limit)
    )
    total = db.venues().count_documents(query)
    return {"items": list(cursor), "page": page, "limit": limit, "total": total}


def update_venue(user, venue_id, changes):
    """Apply a partial update to one of the owner's venues."""
    venue = _owned_venue(user, venue_id)
    _refuse_orphaned_claims(venue, changes)
    update = {name: value for name, value in changes.items() if name != "pricing"}
    # Each part of pricing on its own path, so sending overrides keeps the base price.
    for name, value in changes.get("pricing", {}).items():
        update[f"pricing.{name}"] = value
    update["updated_at"] = _now()
    updated = db.venues().find_one_and_update(
        {"_id": venue["_id"], "status": {"$ne": DELETED}},
        {"$set": update},
        return_document=ReturnDocument.AFTER,
    )
    if updated is None:  # deleted between the read and the write
        raise NotFound("No venue has that id.", error_code="venue_not_found")
    return updated


def _refuse_orphaned_claims(venue, changes):
    """Removing a future date or a slot key that a booking holds would orphan the booking."""
    today = rules.local_today(venue)
    future = [date for date in venue.get("dates_available") or [] if date >= today]
    removed_dates = set(future) - set(changes.get("dates_available", future))
    keys = {slot["key"] for slot in rules.slots_of(venue)}
    removed_keys = keys - {slot["key"] for slot in changes.get("slots", rules.slots_of(venue))}
    if not removed_dates and not removed_keys:
        return
    held = claims.held_slots(venue["_id"], future)
    busy_dates = sorted(date for date in removed_dates if held.get(date))
    if busy_dates:
        raise Conflict(
            "A booking holds a date you are removing; cancel or reject it first.",
            error_code="date_in_use",
            details={"dates": busy_dates},
        )
    busy_keys = sorted(removed_keys & set().union(*held.values()))
    if busy_keys:
        raise Conflict(
            "A booking holds a slot you are removing; cancel or reject it first.",
            error_code="slot_in_use",
            details={"slots": busy_keys},
        )


def delete_venue(user, venue_id):
    """Soft-delete one of the owner's venues unless it has upcoming bookings."""
    venue = _owned_venue(user, venue_id)
    upcoming = {
        "venue_id": venue["_id"],
        "date": {"$gte": rules.local_today(venue)},
        "status": {"$in": ACTIVE_BOOKINGS},
    }
    if db.bookings().find_one(upcoming, {"_id": 1}) is not None:
        raise Conflict(
            "The venue has upcoming bookings; cancel or reject them first.",
            error_code="venue_has_bookings",
        )
    now = _now()
    deleted = db.venues().find_one_and_update(
        {"_id": venue["_id"], "status": {"$ne": DELETED}},
        {"$set": {"status": DELETED, "deleted_at": now, "updated_at": now}},
        return_document=ReturnDocument.AFTER,
    )
    if deleted is None:
        raise NotFound("No venue has that id.", error_code="venue_not_found")
    return deleted


def venue_availability(venue_id, date=None, first=None, last=None):
    """Slot availability and price on one date, or on each date of a range."""
    venue = get_venue(venue_id)
    dates = [date] if date else rules.dates_between(first, last)
    held = claims.held_slots(venue["_id"], dates)  # one query for the whole range
    days = [rules.day_availability(venue, day, held.get(day, set())) for day in dates]
    if date:
        return {"venue_id": venue["_id"], **days[0]}
    return {"venue_id": venue["_id"], "days": days}
