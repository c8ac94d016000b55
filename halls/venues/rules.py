"""Availability and price rules of a venue on a date (seed §4, extended to slots).

Plain functions of a venue document and the held claims: no queries here, so search,
availability and booking all apply the very same rules.
"""

import datetime as dt
from zoneinfo import ZoneInfo

DEFAULT_TIMEZONE = "Asia/Karachi"
DEFAULT_SLOTS = [{"key": "full_day", "label": "Full day", "start": "00:00", "end": "23:59"}]


def price_on(venue, date):
    """The first override for the date, else the base price, else None (not bookable)."""
    pricing = venue.get("pricing") or {}
    for override in pricing.get("overrides") or []:
        if override.get("date") == date:
            return override.get("price")
    return pricing.get("base_price")


def local_today(venue, now=None):
    """Today's date in the venue's time zone, as YYYY-MM-DD."""
    now = now or dt.datetime.now(dt.UTC)
    zone = ZoneInfo(venue.get("timezone") or DEFAULT_TIMEZONE)
    return now.astimezone(zone).date().isoformat()


def slots_of(venue):
    """The venue's slots, or the single full-day slot."""
    return venue.get("slots") or DEFAULT_SLOTS


def is_open_on(venue, date, now=None):
    """The owner offers the date and it is not in the past where the venue is."""
    return date in (venue.get("dates_available") or []) and date >= local_today(venue, now)


def day_availability(venue, date, held, now=None):
    """The availability answer for one date, given the set of held slot keys."""
    open_day = is_open_on(venue, date, now)
    slots = [
        {**slot, "available": open_day and slot["key"] not in held} for slot in slots_of(venue)
    ]
    return {
        "date": date,
        "available": any(slot["available"] for slot in slots),
        "price": price_on(venue, date),
        "slots": slots,
    }
