"""The error envelope (issue 18): `details` holds field messages only, `{"field": ["message"]}`;
whatever else an error tells a program (the taken slots, the known slot keys, a fresh quote) is
in `context`. Both are always there."""

import pytest
from flask import Flask
from marshmallow import ValidationError

from halls import errors
from tests.bookings.helpers import book, booked, claim_of, nothing_written, snapshot, stored
from tests.helpers import (
    CATERING,
    DECOR,
    TWO_SLOTS,
    assert_error,
    field_messages,
    ok_data,
    today_plus,
)


@pytest.fixture
def venue(make_venue, owner):
    return make_venue(owner[0], slots=TWO_SLOTS, addons=[dict(CATERING), dict(DECOR)])


def test_an_unknown_slot_names_the_field_and_gives_the_known_slots_as_context(
    client, customer, venue
):
    response = book(client, customer[1], venue, slots=["brunch"])
    error = assert_error(response, 422, "validation_failed")

    assert error["details"] == {"slots": ["No such slot: brunch. Choose from: lunch, dinner."]}
    assert error["context"] == {"known_slots": ["lunch", "dinner"]}
    assert nothing_written()


def test_too_many_guests_names_the_field_and_gives_the_capacity_as_context(client, customer, venue):
    response = book(client, customer[1], venue, slots=["lunch"], guests=301)
    error = assert_error(response, 422, "validation_failed")

    assert error["details"] == {"guests": ["Must be at most the venue's capacity of 300."]}
    assert error["context"] == {"capacity": 300}
    assert nothing_written()


def test_bad_add_ons_are_field_messages_by_key_with_the_known_ones_as_context(
    client, customer, venue
):
    addons = [{"key": "piano"}, {"key": "decor", "qty": 2}]
    response = book(client, customer[1], venue, slots=["lunch"], addons=addons)

    error = assert_error(response, 422, "validation_failed")
    assert error["details"] == {
        "addons": {
            "piano": ["The venue offers no such add-on."],
            "decor": ["At most 1 may be ordered."],
        }
    }
    assert error["context"] == {"known_addons": ["catering", "decor"]}
    assert nothing_written()


def test_a_schema_refusal_has_field_messages_and_no_context(client, customer, venue):
    body = {"venue_id": str(venue["_id"]), "date": "someday", "guests": 0, "extra": 1}
    response = client.post("/bookings", json=body, headers=customer[1])
    error = assert_error(response, 422, "validation_failed")

    assert set(error["details"]) == {"date", "guests", "extra"}
    assert error["context"] == {}
    assert nothing_written()


def test_a_taken_slot_is_context_not_a_field_message(client, customer, make_user, venue):
    booked(client, customer[1], venue, slots=["dinner"])
    before = snapshot()

    response = book(client, make_user()[1], venue, slots=["lunch", "dinner"])

    error = assert_error(response, 409, "slot_taken")
    assert error["details"] == {}
    assert error["context"] == {"date": today_plus(3), "slots": ["dinner"]}
    assert snapshot()[0] == before[0]  # no booking written
    lunch = claim_of(venue, slot="lunch")
    assert lunch is None or lunch["state"] == "free"  # the slot it took first given back


def test_a_changed_price_gives_the_fresh_quote_as_context(client, customer, venue):
    response = book(client, customer[1], venue, slots=["lunch"], expected_total=1)

    error = assert_error(response, 409, "price_changed")
    assert error["details"] == {}
    assert error["context"]["expected_total"] == 1
    quote = error["context"]["quote"]
    assert quote["total"] == 100000 and quote["lines"][0]["key"] == "lunch"
    assert quote["valid_until"].endswith("Z")
    assert nothing_written()


def test_a_refused_transition_gives_from_and_to_as_context(client, customer, owner, venue):
    made = booked(client, customer[1], venue, slots=["lunch"])
    path = f"/bookings/{made['id']}"
    ok_data(client.patch(path, json={"status": "rejected"}, headers=owner[1]))

    response = client.patch(path, json={"status": "confirmed"}, headers=owner[1])
    error = assert_error(response, 409, "invalid_transition")

    assert error["details"] == {}
    assert error["context"] == {"from": "rejected", "to": "confirmed"}
    assert stored(made)["status"] == "rejected"


def test_a_service_validation_error_names_its_field(client, customer, venue):
    made = booked(client, customer[1], venue, slots=["lunch"])

    response = client.delete(
        f"/bookings/{made['id']}?reason=One", json={"reason": "Two"}, headers=customer[1]
    )

    error = assert_error(response, 422, "validation_failed")
    assert error["details"] == {"reason": ["Send it in the query or in the body, not both."]}
    assert error["context"] == {}
    assert stored(made)["status"] == "pending"


@pytest.mark.parametrize(
    ("raised", "details"),
    [
        (ValidationError("Not that.", "reason"), {"reason": ["Not that."]}),
        (ValidationError({"guests": ["Too many."]}), {"guests": ["Too many."]}),
        (ValidationError("Not that."), {"_schema": ["Not that."]}),
        (ValidationError(["One.", "Two."]), {"_schema": ["One.", "Two."]}),
    ],
)
def test_a_raised_validation_error_always_reads_as_field_messages(raised, details):
    with Flask(__name__).app_context():
        body = errors.handle_validation_error(raised).get_json()
    assert body["error"]["details"] == details and body["error"]["context"] == {}


def test_every_error_has_both_keys(client, customer):
    for response in (
        client.get("/no-such-endpoint"),
        client.delete("/health"),
        client.get("/bookings"),
        client.get("/bookings/HB-ZZZZZZ", headers=customer[1]),
    ):
        body = response.get_json()
        assert body["ok"] is False
        assert body["error"]["details"] == {} and body["error"]["context"] == {}


def test_the_openapi_error_shape_has_context(client):
    spec = client.get("/openapi.json").get_json()
    body = spec["components"]["schemas"]["ErrorBody"]
    assert set(body["required"]) == {"code", "message", "details", "context"}
    assert body["properties"]["context"]["type"] == "object"


def test_field_messages_tells_messages_from_context():
    assert field_messages({"slots": ["No such slot."], "addons": {"piano": ["No."]}})
    assert field_messages({})
    assert not field_messages({"date": "2031-03-20", "slots": ["dinner"]})
    assert not field_messages({"capacity": 300})
    assert not field_messages({"quote": {"total": 100000}})
