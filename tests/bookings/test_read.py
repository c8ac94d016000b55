"""GET /bookings and GET /bookings/<id>: who sees which bookings, filtered and paged."""

import pytest

from halls import db
from tests.bookings.helpers import SLOTS, booked, listed
from tests.helpers import assert_error, ok_data, other_id, today_plus

# GET /bookings ----------------------------------------------------------------------------


@pytest.fixture
def scene(client, make_user, make_venue, owner, customer):
    """Two owners with a venue each, two customers, and bookings between them."""
    other_owner = make_user(owner=True)
    other_customer = make_user()
    hall = make_venue(owner.user, venue_name="Hall A")
    lawn = make_venue(other_owner.user, venue_name="Lawn B", slots=SLOTS)
    made = {
        "c1_hall": booked(client, customer.headers, hall, date=today_plus(2)),
        "c2_hall": booked(client, other_customer.headers, hall, date=today_plus(4)),
        "c1_lawn": booked(client, customer.headers, lawn, date=today_plus(6), slot="morning"),
        "owner_lawn": booked(client, owner.headers, lawn, date=today_plus(6), slot="evening"),
    }
    return {
        "owner": owner,
        "other_owner": other_owner,
        "customer": customer,
        "other_customer": other_customer,
        "hall": hall,
        "lawn": lawn,
        "made": made,
    }


def ids(page):
    return [item["id"] for item in page["items"]]


def test_customers_see_their_own_bookings_newest_first(client, scene):
    made = scene["made"]
    page = listed(client, scene["customer"].headers)
    assert ids(page) == [made["c1_lawn"]["id"], made["c1_hall"]["id"]]
    assert page["total"] == 2 and page["page"] == 1 and page["limit"] == 20
    assert ids(listed(client, scene["other_customer"].headers)) == [made["c2_hall"]["id"]]
    # mine=true changes nothing for a customer.
    assert ids(listed(client, scene["customer"].headers, "?mine=true")) == ids(page)


def test_owners_see_their_venues_bookings_or_with_mine_their_own(client, scene):
    made = scene["made"]
    owner_page = listed(client, scene["owner"].headers)
    assert ids(owner_page) == [made["c2_hall"]["id"], made["c1_hall"]["id"]]
    assert ids(listed(client, scene["owner"].headers, "?mine=true")) == [made["owner_lawn"]["id"]]
    other = listed(client, scene["other_owner"].headers)
    assert ids(other) == [made["owner_lawn"]["id"], made["c1_lawn"]["id"]]
    assert listed(client, scene["other_owner"].headers, "?mine=false")["total"] == 2
    assert listed(client, scene["other_owner"].headers, "?mine=true")["total"] == 0


def test_list_filters(client, scene):
    made, owner = scene["made"], scene["other_owner"].headers
    lawn, hall = scene["lawn"], scene["hall"]
    client.delete(f"/bookings/{made['c1_lawn']['id']}", headers=scene["customer"].headers)

    assert ids(listed(client, owner, "?status=cancelled")) == [made["c1_lawn"]["id"]]
    assert ids(listed(client, owner, "?status=pending")) == [made["owner_lawn"]["id"]]
    assert listed(client, owner, "?status=confirmed")["total"] == 0
    assert listed(client, owner, f"?venue_id={lawn['_id']}")["total"] == 2
    assert listed(client, owner, f"?venue_id={hall['_id']}")["total"] == 0

    customer = scene["customer"].headers
    assert ids(listed(client, customer, f"?date_from={today_plus(6)}")) == [made["c1_lawn"]["id"]]
    assert ids(listed(client, customer, f"?date_to={today_plus(2)}")) == [made["c1_hall"]["id"]]
    both = f"?date_from={today_plus(2)}&date_to={today_plus(6)}"
    assert listed(client, customer, both)["total"] == 2
    between = f"?date_from={today_plus(3)}&date_to={today_plus(5)}"
    assert listed(client, customer, between)["total"] == 0
    same_day = f"?date_from={today_plus(2)}&date_to={today_plus(2)}"
    assert listed(client, customer, same_day)["total"] == 1


def test_list_pages_do_not_overlap(client, customer, venue):
    # Confirmed at once: five unconfirmed holds at one venue would pass the holds cap.
    db.venues().update_one({"_id": venue["_id"]}, {"$set": {"auto_confirm": True}})
    made = [booked(client, customer.headers, venue, date=today_plus(d))["id"] for d in range(2, 7)]
    pages = [listed(client, customer.headers, f"?limit=2&page={n}") for n in (1, 2, 3, 4)]
    assert [p["total"] for p in pages] == [5, 5, 5, 5]
    assert [len(p["items"]) for p in pages] == [2, 2, 1, 0]
    assert [i for p in pages for i in ids(p)] == list(reversed(made))


@pytest.mark.parametrize(
    "query",
    [
        '?status={"$ne":""}',
        "?status[$ne]=x",
        "?status=bogus",
        "?venue_id=abc",
        '?venue_id={"$gt":""}',
        "?date_from=2030-02-30",
        f"?date_from={today_plus(5)}&date_to={today_plus(4)}",
        "?limit=0",
        "?limit=101",
        "?page=0",
        "?mine=maybe",
        "?user_id=0",
    ],
)
def test_bad_list_params_are_refused(client, scene, query):
    response = client.get(f"/bookings{query}", headers=scene["customer"].headers)
    assert_error(response, 422, "validation_failed")


def test_listing_needs_a_token(client):
    assert_error(client.get("/bookings"), 401, "token_missing")


# GET /bookings/<id> -----------------------------------------------------------------------


def test_the_booker_and_the_venue_owner_see_a_booking(client, customer, owner, venue):
    booking = booked(client, customer.headers, venue)
    for headers in (customer.headers, owner.headers):
        got = ok_data(client.get(f"/bookings/{booking['id']}", headers=headers))["booking"]
        assert got == booking


@pytest.mark.parametrize("booking_id", ["nope", "0" * 23, other_id()])
def test_an_unknown_or_malformed_booking_is_not_found(client, customer, booking_id):
    response = client.get(f"/bookings/{booking_id}", headers=customer.headers)
    assert_error(response, 404, "booking_not_found")
