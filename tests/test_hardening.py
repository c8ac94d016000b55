"""Races and crashes the booking core must survive.

An owner deleting a venue, or removing a date or slot, while a customer books it (the exact
interleavings are forced by running one request inside a step of the other); and cancelling
a booking the owner never accepted.
"""

import pytest

from halls import db
from halls.bookings import claims
from halls.bookings import service as bookings
from halls.errors import ApiError
from halls.venues import service as venues
from tests.booking_helpers import (
    SLOTS,
    Proxy,
    assert_free,
    assert_held_by,
    balance,
    book,
    booked,
    claim_of,
    fund,
    held_claims,
    lapse,
    ledger,
    stored,
)
from tests.helpers import assert_error, ok_data, today_plus

DAY, NEW_DAY = today_plus(3), today_plus(5)


@pytest.fixture
def venue(make_venue, owner):
    return make_venue(owner[0], slots=SLOTS)


def stored_venue(venue):
    return db.venues().find_one({"_id": venue["_id"]})


def outcome(call):
    """What a service call returned, or the (status, code) of the ApiError it raised."""
    try:
        return call()
    except ApiError as error:
        return (error.code, error.error_code)


def run_before(monkeypatch, module, name, call):
    """Run `call` once, just before the request's first `module.name(...)`; what it gave back."""
    real = getattr(module, name)
    seen = []

    def wrapped(*args, **kwargs):
        if not seen:
            seen.append(outcome(call))
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, wrapped)
    return seen


def run_before_claims(monkeypatch, call):
    """Run `call` once, just before the request takes its slot claims."""
    return run_before(monkeypatch, claims, "claim_slots", call)


def patch_venue(owner, venue, changes):
    return lambda: venues.update_venue(owner[0], venue["_id"], changes)


def run_before_venue_write(monkeypatch, call):
    """Run `call` once, just before the next find_one_and_update on the venues collection."""
    real = db.venues
    seen = []

    class Hooked(Proxy):
        def find_one_and_update(self, *args, **kwargs):
            if not seen:
                seen.append(outcome(call))
            return self.collection.find_one_and_update(*args, **kwargs)

    monkeypatch.setattr(db, "venues", lambda: Hooked(real()))
    return seen


def book_now(customer, venue, date=DAY, slots=("morning",)):
    return lambda: bookings.create_booking(customer[0], venue["_id"], date, 50, slots=list(slots))


# --- Deleting a venue while it is being booked ---------------------------------------------


def test_a_booking_made_between_the_delete_check_and_write_keeps_the_venue(
    client, monkeypatch, owner, customer, venue
):
    before = stored_venue(venue)
    seen = run_before_venue_write(monkeypatch, book_now(customer, venue))
    response = client.delete(f"/venues/{venue['_id']}", headers=owner[1])
    assert_error(response, 409, "venue_has_bookings")
    (booking,) = seen
    assert booking["status"] == "pending"
    # The venue is back exactly as it was, and the booking and its claim stand.
    assert stored_venue(venue) == before
    assert db.bookings().find_one({"_id": booking["_id"]})["status"] == "pending"
    assert_held_by(claim_of(venue, DAY, "morning"), booking["_id"])


def test_a_delete_between_the_booking_check_and_claim_wins_and_the_booking_undoes(
    client, monkeypatch, owner, customer, venue
):
    seen = run_before_claims(monkeypatch, lambda: venues.delete_venue(owner[0], venue["_id"]))
    response = book(client, customer[1], venue, date=DAY, slots=["morning"])
    assert_error(response, 404, "venue_not_found")
    assert seen[0]["status"] == "deleted"
    assert stored_venue(venue)["status"] == "deleted"
    assert db.bookings().count_documents({}) == 0
    assert held_claims() == []


def test_a_delete_between_the_booking_claim_and_insert_wins_and_the_booking_undoes(
    client, monkeypatch, owner, customer, venue
):
    real = db.bookings
    seen = []

    class Hooked(Proxy):
        def insert_one(self, document):
            seen.append(outcome(lambda: venues.delete_venue(owner[0], venue["_id"])))
            return self.collection.insert_one(document)

    monkeypatch.setattr(db, "bookings", lambda: Hooked(real()))
    response = book(client, customer[1], venue, date=DAY, slots=["morning"])
    assert_error(response, 404, "venue_not_found")
    assert seen[0]["status"] == "deleted"
    assert stored_venue(venue)["status"] == "deleted"
    assert real().count_documents({}) == 0
    assert held_claims() == []
    assert_free(claim_of(venue, DAY, "morning"))


def test_a_delete_after_the_booking_is_written_is_refused(
    client, monkeypatch, owner, customer, venue
):
    before = stored_venue(venue)
    seen = run_before(
        monkeypatch,
        claims,
        "confirm_claims",
        lambda: venues.delete_venue(owner[0], venue["_id"]),
    )
    booking = booked(client, customer[1], venue, date=DAY, slots=["morning"])
    assert seen == [(409, "venue_has_bookings")]
    assert stored_venue(venue) == before
    assert_held_by(claim_of(venue, DAY, "morning"), booking["id"])


def test_a_lapsed_hold_is_no_upcoming_booking(client, owner, customer, venue):
    booking = booked(client, customer[1], venue, date=DAY, slots=["morning"])
    lapse(booking)
    data = ok_data(client.delete(f"/venues/{venue['_id']}", headers=owner[1]))
    assert data["venue"]["status"] == "deleted"
    assert stored_venue(venue)["status"] == "deleted"
    assert stored(booking)["status"] == "pending"  # untouched; it reads as expired


def test_a_live_hold_and_a_confirmed_booking_block_the_delete(client, owner, customer, venue):
    pending = booked(client, customer[1], venue, date=DAY, slots=["morning"])
    confirmed = booked(client, customer[1], venue, date=DAY, slots=["evening"])
    ok_data(
        client.patch(f"/bookings/{confirmed['id']}", json={"status": "confirmed"}, headers=owner[1])
    )
    before = stored_venue(venue)
    assert_error(
        client.delete(f"/venues/{venue['_id']}", headers=owner[1]), 409, "venue_has_bookings"
    )
    assert stored_venue(venue) == before
    client.delete(f"/bookings/{pending['id']}", headers=customer[1])
    assert_error(
        client.delete(f"/venues/{venue['_id']}", headers=owner[1]), 409, "venue_has_bookings"
    )
    assert stored_venue(venue) == before
    client.delete(f"/bookings/{confirmed['id']}", headers=customer[1])
    ok_data(client.delete(f"/venues/{venue['_id']}", headers=owner[1]))
    assert stored_venue(venue)["status"] == "deleted"


def test_an_inactive_venue_refused_a_delete_stays_inactive(client, owner, customer, venue):
    booking = booked(client, customer[1], venue, date=DAY, slots=["morning"])
    db.venues().update_one({"_id": venue["_id"]}, {"$set": {"status": "inactive"}})
    before = stored_venue(venue)
    assert_error(
        client.delete(f"/venues/{venue['_id']}", headers=owner[1]), 409, "venue_has_bookings"
    )
    assert stored_venue(venue) == before
    assert stored(booking)["status"] == "pending"


# --- Removing a date or a slot while it is being booked -------------------------------------


def remaining_dates(venue, date):
    return [day for day in venue["dates_available"] if day != date]


def test_a_booking_between_the_patch_check_and_write_keeps_the_date(
    client, monkeypatch, owner, customer, venue
):
    before = stored_venue(venue)
    seen = run_before_venue_write(monkeypatch, book_now(customer, venue))
    response = client.patch(
        f"/venues/{venue['_id']}",
        json={"dates_available": remaining_dates(venue, DAY), "capacity": 10},
        headers=owner[1],
    )
    error = assert_error(response, 409, "date_in_use")
    assert error["details"] == {"dates": [DAY]}
    (booking,) = seen
    assert stored_venue(venue) == before  # every part of the change taken back
    assert_held_by(claim_of(venue, DAY, "morning"), booking["_id"])


def test_a_date_removed_before_the_booking_claims_refuses_the_booking(
    client, monkeypatch, owner, customer, venue
):
    changes = {"dates_available": remaining_dates(venue, DAY)}
    seen = run_before_claims(
        monkeypatch,
        patch_venue(owner, venue, changes),
    )
    response = book(client, customer[1], venue, date=DAY, slots=["morning"])
    error = assert_error(response, 409, "date_unavailable")
    assert error["details"] == {"date": DAY, "slots": ["morning"]}
    assert DAY not in seen[0]["dates_available"]
    assert DAY not in stored_venue(venue)["dates_available"]
    assert db.bookings().count_documents({}) == 0
    assert held_claims() == []


def test_a_booking_between_the_patch_check_and_write_keeps_the_slot(
    client, monkeypatch, owner, customer, venue
):
    before = stored_venue(venue)
    seen = run_before_venue_write(monkeypatch, book_now(customer, venue, slots=["evening"]))
    response = client.patch(f"/venues/{venue['_id']}", json={"slots": SLOTS[:1]}, headers=owner[1])
    error = assert_error(response, 409, "slot_in_use")
    assert error["details"] == {"slots": ["evening"]}
    assert stored_venue(venue) == before
    assert_held_by(claim_of(venue, DAY, "evening"), seen[0]["_id"])


def test_a_slot_removed_before_the_booking_claims_refuses_the_booking(
    client, monkeypatch, owner, customer, venue
):
    seen = run_before_claims(
        monkeypatch,
        patch_venue(owner, venue, {"slots": SLOTS[:1]}),
    )
    response = book(client, customer[1], venue, date=DAY, slots=["morning", "evening"])
    error = assert_error(response, 422, "validation_failed")
    assert "evening" in error["details"]["slots"][0]
    assert [slot["key"] for slot in seen[0]["slots"]] == ["morning"]
    assert db.bookings().count_documents({}) == 0
    assert held_claims() == []


def test_a_date_removed_while_a_booking_moves_there_leaves_it_where_it_was(
    client, monkeypatch, owner, customer, venue
):
    booking = booked(client, customer[1], venue, date=DAY, slots=["morning"])
    before = stored(booking)
    changes = {"dates_available": remaining_dates(venue, NEW_DAY)}
    seen = run_before_claims(
        monkeypatch,
        patch_venue(owner, venue, changes),
    )
    response = client.post(
        f"/bookings/{booking['id']}/reschedule",
        json={"date": NEW_DAY, "slots": ["morning"]},
        headers=customer[1],
    )
    assert_error(response, 409, "date_unavailable")
    assert NEW_DAY not in seen[0]["dates_available"]
    assert stored(booking) == before
    assert_held_by(claim_of(venue, DAY, "morning"), booking["id"])
    assert held_claims(date=NEW_DAY) == []


def test_a_plain_patch_still_answers_the_updated_venue(client, owner, venue):
    override = {"date": DAY, "price": 5}
    response = client.patch(
        f"/venues/{venue['_id']}",
        json={"capacity": 42, "pricing": {"overrides": [override]}},
        headers=owner[1],
    )
    data = ok_data(response)["venue"]
    assert data["capacity"] == 42
    assert data["pricing"] == {"base_price": 100000, "overrides": [override]}
    doc = stored_venue(venue)
    assert doc["capacity"] == 42
    assert doc["pricing"] == {"base_price": 100000, "overrides": [override]}
    assert doc["updated_at"] > venue["updated_at"]


# --- Cancelling a booking the owner never accepted ------------------------------------------

PRICE = 100000  # make_venue's base price, per slot


def wallet_booked(client, customer, venue, date):
    fund(customer[0], PRICE)
    return booked(client, customer[1], venue, date=date, slots=["evening"], payment_method="wallet")


def cancellation_quote(client, headers, booking):
    return ok_data(client.get(f"/bookings/{booking['id']}/cancellation-quote", headers=headers))


def test_a_pending_booking_cancelled_by_its_customer_refunds_everything(
    client, customer, make_venue, owner
):
    venue = make_venue(owner[0], slots=SLOTS, min_notice_hours=0)
    booking = wallet_booked(client, customer, venue, today_plus(1))  # the 0 % tier
    quote = cancellation_quote(client, customer[1], booking)
    assert (quote["refund_pct"], quote["refund_amount"]) == (100, PRICE)
    cancelled = ok_data(client.delete(f"/bookings/{booking['id']}", headers=customer[1]))
    assert cancelled["booking"]["refund"] == {"pct": 100, "amount": PRICE}
    doc = stored(booking)
    assert doc["status"] == "cancelled"
    assert doc["refund"] == {"pct": 100, "amount": PRICE}
    assert doc["payment"] == {"method": "wallet", "paid": PRICE, "refunded": PRICE}
    assert balance(customer[0]) == PRICE
    assert [entry[:2] for entry in ledger(customer[0])] == [
        ("credit", PRICE),
        ("payment", -PRICE),
        ("refund", PRICE),
    ]
    assert_free(claim_of(venue, today_plus(1), "evening"))


def test_once_confirmed_the_tiers_bind_the_customer(client, customer, make_venue, owner):
    venue = make_venue(owner[0], slots=SLOTS, min_notice_hours=0)
    booking = wallet_booked(client, customer, venue, today_plus(1))
    ok_data(
        client.patch(f"/bookings/{booking['id']}", json={"status": "confirmed"}, headers=owner[1])
    )
    assert stored(booking)["confirmed_once"] is True
    quote = cancellation_quote(client, customer[1], booking)
    assert (quote["refund_pct"], quote["refund_amount"]) == (0, 0)
    # The owner's side still gives everything back.
    assert cancellation_quote(client, owner[1], booking)["refund_pct"] == 100
    cancelled = ok_data(client.delete(f"/bookings/{booking['id']}", headers=customer[1]))
    assert cancelled["booking"]["refund"] == {"pct": 0, "amount": 0}
    assert stored(booking)["payment"]["refunded"] == 0
    assert balance(customer[0]) == 0


def test_a_confirmed_booking_moved_back_to_pending_stays_bound(client, customer, owner, venue):
    booking = wallet_booked(client, customer, venue, today_plus(4))  # the 50 % tier
    ok_data(
        client.patch(f"/bookings/{booking['id']}", json={"status": "confirmed"}, headers=owner[1])
    )
    moved = ok_data(
        client.post(
            f"/bookings/{booking['id']}/reschedule",
            json={"date": today_plus(5), "slots": ["evening"]},
            headers=customer[1],
        )
    )["booking"]
    assert moved["status"] == "pending"
    assert stored(booking)["confirmed_once"] is True
    assert cancellation_quote(client, customer[1], booking)["refund_pct"] == 50
    cancelled = ok_data(client.delete(f"/bookings/{booking['id']}", headers=customer[1]))
    assert cancelled["booking"]["refund"] == {"pct": 50, "amount": PRICE // 2}
    assert stored(booking)["refund"] == {"pct": 50, "amount": PRICE // 2}
    assert balance(customer[0]) == PRICE // 2


def test_an_auto_confirmed_booking_is_bound_from_the_start(client, customer, make_venue, owner):
    venue = make_venue(owner[0], slots=SLOTS, min_notice_hours=0, auto_confirm=True)
    booking = wallet_booked(client, customer, venue, today_plus(1))
    assert stored(booking)["confirmed_once"] is True
    cancelled = ok_data(client.delete(f"/bookings/{booking['id']}", headers=customer[1]))
    assert cancelled["booking"]["refund"] == {"pct": 0, "amount": 0}
    assert balance(customer[0]) == 0
