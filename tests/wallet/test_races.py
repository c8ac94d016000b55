"""Wallet races with real threads: never negative, never twice, the ledger sums to the balance."""

import random
import time

import pytest
from bson import ObjectId

from halls import db
from halls.errors import Conflict
from halls.wallet import service as wallet
from tests.helpers import run_at_once
from tests.wallet.helpers import assert_ledger_matches, entries, fund, patch_users

THREADS = 30


@pytest.fixture(autouse=True)
def interleaved(monkeypatch):
    """Pause briefly after every read of a user, so threads really interleave.

    Under the GIL, mongomock's calls are so quick that a thread rarely loses the processor
    between reading the balance and writing the new one; without this pause the races below
    would mostly run one after another and a wallet without its guard could still pass.
    """

    def find_one(real, *args, **kwargs):
        found = real(*args, **kwargs)
        time.sleep(0.001)
        return found

    patch_users(monkeypatch, find_one=find_one)


def race(app, calls):
    """Each call() at once in its own app context: ("ok", result), or a Conflict's code, context."""
    outcomes = run_at_once([lambda _, call=call: call() for call in calls], app.app_context)
    errors = [o for o in outcomes if isinstance(o, Exception) and not isinstance(o, Conflict)]
    assert not errors, errors
    return [(o.error_code, o.context) if isinstance(o, Conflict) else ("ok", o) for o in outcomes]


def debit(user, amount, booking_id=None):
    return lambda: wallet.debit_for_booking(user["_id"], booking_id or ObjectId(), amount)


def test_debits_racing_for_a_small_balance_never_overdraw(app, customer):
    user, _ = customer
    fund(user, 1000)
    results = race(app, [debit(user, 100) for _ in range(THREADS)])
    outcomes = [outcome for outcome, _ in results]
    assert outcomes.count("ok") == 10
    assert outcomes.count("insufficient_funds") == THREADS - 10
    assert assert_ledger_matches(user) == 0
    assert len(entries(user, kind="payment")) == 10  # the refused ones left no entry


def test_debits_of_mixed_amounts_pay_exactly_what_succeeded(app, customer):
    user, _ = customer
    fund(user, 2000)
    amounts = [random.randint(50, 400) for _ in range(THREADS)]  # noqa: S311 - not security
    results = race(app, [debit(user, amount) for amount in amounts])
    paid = sum(a for a, (outcome, _) in zip(amounts, results, strict=True) if outcome == "ok")
    left = assert_ledger_matches(user)
    assert left == 2000 - paid >= 0
    # Every refusal was right when it was made: it needed more than was left then.
    for amount, (outcome, details) in zip(amounts, results, strict=True):
        if outcome == "insufficient_funds":
            assert details["needed"] == amount > details["balance"]
    # Debits only lower the balance, so what is left is below every refused amount.
    refused = [a for a, (outcome, _) in zip(amounts, results, strict=True) if outcome != "ok"]
    assert all(left < amount for amount in refused)


def test_credits_and_debits_interleave_without_losing_a_rupee(app, client, customer, make_user):
    user, _ = customer
    _, admin_headers = make_user(role="admin")
    fund(user, 500)

    def credit():
        body = {"user_id": str(user["_id"]), "amount": 100, "note": "race"}
        response = app.test_client().post("/wallet/credit", json=body, headers=admin_headers)
        assert response.status_code == 201, response.get_json()
        return response.get_json()["data"]["transaction"]

    calls = [credit if i % 2 else debit(user, 150) for i in range(THREADS)]
    results = race(app, calls)
    debits = sum(1 for i, (o, _) in enumerate(results) if i % 2 == 0 and o == "ok")
    assert assert_ledger_matches(user) == 500 + 15 * 100 - debits * 150
    assert len(entries(user, kind="credit")) == 16


def test_a_refund_replayed_at_once_refunds_once(app, customer):
    user, _ = customer
    fund(user, 1000)
    booking_id = ObjectId()
    wallet.debit_for_booking(user["_id"], booking_id, 800)
    calls = [lambda: wallet.refund_for_booking(user["_id"], booking_id, 800)] * THREADS
    results = race(app, calls)
    assert {outcome for outcome, _ in results} == {"ok"}
    assert assert_ledger_matches(user) == 1000
    (refund,) = entries(user, kind="refund")
    assert refund["amount"] == 800


def test_one_booking_paid_at_once_from_many_threads_pays_once(app, customer):
    user, _ = customer
    fund(user, 1000)
    booking_id = ObjectId()
    results = race(app, [debit(user, 300, booking_id) for _ in range(THREADS)])
    assert {outcome for outcome, _ in results} == {"ok"}
    assert assert_ledger_matches(user) == 700
    assert db.wallet_transactions().count_documents({"booking_id": booking_id}) == 1
