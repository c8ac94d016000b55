"""Availability and price rules of a venue on a date (seed §4, extended to slots).

Plain functions of a venue document and the held claims: no queries here, so search,
availability and booking all apply the very same rules.
"""

import datetime as dt
import functools
from zoneinfo import ZoneInfo, available_timezones

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
    return today_in(venue.get("timezone") or DEFAULT_TIMEZONE, now)


def today_in(zone, now=None):
    """Today's date in the named IANA time zone, as YYYY-MM-DD."""
    now = now or dt.datetime.now(dt.UTC)
    return now.astimezone(_zone(zone)).date().isoformat()


@functools.lru_cache(maxsize=1024)
def _zone(name):
    # ZoneInfo keeps only a few zones strongly cached; zones_open_on walks all ~600 of them,
    # which would otherwise re-read each one from disk on every search.
    return ZoneInfo(name)


@functools.cache
def known_timezones():
    """Every IANA time zone name this machine knows (read from disk once)."""
    return frozenset(available_timezones())


# Local calendars on Earth run from UTC-12 to UTC+14 (POSIX names invert the sign).
EARLIEST_ZONE, LATEST_ZONE = "Etc/GMT+12", "Etc/GMT-14"


def is_past_everywhere(date, now=None):
    """The date is over in every time zone: no venue can be open on it."""
    return date < today_in(EARLIEST_ZONE, now)


def zones_open_on(date, now=None):
    """The time zones where the date is not yet past; None when that is all of them."""
    if date >= today_in(LATEST_ZONE, now):
        return None
    return sorted(zone for zone in known_timezones() if date >= today_in(zone, now))


def slots_of(venue):
    """The venue's slots, or the single full-day slot."""
    return venue.get("slots") or DEFAULT_SLOTS


def is_open_on(venue, date, now=None):
    """The venue is active, offers the date, and the date is not past where the venue is."""
    return (
        venue.get("status", "active") == "active"
        and date in (venue.get("dates_available") or [])
        and date >= local_today(venue, now)
    )


def fully_held(venue, held):
    """Every slot of the venue is among the held slot keys."""
    return all(slot["key"] in held for slot in slots_of(venue))


def dates_between(first, last):
    """Every date from first to last inclusive, as YYYY-MM-DD strings."""
    start, end = dt.date.fromisoformat(first), dt.date.fromisoformat(last)
    return [(start + dt.timedelta(days=n)).isoformat() for n in range((end - start).days + 1)]


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
