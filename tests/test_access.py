"""The foreign-resource matrix: nobody reaches a booking or a venue that is not theirs.

For every endpoint that takes a booking id, each outsider gets 404 (or 403 where the booking
is theirs to see but not to decide); for every venue endpoint that changes a venue, 403. The
database is exactly as it was afterwards.
"""

import pytest

from halls import db
from tests.helpers import assert_error, ok_data, today_plus

OUTSIDERS = ["other_customer", "other_owner", "fellow_booker"]

CALLS = {
    "read": ("get", "/bookings/{booking}", None),
    "confirm": ("patch", "/bookings/{booking}", {"status": "confirmed"}),
    "reject": ("patch", "/bookings/{booking}", {"status": "rejected", "reason": "mine now"}),
    "cancel": ("delete", "/bookings/{booking}?reason=gone", None),
    "update_venue": ("patch", "/venues/{venue}", {"venue_name": "Hijacked Hall"}),
    "delete_venue": ("delete", "/venues/{venue}", None),
}
BOOKING_CALLS = ["read", "confirm", "reject", "cancel"]
VENUE_CALLS = ["update_venue", "delete_venue"]

MATRIX = (
    [(call, who, 404, "booking_not_found") for call in BOOKING_CALLS for who in OUTSIDERS]
    + [
        # The booker may see and cancel their booking, but only the venue's owner decides it.
        ("confirm", "booker", 403, "not_venue_owner"),
        ("reject", "booker", 403, "not_venue_owner"),
    ]
    + [
        (call, who, 403, "not_venue_owner" if who == "other_owner" else "owner_required")
        for call in VENUE_CALLS
        for who in [*OUTSIDERS, "booker"]
    ]
)


@pytest.fixture
def world(client, make_user, make_venue, owner, customer):
    """A booking of customer at owner's venue, and people it does not belong to."""
    other_owner = make_user(owner=True)
    fellow = make_user()
    venue = make_venue(owner.user)
    make_venue(other_owner.user, venue_name="Elsewhere")

    def book(headers, date):
        body = {"venue_id": str(venue["_id"]), "date": date, "guests": 20}
        return ok_data(client.post("/bookings", json=body, headers=headers), 201)["booking"]

    booking = book(customer.headers, today_plus(3))
    book(fellow.headers, today_plus(4))  # the fellow booker has a booking of their own here
    return {
        "booking": booking,
        "venue": venue,
        "headers": {
            "booker": customer.headers,
            "owner": owner.headers,
            "other_customer": make_user().headers,
            "other_owner": other_owner.headers,
            "fellow_booker": fellow.headers,
        },
    }


def everything():
    return {
        name: list(collection().find().sort("_id"))
        for name, collection in (
            ("bookings", db.bookings),
            ("slot_claims", db.slot_claims),
            ("venues", db.venues),
        )
    }


def send(client, call, world, who):
    method, path, body = CALLS[call]
    url = path.format(booking=world["booking"]["id"], venue=world["venue"]["_id"])
    return getattr(client, method)(url, json=body, headers=world["headers"][who])


@pytest.mark.parametrize("state", ["pending", "confirmed"])
@pytest.mark.parametrize(("call", "who", "status", "code"), MATRIX)
def test_outsiders_cannot_reach_a_booking(client, world, state, call, who, status, code):
    if state == "confirmed":
        send(client, "confirm", world, "owner")
    before = everything()
    error = assert_error(send(client, call, world, who), status, code)
    assert error["details"] == {}
    assert everything() == before


@pytest.mark.parametrize("who", OUTSIDERS)
def test_outsiders_do_not_see_a_booking_in_their_lists(client, world, who):
    headers = world["headers"][who]
    for query in ("", "?mine=true", f"?venue_id={world['venue']['_id']}"):
        items = ok_data(client.get(f"/bookings{query}", headers=headers))["items"]
        assert world["booking"]["id"] not in {item["id"] for item in items}


@pytest.mark.parametrize("who", OUTSIDERS)
def test_outsiders_do_not_see_the_venue_among_their_own(client, world, who):
    response = client.get("/venues/mine", headers=world["headers"][who])
    if who == "other_owner":
        items = ok_data(response)["items"]
        assert str(world["venue"]["_id"]) not in {item["id"] for item in items}
    else:
        assert_error(response, 403, "owner_required")


@pytest.mark.parametrize("call", BOOKING_CALLS)
def test_the_matrix_is_not_vacuous_the_rightful_party_gets_through(client, world, call):
    """The same requests succeed for the venue's owner: the refusals above are about who."""
    response = send(client, call, world, "owner")
    assert ok_data(response)["booking"]["id"] == world["booking"]["id"]


def test_the_venue_owner_gets_past_the_venue_guards(client, world):
    venue = ok_data(send(client, "update_venue", world, "owner"))["venue"]
    assert venue["venue_name"] == "Hijacked Hall"
    # Deleting is refused for a reason that is not about who: the venue has bookings.
    assert_error(send(client, "delete_venue", world, "owner"), 409, "venue_has_bookings")


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("post", "/bookings", {"venue_id": {"$ne": ""}}),
        ("patch", "/bookings/x", {"status": "maybe"}),
        ("post", "/venues/register", {"nonsense": 1}),
        ("patch", "/auth/me", {"email": []}),
        ("post", "/uploads/sign-s3", {}),
    ],
)
def test_the_token_is_checked_before_the_body(client, method, path, body):
    """An anonymous caller learns nothing about validation: 401 comes first."""
    assert_error(getattr(client, method)(path, json=body), 401, "token_missing")


def test_owner_only_routes_refuse_customers_before_validating(client, customer):
    _, headers = customer
    response = client.post("/venues/register", json={"nonsense": 1}, headers=headers)
    assert_error(response, 403, "owner_required")
