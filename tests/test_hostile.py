"""Fixed hostile inputs: each is answered in the envelope with the right 4xx, nothing written."""

import json

import pytest

from halls import db
from tests.helpers import assert_error, ok_data, today_plus, venue_body


@pytest.mark.parametrize("depth", [1000, 100_000])
def test_deeply_nested_json_is_refused(client, owner, depth):
    _, headers = owner
    body = '{"venue_name": ' + "[" * depth + "]" * depth + "}"
    response = client.post(
        "/venues/register", data=body, content_type="application/json", headers=headers
    )
    assert response.status_code in (400, 422), response.get_json()
    assert response.get_json()["ok"] is False
    assert db.venues().count_documents({}) == 0


@pytest.mark.parametrize(
    "raw",
    [
        b'{"venue_name": "\xff\xfe"}',
        b"\xef\xbb\xbf{}\x80",
        '{"a": "\ud800"}'.encode("utf-8", "surrogatepass"),
    ],
)
def test_non_utf8_bodies_are_400(client, owner, raw):
    _, headers = owner
    response = client.post(
        "/venues/register", data=raw, content_type="application/json", headers=headers
    )
    assert response.status_code in (400, 422), response.get_json()
    assert response.get_json()["ok"] is False
    assert db.venues().count_documents({}) == 0


@pytest.mark.parametrize(
    "changes",
    [
        {"capacity": 10**400},
        {"capacity": 2**63},
        {"capacity": 1e308},
        {"capacity": -1},
        {"space_sqft": 1e400},
        {"pricing": {"base_price": 10**30}},
        {"maps_location": {"lat": 1e400, "lng": 0}},
    ],
    ids=["400-digit", "int64-overflow", "huge-float", "negative", "inf", "price", "lat"],
)
def test_huge_numbers_are_422(client, owner, changes):
    _, headers = owner
    body = json.dumps(venue_body(**changes)).replace("Infinity", "1e400")
    response = client.post(
        "/venues/register", data=body, content_type="application/json", headers=headers
    )
    assert_error(response, 422, "validation_failed")
    assert db.venues().count_documents({}) == 0


IMPOSSIBLE_DATES = ["2025-02-30", "2026-13-01", "2026-1-5", "26-01-05", "", "null"]
# Other ISO 8601 spellings of a real day (basic, week, with a time, other digits): only
# YYYY-MM-DD itself is a date here.
IMPOSSIBLE_DATES += ["20260105", "2026-W02-1", "2026-01-05T00:00", "٢٠٢٦-٠١-٠٥", "+2026-01-05"]


@pytest.mark.parametrize("date", IMPOSSIBLE_DATES)
def test_impossible_dates_are_422_everywhere(client, owner, customer, make_venue, date):
    owner_user, headers = owner
    venue = make_venue(owner_user)
    assert_error(
        client.get(f"/venues/{venue['_id']}/availability?date={date}"), 422, "validation_failed"
    )
    assert_error(client.get(f"/venues/search?date={date}"), 422, "validation_failed")
    response = client.post(
        "/bookings",
        json={"venue_id": str(venue["_id"]), "date": date, "guests": 10},
        headers=customer.headers,
    )
    assert_error(response, 422, "validation_failed")
    assert db.bookings().count_documents({}) == 0


def test_unicode_names_round_trip(client, owner):
    _, headers = owner
    name = "شادی ہال 🎉 Ünïcødé"
    venue = ok_data(
        client.post("/venues/register", json=venue_body(venue_name=name), headers=headers), 201
    )["venue"]
    assert venue["venue_name"] == name
    assert db.venues().find_one()["venue_name"] == name
    found = ok_data(client.get("/venues/search", query_string={"q": "ہال 🎉"}))
    assert [item["id"] for item in found["items"]] == [venue["id"]]


@pytest.mark.parametrize(
    "changes",
    [
        {"dates_available": ["2030-01-01"] * 10_000},
        {"pictures": ["https://example.com/a.jpg"] * 10_000},
        {"amenities": {f"a{i}": True for i in range(10_000)}},
    ],
    ids=["dates", "pictures", "amenities"],
)
def test_ten_thousand_item_arrays_are_refused(client, owner, changes):
    _, headers = owner
    response = client.post("/venues/register", json=venue_body(**changes), headers=headers)
    assert_error(response, 422, "validation_failed")
    assert db.venues().count_documents({}) == 0


@pytest.mark.parametrize(
    "garbage",
    [
        "000000000000000000000000",
        "ffffffffffffffffffffffff",
        "5f" * 12,
        "zzzzzzzzzzzzzzzzzzzzzzzz",
        "5f00000000000000000000001",
        "%00",
    ],
)
def test_object_id_shaped_garbage_is_404_not_500(client, customer, owner, garbage):
    assert_error(client.get(f"/venues/{garbage}"), 404, "venue_not_found")
    assert_error(
        client.get(f"/venues/{garbage}/availability?date={today_plus(2)}"), 404, "venue_not_found"
    )
    assert_error(
        client.get(f"/bookings/{garbage}", headers=customer.headers), 404, "booking_not_found"
    )
    assert_error(
        client.delete(f"/bookings/{garbage}", headers=customer.headers), 404, "booking_not_found"
    )
    assert_error(
        client.patch(f"/venues/{garbage}", json={"capacity": 5}, headers=owner.headers),
        404,
        "venue_not_found",
    )


def test_object_id_shaped_garbage_in_bodies_is_422(client, customer):
    for venue_id in ("zzzzzzzzzzzzzzzzzzzzzzzz", 12, None, ["5f" * 12], {"$oid": "5f" * 12}):
        response = client.post(
            "/bookings",
            json={"venue_id": venue_id, "date": today_plus(3), "guests": 10},
            headers=customer.headers,
        )
        assert_error(response, 422, "validation_failed")
    assert db.bookings().count_documents({}) == 0


def test_path_traversal_in_an_id_is_a_plain_404(client):
    response = client.get("/venues/..%2F..%2Fetc%2Fpasswd")
    assert response.status_code == 404
    assert response.get_json()["ok"] is False
