"""What every /bookings route shares: a bearer token, and its place in the OpenAPI."""

import pytest

from tests.bookings.helpers import booked, snapshot
from tests.helpers import assert_error


@pytest.mark.parametrize("method", ["get", "patch", "delete"])
def test_every_booking_route_needs_a_token(client, customer, venue, method):
    booking = booked(client, customer.headers, venue)
    before = snapshot()
    response = getattr(client, method)(f"/bookings/{booking['id']}", json={"status": "rejected"})
    assert_error(response, 401, "token_missing")
    assert snapshot() == before


def test_bookings_are_documented(client):
    spec = client.get("/openapi.json").get_json()
    assert {"post", "get"} <= set(spec["paths"]["/bookings"])
    assert {"get", "patch", "delete"} <= set(spec["paths"]["/bookings/{booking_id}"])
    schemas = spec["components"]["schemas"]
    assert "BookingIn" in schemas and "BookingOut" in schemas
