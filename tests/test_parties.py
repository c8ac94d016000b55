"""Issue 13: the rules cannot be turned against a customer, nor dodged by one.

Each attack of the issue replayed over HTTP, here an owner editing the cancellation policy or
the reschedule cut-off after the booking: the booking keeps the terms it was made under.
"""

import pytest
from bson import ObjectId

from halls import db
from tests.booking_helpers import (
    SLOTS,
    balance,
    booked,
    fund,
    stored,
)
from tests.helpers import ok_data, today_plus

PRICE = 100000
DEFAULT_TIERS = [
    {"min_hours_before": 168, "refund_pct": 100},
    {"min_hours_before": 48, "refund_pct": 50},
    {"min_hours_before": 0, "refund_pct": 0},
]
# The morning (09:00 in Karachi) of these days starts, whatever the time of day now:
SOON = today_plus(4)  # 81 to 105 hours ahead: the 50 % tier
LATER = today_plus(5)  # 105 to 129 hours ahead: the 50 % tier
FAR = today_plus(10)  # 225 to 249 hours ahead: the 100 % tier


@pytest.fixture
def venue(make_venue, owner):
    return make_venue(owner[0], slots=SLOTS, dates_available=[today_plus(d) for d in range(1, 100)])


def wallet_booking(client, customer, venue, date, slots=("morning",), funds=None):
    fund(customer[0], PRICE * len(slots) if funds is None else funds)
    return booked(client, customer[1], venue, date=date, slots=list(slots), payment_method="wallet")


def confirm(client, owner, booking):
    response = client.patch(
        f"/bookings/{booking['id']}", json={"status": "confirmed"}, headers=owner[1]
    )
    return ok_data(response)["booking"]


def move(client, headers, booking, **body):
    return client.post(f"/bookings/{booking['id']}/reschedule", json=body, headers=headers)


def moved(client, headers, booking, **body):
    return ok_data(move(client, headers, booking, **body))


def cancel(client, headers, booking):
    return ok_data(client.delete(f"/bookings/{booking['id']}", headers=headers))["booking"]


def cancellation_quote(client, headers, booking):
    path = f"/bookings/{booking['id']}/cancellation-quote"
    return ok_data(client.get(path, headers=headers))


# 3. A booking keeps the policy it was made under ------------------------------------------


def test_an_owner_editing_the_policy_later_cannot_cut_a_bookings_refund(
    client, customer, owner, venue
):
    booking = wallet_booking(client, customer, venue, SOON)
    terms = {"cancellation": DEFAULT_TIERS, "reschedule_cutoff_hours": 48}
    assert booking["policy"] == terms
    confirm(client, owner, booking)

    stingy = [{"min_hours_before": 0, "refund_pct": 0}]
    body = {"cancellation_policy": stingy, "reschedule_cutoff_hours": 240}
    ok_data(client.patch(f"/venues/{venue['_id']}", json=body, headers=owner[1]))

    shown = ok_data(client.get(f"/bookings/{booking['id']}", headers=customer[1]))["booking"]
    assert shown["policy"] == terms and stored(booking)["policy"] == terms
    quote = cancellation_quote(client, customer[1], booking)
    assert (quote["refund_pct"], quote["policy"]) == (50, DEFAULT_TIERS)
    assert cancel(client, customer[1], booking)["refund"] == {"pct": 50, "amount": PRICE // 2}
    assert balance(customer[0]) == PRICE // 2

    # A booking made after the edit is made under the new terms.
    later = booked(client, customer[1], venue, date=FAR, slots=["evening"])
    assert later["policy"] == {"cancellation": stingy, "reschedule_cutoff_hours": 240}


def test_a_booking_keeps_the_reschedule_cutoff_it_was_made_under(client, customer, owner, venue):
    booking = booked(client, customer[1], venue, date=SOON, slots=["morning"])
    body = {"reschedule_cutoff_hours": 500}
    ok_data(client.patch(f"/venues/{venue['_id']}", json=body, headers=owner[1]))
    assert moved(client, customer[1], booking, date=LATER, slots=["morning"])


def test_migrate_gives_older_bookings_their_venues_terms(app, customer, make_venue, owner):
    tiers = [{"min_hours_before": 24, "refund_pct": 80}, {"min_hours_before": 0, "refund_pct": 0}]
    venue = make_venue(owner[0], slots=SLOTS, cancellation_policy=tiers, reschedule_cutoff_hours=12)
    booking_id = ObjectId()
    older = {
        "_id": booking_id,
        "venue_id": venue["_id"],
        "user_id": customer[0]["_id"],
        "owner_id": owner[0]["_id"],
        "date": SOON,
        "slots": ["morning"],
        "slot": "morning",
        "slot_details": [SLOTS[0]],
        "status": "confirmed",
        "price_locked": {"lines": [], "subtotal": PRICE, "total": PRICE, "currency": "PKR"},
        "payment": {"method": "wallet", "paid": PRICE, "refunded": 0},
        "addons": [],
        "history": [],
    }
    db.bookings().insert_one(older)

    result = app.test_cli_runner().invoke(args=["migrate"])
    assert result.exit_code == 0, result.output
    assert "1 without a policy; 0 left" in result.output
    doc = db.bookings().find_one({"_id": booking_id})
    assert doc["policy"] == {"cancellation": tiers, "reschedule_cutoff_hours": 12}
    again = app.test_cli_runner().invoke(args=["migrate"])
    assert "migrated 0 bookings" in again.output
    assert db.bookings().find_one({"_id": booking_id}) == doc
