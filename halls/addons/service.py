"""Add-ons: what a venue sells with a booking, kept in the venue's `addons` array.

Every change is one atomic update of the venue whose filter states what must still be true
(the key is new, the key exists), so two owners' tabs racing never leave two add-ons with one
key. Bookings keep their own priced copy (`price_locked`): nothing here changes a booking.
"""

import re
from collections.abc import Mapping
from typing import Any

from bson import ObjectId
from pymongo import ReturnDocument

from halls import clock, db, pricing
from halls.addons.schemas import MAX_ADDONS
from halls.documents import Addon, User, Venue
from halls.errors import ApiError, Conflict, NotFound
from halls.schemas import SNAKE_NAME
from halls.venues import service as venues

LIVE = {"$ne": venues.DELETED}


def _not_found() -> NotFound:
    return NotFound("The venue offers no add-on with that key.", error_code="addon_not_found")


def _path_key(key: str) -> str:
    # The key comes from the URL: only a well-formed one may reach a filter.
    if not re.match(SNAKE_NAME, key):
        raise _not_found()
    return key


def list_addons(venue_id: str | ObjectId, page: int, limit: int) -> db.Page[Addon]:
    """A page of the venue's add-ons, in the order the owner added them (public)."""
    addons = pricing.addons_of(venues.get_venue(venue_id))
    items = addons[(page - 1) * limit : page * limit]
    return {"items": items, "page": page, "limit": limit, "total": len(addons)}


def add_addon(user: User, venue_id: str | ObjectId, fields: Addon) -> Addon:
    """Add an add-on to one of the owner's venues: 409 if the key is taken or the list full."""
    venue = venues.owned_venue(user, venue_id)
    key = fields["key"]
    updated = db.venues().find_one_and_update(
        {
            "_id": venue["_id"],
            "status": LIVE,
            # Both guards in the filter, so the check and the push are one atomic step.
            "addons.key": {"$ne": key},
            f"addons.{MAX_ADDONS - 1}": {"$exists": False},
        },
        {"$push": {"addons": fields}, "$set": {"updated_at": clock.now()}},
        return_document=ReturnDocument.AFTER,
    )
    if updated is None:
        raise _why_not_added(venue["_id"], key)
    return fields


def _why_not_added(venue_oid: ObjectId, key: str) -> ApiError:
    venue = db.venues().find_one({"_id": venue_oid, "status": LIVE}, {"addons.key": 1})
    if venue is None:
        return NotFound("No venue has that id.", error_code="venue_not_found")
    if any(addon["key"] == key for addon in pricing.addons_of(venue)):
        return Conflict(
            "The venue already has an add-on with that key.",
            error_code="addon_exists",
            details={"key": key},
        )
    return Conflict(
        f"A venue may offer at most {MAX_ADDONS} add-ons.",
        error_code="too_many_addons",
        details={"max": MAX_ADDONS},
    )


def update_addon(
    user: User, venue_id: str | ObjectId, key: str, changes: Mapping[str, Any]
) -> Addon:
    """Change some fields of one add-on of one of the owner's venues."""
    venue = venues.owned_venue(user, venue_id)
    key = _path_key(key)
    update = {f"addons.$.{name}": value for name, value in changes.items()}
    updated = db.venues().find_one_and_update(
        # The positional $ updates the element this filter's addons.key matched.
        {"_id": venue["_id"], "status": LIVE, "addons.key": key},
        {"$set": {**update, "updated_at": clock.now()}},
        return_document=ReturnDocument.AFTER,
    )
    return _addon_in(updated, key)


def delete_addon(user: User, venue_id: str | ObjectId, key: str) -> Addon:
    """Remove one add-on from one of the owner's venues; existing bookings keep theirs."""
    venue = venues.owned_venue(user, venue_id)
    key = _path_key(key)
    before = db.venues().find_one_and_update(
        {"_id": venue["_id"], "status": LIVE, "addons.key": key},
        {"$pull": {"addons": {"key": key}}, "$set": {"updated_at": clock.now()}},
        return_document=ReturnDocument.BEFORE,
    )
    return _addon_in(before, key)


def _addon_in(venue: Venue | None, key: str) -> Addon:
    for addon in pricing.addons_of(venue or {}):
        if addon["key"] == key:
            return addon
    raise _not_found()
