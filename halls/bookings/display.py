"""How a stored booking reads to people: shared by receipts, emails and the calendar feed."""

import datetime as dt

from halls import rules


def booked_slots(booking, venue=None):
    """The booked slots' snapshots, whichever shape the booking was stored in.

    Multi-slot bookings keep `slot_details`, issue-2 bookings kept one `slot_detail`; given its
    venue, a booking with neither reads its slot keys from the venue's slots.
    """
    if booking.get("slot_details"):
        return booking["slot_details"]
    if venue is None or booking.get("slot_detail"):
        return [booking["slot_detail"]]
    return slots_by_key(booking.get("slots") or [booking.get("slot")], venue)


def slots_by_key(keys, venue):
    """The venue's slots with these keys; a key it no longer has reads as just the key."""
    known = {slot["key"]: slot for slot in rules.slots_of(venue)}
    return [known.get(key) or {"key": key} for key in keys if key]


def long_date(date):
    """YYYY-MM-DD as 'Saturday 14 June 2025'."""
    day = dt.date.fromisoformat(date)
    return f"{day:%A} {day.day} {day:%B %Y}"
