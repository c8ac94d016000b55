"""What a booking does to a wallet: debits, voids of failed payments, and refunds."""

import pytest
from bson import ObjectId

from halls import db
from halls.errors import Conflict
from halls.wallet import service as wallet
from tests.wallet.helpers import assert_ledger_matches, crash_in, entries, fund, pay, stored_user

# Paying for a booking


def test_a_debit_pays_from_the_balance(funded):
    user = funded
    booking_id = ObjectId()
    entry = wallet.debit_for_booking(user["_id"], booking_id, 300)
    assert entry["amount"] == -300 and entry["kind"] == "payment"
    assert entry["booking_id"] == booking_id and entry["key"] == f"payment:{booking_id}"
    assert entry["state"] == "done" and entry["balance_after"] == 700
    assert wallet.balance(user["_id"]) == 700 == assert_ledger_matches(user)


def test_a_debit_may_take_the_balance_to_exactly_zero(customer):
    user, _ = customer
    fund(user, 300)
    wallet.debit_for_booking(user["_id"], ObjectId(), 300)
    assert assert_ledger_matches(user) == 0


def test_a_debit_over_the_balance_is_refused_and_leaves_no_trace(customer):
    user, _ = customer
    fund(user, 100)
    before = stored_user(user)
    with pytest.raises(Conflict) as raised:
        wallet.debit_for_booking(user["_id"], ObjectId(), 300)
    assert raised.value.error_code == "insufficient_funds"
    assert raised.value.context == {"balance": 100, "needed": 300}
    assert stored_user(user) == before
    assert entries(user, kind="payment") == []


def test_a_debit_from_a_wallet_never_used_is_refused(customer):
    user, _ = customer
    with pytest.raises(Conflict) as raised:
        wallet.debit_for_booking(user["_id"], ObjectId(), 1)
    assert raised.value.context == {"balance": 0, "needed": 1}
    assert db.wallet_transactions().count_documents({}) == 0
    assert "wallet_balance" not in stored_user(user)


def test_money_coming_back_is_never_refused(customer):
    user, _ = customer
    # A balance below zero cannot arise here, but one written by hand must not block refunds.
    db.users().update_one({"_id": user["_id"]}, {"$set": {"wallet_balance": -500}})
    assert fund(user, 200)["balance_after"] == -300
    assert wallet.balance(user["_id"]) == -300


def test_nothing_to_pay_moves_nothing(customer):
    user, _ = customer
    assert wallet.debit_for_booking(user["_id"], ObjectId(), 0) is None
    assert db.wallet_transactions().count_documents({}) == 0
    with pytest.raises(ValueError):
        wallet.debit_for_booking(user["_id"], ObjectId(), -5)


def test_a_repeated_debit_pays_once(funded):
    user = funded
    booking_id = ObjectId()
    first = wallet.debit_for_booking(user["_id"], booking_id, 300)
    again = wallet.debit_for_booking(user["_id"], booking_id, 300)
    assert again["_id"] == first["_id"]
    assert assert_ledger_matches(user) == 700


def test_a_second_payment_for_one_booking_takes_its_own_key(funded):
    user = funded
    booking_id = ObjectId()
    wallet.debit_for_booking(user["_id"], booking_id, 300)
    extra = wallet.debit_for_booking(user["_id"], booking_id, 200, key=f"payment:{booking_id}:1")
    assert extra["amount"] == -200
    assert wallet.refundable_for(user["_id"], booking_id) == 500
    assert assert_ledger_matches(user) == 500


# Voiding a payment whose booking failed


def test_voiding_a_payment_restores_the_balance(funded):
    user = funded
    booking_id = ObjectId()
    wallet.debit_for_booking(user["_id"], booking_id, 400)
    voided = wallet.void_debit(booking_id)
    assert voided["state"] == "void" and voided["voided_at"]
    assert voided["voided_key"] == f"payment:{booking_id}" != voided["key"]
    assert assert_ledger_matches(user) == 1000
    assert wallet.void_debit(booking_id) is None  # again: nothing left to void
    assert assert_ledger_matches(user) == 1000
    assert wallet.refundable_for(user["_id"], booking_id) == 0


def test_a_step_whose_payment_was_voided_can_pay_again(funded):
    # A reschedule that failed after charging its difference is retried under the same key.
    user = funded
    booking_id = ObjectId()
    key = f"payment:{booking_id}:move1"
    wallet.debit_for_booking(user["_id"], booking_id, 300, key=key)
    wallet.void_debit(booking_id, key=key)
    retry = wallet.debit_for_booking(user["_id"], booking_id, 300, key=key)
    assert retry["state"] == "done" and retry["key"] == key and retry["balance_after"] == 700
    assert assert_ledger_matches(user) == 700
    assert wallet.refundable_for(user["_id"], booking_id) == 300


def test_voiding_a_booking_that_never_paid_is_a_no_op(funded):
    user = funded
    assert wallet.void_debit(ObjectId()) is None
    assert assert_ledger_matches(user) == 1000


def test_voiding_a_debit_that_crashed_after_moving_money(funded, monkeypatch):
    user = funded
    booking_id = ObjectId()
    crash_in(monkeypatch, "_settle", pay(user, booking_id=booking_id))
    assert wallet.balance(user["_id"]) == 600  # applied, never settled
    assert wallet.void_debit(booking_id)["state"] == "void"
    assert assert_ledger_matches(user) == 1000


def test_voiding_a_debit_that_crashed_before_moving_money(funded, monkeypatch):
    user = funded
    booking_id = ObjectId()
    crash_in(monkeypatch, "_apply", pay(user, booking_id=booking_id))
    (entry,) = entries(user, kind="payment")
    assert entry["state"] == "pending"
    assert wallet.void_debit(booking_id)["state"] == "void"
    assert assert_ledger_matches(user) == 1000


# Refunds


def test_a_refund_gives_money_back_once(funded):
    user = funded
    booking_id = ObjectId()
    wallet.debit_for_booking(user["_id"], booking_id, 600)
    refund = wallet.refund_for_booking(user["_id"], booking_id, 300)
    assert refund["amount"] == 300 and refund["kind"] == "refund"
    assert refund["key"] == f"refund:{booking_id}" and refund["balance_after"] == 700
    replay = wallet.refund_for_booking(user["_id"], booking_id, 300)
    assert replay["_id"] == refund["_id"]
    assert assert_ledger_matches(user) == 700
    assert len(entries(user, kind="refund")) == 1


def test_a_refund_never_exceeds_what_the_booking_paid(funded):
    user = funded
    booking_id = ObjectId()
    wallet.debit_for_booking(user["_id"], booking_id, 600)
    wallet.refund_for_booking(user["_id"], booking_id, 200, key=f"refund:{booking_id}:0")
    capped = wallet.refund_for_booking(user["_id"], booking_id, 5000)
    assert capped["amount"] == 400
    assert wallet.refund_for_booking(user["_id"], booking_id, 1, key="refund:more") is None
    assert assert_ledger_matches(user) == 1000


def test_no_refund_without_a_settled_payment(customer, make_user):
    user, _ = customer
    payer, _ = make_user()
    fund(payer, 1000)
    booking_id = ObjectId()
    wallet.debit_for_booking(payer["_id"], booking_id, 500)
    # Nothing was paid by this user for the booking, and pay-at-venue bookings paid nothing.
    assert wallet.refund_for_booking(user["_id"], booking_id, 500) is None
    assert wallet.refund_for_booking(user["_id"], ObjectId(), 500) is None
    assert wallet.refund_for_booking(payer["_id"], booking_id, 0) is None
    assert entries(user) == []
    assert assert_ledger_matches(payer) == 500


def test_a_voided_payment_refunds_nothing(funded):
    user = funded
    booking_id = ObjectId()
    wallet.debit_for_booking(user["_id"], booking_id, 600)
    wallet.void_debit(booking_id)
    assert wallet.refund_for_booking(user["_id"], booking_id, 600) is None
    assert assert_ledger_matches(user) == 1000
