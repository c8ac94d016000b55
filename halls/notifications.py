"""Emails about bookings and accounts: who hears about what, rendered from templates.

The booking service calls these after a change is saved. Each looks up the people it concerns,
renders a plain-text and an HTML body from `templates/email/<kind>.txt|.html` and writes them
to the outbox (mail.send_mail), which never waits for SMTP. None of them ever raises into its
caller: a notice that cannot be written is logged, and the booking stands.
"""

import datetime as dt
import functools
import logging
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from flask import current_app, render_template

from halls import db, mail
from halls.bookings.display import booked_slots, long_date, slots_by_key
from halls.venues import rules

log = logging.getLogger("halls.notifications")

PERSON = {"full_name": 1, "email": 1}
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
    context = _booking_context(booking, venue, customer)
    suffix = "_confirmed" if booking["status"] == "confirmed" else ""
    return _send_all(
        context,
        ("customer", "booking_created_customer", "booking_created_customer" + suffix),
        ("owner", "booking_created_owner", "booking_created_owner" + suffix),
    )


@_never_raises
def booking_confirmed(booking):
    """Tell the customer the owner confirmed the booking."""
    return _send_all(_booking_context(booking), ("customer", "booking_confirmed", None))


@_never_raises
def booking_rejected(booking):
    """Tell the customer the owner turned the request down (and what is refunded)."""
    return _send_all(_booking_context(booking), ("customer", "booking_rejected", None))


@_never_raises
def booking_cancelled(booking):
    """Tell the customer of a cancellation and its refund; the owner too if the customer did it."""
    context = _booking_context(booking)
    recipients = [("customer", "booking_cancelled", None)]
    if booking.get("cancelled_by") == "customer":
        recipients.append(("owner", "booking_cancelled", None))
    return _send_all(context, *recipients)


@_never_raises
def booking_rescheduled(booking, change):
    """Tell the customer and the owner the booking moved: old date and slots, new, price change."""
    context = _booking_context(booking)
    context["change"] = _change_view(change, context["venue_doc"])
    return _send_all(
        context, ("customer", "booking_rescheduled", None), ("owner", "booking_rescheduled", None)
    )


@_never_raises
def hold_expired(booking):
    """Tell the customer their request lapsed because the owner did not answer in time."""
    return _send_all(_booking_context(booking), ("customer", "hold_expired", None))


@_never_raises
def password_reset(user, token):
    """Mail the reset link and token to the account's address."""
    base = current_app.config["PUBLIC_BASE_URL"].rstrip("/")
    context = {
        "name": user.get("full_name") or "",
        "link": f"{base}/reset-password?{urlencode({'token': token})}",
        "token": token,
    }
    text, html = _render("password_reset", context)
    return [
        mail.send_mail(
            user["email"], "Reset your Halls password", text, html=html, kind="password_reset"
        )
    ]


def _send_all(context, *recipients):
    sent = []
    for role, template, subject_key in recipients:
        person = context[role]
        if not person or not person.get("email"):
            log.warning("no %s email for booking %s", role, context["booking"]["reference"])
            continue
        subject = SUBJECTS[subject_key or template].format(
            venue=context["venue"]["name"], date=context["booking"]["date"]
        )
        text, html = _render(template, {**context, "recipient": role, "person": person})
        sent.append(
            mail.send_mail(
                person["email"],
                subject,
                text,
                html=html,
                kind=template,
                booking_id=context["booking"]["id"],
            )
        )
    return sent


def _render(template, context):
    return (
        render_template(f"email/{template}.txt", **context),
        render_template(f"email/{template}.html", **context),
    )


def _booking_context(booking, venue=None, customer=None):
    if venue is None:
        venue = db.venues().find_one({"_id": booking["venue_id"]}) or {}
    if customer is None:
        customer = db.users().find_one({"_id": booking["user_id"]}, PERSON)
    else:  # the whole user document: keep only what a message may show
        customer = {field: customer.get(field) for field in ("_id", *PERSON)}
    zone = venue.get("timezone") or rules.DEFAULT_TIMEZONE
    price = booking.get("price_locked")
    return {
        "venue_doc": venue,
        "venue": {
            "name": venue.get("venue_name") or (booking.get("venue") or {}).get("venue_name"),
            "address": ", ".join(p for p in (venue.get("address"), venue.get("city")) if p),
            "timezone": zone,
        },
        "booking": {
            "id": booking["_id"],
            "reference": str(booking["_id"]),
            "status": booking["status"],
            "date": booking["date"],
            "date_long": long_date(booking["date"]),
            "slots": [_slot_text(slot) for slot in booked_slots(booking, venue)],
            "guests": booking.get("guests"),
            "lines": price.get("lines", []) if isinstance(price, dict) else [],
            "total": price.get("total") if isinstance(price, dict) else price,
            "expires_at": local_time(booking.get("expires_at"), zone),
            "reason": booking.get("reason"),
            "cancelled_by": booking.get("cancelled_by"),
            "payment_method": (booking.get("payment") or {}).get("method", "pay_at_venue"),
            "refund": booking.get("refund"),
        },
        "customer": customer,
        "owner": db.users().find_one({"_id": booking["owner_id"]}, PERSON),
        "money": money,
    }


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


def money(amount):
    """Integer PKR as people read it: PKR 125,000."""
    if amount is None:
        return "—"
    sign = "-" if amount < 0 else ""
    return f"{sign}PKR {abs(amount):,}"


def local_time(at, zone):
    """A stored UTC instant on the venue's clock: '14 Jun 2025, 18:30 (Asia/Karachi)'."""
    if at is None:
        return None
    if at.tzinfo is None:
        at = at.replace(tzinfo=dt.UTC)
    local = at.astimezone(ZoneInfo(zone))
    return f"{local.day} {local:%b %Y, %H:%M} ({zone})"
