"""GET /venues/<id>/quote: the price line by line without booking, and whether it is free now."""

import datetime as dt

import pytest

from halls import db
from tests.helpers import (
    CATERING,
    DECOR,
    SOUND,
    TWO_SLOTS,
    assert_error,
    hold_slot,
    ok_data,
    other_id,
    today_plus,
)

DAY = today_plus(5)
ADDONS = [CATERING, DECOR, SOUND]


@pytest.fixture
def venue(owner, make_venue):
    return make_venue(
        owner.user,
        slots=TWO_SLOTS,
        addons=ADDONS,
        pricing={"base_price": 100000, "overrides": [{"date": DAY, "price": 90000}]},
    )


def quote(client, venue, query):
    return client.get(f"/venues/{venue['_id']}/quote?{query}")


def line(kind, key, label, unit_price, qty, amount):
    names = ("kind", "key", "label", "unit_price", "qty", "amount")
    return dict(zip(names, (kind, key, label, unit_price, qty, amount), strict=True))


def test_the_whole_breakdown(client, venue):
    before = dt.datetime.now(dt.UTC)
    query = f"date={DAY}&slots=dinner,lunch&guests=150&addons=catering,decor:1,sound:2"
    data = ok_data(quote(client, venue, query))
    valid_until = dt.datetime.fromisoformat(data.pop("valid_until").replace("Z", "+00:00"))
    assert data == {
        "venue_id": str(venue["_id"]),
        "date": DAY,
        "guests": 150,
        "slots": TWO_SLOTS,  # in the venue's order, whatever order they were asked in
        "lines": [
            line("slot", "lunch", "Lunch", 90000, 1, 90000),
            line("slot", "dinner", "Dinner", 90000, 1, 90000),
            line("addon", "catering", "Catering", 2500, 150, 375000),
            line("addon", "decor", "Stage decor", 40000, 1, 40000),
            line("addon", "sound", "Sound system", 15000, 2, 30000),
        ],
        "subtotal": 625000,
        "total": 625000,
        "currency": "PKR",
        "available": True,
        "unavailable_slots": [],
    }
    # 15 minutes from the request, to the millisecond the API shows.
    window = dt.timedelta(minutes=15)
    assert before + window - dt.timedelta(milliseconds=1) <= valid_until
    assert valid_until <= dt.datetime.now(dt.UTC) + window


def test_a_quote_writes_nothing(client, venue):
    kept = db.venues().find_one({"_id": venue["_id"]})
    ok_data(quote(client, venue, f"date={DAY}&slots=lunch&guests=10&addons=decor"))
    assert db.venues().find_one({"_id": venue["_id"]}) == kept
    assert db.slot_claims().count_documents({}) == 0
    assert db.bookings().count_documents({}) == 0


def test_a_one_slot_venue_needs_no_slots_and_a_plain_day_has_the_base_price(
    client, owner, make_venue
):
    plain = make_venue(owner.user)
    data = ok_data(quote(client, plain, f"date={DAY}&guests=20"))
    assert data["lines"] == [line("slot", "full_day", "Full day", 100000, 1, 100000)]
    assert data["total"] == 100000
    assert data["available"] is True


def test_a_per_guest_add_on_may_cover_fewer_guests(client, venue):
    data = ok_data(quote(client, venue, f"date={DAY}&slots=lunch&guests=150&addons=catering:100"))
    assert data["lines"][1] == line("addon", "catering", "Catering", 2500, 100, 250000)


def test_a_held_slot_is_priced_but_not_available(client, venue):
    hold_slot(venue, DAY, "dinner")
    data = ok_data(quote(client, venue, f"date={DAY}&slots=lunch,dinner&guests=10"))
    assert data["total"] == 180000
    assert data["available"] is False
    assert data["unavailable_slots"] == [{"key": "dinner", "reason": "slot_taken"}]
    free = ok_data(quote(client, venue, f"date={DAY}&slots=lunch&guests=10"))
    assert (free["available"], free["unavailable_slots"]) == (True, [])


def test_the_quote_gives_the_availability_reasons(client, owner, make_venue):
    blackout = {"id": "b1", "date": DAY, "slots": ["dinner"], "reason": "Maintenance"}
    closed = make_venue(owner.user, slots=TWO_SLOTS, blackouts=[blackout])
    data = ok_data(quote(client, closed, f"date={DAY}&slots=lunch,dinner&guests=10"))
    assert data["unavailable_slots"] == [{"key": "dinner", "reason": "blacked_out"}]
    offered_not = today_plus(40)
    data = ok_data(quote(client, closed, f"date={offered_not}&slots=lunch&guests=10"))
    assert data["unavailable_slots"] == [{"key": "lunch", "reason": "date_unavailable"}]
    assert data["total"] == 100000  # the price is still shown


def test_an_inactive_venue_is_quoted_but_not_available(client, owner, make_venue):
    inactive = make_venue(owner.user, status="inactive")
    data = ok_data(quote(client, inactive, f"date={DAY}&guests=10"))
    assert data["available"] is False
    assert data["unavailable_slots"] == [{"key": "full_day", "reason": "venue_inactive"}]


def test_no_price_for_the_date_is_a_conflict(client, owner, make_venue):
    unpriced = make_venue(owner.user, pricing={"base_price": None, "overrides": []})
    error = assert_error(quote(client, unpriced, f"date={DAY}&guests=10"), 409, "no_price_for_date")
    assert error["context"] == {"date": DAY}


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("guests=10", "date"),
        (f"date={DAY}", "guests"),
        ("date=2030-02-30&guests=10", "date"),
        (f"date={DAY}&guests=0", "guests"),
        (f"date={DAY}&guests=ten", "guests"),
        (f"date={DAY}&guests=10&slots=", "slots"),
        (f"date={DAY}&guests=10&slots=Lunch", "slots"),
        (f"date={DAY}&guests=10&slots=lunch;dinner", "slots"),
        (f"date={DAY}&guests=10&addons=decor:one", "addons"),
        (f"date={DAY}&guests=10&addons=decor:", "addons"),
        (f"date={DAY}&guests=10&addons=:2", "addons"),
        (f"date={DAY}&guests=10&addons=$ne:1", "addons"),
        (f"date={DAY}&guests=10&addons=decor:99999999999", "addons"),
        (f"date={DAY}&guests=10&slot=lunch", "slot"),
        (f"date={DAY}&guests=10&slots[$ne]=x", "slots[$ne]"),
    ],
)
def test_malformed_queries_are_422(client, venue, query, field):
    error = assert_error(quote(client, venue, query), 422, "validation_failed")
    assert field in error["details"]


def test_slots_must_be_chosen_at_a_venue_with_several(client, venue):
    error = assert_error(quote(client, venue, f"date={DAY}&guests=10"), 422, "validation_failed")
    assert error["context"]["known_slots"] == ["lunch", "dinner"]
    error = assert_error(
        quote(client, venue, f"date={DAY}&guests=10&slots=lunch,brunch"), 422, "validation_failed"
    )
    assert "brunch" in error["details"]["slots"][0]


def test_bad_add_on_choices_are_named_one_by_one(client, venue):
    query = f"date={DAY}&slots=lunch&guests=50&addons=catering:51,decor:2,sound:0,fireworks"
    error = assert_error(quote(client, venue, query), 422, "validation_failed")
    assert set(error["details"]["addons"]) == {"catering", "decor", "sound", "fireworks"}
    assert error["context"]["known_addons"] == ["catering", "decor", "sound"]


def test_guests_over_capacity_are_422(client, venue):
    error = assert_error(
        quote(client, venue, f"date={DAY}&slots=lunch&guests=301"), 422, "validation_failed"
    )
    assert error["context"]["capacity"] == 300


@pytest.mark.parametrize("venue_id", [other_id(), "not-an-id"])
def test_an_unknown_venue_is_404(client, venue_id):
    response = client.get(f"/venues/{venue_id}/quote?date={DAY}&guests=10")
    assert_error(response, 404, "venue_not_found")


def test_a_deleted_venue_is_404(client, venue):
    db.venues().update_one({"_id": venue["_id"]}, {"$set": {"status": "deleted"}})
    assert_error(quote(client, venue, f"date={DAY}&slots=lunch&guests=10"), 404, "venue_not_found")


def test_a_new_price_shows_in_the_next_quote(client, owner, venue):
    _, headers = owner
    query = f"date={DAY}&slots=lunch&guests=10&addons=decor"
    assert ok_data(quote(client, venue, query))["total"] == 90000 + 40000
    path = f"/venues/{venue['_id']}/addons/decor"
    ok_data(client.patch(path, json={"price": 50000}, headers=headers))
    assert ok_data(quote(client, venue, query))["total"] == 90000 + 50000
