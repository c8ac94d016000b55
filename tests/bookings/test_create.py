"""POST /bookings: what a new booking stores and holds, and every way one is refused."""

import datetime as dt

import pytest
from bson import ObjectId
from pymongo.errors import ServerSelectionTimeoutError

from halls import db
from halls.bookings import create
from halls.errors import NotFound
from tests.bookings.helpers import (
    SLOTS,
    Proxy,
    assert_free,
    assert_held_by,
    balance,
    book,
    booked,
    claim_of,
    decide,
    fund,
    ledger,
    nothing_written,
    notices,
    price,
    snapshot,
    stored,
    wallet_booking,
)
from tests.helpers import assert_error, ok_data, other_id, today_plus


def test_create_booking_is_pending_and_holds_the_slot(client, customer, owner, venue):
    user, headers = customer
    booking = booked(client, headers, venue)

    assert booking["status"] == "pending"
    assert booking["venue_id"] == str(venue["_id"])
    assert booking["venue"] == {
        "id": str(venue["_id"]),
        "venue_name": "Test Hall",
        "city": "Lahore",
        "address": "1 Mall Road",
        "timezone": "Asia/Karachi",
        "cover_picture": None,
    }
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
    assert booking["price_breakdown"] == price(100000)
    assert booking["payment"] == {"method": "pay_at_venue", "paid": 0, "refunded": 0}
    assert booking["history"] == []
    assert booking["currency"] == "PKR"
    assert booking["created_at"].endswith("Z") and booking["updated_at"] == booking["created_at"]
    for absent in ("cancelled_by", "reason", "owner_id", "_id"):
        assert absent not in booking

    doc = stored(booking)
    assert doc["owner_id"] == owner.user["_id"]
    assert doc["user_id"] == user["_id"]
    assert doc["status"] == "pending"
    assert doc["price_breakdown"] == price(100000)
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
        owner.user, pricing={"base_price": 100000, "overrides": [{"date": day, "price": 175000}]}
    )
    booking = booked(client, customer.headers, venue, date=day)
    assert booking["price_breakdown"] == price(175000)

    db.venues().update_one({"_id": venue["_id"]}, {"$set": {"pricing.overrides": []}})
    again = ok_data(client.get(f"/bookings/{booking['id']}", headers=customer.headers))["booking"]
    assert again["price_breakdown"] == price(175000)


def test_an_owner_may_book_their_own_venue_and_others(client, owner, make_user, make_venue):
    other_owner = make_user(owner=True)
    own = booked(client, owner.headers, make_venue(owner.user))
    theirs = booked(client, owner.headers, make_venue(other_owner.user))
    assert stored(own)["owner_id"] == owner.user["_id"]
    assert stored(theirs)["owner_id"] == other_owner.user["_id"]
    assert stored(theirs)["user_id"] == owner.user["_id"]


def test_guests_equal_to_capacity_are_accepted(client, customer, venue):
    assert booked(client, customer.headers, venue, guests=300)["guests"] == 300


def test_slots_of_a_venue_are_booked_separately(client, customer, make_user, make_venue, owner):
    venue = make_venue(owner.user, slots=SLOTS)
    morning = booked(client, customer.headers, venue, slot="morning")
    assert morning["slot_detail"] == {**SLOTS[0]}
    evening = booked(client, make_user().headers, venue, slot="evening")
    assert evening["slot"] == "evening"

    error = assert_error(
        book(client, make_user().headers, venue, slot="morning"), 409, "slot_taken"
    )
    assert error["context"] == {"date": today_plus(3), "slots": ["morning"]}
    assert_held_by(claim_of(venue, slot="morning"), morning["id"])
    assert_held_by(claim_of(venue, slot="evening"), evening["id"])
    assert db.bookings().count_documents({}) == 2


def test_a_taken_slot_is_a_conflict_and_nothing_is_written(client, customer, make_user, venue):
    first = booked(client, customer.headers, venue)
    before = snapshot()
    error = assert_error(book(client, make_user().headers, venue), 409, "slot_taken")
    assert error["context"] == {"date": today_plus(3), "slots": ["full_day"]}
    assert snapshot() == before
    assert_held_by(claim_of(venue), first["id"])


def test_the_same_user_cannot_hold_a_slot_twice(client, customer, venue):
    booked(client, customer.headers, venue)
    assert_error(book(client, customer.headers, venue), 409, "slot_taken")
    assert db.bookings().count_documents({}) == 1


@pytest.mark.parametrize("status", ["deleted", "inactive"])
def test_a_venue_that_is_not_active_is_not_found(client, customer, make_venue, owner, status):
    venue = make_venue(owner.user, status=status)
    assert_error(book(client, customer.headers, venue), 404, "venue_not_found")
    assert nothing_written()


def test_an_unknown_venue_is_not_found(client, customer):
    assert_error(book(client, customer.headers, {"_id": other_id()}), 404, "venue_not_found")
    assert nothing_written()


@pytest.mark.parametrize("venue_id", ["nope", "123", "", 42, None, ["a"]])
def test_a_malformed_venue_id_is_a_validation_error(client, customer, venue_id):
    response = client.post(
        "/bookings",
        json={"venue_id": venue_id, "date": today_plus(3), "guests": 5},
        headers=customer.headers,
    )
    assert "venue_id" in assert_error(response, 422, "validation_failed")["details"]
    assert nothing_written()


@pytest.mark.parametrize("guests", [0, -1, "5", 5.5, True, None])
def test_guests_must_be_a_positive_integer(client, customer, venue, guests):
    error = assert_error(
        book(client, customer.headers, venue, guests=guests), 422, "validation_failed"
    )
    assert "guests" in error["details"]
    assert nothing_written()


def test_more_guests_than_capacity_is_a_validation_error(client, customer, venue):
    error = assert_error(
        book(client, customer.headers, venue, guests=301), 422, "validation_failed"
    )
    assert error["context"]["capacity"] == 300
    assert "300" in error["details"]["guests"][0]
    assert nothing_written()


@pytest.mark.parametrize("date", ["2030-13-01", "2030-02-30", "2030-1-5", "tomorrow", 20300105, ""])
def test_a_bad_date_is_a_validation_error(client, customer, venue, date):
    error = assert_error(book(client, customer.headers, venue, date=date), 422, "validation_failed")
    assert "date" in error["details"]
    assert nothing_written()


def test_required_fields(client, customer):
    error = assert_error(
        client.post("/bookings", json={}, headers=customer.headers), 422, "validation_failed"
    )
    assert set(error["details"]) == {"venue_id", "date", "guests"}


def test_a_slot_must_be_named_when_the_venue_has_several(client, customer, make_venue, owner):
    venue = make_venue(owner.user, slots=SLOTS)
    error = assert_error(book(client, customer.headers, venue), 422, "validation_failed")
    assert error["context"]["known_slots"] == ["morning", "evening"]
    assert "slots" in error["details"]
    assert nothing_written()


@pytest.mark.parametrize("slot", ["night", "FULL_DAY", ""])
def test_an_unknown_slot_is_a_validation_error(client, customer, venue, slot):
    error = assert_error(book(client, customer.headers, venue, slot=slot), 422, "validation_failed")
    assert "slot" in error["details"] or "slots" in error["details"]
    assert nothing_written()


def test_a_date_the_owner_does_not_offer_is_unavailable(client, customer, venue):
    day = today_plus(45)
    error = assert_error(book(client, customer.headers, venue, date=day), 409, "date_unavailable")
    assert error["context"] == {"date": day, "slots": ["full_day"]}
    assert nothing_written()


def test_a_date_not_offered_still_checks_the_slot_first(client, customer, make_venue, owner):
    """The venue is read for one date; what it refuses, and in which order, is unchanged."""
    venue = make_venue(owner.user, slots=SLOTS)
    day = today_plus(45)  # not among its dates
    response = book(client, customer.headers, venue, date=day, slot="night")
    error = assert_error(response, 422, "validation_failed")
    assert error["context"]["known_slots"] == ["morning", "evening"]
    response = book(client, customer.headers, venue, date=day, slot="evening")
    error = assert_error(response, 409, "date_unavailable")
    assert error["context"] == {"date": day, "slots": ["evening"]}
    assert nothing_written()


def test_the_venue_is_read_for_the_date_without_its_list_of_dates(app, make_venue, owner):
    venue = make_venue(
        owner.user,
        dates_available=[today_plus(3), today_plus(4)],
        pricing={"base_price": 100000, "overrides": [{"date": today_plus(4), "price": 150000}]},
        pictures=["https://example.com/a.jpg", "https://example.com/b.jpg"],
    )
    offered = create.get_bookable_venue(venue["_id"], today_plus(4))
    assert offered["dates_available"] == [today_plus(4)]
    assert offered["pricing"] == venue["pricing"]  # the date's override decides its price
    assert offered["venue_name"] == venue["venue_name"]
    assert offered["pictures"] == ["https://example.com/a.jpg"]  # the first: the cover
    assert create.get_bookable_venue(venue["_id"], today_plus(45))["dates_available"] == []
    with pytest.raises(NotFound):
        create.get_bookable_venue(other_id(), today_plus(3))
    # Read, never written: the stored venue keeps its dates.
    assert db.venues().find_one({"_id": venue["_id"]})["dates_available"] == [
        today_plus(3),
        today_plus(4),
    ]


def test_a_past_date_is_unavailable_even_when_listed(client, customer, make_venue, owner):
    yesterday = today_plus(-1)
    venue = make_venue(owner.user, dates_available=[yesterday, today_plus(3)])
    assert_error(book(client, customer.headers, venue, date=yesterday), 409, "date_unavailable")
    assert nothing_written()
    assert booked(client, customer.headers, venue, date=today_plus(3))["date"] == today_plus(3)


def test_a_date_without_a_price_cannot_be_booked(client, customer, make_venue, owner):
    venue = make_venue(owner.user, pricing={"base_price": None, "overrides": []})
    error = assert_error(book(client, customer.headers, venue), 409, "no_price_for_date")
    assert error["context"] == {"date": today_plus(3)}
    assert nothing_written()


def test_booking_needs_a_token(client, venue):
    assert_error(book(client, {}, venue), 401, "token_missing")
    assert nothing_written()


def test_malformed_json_is_refused(client, customer):
    response = client.post(
        "/bookings", data="{nope", content_type="application/json", headers=customer.headers
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
    assert_error(book(client, customer.headers, venue, **hostile), 422, "validation_failed")
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
    body = assert_error(book(client, customer.headers, venue), status, code)
    assert "disk" not in body["message"]
    monkeypatch.setattr(db, "bookings", real)

    assert db.bookings().count_documents({}) == 0
    assert_free(claim_of(venue))
    # And the slot is bookable straight away.
    assert booked(client, make_user().headers, venue)["status"] == "pending"


def test_a_booking_written_after_its_claims_grace_period_keeps_its_slot(
    client, customer, venue, monkeypatch
):
    """The insert outlived the grace period; a second booker finds the claim still in flight.

    Its booking exists, so the claim is held for it (claims.settle_in_flight) rather than
    taken over: the slot is never sold under a booking that is there.
    """
    real = db.bookings
    usurper = ObjectId()
    refusals = []

    class SlowInsert(Proxy):
        def insert_one(self, document):
            result = self.collection.insert_one(document)
            past = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
            db.slot_claims().update_one(
                {"booking_id": document["_id"]}, {"$set": {"expires_at": past}}
            )
            from halls.bookings import claims
            from halls.errors import Conflict

            try:
                claims.claim_slots(venue["_id"], document["date"], ["full_day"], usurper)
            except Conflict as refused:
                refusals.append(refused.error_code)
            return result

    monkeypatch.setattr(db, "bookings", lambda: SlowInsert(real()))
    booking = ok_data(book(client, customer.headers, venue), 201)["booking"]
    monkeypatch.setattr(db, "bookings", real)

    assert refusals == ["slot_taken"]
    assert_held_by(claim_of(venue), booking["id"])
    assert db.bookings().count_documents({}) == 1


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
    booking = booked(client, customer.headers, venue)
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
    assert_error(book(client, customer.headers, venue), 409, "slot_taken")
    assert db.bookings().count_documents({}) == 0


# Holds ------------------------------------------------------------------------------------


def test_a_new_booking_holds_its_slots_for_the_venues_hold_minutes(
    client, customer, make_venue, owner
):
    venue = make_venue(owner.user, hold_minutes=90)
    booking = booked(client, customer.headers, venue)
    doc = stored(booking)
    assert doc["status"] == "pending"
    assert doc["expires_at"] - doc["created_at"] == dt.timedelta(minutes=90)
    assert booking["expires_at"].endswith("Z")
    assert_held_by(claim_of(venue), booking["id"])
    assert notices(booking) == [
        ("booking_created_customer", customer.user["email"]),
        ("booking_created_owner", owner.user["email"]),
    ]


def test_a_hold_never_outlasts_the_start_of_the_event(client, customer, make_venue, owner):
    venue = make_venue(owner.user, slots=SLOTS, hold_minutes=43200, min_notice_hours=0)
    booking = booked(client, customer.headers, venue, slot="evening")
    # 18:00 in Asia/Karachi (UTC+5) is 13:00 UTC.
    day = dt.date.fromisoformat(today_plus(3))
    start = dt.datetime.combine(day, dt.time(13, 0), tzinfo=dt.UTC)
    assert stored(booking)["expires_at"] == start
    assert_held_by(claim_of(venue, slot="evening"), booking["id"])


def test_auto_confirm_venues_confirm_at_once(client, customer, owner, make_venue):
    venue = make_venue(owner.user, slots=SLOTS, auto_confirm=True)
    booking = booked(client, customer.headers, venue, slots=["morning", "evening"])
    assert booking["status"] == "confirmed"
    assert booking["confirmed_at"] == booking["created_at"]
    assert "expires_at" not in booking
    for key in ("morning", "evening"):
        assert claim_of(venue, slot=key)["expires_at"] is None
    assert [kind for kind, _ in notices(booking)] == [
        "booking_created_customer",
        "booking_created_owner",
    ]
    subjects = [m["subject"] for m in db.outbox().find({"booking_id": stored(booking)["_id"]})]
    assert subjects[0].startswith("Booking confirmed")
    # Nothing left for the owner to decide.
    error = assert_error(
        decide(client, owner.headers, booking, "confirmed"), 409, "invalid_transition"
    )
    assert error["context"] == {"from": "confirmed", "to": "confirmed"}


# Paying by wallet -------------------------------------------------------------------------


def test_paying_by_wallet_debits_the_balance_once(client, customer, open_venue):
    fund(customer.user, 250000)
    booking = wallet_booking(client, customer, open_venue, slots=["morning", "evening"])
    assert booking["payment"] == {"method": "wallet", "paid": 200000, "refunded": 0}
    assert balance(customer.user) == 50000
    key = f"payment:{booking['id']}"
    assert ledger(customer.user)[-1] == ("payment", -200000, key)


def test_too_little_money_refuses_the_booking_and_moves_nothing(
    client, customer, make_user, open_venue
):
    fund(customer.user, 150000)
    before = snapshot()
    response = book(
        client, customer.headers, open_venue, payment_method="wallet", slots=["morning", "evening"]
    )
    error = assert_error(response, 409, "insufficient_funds")
    assert error["context"] == {"balance": 150000, "needed": 200000}
    assert snapshot()[0] == before[0] and snapshot()[3] == before[3]
    assert db.bookings().count_documents({}) == 0
    assert db.wallet_transactions().count_documents({"kind": "payment"}) == 0
    for key in ("morning", "evening"):
        assert_free(claim_of(open_venue, slot=key))
    assert balance(customer.user) == 150000
    # The slots are free for the next booker.
    assert booked(client, make_user().headers, open_venue, slots=["morning", "evening"])
