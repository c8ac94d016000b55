"""Venue search: one aggregation pipeline, the same on mongomock and on a real server."""

import datetime as dt
import re
from zoneinfo import ZoneInfo

from halls import db
from halls.bookings import claims
from halls.venues import rules

DEFAULT_NEAR_KM = 10
NO_PRICE = "_no_price"
CALENDAR_SETTINGS = ("open_days", "booking_window_days", "min_notice_hours", "blackouts")
ORDERS = {
    "distance": {"distance_km": 1, "_id": 1},
    "capacity": {"capacity": -1, "_id": 1},
    "newest": {"created_at": -1, "_id": -1},
}


def search_venues(args):
    """One page of active venues matching the search, with the total across pages."""
    date = args.get("date")
    near = "near_lat" in args
    price_field = "price_on_date" if date else "pricing.base_price"
    query = _filters(args)
    price_range = _range(args.get("price_min"), args.get("price_max"))
    if date:
        query.update(_open_on(date))
    elif price_range:
        query[price_field] = price_range

    pipeline = [_geo_near(args, query) if near else {"$match": query}]
    if date:
        pipeline.append({"$addFields": {"price_on_date": _price_on(date)}})
        if price_range:
            pipeline.append({"$match": {price_field: price_range}})
    sort = args.get("sort") or ("distance" if near else "newest")
    page, limit = args["page"], args["limit"]
    # $facet counts and pages the same matched set in one round trip, so totals stay right.
    pipeline.append(
        {
            "$facet": {
                "items": [
                    *_sort_stages(sort, price_field),
                    {"$skip": (page - 1) * limit},
                    {"$limit": limit},
                ],
                "total": [{"$count": "n"}],
            }
        }
    )
    (result,) = db.venues().aggregate(pipeline)
    items = result["items"]
    for item in items:
        if "distance_km" in item:
            item["distance_km"] = round(item["distance_km"], 2)
    total = result["total"][0]["n"] if result["total"] else 0
    return {"items": items, "page": page, "limit": limit, "total": total}


def _filters(args):
    query = {"status": "active"}
    if "type" in args:
        query["type"] = args["type"]
    if "city" in args:
        # Exact city, any case: an anchored regex of the escaped text.
        query["city"] = {"$regex": f"^{re.escape(args['city'])}$", "$options": "i"}
    capacity = _range(args.get("capacity_min"), args.get("capacity_max"))
    if capacity:
        query["capacity"] = capacity
    for amenity in args.get("amenities", []):
        query[f"amenities.{amenity}"] = True
    if "q" in args:
        query["venue_name"] = {"$regex": re.escape(args["q"]), "$options": "i"}
    return query


def _range(low, high):
    bounds = {}
    if low is not None:
        bounds["$gte"] = low
    if high is not None:
        bounds["$lte"] = high
    return bounds


def _open_on(date):
    """Venues offering the date, not past in their own zone, with a slot still free."""
    query = {"dates_available": date}
    zones = rules.zones_open_on(date)
    if zones is not None:
        # Near midnight the date is today in some zones and already past in others.
        query["timezone"] = {"$in": zones}
    closed = _fully_held(date) + _closed_by_calendar(date)
    if closed:
        query["_id"] = {"$nin": closed}
    return query


def _closed_by_calendar(date):
    """Ids of venues offering the date whose owner's rules leave no slot of it bookable.

    The query only narrows the venues to judge (a weekday off, a window that may end before
    the date, a blackout that day, a notice that may reach into it); rules.closed_by_calendar
    has the last word, so search agrees with availability and booking.
    """
    now = rules.utc_now()
    day = dt.date.fromisoformat(date)
    # The most days ahead the date can be anywhere; a window at least this long reaches it.
    days_ahead = (day - dt.date.fromisoformat(rules.today_in(rules.EARLIEST_ZONE, now))).days
    # No slot of the date starts before its midnight in the latest zone on Earth.
    first_start = dt.datetime.combine(day, dt.time(), tzinfo=ZoneInfo(rules.LATEST_ZONE))
    hours_left = (first_start - now).total_seconds() / 3600
    maybe_closed = [
        {"open_days": {"$exists": True, "$nin": [rules.weekday_of(date)]}},
        {"booking_window_days": {"$lt": days_ahead}},
        {"min_notice_hours": {"$gt": hours_left}},
        {"blackouts.date": date},
    ]
    # Venues stored before these settings behave as the defaults.
    if rules.SETTINGS["booking_window_days"] < days_ahead:
        maybe_closed.append({"booking_window_days": {"$exists": False}})
    if rules.SETTINGS["min_notice_hours"] > hours_left:
        maybe_closed.append({"min_notice_hours": {"$exists": False}})
    candidates = db.venues().find(
        {"dates_available": date, "status": "active", "$or": maybe_closed},
        {"_id": 1, "timezone": 1, "slots": 1, **{name: 1 for name in CALENDAR_SETTINGS}},
    )
    return [venue["_id"] for venue in candidates if rules.closed_by_calendar(venue, date, now)]


def _fully_held(date):
    """Ids of venues whose every slot is held on the date."""
    held = claims.held_by_venue(date)
    if not held:
        return []
    venues = db.venues().find({"_id": {"$in": list(held)}}, {"slots": 1})
    return [venue["_id"] for venue in venues if rules.fully_held(venue, held[venue["_id"]])]


def _geo_near(args, query):
    return {
        "$geoNear": {
            "near": {"type": "Point", "coordinates": [args["near_lng"], args["near_lat"]]},
            "key": "maps_location",
            "distanceField": "distance_km",
            "distanceMultiplier": 0.001,  # metres to km; maxDistance stays in metres
            "maxDistance": args.get("near_km", DEFAULT_NEAR_KM) * 1000,
            "spherical": True,
            "query": query,
        }
    }


def _price_on(date):
    """The first override for the date, else base_price, else null (rules.price_on)."""
    override_prices = {
        "$map": {
            "input": {
                "$filter": {
                    "input": {"$ifNull": ["$pricing.overrides", []]},
                    "as": "override",
                    "cond": {"$eq": ["$$override.date", date]},
                }
            },
            "as": "override",
            "in": "$$override.price",
        }
    }
    return {
        "$ifNull": [
            {"$arrayElemAt": [override_prices, 0]},
            {"$ifNull": ["$pricing.base_price", None]},
        ]
    }


def _sort_stages(sort, price_field):
    if sort not in ("price_asc", "price_desc"):
        return [{"$sort": ORDERS[sort]}]
    direction = 1 if sort == "price_asc" else -1
    # Venues without a price go last either way: sort on "has no price" first.
    missing = {"$eq": [{"$ifNull": [f"${price_field}", None]}, None]}
    return [
        {"$addFields": {NO_PRICE: missing}},
        {"$sort": {NO_PRICE: 1, price_field: direction, "_id": 1}},
        {"$project": {NO_PRICE: 0}},
    ]
