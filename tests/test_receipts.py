"""GET /bookings/<id>/receipt.pdf: a one-page PDF for the booker or the venue's owner."""

import datetime as dt
import io

import pytest
from pypdf import PdfReader

from halls import db
from halls.bookings import receipts
from tests.helpers import TWO_SLOTS, assert_error, insert_booking, ok_data, other_id, today_plus


@pytest.fixture
def venue(owner, make_venue):
    return make_venue(owner[0], slots=TWO_SLOTS, address="12 Canal Bank Road")


@pytest.fixture
def booking(venue, customer):
    return insert_booking(venue, customer[0], date="2030-03-16")


def url(booking_id):
    return f"/bookings/{booking_id}/receipt.pdf"


def read_pdf(response):
    """The response is a PDF: its page count, its text with whitespace collapsed, its metadata."""
    assert response.status_code == 200, response.data[:300]
    assert response.mimetype == "application/pdf"
    assert response.data.startswith(b"%PDF-")
    reader = PdfReader(io.BytesIO(response.data))
    text = " ".join(" ".join(page.extract_text().split()) for page in reader.pages)
    return len(reader.pages), text, reader.metadata


def test_booker_gets_a_one_page_receipt_with_every_detail(client, customer, booking):
    response = client.get(url(booking["_id"]), headers=customer[1])

    pages, text, meta = read_pdf(response)
    reference = str(booking["_id"])
    assert pages == 1
    assert meta.title == f"Booking receipt {reference}"
    assert "Booking receipt" in text
    assert f"Booking reference {reference}" in text
    assert "Venue Test Hall" in text
    assert "Address 12 Canal Bank Road, Lahore" in text
    assert "Date Saturday 16 March 2030" in text
    assert "Time Lunch, 12:00–16:00 Dinner, 18:00–23:00" in text
    assert "Guests 120" in text
    assert "Booked by Cyrus Customer" in text
    assert "Status Confirmed" in text
    assert "Payment Pay at the venue" in text
    assert "Item Unit price Qty Amount" in text
    assert "Lunch PKR 100,000 1 PKR 100,000 Dinner PKR 100,000 1 PKR 100,000" in text
    assert "Subtotal PKR 200,000 Total PKR 200,000" in text
    assert "Times are local to the venue (Asia/Karachi)" in text
    # Nothing of the customer's contact details, and nothing written by reading a receipt.
    assert customer[0]["email"] not in text and "+923001234567" not in text
    assert db.bookings().find_one({"_id": booking["_id"]}) == booking


def test_receipt_headers_name_the_file_and_keep_it_out_of_shared_caches(client, customer, booking):
    response = client.get(url(booking["_id"]), headers=customer[1])

    assert response.status_code == 200
    disposition = response.headers["Content-Disposition"]
    assert disposition == f'inline; filename="halls-booking-{booking["_id"]}.pdf"'
    assert response.headers["Cache-Control"] == "private, no-store"


def test_venue_owner_gets_the_receipt_too(client, owner, booking):
    _, text, _ = read_pdf(client.get(url(booking["_id"]), headers=owner[1]))

    assert f"Booking reference {booking['_id']}" in text
    assert "Total PKR 200,000" in text


@pytest.mark.parametrize("who", ["other_customer", "other_owner"])
def test_strangers_get_404_and_no_pdf(client, make_user, booking, who):
    _, headers = make_user(owner=who == "other_owner")

    response = client.get(url(booking["_id"]), headers=headers)

    assert_error(response, 404, "booking_not_found")
    assert response.mimetype == "application/json"
    assert db.bookings().find_one({"_id": booking["_id"]}) == booking


@pytest.mark.parametrize("booking_id", ["not-an-id", other_id()])
def test_unknown_or_malformed_booking_is_404(client, customer, booking_id):
    assert_error(client.get(url(booking_id), headers=customer[1]), 404, "booking_not_found")


def test_receipt_needs_a_token(client, booking):
    assert_error(client.get(url(booking["_id"])), 401, "token_missing")


def test_qr_code_holds_the_booking_reference(client, customer, booking, monkeypatch):
    encoded = []
    real = receipts.QrCodeWidget

    def spy(value, **kwargs):
        encoded.append(value)
        return real(value, **kwargs)

    monkeypatch.setattr(receipts, "QrCodeWidget", spy)

    read_pdf(client.get(url(booking["_id"]), headers=customer[1]))

    assert encoded == [str(booking["_id"])]


def test_addon_lines_wallet_payment_and_snapshot_prices(client, customer, venue):
    lines = [
        {"kind": "slot", "key": "dinner", "label": "Dinner", "unit_price": 150000, "qty": 1},
        {"kind": "addon", "key": "catering", "label": "Catering", "unit_price": 2500, "qty": 80},
        {"kind": "addon", "key": "stage", "label": "Stage", "unit_price": 40000, "qty": 1},
    ]
    lines = [{**line, "amount": line["unit_price"] * line["qty"]} for line in lines]
    booking = insert_booking(
        venue,
        customer[0],
        slots=["dinner"],
        guests=80,
        price_locked={"lines": lines, "subtotal": 390000, "total": 390000, "currency": "PKR"},
        payment={"method": "wallet", "paid": 390000, "refunded": 0},
    )
    # The venue's prices moved since: the receipt still shows what was agreed.
    db.venues().update_one({"_id": venue["_id"]}, {"$set": {"pricing.base_price": 999}})

    _, text, _ = read_pdf(client.get(url(booking["_id"]), headers=customer[1]))

    assert "Time Dinner, 18:00–23:00 Guests 80" in text
    assert "Dinner PKR 150,000 1 PKR 150,000" in text
    assert "Catering PKR 2,500 80 PKR 200,000" in text
    assert "Stage PKR 40,000 1 PKR 40,000" in text
    assert "Total PKR 390,000" in text
    assert "Payment halls wallet; paid PKR 390,000" in text
    assert "PKR 999" not in text  # the venue's price now (an id may hold the digits 999)


def test_cancelled_booking_shows_the_refund_and_reason(client, customer, venue):
    booking = insert_booking(
        venue,
        customer[0],
        status="cancelled",
        reason="Family emergency",
        payment={"method": "wallet", "paid": 200000, "refunded": 100000},
        refund={"pct": 50, "amount": 100000},
    )

    _, text, _ = read_pdf(client.get(url(booking["_id"]), headers=customer[1]))

    assert "Status Cancelled Family emergency" in text
    assert "Refund PKR 100,000 (50 %)" in text


def test_live_hold_shows_until_when_in_the_venue_zone(client, customer, venue):
    expires = dt.datetime(2030, 3, 1, 10, 30, tzinfo=dt.UTC)
    booking = insert_booking(venue, customer[0], status="pending", expires_at=expires)

    response = client.get(url(booking["_id"]), headers=customer[1])

    # 10:30 UTC is 15:30 in Asia/Karachi (UTC+5).
    assert "Status Pending (held until 1 Mar 2030, 15:30)" in read_pdf(response)[1]


def test_lapsed_hold_is_shown_as_expired(client, customer, venue):
    lapsed = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
    booking = insert_booking(venue, customer[0], status="pending", expires_at=lapsed)

    _, text, _ = read_pdf(client.get(url(booking["_id"]), headers=customer[1]))

    assert "Status Expired" in text
    assert "held until" not in text


def test_client_text_is_printed_literally_not_read_as_markup(client, owner, customer, make_venue):
    venue = make_venue(owner[0], venue_name="Rose & Thorn <Lawn>", address="<b>5</b> Mall & Co")
    booking = insert_booking(venue, customer[0], reason="<i>late</i> & sorry", status="cancelled")

    _, text, _ = read_pdf(client.get(url(booking["_id"]), headers=customer[1]))

    assert "Venue Rose & Thorn <Lawn>" in text
    assert "Address <b>5</b> Mall & Co, Lahore" in text
    assert "<i>late</i> & sorry" in text


def test_many_lines_still_fit_on_one_page(client, owner, customer, make_venue):
    slots = [
        {"key": f"s{h:02d}", "label": f"Hour {h:02d}", "start": f"{h:02d}:00", "end": f"{h:02d}:59"}
        for h in range(24)
    ]
    venue = make_venue(owner[0], slots=slots)
    booking = insert_booking(venue, customer[0])
    extra = [
        {"kind": "addon", "key": f"a{n}", "label": f"Extra {n}", "unit_price": 10, "qty": 1}
        for n in range(30)
    ]
    locked = booking["price_locked"]
    lines = locked["lines"] + [{**line, "amount": 10} for line in extra]
    total = locked["total"] + 300
    db.bookings().update_one(
        {"_id": booking["_id"]},
        {"$set": {"price_locked": {**locked, "lines": lines, "subtotal": total, "total": total}}},
    )

    pages, text, _ = read_pdf(client.get(url(booking["_id"]), headers=customer[1]))

    assert pages == 1
    assert "Hour 00, 00:00–00:59" in text and "Hour 23, 23:00–23:59" in text
    assert "Extra 0 PKR 10 1 PKR 10" in text and "Extra 29 PKR 10 1 PKR 10" in text
    assert "Total PKR 2,400,300" in text


def test_deleted_venue_still_prints_its_address(client, customer, venue, booking):
    db.venues().update_one({"_id": venue["_id"]}, {"$set": {"status": "deleted"}})

    _, text, _ = read_pdf(client.get(url(booking["_id"]), headers=customer[1]))

    assert "Address 12 Canal Bank Road, Lahore" in text


def test_receipt_uses_the_venue_time_zone(client, owner, customer, make_venue):
    venue = make_venue(owner[0], timezone="Europe/London")
    created = dt.datetime(2030, 7, 1, 9, 5, tzinfo=dt.UTC)
    booking = insert_booking(venue, customer[0], date=today_plus(3, venue), created_at=created)

    _, text, _ = read_pdf(client.get(url(booking["_id"]), headers=customer[1]))

    # British Summer Time: 09:05 UTC is 10:05 in London.
    assert "Booked on 1 Jul 2030, 10:05" in text
    assert "Times are local to the venue (Europe/London)" in text


def test_openapi_documents_a_pdf(client):
    spec = client.get("/openapi.json").get_json()
    content = spec["paths"]["/bookings/{booking_id}/receipt.pdf"]["get"]["responses"]["200"]
    assert "application/pdf" in content["content"]


def test_text_beyond_the_pdf_fonts_still_gives_a_receipt(client, owner, customer, make_venue):
    # Urdu prints in the Arabic font (tests/test_receipt_urdu.py); Helvetica has no emoji
    # glyph, so that one prints as a box, but the receipt still comes.
    venue = make_venue(owner[0], venue_name="شالیمار ہال Café 🎉", city="لاہور")
    booking = insert_booking(venue, customer[0])

    pages, text, _ = read_pdf(client.get(url(booking["_id"]), headers=customer[1]))

    assert pages == 1
    assert "Café" in text and "Total PKR 100,000" in text


def test_a_booking_made_through_the_api_prints_what_it_stored(client, owner, customer, make_venue):
    addons = [{"key": "catering", "name": "Catering", "price": 1500, "unit": "per_guest"}]
    venue = make_venue(owner[0], slots=TWO_SLOTS, addons=addons)
    body = {
        "venue_id": str(venue["_id"]),
        "date": today_plus(10),
        "guests": 40,
        "slots": ["lunch", "dinner"],
        "addons": [{"key": "catering"}],
        "payment_method": "pay_at_venue",
    }
    booking = ok_data(client.post("/bookings", json=body, headers=customer[1]), 201)["booking"]

    _, text, _ = read_pdf(client.get(url(booking["id"]), headers=owner[1]))

    assert "Time Lunch, 12:00–16:00 Dinner, 18:00–23:00 Guests 40" in text
    assert "Status Pending (held until" in text
    assert "Catering PKR 1,500 40 PKR 60,000" in text
    assert booking["price_locked"]["total"] == 260000
    assert "Total PKR 260,000" in text
