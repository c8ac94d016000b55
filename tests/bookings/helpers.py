"""Helpers the booking tests share: booking through the API and reading what it stored."""

import datetime as dt

from bson import ObjectId

from halls import db
from tests.helpers import ok_data, today_plus

SLOTS = [
    {"key": "morning", "label": "Morning", "start": "09:00", "end": "13:00"},
    {"key": "evening", "label": "Evening", "start": "18:00", "end": "23:00"},
]
THREE_SLOTS = [
    {"key": "morning", "label": "Morning", "start": "09:00", "end": "12:00"},
    {"key": "afternoon", "label": "Afternoon", "start": "13:00", "end": "17:00"},
    {"key": "evening", "label": "Evening", "start": "18:00", "end": "23:00"},
]
PRICE = 100000  # make_venue's base price, per slot


def book(client, headers, venue, **overrides):
    body = {"venue_id": str(venue["_id"]), "date": today_plus(3), "guests": 50, **overrides}
    return client.post("/bookings", json=body, headers=headers)


def booked(client, headers, venue, **overrides):
    return ok_data(book(client, headers, venue, **overrides), 201)["booking"]


def wallet_booking(client, customer, venue, **body):
    return booked(client, customer.headers, venue, payment_method="wallet", **body)


def seen(client, headers, booking):
    return ok_data(client.get(f"/bookings/{booking['id']}", headers=headers))["booking"]


def listed(client, headers, query=""):
    return ok_data(client.get(f"/bookings{query}", headers=headers))


_NOT_SENT = object()


def decide(client, headers, booking, status=_NOT_SENT, **body):
    """PATCH /bookings/<id>: the status by name or by position, or none at all."""
    if status is not _NOT_SENT:
        body = {"status": status, **body}
    return client.patch(f"/bookings/{booking['id']}", json=body, headers=headers)


def cancel(client, headers, booking, query=""):
    return client.delete(f"/bookings/{booking['id']}{query}", headers=headers)


def run_sweep(app):
    """`flask expire-holds`; its output."""
    result = app.test_cli_runner().invoke(args=["expire-holds"])
    assert result.exit_code == 0, result.output
    return result.output


def claim_of(venue, date=None, slot="full_day"):
    return db.slot_claims().find_one(
        {"venue_id": venue["_id"], "date": date or today_plus(3), "slot": slot}
    )


def stored(booking):
    return db.bookings().find_one({"_id": ObjectId(booking["id"])})


def snapshot():
    """Everything a booking request can change, to prove a refused one changed nothing."""
    return (
        list(db.bookings().find().sort("_id")),
        list(db.slot_claims().find().sort("_id")),
        list(db.wallet_transactions().find().sort("_id")),
        list(
            db.users()
            .find({"wallet_balance": {"$exists": True}}, {"wallet_balance": 1, "pending_txns": 1})
            .sort("_id")
        ),
    )


def nothing_written():
    """No booking, no claim and no wallet entry exists (a fresh database stayed fresh)."""
    return all(
        collection.count_documents({}) == 0
        for collection in (db.bookings(), db.slot_claims(), db.wallet_transactions())
    )


def notices(booking):
    """(kind, to) of every message queued about the booking, in order."""
    found = db.outbox().find({"booking_id": ObjectId(booking["id"])}).sort("created_at")
    return [(message["kind"], message["to"]) for message in found]


def held_claims(**query):
    """Claims that block their slot now: taken and not lapsed."""
    now = dt.datetime.now(dt.UTC)
    return list(
        db.slot_claims().find(
            {
                **query,
                "state": "taken",
                "$or": [{"expires_at": None}, {"expires_at": {"$gt": now}}],
            }
        )
    )


def assert_free(claim):
    assert claim["state"] == "free"
    assert claim["booking_id"] is None


def assert_held_by(claim, booking_id):
    assert claim["state"] == "taken"
    assert claim["booking_id"] == ObjectId(booking_id)
    # Held exactly as long as the booking: to the end of its hold while pending, for good
    # (None) once confirmed.
    held_until = db.bookings().find_one({"_id": ObjectId(booking_id)}).get("expires_at")
    assert claim["expires_at"] == held_until


def lapse(booking):
    """Move a pending booking's hold (and its claims') into the past, as time passing would."""
    past = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    booking_id = ObjectId(booking["id"])
    db.bookings().update_one({"_id": booking_id}, {"$set": {"expires_at": past}})
    db.slot_claims().update_many({"booking_id": booking_id}, {"$set": {"expires_at": past}})


def price(*amounts, label="Full day", key="full_day"):
    """The price_breakdown of one kind of slot booked at these prices."""
    lines = [
        {"kind": "slot", "key": key, "label": label, "unit_price": a, "qty": 1, "amount": a}
        for a in amounts
    ]
    total = sum(amounts)
    return {"lines": lines, "subtotal": total, "total": total, "currency": "PKR"}


def fund(user, amount):
    """Credit a wallet through the wallet service, as an admin top-up does."""
    from halls.wallet import service as wallet

    wallet.credit_wallet({"_id": ObjectId()}, user["_id"], amount, "test top-up")


def balance(user):
    from halls.wallet import service as wallet

    return wallet.balance(user["_id"])


def ledger(user):
    """The user's settled wallet entries as (kind, amount, key), oldest first."""
    entries = db.wallet_transactions().find({"user_id": user["_id"], "state": "done"})
    return [(e["kind"], e["amount"], e["key"]) for e in entries.sort("seq")]


class Proxy:
    """A collection standing in for a db accessor's, overriding one method per test."""

    def __init__(self, collection, *args):
        self.collection, self.args = collection, args

    def __getattr__(self, name):
        return getattr(self.collection, name)
