"""List query parameters: `name=a&name=b` means `name=a,b` (and mixing both works), the document
calls each an array, and an amenity no venue has is a 422 naming it, not an empty page."""

import pytest

from halls import db
from tests.helpers import (
    CATERING,
    DECOR,
    SOUND,
    TWO_SLOTS,
    assert_error,
    insert_booking,
    ok_data,
    today_plus,
)

DAY = today_plus(5)


def search(client, query):
    return client.get(f"/venues/search?{query}")


def names(data):
    return sorted(item["venue_name"] for item in data["items"])


@pytest.fixture
def venues(owner, make_venue):
    made = {
        "Stage and catering": {"stage": True, "catering": True},
        "Stage only": {"stage": True, "catering": False},
        "Catering only": {"catering": True},
    }
    return {name: make_venue(owner[0], venue_name=name, amenities=a) for name, a in made.items()}


@pytest.mark.parametrize(
    "query",
    [
        "amenities=stage&amenities=catering",
        "amenities=stage,catering",
        "amenities=stage&amenities=catering,stage",
        "amenities=catering&amenities=%20stage",
    ],
)
def test_amenities_repeated_or_comma_separated_mean_the_same(client, venues, query):
    data = ok_data(search(client, query))
    assert names(data) == ["Stage and catering"]
    assert data["total"] == 1


def test_an_amenity_no_venue_has_is_a_422_naming_it(client, venues):
    before = list(db.venues().find().sort("_id"))
    error = assert_error(
        search(client, "amenities=stage&amenities=catring,wi_fi"), 422, "validation_failed"
    )
    assert error["details"] == {"amenities": ["Unknown amenities: catring, wi_fi."]}
    assert list(db.venues().find().sort("_id")) == before  # a search writes nothing


def test_an_amenity_some_venue_lists_but_none_matching_is_an_empty_page(
    client, venues, owner, make_venue
):
    # "Stage only" lists catering as false: a known name, and no venue has it with a stage -
    # an honest empty page, not an error. A deleted venue's amenities are known names too.
    make_venue(owner[0], venue_name="Gone", status="deleted", amenities={"fountain": True})
    for query in ("amenities=stage&amenities=catering&city=Karachi", "amenities=fountain"):
        data = ok_data(search(client, query))
        assert (data["items"], data["total"]) == ([], 0)


def test_an_unknown_amenity_is_named_on_any_page_past_the_end(client, venues):
    error = assert_error(search(client, "amenities=ballroom&page=3"), 422, "validation_failed")
    assert error["details"] == {"amenities": ["Unknown amenities: ballroom."]}


@pytest.mark.parametrize(
    "query",
    ["amenities=&amenities=,", "amenities=stage&amenities=Stage", "amenities=$where"],
)
def test_a_malformed_amenity_in_either_form_is_a_422(client, venues, query):
    error = assert_error(search(client, query), 422, "validation_failed")
    assert error["details"] == {
        "amenities": ["List amenity names in snake_case, separated by commas."]
    }


def test_too_many_amenities_in_either_form_is_a_422(client, venues):
    repeated = "&".join(f"amenities=a{n}" for n in range(21))
    assert_error(search(client, repeated), 422, "validation_failed")
    twice = "&".join(["amenities=stage", "amenities=catering"] * 11)  # 22, two of them
    assert names(ok_data(search(client, twice))) == ["Stage and catering"]


@pytest.fixture
def bookings(owner, customer, make_venue):
    venue = make_venue(owner[0], slots=TWO_SLOTS)
    made = {}
    for days, status in enumerate(("pending", "confirmed", "cancelled", "rejected"), start=3):
        booking = insert_booking(venue, customer[0], date=today_plus(days), status=status)
        made[status] = str(booking["_id"])
    return made


@pytest.mark.parametrize(
    "query",
    [
        "status=pending&status=cancelled",
        "status=pending,cancelled",
        "status=cancelled&status=pending,pending",
    ],
)
def test_booking_statuses_repeated_or_comma_separated_mean_the_same(
    client, customer, bookings, query
):
    data = ok_data(client.get(f"/bookings?{query}", headers=customer[1]))
    assert sorted(item["id"] for item in data["items"]) == sorted(
        [bookings["pending"], bookings["cancelled"]]
    )
    assert {item["status"] for item in data["items"]} == {"pending", "cancelled"}
    assert data["total"] == 2


def test_one_status_still_filters_alone(client, customer, bookings):
    data = ok_data(client.get("/bookings?status=rejected", headers=customer[1]))
    assert [item["id"] for item in data["items"]] == [bookings["rejected"]]


def test_empty_items_in_either_form_are_left_out(client, customer, bookings, venues):
    data = ok_data(client.get("/bookings?status=pending,&status=", headers=customer[1]))
    assert [item["id"] for item in data["items"]] == [bookings["pending"]]
    data = ok_data(search(client, "amenities=stage,&amenities="))
    assert names(data) == ["Stage and catering", "Stage only"]


@pytest.mark.parametrize("query", ["status=pending&status=bogus", "status=,", "status="])
def test_a_bad_status_in_either_form_is_a_422(client, customer, bookings, query):
    error = assert_error(
        client.get(f"/bookings?{query}", headers=customer[1]), 422, "validation_failed"
    )
    assert list(error["details"]) == ["status"]


@pytest.fixture
def venue(owner, make_venue):
    return make_venue(owner[0], slots=TWO_SLOTS, addons=[CATERING, DECOR, SOUND])


@pytest.mark.parametrize(
    "query",
    [
        "slots=lunch&slots=dinner&addons=decor:1&addons=sound:2",
        "slots=lunch,dinner&addons=decor:1,sound:2",
        "slots=dinner&slots=lunch&addons=decor:1,sound:2",
    ],
)
def test_quote_slots_and_addons_repeated_or_comma_separated_mean_the_same(client, venue, query):
    data = ok_data(client.get(f"/venues/{venue['_id']}/quote?date={DAY}&guests=10&{query}"))
    assert [slot["key"] for slot in data["slots"]] == ["lunch", "dinner"]
    assert [(line["key"], line["qty"]) for line in data["lines"]] == [
        ("lunch", 1),
        ("dinner", 1),
        ("decor", 1),
        ("sound", 2),
    ]


def test_the_document_calls_every_list_parameter_an_array_of_repeated_keys(client):
    spec = client.get("/openapi.json").get_json()
    parameters = {
        (path, parameter["name"]): parameter
        for path, item in spec["paths"].items()
        for method, operation in item.items()
        if method != "parameters"
        for parameter in operation.get("parameters", [])
    }
    lists = {key: p for key, p in parameters.items() if p["schema"].get("type") == "array"}
    assert set(lists) == {
        ("/venues/search", "amenities"),
        ("/bookings", "status"),
        ("/venues/{venue_id}/quote", "slots"),
        ("/venues/{venue_id}/quote", "addons"),
        ("/bookings/{booking_id}/reschedule-quote", "slots"),
    }
    for parameter in lists.values():
        assert (parameter["style"], parameter["explode"]) == ("form", True)
        assert parameter["schema"]["items"]["type"] == "string"
        assert parameter["schema"]["minItems"] == 1
    status = lists["/bookings", "status"]["schema"]["items"]
    assert status["enum"] == [
        "pending",
        "confirmed",
        "rejected",
        "cancelled",
        "expired",
        "completed",
    ]
