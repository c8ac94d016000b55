"""GET /wallet and GET /wallet/transactions: the caller's balance and ledger."""

import pytest
from bson import ObjectId

from halls import db
from halls.wallet import service as wallet
from tests.helpers import assert_error, ok_data
from tests.wallet.helpers import assert_ledger_matches, fund, stored_user

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
