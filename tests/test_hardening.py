"""Races and crashes the booking core must survive.

An owner deleting a venue, or removing a date or slot, while a customer books it (the exact
interleavings are forced by running one request inside a step of the other); cancelling a
booking the owner never accepted; and claims a crash between two writes left held.
"""

import datetime as dt

import pytest
from bson import ObjectId

from halls import db
from halls.bookings import claims, create, reschedule
from halls.bookings import service as bookings
from halls.errors import ApiError
from halls.venues import service as venues
from tests.bookings.helpers import (
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
    return make_venue(owner.user, slots=SLOTS)


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
    return lambda: venues.update_venue(owner.user, venue["_id"], changes)


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
    return lambda: create.create_booking(customer.user, venue["_id"], date, 50, slots=list(slots))


# --- Deleting a venue while it is being booked ---------------------------------------------


def test_a_booking_made_between_the_delete_check_and_write_keeps_the_venue(
    client, monkeypatch, owner, customer, venue
):
    before = stored_venue(venue)
    seen = run_before_venue_write(monkeypatch, book_now(customer, venue))
    response = client.delete(f"/venues/{venue['_id']}", headers=owner.headers)
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
    seen = run_before_claims(monkeypatch, lambda: venues.delete_venue(owner.user, venue["_id"]))
    response = book(client, customer.headers, venue, date=DAY, slots=["morning"])
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
            seen.append(outcome(lambda: venues.delete_venue(owner.user, venue["_id"])))
            return self.collection.insert_one(document)

    monkeypatch.setattr(db, "bookings", lambda: Hooked(real()))
    response = book(client, customer.headers, venue, date=DAY, slots=["morning"])
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
        lambda: venues.delete_venue(owner.user, venue["_id"]),
    )
    booking = booked(client, customer.headers, venue, date=DAY, slots=["morning"])
    assert seen == [(409, "venue_has_bookings")]
    assert stored_venue(venue) == before
    assert_held_by(claim_of(venue, DAY, "morning"), booking["id"])


def test_a_lapsed_hold_is_no_upcoming_booking(client, owner, customer, venue):
    booking = booked(client, customer.headers, venue, date=DAY, slots=["morning"])
    lapse(booking)
    data = ok_data(client.delete(f"/venues/{venue['_id']}", headers=owner.headers))
    assert data["venue"]["status"] == "deleted"
    assert stored_venue(venue)["status"] == "deleted"
    assert stored(booking)["status"] == "pending"  # untouched; it reads as expired


def test_a_live_hold_and_a_confirmed_booking_block_the_delete(client, owner, customer, venue):
    pending = booked(client, customer.headers, venue, date=DAY, slots=["morning"])
    confirmed = booked(client, customer.headers, venue, date=DAY, slots=["evening"])
    ok_data(
        client.patch(
            f"/bookings/{confirmed['id']}", json={"status": "confirmed"}, headers=owner.headers
        )
    )
    before = stored_venue(venue)
    assert_error(
        client.delete(f"/venues/{venue['_id']}", headers=owner.headers), 409, "venue_has_bookings"
    )
    assert stored_venue(venue) == before
    client.delete(f"/bookings/{pending['id']}", headers=customer.headers)
    assert_error(
        client.delete(f"/venues/{venue['_id']}", headers=owner.headers), 409, "venue_has_bookings"
    )
    assert stored_venue(venue) == before
    client.delete(f"/bookings/{confirmed['id']}", headers=customer.headers)
    ok_data(client.delete(f"/venues/{venue['_id']}", headers=owner.headers))
    assert stored_venue(venue)["status"] == "deleted"


def test_an_inactive_venue_refused_a_delete_stays_inactive(client, owner, customer, venue):
    booking = booked(client, customer.headers, venue, date=DAY, slots=["morning"])
    db.venues().update_one({"_id": venue["_id"]}, {"$set": {"status": "inactive"}})
    before = stored_venue(venue)
    assert_error(
        client.delete(f"/venues/{venue['_id']}", headers=owner.headers), 409, "venue_has_bookings"
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
        headers=owner.headers,
    )
    error = assert_error(response, 409, "date_in_use")
    assert error["context"] == {"dates": [DAY]}
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
    response = book(client, customer.headers, venue, date=DAY, slots=["morning"])
    error = assert_error(response, 409, "date_unavailable")
    assert error["context"] == {"date": DAY, "slots": ["morning"]}
    assert DAY not in seen[0]["dates_available"]
    assert DAY not in stored_venue(venue)["dates_available"]
    assert db.bookings().count_documents({}) == 0
    assert held_claims() == []


def test_a_booking_between_the_patch_check_and_write_keeps_the_slot(
    client, monkeypatch, owner, customer, venue
):
    before = stored_venue(venue)
    seen = run_before_venue_write(monkeypatch, book_now(customer, venue, slots=["evening"]))
    response = client.patch(
        f"/venues/{venue['_id']}", json={"slots": SLOTS[:1]}, headers=owner.headers
    )
    error = assert_error(response, 409, "slot_in_use")
    assert error["context"] == {"slots": ["evening"]}
    assert stored_venue(venue) == before
    assert_held_by(claim_of(venue, DAY, "evening"), seen[0]["_id"])


def test_a_slot_removed_before_the_booking_claims_refuses_the_booking(
    client, monkeypatch, owner, customer, venue
):
    seen = run_before_claims(
        monkeypatch,
        patch_venue(owner, venue, {"slots": SLOTS[:1]}),
    )
    response = book(client, customer.headers, venue, date=DAY, slots=["morning", "evening"])
    error = assert_error(response, 422, "validation_failed")
    assert "evening" in error["details"]["slots"][0]
    assert [slot["key"] for slot in seen[0]["slots"]] == ["morning"]
    assert db.bookings().count_documents({}) == 0
    assert held_claims() == []


def test_a_date_removed_while_a_booking_moves_there_leaves_it_where_it_was(
    client, monkeypatch, owner, customer, venue
):
    booking = booked(client, customer.headers, venue, date=DAY, slots=["morning"])
    before = stored(booking)
    changes = {"dates_available": remaining_dates(venue, NEW_DAY)}
    seen = run_before_claims(
        monkeypatch,
        patch_venue(owner, venue, changes),
    )
    response = client.post(
        f"/bookings/{booking['id']}/reschedule",
        json={"date": NEW_DAY, "slots": ["morning"]},
        headers=customer.headers,
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
        headers=owner.headers,
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
    fund(customer.user, PRICE)
    return booked(
        client, customer.headers, venue, date=date, slots=["evening"], payment_method="wallet"
    )


def cancellation_quote(client, headers, booking):
    return ok_data(client.get(f"/bookings/{booking['id']}/cancellation-quote", headers=headers))


def test_a_pending_booking_cancelled_by_its_customer_refunds_everything(
    client, customer, make_venue, owner
):
    venue = make_venue(owner.user, slots=SLOTS, min_notice_hours=0)
    booking = wallet_booked(client, customer, venue, today_plus(1))  # the 0 % tier
    quote = cancellation_quote(client, customer.headers, booking)
    assert (quote["refund_pct"], quote["refund_amount"]) == (100, PRICE)
    cancelled = ok_data(client.delete(f"/bookings/{booking['id']}", headers=customer.headers))
    assert cancelled["booking"]["refund"] == {"pct": 100, "amount": PRICE}
    doc = stored(booking)
    assert doc["status"] == "cancelled"
    assert doc["refund"] == {"pct": 100, "amount": PRICE}
    assert doc["payment"] == {"method": "wallet", "paid": PRICE, "refunded": PRICE}
    assert balance(customer.user) == PRICE
    assert [entry[:2] for entry in ledger(customer.user)] == [
        ("credit", PRICE),
        ("payment", -PRICE),
        ("refund", PRICE),
    ]
    assert_free(claim_of(venue, today_plus(1), "evening"))


def test_once_confirmed_the_tiers_bind_the_customer(client, customer, make_venue, owner):
    venue = make_venue(owner.user, slots=SLOTS, min_notice_hours=0)
    booking = wallet_booked(client, customer, venue, today_plus(1))
    ok_data(
        client.patch(
            f"/bookings/{booking['id']}", json={"status": "confirmed"}, headers=owner.headers
        )
    )
    assert stored(booking)["confirmed_once"] is True
    quote = cancellation_quote(client, customer.headers, booking)
    assert (quote["refund_pct"], quote["refund_amount"]) == (0, 0)
    # The owner's side still gives everything back.
    assert cancellation_quote(client, owner.headers, booking)["refund_pct"] == 100
    cancelled = ok_data(client.delete(f"/bookings/{booking['id']}", headers=customer.headers))
    assert cancelled["booking"]["refund"] == {"pct": 0, "amount": 0}
    assert stored(booking)["payment"]["refunded"] == 0
    assert balance(customer.user) == 0


def test_a_confirmed_booking_moved_back_to_pending_stays_bound(client, customer, owner, venue):
    booking = wallet_booked(client, customer, venue, today_plus(4))  # the 50 % tier
    ok_data(
        client.patch(
            f"/bookings/{booking['id']}", json={"status": "confirmed"}, headers=owner.headers
        )
    )
    moved = ok_data(
        client.post(
            f"/bookings/{booking['id']}/reschedule",
            json={"date": today_plus(5), "slots": ["evening"]},
            headers=customer.headers,
        )
    )["booking"]
    assert moved["status"] == "pending"
    assert stored(booking)["confirmed_once"] is True
    assert cancellation_quote(client, customer.headers, booking)["refund_pct"] == 50
    cancelled = ok_data(client.delete(f"/bookings/{booking['id']}", headers=customer.headers))
    assert cancelled["booking"]["refund"] == {"pct": 50, "amount": PRICE // 2}
    assert stored(booking)["refund"] == {"pct": 50, "amount": PRICE // 2}
    assert balance(customer.user) == PRICE // 2


def test_an_auto_confirmed_booking_is_bound_from_the_start(client, customer, make_venue, owner):
    venue = make_venue(owner.user, slots=SLOTS, min_notice_hours=0, auto_confirm=True)
    booking = wallet_booked(client, customer, venue, today_plus(1))
    assert stored(booking)["confirmed_once"] is True
    cancelled = ok_data(client.delete(f"/bookings/{booking['id']}", headers=customer.headers))
    assert cancelled["booking"]["refund"] == {"pct": 0, "amount": 0}
    assert balance(customer.user) == 0


# --- Claims a crash left held: the orphan sweep (expire-holds) ------------------------------


def age(minutes=10):
    """Move every claim's claimed_at and every booking's updated_at back, as time passing would."""
    past = dt.timedelta(minutes=minutes)
    for claim in db.slot_claims().find({"claimed_at": {"$ne": None}}):
        db.slot_claims().update_one(
            {"_id": claim["_id"]}, {"$set": {"claimed_at": claim["claimed_at"] - past}}
        )
    for booking in db.bookings().find():
        db.bookings().update_one(
            {"_id": booking["_id"]}, {"$set": {"updated_at": booking["updated_at"] - past}}
        )


def sweep(app):
    result = app.test_cli_runner().invoke(args=["expire-holds"])
    assert result.exit_code == 0, result.output
    return result.output.strip()


def crash_in(monkeypatch, module, name):
    def crash(*args, **kwargs):
        raise RuntimeError("the process died here")

    monkeypatch.setattr(module, name, crash)


def confirmed(client, customer, owner, venue, **body):
    booking = booked(client, customer.headers, venue, **body)
    path = f"/bookings/{booking['id']}"
    ok_data(client.patch(path, json={"status": "confirmed"}, headers=owner.headers))
    return booking


def crashed_move(monkeypatch, customer, booking):
    """Reschedule DAY -> NEW_DAY, dying after the move but before the old claims are freed."""
    crash_in(monkeypatch, claims, "release_all_but")
    with pytest.raises(RuntimeError):
        reschedule.reschedule_booking(customer.user, booking["id"], NEW_DAY, ["morning"])
    monkeypatch.undo()


def crashed_confirm(monkeypatch, owner, booking):
    """Confirm, dying after the claims are held for good but before the booking is marked."""
    crash_in(monkeypatch, bookings, "_move_status")
    with pytest.raises(RuntimeError):
        bookings.decide_booking(owner.user, booking["id"], "confirmed")
    monkeypatch.undo()


def test_a_move_that_died_before_freeing_the_old_slots_is_swept(
    app, client, monkeypatch, owner, customer, venue
):
    booking = confirmed(client, customer, owner, venue, date=DAY, slots=["morning"])
    crashed_move(monkeypatch, customer, booking)
    moved = stored(booking)
    assert (moved["date"], moved["slots"], moved["status"]) == (NEW_DAY, ["morning"], "pending")
    assert held_claims(date=DAY)[0]["booking_id"] == moved["_id"]  # the crash's leftover

    # Within the grace period nothing is touched: the move might still be under way.
    assert sweep(app) == "expired 0, completed 0, freed 0 orphaned claims, deleted 0 past claims"
    assert held_claims(date=DAY)[0]["booking_id"] == moved["_id"]

    age()
    assert sweep(app) == "expired 0, completed 0, freed 1 orphaned claims, deleted 0 past claims"
    assert_free(claim_of(venue, DAY, "morning"))
    assert_held_by(claim_of(venue, NEW_DAY, "morning"), booking["id"])
    assert stored(booking)["slots"] == ["morning"]  # the booking itself is left alone
    # The old slot is bookable again.
    booked(client, customer.headers, venue, date=DAY, slots=["morning"])


def test_a_booking_changed_within_the_grace_period_keeps_its_old_claims(
    app, client, monkeypatch, owner, customer, venue
):
    booking = confirmed(client, customer, owner, venue, date=DAY, slots=["morning"])
    crashed_move(monkeypatch, customer, booking)
    age()
    # Written just now (a move may yet be undone): its claims are not judged by it yet.
    db.bookings().update_one(
        {"_id": stored(booking)["_id"]}, {"$set": {"updated_at": dt.datetime.now(dt.UTC)}}
    )
    assert "freed 0 orphaned claims," in sweep(app)
    assert held_claims(date=DAY)[0]["booking_id"] == stored(booking)["_id"]


def test_live_bookings_keep_their_claims(app, client, owner, customer, venue):
    pending = booked(client, customer.headers, venue, date=DAY, slots=["morning"])
    held = confirmed(client, customer, owner, venue, date=DAY, slots=["evening"])
    age()
    assert "freed 0 orphaned claims," in sweep(app)
    assert_held_by(claim_of(venue, DAY, "morning"), pending["id"])
    assert_held_by(claim_of(venue, DAY, "evening"), held["id"])


def test_a_blackouts_claims_are_never_swept(app, client, owner, venue):
    response = client.post(
        f"/venues/{venue['_id']}/blackouts",
        json={"date": DAY, "reason": "Repairs"},
        headers=owner.headers,
    )
    blackout = ok_data(response, 201)["blackout"]
    age()
    assert "freed 0 orphaned claims," in sweep(app)
    assert {claim["booking_id"] for claim in held_claims(date=DAY)} == {ObjectId(blackout["id"])}
    assert len(held_claims(date=DAY)) == 2


@pytest.mark.parametrize("status", ["cancelled", "rejected", "expired", "completed", None])
def test_claims_of_a_booking_over_or_gone_are_swept(app, client, owner, customer, venue, status):
    booking = confirmed(client, customer, owner, venue, date=DAY, slots=["morning", "evening"])
    if status is None:  # a failed booking deleted, its claims not yet released
        db.bookings().delete_one({"_id": stored(booking)["_id"]})
    else:  # its status written, then the process died before its claims were released
        db.bookings().update_one({"_id": stored(booking)["_id"]}, {"$set": {"status": status}})
    assert "freed 0 orphaned claims," in sweep(app)  # still within the grace period
    age()
    assert "freed 2 orphaned claims," in sweep(app)
    assert held_claims() == []
    for key in ("morning", "evening"):
        assert_free(claim_of(venue, DAY, key))


def test_a_claim_taken_over_while_being_judged_is_not_freed(
    app, client, monkeypatch, owner, customer, venue
):
    booking = confirmed(client, customer, owner, venue, date=DAY, slots=["morning"])
    db.bookings().update_one({"_id": stored(booking)["_id"]}, {"$set": {"status": "cancelled"}})
    age()
    newcomer = ObjectId()
    real = claims._orphaned

    def judged_then_taken(claim, settled):
        verdict = real(claim, settled)
        # Another booking takes the slot over between the verdict and the release.
        db.slot_claims().update_one(
            {"_id": claim["_id"]},
            {"$set": {"booking_id": newcomer, "claimed_at": dt.datetime.now(dt.UTC)}},
        )
        return verdict

    monkeypatch.setattr(claims, "_orphaned", judged_then_taken)
    assert claims.sweep_orphans() == 0
    claim = claim_of(venue, DAY, "morning")
    assert (claim["state"], claim["booking_id"]) == ("taken", newcomer)


def test_a_confirm_that_died_after_holding_the_claims_stays_safe(
    app, client, monkeypatch, owner, customer, make_user, venue
):
    booking = booked(client, customer.headers, venue, date=DAY, slots=["morning"])
    crashed_confirm(monkeypatch, owner, booking)
    doc = stored(booking)
    assert doc["status"] == "pending"
    claim = claim_of(venue, DAY, "morning")
    assert (claim["state"], claim["expires_at"]) == ("taken", None)  # held for good
    # Nobody can take the slot, and the sweep leaves it to its pending booking.
    assert_error(
        book(client, make_user().headers, venue, date=DAY, slots=["morning"]), 409, "slot_taken"
    )
    age()
    assert "freed 0 orphaned claims," in sweep(app)
    # Confirming again finishes the job.
    confirmed_now = ok_data(
        client.patch(
            f"/bookings/{booking['id']}", json={"status": "confirmed"}, headers=owner.headers
        )
    )["booking"]
    assert confirmed_now["status"] == "confirmed"
    assert_held_by(claim_of(venue, DAY, "morning"), booking["id"])


def test_a_confirm_that_died_and_was_never_retried_frees_the_slot_when_the_hold_ends(
    app, client, monkeypatch, owner, customer, venue
):
    booking = booked(client, customer.headers, venue, date=DAY, slots=["morning"])
    crashed_confirm(monkeypatch, owner, booking)
    past = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    db.bookings().update_one({"_id": stored(booking)["_id"]}, {"$set": {"expires_at": past}})
    assert sweep(app).startswith("expired 1,")
    assert stored(booking)["status"] == "expired"
    assert_free(claim_of(venue, DAY, "morning"))
