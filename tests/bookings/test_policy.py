"""Cancellation policy: refund tiers, and GET /bookings/<id>/cancellation-quote."""

import datetime as dt

import pytest

from halls import db
from halls.bookings import policy
from tests.helpers import TWO_SLOTS, assert_error, insert_booking, ok_data, other_id, today_plus

DEFAULT = [
    {"min_hours_before": 168, "refund_pct": 100},
    {"min_hours_before": 48, "refund_pct": 50},
    {"min_hours_before": 0, "refund_pct": 0},
]


def wallet_paid(paid, refunded=0):
    return {"payment": {"method": "wallet", "paid": paid, "refunded": refunded}}


def hours_before_start(booking, venue, hours):
    """The instant `hours` before the booking's event starts."""
    from halls import rules

    start = rules.event_start(venue, booking["date"], booking["slots"])
    return start - dt.timedelta(hours=hours)


# The rule itself


@pytest.mark.parametrize(
    ("hours", "pct"),
    [
        (1000, 100),
        (168, 100),
        (167.99, 50),
        (48, 50),
        (47.5, 0),
        (0, 0),
        (-3, 0),
    ],
)
def test_the_default_tiers(hours, pct):
    assert policy.pct_for(DEFAULT, hours) == pct


def test_no_tier_reached_refunds_nothing():
    assert policy.pct_for([{"min_hours_before": 24, "refund_pct": 80}], 10) == 0
    assert policy.pct_for([], 500) == 0


def test_tiers_are_read_longest_notice_first_whatever_their_stored_order(owner, make_venue):
    user, _ = owner
    tiers = [
        {"min_hours_before": 0, "refund_pct": 10},
        {"min_hours_before": 72, "refund_pct": 90},
        {"min_hours_before": 24, "refund_pct": 40},
    ]
    venue = make_venue(user, cancellation_policy=tiers)
    assert [t["min_hours_before"] for t in policy.tiers_of(venue)] == [72, 24, 0]
    assert policy.pct_for(policy.tiers_of(venue), 30) == 40


def test_a_venue_older_than_the_policy_uses_the_default(owner, make_venue):
    user, _ = owner
    venue = make_venue(user)
    assert "cancellation_policy" not in venue
    assert policy.tiers_of(venue) == DEFAULT


# refund_quote


def test_the_quote_refunds_the_tier_share_of_what_was_paid(owner, customer, make_venue):
    venue = make_venue(owner.user)
    booking = insert_booking(venue, customer.user, **wallet_paid(999))
    for hours, pct, amount in ((200, 100, 999), (100, 50, 499), (10, 0, 0)):
        now = hours_before_start(booking, venue, hours)
        quote = policy.refund_quote(booking, venue, now=now)
        assert quote["refund_pct"] == pct
        assert quote["refund_amount"] == amount  # floor: 50 % of 999 is 499
        assert quote["hours_before"] == hours
        assert quote["paid"] == 999 and quote["by_owner"] is False
        assert quote["policy"] == DEFAULT


def test_the_owners_side_always_refunds_everything(owner, customer, make_venue):
    venue = make_venue(owner.user)
    booking = insert_booking(venue, customer.user, **wallet_paid(5000))
    now = hours_before_start(booking, venue, 1)
    quote = policy.refund_quote(booking, venue, now=now, by_owner=True)
    assert quote["refund_pct"] == 100 and quote["refund_amount"] == 5000


def test_pay_at_venue_refunds_nothing_but_shows_the_pct(owner, customer, make_venue):
    venue = make_venue(owner.user)
    booking = insert_booking(venue, customer.user)
    quote = policy.refund_quote(booking, venue, now=hours_before_start(booking, venue, 500))
    assert quote["refund_pct"] == 100 and quote["refund_amount"] == 0 and quote["paid"] == 0


def test_what_was_refunded_already_is_not_refunded_again(owner, customer, make_venue):
    venue = make_venue(owner.user)
    booking = insert_booking(venue, customer.user, **wallet_paid(1000, refunded=200))
    quote = policy.refund_quote(booking, venue, now=hours_before_start(booking, venue, 100))
    assert quote["paid"] == 800 and quote["refund_amount"] == 400


def test_the_event_starts_at_the_earliest_slot_in_the_venues_zone(owner, customer, make_venue):
    venue = make_venue(owner.user, slots=TWO_SLOTS, timezone="Asia/Karachi")
    booking = insert_booking(venue, customer.user, slots=["lunch", "dinner"])
    day = dt.date.fromisoformat(booking["date"])
    # Lunch starts at 12:00 in Karachi, 07:00 UTC; exactly 48 hours before it is the 50 % tier.
    start = dt.datetime.combine(day, dt.time(7, 0), dt.UTC)
    quote = policy.refund_quote(booking, venue, now=start - dt.timedelta(hours=48))
    assert quote["event_start"] == start
    assert quote["hours_before"] == 48 and quote["refund_pct"] == 50


def test_an_owners_own_policy_applies(owner, customer, make_venue):
    tiers = [{"min_hours_before": 24, "refund_pct": 80}, {"min_hours_before": 0, "refund_pct": 20}]
    venue = make_venue(owner.user, cancellation_policy=tiers)
    booking = insert_booking(venue, customer.user, **wallet_paid(1000))
    quote = policy.refund_quote(booking, venue, now=hours_before_start(booking, venue, 30))
    assert quote["refund_pct"] == 80 and quote["refund_amount"] == 800
    assert quote["policy"] == tiers


# GET /bookings/<id>/cancellation-quote


def quote_of(client, booking, headers):
    return client.get(f"/bookings/{booking['_id']}/cancellation-quote", headers=headers)


@pytest.mark.parametrize(("days", "pct"), [(10, 100), (3, 50), (1, 0)])
def test_the_booker_sees_what_a_cancel_would_refund(client, owner, customer, make_venue, days, pct):
    venue = make_venue(owner.user)
    booking = insert_booking(venue, customer.user, date=today_plus(days), **wallet_paid(3000))
    data = ok_data(quote_of(client, booking, customer.headers))
    assert data["booking_id"] == str(booking["_id"])
    assert data["refund_pct"] == pct and data["refund_amount"] == 3000 * pct // 100
    assert data["paid"] == 3000 and data["currency"] == "PKR" and data["by_owner"] is False
    assert data["policy"] == DEFAULT
    assert data["event_start"].endswith("Z")
    assert (days - 1) * 24 < data["hours_before"] <= days * 24
    assert db.bookings().find_one({"_id": booking["_id"]}) == booking  # a quote changes nothing
    assert db.wallet_transactions().count_documents({}) == 0


def test_the_venue_owner_sees_a_full_refund(client, owner, customer, make_venue):
    venue = make_venue(owner.user)
    booking = insert_booking(venue, customer.user, date=today_plus(1), **wallet_paid(3000))
    data = ok_data(quote_of(client, booking, owner.headers))
    assert data["by_owner"] is True and data["refund_pct"] == 100
    assert data["refund_amount"] == 3000


def test_strangers_get_404(client, owner, customer, make_user, make_venue):
    venue = make_venue(owner.user)
    booking = insert_booking(venue, customer.user, **wallet_paid(3000))
    _, other_customer = make_user()
    _, other_owner = make_user(owner=True)
    for headers in (other_customer, other_owner):
        assert_error(quote_of(client, booking, headers), 404, "booking_not_found")
    assert db.bookings().find_one({"_id": booking["_id"]}) == booking


@pytest.mark.parametrize("booking_id", ["nope", other_id()])
def test_an_unknown_booking_is_a_404(client, customer, booking_id):
    response = client.get(f"/bookings/{booking_id}/cancellation-quote", headers=customer.headers)
    assert_error(response, 404, "booking_not_found")


def test_the_quote_needs_a_token(client, owner, customer, make_venue):
    booking = insert_booking(make_venue(owner.user), customer.user)
    assert_error(quote_of(client, booking, {}), 401, "token_missing")


@pytest.mark.parametrize("status", ["cancelled", "rejected", "expired", "completed"])
def test_a_booking_that_cannot_be_cancelled_has_no_quote(
    client, owner, customer, make_venue, status
):
    booking = insert_booking(make_venue(owner.user), customer.user, status=status)
    error = assert_error(quote_of(client, booking, customer.headers), 409, "invalid_transition")
    assert error["context"] == {"from": status, "to": "cancelled"}
