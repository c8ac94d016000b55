"""POST /bookings with several slots, add-ons and an expected total: all or nothing."""

import pytest

from halls import db
from tests.bookings.helpers import (
    THREE_SLOTS,
    assert_free,
    assert_held_by,
    book,
    booked,
    claim_of,
    nothing_written,
    snapshot,
    stored,
)
from tests.helpers import assert_error, today_plus

PRICE = 100000
ADDONS = [
    {"key": "catering", "name": "Catering", "price": 1500, "unit": "per_guest", "max_qty": None},
    {"key": "stage", "name": "Stage", "price": 20000, "unit": "per_event", "max_qty": 2},
]


@pytest.fixture
def venue(make_venue, owner):
    return make_venue(owner.user, slots=THREE_SLOTS, addons=ADDONS)


def slot_line(slot, amount=PRICE):
    return {
        "kind": "slot",
        "key": slot["key"],
        "label": slot["label"],
        "unit_price": amount,
        "qty": 1,
        "amount": amount,
    }


def test_several_slots_are_one_booking_in_the_venues_slot_order(client, customer, venue):
    booking = booked(client, customer.headers, venue, slots=["evening", "morning"])

    assert booking["slots"] == ["morning", "evening"]
    assert booking["slot"] == "morning"
    assert booking["slot_details"] == [THREE_SLOTS[0], THREE_SLOTS[2]]
    assert booking["slot_detail"] == THREE_SLOTS[0]
    assert booking["price_breakdown"] == {
        "lines": [slot_line(THREE_SLOTS[0]), slot_line(THREE_SLOTS[2])],
        "subtotal": 2 * PRICE,
        "total": 2 * PRICE,
        "currency": "PKR",
    }
    doc = stored(booking)
    assert doc["slots"] == ["morning", "evening"] and doc["slot"] == "morning"
    for key in ("morning", "evening"):
        assert_held_by(claim_of(venue, slot=key), booking["id"])
    assert claim_of(venue, slot="afternoon") is None
    assert db.slot_claims().count_documents({}) == 2


def test_a_full_day_is_every_slot_and_then_no_slot_is_free(client, customer, make_user, venue):
    every = [slot["key"] for slot in THREE_SLOTS]
    booking = booked(client, customer.headers, venue, slots=every)
    assert booking["price_locked"] == 3 * PRICE
    before = snapshot()
    for key in every:
        error = assert_error(book(client, make_user().headers, venue, slot=key), 409, "slot_taken")
        assert error["context"] == {"date": today_plus(3), "slots": [key]}
    assert snapshot() == before


def test_one_taken_slot_refuses_all_and_names_the_taken_ones(client, customer, make_user, venue):
    first = booked(client, customer.headers, venue, slots=["afternoon", "evening"])
    before = snapshot()

    response = book(client, make_user().headers, venue, slots=["morning", "afternoon", "evening"])
    error = assert_error(response, 409, "slot_taken")
    assert error["context"] == {"date": today_plus(3), "slots": ["afternoon", "evening"]}
    # The morning was claimed on the way and released before the answer.
    assert_free(claim_of(venue, slot="morning"))
    assert db.bookings().count_documents({}) == 1
    assert_held_by(claim_of(venue, slot="afternoon"), first["id"])
    assert_held_by(claim_of(venue, slot="evening"), first["id"])
    assert snapshot()[0] == before[0]

    # The morning alone is bookable straight away.
    morning = booked(client, make_user().headers, venue, slots=["morning"])
    assert_held_by(claim_of(venue, slot="morning"), morning["id"])


def test_cancelling_frees_every_slot(client, customer, make_user, venue):
    booking = booked(client, customer.headers, venue, slots=["morning", "evening"])
    client.delete(f"/bookings/{booking['id']}", headers=customer.headers)
    for key in ("morning", "evening"):
        assert_free(claim_of(venue, slot=key))
    again = booked(client, make_user().headers, venue, slots=["morning", "evening"])
    assert stored(again)["status"] == "pending"


def test_slot_alone_still_works_as_does_a_single_slot_venue(client, customer, make_venue, owner):
    venue = make_venue(owner.user)
    booking = booked(client, customer.headers, venue)
    assert booking["slots"] == ["full_day"] and booking["slot"] == "full_day"
    other = make_venue(owner.user, slots=THREE_SLOTS)
    assert booked(client, customer.headers, other, slot="evening")["slots"] == ["evening"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"slots": []}, "slots"),
        ({"slots": ["morning", "morning"]}, "slots"),
        ({"slots": ["morning", "brunch"]}, "slots"),
        ({"slots": "morning"}, "slots"),
        ({"slots": [{"$ne": ""}]}, "slots"),
        ({"slots": ["morning"], "slot": "morning"}, "slots"),
        ({"slots": [f"s{n}" for n in range(25)]}, "slots"),
        ({}, "slots"),
        ({"slots": ["morning"], "expected_total": -1}, "expected_total"),
        ({"slots": ["morning"], "expected_total": "100000"}, "expected_total"),
        ({"slots": ["morning"], "payment_method": "cash"}, "payment_method"),
    ],
)
def test_bad_slot_lists_are_refused_and_nothing_is_claimed(client, customer, venue, body, field):
    error = assert_error(book(client, customer.headers, venue, **body), 422, "validation_failed")
    assert field in error["details"]
    assert nothing_written()


# Add-ons and the expected total -----------------------------------------------------------


def test_add_ons_are_priced_and_locked_with_the_booking(client, customer, owner, venue):
    addons = [{"key": "catering"}, {"key": "stage", "qty": 2}]
    booking = booked(client, customer.headers, venue, slots=["evening"], guests=80, addons=addons)

    assert booking["addons"] == [{"key": "catering", "qty": 80}, {"key": "stage", "qty": 2}]
    lines = booking["price_breakdown"]["lines"]
    assert lines[1:] == [
        {
            "kind": "addon",
            "key": "catering",
            "label": "Catering",
            "unit_price": 1500,
            "qty": 80,
            "amount": 120000,
        },
        {
            "kind": "addon",
            "key": "stage",
            "label": "Stage",
            "unit_price": 20000,
            "qty": 2,
            "amount": 40000,
        },
    ]
    assert booking["price_locked"] == PRICE + 120000 + 40000
    assert stored(booking)["price_locked"] == booking["price_locked"]

    # The owner reprices and removes add-ons: the booking keeps what it was sold at.
    db.venues().update_one({"_id": venue["_id"]}, {"$set": {"addons": [], "pricing.base_price": 1}})
    again = client.get(f"/bookings/{booking['id']}", headers=customer.headers).get_json()
    assert again["data"]["booking"]["price_locked"] == booking["price_locked"]


@pytest.mark.parametrize(
    "addons",
    [
        [{"key": "piano"}],
        [{"key": "stage", "qty": 3}],
        [{"key": "catering", "qty": 81}],
        [{"key": "stage"}, {"key": "stage"}],
        [{"key": "stage", "qty": 0}],
        [{"key": "stage", "extra": 1}],
    ],
)
def test_bad_add_ons_are_refused_and_nothing_is_claimed(client, customer, venue, addons):
    response = book(client, customer.headers, venue, slots=["evening"], guests=80, addons=addons)
    assert "addons" in assert_error(response, 422, "validation_failed")["details"]
    assert nothing_written()


def test_the_expected_total_must_match_the_quote(client, customer, venue):
    body = {"slots": ["morning", "evening"], "addons": [{"key": "stage"}]}
    total = 2 * PRICE + 20000
    response = book(client, customer.headers, venue, expected_total=total - 1, **body)
    error = assert_error(response, 409, "price_changed")
    assert error["context"]["quote"]["total"] == total
    assert error["context"]["quote"]["lines"][-1]["key"] == "stage"
    assert nothing_written()

    booking = booked(client, customer.headers, venue, expected_total=total, **body)
    assert booking["price_locked"] == total


def test_a_price_change_after_the_quote_is_caught(client, customer, venue):
    quote = client.get(
        f"/venues/{venue['_id']}/quote?date={today_plus(3)}&slots=evening&guests=10"
    ).get_json()["data"]
    db.venues().update_one({"_id": venue["_id"]}, {"$set": {"pricing.base_price": PRICE + 5000}})
    response = book(
        client, customer.headers, venue, slots=["evening"], expected_total=quote["total"]
    )
    error = assert_error(response, 409, "price_changed")
    assert error["context"]["quote"]["total"] == PRICE + 5000
    assert nothing_written()
