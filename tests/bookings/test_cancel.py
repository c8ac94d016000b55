"""DELETE /bookings/<id>: the booker or the owner cancels, the slot is free at once, and a
wallet payment is refunded by the venue's policy."""

import pytest
from bson import ObjectId

from halls import db
from tests.bookings.helpers import (
    PRICE,
    assert_free,
    assert_held_by,
    balance,
    booked,
    cancel,
    claim_of,
    decide,
    fund,
    ledger,
    listed,
    notices,
    snapshot,
    stored,
    wallet_booking,
)
from tests.helpers import assert_error, ok_data, other_id, today_plus


def test_the_booker_cancels_and_the_slot_is_free_at_once(client, customer, make_user, owner, venue):
    booking = booked(client, customer.headers, venue)
    cancelled = ok_data(cancel(client, customer.headers, booking))["booking"]
    assert cancelled["status"] == "cancelled"
    assert cancelled["cancelled_by"] == "customer"
    assert cancelled["cancelled_at"] == cancelled["updated_at"]
    assert "reason" not in cancelled
    assert stored(booking)["status"] == "cancelled"
    assert_free(claim_of(venue))

    again = booked(client, make_user().headers, venue)
    assert_held_by(claim_of(venue), again["id"])
    # The owner sees both: the cancelled one and the new one.
    assert listed(client, owner.headers)["total"] == 2


def test_the_owner_cancels_a_confirmed_booking_with_a_reason(client, customer, owner, venue):
    booking = booked(client, customer.headers, venue)
    ok_data(decide(client, owner.headers, booking, status="confirmed"))
    cancelled = ok_data(cancel(client, owner.headers, booking, "?reason=Hall%20flooded"))["booking"]
    assert cancelled["status"] == "cancelled"
    assert cancelled["cancelled_by"] == "owner"
    assert cancelled["reason"] == "Hall flooded"
    doc = stored(booking)
    assert doc["cancelled_by"] == "owner" and doc["reason"] == "Hall flooded"
    assert_free(claim_of(venue))


def test_cancelling_again_returns_the_booking_unchanged(client, customer, owner, venue):
    booking = booked(client, customer.headers, venue)
    first = ok_data(cancel(client, customer.headers, booking, "?reason=plans"))["booking"]
    before = snapshot()
    for headers in (customer.headers, owner.headers):
        again = ok_data(cancel(client, headers, booking, "?reason=other"))["booking"]
        assert again == first
    assert snapshot() == before


def test_cancelling_again_frees_a_claim_a_crash_left_held(client, customer, venue):
    booking = booked(client, customer.headers, venue)
    # A crash between the two writes of a cancel: booking cancelled, claim still held.
    db.bookings().update_one({"_id": ObjectId(booking["id"])}, {"$set": {"status": "cancelled"}})
    assert claim_of(venue)["state"] == "taken"
    ok_data(cancel(client, customer.headers, booking))
    assert_free(claim_of(venue))


def test_a_rejected_booking_cannot_be_cancelled(client, customer, owner, venue):
    booking = booked(client, customer.headers, venue)
    ok_data(decide(client, owner.headers, booking, status="rejected"))
    before = snapshot()
    error = assert_error(cancel(client, customer.headers, booking), 409, "invalid_transition")
    assert error["context"] == {"from": "rejected", "to": "cancelled"}
    assert snapshot() == before


def test_a_past_booking_cannot_be_cancelled(client, customer, venue):
    booking = booked(client, customer.headers, venue)
    yesterday = today_plus(-1)
    db.bookings().update_one({"_id": ObjectId(booking["id"])}, {"$set": {"date": yesterday}})
    before = snapshot()
    error = assert_error(cancel(client, customer.headers, booking), 409, "booking_in_past")
    assert error["context"] == {"date": yesterday}
    assert snapshot() == before


def test_a_booking_today_can_still_be_cancelled(client, customer, make_venue, owner):
    venue = make_venue(owner.user)
    booking = booked(client, customer.headers, venue)
    # Booked days ago (when the notice allowed it); the day has come.
    db.bookings().update_one({"_id": ObjectId(booking["id"])}, {"$set": {"date": today_plus(0)}})
    assert ok_data(cancel(client, customer.headers, booking))["booking"]["status"] == "cancelled"


def test_a_booking_at_a_deleted_venue_can_be_cancelled(client, customer, venue):
    booking = booked(client, customer.headers, venue)
    db.venues().update_one({"_id": venue["_id"]}, {"$set": {"status": "deleted"}})
    assert ok_data(cancel(client, customer.headers, booking))["booking"]["status"] == "cancelled"
    assert_free(claim_of(venue))


@pytest.mark.parametrize("query", ["?reason=" + "x" * 501, "?status=pending", "?reason[$ne]=1"])
def test_bad_cancel_params_are_refused(client, customer, venue, query):
    booking = booked(client, customer.headers, venue)
    before = snapshot()
    assert_error(cancel(client, customer.headers, booking, query), 422, "validation_failed")
    assert snapshot() == before


def test_cancelling_an_unknown_booking_is_not_found(client, customer):
    for booking_id in ("nope", other_id()):
        assert_error(
            client.delete(f"/bookings/{booking_id}", headers=customer.headers),
            404,
            "booking_not_found",
        )


# Refunds ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("days", "pct"),
    [(10, 100), (4, 50), (1, 0)],
)
def test_a_customer_cancel_refunds_by_the_venues_policy(
    client, customer, owner, open_venue, days, pct
):
    fund(customer.user, PRICE)
    booking = wallet_booking(client, customer, open_venue, slot="evening", date=today_plus(days))
    ok_data(decide(client, owner.headers, booking, "confirmed"))  # the tiers bind a confirmed one
    cancelled = ok_data(cancel(client, customer.headers, booking))["booking"]

    refund = PRICE * pct // 100
    assert cancelled["refund"] == {"pct": pct, "amount": refund}
    assert cancelled["payment"] == {"method": "wallet", "paid": PRICE, "refunded": refund}
    assert stored(booking)["refund"] == {"pct": pct, "amount": refund}
    assert balance(customer.user) == refund
    refunds = [entry for entry in ledger(customer.user) if entry[0] == "refund"]
    assert refunds == ([("refund", refund, f"refund:{booking['id']}")] if refund else [])
    assert_free(claim_of(open_venue, today_plus(days), "evening"))


def test_a_venues_own_policy_is_used(client, customer, make_venue, owner):
    policy = [{"min_hours_before": 0, "refund_pct": 80}]
    venue = make_venue(owner.user, cancellation_policy=policy, min_notice_hours=0)
    fund(customer.user, PRICE)
    booking = wallet_booking(client, customer, venue, date=today_plus(2))
    ok_data(decide(client, owner.headers, booking, "confirmed"))
    assert (
        ok_data(cancel(client, customer.headers, booking))["booking"]["refund"]["amount"] == 80000
    )
    assert balance(customer.user) == 80000


def test_replaying_a_cancel_never_refunds_twice(client, customer, owner, open_venue):
    fund(customer.user, PRICE)
    booking = wallet_booking(client, customer, open_venue, date=today_plus(10), slot="morning")
    first = ok_data(cancel(client, customer.headers, booking))["booking"]
    for headers in (customer.headers, owner.headers, customer.headers):
        assert ok_data(cancel(client, headers, booking))["booking"] == first
    assert balance(customer.user) == PRICE
    assert [kind for kind, *_ in ledger(customer.user)] == ["credit", "payment", "refund"]
    assert notices(booking).count(("booking_cancelled", customer.user["email"])) == 1


def test_a_pay_at_venue_cancel_refunds_nothing_but_shows_the_pct(client, customer, open_venue):
    booking = booked(client, customer.headers, open_venue, slot="morning", date=today_plus(10))
    cancelled = ok_data(cancel(client, customer.headers, booking))["booking"]
    assert cancelled["refund"] == {"pct": 100, "amount": 0}
    assert cancelled["payment"] == {"method": "pay_at_venue", "paid": 0, "refunded": 0}
    assert db.wallet_transactions().count_documents({}) == 0
    kinds = [kind for kind, _ in notices(booking)]
    assert kinds[-2:] == ["booking_cancelled", "booking_cancelled"]  # customer and owner
