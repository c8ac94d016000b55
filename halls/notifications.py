"""Emails about bookings and accounts: who hears about what, rendered from templates.

The booking service calls these after a change is saved. Each looks up the people it concerns
and writes to the outbox (mail.queue, one write for all the messages of one event), which never
waits for SMTP: each message names its template, `templates/email/<kind>.txt|.html`, and keeps
the data it shows, rendered into the plain-text and HTML bodies when it is delivered. None of
them ever raises into its caller: a notice that cannot be written is logged, and the booking
stands.
"""

import datetime as dt
import functools
import logging
from urllib.parse import urlencode, urlsplit, urlunsplit
from zoneinfo import ZoneInfo

from flask import current_app

from halls import db, mail, rules
from halls.auth.pages import RESET_PAGE
from halls.bookings.display import booked_slots, long_date, slots_by_key

log = logging.getLogger("halls.notifications")

PERSON = {"full_name": 1, "email": 1}
# What a message shows of its booking's venue (and the slots, for bookings that kept only keys).
VENUE_SHOWN = {"venue_name": 1, "address": 1, "city": 1, "timezone": 1, "slots": 1}
SUBJECTS = {
    "booking_created_customer": "Booking request received: {venue} on {date}",
    "booking_created_customer_confirmed": "Booking confirmed: {venue} on {date}",
    "booking_created_owner": "New booking request: {venue} on {date}",
    "booking_created_owner_confirmed": "New booking (confirmed automatically): {venue} on {date}",
    "booking_confirmed": "Booking confirmed: {venue} on {date}",
    "booking_rejected": "Booking not accepted: {venue} on {date}",
    "booking_cancelled": "Booking cancelled: {venue} on {date}",
    "booking_rescheduled": "Booking moved: {venue}, now on {date}",
    "hold_expired": "Booking request expired: {venue} on {date}",
}


def _never_raises(function):
    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        try:
            return function(*args, **kwargs)
        except Exception:
            log.exception("notification %s could not be queued", function.__name__)
            return []

    return wrapper


@_never_raises
def booking_created(booking, venue=None, customer=None):
    """Tell the customer their booking is in, and the venue's owner that it arrived.

    The booking's venue and customer, when the caller has them, save reading them again.
    """
    suffix = "_confirmed" if booking["status"] == "confirmed" else ""
    return _send_all(
        booking,
        [
            ("customer", "booking_created_customer", "booking_created_customer" + suffix),
            ("owner", "booking_created_owner", "booking_created_owner" + suffix),
        ],
        venue,
        customer,
    )


@_never_raises
def booking_confirmed(booking):
    """Tell the customer the owner confirmed the booking."""
    return _send_all(booking, [("customer", "booking_confirmed", None)])


@_never_raises
def booking_rejected(booking):
    """Tell the customer the owner turned the request down (and what is refunded)."""
    return _send_all(booking, [("customer", "booking_rejected", None)])


@_never_raises
def booking_cancelled(booking):
    """Tell the customer of a cancellation and its refund; the owner too if the customer did it."""
    recipients = [("customer", "booking_cancelled", None)]
    if booking.get("cancelled_by") == "customer":
        recipients.append(("owner", "booking_cancelled", None))
    return _send_all(booking, recipients)


@_never_raises
def booking_rescheduled(booking, change):
    """Tell the customer and the owner the booking moved: old date and slots, new, price change."""
    venue = _venue_of(booking)
    return _send_all(
        booking,
        [("customer", "booking_rescheduled", None), ("owner", "booking_rescheduled", None)],
        venue,
        change=_change_view(change, venue),
    )


@_never_raises
def hold_expired(booking):
    """Tell the customer their request lapsed because the owner did not answer in time."""
    return _send_all(booking, [("customer", "hold_expired", None)])


@_never_raises
def password_reset(user, token):
    """Mail the reset link and token to the account's address."""
    config = current_app.config
    link = reset_link(token)
    if not config.get("SMTP_HOST") and config["HALLS_ENV"] != "production":
        # `make run` has no SMTP: the log is where a newcomer finds the link. Never in
        # production, whose logs are no place for a secret.
        log.info(
            "password reset for %s: the mail waits in the outbox (no SMTP_HOST); "
            "to set a new password, open %s",
            user["email"],
            link,
        )
    context = {"name": user.get("full_name") or "", "link": link, "token": token}
    # Rendered now, not stored as its token: the outbox forgets the bodies once delivered, and
    # a secret kept only in the bodies goes with them.
    text, html = mail.rendered({"template": "password_reset", "context": context})
    return [
        mail.send_mail(
            user["email"], "Reset your Halls password", text, html=html, kind="password_reset"
        )
    ]


def reset_link(token):
    """The reset mail's link: PASSWORD_RESET_URL (by default our page) with the token added."""
    config = current_app.config
    page = config.get("PASSWORD_RESET_URL")
    if not page:
        page = config["PUBLIC_BASE_URL"].rstrip("/") + RESET_PAGE
    parts = urlsplit(page)
    # A deep link may carry a query of its own: the token joins it.
    query = "&".join(part for part in (parts.query, urlencode({"token": token})) if part)
    return urlunsplit(parts._replace(query=query))


def _send_all(booking, recipients, venue=None, customer=None, **shown):
    """Queue the booking's messages to these (role, template, subject key) in one write."""
    if venue is None:
        venue = _venue_of(booking)
    people = {"customer": _customer_of(booking, customer)}
    if any(role == "owner" for role, _, _ in recipients):
        people["owner"] = db.users().find_one({"_id": booking["owner_id"]}, PERSON)
    context = {
        **_booking_view(booking, venue),
        "customer": _name_of(people["customer"]),
        **shown,
    }
    messages = []
    for role, template, subject_key in recipients:
        person = people[role]
        if not person or not person.get("email"):
            log.warning("no %s email for booking %s", role, booking["_id"])
            continue
        subject = SUBJECTS[subject_key or template].format(
            venue=context["venue"]["name"], date=booking["date"]
        )
        messages.append(
            {
                "to": person["email"],
                "subject": subject,
                "kind": template,
                "template": template,
                "context": {**context, "recipient": role, "person": _name_of(person)},
                "booking_id": booking["_id"],
            }
        )
    return mail.queue(messages)


def _venue_of(booking):
    return db.venues().find_one({"_id": booking["venue_id"]}, VENUE_SHOWN) or {}


def _customer_of(booking, customer):
    if customer is None:
        return db.users().find_one({"_id": booking["user_id"]}, PERSON)
    return customer  # the caller's whole user document: only its name and address are used


def _name_of(person):
    """What a message may show of a person: the name only, never their contact details."""
    if person is None:
        return None
    return {field: person[field] for field in ("full_name",) if field in person}


def _booking_view(booking, venue):
    """What a booking's messages show of it, in plain BSON values (stored with each message)."""
    zone = venue.get("timezone") or rules.DEFAULT_TIMEZONE
    price = booking["price_locked"]
    return {
        "venue": {
            "name": venue.get("venue_name") or (booking.get("venue") or {}).get("venue_name"),
            "address": ", ".join(p for p in (venue.get("address"), venue.get("city")) if p),
        },
        "booking": {
            "reference": str(booking["_id"]),
            "status": booking["status"],
            "date": booking["date"],
            "date_long": long_date(booking["date"]),
            "slots": [_slot_text(slot) for slot in booked_slots(booking)],
            "guests": booking.get("guests"),
            "lines": [_line_view(line) for line in price["lines"]],
            "total": price["total"],
            "expires_at": local_time(booking.get("expires_at"), zone),
            "reason": booking.get("reason"),
            "cancelled_by": booking.get("cancelled_by"),
            "payment_method": booking["payment"]["method"],
            "refund": booking.get("refund"),
        },
    }


def _line_view(line):
    return {field: line[field] for field in ("label", "qty", "amount") if field in line}


def _slot_text(slot):
    label = slot.get("label") or slot.get("key")
    if slot.get("start") and slot.get("end"):
        return f"{label} ({slot['start']}–{slot['end']})"
    return label


def _change_view(change, venue):
    def side(moved):
        return {
            "date": moved["date"],
            "date_long": long_date(moved["date"]),
            "slots": [_slot_text(slot) for slot in slots_by_key(moved["slots"], venue)],
        }

    return {
        "from": side(change["from"]),
        "to": side(change["to"]),
        "price_delta": change.get("price_delta") or 0,
    }


def local_time(at, zone):
    """A stored UTC instant on the venue's clock: '14 Jun 2025, 18:30 (Asia/Karachi)'."""
    if at is None:
        return None
    if at.tzinfo is None:
        at = at.replace(tzinfo=dt.UTC)
    local = at.astimezone(ZoneInfo(zone))
    return f"{local.day} {local:%b %Y, %H:%M} ({zone})"
