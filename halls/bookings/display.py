"""How a stored booking reads to people: shared by receipts, emails, the calendar feed and the
booking's own answer (its times, and the summary of its venue it keeps)."""

import datetime as dt

from halls import rules
from halls.documents import BookingVenue, Venue


def booked_slots(booking):
    """The booked slots as they were when booked (key, label, start, end), in the venue's order."""
    return booking["slot_details"]


def venue_summary(venue: Venue) -> BookingVenue:
    """What a booking keeps of its venue, as it is when booked: what a list of bookings shows."""
    pictures = venue.get("pictures") or []
    return {
        "id": venue["_id"],
        "venue_name": venue["venue_name"],
        "city": venue.get("city"),
        "address": venue.get("address") or "",
        "timezone": venue.get("timezone") or rules.DEFAULT_TIMEZONE,
        "cover_picture": pictures[0] if pictures else None,
    }


# A booked slot known by its key only (migrated, of a slot the venue no longer had): the day.
WHOLE_DAY = {"start": "00:00", "end": "00:00"}


def event_span(booking):
    """When the booked slots start and end, as aware UTC datetimes: on the booking's date, on
    its venue's clock (the time zone it kept when booked)."""
    zone, date = booking["venue"]["timezone"], booking["date"]
    spans = [
        rules.utc_span(zone, date, times["start"], times["end"])
        for slot in booked_slots(booking)
        for times in [slot if slot.get("start") and slot.get("end") else WHOLE_DAY]
    ]
    return min(start for start, _ in spans), max(end for _, end in spans)


def slots_by_key(keys, venue):
    """The venue's slots with these keys; a key it no longer has reads as just the key."""
    known = {slot["key"]: slot for slot in rules.slots_of(venue)}
    return [known.get(key) or {"key": key} for key in keys if key]


def long_date(date):
    """YYYY-MM-DD as 'Saturday 14 June 2025'."""
    day = dt.date.fromisoformat(date)
    return f"{day:%A} {day.day} {day:%B %Y}"
