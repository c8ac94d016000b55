"""Holds that expire, confirm/reject within the hold, auto-confirm, the expire-holds sweep,
completion, wallet payments and refunds by the cancellation policy, and the notices of each."""

import datetime as dt

import pytest
from bson import ObjectId

from halls import db
from halls.bookings import claims, maintenance
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
    lapse,
    ledger,
    notices,
    snapshot,
    stored,
)
from tests.helpers import assert_error, ok_data, today_plus

PRICE = 100000


@pytest.fixture
def venue(make_venue, owner):
    return make_venue(owner[0])


def decide(client, headers, booking, status, **body):
    return client.patch(
        f"/bookings/{booking['id']}", json={"status": status, **body}, headers=headers
    )


def cancel(client, headers, booking):
    return client.delete(f"/bookings/{booking['id']}", headers=headers)


def seen(client, headers, booking):
    return ok_data(client.get(f"/bookings/{booking['id']}", headers=headers))["booking"]


def listed(client, headers, query):
    return [b["id"] for b in ok_data(client.get(f"/bookings{query}", headers=headers))["items"]]


# Holds ------------------------------------------------------------------------------------


def test_a_new_booking_holds_its_slots_for_the_venues_hold_minutes(
    client, customer, make_venue, owner
):
    venue = make_venue(owner[0], hold_minutes=90)
    booking = booked(client, customer[1], venue)
    doc = stored(booking)
    assert doc["status"] == "pending"
    assert doc["expires_at"] - doc["created_at"] == dt.timedelta(minutes=90)
    assert booking["expires_at"].endswith("Z")
    assert_held_by(claim_of(venue), booking["id"])
    assert notices(booking) == [
        ("booking_created_customer", customer[0]["email"]),
        ("booking_created_owner", owner[0]["email"]),
    ]


def test_a_hold_never_outlasts_the_start_of_the_event(client, customer, make_venue, owner):
    venue = make_venue(owner[0], slots=SLOTS, hold_minutes=43200, min_notice_hours=0)
    booking = booked(client, customer[1], venue, slot="evening")
    # 18:00 in Asia/Karachi (UTC+5) is 13:00 UTC.
    day = dt.date.fromisoformat(today_plus(3))
    start = dt.datetime.combine(day, dt.time(13, 0), tzinfo=dt.UTC)
    assert stored(booking)["expires_at"] == start
    assert_held_by(claim_of(venue, slot="evening"), booking["id"])


def test_a_lapsed_hold_frees_the_slot_at_once_and_reads_as_expired(
    client, customer, make_user, owner, venue
):
    booking = booked(client, customer[1], venue)
    lapse(booking)

    for headers in (customer[1], owner[1]):
        assert seen(client, headers, booking)["status"] == "expired"
    assert listed(client, customer[1], "?status=pending") == []
    assert listed(client, customer[1], "?status=expired") == [booking["id"]]
    # Nothing swept it: the claim filter alone let the next booker in.
    assert stored(booking)["status"] == "pending"
    newcomer = booked(client, make_user()[1], venue)
    assert_held_by(claim_of(venue), newcomer["id"])
    assert listed(client, owner[1], "?status=pending") == [newcomer["id"]]


def test_the_owner_confirms_while_the_hold_lasts(client, customer, owner, venue):
    booking = booked(client, customer[1], venue)
    confirmed = ok_data(decide(client, owner[1], booking, "confirmed"))["booking"]
    assert confirmed["status"] == "confirmed"
    assert "expires_at" not in confirmed
    doc = stored(booking)
    assert doc["status"] == "confirmed" and "expires_at" not in doc
    claim = claim_of(venue)
    assert claim["expires_at"] is None and claim["booking_id"] == doc["_id"]
    assert notices(booking)[-1] == ("booking_confirmed", customer[0]["email"])


@pytest.mark.parametrize("action", ["confirm", "reject", "cancel"])
def test_a_lapsed_hold_cannot_be_decided_or_cancelled(client, customer, owner, venue, action):
    booking = booked(client, customer[1], venue)
    lapse(booking)
    if action == "cancel":
        response = cancel(client, customer[1], booking)
    else:
        response = decide(client, owner[1], booking, action + ("ed" if action[-1] != "e" else "d"))
    assert_error(response, 409, "hold_expired")

    doc = stored(booking)
    assert doc["status"] == "expired" and doc["expired_at"].tzinfo is not None
    assert doc["refund"] == {"pct": 100, "amount": 0}
    assert_free(claim_of(venue))
    assert notices(booking)[-1] == ("hold_expired", customer[0]["email"])


def test_a_lapsed_hold_taken_over_cannot_be_confirmed(client, customer, make_user, owner, venue):
    booking = booked(client, customer[1], venue)
    lapse(booking)
    # Nobody swept the first booking yet; the newcomer took the lapsed claim.
    db.bookings().update_one(
        {"_id": ObjectId(booking["id"])},
        {"$set": {"expires_at": dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)}},
    )
    newcomer = booked(client, make_user()[1], venue)

    assert_error(decide(client, owner[1], booking, "confirmed"), 409, "hold_expired")
    assert stored(booking)["status"] == "expired"
    assert_held_by(claim_of(venue), newcomer["id"])
    assert stored(newcomer)["status"] == "pending"


def test_auto_confirm_venues_confirm_at_once(client, customer, owner, make_venue):
    venue = make_venue(owner[0], slots=SLOTS, auto_confirm=True)
    booking = booked(client, customer[1], venue, slots=["morning", "evening"])
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
    error = assert_error(decide(client, owner[1], booking, "confirmed"), 409, "invalid_transition")
    assert error["details"] == {"from": "confirmed", "to": "confirmed"}


def test_reject_frees_the_slots_and_tells_the_customer(client, customer, owner, venue):
    booking = booked(client, customer[1], venue)
    rejected = ok_data(decide(client, owner[1], booking, "rejected", reason="Closed"))["booking"]
    assert rejected["status"] == "rejected"
    assert rejected["refund"] == {"pct": 100, "amount": 0}
    assert_free(claim_of(venue))
    assert notices(booking)[-1] == ("booking_rejected", customer[0]["email"])


# The sweep: expire-holds ------------------------------------------------------------------


def run_sweep(app):
    result = app.test_cli_runner().invoke(args=["expire-holds"])
    assert result.exit_code == 0, result.output
    return result.output


def test_expire_holds_marks_lapsed_bookings_and_frees_their_slots(
    app, client, customer, make_user, owner, make_venue
):
    venue = make_venue(owner[0], slots=SLOTS)
    lapsed = [booked(client, customer[1], venue, slot=key) for key in ("morning", "evening")]
    live = booked(client, make_user()[1], venue, slot="morning", date=today_plus(4))
    confirmed = booked(client, make_user()[1], venue, slot="evening", date=today_plus(4))
    ok_data(decide(client, owner[1], confirmed, "confirmed"))
    for booking in lapsed:
        lapse(booking)

    assert "expired 2" in run_sweep(app)
    for booking, key in zip(lapsed, ("morning", "evening"), strict=True):
        doc = stored(booking)
        assert doc["status"] == "expired" and doc["expired_at"] >= doc["expires_at"]
        assert_free(claim_of(venue, slot=key))
        assert notices(booking)[-1] == ("hold_expired", customer[0]["email"])
    assert stored(live)["status"] == "pending"
    assert_held_by(claim_of(venue, today_plus(4), "morning"), live["id"])
    assert stored(confirmed)["status"] == "confirmed"

    before = snapshot(), db.outbox().count_documents({})
    assert "expired 0" in run_sweep(app)
    assert (snapshot(), db.outbox().count_documents({})) == before


def test_expire_holds_completes_bookings_whose_day_is_over(app, client, customer, owner, venue):
    confirmed = booked(client, customer[1], venue)
    ok_data(decide(client, owner[1], confirmed, "confirmed"))
    upcoming = booked(client, customer[1], venue, date=today_plus(5))
    ok_data(decide(client, owner[1], upcoming, "confirmed"))
    cancelled = booked(client, customer[1], venue, date=today_plus(6))
    ok_data(cancel(client, customer[1], cancelled))
    for booking in (confirmed, cancelled):
        db.bookings().update_one(
            {"_id": ObjectId(booking["id"])}, {"$set": {"date": today_plus(-1)}}
        )

    assert "completed 1" in run_sweep(app)
    doc = stored(confirmed)
    assert doc["status"] == "completed" and doc["completed_at"].tzinfo is not None
    assert seen(client, customer[1], confirmed)["status"] == "completed"
    assert stored(upcoming)["status"] == "confirmed"
    assert stored(cancelled)["status"] == "cancelled"


def test_expire_holds_deletes_the_claims_of_dates_over_everywhere(app, owner, make_venue):
    venue = make_venue(owner[0], slots=SLOTS)
    everywhere_over = today_plus(-2)  # at least a day before today at UTC-12 too
    for date in (everywhere_over, today_plus(0), today_plus(3)):
        claims.claim_slots(venue["_id"], date, ["morning"], ObjectId())

    assert run_sweep(app).strip().endswith("deleted 1 past claims")
    dates = sorted(claim["date"] for claim in db.slot_claims().find())
    assert dates == [today_plus(0), today_plus(3)]
    assert run_sweep(app).strip().endswith("deleted 0 past claims")


def test_completion_goes_by_the_venues_own_calendar(app, customer, owner, make_venue):
    """At 12:00 UTC on 15 June it is already the 16th in Kiritimati but still the 15th in
    Pago Pago: a booking on the 15th is over at the first venue only."""
    now = dt.datetime(2030, 6, 15, 12, 0, tzinfo=dt.UTC)
    ahead = make_venue(owner[0], timezone="Pacific/Kiritimati")
    behind = make_venue(owner[0], timezone="Pacific/Pago_Pago")
    ids = {}
    for name, venue in (("ahead", ahead), ("behind", behind)):
        ids[name] = ObjectId()
        db.bookings().insert_one(
            {
                "_id": ids[name],
                "venue_id": venue["_id"],
                "owner_id": owner[0]["_id"],
                "user_id": customer[0]["_id"],
                "date": "2030-06-15",
                "status": "confirmed",
            }
        )
    assert maintenance.complete_bookings(now) == 1
    assert db.bookings().find_one({"_id": ids["ahead"]})["status"] == "completed"
    assert db.bookings().find_one({"_id": ids["behind"]})["status"] == "confirmed"
    assert maintenance.complete_bookings(now + dt.timedelta(days=1)) == 1
    assert db.bookings().find_one({"_id": ids["behind"]})["status"] == "completed"


# Paying by wallet, and refunds ------------------------------------------------------------


@pytest.fixture
def open_venue(make_venue, owner):
    """Two slots, no notice needed: bookable close to the event, to reach every policy tier."""
    return make_venue(owner[0], slots=SLOTS, min_notice_hours=0)


def wallet_booking(client, customer, venue, **body):
    return booked(client, customer[1], venue, payment_method="wallet", **body)


def test_paying_by_wallet_debits_the_balance_once(client, customer, open_venue):
    fund(customer[0], 250000)
    booking = wallet_booking(client, customer, open_venue, slots=["morning", "evening"])
    assert booking["payment"] == {"method": "wallet", "paid": 200000, "refunded": 0}
    assert balance(customer[0]) == 50000
    key = f"payment:{booking['id']}"
    assert ledger(customer[0])[-1] == ("payment", -200000, key)


def test_too_little_money_refuses_the_booking_and_moves_nothing(
    client, customer, make_user, open_venue
):
    fund(customer[0], 150000)
    before = snapshot()
    response = book(
        client, customer[1], open_venue, payment_method="wallet", slots=["morning", "evening"]
    )
    error = assert_error(response, 409, "insufficient_funds")
    assert error["details"] == {"balance": 150000, "needed": 200000}
    assert snapshot()[0] == before[0] and snapshot()[3] == before[3]
    assert db.bookings().count_documents({}) == 0
    assert db.wallet_transactions().count_documents({"kind": "payment"}) == 0
    for key in ("morning", "evening"):
        assert_free(claim_of(open_venue, slot=key))
    assert balance(customer[0]) == 150000
    # The slots are free for the next booker.
    assert booked(client, make_user()[1], open_venue, slots=["morning", "evening"])


@pytest.mark.parametrize(
    ("days", "pct"),
    [(10, 100), (4, 50), (1, 0)],
)
def test_a_customer_cancel_refunds_by_the_venues_policy(
    client, customer, owner, open_venue, days, pct
):
    fund(customer[0], PRICE)
    booking = wallet_booking(client, customer, open_venue, slot="evening", date=today_plus(days))
    ok_data(decide(client, owner[1], booking, "confirmed"))  # the tiers bind a confirmed one
    cancelled = ok_data(cancel(client, customer[1], booking))["booking"]

    refund = PRICE * pct // 100
    assert cancelled["refund"] == {"pct": pct, "amount": refund}
    assert cancelled["payment"] == {"method": "wallet", "paid": PRICE, "refunded": refund}
    assert stored(booking)["refund"] == {"pct": pct, "amount": refund}
    assert balance(customer[0]) == refund
    refunds = [entry for entry in ledger(customer[0]) if entry[0] == "refund"]
    assert refunds == ([("refund", refund, f"refund:{booking['id']}")] if refund else [])
    assert_free(claim_of(open_venue, today_plus(days), "evening"))


def test_a_venues_own_policy_is_used(client, customer, make_venue, owner):
    policy = [{"min_hours_before": 0, "refund_pct": 80}]
    venue = make_venue(owner[0], cancellation_policy=policy, min_notice_hours=0)
    fund(customer[0], PRICE)
    booking = wallet_booking(client, customer, venue, date=today_plus(2))
    ok_data(decide(client, owner[1], booking, "confirmed"))
    assert ok_data(cancel(client, customer[1], booking))["booking"]["refund"]["amount"] == 80000
    assert balance(customer[0]) == 80000


@pytest.mark.parametrize("side", ["owner_cancel", "reject", "expire"])
def test_the_owners_side_always_refunds_everything(app, client, customer, owner, open_venue, side):
    fund(customer[0], PRICE)
    booking = wallet_booking(client, customer, open_venue, slot="evening", date=today_plus(1))
    if side == "owner_cancel":
        ok_data(decide(client, owner[1], booking, "confirmed"))
        ok_data(cancel(client, owner[1], booking))
    elif side == "reject":
        ok_data(decide(client, owner[1], booking, "rejected"))
    else:
        lapse(booking)
        run_sweep(app)
    doc = stored(booking)
    assert doc["refund"] == {"pct": 100, "amount": PRICE}
    assert doc["payment"]["refunded"] == PRICE
    assert balance(customer[0]) == PRICE
    assert [kind for kind, *_ in ledger(customer[0])] == ["credit", "payment", "refund"]


def test_replaying_a_cancel_never_refunds_twice(client, customer, owner, open_venue):
    fund(customer[0], PRICE)
    booking = wallet_booking(client, customer, open_venue, date=today_plus(10), slot="morning")
    first = ok_data(cancel(client, customer[1], booking))["booking"]
    for headers in (customer[1], owner[1], customer[1]):
        assert ok_data(cancel(client, headers, booking))["booking"] == first
    assert balance(customer[0]) == PRICE
    assert [kind for kind, *_ in ledger(customer[0])] == ["credit", "payment", "refund"]
    assert notices(booking).count(("booking_cancelled", customer[0]["email"])) == 1


def test_a_pay_at_venue_cancel_refunds_nothing_but_shows_the_pct(client, customer, open_venue):
    booking = booked(client, customer[1], open_venue, slot="morning", date=today_plus(10))
    cancelled = ok_data(cancel(client, customer[1], booking))["booking"]
    assert cancelled["refund"] == {"pct": 100, "amount": 0}
    assert cancelled["payment"] == {"method": "pay_at_venue", "paid": 0, "refunded": 0}
    assert db.wallet_transactions().count_documents({}) == 0
    kinds = [kind for kind, _ in notices(booking)]
    assert kinds[-2:] == ["booking_cancelled", "booking_cancelled"]  # customer and owner


# Bookings stored before issue 3 -----------------------------------------------------------


def issue_two_booking(venue, user, date):
    """A booking in its issue-2 stored shape (one slot, an integer price), claim held."""
    now = dt.datetime.now(dt.UTC)
    booking_id = ObjectId()
    claims.claim_slots(venue["_id"], date, ["full_day"], booking_id)
    assert claims.confirm_claims(booking_id, venue["_id"], date, ["full_day"])
    db.bookings().insert_one(
        {
            "_id": booking_id,
            "venue_id": venue["_id"],
            "venue": {"id": venue["_id"], "venue_name": venue["venue_name"]},
            "user_id": user["_id"],
            "owner_id": venue["owner_id"],
            "date": date,
            "slot": "full_day",
            "slot_detail": dict(venue["slots"][0]),
            "guests": 40,
            "status": "pending",
            "price_locked": 90000,
            "currency": "PKR",
            "created_at": now,
            "updated_at": now,
        }
    )
    return {"id": str(booking_id)}


def test_a_migrated_issue_two_booking_is_confirmed_and_cancelled(
    app, client, customer, owner, venue
):
    """Its hold never lapses (none was set) and its claim is already held for good."""
    booking = issue_two_booking(venue, customer[0], today_plus(3))
    assert app.test_cli_runner().invoke(args=["migrate"]).exit_code == 0
    shown = seen(client, customer[1], booking)
    assert shown["status"] == "pending" and "expires_at" not in shown

    assert ok_data(decide(client, owner[1], booking, "confirmed"))["booking"]["status"] == (
        "confirmed"
    )
    assert claim_of(venue)["expires_at"] is None
    cancelled = ok_data(cancel(client, owner[1], booking))["booking"]
    assert cancelled["status"] == "cancelled" and cancelled["refund"] == {"pct": 100, "amount": 0}
    assert_free(claim_of(venue))


def test_the_sweep_never_overrides_a_booking_that_moved_on(
    app, client, customer, venue, monkeypatch
):
    booking = booked(client, customer[1], venue)
    lapse(booking)
    real = db.bookings

    class CancelledMeanwhile(Proxy):
        def find(self, *args, **kwargs):
            found = list(self.collection.find(*args, **kwargs))
            # The customer's cancel lands after the sweep read the booking.
            self.collection.update_one(
                {"_id": ObjectId(booking["id"])}, {"$set": {"status": "cancelled"}}
            )
            return found

    monkeypatch.setattr(db, "bookings", lambda: CancelledMeanwhile(real()))
    assert maintenance.expire_holds() == 0
    monkeypatch.setattr(db, "bookings", real)
    assert stored(booking)["status"] == "cancelled"
    assert "hold_expired" not in [kind for kind, _ in notices(booking)]
