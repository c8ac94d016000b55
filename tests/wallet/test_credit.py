"""POST /wallet/credit: an admin tops a wallet up; `flask set-admin` names the admins."""

import pytest

from halls import db
from tests.helpers import assert_error, ok_data, other_id
from tests.wallet.helpers import assert_ledger_matches, entries, stored_user


def credit(client, headers, user_id, amount=5000, note="Welcome credit", **extra):
    body = {"user_id": str(user_id), "amount": amount, "note": note, **extra}
    return client.post("/wallet/credit", json=body, headers=headers)


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


# flask set-admin


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
