"""Booking states (lifecycle.py), across the jobs that share them: a hold that lapses,
a status change overtaken by another, the owner's side refunding in full, and bookings
stored before holds existed."""

import datetime as dt

import pytest
from bson import ObjectId

from halls import db
from halls.bookings import claims
from tests.bookings.helpers import (
    PRICE,
    Proxy,
    assert_free,
    assert_held_by,
    balance,
    booked,
    cancel,
    claim_of,
    decide,
    fund,
    lapse,
    ledger,
    notices,
    run_sweep,
    seen,
    stored,
    wallet_booking,
)
from tests.helpers import assert_error, ok_data, today_plus


def listed(client, headers, query):
    return [b["id"] for b in ok_data(client.get(f"/bookings{query}", headers=headers))["items"]]


# Holds that lapse -------------------------------------------------------------------------


def test_a_lapsed_hold_frees_the_slot_at_once_and_reads_as_expired(
    client, customer, make_user, owner, venue
):
    booking = booked(client, customer.headers, venue)
    lapse(booking)

    for headers in (customer.headers, owner.headers):
        assert seen(client, headers, booking)["status"] == "expired"
    assert listed(client, customer.headers, "?status=pending") == []
    assert listed(client, customer.headers, "?status=expired") == [booking["id"]]
    # Nothing swept it: the claim filter alone let the next booker in.
    assert stored(booking)["status"] == "pending"
    newcomer = booked(client, make_user().headers, venue)
    assert_held_by(claim_of(venue), newcomer["id"])
    assert listed(client, owner.headers, "?status=pending") == [newcomer["id"]]


@pytest.mark.parametrize("action", ["confirm", "reject", "cancel"])
def test_a_lapsed_hold_cannot_be_decided_or_cancelled(client, customer, owner, venue, action):
    booking = booked(client, customer.headers, venue)
    lapse(booking)
    if action == "cancel":
        response = cancel(client, customer.headers, booking)
    else:
        response = decide(
            client, owner.headers, booking, action + ("ed" if action[-1] != "e" else "d")
        )
    assert_error(response, 409, "hold_expired")

    doc = stored(booking)
    assert doc["status"] == "expired" and doc["expired_at"].tzinfo is not None
    assert doc["refund"] == {"pct": 100, "amount": 0}
    assert_free(claim_of(venue))
    assert notices(booking)[-1] == ("hold_expired", customer.user["email"])


def test_a_lapsed_hold_taken_over_cannot_be_confirmed(client, customer, make_user, owner, venue):
    booking = booked(client, customer.headers, venue)
    lapse(booking)
    # Nobody swept the first booking yet; the newcomer took the lapsed claim.
    db.bookings().update_one(
        {"_id": ObjectId(booking["id"])},
        {"$set": {"expires_at": dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)}},
    )
    newcomer = booked(client, make_user().headers, venue)

    assert_error(decide(client, owner.headers, booking, "confirmed"), 409, "hold_expired")
    assert stored(booking)["status"] == "expired"
    assert_held_by(claim_of(venue), newcomer["id"])
    assert stored(newcomer)["status"] == "pending"


# Transitions that race --------------------------------------------------------------------


class Overtaken(Proxy):
    """Another request's status change lands between our read and our atomic update."""

    def find_one_and_update(self, query, update, **kwargs):
        booking_id, changes = self.args
        self.collection.update_one({"_id": booking_id}, {"$set": changes})
        return self.collection.find_one_and_update(query, update, **kwargs)


@pytest.mark.parametrize(
    ("request_", "overtaken_by", "status", "result"),
    [
        ("cancel", "rejected", 409, "rejected"),
        ("cancel", "cancelled", 200, "cancelled"),
        ("confirm", "cancelled", 409, "cancelled"),
        ("confirm", "rejected", 409, "rejected"),
        ("reject", "confirmed", 409, "confirmed"),
    ],
)
def test_a_transition_overtaken_by_another_is_decided_by_the_database(
    client, customer, owner, venue, monkeypatch, request_, overtaken_by, status, result
):
    booking = booked(client, customer.headers, venue)
    real = db.bookings
    changes = {"status": overtaken_by, "updated_at": dt.datetime.now(dt.UTC)}
    monkeypatch.setattr(db, "bookings", lambda: Overtaken(real(), ObjectId(booking["id"]), changes))
    if request_ == "cancel":
        response = cancel(client, customer.headers, booking)
    else:
        response = decide(client, owner.headers, booking, status=request_ + "ed")
    monkeypatch.setattr(db, "bookings", real)

    if status == 409:
        error = assert_error(response, 409, "invalid_transition")
        assert error["context"]["from"] == overtaken_by
    else:
        assert ok_data(response)["booking"]["status"] == result
        assert "cancelled_by" not in stored(booking)  # the other request's write stands
    assert stored(booking)["status"] == result


# Refunds ----------------------------------------------------------------------------------


@pytest.mark.parametrize("side", ["owner_cancel", "reject", "expire"])
def test_the_owners_side_always_refunds_everything(app, client, customer, owner, open_venue, side):
    fund(customer.user, PRICE)
    booking = wallet_booking(client, customer, open_venue, slot="evening", date=today_plus(1))
    if side == "owner_cancel":
        ok_data(decide(client, owner.headers, booking, "confirmed"))
        ok_data(cancel(client, owner.headers, booking))
    elif side == "reject":
        ok_data(decide(client, owner.headers, booking, "rejected"))
    else:
        lapse(booking)
        run_sweep(app)
    doc = stored(booking)
    assert doc["refund"] == {"pct": 100, "amount": PRICE}
    assert doc["payment"]["refunded"] == PRICE
    assert balance(customer.user) == PRICE
    assert [kind for kind, *_ in ledger(customer.user)] == ["credit", "payment", "refund"]


# Bookings stored before issue 3 -----------------------------------------------------------


def issue_two_booking(venue, user, date):
    """A booking in its issue-2 stored shape (one slot, an integer price), claim held."""
    now = dt.datetime.now(dt.UTC)
    booking_id = ObjectId()
    claims.claim_slots(venue["_id"], date, ["full_day"], booking_id)
    assert claims.confirm_claims(booking_id, venue["_id"], date, ["full_day"])
    db.bookings().insert_one(
        {
            "_id": booking_id,
            "venue_id": venue["_id"],
            "venue": {"id": venue["_id"], "venue_name": venue["venue_name"]},
            "user_id": user["_id"],
            "owner_id": venue["owner_id"],
            "date": date,
            "slot": "full_day",
            "slot_detail": dict(venue["slots"][0]),
            "guests": 40,
            "status": "pending",
            "price_locked": 90000,
            "currency": "PKR",
            "created_at": now,
            "updated_at": now,
        }
    )
    return {"id": str(booking_id)}


def test_a_migrated_issue_two_booking_is_confirmed_and_cancelled(
    app, client, customer, owner, venue
):
    """Its hold never lapses (none was set) and its claim is already held for good."""
    booking = issue_two_booking(venue, customer.user, today_plus(3))
    assert app.test_cli_runner().invoke(args=["migrate"]).exit_code == 0
    shown = seen(client, customer.headers, booking)
    assert shown["status"] == "pending" and "expires_at" not in shown

    assert ok_data(decide(client, owner.headers, booking, "confirmed"))["booking"]["status"] == (
        "confirmed"
    )
    assert claim_of(venue)["expires_at"] is None
    cancelled = ok_data(cancel(client, owner.headers, booking))["booking"]
    assert cancelled["status"] == "cancelled" and cancelled["refund"] == {"pct": 100, "amount": 0}
    assert_free(claim_of(venue))
