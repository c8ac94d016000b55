"""`flask --app wsgi migrate`: bookings of the older (issue-2) shape rewritten to today's."""

import datetime as dt
import io

import pytest
from bson import ObjectId
from pypdf import PdfReader

from halls import db
from halls.bookings import claims
from halls.bookings import migrate as migration
from tests.booking_helpers import Proxy, assert_free, assert_held_by, booked, claim_of
from tests.helpers import TWO_SLOTS, ok_data, today_plus

LUNCH, DINNER = TWO_SLOTS
NOTHING = (
    "migrated 0 bookings: 0 without slots, 0 without slot_details, 0 with an integer price,"
    " 0 without a payment record, 0 without addons, 0 without history; 0 left"
)


@pytest.fixture
def venue(make_venue, owner):
    return make_venue(owner[0], slots=TWO_SLOTS)


def older_booking(venue, user, date, slot="lunch", detail=True, claimed=True, **fields):
    """A booking as issue 2 stored it: one slot, an integer price, no payment record."""
    booking_id = ObjectId()
    if claimed:
        claims.claim_slots(venue["_id"], date, [slot], booking_id)
        assert claims.confirm_claims(booking_id, venue["_id"], date, [slot])
    at = dt.datetime(2030, 1, 2, 3, 4, 5, 678000, tzinfo=dt.UTC)  # BSON keeps milliseconds
    booking = {
        "_id": booking_id,
        "venue_id": venue["_id"],
        "venue": {"id": venue["_id"], "venue_name": venue["venue_name"]},
        "user_id": user["_id"],
        "owner_id": venue["owner_id"],
        "date": date,
        "slot": slot,
        "guests": 40,
        "status": "pending",
        "price_locked": 90000,
        "currency": "PKR",
        "created_at": at,
        "updated_at": at,
        **fields,
    }
    if detail:
        booking["slot_detail"] = next(dict(s) for s in TWO_SLOTS if s["key"] == slot)
    db.bookings().insert_one(booking)
    return booking


def in_todays_shape(booking, slot, price):
    """What migrate makes of an older booking: today's fields, nothing else changed."""
    line = {"kind": "slot", "key": slot["key"], "label": slot["label"]}
    line.update(unit_price=price, qty=1, amount=price)
    kept = {k: v for k, v in booking.items() if k != "slot_detail"}
    return {
        **kept,
        "slots": [slot["key"]],
        "slot_details": [slot],
        "price_locked": {"lines": [line], "subtotal": price, "total": price, "currency": "PKR"},
        "payment": {"method": "pay_at_venue", "paid": 0, "refunded": 0},
        "addons": [],
        "history": [],
    }


def migrate(app):
    result = app.test_cli_runner().invoke(args=["migrate"])
    return result.exit_code, result.output.strip()


def everything():
    return list(db.bookings().find().sort("_id")), list(db.slot_claims().find().sort("_id"))


def test_every_older_variant_is_rewritten_once_and_a_second_run_changes_nothing(
    app, client, customer, venue
):
    today = booked(client, customer[1], venue, slots=["dinner"], date=today_plus(4))
    as_made = db.bookings().find_one({"_id": ObjectId(today["id"])})
    kept_detail = older_booking(venue, customer[0], today_plus(3))
    # No snapshot of its slot: read from the venue's slots.
    no_detail = older_booking(venue, customer[0], today_plus(5), slot="dinner", detail=False)
    refund = {"pct": 100, "amount": 0}
    cancelled = older_booking(
        venue, customer[0], today_plus(6), claimed=False, status="cancelled", refund=refund
    )

    assert migrate(app) == (
        0,
        "migrated 3 bookings: 3 without slots, 3 without slot_details, 3 with an integer price,"
        " 3 without a payment record, 3 without addons, 3 without history; 0 left",
    )
    found = {doc["_id"]: doc for doc in db.bookings().find()}
    assert found[kept_detail["_id"]] == in_todays_shape(kept_detail, LUNCH, 90000)
    assert found[no_detail["_id"]] == in_todays_shape(no_detail, DINNER, 90000)
    assert found[cancelled["_id"]] == in_todays_shape(cancelled, LUNCH, 90000)
    assert found[as_made["_id"]] == as_made

    before = everything()
    assert migrate(app) == (0, NOTHING)
    assert everything() == before


def test_a_migrated_booking_reads_prints_moves_and_cancels(app, client, customer, owner, venue):
    booking = older_booking(venue, customer[0], today_plus(3))
    path = f"/bookings/{booking['_id']}"
    assert migrate(app)[0] == 0

    shown = ok_data(client.get(path, headers=customer[1]))["booking"]
    assert (shown["slots"], shown["slot"], shown["slot_detail"]) == (["lunch"], "lunch", LUNCH)
    assert shown["slot_details"] == [LUNCH] and shown["addons"] == [] and shown["history"] == []
    assert shown["price_locked"] == {
        "lines": [
            {"kind": "slot", "key": "lunch", "label": "Lunch", "unit_price": 90000}
            | {"qty": 1, "amount": 90000}
        ],
        "subtotal": 90000,
        "total": 90000,
        "currency": "PKR",
    }
    assert shown["payment"] == {"method": "pay_at_venue", "paid": 0, "refunded": 0}
    assert shown["status"] == "pending" and "expires_at" not in shown  # no hold: never lapses

    pdf = client.get(f"{path}/receipt.pdf", headers=customer[1])
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"
    text = " ".join(
        " ".join(page.extract_text().split()) for page in PdfReader(io.BytesIO(pdf.data)).pages
    )
    assert "Time Lunch, 12:00–16:00" in text
    assert "Lunch PKR 90,000 1 PKR 90,000 Subtotal PKR 90,000 Total PKR 90,000" in text
    assert "Payment Pay at the venue" in text and "paid PKR 0" not in text

    body = {"date": today_plus(8), "slots": ["lunch", "dinner"]}
    moved = ok_data(client.post(f"{path}/reschedule", json=body, headers=customer[1]))
    assert moved["change"]["from"] == {"date": today_plus(3), "slots": ["lunch"]}
    assert moved["change"]["price_delta"] == 2 * venue["pricing"]["base_price"] - 90000
    assert moved["booking"]["slots"] == ["lunch", "dinner"]
    assert_free(claim_of(venue, today_plus(3), "lunch"))

    confirmed = ok_data(client.patch(path, json={"status": "confirmed"}, headers=owner[1]))
    assert confirmed["booking"]["status"] == "confirmed"
    for slot in ("lunch", "dinner"):
        assert_held_by(claim_of(venue, today_plus(8), slot), str(booking["_id"]))
    cancelled = ok_data(client.delete(path, headers=owner[1]))["booking"]
    assert cancelled["status"] == "cancelled" and cancelled["cancelled_by"] == "owner"
    assert cancelled["refund"] == {"pct": 100, "amount": 0}
    assert cancelled["payment"] == {"method": "pay_at_venue", "paid": 0, "refunded": 0}
    for slot in ("lunch", "dinner"):
        assert_free(claim_of(venue, today_plus(8), slot))


def test_a_run_racing_another_changes_each_booking_once(app, customer, venue, monkeypatch):
    first = older_booking(venue, customer[0], today_plus(3))
    second = older_booking(venue, customer[0], today_plus(4), slot="dinner")
    real = db.bookings
    other = []

    class Racing(Proxy):
        def update_one(self, query, update, **kwargs):
            if not other:  # another worker migrates everything between our read and write
                monkeypatch.setattr(db, "bookings", real)
                other.append(migration.migrate_bookings())
            return self.collection.update_one(query, update, **kwargs)

    monkeypatch.setattr(db, "bookings", lambda: Racing(real()))
    ours = migration.migrate_bookings()

    assert other[0]["migrated"] == 2 and ours["migrated"] == 0
    assert ours["left"] == other[0]["left"] == 0
    assert db.bookings().find_one({"_id": first["_id"]}) == in_todays_shape(first, LUNCH, 90000)
    assert db.bookings().find_one({"_id": second["_id"]}) == in_todays_shape(second, DINNER, 90000)


def test_a_booking_of_no_known_shape_is_left_and_named(app, customer, venue):
    odd = older_booking(venue, customer[0], today_plus(3), claimed=False, detail=False)
    db.bookings().update_one({"_id": odd["_id"]}, {"$set": {"slots": ["lunch", "dinner"]}})
    fine = older_booking(venue, customer[0], today_plus(4))

    code, output = migrate(app)

    assert code == 1
    assert output == (
        "Error: migrated 1 bookings: 1 without slots, 1 without slot_details,"
        " 1 with an integer price, 1 without a payment record, 1 without addons,"
        " 1 without history; 1 left in an older shape that migrate cannot read"
    )
    assert db.bookings().find_one({"_id": odd["_id"]})["price_locked"] == 90000
    assert db.bookings().find_one({"_id": fine["_id"]})["slots"] == ["lunch"]
