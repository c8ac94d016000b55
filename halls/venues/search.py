"""Venue search: an aggregation pipeline that matches, sorts, pages and counts the venues and
carries the page's summaries, beside the day's held claims and the calendars of the venues
only the rules can judge (the pipeline runs again without any they close)."""

import datetime as dt
import re
from zoneinfo import ZoneInfo

from halls import clock, db, rules
from halls.bookings import claims
from halls.errors import Unprocessable
from halls.venues import search_schemas

DEFAULT_NEAR_KM = 10
NO_PRICE = "_no_price"
CALENDAR_SETTINGS = ("open_days", "booking_window_days", "min_notice_hours", "blackouts")
# What the pipeline keeps of each matched venue besides its summary: its distance, the
# fields its sort reads (ORDERS), and with a date what its "maybe closed" facet reads
# (MAYBE_FIELDS).
DECIDING_FIELDS = ("distance_km",)
CALENDAR_FIELDS = ("timezone", "slots", *CALENDAR_SETTINGS)
# What the pipeline carries of each venue for the page besides its price: what it shows.
SUMMARY_FIELDS = search_schemas.SUMMARY_FIELDS
BASE_PRICE = "pricing.base_price"
PRICE_SORTS = ("price_asc", "price_desc")
# The most "maybe closed" venues the pipeline returns in its result document (16 MB at most
# on a server); beyond that search reads them with a cursor.
MAYBE_IN_FACET = 1000
ORDERS = {
    "distance": {"distance_km": 1, "_id": 1},
    "capacity": {"capacity": -1, "_id": 1},
    "newest": {"created_at": -1, "_id": -1},
}


def search_venues(args):
    """One page of active venues matching the search, with the total across pages."""
    date = args.get("date")
    query = _filters(args)
    price_range = _range(args.get("price_min"), args.get("price_max"))
    now = clock.now()
    closed, held = [], {}
    if date:
        query.update(_open_on(date, now))
        if price_range:
            query = {"dates_available": date, "$and": [_costs_on(date, price_range)], **query}
        held = claims.held_by_venue(date)
        closed = _fully_held(held)
    elif price_range:
        query[BASE_PRICE] = price_range
    maybe = _maybe_closed(date, now) if date else None
    (result,) = db.venues().aggregate(_pipeline(args, query, closed, maybe))
    maybe_ids = [venue["_id"] for venue in result.get("maybe", ())]
    maybe_query = {"_id": {"$in": maybe_ids}}
    if len(maybe_ids) > MAYBE_IN_FACET:
        # So many (tomorrow, over a large catalogue) that one result document might not hold
        # them: read them with a cursor instead, by the query alone (a superset, judged alike).
        maybe_query = {**query, "$or": maybe, "_id": {"$nin": closed}}
    maybe_venues = []
    if maybe_ids:
        maybe_venues = db.venues().find(maybe_query, dict.fromkeys(CALENDAR_FIELDS, 1))
    # The free slots of the venues whose calendars availability's rules must judge: any other
    # the query lets through has every slot free that is not held (see _maybe_closed).
    judged_free = {venue["_id"]: _free_slots(venue, date, held, now) for venue in maybe_venues}
    judged = [venue_id for venue_id, free in judged_free.items() if not free]
    if judged:
        # Rare: a venue the query could only call "maybe" has no slot left to book (its
        # owner's rules close the rest). Ask again without it, so that the page and the total
        # both leave it out.
        (result,) = db.venues().aggregate(_pipeline(args, query, closed + judged, None))
    total = result["total"][0]["n"] if result["total"] else 0
    if not total and args.get("amenities"):
        _refuse_unknown_amenities(args["amenities"])
    page, limit = args["page"], args["limit"]
    items = [_summary(item, date, held, judged_free) for item in result["items"]]
    return {"items": items, "page": page, "limit": limit, "total": total}


def _pipeline(args, query, closed, maybe):
    """Match, sort, page and count the venues, carrying only what a summary shows and what
    decides (not whole documents); $facet pages and counts the same matched set in one round
    trip, so totals stay right."""
    date = args.get("date")
    near = "near_lat" in args
    sort = args.get("sort") or ("distance" if near else "newest")
    if closed:
        query = {**query, "_id": {"$nin": closed}}
    # With a date the price that day is rules.price_on of the whole pricing.
    sorted_by = [key for key in ORDERS.get(sort, ()) if key != "_id"]
    kept = dict.fromkeys(
        (*DECIDING_FIELDS, *sorted_by, *SUMMARY_FIELDS, "pricing" if date else BASE_PRICE), 1
    )
    if date:
        kept.update(dict.fromkeys(MAYBE_FIELDS, 1))
    price_field = BASE_PRICE
    if date and sort in PRICE_SORTS:
        # Only a price sort needs the price that day inside the pipeline.
        kept["price_on_date"] = _price_on(date)
        price_field = "price_on_date"
    page, limit = args["page"], args["limit"]
    facets = {
        "items": [
            *_sort_stages(sort, price_field),
            {"$skip": (page - 1) * limit},
            {"$limit": limit},
        ],
        "total": [{"$count": "n"}],
    }
    if maybe:
        # Their ids only: the calendars of the few there are are read afterwards.
        facets["maybe"] = [
            {"$project": dict.fromkeys(MAYBE_FIELDS, 1)},
            {"$match": {"$or": maybe}},
            {"$limit": MAYBE_IN_FACET + 1},
            {"$project": {"_id": 1}},
        ]
    lead = _geo_near(args, query) if near else {"$match": query}
    return [lead, {"$project": kept}, {"$facet": facets}]


def _summary(item, date, held, judged_free):
    """A page item as search shows it: its base price, its distance to the hundredth of a km
    and, with a date, its price and the slots still free that day (judged_free: those of the
    venues whose calendar may close some slot, as the rules judged them)."""
    item["base_price"] = (item.get("pricing") or {}).get("base_price")
    if "distance_km" in item:
        item["distance_km"] = round(item["distance_km"], 2)
    if date:
        item["price_on_date"] = rules.price_on(item, date)
        if item["_id"] in judged_free:
            item["free_slots"] = judged_free[item["_id"]]
        else:
            taken = held.get(item["_id"], ())
            item["free_slots"] = [s["key"] for s in rules.slots_of(item) if s["key"] not in taken]
    return item


def _free_slots(venue, date, held, now):
    """Keys of the venue's slots that availability shows free on the date. The query only
    lists active venues offering the date, so neither field is read: they are taken as so."""
    offered = {**venue, "status": "active", "dates_available": [date]}
    day = rules.day_availability(offered, date, held.get(venue["_id"], ()), now)
    return [slot["key"] for slot in day["slots"] if slot["available"]]


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


def _refuse_unknown_amenities(names):
    """Nothing matched: if some asked amenity is on no venue at all (a typo), say which one
    instead of answering an empty page. Asked only then: a known name costs nothing."""
    unknown = [
        name
        for name in names
        if db.venues().find_one({f"amenities.{name}": {"$exists": True}}, {"_id": 1}) is None
    ]
    if unknown:
        raise Unprocessable(
            "No venue has some of those amenities.",
            details={"amenities": [f"Unknown amenities: {', '.join(unknown)}."]},
        )


def _range(low, high):
    bounds = {}
    if low is not None:
        bounds["$gte"] = low
    if high is not None:
        bounds["$lte"] = high
    return bounds


def _open_on(date, now):
    """Venues offering the date, not past in their own zone, and not closed by their owner's
    calendar as far as a query can tell: the weekday, a whole-day blackout, a booking window
    too short in every zone. _maybe_closed finds the few it cannot tell."""
    query = {
        "dates_available": date,
        "open_days": {"$in": [rules.weekday_of(date), None]},  # None: no setting, every day
        "blackouts": {"$not": {"$elemMatch": {"date": date, "slots.0": {"$exists": False}}}},
    }
    zones = rules.zones_open_on(date, now)
    if zones is not None:
        # Near midnight the date is today in some zones and already past in others.
        query["timezone"] = {"$in": zones}
    fewest, _ = _days_ahead(date, now)
    # A window shorter than the fewest days ahead anywhere closes the date in every zone.
    if rules.SETTINGS["booking_window_days"] < fewest:
        query["booking_window_days"] = {"$gte": fewest}
    else:
        query["booking_window_days"] = {"$not": {"$lt": fewest}}  # or no setting
    return query


# What the clauses of _maybe_closed read (whole top-level fields: a server reads the
# document either way).
MAYBE_FIELDS = ("blackouts", "min_notice_hours", "booking_window_days")


def _maybe_closed(date, now):
    """$or clauses that catch every venue _open_on lets through whose owner's rules may still
    close some slot of the date; _free_slots (availability's own rules, with the held claims)
    has the last word on them, so search agrees with availability and booking. Any other venue
    the query lets through has every slot free that is not held.

    A window that reaches the date in some zones only, a notice that may reach into it, a
    blackout of some slots that day.
    """
    fewest, most = _days_ahead(date, now)
    # No slot of the date starts before its midnight in the latest zone on Earth.
    first_start = dt.datetime.combine(
        dt.date.fromisoformat(date), dt.time(), tzinfo=ZoneInfo(rules.LATEST_ZONE)
    )
    hours_left = (first_start - now).total_seconds() / 3600
    maybe = [
        {"blackouts.date": date},
        {"min_notice_hours": {"$gt": hours_left}},
    ]
    if fewest < most:
        maybe.append({"booking_window_days": {"$gte": fewest, "$lt": most}})
    # Venues stored before these settings behave as the defaults.
    if fewest <= rules.SETTINGS["booking_window_days"] < most:
        maybe.append({"booking_window_days": None})
    if rules.SETTINGS["min_notice_hours"] > hours_left:
        maybe.append({"min_notice_hours": None})
    return maybe


def _days_ahead(date, now):
    """How many days ahead the date is where today began last, and where it began first."""
    day = dt.date.fromisoformat(date)
    latest, earliest = (
        rules.today_in(zone, now) for zone in (rules.LATEST_ZONE, rules.EARLIEST_ZONE)
    )
    return (day - dt.date.fromisoformat(latest)).days, (day - dt.date.fromisoformat(earliest)).days


def _fully_held(held):
    """Ids of venues whose every slot is held on the date (held: claims.held_by_venue)."""
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


def _costs_on(date, price_range):
    """The venues whose price on the date (rules.price_on) is in the range, as a query rather
    than a computed price: the base price is in it or an override sets the price that day,
    and no override sets a price outside it that day. (VenueIn keeps override dates unique
    and their prices set.)"""
    return {
        "$or": [{BASE_PRICE: price_range}, {"pricing.overrides.date": date}],
        "$nor": [
            {"pricing.overrides": {"$elemMatch": {"date": date, "price": {"$not": price_range}}}}
        ],
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
    if sort not in PRICE_SORTS:
        return [{"$sort": ORDERS[sort]}]
    direction = 1 if sort == "price_asc" else -1
    # Venues without a price go last either way: sort on "has no price" first.
    missing = {"$eq": [{"$ifNull": [f"${price_field}", None]}, None]}
    return [
        {"$addFields": {NO_PRICE: missing}},
        {"$sort": {NO_PRICE: 1, price_field: direction, "_id": 1}},
    ]
