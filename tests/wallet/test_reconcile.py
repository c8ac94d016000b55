"""wallet.reconcile and `flask wallet-reconcile`: repairing what a crash left half-done."""

import pytest
from bson import ObjectId

from halls import clock as halls_clock
from halls import db
from halls.errors import ServiceUnavailable
from halls.wallet import service as wallet
from tests.wallet.helpers import (
    assert_ledger_matches,
    crash_in,
    crashed_refund,
    entries,
    fund,
    patch_users,
    pay,
    stored_user,
)

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
