"""Fault injection: a collection call fails part-way through a booking, a move or a cancel.

Whatever step fails, the request leaves nothing claimed that it took, no money moved that it
moved, and the booking where it was; where a later step must still happen (a refund after a
cancel), replaying the request finishes it exactly once.
"""

import datetime as dt

import pytest
from bson import ObjectId
from pymongo.errors import AutoReconnect

from halls import db
from halls.bookings import claims, maintenance
from tests.bookings.helpers import (
    SLOTS,
    Proxy,
    assert_free,
    assert_held_by,
    balance,
    book,
    booked,
    claim_of,
    fund,
    ledger,
    snapshot,
    stored,
)
from tests.helpers import assert_error, ok_data, today_plus

PRICE = 100000
DAY, NEW_DAY = today_plus(10), today_plus(12)


@pytest.fixture
def venue(make_venue, owner):
    return make_venue(owner.user, slots=SLOTS)


@pytest.fixture
def paying(customer):
    fund(customer.user, 3 * PRICE)
    return customer


def fail(monkeypatch, accessor, method, when=None, times=1):
    """Make `db.<accessor>().<method>` raise AutoReconnect the first `times` calls matching."""
    real = getattr(db, accessor)
    left = [times]

    class Failing(Proxy):
        def __getattr__(self, name):
            attribute = getattr(self.collection, name)
            if name != method:
                return attribute

            def call(*args, **kwargs):
                if left[0] and (when is None or when(*args, **kwargs)):
                    left[0] -= 1
                    raise AutoReconnect("connection reset by peer")
                return attribute(*args, **kwargs)

            return call

    monkeypatch.setattr(db, accessor, lambda: Failing(real()))


def holding_claims(query, update, **kwargs):
    """The call that moves claims onto the booking's hold (confirm_claims)."""
    return {"expires_at", "in_flight"} <= set(update.get("$set", {}))


def assert_no_money_moved(user):
    assert balance(user) == 3 * PRICE
    assert [kind for kind, *_ in ledger(user)] == ["credit"]
    assert db.wallet_transactions().count_documents({"state": "pending"}) == 0
    done = db.wallet_transactions().find({"user_id": user["_id"], "state": "done"})
    assert sum(entry["amount"] for entry in done) == balance(user)


def always(*args, **kwargs):
    return True


def applying_a_movement(query, update, **kwargs):
    """The wallet's atomic update of the user's balance."""
    return "$push" in update


@pytest.mark.parametrize(
    ("accessor", "method", "when"),
    [
        ("bookings", "insert_one", always),  # the step after the claims
        ("wallet_transactions", "insert_one", always),  # the ledger entry of the debit
        ("users", "update_one", applying_a_movement),  # the balance change of the debit
        ("slot_claims", "update_many", holding_claims),  # the step after the debit
    ],
)
def test_a_failed_booking_leaves_nothing_claimed_and_no_money_moved(
    client, paying, make_user, venue, monkeypatch, accessor, method, when
):
    fail(monkeypatch, accessor, method, when=when)
    slots = ["morning", "evening"]
    response = book(client, paying.headers, venue, date=DAY, slots=slots, payment_method="wallet")
    assert_error(response, 503, "database_unavailable")

    assert db.bookings().count_documents({}) == 0
    for key in slots:
        assert claim_of(venue, DAY, key)["state"] == "free"
    assert_no_money_moved(paying.user)
    # A payment that was made and undone is kept as void: it never counts.
    assert {e["state"] for e in db.wallet_transactions().find({"kind": "payment"})} <= {"void"}
    # Everything is free again for the next booker.
    assert booked(client, make_user().headers, venue, date=DAY, slots=slots)


# Reschedule -------------------------------------------------------------------------------


@pytest.fixture
def dearer_venue(make_venue, owner):
    overrides = [{"date": NEW_DAY, "price": 130000}]
    return make_venue(
        owner.user, slots=SLOTS, pricing={"base_price": PRICE, "overrides": overrides}
    )


@pytest.mark.parametrize(
    ("accessor", "method", "when"),
    [
        ("bookings", "find_one_and_update", always),  # the move itself
        ("users", "update_one", applying_a_movement),  # the charge for the difference
        ("wallet_transactions", "insert_one", always),
    ],
)
def test_a_failed_move_leaves_the_booking_where_it_was(
    client, paying, dearer_venue, monkeypatch, accessor, method, when
):
    booking = booked(
        client, paying.headers, dearer_venue, date=DAY, slots=["morning"], payment_method="wallet"
    )
    before_booking = stored(booking)
    before_balance = balance(paying.user)

    fail(monkeypatch, accessor, method, when=when)
    response = client.post(
        f"/bookings/{booking['id']}/reschedule",
        json={"date": NEW_DAY, "slots": ["morning", "evening"], "expected_total": 2 * 130000},
        headers=paying.headers,
    )
    assert_error(response, 503, "database_unavailable")

    assert stored(booking) == before_booking
    assert_held_by(claim_of(dearer_venue, DAY, "morning"), booking["id"])
    for key in ("morning", "evening"):
        assert_free(claim_of(dearer_venue, NEW_DAY, key))
    assert balance(paying.user) == before_balance
    assert (
        db.wallet_transactions().count_documents({"key": {"$regex": "move"}, "state": "done"}) == 0
    )

    # Retrying the same move (the failure was injected once) charges the difference once.
    retried = client.post(
        f"/bookings/{booking['id']}/reschedule",
        json={"date": NEW_DAY, "slots": ["morning", "evening"], "expected_total": 2 * 130000},
        headers=paying.headers,
    )
    assert ok_data(retried)["change"]["price_delta"] == 2 * 130000 - PRICE
    assert balance(paying.user) == before_balance - (2 * 130000 - PRICE)
    charges = [entry for entry in ledger(paying.user) if entry[2].endswith(":move1")]
    assert charges == [("payment", -(2 * 130000 - PRICE), f"payment:{booking['id']}:move1")]


def test_a_new_claim_lost_after_the_move_moves_it_back(
    client, paying, make_user, dearer_venue, monkeypatch
):
    """The move outlived the grace period of a fresh claim and someone else took it."""
    booking = booked(
        client, paying.headers, dearer_venue, date=DAY, slots=["morning"], payment_method="wallet"
    )
    before_booking = stored(booking)
    usurper = ObjectId()
    real = db.bookings

    class SlowMove(Proxy):
        def find_one_and_update(self, query, update, **kwargs):
            result = self.collection.find_one_and_update(query, update, **kwargs)
            if "$push" in update:
                db.slot_claims().update_one(
                    {"date": NEW_DAY, "slot": "evening"},
                    {"$set": {"expires_at": None, "booking_id": usurper}},
                )
            return result

    monkeypatch.setattr(db, "bookings", lambda: SlowMove(real()))
    response = client.post(
        f"/bookings/{booking['id']}/reschedule",
        json={"date": NEW_DAY, "slots": ["morning", "evening"], "expected_total": 2 * 130000},
        headers=paying.headers,
    )
    monkeypatch.setattr(db, "bookings", real)

    error = assert_error(response, 409, "slot_taken")
    assert error["context"] == {"date": NEW_DAY, "slots": ["morning", "evening"]}
    assert stored(booking) == before_booking
    assert_held_by(claim_of(dearer_venue, DAY, "morning"), booking["id"])
    assert_free(claim_of(dearer_venue, NEW_DAY, "morning"))
    assert claim_of(dearer_venue, NEW_DAY, "evening")["booking_id"] == usurper
    assert balance(paying.user) == 2 * PRICE
    assert claims.held_slots(dearer_venue["_id"], [NEW_DAY]) == {NEW_DAY: {"evening"}}


def test_a_refund_cut_off_after_a_cheaper_move_is_paid_by_reconcile_once(
    app, client, paying, venue, monkeypatch
):
    booking = booked(
        client,
        paying.headers,
        venue,
        date=DAY,
        slots=["morning", "evening"],
        payment_method="wallet",
    )
    assert balance(paying.user) == PRICE  # two slots paid
    moving_refund = lambda document: document["key"].endswith(":move1")  # noqa: E731
    fail(monkeypatch, "wallet_transactions", "insert_one", when=moving_refund)
    response = client.post(
        f"/bookings/{booking['id']}/reschedule",
        json={"date": NEW_DAY, "slots": ["morning"]},
        headers=paying.headers,
    )
    assert_error(response, 503, "database_unavailable")
    monkeypatch.undo()
    # The move stands (its claims too); the difference it owes was never paid back.
    moved = stored(booking)
    assert (moved["date"], moved["slots"], moved["history"][0]["price_delta"]) == (
        NEW_DAY,
        ["morning"],
        -PRICE,
    )
    assert_held_by(claim_of(venue, NEW_DAY, "morning"), booking["id"])
    assert balance(paying.user) == PRICE

    runner = app.test_cli_runner()
    young = runner.invoke(args=["wallet-reconcile"])
    assert young.exit_code == 0 and young.output.strip().endswith("move refunds 0")
    assert balance(paying.user) == PRICE  # a move this young may still be finishing

    later = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=11)
    assert maintenance.repair_move_refunds(now=later) == 1
    assert balance(paying.user) == 2 * PRICE
    refund = ("refund", PRICE, f"refund:{booking['id']}:move1")
    assert ledger(paying.user)[-1] == refund
    assert maintenance.repair_move_refunds(now=later) == 0
    assert [entry for entry in ledger(paying.user) if entry[0] == "refund"] == [refund]
    assert stored(booking)["payment"]["refunded"] == PRICE


# Cancel -----------------------------------------------------------------------------------


def test_a_refund_that_fails_after_the_cancel_is_paid_on_replay_once(
    client, paying, venue, monkeypatch
):
    booking = booked(
        client, paying.headers, venue, date=DAY, slots=["evening"], payment_method="wallet"
    )
    fail(monkeypatch, "wallet_transactions", "insert_one")
    assert_error(
        client.delete(f"/bookings/{booking['id']}", headers=paying.headers),
        503,
        "database_unavailable",
    )
    # The cancel itself stands and the slot is free; the money is still owed.
    assert stored(booking)["status"] == "cancelled"
    assert_free(claim_of(venue, DAY, "evening"))
    assert balance(paying.user) == 2 * PRICE

    for _ in range(2):
        ok_data(client.delete(f"/bookings/{booking['id']}", headers=paying.headers))
    assert balance(paying.user) == 3 * PRICE
    assert [kind for kind, *_ in ledger(paying.user)] == ["credit", "payment", "refund"]


def test_a_cancel_that_fails_before_the_write_changes_nothing(client, paying, venue, monkeypatch):
    booking = booked(
        client, paying.headers, venue, date=DAY, slots=["evening"], payment_method="wallet"
    )
    before = snapshot()
    fail(monkeypatch, "bookings", "find_one_and_update")
    assert_error(
        client.delete(f"/bookings/{booking['id']}", headers=paying.headers),
        503,
        "database_unavailable",
    )
    assert snapshot() == before
