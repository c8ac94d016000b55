"""The demo data worth looking at: an admin, add-ons, bookings in every state over months,
funded wallets, consistent books, and the same ids on every start."""

import datetime as dt
from collections import Counter
from zoneinfo import ZoneInfo

import pytest

from halls import clock, db, demo
from halls.bookings import claims
from halls.rules import local_today
from tests.helpers import ok_data

KARACHI = ZoneInfo("Asia/Karachi")


@pytest.fixture
def seeded(app):
    summary = demo.seed_if_empty()
    return summary, dt.date.fromisoformat(local_today({}))


def login(client, email):
    body = {"email": email, "password": demo.PASSWORD}
    return ok_data(client.post("/auth/login", json=body))


def bearer(data):
    return {"Authorization": f"Bearer {data['access_token']}"}


def test_the_admin_logs_in_as_an_admin_and_may_credit_wallets(seeded, client):
    summary, _ = seeded
    assert f"demo admin login: {demo.ADMIN_EMAIL} / {demo.PASSWORD}" in summary
    admin = login(client, demo.ADMIN_EMAIL)
    assert admin["user"]["role"] == "admin"
    customer = db.users().find_one({"email": demo.CUSTOMER_EMAIL})
    before = customer["wallet_balance"]

    body = {"user_id": str(customer["_id"]), "amount": 5000, "note": "Goodwill"}
    data = ok_data(client.post("/wallet/credit", json=body, headers=bearer(admin)), 201)

    assert data["balance"] == before + 5000
    assert db.users().find_one({"_id": customer["_id"]})["wallet_balance"] == before + 5000


def test_bookings_in_every_state_spread_over_months(seeded):
    _, today = seeded
    found = list(db.bookings().find())
    statuses = Counter(booking["status"] for booking in found)

    assert set(statuses) >= {"pending", "confirmed", "cancelled", "completed", "rejected"}
    assert statuses["completed"] >= 10
    assert "expired" in statuses
    moved = [booking for booking in found if booking["history"]]
    assert {booking["status"] for booking in moved} >= {"confirmed", "pending"}
    refunded = [b for b in found if b["status"] == "cancelled" and b["refund"]["amount"] > 0]
    assert {b["refund"]["pct"] for b in refunded} >= {50, 100}
    # Past and future: the owner's figures have months to add up.
    completed_months = {
        booking["date"][:7] for booking in found if booking["status"] == "completed"
    }
    assert len(completed_months) >= 5
    for booking in found:
        if booking["status"] == "completed":
            assert booking["date"] < today.isoformat()
        if booking["status"] in ("pending", "confirmed"):
            assert booking["date"] > today.isoformat()
    assert len({booking["venue_id"] for booking in found}) >= 10
    assert len({booking["user_id"] for booking in found}) == 3


def test_add_ons_at_several_venues_and_on_bookings(seeded):
    with_addons = list(db.venues().find({"addons.0": {"$exists": True}}))
    assert len(with_addons) >= 5
    lines = [
        line
        for booking in db.bookings().find()
        for line in booking["price_locked"]["lines"]
        if line["kind"] == "addon"
    ]
    assert len(lines) >= 10
    assert all(line["amount"] == line["unit_price"] * line["qty"] for line in lines)


def test_wallets_are_funded_and_each_balance_is_its_ledger(seeded):
    for user in db.users().find():
        entries = list(db.wallet_transactions().find({"user_id": user["_id"]}))
        assert all(entry["state"] == "done" for entry in entries)
        assert user.get("wallet_balance", 0) == sum(entry["amount"] for entry in entries)
        assert user.get("wallet_balance", 0) >= 0
    customer = db.users().find_one({"email": demo.CUSTOMER_EMAIL})
    assert customer["wallet_balance"] > 0
    kinds = Counter(
        entry["kind"] for entry in db.wallet_transactions().find({"user_id": customer["_id"]})
    )
    assert kinds["credit"] == 1 and kinds["payment"] >= 3 and kinds["refund"] >= 2
    for booking in db.bookings().find({"payment.method": "wallet"}):
        moved = db.wallet_transactions().find({"booking_id": booking["_id"]})
        paid = -sum(entry["amount"] for entry in moved)
        assert paid == booking["payment"]["paid"] - booking["payment"]["refunded"]


def test_live_bookings_hold_their_slots_and_no_slot_is_held_twice(seeded, client):
    now = clock.now()
    live = [
        booking
        for booking in db.bookings().find({"status": {"$in": ["pending", "confirmed"]}})
        if booking["status"] == "confirmed" or booking["expires_at"] > now
    ]
    assert live
    places = [(b["venue_id"], b["date"], slot) for b in live for slot in b["slots"]]
    assert len(places) == len(set(places))
    for booking in live:
        held = claims.held_slots(booking["venue_id"], [booking["date"]])
        assert set(booking["slots"]) <= held[booking["date"]]
        url = f"/venues/{booking['venue_id']}/availability?date={booking['date']}"
        slots = {slot["key"]: slot["available"] for slot in ok_data(client.get(url))["slots"]}
        assert not any(slots[key] for key in booking["slots"])


def test_each_demo_login_sees_its_own_bookings_through_the_api(seeded, client):
    for email in (demo.CUSTOMER_EMAIL, demo.OWNER_EMAIL):
        headers = bearer(login(client, email))
        page = ok_data(client.get("/bookings?limit=100", headers=headers))
        user = db.users().find_one({"email": email})
        field = "owner_id" if user["is_venue_owner"] else "user_id"
        assert page["total"] == db.bookings().count_documents({field: user["_id"]}) > 5


def test_the_same_ids_and_tokens_after_a_restart(seeded, client):
    ids = {
        "users": sorted(user["_id"] for user in db.users().find()),
        "venues": sorted(venue["_id"] for venue in db.venues().find()),
    }
    token = bearer(login(client, demo.CUSTOMER_EMAIL))

    # A restart of the embedded backend: an empty database, loaded again.
    database = db.database()
    for name in database.list_collection_names():
        database.drop_collection(name)
    db.create_indexes(database)
    demo.seed_if_empty()

    assert sorted(user["_id"] for user in db.users().find()) == ids["users"]
    assert sorted(venue["_id"] for venue in db.venues().find()) == ids["venues"]
    assert ids["users"][0] == demo.demo_id(demo.USER, 1)
    me = ok_data(client.get("/auth/me", headers=token))
    assert me["user"]["email"] == demo.CUSTOMER_EMAIL


def test_history_happened_at_its_own_times(seeded):
    _, today = seeded
    owner = db.users().find_one({"email": demo.OWNER_EMAIL})
    opened = today - dt.timedelta(days=demo.history.HISTORY_DAYS)
    assert local_day(owner["created_at"]) == opened.isoformat()
    for booking in db.bookings().find():
        assert booking["created_at"] < clock.now()
        # Booked days before the day itself, and completed by the night's sweep after it.
        assert local_day(booking["created_at"]) < booking["date"]
        if booking["status"] == "completed":
            day_after = dt.date.fromisoformat(booking["date"]) + dt.timedelta(days=1)
            assert local_day(booking["completed_at"]) == day_after.isoformat()


def local_day(moment):
    return moment.astimezone(KARACHI).date().isoformat()
