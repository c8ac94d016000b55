"""Assertions and small helpers the test files share."""

import contextlib
import datetime as dt
import threading
from typing import NamedTuple

from bson import ObjectId

PASSWORD = "correct horse battery"


class Account(NamedTuple):
    """What make_user gives: the user as stored, and headers that sign requests in as them."""

    user: dict
    headers: dict


def today_plus(days, venue=None):
    """A date `days` from today in the venue's zone (Asia/Karachi by default)."""
    from halls.rules import local_today

    base = dt.date.fromisoformat(local_today(venue or {}))
    return (base + dt.timedelta(days=days)).isoformat()


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


def assert_error(response, status, code):
    """The response is the error envelope with this status and code."""
    assert response.status_code == status, response.get_json()
    body = response.get_json()
    assert body["ok"] is False
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    assert field_messages(body["error"]["details"]), body["error"]
    assert isinstance(body["error"]["context"], dict)
    return body["error"]


def field_messages(details):
    """`details` holds field messages only: {"field": ["message"]}, nested for nested fields
    (whatever else an error tells is its `context`)."""
    return isinstance(details, dict) and all(
        field_messages(messages)
        or (isinstance(messages, list) and all(isinstance(m, str) for m in messages))
        for messages in details.values()
    )


def ok_data(response, status=200):
    """The response is the success envelope with this status; return its data."""
    assert response.status_code == status, response.get_json()
    body = response.get_json()
    assert body["ok"] is True
    return body["data"]


def other_id():
    return str(ObjectId())


def run_at_once(calls, each=contextlib.nullcontext):
    """Run every call on its own thread, all released together; what each returned or raised.

    Each thread enters `each()` before the release and hands what it yields (a test client, an
    app context) to its call, so that only the calls themselves race.
    """
    barrier = threading.Barrier(len(calls))
    outcomes = [None] * len(calls)

    def run(index, call):
        with each() as prepared:
            barrier.wait()
            try:
                outcomes[index] = call(prepared)
            except Exception as error:  # noqa: BLE001 - handed back to the caller, never swallowed
                outcomes[index] = error

    threads = [threading.Thread(target=run, args=item) for item in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads), "a call never finished"
    return outcomes


def send_at_once(app, calls):
    """Send every call(client) from its own thread and test client, all at once; the responses."""
    responses = run_at_once(calls, lambda: contextlib.nullcontext(app.test_client()))
    assert not [r for r in responses if isinstance(r, Exception)], responses
    return responses


def race(app, calls):
    """send_at_once, each response as (status, body)."""
    return [(r.status_code, r.get_json()) for r in send_at_once(app, calls)]


CATERING = {
    "key": "catering",
    "name": "Catering",
    "price": 2500,
    "unit": "per_guest",
    "max_qty": None,
}
DECOR = {"key": "decor", "name": "Stage decor", "price": 40000, "unit": "per_event", "max_qty": 1}
SOUND = {"key": "sound", "name": "Sound system", "price": 15000, "unit": "per_event", "max_qty": 3}


def venue_body(**fields):
    """A valid POST /venues/register body, with these fields changed."""
    body = {
        "venue_name": "Shalimar Banquet",
        "type": "Banquet",
        "address": "12 Canal Road",
        "maps_location": {"lat": 31.5204, "lng": 74.3587},
        "capacity": 500,
    }
    body.update(fields)
    return body


TWO_SLOTS = [
    {"key": "lunch", "label": "Lunch", "start": "12:00", "end": "16:00"},
    {"key": "dinner", "label": "Dinner", "start": "18:00", "end": "23:00"},
]


def hold_slot(venue, date, slot="full_day"):
    """Take and keep a claim on the slot, as a confirmed booking does; returns its booking id."""
    from halls.bookings import claims

    booking_id = ObjectId()
    claims.claim_slots(venue["_id"], date, [slot], booking_id)
    assert claims.confirm_claims(booking_id, venue["_id"], date, [slot])
    return booking_id


def insert_booking(venue, user, date=None, slots=None, **fields):
    """Store a booking in its issue-3 shape straight in the database (no claims taken)."""
    from halls import db
    from halls.bookings import policy, references

    chosen = [slot for slot in venue["slots"] if slots is None or slot["key"] in slots]
    price = venue["pricing"]["base_price"]
    lines = [
        {"kind": "slot", "key": s["key"], "label": s["label"], "unit_price": price, "qty": 1}
        for s in chosen
    ]
    lines = [{**line, "amount": price} for line in lines]
    total = price * len(chosen)
    now = dt.datetime.now(dt.UTC)
    booking = {
        "_id": ObjectId(),
        "reference": references.new_reference(),
        "venue_id": venue["_id"],
        "venue": {
            "id": venue["_id"],
            "venue_name": venue["venue_name"],
            "city": venue.get("city"),
            "address": venue["address"],
            "timezone": venue["timezone"],
            "cover_picture": (venue.get("pictures") or [None])[0],
        },
        "user_id": user["_id"],
        "owner_id": venue["owner_id"],
        "date": date or today_plus(7, venue),
        "slots": [slot["key"] for slot in chosen],
        "slot": chosen[0]["key"],
        "slot_details": [dict(slot) for slot in chosen],
        "guests": 120,
        "addons": [],
        "status": "confirmed",
        "price_locked": total,
        "price_breakdown": {"lines": lines, "subtotal": total, "total": total, "currency": "PKR"},
        "payment": {"method": "pay_at_venue", "paid": 0, "refunded": 0},
        "history": [],
        "policy": policy.snapshot(venue),
        "currency": "PKR",
        "created_at": now,
        "updated_at": now,
        **fields,
    }
    db.bookings().insert_one(booking)
    return db.bookings().find_one({"_id": booking["_id"]})  # as stored: BSON keeps milliseconds


def key_and_certificate(common_name="halls-test", ip=None):
    """A fresh RSA key and a self-signed X.509 certificate for it, both PEM bytes."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
    )
    if ip:
        san = x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(ip))])
        builder = builder.add_extension(san, critical=False)
        builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
    certificate = builder.sign(key, hashes.SHA256())
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    return key_pem, certificate.public_bytes(serialization.Encoding.PEM)
