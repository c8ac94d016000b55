"""Availability and price rules of a venue on a date (seed §4, extended to slots).

Plain functions of a venue document and the held claims: no queries here, so search,
availability and booking all apply the very same rules. `slot_refusal` is the one answer to
"may this slot on this date be booked now?" (claims aside); `setting` reads the owner's
calendar settings, which venues stored before issue 3 lack.
"""

import copy
import datetime as dt
import functools
from zoneinfo import ZoneInfo, available_timezones

from halls import clock

DEFAULT_TIMEZONE = "Asia/Karachi"
DEFAULT_SLOTS = [{"key": "full_day", "label": "Full day", "start": "00:00", "end": "23:59"}]
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DEFAULT_CANCELLATION_POLICY = [
    {"min_hours_before": 168, "refund_pct": 100},
    {"min_hours_before": 48, "refund_pct": 50},
    {"min_hours_before": 0, "refund_pct": 0},
]
# The owner's calendar settings and what a venue without them (older than issue 3) means.
SETTINGS = {
    "booking_window_days": 365,
    "min_notice_hours": 24,
    "open_days": list(WEEKDAYS),
    "blackouts": [],
    "hold_minutes": 1440,
    "auto_confirm": False,
    "reschedule_cutoff_hours": 48,
    "cancellation_policy": DEFAULT_CANCELLATION_POLICY,
}


def setting(venue, name):
    """The venue's value of a calendar setting (a SETTINGS name), or its default."""
    value = venue.get(name)
    return copy.deepcopy(SETTINGS[name]) if value is None else value


def _read(venue, name):
    # setting() for these rules, which only read it: the default itself, not a copy.
    value = venue.get(name)
    return SETTINGS[name] if value is None else value


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
    now = now or clock.now()
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


def weekday_of(date):
    """The weekday name (WEEKDAYS) of a YYYY-MM-DD date."""
    return WEEKDAYS[dt.date.fromisoformat(date).weekday()]


def blacked_out(venue, date, slot_key=None):
    """A blackout covers the slot on the date; with no slot_key, covers the whole date."""
    for blackout in _read(venue, "blackouts"):
        covered = blackout.get("slots") or []  # none listed: the whole day
        if blackout.get("date") == date and (not covered or slot_key in covered):
            return True
    return False


def calendar_refusal(venue, date, now=None):
    """Why the owner's calendar closes the whole date (weekday, window, blackout), or None."""
    if weekday_of(date) not in _read(venue, "open_days"):
        return "date_unavailable"
    window = dt.timedelta(days=_read(venue, "booking_window_days"))
    if date > (dt.date.fromisoformat(local_today(venue, now)) + window).isoformat():
        return "outside_booking_window"
    if blacked_out(venue, date):
        return "blacked_out"
    return None


def day_refusal(venue, date, now=None):
    """Why nothing on the date can be booked (claims aside), or None."""
    if venue.get("status", "active") != "active":
        return "venue_inactive"
    if date not in (venue.get("dates_available") or []) or date < local_today(venue, now):
        return "date_unavailable"
    return calendar_refusal(venue, date, now)


def is_open_on(venue, date, now=None):
    """The venue takes bookings on the date at all (some slot may still be refused)."""
    return day_refusal(venue, date, now) is None


def slot_refusal(venue, date, slot_key, now=None):
    """Why the slot on the date may not be booked now (claims aside): an error code, or None.

    venue_inactive, date_unavailable (not offered, past, closed weekday), outside_booking_window,
    blacked_out, too_late_to_book (the slot starts within min_notice_hours), unknown_slot.
    """
    return day_refusal(venue, date, now) or _slot_rules_refusal(venue, date, slot_key, now)


def _slot_rules_refusal(venue, date, slot_key, now):
    if slot_key not in {slot["key"] for slot in slots_of(venue)}:
        return "unknown_slot"
    if blacked_out(venue, date, slot_key):
        return "blacked_out"
    notice = dt.timedelta(hours=_read(venue, "min_notice_hours"))
    if event_start(venue, date, [slot_key]) < (now or clock.now()) + notice:
        return "too_late_to_book"
    return None


def event_start(venue, date, slot_keys):
    """When the earliest of these slots starts, as an aware UTC datetime.

    Keys the venue no longer has are skipped; with none left, the start of the day (the
    earliest the event could be, so notice and cut-off rules err on the safe side).
    """
    starts = [slot["start"] for slot in slots_of(venue) if slot["key"] in slot_keys]
    return _utc_start(venue.get("timezone") or DEFAULT_TIMEZONE, date, min(starts, default="00:00"))


def utc_span(zone, date, start, end):
    """A slot's start and end on a date, on the zone's clock, as aware UTC datetimes. An end at
    or before its start is on the next day: the slot runs past midnight."""
    begins = _utc_start(zone, date, start)
    next_day = end <= start
    if next_day:
        date = (dt.date.fromisoformat(date) + dt.timedelta(days=1)).isoformat()
    return begins, _utc_start(zone, date, end)


@functools.lru_cache(maxsize=4096)
def _utc_start(zone, date, start):
    # The same (zone, date, start) for many venues and slots: search asks it of every item.
    local = dt.datetime.combine(
        dt.date.fromisoformat(date), dt.time.fromisoformat(start), tzinfo=_zone(zone)
    )
    return local.astimezone(dt.UTC)


def fully_held(venue, held):
    """Every slot of the venue is among the held slot keys."""
    return all(slot["key"] in held for slot in slots_of(venue))


def dates_between(first, last):
    """Every date from first to last inclusive, as YYYY-MM-DD strings."""
    start, end = dt.date.fromisoformat(first), dt.date.fromisoformat(last)
    return [(start + dt.timedelta(days=n)).isoformat() for n in range((end - start).days + 1)]


def day_availability(venue, date, held, now=None):
    """The availability answer for one date, given the set of held slot keys."""
    now = now or clock.now()
    # slot_refusal of each slot, the day's part asked once.
    refusal = day_refusal(venue, date, now)
    slots = []
    for slot in slots_of(venue):
        reason = refusal or _slot_rules_refusal(venue, date, slot["key"], now)
        if reason is None and slot["key"] in held:
            reason = "slot_taken"
        slots.append({**slot, "available": reason is None, "reason": reason})
    return {
        "date": date,
        "available": any(slot["available"] for slot in slots),
        "price": price_on(venue, date),
        "slots": slots,
    }
