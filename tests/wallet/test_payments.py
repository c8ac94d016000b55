"""The wallet: GET /wallet, /wallet/transactions, POST /wallet/credit, and the ledger's rules."""

import functools

import pytest
from bson import ObjectId

from halls import clock as halls_clock
from halls import db
from halls.errors import Conflict, ServiceUnavailable
from halls.wallet import service as wallet
from tests.helpers import assert_error, ok_data, other_id


@pytest.fixture
def admin(make_user):
    return make_user(role="admin", full_name="Ada Admin")


@pytest.fixture
def funded(customer):
    """The customer, with 1000 PKR credited."""
    user, _ = customer
    fund(user, 1000)
    return user


def fund(user, amount):
    """Credit the user's wallet through the ledger, as an admin top-up does."""
    admin_id = ObjectId()
    return wallet._record(user["_id"], amount, "credit", f"credit:{ObjectId()}", by=admin_id)


def stored_user(user):
    return db.users().find_one({"_id": user["_id"]})


def entries(user, **query):
    return list(db.wallet_transactions().find({"user_id": user["_id"], **query}))


def assert_ledger_matches(user):
    """The settled entries sum to the balance, and nothing is left half-done."""
    stored = stored_user(user)
    done = entries(user, state="done")
    assert sum(e["amount"] for e in done) == stored.get("wallet_balance", 0)
    assert stored.get("pending_txns", []) == []
    assert entries(user, state={"$in": ["pending", "voiding"]}) == []
    # balance_after chains: each settled entry continues the one applied before it.
    running = 0
    for entry in sorted(done, key=lambda e: e["seq"]):
        running += entry["amount"]
        assert entry["balance_after"] == running >= 0
    return stored.get("wallet_balance", 0)


def credit(client, headers, user_id, amount=5000, note="Welcome credit", **extra):
    body = {"user_id": str(user_id), "amount": amount, "note": note, **extra}
    return client.post("/wallet/credit", json=body, headers=headers)


# GET /wallet


def test_a_new_wallet_is_empty_and_reading_it_writes_nothing(client, customer):
    user, headers = customer
    data = ok_data(client.get("/wallet", headers=headers))
    assert data == {"balance": 0, "currency": "PKR", "recent": []}
    assert "wallet_balance" not in stored_user(user)
    assert db.wallet_transactions().count_documents({}) == 0


def test_the_wallet_needs_a_token(client):
    assert_error(client.get("/wallet"), 401, "token_missing")
    assert_error(client.get("/wallet/transactions"), 401, "token_missing")


def test_the_wallet_shows_the_balance_and_the_ten_latest_settled_entries(client, customer):
    user, headers = customer
    for amount in range(1, 12):
        fund(user, amount * 100)
    wallet.debit_for_booking(user["_id"], ObjectId(), 50)
    data = ok_data(client.get("/wallet", headers=headers))
    assert data["balance"] == 6600 - 50 == assert_ledger_matches(user)
    assert len(data["recent"]) == 10
    first = data["recent"][0]
    assert first["kind"] == "payment" and first["amount"] == -50
    assert first["balance_after"] == 6550 and first["booking_id"]
    assert [e["amount"] for e in data["recent"][1:]] == [
        1100,
        1000,
        900,
        800,
        700,
        600,
        500,
        400,
        300,
    ]
    assert set(first) == {"id", "amount", "kind", "booking_id", "balance_after", "at"}


def test_the_wallet_hides_voided_and_unsettled_entries(client, customer):
    user, headers = customer
    fund(user, 1000)
    booking_id = ObjectId()
    wallet.debit_for_booking(user["_id"], booking_id, 400)
    wallet.void_debit(booking_id)
    db.wallet_transactions().insert_one(
        {
            "user_id": user["_id"],
            "amount": 5,
            "kind": "credit",
            "key": "credit:x",
            "state": "pending",
        }
    )
    data = ok_data(client.get("/wallet", headers=headers))
    assert data["balance"] == 1000
    assert [(e["kind"], e["amount"]) for e in data["recent"]] == [("credit", 1000)]


# GET /wallet/transactions


def test_transactions_are_paginated_latest_first_and_only_the_callers(client, customer, make_user):
    user, headers = customer
    stranger, _ = make_user()
    for amount in (100, 200, 300, 400, 500):
        fund(user, amount)
    fund(stranger, 999)
    page = ok_data(client.get("/wallet/transactions?page=2&limit=2", headers=headers))
    assert page["page"] == 2 and page["limit"] == 2 and page["total"] == 5
    assert [e["amount"] for e in page["items"]] == [300, 200]
    last = ok_data(client.get("/wallet/transactions?page=3&limit=2", headers=headers))
    assert [e["amount"] for e in last["items"]] == [100]


def test_transactions_filter_by_kind(client, customer):
    user, headers = customer
    fund(user, 1000)
    booking_id = ObjectId()
    wallet.debit_for_booking(user["_id"], booking_id, 600)
    wallet.refund_for_booking(user["_id"], booking_id, 300)
    for kind, amounts in (("payment", [-600]), ("refund", [300]), ("credit", [1000])):
        page = ok_data(client.get(f"/wallet/transactions?kind={kind}", headers=headers))
        assert [e["amount"] for e in page["items"]] == amounts
        assert {e["kind"] for e in page["items"]} == {kind}


@pytest.mark.parametrize(
    "query", ["kind=gift", "page=0", "limit=101", "user_id=" + "a" * 24, "kind[$ne]=x"]
)
def test_transactions_refuse_bad_or_unknown_query_args(client, customer, query):
    _, headers = customer
    assert_error(
        client.get(f"/wallet/transactions?{query}", headers=headers), 422, "validation_failed"
    )


# POST /wallet/credit


def test_an_admin_credits_a_wallet(client, admin, customer):
    admin_user, headers = admin
    user, customer_headers = customer
    data = ok_data(credit(client, headers, user["_id"], 2500, note="  Goodwill  "), 201)
    assert data["balance"] == 2500
    txn = data["transaction"]
    assert txn["amount"] == 2500 and txn["kind"] == "credit" and txn["balance_after"] == 2500
    assert txn["booking_id"] is None and txn["note"] == "Goodwill"

    (entry,) = entries(user)
    assert str(entry["_id"]) == txn["id"]
    assert entry["state"] == "done" and entry["by"] == admin_user["_id"]
    assert entry["key"].startswith("credit:")
    stored = stored_user(user)
    assert stored["wallet_balance"] == 2500 and stored["wallet_seq"] == 1
    assert assert_ledger_matches(user) == 2500
    assert ok_data(client.get("/wallet", headers=customer_headers))["balance"] == 2500


def test_credits_add_up(client, admin, customer):
    _, headers = admin
    user, _ = customer
    ok_data(credit(client, headers, user["_id"], 100), 201)
    data = ok_data(credit(client, headers, user["_id"], 250), 201)
    assert data["balance"] == data["transaction"]["balance_after"] == 350
    assert assert_ledger_matches(user) == 350


@pytest.mark.parametrize("who", ["customer", "owner"])
def test_only_admins_credit(client, request, who, make_user):
    user, headers = request.getfixturevalue(who)
    target, _ = make_user()
    assert_error(credit(client, headers, target["_id"]), 403, "admin_required")
    assert_error(credit(client, headers, user["_id"]), 403, "admin_required")
    assert db.wallet_transactions().count_documents({}) == 0
    assert "wallet_balance" not in stored_user(user)
    assert "wallet_balance" not in stored_user(target)


def test_a_credit_needs_a_token(client, customer):
    user, _ = customer
    assert_error(credit(client, {}, user["_id"]), 401, "token_missing")
    assert db.wallet_transactions().count_documents({}) == 0


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"amount": 0}, "amount"),
        ({"amount": -100}, "amount"),
        ({"amount": "100"}, "amount"),
        ({"amount": 10.5}, "amount"),
        ({"amount": 10_000_001}, "amount"),
        ({"note": "   "}, "note"),
        ({"note": "x" * 501}, "note"),
        ({"user_id": "nope"}, "user_id"),
        ({"user_id": {"$ne": None}}, "user_id"),
        ({"balance": 5}, "balance"),
    ],
)
def test_a_bad_credit_is_refused_and_moves_nothing(client, admin, customer, changes, field):
    _, headers = admin
    user, _ = customer
    body = {"user_id": str(user["_id"]), "amount": 100, "note": "x", **changes}
    error = assert_error(
        client.post("/wallet/credit", json=body, headers=headers), 422, "validation_failed"
    )
    assert field in error["details"]
    assert db.wallet_transactions().count_documents({}) == 0
    assert "wallet_balance" not in stored_user(user)


def test_a_credit_needs_a_note(client, admin, customer):
    _, headers = admin
    user, _ = customer
    body = {"user_id": str(user["_id"]), "amount": 100}
    error = assert_error(
        client.post("/wallet/credit", json=body, headers=headers), 422, "validation_failed"
    )
    assert "note" in error["details"]


def test_crediting_an_unknown_user_is_a_404(client, admin):
    _, headers = admin
    assert_error(credit(client, headers, other_id()), 404, "user_not_found")
    assert db.wallet_transactions().count_documents({}) == 0


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
    assert raised.value.details == {"balance": 100, "needed": 300}
    assert stored_user(user) == before
    assert entries(user, kind="payment") == []


def test_a_debit_from_a_wallet_never_used_is_refused(customer):
    user, _ = customer
    with pytest.raises(Conflict) as raised:
        wallet.debit_for_booking(user["_id"], ObjectId(), 1)
    assert raised.value.details == {"balance": 0, "needed": 1}
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


def patch_users(monkeypatch, **methods):
    """Wrap some methods of db.users(): each gets the real method first, then the call's args."""
    real_users = db.users

    class Patched:
        def __getattr__(self, name):
            method = getattr(real_users(), name)
            return functools.partial(methods[name], method) if name in methods else method

    monkeypatch.setattr(db, "users", Patched)


def crash_in(monkeypatch, name, action, when=lambda *args: True):
    """Run action() with service.<name> raising as if the process died there, then heal."""
    real = getattr(wallet, name)

    def crashing(*args, **kwargs):
        if when(*args):
            raise RuntimeError(f"crash in {name}")
        return real(*args, **kwargs)

    monkeypatch.setattr(wallet, name, crashing)
    with pytest.raises(RuntimeError):
        action()
    monkeypatch.undo()


def pay(user, amount=400, booking_id=None):
    return lambda: wallet.debit_for_booking(user["_id"], booking_id or ObjectId(), amount)


def crashed_refund(user, monkeypatch):
    """Pay 400 for a booking, then crash its full refund before the balance moved."""
    booking_id = ObjectId()
    wallet.debit_for_booking(user["_id"], booking_id, 400)
    crash_in(monkeypatch, "_apply", lambda: wallet.refund_for_booking(user["_id"], booking_id, 400))
    return booking_id


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


# Reconcile: repairing what a crash left half-done

LATER = wallet.RECONCILE_AFTER * 2


def later():
    return halls_clock.now() + LATER


def test_reconcile_leaves_young_entries_to_their_request(funded, monkeypatch):
    user = funded
    crash_in(monkeypatch, "_settle", pay(user))
    summary = wallet.reconcile()
    assert summary == {
        "settled": 0,
        "applied": 0,
        "voided": 0,
        "reversed": 0,
        "failed": 0,
        "pulled": 0,
    }
    (entry,) = entries(user, kind="payment")
    assert entry["state"] == "pending"


def test_reconcile_settles_a_movement_applied_before_the_crash(funded, monkeypatch):
    user = funded
    crash_in(monkeypatch, "_settle", pay(user))
    assert wallet.reconcile(now=later())["settled"] == 1
    (entry,) = entries(user, kind="payment")
    assert entry["state"] == "done" and entry["balance_after"] == 600 and entry["seq"] == 2
    assert assert_ledger_matches(user) == 600


def test_reconcile_applies_an_owed_refund(funded, monkeypatch):
    user = funded
    booking_id = crashed_refund(user, monkeypatch)
    assert wallet.balance(user["_id"]) == 600
    # Owed already: a replay meanwhile neither pays it twice nor adds a second entry.
    assert wallet.refund_for_booking(user["_id"], booking_id, 400)["state"] == "pending"
    assert wallet.reconcile(now=later())["applied"] == 1
    assert assert_ledger_matches(user) == 1000


@pytest.mark.parametrize("kind", ["payment", "credit"])
def test_reconcile_voids_a_payment_or_credit_nobody_saw_succeed(funded, monkeypatch, kind):
    user = funded
    crash_in(monkeypatch, "_apply", pay(user) if kind == "payment" else lambda: fund(user, 400))
    assert wallet.reconcile(now=later())["voided"] == 1
    assert [e["state"] for e in entries(user, amount={"$in": [-400, 400]})] == ["void"]
    assert assert_ledger_matches(user) == 1000


def test_reconcile_finishes_an_interrupted_void(funded, monkeypatch):
    user = funded
    booking_id = ObjectId()
    wallet.debit_for_booking(user["_id"], booking_id, 400)
    crash_in(
        monkeypatch,
        "_apply",
        lambda: wallet.void_debit(booking_id),
        when=lambda user_id, ref, delta: ref.startswith("void:"),
    )
    (entry,) = entries(user, kind="payment")
    assert entry["state"] == "voiding"
    assert wallet.reconcile(now=later())["reversed"] == 1
    assert assert_ledger_matches(user) == 1000
    assert entries(user, kind="payment")[0]["state"] == "void"


def test_reconcile_pulls_refs_a_crash_left_on_the_user(customer, monkeypatch):
    user, _ = customer

    def update_one(real, query, update, **kwargs):
        if "$pull" in update:
            raise RuntimeError("crash before the pull")
        return real(query, update, **kwargs)

    patch_users(monkeypatch, update_one=update_one)
    with pytest.raises(RuntimeError):
        fund(user, 1000)
    monkeypatch.undo()
    assert [e["state"] for e in entries(user)] == ["done"]
    assert len(stored_user(user)["pending_txns"]) == 1
    assert wallet.reconcile()["pulled"] == 0  # too young: its request may still be running
    assert wallet.reconcile(now=later())["pulled"] == 1
    assert assert_ledger_matches(user) == 1000


def test_reconcile_leaves_a_ref_it_cannot_explain_to_a_person(funded, monkeypatch, caplog):
    user = funded
    booking_id = ObjectId()
    crash_in(monkeypatch, "_apply", pay(user, booking_id=booking_id))
    voided = wallet.void_debit(booking_id)  # never applied, so voided as is
    # As if the lost debit's write landed after all: money moved for a void entry.
    item = {
        "ref": f"payment:{booking_id}",
        "entry_id": voided["_id"],
        "balance_after": 600,
        "seq": 2,
        "at": halls_clock.now(),
    }
    db.users().update_one(
        {"_id": user["_id"]}, {"$set": {"wallet_balance": 600}, "$push": {"pending_txns": item}}
    )
    assert wallet.reconcile(now=later())["pulled"] == 0
    assert stored_user(user)["pending_txns"] == [item]
    assert "needs a person" in caplog.text


def test_a_void_interrupted_after_its_reversal_restores_the_money_once(funded, monkeypatch):
    user = funded
    booking_id = ObjectId()
    wallet.debit_for_booking(user["_id"], booking_id, 400)
    crash_in(monkeypatch, "_settle", lambda: wallet.void_debit(booking_id))
    assert wallet.balance(user["_id"]) == 1000  # reversed, not yet settled
    assert wallet.reconcile(now=later())["reversed"] == 1
    assert assert_ledger_matches(user) == 1000
    assert entries(user, kind="payment")[0]["state"] == "void"


def test_a_wallet_that_keeps_changing_is_busy_and_keeps_nothing(funded, monkeypatch):
    user = funded

    def find_one(real, *args, **kwargs):
        # Every read sees the wallet one movement behind, as if another request always won.
        found = real(*args, **kwargs)
        return found and {**found, "wallet_seq": found.get("wallet_seq", 0) - 1}

    patch_users(monkeypatch, find_one=find_one)
    with pytest.raises(ServiceUnavailable) as raised:
        wallet.debit_for_booking(user["_id"], ObjectId(), 100)
    monkeypatch.undo()
    assert raised.value.error_code == "wallet_busy"
    assert entries(user, kind="payment") == []
    assert assert_ledger_matches(user) == 1000


def test_reconcile_reports_a_movement_it_cannot_repair(funded, monkeypatch):
    user = funded
    crashed_refund(user, monkeypatch)
    db.users().delete_one({"_id": user["_id"]})
    assert wallet.reconcile(now=later())["failed"] == 1
    (refund,) = entries(user, kind="refund")
    assert refund["state"] == "pending"  # tried again by the next run


def test_reconcile_twice_repairs_once(funded, monkeypatch):
    user = funded
    crash_in(monkeypatch, "_settle", pay(user))
    when = later()
    assert wallet.reconcile(now=when)["settled"] == 1
    assert set(wallet.reconcile(now=when + LATER).values()) == {0}
    assert assert_ledger_matches(user) == 600


def test_the_reconcile_command_runs(app, funded, monkeypatch):
    user = funded
    crash_in(monkeypatch, "_settle", pay(user))
    runner = app.test_cli_runner()
    young = runner.invoke(args=["wallet-reconcile"])
    assert young.exit_code == 0 and "settled 0" in young.output
    when = later()  # crash_in undid every patch: the clock is set here, after it
    monkeypatch.setattr(halls_clock, "now", lambda: when)
    result = runner.invoke(args=["wallet-reconcile", "--older-than", "1"])
    assert result.exit_code == 0, result.output
    assert "settled 1" in result.output
    monkeypatch.undo()
    assert assert_ledger_matches(user) == 600
    refused = runner.invoke(args=["wallet-reconcile", "--older-than", "0"])
    assert refused.exit_code != 0


def test_set_admin_grants_and_revokes_the_role_at_once(app, client, make_user, customer):
    user, headers = make_user(email="ops@halls.example")
    target, _ = customer
    assert_error(credit(client, headers, target["_id"]), 403, "admin_required")

    runner = app.test_cli_runner()
    granted = runner.invoke(args=["set-admin", " OPS@halls.example "])
    assert granted.exit_code == 0, granted.output
    assert stored_user(user)["role"] == "admin"
    # The same token works now: the role is read from the account on each request.
    ok_data(credit(client, headers, target["_id"], 100), 201)

    revoked = runner.invoke(args=["set-admin", "ops@halls.example", "--revoke"])
    assert revoked.exit_code == 0 and "no longer" in revoked.output
    assert stored_user(user)["role"] == "customer"
    assert_error(credit(client, headers, target["_id"]), 403, "admin_required")
    assert stored_user(target)["wallet_balance"] == 100


def test_set_admin_of_an_unknown_email_fails_and_changes_nobody(app, customer):
    result = app.test_cli_runner().invoke(args=["set-admin", "nobody@halls.example"])
    assert result.exit_code != 0 and "No account has the email" in result.output
    assert db.users().count_documents({"role": "admin"}) == 0
