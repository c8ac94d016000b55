"""POST /bookings/<id>/reschedule: new claims first, then the booking, then the old claims."""

import datetime as dt

import pytest

from halls import db
from halls.bookings import claims, reschedule
from tests.bookings.helpers import (
    THREE_SLOTS,
    Proxy,
    assert_free,
    assert_held_by,
    balance,
    book,
    booked,
    claim_of,
    fund,
    lapse,
    ledger,
    notices,
    snapshot,
    stored,
)
from tests.helpers import assert_error, ok_data, other_id, today_plus

PRICE = 100000
DAY, NEW_DAY = today_plus(5), today_plus(9)


@pytest.fixture
def venue(make_venue, owner):
    return make_venue(owner.user, slots=THREE_SLOTS)


def move(client, headers, booking, **body):
    return client.post(f"/bookings/{booking['id']}/reschedule", json=body, headers=headers)


def moved(client, headers, booking, **body):
    return ok_data(move(client, headers, booking, **body))


def decide(client, headers, booking, status):
    return ok_data(
        client.patch(f"/bookings/{booking['id']}", json={"status": status}, headers=headers)
    )


def test_the_booker_moves_a_booking_to_another_date(client, customer, owner, venue):
    booking = booked(client, customer.headers, venue, date=DAY, slots=["morning", "evening"])
    data = moved(client, customer.headers, booking, date=NEW_DAY, slots=["evening", "morning"])

    after = data["booking"]
    assert after["date"] == NEW_DAY and after["slots"] == ["morning", "evening"]
    assert after["slot"] == "morning"
    assert after["slot_details"] == [THREE_SLOTS[0], THREE_SLOTS[2]]
    assert after["status"] == "pending"
    assert data["change"] == {
        "at": data["change"]["at"],
        "by": str(customer.user["_id"]),
        "from": {"date": DAY, "slots": ["morning", "evening"]},
        "to": {"date": NEW_DAY, "slots": ["morning", "evening"]},
        "price_delta": 0,
        # Never confirmed: the tiers do not bind it, and nothing was paid through halls.
        "refund_pct_before": None,
        "refund_pct": 100,
        "refunded": 0,
        "forfeited": 0,
    }
    assert after["history"] == [data["change"]]

    doc = stored(booking)
    assert doc["date"] == NEW_DAY and len(doc["history"]) == 1
    assert doc["history"][0]["by"] == customer.user["_id"]
    for key in ("morning", "evening"):
        assert_held_by(claim_of(venue, NEW_DAY, key), booking["id"])
        assert_free(claim_of(venue, DAY, key))
    assert notices(booking)[-2:] == [
        ("booking_rescheduled", customer.user["email"]),
        ("booking_rescheduled", owner.user["email"]),
    ]


def test_a_confirmed_booking_goes_back_to_pending_with_a_new_hold(client, customer, owner, venue):
    booking = booked(client, customer.headers, venue, date=DAY, slots=["morning"])
    decide(client, owner.headers, booking, "confirmed")
    after = moved(client, customer.headers, booking, date=NEW_DAY, slots=["morning"])["booking"]

    assert after["status"] == "pending" and "confirmed_at" not in after
    doc = stored(booking)
    assert doc["expires_at"] - doc["updated_at"] == dt.timedelta(hours=24)
    assert_held_by(claim_of(venue, NEW_DAY, "morning"), booking["id"])
    assert claim_of(venue, NEW_DAY, "morning")["expires_at"] == doc["expires_at"]
    # The owner confirms it again at its new place.
    assert decide(client, owner.headers, booking, "confirmed")["booking"]["status"] == "confirmed"
    assert claim_of(venue, NEW_DAY, "morning")["expires_at"] is None


def test_an_auto_confirm_venue_keeps_it_confirmed(client, customer, make_venue, owner):
    venue = make_venue(owner.user, slots=THREE_SLOTS, auto_confirm=True)
    booking = booked(client, customer.headers, venue, date=DAY, slots=["morning"])
    after = moved(client, customer.headers, booking, date=NEW_DAY, slots=["evening"])["booking"]
    assert after["status"] == "confirmed" and "expires_at" not in after
    assert claim_of(venue, NEW_DAY, "evening")["expires_at"] is None
    assert_free(claim_of(venue, DAY, "morning"))


def test_moving_within_a_day_keeps_the_slots_it_still_needs(client, customer, owner, venue):
    booking = booked(client, customer.headers, venue, date=DAY, slots=["morning"])
    decide(client, owner.headers, booking, "confirmed")
    morning_doc = claim_of(venue, DAY, "morning")["_id"]

    grown = moved(
        client,
        customer.headers,
        booking,
        date=DAY,
        slots=["morning", "afternoon"],
        expected_total=2 * PRICE,
    )
    assert grown["change"]["price_delta"] == PRICE
    assert grown["booking"]["price_locked"] == 2 * PRICE
    assert claim_of(venue, DAY, "morning")["_id"] == morning_doc  # never let go
    for key in ("morning", "afternoon"):
        assert_held_by(claim_of(venue, DAY, key), booking["id"])

    shrunk = moved(client, customer.headers, booking, date=DAY, slots=["afternoon"])
    assert shrunk["change"]["price_delta"] == -PRICE
    assert_free(claim_of(venue, DAY, "morning"))
    assert_held_by(claim_of(venue, DAY, "afternoon"), booking["id"])
    assert [entry["to"]["slots"] for entry in stored(booking)["history"]] == [
        ["morning", "afternoon"],
        ["afternoon"],
    ]


def test_the_venue_owner_may_move_it_too(client, customer, owner, venue):
    booking = booked(client, customer.headers, venue, date=DAY, slots=["morning"])
    data = moved(client, owner.headers, booking, date=NEW_DAY, slots=["morning"])
    assert data["change"]["by"] == str(owner.user["_id"])


def test_the_price_is_requoted_and_add_ons_stay_as_sold(client, customer, make_venue, owner):
    addons = [{"key": "stage", "name": "Stage", "price": 20000, "unit": "per_event"}]
    venue = make_venue(
        owner.user,
        slots=THREE_SLOTS,
        addons=addons,
        pricing={"base_price": PRICE, "overrides": [{"date": NEW_DAY, "price": 130000}]},
    )
    booking = booked(
        client, customer.headers, venue, date=DAY, slots=["evening"], addons=[{"key": "stage"}]
    )
    db.venues().update_one({"_id": venue["_id"]}, {"$set": {"addons": []}})

    data = moved(
        client, customer.headers, booking, date=NEW_DAY, slots=["evening"], expected_total=150000
    )
    price = data["booking"]["price_breakdown"]
    assert data["booking"]["price_locked"] == 150000
    assert [(line["key"], line["amount"]) for line in price["lines"]] == [
        ("evening", 130000),
        ("stage", 20000),
    ]
    assert price["total"] == 150000 and data["change"]["price_delta"] == 30000
    assert data["booking"]["addons"] == [{"key": "stage", "qty": 1}]


def test_a_taken_target_leaves_everything_as_it_was(client, customer, make_user, venue):
    booking = booked(client, customer.headers, venue, date=DAY, slots=["morning"])
    other = booked(client, make_user().headers, venue, date=NEW_DAY, slots=["evening"])
    before = snapshot()

    body = {"date": NEW_DAY, "slots": ["afternoon", "evening"], "expected_total": 2 * PRICE}
    response = move(client, customer.headers, booking, **body)
    error = assert_error(response, 409, "slot_taken")
    assert error["context"] == {"date": NEW_DAY, "slots": ["evening"]}
    # The afternoon was claimed on the way and freed again; the booking never moved.
    assert_free(claim_of(venue, NEW_DAY, "afternoon"))
    after = snapshot()
    assert after[0] == before[0]
    assert_held_by(claim_of(venue, DAY, "morning"), booking["id"])
    assert_held_by(claim_of(venue, NEW_DAY, "evening"), other["id"])


def test_a_move_within_a_day_onto_a_taken_slot_keeps_the_old_slot(
    client, customer, make_user, venue
):
    booking = booked(client, customer.headers, venue, date=DAY, slots=["morning"])
    booked(client, make_user().headers, venue, date=DAY, slots=["evening"])
    before = snapshot()
    body = {"date": DAY, "slots": ["morning", "evening"], "expected_total": 2 * PRICE}
    assert_error(move(client, customer.headers, booking, **body), 409, "slot_taken")
    assert snapshot() == before


def test_moving_is_refused_inside_the_cutoff(client, customer, make_venue, owner):
    # The evening three days ahead (18:00 in Karachi) starts 66 to 90 hours from now,
    # whatever the time of day: inside a 96-hour cutoff, outside the default 48.
    venue = make_venue(
        owner.user, slots=THREE_SLOTS, min_notice_hours=0, reschedule_cutoff_hours=96
    )
    booking = booked(client, customer.headers, venue, date=today_plus(3), slots=["evening"])
    before = snapshot()
    error = assert_error(
        move(client, customer.headers, booking, date=NEW_DAY, slots=["evening"]),
        409,
        "reschedule_too_late",
    )
    assert error["context"]["cutoff_hours"] == 96
    assert error["context"]["event_start"] == f"{today_plus(3)}T13:00:00.000Z"
    assert snapshot() == before

    # A booking made under the default 48 hours may move (the cut-off it was made under).
    db.venues().update_one({"_id": venue["_id"]}, {"$unset": {"reschedule_cutoff_hours": ""}})
    other = booked(client, customer.headers, venue, date=today_plus(3), slots=["morning"])
    assert moved(client, customer.headers, other, date=NEW_DAY, slots=["evening"])


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"date": DAY, "slots": ["morning"]}, 422, "validation_failed"),  # nowhere new
        ({"date": DAY, "slots": ["brunch"]}, 422, "validation_failed"),
        ({"date": DAY, "slots": []}, 422, "validation_failed"),
        ({"date": DAY}, 422, "validation_failed"),
        ({"slots": ["evening"]}, 422, "validation_failed"),
        ({"date": "2030-02-30", "slots": ["evening"]}, 422, "validation_failed"),
        ({"date": DAY, "slots": ["evening"], "guests": 5}, 422, "validation_failed"),
        ({"date": {"$gt": ""}, "slots": ["evening"]}, 422, "validation_failed"),
        ({"date": today_plus(45), "slots": ["evening"]}, 409, "date_unavailable"),
        ({"date": today_plus(-1), "slots": ["evening"]}, 409, "date_unavailable"),
        ({"date": NEW_DAY, "slots": ["evening"], "expected_total": 1}, 409, "price_changed"),
    ],
)
def test_bad_moves_are_refused_and_nothing_changes(client, customer, venue, body, status, code):
    booking = booked(client, customer.headers, venue, date=DAY, slots=["morning"])
    before = snapshot()
    assert_error(move(client, customer.headers, booking, **body), status, code)
    assert snapshot() == before


def test_strangers_cannot_move_a_booking(client, customer, make_user, venue):
    booking = booked(client, customer.headers, venue, date=DAY, slots=["morning"])
    before = snapshot()
    for headers in (make_user().headers, make_user(owner=True).headers):
        response = move(client, headers, booking, date=NEW_DAY, slots=["morning"])
        assert_error(response, 404, "booking_not_found")
    for booking_id in ("nope", other_id()):
        response = move(
            client, customer.headers, {"id": booking_id}, date=NEW_DAY, slots=["morning"]
        )
        assert_error(response, 404, "booking_not_found")
    assert_error(move(client, {}, booking, date=NEW_DAY, slots=["morning"]), 401, "token_missing")
    assert snapshot() == before


@pytest.mark.parametrize("status", ["cancelled", "rejected"])
def test_only_an_active_booking_moves(client, customer, owner, venue, status):
    booking = booked(client, customer.headers, venue, date=DAY, slots=["morning"])
    if status == "cancelled":
        client.delete(f"/bookings/{booking['id']}", headers=customer.headers)
    else:
        decide(client, owner.headers, booking, "rejected")
    before = snapshot()
    response = move(client, customer.headers, booking, date=NEW_DAY, slots=["morning"])
    error = assert_error(response, 409, "invalid_transition")
    assert error["context"] == {"from": status, "to": "rescheduled"}
    assert snapshot() == before


def test_a_lapsed_hold_cannot_be_moved(client, customer, venue):
    booking = booked(client, customer.headers, venue, date=DAY, slots=["morning"])
    lapse(booking)
    assert_error(
        move(client, customer.headers, booking, date=NEW_DAY, slots=["morning"]),
        409,
        ("hold_expired"),
    )
    assert stored(booking)["status"] == "expired"
    assert claim_of(venue, NEW_DAY, "morning") is None


# Wallet bookings pay or get back the difference --------------------------------------------


@pytest.fixture
def priced_venue(make_venue, owner):
    overrides = [{"date": NEW_DAY, "price": 130000}, {"date": today_plus(11), "price": 60000}]
    return make_venue(
        owner.user, slots=THREE_SLOTS, pricing={"base_price": PRICE, "overrides": overrides}
    )


def test_a_dearer_date_charges_the_difference_and_a_cheaper_one_refunds(
    client, customer, priced_venue
):
    fund(customer.user, 150000)
    booking = booked(
        client, customer.headers, priced_venue, date=DAY, slots=["morning"], payment_method="wallet"
    )
    up = moved(
        client, customer.headers, booking, date=NEW_DAY, slots=["morning"], expected_total=130000
    )
    assert up["change"]["price_delta"] == 30000
    assert up["booking"]["payment"] == {"method": "wallet", "paid": 130000, "refunded": 0}
    assert balance(customer.user) == 20000

    down = moved(client, customer.headers, booking, date=today_plus(11), slots=["morning"])
    assert down["change"]["price_delta"] == -70000
    assert down["booking"]["payment"] == {"method": "wallet", "paid": 130000, "refunded": 70000}
    assert balance(customer.user) == 90000
    assert ledger(customer.user)[1:] == [
        ("payment", -PRICE, f"payment:{booking['id']}"),
        ("payment", -30000, f"payment:{booking['id']}:move1"),
        ("refund", 70000, f"refund:{booking['id']}:move2"),
    ]

    # Cancelling now (ten days ahead: 100 %) refunds what is still paid, 60 000.
    cancelled = ok_data(client.delete(f"/bookings/{booking['id']}", headers=customer.headers))
    assert cancelled["booking"]["refund"] == {"pct": 100, "amount": 60000}
    assert balance(customer.user) == 150000


def test_too_little_money_for_the_difference_leaves_it_where_it_was(client, customer, priced_venue):
    fund(customer.user, 110000)
    booking = booked(
        client, customer.headers, priced_venue, date=DAY, slots=["morning"], payment_method="wallet"
    )
    before = snapshot()
    body = {"date": NEW_DAY, "slots": ["morning"], "expected_total": 130000}
    error = assert_error(move(client, customer.headers, booking, **body), 409, "insufficient_funds")
    assert error["context"] == {"balance": 10000, "needed": 30000}
    assert snapshot()[0] == before[0] and snapshot()[3] == before[3]
    assert_free(claim_of(priced_venue, NEW_DAY, "morning"))
    assert_held_by(claim_of(priced_venue, DAY, "morning"), booking["id"])
    assert balance(customer.user) == 10000


def test_a_retried_move_with_the_same_key_moves_once(client, customer, venue):
    booking = booked(client, customer.headers, venue, date=DAY, slots=["morning"])
    headers = {**customer.headers, "Idempotency-Key": "move-1"}
    first = move(client, headers, booking, date=NEW_DAY, slots=["morning"])
    again = move(client, headers, booking, date=NEW_DAY, slots=["morning"])
    assert again.status_code == 200 and again.get_json() == first.get_json()
    assert len(stored(booking)["history"]) == 1
    assert book(client, customer.headers, venue, date=DAY, slots=["morning"]).status_code == 201


# Moves racing other requests --------------------------------------------------------------


def test_a_confirm_overtaken_by_a_move_asks_to_reload(client, customer, owner, venue, monkeypatch):
    booking = booked(client, customer.headers, venue, date=DAY, slots=["morning"])
    real = claims.keep_live_claims

    def moved_first(*args):
        # The customer's move lands between the owner's read and the owner's confirm.
        reschedule.reschedule_booking(customer.user, booking["id"], NEW_DAY, ["morning"])
        return real(*args)

    monkeypatch.setattr(claims, "keep_live_claims", moved_first)
    response = client.patch(
        f"/bookings/{booking['id']}", json={"status": "confirmed"}, headers=owner.headers
    )
    error = assert_error(response, 409, "booking_changed")
    assert error["context"] == {"date": NEW_DAY, "slots": ["morning"]}
    doc = stored(booking)
    assert doc["status"] == "pending" and doc["date"] == NEW_DAY
    assert_held_by(claim_of(venue, NEW_DAY, "morning"), booking["id"])
    assert_free(claim_of(venue, DAY, "morning"))


@pytest.mark.parametrize(
    ("meanwhile", "code"),
    [
        ({"status": "cancelled"}, "invalid_transition"),
        ({"expires_at": dt.datetime(2000, 1, 1, tzinfo=dt.UTC)}, "hold_expired"),
    ],
)
def test_a_move_overtaken_before_its_write_frees_its_new_claims(
    client, customer, venue, monkeypatch, meanwhile, code
):
    booking = booked(client, customer.headers, venue, date=DAY, slots=["morning"])
    real = db.bookings

    class Overtaken(Proxy):
        def find_one_and_update(self, query, update, **kwargs):
            self.collection.update_one({"_id": query["_id"]}, {"$set": meanwhile})
            return self.collection.find_one_and_update(query, update, **kwargs)

    monkeypatch.setattr(db, "bookings", lambda: Overtaken(real()))
    response = move(client, customer.headers, booking, date=NEW_DAY, slots=["evening"])
    monkeypatch.setattr(db, "bookings", real)

    assert_error(response, 409, code)
    doc = stored(booking)
    assert doc["date"] == DAY and doc["history"] == []
    assert_free(claim_of(venue, NEW_DAY, "evening"))
