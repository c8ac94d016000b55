"""How a stored booking reads to people: shared by receipts, emails and the calendar feed."""

import datetime as dt

from halls import rules


def booked_slots(booking):
    """The booked slots as they were when booked (key, label, start, end), in the venue's order."""
    return booking["slot_details"]


def slots_by_key(keys, venue):
    """The venue's slots with these keys; a key it no longer has reads as just the key."""
    known = {slot["key"]: slot for slot in rules.slots_of(venue)}
    return [known.get(key) or {"key": key} for key in keys if key]


def long_date(date):
    """YYYY-MM-DD as 'Saturday 14 June 2025'."""
    day = dt.date.fromisoformat(date)
    return f"{day:%A} {day.day} {day:%B %Y}"
