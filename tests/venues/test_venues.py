"""Venues over HTTP: register, read, list mine, update, soft-delete; who may do what."""

import datetime as dt

import pytest
from bson import ObjectId

from halls import db
from halls.bookings import claims
from tests.helpers import (
    TWO_SLOTS,
    assert_error,
    hold_slot,
    ok_data,
    other_id,
    today_plus,
    venue_body,
)

LAHORE = {"type": "Point", "coordinates": [74.3587, 31.5204]}


def stored(venue):
    return db.venues().find_one({"_id": venue["_id"]})


# --- POST /venues/register ---------------------------------------------------------------


def test_register_stores_the_venue_with_defaults(client, owner):
    user, headers = owner
    data = ok_data(client.post("/venues/register", json=venue_body(), headers=headers), 201)
    venue = data["venue"]
    assert venue["venue_name"] == "Shalimar Banquet"
    assert venue["owner_id"] == str(user["_id"])
    assert venue["maps_location"] == LAHORE
    assert venue["slots"] == [
        {"key": "full_day", "label": "Full day", "start": "00:00", "end": "23:59"}
    ]
    assert venue["pricing"] == {"base_price": None, "overrides": []}
    assert (venue["timezone"], venue["currency"], venue["status"]) == (
        "Asia/Karachi",
        "PKR",
        "active",
    )
    assert venue["created_at"].endswith("Z")
    doc = db.venues().find_one({"_id": ObjectId(venue["id"])})
    assert doc["owner_id"] == user["_id"]
    assert doc["maps_location"] == LAHORE
    assert doc["currency"] == "PKR"
    assert doc["created_at"].tzinfo is not None


def test_register_accepts_every_optional_field(client, owner):
    _, headers = owner
    body = venue_body(
        venue_name="  Margalla Lawn ",
        maps_location={"type": "Point", "coordinates": [73.0551, 33.7215]},
        city="Islamabad",
        space_sqft=5200.5,
        amenities={"parking_valet": True, "sound_system": False},
        additional_description="Garden and hall.",
        pictures=["https://cdn.example.com/a.jpg"],
        videos=[{"url": "https://cdn.example.com/a.mp4", "size_mb": 25}],
        dates_available=[today_plus(3), today_plus(1), today_plus(3)],
        pricing={"base_price": 150000, "overrides": [{"date": today_plus(1), "price": 90000}]},
        slots=[
            {"key": "lunch", "label": "Lunch", "start": "12:00", "end": "16:00"},
            {"key": "dinner", "label": "Dinner", "start": "16:00", "end": "23:30"},
        ],
        timezone="Asia/Karachi",
        currency="PKR",
        status="inactive",
    )
    venue = ok_data(client.post("/venues/register", json=body, headers=headers), 201)["venue"]
    assert venue["venue_name"] == "Margalla Lawn"
    assert venue["dates_available"] == [today_plus(1), today_plus(3)]  # de-duplicated, sorted
    assert venue["pricing"]["overrides"] == [{"date": today_plus(1), "price": 90000}]
    assert [slot["key"] for slot in venue["slots"]] == ["lunch", "dinner"]
    doc = db.venues().find_one({"_id": ObjectId(venue["id"])})
    assert doc["maps_location"] == {"type": "Point", "coordinates": [73.0551, 33.7215]}
    assert doc["amenities"] == {"parking_valet": True, "sound_system": False}
    assert doc["status"] == "inactive"
    assert doc["videos"] == [{"url": "https://cdn.example.com/a.mp4", "size_mb": 25.0}]


def test_register_refuses_customers(client, customer):
    _, headers = customer
    response = client.post("/venues/register", json=venue_body(), headers=headers)
    assert_error(response, 403, "owner_required")
    assert db.venues().count_documents({}) == 0


def test_register_needs_a_token(client):
    assert_error(client.post("/venues/register", json=venue_body()), 401, "token_missing")
    assert db.venues().count_documents({}) == 0


def test_register_names_every_missing_field(client, owner):
    error = assert_error(
        client.post("/venues/register", json={}, headers=owner.headers), 422, "validation_failed"
    )
    assert set(error["details"]) == {"venue_name", "type", "address", "maps_location", "capacity"}


BAD_BODIES = {
    "capacity zero": {"capacity": 0},
    "capacity as text": {"capacity": "500"},
    "capacity true": {"capacity": True},
    "unknown type": {"type": "Castle"},
    "unknown field": {"owner_id": other_id()},
    "currency other than PKR": {"currency": "USD"},
    "latitude out of range": {"maps_location": {"lat": 91, "lng": 74}},
    "longitude out of range": {"maps_location": {"type": "Point", "coordinates": [181, 31]}},
    "not a point": {"maps_location": {"type": "Polygon", "coordinates": [74, 31]}},
    "three coordinates": {"maps_location": {"type": "Point", "coordinates": [74, 31, 5]}},
    "lat without lng": {"maps_location": {"lat": 31}},
    "location as text": {"maps_location": "31.5,74.3"},
    "coordinates as text": {"maps_location": {"lat": "31", "lng": "74"}},
    "http picture": {"pictures": ["http://cdn.example.com/a.jpg"]},
    "video over 25 MB": {"videos": [{"url": "https://cdn.example.com/a.mp4", "size_mb": 25.1}]},
    "video without https": {"videos": [{"url": "ftp://x.example.com/a.mp4", "size_mb": 2}]},
    "slot ends before it starts": {
        "slots": [{"key": "eve", "label": "Evening", "start": "20:00", "end": "18:00"}]
    },
    "slot without an end": {"slots": [{"key": "eve", "label": "Evening", "start": "20:00"}]},
    "slot time not HH:MM": {
        "slots": [{"key": "eve", "label": "Evening", "start": "18:00", "end": "24:00"}]
    },
    "overlapping slots": {
        "slots": [
            {"key": "lunch", "label": "Lunch", "start": "12:00", "end": "17:00"},
            {"key": "dinner", "label": "Dinner", "start": "16:00", "end": "23:00"},
        ]
    },
    "duplicate slot keys": {
        "slots": [
            {"key": "a", "label": "A", "start": "10:00", "end": "11:00"},
            {"key": "a", "label": "B", "start": "12:00", "end": "13:00"},
        ]
    },
    "no slots": {"slots": []},
    "slot key with a dollar": {
        "slots": [{"key": "$where", "label": "A", "start": "10:00", "end": "11:00"}]
    },
    "duplicate override dates": {
        "pricing": {
            "base_price": 1,
            "overrides": [{"date": "2031-01-01", "price": 1}, {"date": "2031-01-01", "price": 2}],
        }
    },
    "negative base price": {"pricing": {"base_price": -1}},
    "fractional base price": {"pricing": {"base_price": 100.5}},
    "override without price": {"pricing": {"overrides": [{"date": "2031-01-01"}]}},
    "unknown time zone": {"timezone": "Mars/Olympus_Mons"},
    "amenity with an operator name": {"amenities": {"$ne": True}},
    "amenity with a dot": {"amenities": {"a.b": True}},
    "amenity not a boolean": {"amenities": {"water": "yes"}},
    "bad date": {"dates_available": ["2031-02-30"]},
    "date in another format": {"dates_available": ["01/02/2031"]},
    "too many dates": {"dates_available": [today_plus(n) for n in range(800)]},
    "name over 120 characters": {"venue_name": "x" * 121},
    "empty name": {"venue_name": ""},
    "blank name": {"venue_name": "   "},
    "huge coordinate": {"maps_location": {"lat": 10**400, "lng": 74}},
    "huge floor area": {"space_sqft": 10**400},
    "huge capacity": {"capacity": 10**30},
    "description over 5000": {"additional_description": "x" * 5001},
    "status deleted": {"status": "deleted"},
    "operator instead of a name": {"venue_name": {"$ne": ""}},
    "operator instead of a capacity": {"capacity": {"$gt": 0}},
}


@pytest.mark.parametrize("fields", BAD_BODIES.values(), ids=BAD_BODIES.keys())
def test_register_refuses_bad_input(client, owner, fields):
    response = client.post("/venues/register", json=venue_body(**fields), headers=owner.headers)
    error = assert_error(response, 422, "validation_failed")
    assert error["details"]
    assert db.venues().count_documents({}) == 0


def test_register_refuses_malformed_json(client, owner):
    headers = {**owner.headers, "Content-Type": "application/json"}
    response = client.post("/venues/register", data="{not json", headers=headers)
    assert_error(response, 400, "malformed_json")
    assert db.venues().count_documents({}) == 0


def test_register_refuses_nan_and_infinity(client, owner):
    headers = {**owner.headers, "Content-Type": "application/json"}
    for number in ("NaN", "Infinity"):
        body = (
            '{"venue_name": "A", "type": "Hall", "address": "B", "capacity": 5,'
            f' "maps_location": {{"lat": {number}, "lng": 74}}}}'
        )
        response = client.post("/venues/register", data=body, headers=headers)
        assert "maps_location" in assert_error(response, 422, "validation_failed")["details"]
    assert db.venues().count_documents({}) == 0


# --- GET /venues/<id> ----------------------------------------------------------------------


def test_get_is_public(client, owner, make_venue):
    venue = make_venue(owner.user, venue_name="Open Lawn", status="inactive")
    data = ok_data(client.get(f"/venues/{venue['_id']}"))
    assert data["venue"]["id"] == str(venue["_id"])
    assert data["venue"]["venue_name"] == "Open Lawn"
    assert data["venue"]["status"] == "inactive"


@pytest.mark.parametrize("venue_id", [other_id(), "not-an-id", "1234"])
def test_get_unknown_or_malformed_id_is_404(client, venue_id):
    assert_error(client.get(f"/venues/{venue_id}"), 404, "venue_not_found")


def test_get_hides_deleted_venues(client, owner, make_venue):
    venue = make_venue(owner.user, status="deleted")
    assert_error(client.get(f"/venues/{venue['_id']}"), 404, "venue_not_found")


# --- GET /venues/mine ----------------------------------------------------------------------


def test_mine_lists_own_venues_newest_first(client, owner, make_user, make_venue):
    user, headers = owner
    other, _ = make_user(owner=True)
    first = make_venue(user, venue_name="First")
    second = make_venue(user, venue_name="Second", status="inactive")
    make_venue(user, venue_name="Gone", status="deleted")
    make_venue(other, venue_name="Not mine")
    data = ok_data(client.get("/venues/mine", headers=headers))
    assert [item["id"] for item in data["items"]] == [str(second["_id"]), str(first["_id"])]
    assert (data["page"], data["limit"], data["total"]) == (1, 20, 2)


def test_mine_pages(client, owner, make_venue):
    user, headers = owner
    ids = [str(make_venue(user, venue_name=f"V{n}")["_id"]) for n in range(5)]
    pages = [
        ok_data(client.get(f"/venues/mine?page={page}&limit=2", headers=headers))
        for page in (1, 2, 3)
    ]
    assert [len(page["items"]) for page in pages] == [2, 2, 1]
    assert {page["total"] for page in pages} == {5}
    seen = [item["id"] for page in pages for item in page["items"]]
    assert seen == list(reversed(ids))


def test_mine_is_for_owners(client, customer):
    assert_error(client.get("/venues/mine", headers=customer.headers), 403, "owner_required")


@pytest.mark.parametrize("query", ["limit=101", "page=0", "owner_id=x", "page[$gt]=1"])
def test_mine_refuses_bad_paging(client, owner, query):
    assert_error(
        client.get(f"/venues/mine?{query}", headers=owner.headers), 422, "validation_failed"
    )


# --- PATCH /venues/<id> --------------------------------------------------------------------


def test_patch_changes_only_the_fields_sent(client, owner, make_venue):
    user, headers = owner
    venue = make_venue(user)
    before = stored(venue)
    response = client.patch(
        f"/venues/{venue['_id']}",
        json={"venue_name": "Renamed", "capacity": 450, "maps_location": {"lat": 33, "lng": 73}},
        headers=headers,
    )
    data = ok_data(response)
    assert data["venue"]["venue_name"] == "Renamed"
    assert data["venue"]["capacity"] == 450
    doc = stored(venue)
    assert doc["venue_name"] == "Renamed"
    assert doc["maps_location"] == {"type": "Point", "coordinates": [73.0, 33.0]}
    assert doc["address"] == venue["address"]
    assert doc["pricing"] == venue["pricing"]
    assert doc["slots"] == venue["slots"]
    assert doc["updated_at"] >= before["updated_at"]
    assert doc["created_at"] == before["created_at"]


def test_patch_of_overrides_keeps_the_base_price(client, owner, make_venue):
    user, headers = owner
    venue = make_venue(user)
    overrides = [{"date": today_plus(2), "price": 70000}]
    response = client.patch(
        f"/venues/{venue['_id']}", json={"pricing": {"overrides": overrides}}, headers=headers
    )
    assert ok_data(response)["venue"]["pricing"] == {"base_price": 100000, "overrides": overrides}
    assert stored(venue)["pricing"] == {"base_price": 100000, "overrides": overrides}


def test_patch_can_clear_the_base_price_and_hide_the_venue(client, owner, make_venue):
    user, headers = owner
    venue = make_venue(user)
    body = {"pricing": {"base_price": None}, "status": "inactive"}
    ok_data(client.patch(f"/venues/{venue['_id']}", json=body, headers=headers))
    doc = stored(venue)
    assert doc["pricing"] == {"base_price": None, "overrides": []}
    assert doc["status"] == "inactive"


def test_patch_by_another_owner_is_403_and_changes_nothing(client, owner, make_user, make_venue):
    venue = make_venue(owner.user)
    _, intruder = make_user(owner=True)
    before = stored(venue)
    response = client.patch(
        f"/venues/{venue['_id']}", json={"venue_name": "Mine"}, headers=intruder
    )
    assert_error(response, 403, "not_venue_owner")
    assert stored(venue) == before


def test_patch_by_a_customer_is_403(client, owner, customer, make_venue):
    venue = make_venue(owner.user)
    response = client.patch(
        f"/venues/{venue['_id']}", json={"venue_name": "X"}, headers=customer.headers
    )
    assert_error(response, 403, "owner_required")
    assert stored(venue)["venue_name"] == "Test Hall"


def test_patch_without_a_token_is_401(client, owner, make_venue):
    venue = make_venue(owner.user)
    assert_error(
        client.patch(f"/venues/{venue['_id']}", json={"capacity": 1}), 401, "token_missing"
    )
    assert stored(venue)["capacity"] == 300


@pytest.mark.parametrize("venue_id", [other_id(), "nope"])
def test_patch_of_unknown_venue_is_404(client, owner, venue_id):
    response = client.patch(f"/venues/{venue_id}", json={"capacity": 10}, headers=owner.headers)
    assert_error(response, 404, "venue_not_found")


def test_patch_of_deleted_venue_is_404(client, owner, make_venue):
    venue = make_venue(owner.user, status="deleted")
    response = client.patch(f"/venues/{venue['_id']}", json={"capacity": 10}, headers=owner.headers)
    assert_error(response, 404, "venue_not_found")
    assert stored(venue)["capacity"] == 300


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"capacity": -5},
        {"owner_id": other_id()},
        {"status": "deleted"},
        {"currency": "EUR"},
        {"venue_name": None},
        {"slots": [{"key": "x", "label": "X", "start": "10:00"}]},
        {"pricing": {"overrides": [{"date": "2031-01-01"}]}},
        {"maps_location": {"lat": 95, "lng": 10}},
    ],
    ids=lambda body: str(body)[:40],
)
def test_patch_refuses_bad_input_and_changes_nothing(client, owner, make_venue, body):
    user, headers = owner
    venue = make_venue(user)
    before = stored(venue)
    assert_error(
        client.patch(f"/venues/{venue['_id']}", json=body, headers=headers),
        422,
        "validation_failed",
    )
    assert stored(venue) == before


def test_patch_refuses_to_remove_a_date_a_booking_holds(client, owner, make_venue):
    user, headers = owner
    venue = make_venue(user)
    held_date = today_plus(2)
    hold_slot(venue, held_date)
    before = stored(venue)
    remaining = [date for date in venue["dates_available"] if date != held_date]
    response = client.patch(
        f"/venues/{venue['_id']}", json={"dates_available": remaining}, headers=headers
    )
    error = assert_error(response, 409, "date_in_use")
    assert error["context"] == {"dates": [held_date]}
    assert stored(venue) == before


def test_patch_may_remove_dates_nobody_holds(client, owner, make_venue):
    user, headers = owner
    venue = make_venue(user)
    hold_slot(venue, today_plus(2))
    booking = hold_slot(venue, today_plus(3))
    claims.release_claims(booking)  # a cancelled booking no longer holds its date
    keep = [today_plus(1), today_plus(2)]
    response = client.patch(
        f"/venues/{venue['_id']}", json={"dates_available": keep}, headers=headers
    )
    assert ok_data(response)["venue"]["dates_available"] == keep
    assert stored(venue)["dates_available"] == keep


def test_patch_refuses_to_remove_a_slot_a_booking_holds(client, owner, make_venue):
    user, headers = owner
    slots = TWO_SLOTS
    venue = make_venue(user, slots=slots)
    hold_slot(venue, today_plus(5), "dinner")
    before = stored(venue)
    response = client.patch(f"/venues/{venue['_id']}", json={"slots": slots[:1]}, headers=headers)
    error = assert_error(response, 409, "slot_in_use")
    assert error["context"] == {"slots": ["dinner"]}
    assert stored(venue) == before
    # Keeping the held slot and retiming it is fine.
    retimed = [slots[0], {**slots[1], "start": "19:00"}]
    ok_data(client.patch(f"/venues/{venue['_id']}", json={"slots": retimed}, headers=headers))
    assert stored(venue)["slots"] == retimed


def test_patch_may_remove_a_slot_held_only_in_the_past(client, owner, make_venue):
    user, headers = owner
    slots = TWO_SLOTS
    venue = make_venue(user, slots=slots, dates_available=[today_plus(-3), today_plus(3)])
    hold_slot(venue, today_plus(-3), "dinner")
    response = client.patch(f"/venues/{venue['_id']}", json={"slots": slots[:1]}, headers=headers)
    assert [slot["key"] for slot in ok_data(response)["venue"]["slots"]] == ["lunch"]


# --- DELETE /venues/<id> -------------------------------------------------------------------


def add_booking(venue, user, date, status):
    now = dt.datetime.now(dt.UTC)
    booking = {
        "venue_id": venue["_id"],
        "user_id": user["_id"],
        "date": date,
        "slot": "full_day",
        "status": status,
        "created_at": now,
        "updated_at": now,
    }
    return db.bookings().insert_one(booking).inserted_id


def test_delete_soft_deletes_and_hides_the_venue(client, owner, customer, make_venue):
    user, headers = owner
    venue = make_venue(user)
    add_booking(venue, customer.user, today_plus(-2), "confirmed")  # past: no obstacle
    add_booking(venue, customer.user, today_plus(4), "cancelled")
    add_booking(venue, customer.user, today_plus(5), "rejected")
    data = ok_data(client.delete(f"/venues/{venue['_id']}", headers=headers))
    assert data["venue"]["status"] == "deleted"
    assert data["venue"]["deleted_at"].endswith("Z")
    doc = stored(venue)
    assert doc["status"] == "deleted"
    assert doc["deleted_at"].tzinfo is not None
    assert db.venues().count_documents({}) == 1  # kept, only marked
    assert_error(client.get(f"/venues/{venue['_id']}"), 404, "venue_not_found")
    assert ok_data(client.get("/venues/search"))["total"] == 0
    assert_error(client.delete(f"/venues/{venue['_id']}", headers=headers), 404, "venue_not_found")


@pytest.mark.parametrize("status", ["pending", "confirmed"])
@pytest.mark.parametrize("days", [0, 10])
def test_delete_refuses_while_bookings_are_upcoming(
    client, owner, customer, make_venue, status, days
):
    user, headers = owner
    venue = make_venue(user)
    add_booking(venue, customer.user, today_plus(days), status)
    before = stored(venue)
    assert_error(
        client.delete(f"/venues/{venue['_id']}", headers=headers), 409, "venue_has_bookings"
    )
    assert stored(venue) == before


def test_delete_by_another_owner_is_403_and_changes_nothing(client, owner, make_user, make_venue):
    venue = make_venue(owner.user)
    _, intruder = make_user(owner=True)
    before = stored(venue)
    assert_error(client.delete(f"/venues/{venue['_id']}", headers=intruder), 403, "not_venue_owner")
    assert stored(venue) == before


def test_delete_by_a_customer_is_403(client, owner, customer, make_venue):
    venue = make_venue(owner.user)
    assert_error(
        client.delete(f"/venues/{venue['_id']}", headers=customer.headers), 403, "owner_required"
    )
    assert stored(venue)["status"] == "active"


@pytest.mark.parametrize("venue_id", [other_id(), "zzz"])
def test_delete_of_unknown_venue_is_404(client, owner, venue_id):
    assert_error(
        client.delete(f"/venues/{venue_id}", headers=owner.headers), 404, "venue_not_found"
    )


def test_venue_routes_are_documented(client):
    spec = client.get("/openapi.json").get_json()
    for path in (
        "/venues/register",
        "/venues/mine",
        "/venues/search",
        "/venues/{venue_id}",
        "/venues/{venue_id}/availability",
    ):
        assert path in spec["paths"]
    assert set(spec["paths"]["/venues/{venue_id}"]) >= {"get", "patch", "delete"}
