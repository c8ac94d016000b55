"""Calendar feeds: a venue's bookings as an iCalendar (RFC 5545) feed its owner subscribes to.

Calendar apps (Google, Apple, Outlook) fetch a feed by URL and cannot log in, so the URL
carries a secret: one random token per venue, made (or replaced) by the owner and shown once.
Only its SHA-256 is stored, so a leaked database does not leak working feed URLs; rotating
overwrites the hash, which kills the old URL at once. A wrong or old token is a 404, the same
answer as an unknown venue, so a feed URL reveals nothing without its token.

The feed lists what occupies the venue: pending bookings whose hold is still live, confirmed
ones, and completed ones (confirmed bookings whose day has passed, kept so an event does not
vanish from the owner's calendar the night after it happens), from FEED_HISTORY_DAYS ago on.
It carries no customer name, email or phone: a calendar is often shared with staff.
"""

import datetime as dt
import hashlib
import secrets
from zoneinfo import ZoneInfo

import icalendar
from pymongo import ASCENDING, ReturnDocument

from halls import clock, db, rules
from halls.bookings.display import booked_slots
from halls.bookings.receipts import money
from halls.errors import NotFound
from halls.schemas import object_id
from halls.venues.service import DELETED, owned_venue

FEED_HISTORY_DAYS = 90
STATUS = {"pending": "TENTATIVE", "confirmed": "CONFIRMED", "completed": "CONFIRMED"}
# How often calendar apps should fetch the feed again (RFC 7986; X-PUBLISHED-TTL for Outlook).
REFRESH = dt.timedelta(hours=1)
# private: the feed lists a venue's bookings; no-cache: a subscriber always gets the latest.
FEED_HEADERS = {
    "Content-Disposition": 'inline; filename="bookings.ics"',
    "Cache-Control": "private, no-cache",
}


def _hash(token):
    return hashlib.sha256(token.encode()).hexdigest()


def rotate_calendar_token(user, venue_id):
    """A new feed token for one of the owner's venues; the previous one stops working."""
    venue = owned_venue(user, venue_id)
    token = secrets.token_urlsafe(32)
    now = clock.now()
    updated = db.venues().find_one_and_update(
        {"_id": venue["_id"], "status": {"$ne": DELETED}},
        {"$set": {"calendar_token_hash": _hash(token), "calendar_token_at": now}},
        projection={"_id": 1},
        return_document=ReturnDocument.AFTER,
    )
    if updated is None:  # deleted between the read and the write
        raise NotFound("No venue has that id.", error_code="venue_not_found")
    return token


def venue_calendar(venue_id, token, now=None):
    """The venue's bookings feed as iCalendar bytes, if the token is the venue's current one."""
    oid = object_id(venue_id)
    venue = None
    if oid is not None:
        # The hash is part of the filter: a wrong token and an unknown venue look the same.
        venue = db.venues().find_one(
            {"_id": oid, "calendar_token_hash": _hash(token), "status": {"$ne": DELETED}}
        )
    if venue is None:
        raise NotFound("No calendar feed at this address.", error_code="calendar_not_found")
    now = now or clock.now()
    return calendar_ics(venue, _feed_bookings(venue, now), now)


def _feed_bookings(venue, now):
    since = dt.date.fromisoformat(rules.local_today(venue, now)) - dt.timedelta(
        days=FEED_HISTORY_DAYS
    )
    # An expired hold that no sweeper has marked yet still says pending: it holds nothing.
    live_hold = {"status": "pending", "$or": [{"expires_at": None}, {"expires_at": {"$gt": now}}]}
    query = {
        "venue_id": venue["_id"],
        "date": {"$gte": since.isoformat()},
        "$or": [{"status": {"$in": ["confirmed", "completed"]}}, live_hold],
    }
    # Served by the bookings index venue_date_status.
    return list(db.bookings().find(query).sort([("date", ASCENDING), ("_id", ASCENDING)]))


def calendar_ics(venue, bookings, now):
    """The iCalendar document: the venue's VTIMEZONE and one VEVENT per booking."""
    zone = venue.get("timezone") or rules.DEFAULT_TIMEZONE
    name = f"{venue['venue_name']}: bookings"
    cal = icalendar.Calendar()
    cal.add("prodid", "-//halls//venue bookings//EN")
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("name", name)
    cal.add("x-wr-calname", name)
    cal.add("x-wr-timezone", zone)
    cal.add("refresh-interval", REFRESH, parameters={"VALUE": "DURATION"})
    # An X- property has no known type: say it is a duration, or it is written as "1:00:00".
    cal.add("x-published-ttl", icalendar.vDuration(REFRESH))
    cal.add_component(_timezone(zone, bookings, now))
    for booking in bookings:
        cal.add_component(_event(venue, booking, ZoneInfo(zone)))
    return cal.to_ical()


def _timezone(zone, bookings, now):
    # Only the rules in force around the feed's dates: a short VTIMEZONE every client reads.
    dates = [dt.date.fromisoformat(booking["date"]) for booking in bookings] + [now.date()]
    first = min(dates) - dt.timedelta(days=1)
    last = max(dates) + dt.timedelta(days=2)
    return icalendar.Timezone.from_tzid(zone, first_date=first, last_date=last)


def _event(venue, booking, zone):
    slots = booked_slots(booking)
    day = dt.date.fromisoformat(booking["date"])
    start = min(slot["start"] for slot in slots)
    end = max(slot["end"] for slot in slots)
    event = icalendar.Event()
    event.add("uid", f"booking-{booking['_id']}@halls")
    event.add("dtstamp", booking.get("updated_at") or booking["created_at"])
    event.add("created", booking["created_at"])
    event.add("last-modified", booking.get("updated_at") or booking["created_at"])
    # Each reschedule is a new revision of the same event (RFC 5545 §3.8.7.4).
    event.add("sequence", len(booking.get("history") or []))
    event.add("dtstart", _local(day, start, zone))
    event.add("dtend", _local(day, end, zone))
    event.add("summary", _summary(venue, booking, slots))
    event.add("description", _description(booking, slots))
    event.add("location", ", ".join(p for p in (venue.get("address"), venue.get("city")) if p))
    event.add("status", STATUS[booking["status"]])
    event.add("transp", "OPAQUE")
    return event


def _local(day, hh_mm, zone):
    hour, minute = (int(part) for part in hh_mm.split(":"))
    return dt.datetime(day.year, day.month, day.day, hour, minute, tzinfo=zone)


def _summary(venue, booking, slots):
    labels = " + ".join(slot.get("label") or slot["key"] for slot in slots)
    status = booking["status"].capitalize()
    return f"[{status}] {venue['venue_name']}: {labels}, {booking['guests']} guests"


def _description(booking, slots):
    total = money(booking["price_locked"], booking.get("currency") or "PKR")
    lines = [f"Status: {booking['status']}"]
    lines += [
        f"{slot.get('label') or slot['key']}: {slot['start']}-{slot['end']}" for slot in slots
    ]
    lines += [
        f"Guests: {booking['guests']}",
        f"Total: {total}",
        f"Booking reference: {booking['reference']}",
    ]
    return "\n".join(lines)
