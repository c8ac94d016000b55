"""PATCH /bookings/<id>: the venue's owner confirms or rejects a pending booking."""

import pytest

from halls import db
from tests.bookings.helpers import (
    assert_free,
    assert_held_by,
    booked,
    claim_of,
    decide,
    notices,
    snapshot,
    stored,
)
from tests.helpers import assert_error, ok_data, other_id


def test_the_owner_confirms_a_pending_booking(client, customer, owner, venue):
    booking = booked(client, customer.headers, venue)
    confirmed = ok_data(decide(client, owner.headers, booking, status="confirmed"))["booking"]
    assert confirmed["status"] == "confirmed"
    assert confirmed["confirmed_at"] == confirmed["updated_at"]
    assert confirmed["updated_at"] >= booking["updated_at"]
    assert "reason" not in confirmed

    doc = stored(booking)
    assert doc["status"] == "confirmed" and doc["confirmed_at"].tzinfo is not None
    assert_held_by(claim_of(venue), booking["id"])


def test_the_owner_rejects_and_the_slot_is_free_again(client, customer, owner, make_user, venue):
    booking = booked(client, customer.headers, venue)
    rejected = ok_data(decide(client, owner.headers, booking, status="rejected", reason="Closed"))
    assert rejected["booking"]["status"] == "rejected"
    assert rejected["booking"]["reason"] == "Closed"
    doc = stored(booking)
    assert doc["status"] == "rejected" and doc["reason"] == "Closed" and "rejected_at" in doc
    assert_free(claim_of(venue))

    again = booked(client, make_user().headers, venue)
    assert_held_by(claim_of(venue), again["id"])
    assert db.slot_claims().count_documents({}) == 1


@pytest.mark.parametrize(
    ("first", "then"),
    [
        ("confirmed", "confirmed"),
        ("confirmed", "rejected"),
        ("rejected", "confirmed"),
        ("rejected", "rejected"),
    ],
)
def test_only_a_pending_booking_can_be_decided(client, customer, owner, venue, first, then):
    booking = booked(client, customer.headers, venue)
    ok_data(decide(client, owner.headers, booking, status=first))
    before = snapshot()
    error = assert_error(
        decide(client, owner.headers, booking, status=then), 409, "invalid_transition"
    )
    assert error["context"] == {"from": first, "to": then}
    assert snapshot() == before


def test_a_cancelled_booking_cannot_be_confirmed(client, customer, owner, venue):
    booking = booked(client, customer.headers, venue)
    ok_data(client.delete(f"/bookings/{booking['id']}", headers=customer.headers))
    before = snapshot()
    response = decide(client, owner.headers, booking, status="confirmed")
    error = assert_error(response, 409, "invalid_transition")
    assert error["context"] == {"from": "cancelled", "to": "confirmed"}
    assert snapshot() == before


def test_the_booker_may_not_decide_their_own_booking(client, customer, venue):
    booking = booked(client, customer.headers, venue)
    before = snapshot()
    response = decide(client, customer.headers, booking, status="confirmed")
    assert_error(response, 403, "not_venue_owner")
    assert snapshot() == before


def test_an_owner_decides_a_booking_they_made_at_their_own_venue(client, owner, venue):
    booking = booked(client, owner.headers, venue)
    assert ok_data(decide(client, owner.headers, booking, status="confirmed"))["booking"][
        "status"
    ] == ("confirmed")


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"status": "cancelled"},
        {"status": "pending"},
        {"status": {"$ne": ""}},
        {"status": "confirmed", "reason": "x" * 501},
        {"status": "confirmed", "reason": {"$ne": ""}},
        {"status": "confirmed", "guests": 1},
    ],
)
def test_bad_decisions_are_refused(client, customer, owner, venue, body):
    booking = booked(client, customer.headers, venue)
    before = snapshot()
    assert_error(decide(client, owner.headers, booking, **body), 422, "validation_failed")
    assert snapshot() == before


def test_deciding_an_unknown_booking_is_not_found(client, owner):
    for booking_id in ("nope", other_id()):
        response = client.patch(
            f"/bookings/{booking_id}", json={"status": "confirmed"}, headers=owner.headers
        )
        assert_error(response, 404, "booking_not_found")


# Within the hold --------------------------------------------------------------------------


def test_the_owner_confirms_while_the_hold_lasts(client, customer, owner, venue):
    booking = booked(client, customer.headers, venue)
    confirmed = ok_data(decide(client, owner.headers, booking, "confirmed"))["booking"]
    assert confirmed["status"] == "confirmed"
    assert "expires_at" not in confirmed
    doc = stored(booking)
    assert doc["status"] == "confirmed" and "expires_at" not in doc
    claim = claim_of(venue)
    assert claim["expires_at"] is None and claim["booking_id"] == doc["_id"]
    assert notices(booking)[-1] == ("booking_confirmed", customer.user["email"])


def test_reject_frees_the_slots_and_tells_the_customer(client, customer, owner, venue):
    booking = booked(client, customer.headers, venue)
    rejected = ok_data(decide(client, owner.headers, booking, "rejected", reason="Closed"))[
        "booking"
    ]
    assert rejected["status"] == "rejected"
    assert rejected["refund"] == {"pct": 100, "amount": 0}
    assert_free(claim_of(venue))
    assert notices(booking)[-1] == ("booking_rejected", customer.user["email"])
