"""Helpers the wallet tests share: funding a wallet, reading its ledger, crashing a step."""

import functools

import pytest
from bson import ObjectId

from halls import db
from halls.wallet import service as wallet


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
