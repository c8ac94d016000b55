"""POST/GET/PATCH/DELETE /bookings: bodies, status codes, and the database afterwards."""

import datetime as dt
import json

import pytest
from bson import ObjectId
from marshmallow import Schema
from pymongo.errors import ServerSelectionTimeoutError

from halls import db
from halls.bookings import service
from halls.bookings.schemas import BookingOut
from halls.errors import NotFound
from tests.booking_helpers import (
    SLOTS,
    Proxy,
    assert_free,
    assert_held_by,
    book,
    booked,
    claim_of,
    nothing_written,
    price,
    snapshot,
    stored,
)
from tests.helpers import DECOR, assert_error, ok_data, other_id, today_plus


@pytest.fixture
def venue(make_venue, owner):
    return make_venue(owner[0])


# POST /bookings ---------------------------------------------------------------------------


def test_create_booking_is_pending_and_holds_the_slot(client, customer, owner, venue):
    user, headers = customer
    booking = booked(client, headers, venue)

    assert booking["status"] == "pending"
    assert booking["venue_id"] == str(venue["_id"])
    assert booking["venue"] == {"id": str(venue["_id"]), "venue_name": "Test Hall"}
    assert booking["user_id"] == str(user["_id"])
    assert booking["date"] == today_plus(3)
    assert booking["slot"] == "full_day"
    assert booking["slot_detail"] == {
        "key": "full_day",
        "label": "Full day",
        "start": "00:00",
        "end": "23:59",
    }
    assert booking["slots"] == ["full_day"]
    assert booking["slot_details"] == [booking["slot_detail"]]
    assert booking["guests"] == 50
    assert booking["addons"] == []
    assert booking["price_locked"] == price(100000)
    assert booking["payment"] == {"method": "pay_at_venue", "paid": 0, "refunded": 0}
    assert booking["history"] == []
    assert booking["currency"] == "PKR"
    assert booking["created_at"].endswith("Z") and booking["updated_at"] == booking["created_at"]
    for absent in ("cancelled_by", "reason", "owner_id", "_id"):
        assert absent not in booking

    doc = stored(booking)
    assert doc["owner_id"] == owner[0]["_id"]
    assert doc["user_id"] == user["_id"]
    assert doc["status"] == "pending"
    assert doc["price_locked"] == price(100000)
    hold = doc["expires_at"] - doc["created_at"]
    assert hold == dt.timedelta(hours=24)  # the default hold_minutes
    assert doc["created_at"].tzinfo is not None
    shown = doc["created_at"].isoformat(timespec="milliseconds").replace("+00:00", "Z")
    assert booking["created_at"] == shown
    assert_held_by(claim_of(venue), booking["id"])
    assert db.slot_claims().count_documents({}) == 1


def test_price_is_the_override_of_that_day_and_stays_locked(client, customer, make_venue, owner):
    day = today_plus(5)
    venue = make_venue(
        owner[0], pricing={"base_price": 100000, "overrides": [{"date": day, "price": 175000}]}
    )
    booking = booked(client, customer[1], venue, date=day)
    assert booking["price_locked"] == price(175000)

    db.venues().update_one({"_id": venue["_id"]}, {"$set": {"pricing.overrides": []}})
    again = ok_data(client.get(f"/bookings/{booking['id']}", headers=customer[1]))["booking"]
    assert again["price_locked"] == price(175000)


def test_an_owner_may_book_their_own_venue_and_others(client, owner, make_user, make_venue):
    other_owner = make_user(owner=True)
    own = booked(client, owner[1], make_venue(owner[0]))
    theirs = booked(client, owner[1], make_venue(other_owner[0]))
    assert stored(own)["owner_id"] == owner[0]["_id"]
    assert stored(theirs)["owner_id"] == other_owner[0]["_id"]
    assert stored(theirs)["user_id"] == owner[0]["_id"]


def test_guests_equal_to_capacity_are_accepted(client, customer, venue):
    assert booked(client, customer[1], venue, guests=300)["guests"] == 300


def test_slots_of_a_venue_are_booked_separately(client, customer, make_user, make_venue, owner):
    venue = make_venue(owner[0], slots=SLOTS)
    morning = booked(client, customer[1], venue, slot="morning")
    assert morning["slot_detail"] == {**SLOTS[0]}
    evening = booked(client, make_user()[1], venue, slot="evening")
    assert evening["slot"] == "evening"

    error = assert_error(book(client, make_user()[1], venue, slot="morning"), 409, "slot_taken")
    assert error["details"] == {"date": today_plus(3), "slots": ["morning"]}
    assert_held_by(claim_of(venue, slot="morning"), morning["id"])
    assert_held_by(claim_of(venue, slot="evening"), evening["id"])
    assert db.bookings().count_documents({}) == 2


def test_a_taken_slot_is_a_conflict_and_nothing_is_written(client, customer, make_user, venue):
    first = booked(client, customer[1], venue)
    before = snapshot()
    error = assert_error(book(client, make_user()[1], venue), 409, "slot_taken")
    assert error["details"] == {"date": today_plus(3), "slots": ["full_day"]}
    assert snapshot() == before
    assert_held_by(claim_of(venue), first["id"])


def test_the_same_user_cannot_hold_a_slot_twice(client, customer, venue):
    booked(client, customer[1], venue)
    assert_error(book(client, customer[1], venue), 409, "slot_taken")
    assert db.bookings().count_documents({}) == 1


@pytest.mark.parametrize("status", ["deleted", "inactive"])
def test_a_venue_that_is_not_active_is_not_found(client, customer, make_venue, owner, status):
    venue = make_venue(owner[0], status=status)
    assert_error(book(client, customer[1], venue), 404, "venue_not_found")
    assert nothing_written()


def test_an_unknown_venue_is_not_found(client, customer):
    assert_error(book(client, customer[1], {"_id": other_id()}), 404, "venue_not_found")
    assert nothing_written()


@pytest.mark.parametrize("venue_id", ["nope", "123", "", 42, None, ["a"]])
def test_a_malformed_venue_id_is_a_validation_error(client, customer, venue_id):
    response = client.post(
        "/bookings",
        json={"venue_id": venue_id, "date": today_plus(3), "guests": 5},
        headers=customer[1],
    )
    assert "venue_id" in assert_error(response, 422, "validation_failed")["details"]
    assert nothing_written()


@pytest.mark.parametrize("guests", [0, -1, "5", 5.5, True, None])
def test_guests_must_be_a_positive_integer(client, customer, venue, guests):
    error = assert_error(book(client, customer[1], venue, guests=guests), 422, "validation_failed")
    assert "guests" in error["details"]
    assert nothing_written()


def test_more_guests_than_capacity_is_a_validation_error(client, customer, venue):
    error = assert_error(book(client, customer[1], venue, guests=301), 422, "validation_failed")
    assert error["details"]["capacity"] == 300
    assert "300" in error["details"]["guests"][0]
    assert nothing_written()


@pytest.mark.parametrize("date", ["2030-13-01", "2030-02-30", "2030-1-5", "tomorrow", 20300105, ""])
def test_a_bad_date_is_a_validation_error(client, customer, venue, date):
    error = assert_error(book(client, customer[1], venue, date=date), 422, "validation_failed")
    assert "date" in error["details"]
    assert nothing_written()


def test_required_fields(client, customer):
    error = assert_error(
        client.post("/bookings", json={}, headers=customer[1]), 422, "validation_failed"
    )
    assert set(error["details"]) == {"venue_id", "date", "guests"}


def test_a_slot_must_be_named_when_the_venue_has_several(client, customer, make_venue, owner):
    venue = make_venue(owner[0], slots=SLOTS)
    error = assert_error(book(client, customer[1], venue), 422, "validation_failed")
    assert error["details"]["known_slots"] == ["morning", "evening"]
    assert "slots" in error["details"]
    assert nothing_written()


@pytest.mark.parametrize("slot", ["night", "FULL_DAY", ""])
def test_an_unknown_slot_is_a_validation_error(client, customer, venue, slot):
    error = assert_error(book(client, customer[1], venue, slot=slot), 422, "validation_failed")
    assert "slot" in error["details"] or "slots" in error["details"]
    assert nothing_written()


def test_a_date_the_owner_does_not_offer_is_unavailable(client, customer, venue):
    day = today_plus(45)
    error = assert_error(book(client, customer[1], venue, date=day), 409, "date_unavailable")
    assert error["details"] == {"date": day, "slots": ["full_day"]}
    assert nothing_written()


def test_a_date_not_offered_still_checks_the_slot_first(client, customer, make_venue, owner):
    """The venue is read for one date; what it refuses, and in which order, is unchanged."""
    venue = make_venue(owner[0], slots=SLOTS)
    day = today_plus(45)  # not among its dates
    response = book(client, customer[1], venue, date=day, slot="night")
    error = assert_error(response, 422, "validation_failed")
    assert error["details"]["known_slots"] == ["morning", "evening"]
    response = book(client, customer[1], venue, date=day, slot="evening")
    error = assert_error(response, 409, "date_unavailable")
    assert error["details"] == {"date": day, "slots": ["evening"]}
    assert nothing_written()


def test_the_venue_is_read_for_the_date_without_its_list_of_dates(app, make_venue, owner):
    venue = make_venue(
        owner[0],
        dates_available=[today_plus(3), today_plus(4)],
        pricing={"base_price": 100000, "overrides": [{"date": today_plus(4), "price": 150000}]},
        pictures=["https://example.com/a.jpg"],
    )
    offered = service.get_bookable_venue(venue["_id"], today_plus(4))
    assert offered["dates_available"] == [today_plus(4)]
    assert offered["pricing"] == venue["pricing"]  # the date's override decides its price
    assert offered["venue_name"] == venue["venue_name"] and "pictures" not in offered
    assert service.get_bookable_venue(venue["_id"], today_plus(45))["dates_available"] == []
    with pytest.raises(NotFound):
        service.get_bookable_venue(other_id(), today_plus(3))
    # Read, never written: the stored venue keeps its dates.
    assert db.venues().find_one({"_id": venue["_id"]})["dates_available"] == [
        today_plus(3),
        today_plus(4),
    ]


def test_a_past_date_is_unavailable_even_when_listed(client, customer, make_venue, owner):
    yesterday = today_plus(-1)
    venue = make_venue(owner[0], dates_available=[yesterday, today_plus(3)])
    assert_error(book(client, customer[1], venue, date=yesterday), 409, "date_unavailable")
    assert nothing_written()
    assert booked(client, customer[1], venue, date=today_plus(3))["date"] == today_plus(3)


def test_a_date_without_a_price_cannot_be_booked(client, customer, make_venue, owner):
    venue = make_venue(owner[0], pricing={"base_price": None, "overrides": []})
    error = assert_error(book(client, customer[1], venue), 409, "no_price_for_date")
    assert error["details"] == {"date": today_plus(3)}
    assert nothing_written()


def test_booking_needs_a_token(client, venue):
    assert_error(book(client, {}, venue), 401, "token_missing")
    assert nothing_written()


def test_malformed_json_is_refused(client, customer):
    response = client.post(
        "/bookings", data="{nope", content_type="application/json", headers=customer[1]
    )
    assert_error(response, 400, "malformed_json")
    assert nothing_written()


@pytest.mark.parametrize(
    "hostile",
    [
        {"venue_id": {"$ne": ""}},
        {"guests": {"$gt": 0}},
        {"date": {"$gt": ""}},
        {"slot": {"$ne": ""}},
        {"status": "confirmed"},
        {"user_id": other_id()},
        {"price_locked": 1},
        {"$where": "1"},
    ],
)
def test_hostile_bodies_are_refused_and_nothing_is_written(client, customer, venue, hostile):
    assert_error(book(client, customer[1], venue, **hostile), 422, "validation_failed")
    assert nothing_written()


class FailingInsert(Proxy):
    """insert_one fails the way a sick server would."""

    def insert_one(self, document):
        raise self.args[0]


@pytest.mark.parametrize(
    ("error", "status", "code"),
    [
        (ServerSelectionTimeoutError("no servers"), 503, "database_unavailable"),
        (RuntimeError("disk on fire"), 500, "internal_error"),
    ],
)
def test_a_failed_insert_releases_the_claim(
    client, customer, make_user, venue, monkeypatch, error, status, code
):
    real = db.bookings
    monkeypatch.setattr(db, "bookings", lambda: FailingInsert(real(), error))
    body = assert_error(book(client, customer[1], venue), status, code)
    assert "disk" not in body["message"]
    monkeypatch.setattr(db, "bookings", real)

    assert db.bookings().count_documents({}) == 0
    assert_free(claim_of(venue))
    # And the slot is bookable straight away.
    assert booked(client, make_user()[1], venue)["status"] == "pending"


def test_a_claim_that_lapsed_and_was_taken_over_undoes_the_booking(
    client, customer, venue, monkeypatch
):
    """The insert outlived the grace period and another booking took the lapsed claim."""
    real = db.bookings
    usurper = ObjectId()

    class SlowInsert(Proxy):
        def insert_one(self, document):
            result = self.collection.insert_one(document)
            past = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
            db.slot_claims().update_one(
                {"booking_id": document["_id"]}, {"$set": {"expires_at": past}}
            )
            from halls.bookings import claims

            claims.claim_slots(venue["_id"], document["date"], ["full_day"], usurper)
            return result

    monkeypatch.setattr(db, "bookings", lambda: SlowInsert(real()))
    error = assert_error(book(client, customer[1], venue), 409, "slot_taken")
    monkeypatch.setattr(db, "bookings", real)

    assert error["details"] == {"date": today_plus(3), "slots": ["full_day"]}
    assert db.bookings().count_documents({}) == 0
    claim = claim_of(venue)
    assert claim["state"] == "taken" and claim["booking_id"] == usurper


def test_a_claim_lapsed_by_a_crash_does_not_block_the_slot(client, customer, venue):
    """A claim whose booking never appeared is reclaimable once its grace period is over."""
    crashed = ObjectId()
    db.slot_claims().insert_one(
        {
            "_id": db.claim_id(venue["_id"], today_plus(3), "full_day"),
            "venue_id": venue["_id"],
            "date": today_plus(3),
            "slot": "full_day",
            "state": "taken",
            "booking_id": crashed,
            "claimed_at": dt.datetime.now(dt.UTC) - dt.timedelta(minutes=10),
            "expires_at": dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5),
        }
    )
    booking = booked(client, customer[1], venue)
    assert_held_by(claim_of(venue), booking["id"])
    assert db.slot_claims().count_documents({}) == 1


def test_a_claim_within_its_grace_period_still_blocks(client, customer, venue):
    db.slot_claims().insert_one(
        {
            "_id": db.claim_id(venue["_id"], today_plus(3), "full_day"),
            "venue_id": venue["_id"],
            "date": today_plus(3),
            "slot": "full_day",
            "state": "taken",
            "booking_id": ObjectId(),
            "expires_at": dt.datetime.now(dt.UTC) + dt.timedelta(minutes=5),
        }
    )
    assert_error(book(client, customer[1], venue), 409, "slot_taken")
    assert db.bookings().count_documents({}) == 0


# GET /bookings ----------------------------------------------------------------------------


@pytest.fixture
def scene(client, make_user, make_venue, owner, customer):
    """Two owners with a venue each, two customers, and bookings between them."""
    other_owner = make_user(owner=True)
    other_customer = make_user()
    hall = make_venue(owner[0], venue_name="Hall A")
    lawn = make_venue(other_owner[0], venue_name="Lawn B", slots=SLOTS)
    made = {
        "c1_hall": booked(client, customer[1], hall, date=today_plus(2)),
        "c2_hall": booked(client, other_customer[1], hall, date=today_plus(4)),
        "c1_lawn": booked(client, customer[1], lawn, date=today_plus(6), slot="morning"),
        "owner_lawn": booked(client, owner[1], lawn, date=today_plus(6), slot="evening"),
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


def listed(client, headers, query=""):
    return ok_data(client.get(f"/bookings{query}", headers=headers))


def ids(page):
    return [item["id"] for item in page["items"]]


def test_customers_see_their_own_bookings_newest_first(client, scene):
    made = scene["made"]
    page = listed(client, scene["customer"][1])
    assert ids(page) == [made["c1_lawn"]["id"], made["c1_hall"]["id"]]
    assert page["total"] == 2 and page["page"] == 1 and page["limit"] == 20
    assert ids(listed(client, scene["other_customer"][1])) == [made["c2_hall"]["id"]]
    # mine=true changes nothing for a customer.
    assert ids(listed(client, scene["customer"][1], "?mine=true")) == ids(page)


def test_owners_see_their_venues_bookings_or_with_mine_their_own(client, scene):
    made = scene["made"]
    owner_page = listed(client, scene["owner"][1])
    assert ids(owner_page) == [made["c2_hall"]["id"], made["c1_hall"]["id"]]
    assert ids(listed(client, scene["owner"][1], "?mine=true")) == [made["owner_lawn"]["id"]]
    other = listed(client, scene["other_owner"][1])
    assert ids(other) == [made["owner_lawn"]["id"], made["c1_lawn"]["id"]]
    assert listed(client, scene["other_owner"][1], "?mine=false")["total"] == 2
    assert listed(client, scene["other_owner"][1], "?mine=true")["total"] == 0


def test_list_filters(client, scene):
    made, owner = scene["made"], scene["other_owner"][1]
    lawn, hall = scene["lawn"], scene["hall"]
    client.delete(f"/bookings/{made['c1_lawn']['id']}", headers=scene["customer"][1])

    assert ids(listed(client, owner, "?status=cancelled")) == [made["c1_lawn"]["id"]]
    assert ids(listed(client, owner, "?status=pending")) == [made["owner_lawn"]["id"]]
    assert listed(client, owner, "?status=confirmed")["total"] == 0
    assert listed(client, owner, f"?venue_id={lawn['_id']}")["total"] == 2
    assert listed(client, owner, f"?venue_id={hall['_id']}")["total"] == 0

    customer = scene["customer"][1]
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
    made = [booked(client, customer[1], venue, date=today_plus(d))["id"] for d in range(2, 7)]
    pages = [listed(client, customer[1], f"?limit=2&page={n}") for n in (1, 2, 3, 4)]
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
    response = client.get(f"/bookings{query}", headers=scene["customer"][1])
    assert_error(response, 422, "validation_failed")


def test_listing_needs_a_token(client):
    assert_error(client.get("/bookings"), 401, "token_missing")


# GET /bookings/<id> -----------------------------------------------------------------------


def test_the_booker_and_the_venue_owner_see_a_booking(client, customer, owner, venue):
    booking = booked(client, customer[1], venue)
    for headers in (customer[1], owner[1]):
        got = ok_data(client.get(f"/bookings/{booking['id']}", headers=headers))["booking"]
        assert got == booking


@pytest.mark.parametrize("booking_id", ["nope", "0" * 23, other_id()])
def test_an_unknown_or_malformed_booking_is_not_found(client, customer, booking_id):
    response = client.get(f"/bookings/{booking_id}", headers=customer[1])
    assert_error(response, 404, "booking_not_found")


# PATCH /bookings/<id> ---------------------------------------------------------------------


def decide(client, headers, booking, **body):
    return client.patch(f"/bookings/{booking['id']}", json=body, headers=headers)


def test_the_owner_confirms_a_pending_booking(client, customer, owner, venue):
    booking = booked(client, customer[1], venue)
    confirmed = ok_data(decide(client, owner[1], booking, status="confirmed"))["booking"]
    assert confirmed["status"] == "confirmed"
    assert confirmed["confirmed_at"] == confirmed["updated_at"]
    assert confirmed["updated_at"] >= booking["updated_at"]
    assert "reason" not in confirmed

    doc = stored(booking)
    assert doc["status"] == "confirmed" and doc["confirmed_at"].tzinfo is not None
    assert_held_by(claim_of(venue), booking["id"])


def test_the_owner_rejects_and_the_slot_is_free_again(client, customer, owner, make_user, venue):
    booking = booked(client, customer[1], venue)
    rejected = ok_data(decide(client, owner[1], booking, status="rejected", reason="Closed"))
    assert rejected["booking"]["status"] == "rejected"
    assert rejected["booking"]["reason"] == "Closed"
    doc = stored(booking)
    assert doc["status"] == "rejected" and doc["reason"] == "Closed" and "rejected_at" in doc
    assert_free(claim_of(venue))

    again = booked(client, make_user()[1], venue)
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
    booking = booked(client, customer[1], venue)
    ok_data(decide(client, owner[1], booking, status=first))
    before = snapshot()
    error = assert_error(decide(client, owner[1], booking, status=then), 409, "invalid_transition")
    assert error["details"] == {"from": first, "to": then}
    assert snapshot() == before


def test_a_cancelled_booking_cannot_be_confirmed(client, customer, owner, venue):
    booking = booked(client, customer[1], venue)
    ok_data(client.delete(f"/bookings/{booking['id']}", headers=customer[1]))
    before = snapshot()
    response = decide(client, owner[1], booking, status="confirmed")
    error = assert_error(response, 409, "invalid_transition")
    assert error["details"] == {"from": "cancelled", "to": "confirmed"}
    assert snapshot() == before


def test_the_booker_may_not_decide_their_own_booking(client, customer, venue):
    booking = booked(client, customer[1], venue)
    before = snapshot()
    response = decide(client, customer[1], booking, status="confirmed")
    assert_error(response, 403, "not_venue_owner")
    assert snapshot() == before


def test_an_owner_decides_a_booking_they_made_at_their_own_venue(client, owner, venue):
    booking = booked(client, owner[1], venue)
    assert ok_data(decide(client, owner[1], booking, status="confirmed"))["booking"]["status"] == (
        "confirmed"
    )


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
    booking = booked(client, customer[1], venue)
    before = snapshot()
    assert_error(decide(client, owner[1], booking, **body), 422, "validation_failed")
    assert snapshot() == before


def test_deciding_an_unknown_booking_is_not_found(client, owner):
    for booking_id in ("nope", other_id()):
        response = client.patch(
            f"/bookings/{booking_id}", json={"status": "confirmed"}, headers=owner[1]
        )
        assert_error(response, 404, "booking_not_found")


# DELETE /bookings/<id> --------------------------------------------------------------------


def cancel(client, headers, booking, query=""):
    return client.delete(f"/bookings/{booking['id']}{query}", headers=headers)


def test_the_booker_cancels_and_the_slot_is_free_at_once(client, customer, make_user, owner, venue):
    booking = booked(client, customer[1], venue)
    cancelled = ok_data(cancel(client, customer[1], booking))["booking"]
    assert cancelled["status"] == "cancelled"
    assert cancelled["cancelled_by"] == "customer"
    assert cancelled["cancelled_at"] == cancelled["updated_at"]
    assert "reason" not in cancelled
    assert stored(booking)["status"] == "cancelled"
    assert_free(claim_of(venue))

    again = booked(client, make_user()[1], venue)
    assert_held_by(claim_of(venue), again["id"])
    # The owner sees both: the cancelled one and the new one.
    assert listed(client, owner[1])["total"] == 2


def test_the_owner_cancels_a_confirmed_booking_with_a_reason(client, customer, owner, venue):
    booking = booked(client, customer[1], venue)
    ok_data(decide(client, owner[1], booking, status="confirmed"))
    cancelled = ok_data(cancel(client, owner[1], booking, "?reason=Hall%20flooded"))["booking"]
    assert cancelled["status"] == "cancelled"
    assert cancelled["cancelled_by"] == "owner"
    assert cancelled["reason"] == "Hall flooded"
    doc = stored(booking)
    assert doc["cancelled_by"] == "owner" and doc["reason"] == "Hall flooded"
    assert_free(claim_of(venue))


def test_cancelling_again_returns_the_booking_unchanged(client, customer, owner, venue):
    booking = booked(client, customer[1], venue)
    first = ok_data(cancel(client, customer[1], booking, "?reason=plans"))["booking"]
    before = snapshot()
    for headers in (customer[1], owner[1]):
        again = ok_data(cancel(client, headers, booking, "?reason=other"))["booking"]
        assert again == first
    assert snapshot() == before


def test_cancelling_again_frees_a_claim_a_crash_left_held(client, customer, venue):
    booking = booked(client, customer[1], venue)
    # A crash between the two writes of a cancel: booking cancelled, claim still held.
    db.bookings().update_one({"_id": ObjectId(booking["id"])}, {"$set": {"status": "cancelled"}})
    assert claim_of(venue)["state"] == "taken"
    ok_data(cancel(client, customer[1], booking))
    assert_free(claim_of(venue))


def test_a_rejected_booking_cannot_be_cancelled(client, customer, owner, venue):
    booking = booked(client, customer[1], venue)
    ok_data(decide(client, owner[1], booking, status="rejected"))
    before = snapshot()
    error = assert_error(cancel(client, customer[1], booking), 409, "invalid_transition")
    assert error["details"] == {"from": "rejected", "to": "cancelled"}
    assert snapshot() == before


def test_a_past_booking_cannot_be_cancelled(client, customer, venue):
    booking = booked(client, customer[1], venue)
    yesterday = today_plus(-1)
    db.bookings().update_one({"_id": ObjectId(booking["id"])}, {"$set": {"date": yesterday}})
    before = snapshot()
    error = assert_error(cancel(client, customer[1], booking), 409, "booking_in_past")
    assert error["details"] == {"date": yesterday}
    assert snapshot() == before


def test_a_booking_today_can_still_be_cancelled(client, customer, make_venue, owner):
    venue = make_venue(owner[0])
    booking = booked(client, customer[1], venue)
    # Booked days ago (when the notice allowed it); the day has come.
    db.bookings().update_one({"_id": ObjectId(booking["id"])}, {"$set": {"date": today_plus(0)}})
    assert ok_data(cancel(client, customer[1], booking))["booking"]["status"] == "cancelled"


def test_a_booking_at_a_deleted_venue_can_be_cancelled(client, customer, venue):
    booking = booked(client, customer[1], venue)
    db.venues().update_one({"_id": venue["_id"]}, {"$set": {"status": "deleted"}})
    assert ok_data(cancel(client, customer[1], booking))["booking"]["status"] == "cancelled"
    assert_free(claim_of(venue))


class Overtaken(Proxy):
    """Another request's status change lands between our read and our atomic update."""

    def find_one_and_update(self, query, update, **kwargs):
        booking_id, changes = self.args
        self.collection.update_one({"_id": booking_id}, {"$set": changes})
        return self.collection.find_one_and_update(query, update, **kwargs)


@pytest.mark.parametrize(
    ("request_", "overtaken_by", "status", "result"),
    [
        ("cancel", "rejected", 409, "rejected"),
        ("cancel", "cancelled", 200, "cancelled"),
        ("confirm", "cancelled", 409, "cancelled"),
        ("confirm", "rejected", 409, "rejected"),
        ("reject", "confirmed", 409, "confirmed"),
    ],
)
def test_a_transition_overtaken_by_another_is_decided_by_the_database(
    client, customer, owner, venue, monkeypatch, request_, overtaken_by, status, result
):
    booking = booked(client, customer[1], venue)
    real = db.bookings
    changes = {"status": overtaken_by, "updated_at": dt.datetime.now(dt.UTC)}
    monkeypatch.setattr(db, "bookings", lambda: Overtaken(real(), ObjectId(booking["id"]), changes))
    if request_ == "cancel":
        response = cancel(client, customer[1], booking)
    else:
        response = decide(client, owner[1], booking, status=request_ + "ed")
    monkeypatch.setattr(db, "bookings", real)

    if status == 409:
        error = assert_error(response, 409, "invalid_transition")
        assert error["details"]["from"] == overtaken_by
    else:
        assert ok_data(response)["booking"]["status"] == result
        assert "cancelled_by" not in stored(booking)  # the other request's write stands
    assert stored(booking)["status"] == result


@pytest.mark.parametrize("query", ["?reason=" + "x" * 501, "?status=pending", "?reason[$ne]=1"])
def test_bad_cancel_params_are_refused(client, customer, venue, query):
    booking = booked(client, customer[1], venue)
    before = snapshot()
    assert_error(cancel(client, customer[1], booking, query), 422, "validation_failed")
    assert snapshot() == before


def test_cancelling_an_unknown_booking_is_not_found(client, customer):
    for booking_id in ("nope", other_id()):
        assert_error(
            client.delete(f"/bookings/{booking_id}", headers=customer[1]),
            404,
            "booking_not_found",
        )


@pytest.mark.parametrize("method", ["get", "patch", "delete"])
def test_every_booking_route_needs_a_token(client, customer, venue, method):
    booking = booked(client, customer[1], venue)
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


def test_bookings_dump_exactly_as_marshmallow_would(client, customer, owner, make_venue):
    """BookingOut's quick dump (QuickDump) gives marshmallow's own answer, key order included,
    for bookings in every shape the service writes and for odd stored values."""
    venue = make_venue(owner[0], slots=SLOTS, addons=[dict(DECOR)])
    headers, owner_headers = customer[1], owner[1]
    booked(
        client, headers, venue, slots=["morning", "evening"], addons=[{"key": "decor", "qty": 1}]
    )
    confirmed = booked(client, headers, venue, slot="morning", date=today_plus(4))
    client.patch(
        f"/bookings/{confirmed['id']}", json={"status": "confirmed"}, headers=owner_headers
    )
    cancelled = booked(client, headers, venue, slot="evening", date=today_plus(5))
    client.delete(f"/bookings/{cancelled['id']}", headers=headers)
    moved = booked(client, headers, venue, slot="morning", date=today_plus(6))
    body = {"date": today_plus(7), "slots": ["evening"]}
    ok_data(client.post(f"/bookings/{moved['id']}/reschedule", json=body, headers=headers))
    documents = list(db.bookings().find())
    assert {doc["status"] for doc in documents} == {"pending", "confirmed", "cancelled"}
    assert any(doc.get("history") for doc in documents) and any(doc["addons"] for doc in documents)
    odd = {**documents[0], "guests": 5.0, "slots": ("morning", 3), "venue": None, "date": 7}
    schema, plain = BookingOut(), _MarshmallowBookingOut()
    for doc in [*documents, odd, {}]:
        assert json.dumps(schema.dump(doc)) == json.dumps(plain.dump(doc)), doc


class _MarshmallowBookingOut(BookingOut):
    """BookingOut dumped by marshmallow alone (its hooks included)."""

    def _serialize(self, obj, *, many=False):
        return Schema._serialize(self, obj, many=many)
