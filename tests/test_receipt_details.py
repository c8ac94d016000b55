"""What the receipt says: the address once, a refund only where money moved, one clock."""

import datetime as dt
import io

import pytest
from pypdf import PdfReader

from halls import db
from tests.helpers import insert_booking


def receipt_text(client, headers, booking):
    response = client.get(f"/bookings/{booking['_id']}/receipt.pdf", headers=headers)
    assert response.status_code == 200, response.data[:300]
    page = PdfReader(io.BytesIO(response.data)).pages[0]
    return " ".join(page.extract_text().split())


@pytest.mark.parametrize(
    ("address", "city", "printed"),
    [
        ("Main Boulevard, Gulberg III, Lahore", "Lahore", "Main Boulevard, Gulberg III, Lahore"),
        ("Main Boulevard, Gulberg III, LAHORE", "Lahore", "Main Boulevard, Gulberg III, LAHORE"),
        ("Lahore Cantt, near Fortress", "Lahore", "Lahore Cantt, near Fortress"),
        ("12 Canal Bank Road", "Lahore", "12 Canal Bank Road, Lahore"),
        # A longer word that merely starts with the city's name is not the city.
        ("Lahorewala Street", "Lahore", "Lahorewala Street, Lahore"),
        ("Jinnah Avenue, Blue Area", "", "Jinnah Avenue, Blue Area"),
    ],
)
def test_the_city_is_added_only_when_the_address_lacks_it(
    client, owner, customer, make_venue, address, city, printed
):
    venue = make_venue(owner[0], address=address, city=city)
    booking = insert_booking(venue, customer[0])

    text = receipt_text(client, customer[1], booking)

    assert f"Address {printed} Date" in text
    assert "Lahore, Lahore" not in text and "LAHORE, Lahore" not in text


def test_a_cancelled_pay_at_venue_booking_shows_no_refund(client, owner, customer, make_venue):
    venue = make_venue(owner[0])
    booking = insert_booking(
        venue,
        customer[0],
        status="cancelled",
        payment={"method": "pay_at_venue", "paid": 0, "refunded": 0},
        refund={"pct": 100, "amount": 0},
    )

    text = receipt_text(client, customer[1], booking)

    assert "Payment Pay at the venue" in text
    assert "Refund" not in text and "PKR 0" not in text and "paid PKR" not in text
    assert db.bookings().find_one({"_id": booking["_id"]}) == booking


def test_a_late_cancel_of_a_wallet_booking_says_none_came_back(client, owner, customer, make_venue):
    venue = make_venue(owner[0])
    booking = insert_booking(
        venue,
        customer[0],
        status="cancelled",
        payment={"method": "wallet", "paid": 100000, "refunded": 0},
        refund={"pct": 0, "amount": 0},
    )

    text = receipt_text(client, customer[1], booking)

    assert "Payment halls wallet; paid PKR 100,000" in text
    assert "Refund None (0 % under the venue's cancellation policy)" in text
    assert "PKR 0" not in text


def test_a_wallet_refund_says_where_it_went(client, owner, customer, make_venue):
    venue = make_venue(owner[0])
    booking = insert_booking(
        venue,
        customer[0],
        status="rejected",
        payment={"method": "wallet", "paid": 100000, "refunded": 100000},
        refund={"pct": 100, "amount": 100000},
    )

    text = receipt_text(client, customer[1], booking)

    assert "Refund PKR 100,000 (100 %) to the halls wallet" in text


def test_every_time_on_the_page_is_the_venue_s_and_the_zone_is_named_once(
    client, owner, customer, make_venue, clock
):
    venue = make_venue(owner[0], timezone="Europe/London")
    clock.set(dt.datetime(2030, 7, 1, 9, 5, tzinfo=dt.UTC))
    created = dt.datetime(2030, 6, 30, 22, 15, tzinfo=dt.UTC)
    booking = insert_booking(venue, customer[0], date="2030-07-20", created_at=created)

    text = receipt_text(client, customer[1], booking)

    # British Summer Time, UTC+1: booked 23:15, issued 10:05, both on the venue's clock.
    assert "Booked on 30 Jun 2030, 23:15" in text
    assert "Issued 1 Jul 2030, 10:05" in text
    assert "UTC" not in text
    assert text.count("Europe/London") == 1
    assert "Times are local to the venue (Europe/London)" in text
