"""Booking notices: who is told what, what the bodies say, and that they never hurt a booking."""

import datetime as dt
import logging

import pytest
from bson import ObjectId
from pymongo.errors import PyMongoError

from halls import db, mail, notifications, pricing
from halls.bookings.migrate import migrate_bookings
from tests.helpers import TWO_SLOTS, ok_data, today_plus
from tests.smtp import body, free_port

CHAIRS = [{"key": "chairs", "qty": 150}]
HOLD_UNTIL = dt.datetime(2031, 3, 14, 13, 30, tzinfo=dt.UTC)  # 18:30 in Asia/Karachi


@pytest.fixture
def venue(owner, make_venue):
    return make_venue(
        owner.user,
        venue_name="Shalimar Banquet",
        address="12 Canal Bank Road",
        slots=TWO_SLOTS,
        pricing={"base_price": 120000, "overrides": []},
        addons=[{"key": "chairs", "name": "Chiavari chairs", "price": 100, "unit": "per_guest"}],
    )


@pytest.fixture
def make_booking(venue, customer):
    """Insert a booking in its stored issue-3 shape: lunch and dinner, 150 guests, chairs."""

    def make(**fields):
        now = dt.datetime.now(dt.UTC)
        booking = {
            "_id": ObjectId(),
            "reference": "HB-7K3Q9M",
            "venue_id": venue["_id"],
            "venue": {"id": venue["_id"], "venue_name": venue["venue_name"]},
            "user_id": customer.user["_id"],
            "owner_id": venue["owner_id"],
            "date": "2031-03-20",
            "slots": ["lunch", "dinner"],
            "slot": "lunch",
            "slot_details": TWO_SLOTS,
            "guests": 150,
            "addons": CHAIRS,
            "status": "pending",
            "expires_at": HOLD_UNTIL,
            # Priced as a booking is: lunch and dinner at 120,000 and 150 chairs at 100.
            "price_locked": 255000,
            "price_breakdown": pricing.locked(
                pricing.quote(venue, "2031-03-20", ["lunch", "dinner"], 150, CHAIRS)
            ),
            "payment": {"method": "pay_at_venue", "paid": 0, "refunded": 0},
            "history": [],
            "created_at": now,
            "updated_at": now,
            **fields,
        }
        db.bookings().insert_one(booking)
        return booking

    return make


def outbox(booking):
    """The messages about a booking, by recipient, with the bodies they are delivered with."""
    messages = {}
    for message in db.outbox().find({"booking_id": booking["_id"]}):
        message["text"], message["html"] = mail.rendered(message)
        messages[message["to"]] = message
    return messages


def assert_details(message, booking):
    """Both bodies show what identifies the booking."""
    for part in (message["text"], message["html"]):
        assert "Shalimar Banquet" in part
        assert "12 Canal Bank Road, Lahore" in part
        assert "Thursday 20 March 2031 (2031-03-20)" in part
        assert "Lunch (12:00–16:00), Dinner (18:00–23:00)" in part
        assert "150" in part
        assert "PKR 255,000" in part
        assert "HB-7K3Q9M" in part


def test_created_tells_the_customer_and_the_owner(make_booking, customer, owner):
    booking = make_booking()
    ids = notifications.booking_created(booking)
    assert len(ids) == 2
    sent = outbox(booking)
    assert set(sent) == {customer.user["email"], owner.user["email"]}
    mine, theirs = sent[customer.user["email"]], sent[owner.user["email"]]
    assert mine["kind"] == "booking_created_customer"
    assert mine["subject"] == "Booking request received: Shalimar Banquet on 2031-03-20"
    assert mine["status"] == "queued"
    assert_details(mine, booking)
    assert "Hello Cyrus Customer" in mine["text"]
    assert "has until 14 Mar 2031, 18:30 (Asia/Karachi) to confirm" in mine["text"]
    assert "Status:     pending" in mine["text"]
    assert "Chiavari chairs x 150: PKR 15,000" in mine["text"]
    assert "You pay at the venue." in mine["text"]
    assert theirs["kind"] == "booking_created_owner"
    assert theirs["subject"] == "New booking request: Shalimar Banquet on 2031-03-20"
    assert_details(theirs, booking)
    assert "Hello Olivia Owner" in theirs["text"]
    assert "Cyrus Customer asked to book Shalimar Banquet" in theirs["text"]
    assert "before 14 Mar 2031, 18:30 (Asia/Karachi)" in theirs["text"]
    # The owner learns the customer's name, never their contact details.
    assert customer.user["email"] not in theirs["text"] + theirs["html"]
    assert customer.user["contact_number"] not in theirs["text"] + theirs["html"]


OWNER_TEXT = """Hello Olivia Owner,

Cyrus Customer asked to book Shalimar Banquet. Confirm or reject the request before 14 Mar 2031, \
18:30 (Asia/Karachi); after that it lapses and the slots are free again.

Venue:      Shalimar Banquet
Address:    12 Canal Bank Road, Lahore
Date:       Thursday 20 March 2031 (2031-03-20)
Slots:      Lunch (12:00–16:00), Dinner (18:00–23:00)
Guests:     150
  Lunch: PKR 120,000
  Dinner: PKR 120,000
  Chiavari chairs x 150: PKR 15,000
Total:      PKR 255,000
Status:     pending
Reference:  {reference}
Payment:    at the venue

Halls"""


def test_a_stored_notice_renders_word_for_word_when_delivered(make_booking, customer, owner):
    """The outbox keeps the template and what it shows; rendered, it is the body it always was."""
    booking = make_booking()
    notifications.booking_created(booking)
    stored = db.outbox().find_one({"booking_id": booking["_id"], "to": owner.user["email"]})
    assert stored["template"] == "booking_created_owner"
    assert "text" not in stored and "html" not in stored
    # Of the customer the owner's message keeps the name, never the contact details.
    assert stored["context"]["customer"] == {"full_name": "Cyrus Customer"}
    assert customer.user["email"] not in str(stored["context"])
    text, html = mail.rendered(stored)
    assert text == OWNER_TEXT.format(reference="HB-7K3Q9M")
    assert html.startswith("<!doctype html>") and "<title>New booking request</title>" in html


def test_an_event_logs_one_line_for_all_its_messages(make_booking, customer, owner, caplog):
    caplog.set_level(logging.INFO, logger="halls.mail")
    notifications.booking_created(make_booking())
    (line,) = [record.getMessage() for record in caplog.records if record.name == "halls.mail"]
    assert line.startswith("mail queued in the outbox (no SMTP_HOST): ")
    assert f"to={customer.user['email']} subject=Booking request received" in line
    assert f"to={owner.user['email']} subject=New booking request" in line
    assert "Hello" not in line  # who hears what, never the bodies


def test_created_and_confirmed_at_once(make_booking, customer, owner):
    booking = make_booking(status="confirmed", expires_at=None, payment={"method": "wallet"})
    notifications.booking_created(booking)
    sent = outbox(booking)
    mine, theirs = sent[customer.user["email"]], sent[owner.user["email"]]
    assert mine["subject"] == "Booking confirmed: Shalimar Banquet on 2031-03-20"
    assert "Your booking at Shalimar Banquet is confirmed." in mine["text"]
    assert "PKR 255,000 was paid from your Halls wallet." in mine["text"]
    assert "has until" not in mine["text"]
    assert theirs["subject"] == (
        "New booking (confirmed automatically): Shalimar Banquet on 2031-03-20"
    )
    assert "confirms bookings automatically" in theirs["text"]
    assert "paid from the customer's Halls wallet" in theirs["text"]


@pytest.mark.parametrize(
    ("status", "notify", "kind", "subject", "sentence"),
    [
        (
            "confirmed",
            notifications.booking_confirmed,
            "booking_confirmed",
            "Booking confirmed: Shalimar Banquet on 2031-03-20",
            "Good news: Shalimar Banquet confirmed your booking.",
        ),
        (
            "expired",
            notifications.hold_expired,
            "hold_expired",
            "Booking request expired: Shalimar Banquet on 2031-03-20",
            "did not confirm it by 14 Mar 2031, 18:30 (Asia/Karachi)",
        ),
    ],
)
def test_the_customer_alone_hears(make_booking, customer, status, notify, kind, subject, sentence):
    booking = make_booking(status=status)
    assert len(notify(booking)) == 1
    (message,) = outbox(booking).values()
    assert message["to"] == customer.user["email"]
    assert message["kind"] == kind
    assert message["subject"] == subject
    assert sentence in message["text"]
    assert_details(message, booking)


def test_rejected_gives_the_reason_and_the_wallet_refund(make_booking, customer):
    booking = make_booking(
        status="rejected",
        reason="Closed for repairs",
        payment={"method": "wallet", "paid": 255000, "refunded": 255000},
        refund={"pct": 100, "amount": 255000},
    )
    notifications.booking_rejected(booking)
    (message,) = outbox(booking).values()
    assert message["to"] == customer.user["email"]
    assert message["subject"] == "Booking not accepted: Shalimar Banquet on 2031-03-20"
    assert "Their reason: Closed for repairs" in message["text"]
    assert "Refund:     PKR 255,000 (100%) to your Halls wallet" in message["text"]
    assert "PKR 255,000 (100%) to your Halls wallet." in message["html"]
    assert "<em>Closed for repairs</em>" in message["html"]


def test_a_customer_cancel_tells_both_with_the_refund(make_booking, customer, owner):
    booking = make_booking(
        status="cancelled",
        cancelled_by="customer",
        payment={"method": "wallet", "paid": 255000, "refunded": 127500},
        refund={"pct": 50, "amount": 127500},
    )
    assert len(notifications.booking_cancelled(booking)) == 2
    sent = outbox(booking)
    mine, theirs = sent[customer.user["email"]], sent[owner.user["email"]]
    assert (
        mine["subject"]
        == theirs["subject"]
        == ("Booking cancelled: Shalimar Banquet on 2031-03-20")
    )
    assert "Your booking at Shalimar Banquet is cancelled, as you asked." in mine["text"]
    assert "Refund:     PKR 127,500 (50%) to your Halls wallet" in mine["text"]
    assert "Cyrus Customer cancelled their booking at Shalimar Banquet" in theirs["text"]
    assert "Refund:     PKR 127,500 (50%) to the customer's Halls wallet" in theirs["text"]
    assert_details(mine, booking)


def test_an_owner_cancel_tells_the_customer_only(make_booking, customer):
    booking = make_booking(
        status="cancelled",
        cancelled_by="owner",
        reason="Blackout: Flooding",
        refund={"pct": 100, "amount": 0},
    )
    assert len(notifications.booking_cancelled(booking)) == 1
    (message,) = outbox(booking).values()
    assert message["to"] == customer.user["email"]
    assert "The owner of Shalimar Banquet cancelled your booking." in message["text"]
    assert "Reason: Blackout: Flooding" in message["text"]
    assert "at the venue; nothing was paid online, so nothing is refunded" in message["text"]


def test_rescheduled_shows_the_move_and_the_price_change(make_booking, customer, owner):
    booking = make_booking(date="2031-03-22", slots=["dinner"], slot_details=TWO_SLOTS[1:])
    change = {
        "at": dt.datetime.now(dt.UTC),
        "by": customer.user["_id"],
        "from": {"date": "2031-03-20", "slots": ["lunch", "dinner"]},
        "to": {"date": "2031-03-22", "slots": ["dinner"]},
        "price_delta": -120000,
    }
    assert len(notifications.booking_rescheduled(booking, change)) == 2
    sent = outbox(booking)
    mine, theirs = sent[customer.user["email"]], sent[owner.user["email"]]
    assert mine["subject"] == "Booking moved: Shalimar Banquet, now on 2031-03-22"
    text = mine["text"]
    assert "Your booking at Shalimar Banquet moved." in text
    assert (
        "From:         Thursday 20 March 2031 (2031-03-20), Lunch (12:00–16:00), "
        "Dinner (18:00–23:00)"
    ) in text
    assert "To:           Saturday 22 March 2031 (2031-03-22), Dinner (18:00–23:00)" in text
    assert "Price change: -PKR 120,000" in text
    assert "waits for the owner's confirmation again, until 14 Mar 2031, 18:30" in text
    assert "A booking at Shalimar Banquet moved." in theirs["text"]
    assert "It waits for your confirmation again, until 14 Mar 2031" in theirs["text"]
    assert "<s>Thursday 20 March 2031" in mine["html"]


def test_rescheduled_dearer_and_confirmed(make_booking):
    booking = make_booking(status="confirmed", expires_at=None)
    change = {
        "from": {"date": "2031-03-19", "slots": ["gone_slot"]},
        "to": {"date": "2031-03-20", "slots": ["lunch", "dinner"]},
        "price_delta": 20000,
    }
    notifications.booking_rescheduled(booking, change)
    text = next(iter(outbox(booking).values()))["text"]
    # A slot the venue no longer has is shown by its key.
    assert "From:         Wednesday 19 March 2031 (2031-03-19), gone_slot" in text
    assert "Price change: +PKR 20,000" in text
    assert "waits for the owner" not in text


def test_an_issue_2_booking_renders_once_migrated(venue, customer):
    """One slot known only by key, price_locked an int, no payment record: migrate, then tell."""
    booking_id = ObjectId()
    db.bookings().insert_one(
        {
            "_id": booking_id,
            "venue_id": venue["_id"],
            "user_id": customer.user["_id"],
            "owner_id": venue["owner_id"],
            "date": "2031-03-20",
            "slot": "dinner",
            "guests": 80,
            "status": "confirmed",
            "price_locked": 120000,
        }
    )
    assert migrate_bookings()["migrated"] == 1
    booking = db.bookings().find_one({"_id": booking_id})
    notifications.booking_confirmed(booking)
    (message,) = outbox(booking).values()
    assert "Slots:      Dinner (18:00–23:00)" in message["text"]  # read from the venue's slots
    assert "  Dinner: PKR 120,000\nTotal:      PKR 120,000" in message["text"]


def test_html_escapes_what_people_typed(make_booking, venue, customer):
    db.venues().update_one(
        {"_id": venue["_id"]}, {"$set": {"venue_name": "Hall <script>alert(1)</script>"}}
    )
    booking = make_booking(status="rejected", reason='Say "no" & <b>bye</b>')
    notifications.booking_rejected(booking)
    (message,) = outbox(booking).values()
    assert "<script>" not in message["html"]
    assert "Hall &lt;script&gt;alert(1)&lt;/script&gt;" in message["html"]
    assert "&lt;b&gt;bye&lt;/b&gt;" in message["html"]
    # Plain text is plain: shown as typed.
    assert 'Their reason: Say "no" & <b>bye</b>' in message["text"]
    assert message["subject"].startswith("Booking not accepted: Hall <script>")


def test_a_person_without_an_account_is_skipped(make_booking, owner, customer, caplog):
    db.users().delete_one({"_id": customer.user["_id"]})
    booking = make_booking()
    assert len(notifications.booking_created(booking)) == 1
    assert set(outbox(booking)) == {owner.user["email"]}
    assert "no customer email for booking" in caplog.text


@pytest.fixture
def outbox_down(monkeypatch):
    """Every write to the outbox fails."""

    def broken(*args, **kwargs):
        raise PyMongoError("outbox unavailable")

    monkeypatch.setattr(mail, "queue", broken)


def test_a_notice_that_cannot_be_written_never_raises(make_booking, outbox_down, caplog):
    booking = make_booking()
    caplog.set_level(logging.ERROR, logger="halls.notifications")
    for notify in (
        notifications.booking_created,
        notifications.booking_confirmed,
        notifications.booking_rejected,
        notifications.booking_cancelled,
        notifications.hold_expired,
    ):
        assert notify(booking) == []
    assert notifications.booking_rescheduled(booking, {"bad": "change"}) == []
    assert "notification booking_created could not be queued" in caplog.text
    assert "outbox unavailable" in caplog.text
    assert db.outbox().count_documents({}) == 0


def test_what_arrives_over_smtp(make_booking, customer, owner, smtp_server):
    recorder = smtp_server()
    booking = make_booking()
    notifications.booking_created(booking)
    assert mail.send_outbox()["sent"] == 2
    received = {m["rcpt_tos"][0]: m for m in recorder.messages}
    assert set(received) == {customer.user["email"], owner.user["email"]}
    message = received[customer.user["email"]]["message"]
    assert message["Subject"] == "Booking request received: Shalimar Banquet on 2031-03-20"
    assert message["To"] == customer.user["email"]
    assert message.get_content_type() == "multipart/alternative"
    text, html = body(message, "plain"), body(message, "html")
    assert "Lunch (12:00–16:00), Dinner (18:00–23:00)" in text
    assert "Reference:  HB-7K3Q9M" in text
    assert html.startswith("<!doctype html>")
    assert "<strong>PKR 255,000</strong>" in html
    assert "HB-7K3Q9M" in html
    owner_message = received[owner.user["email"]]["message"]
    assert owner_message["Subject"] == "New booking request: Shalimar Banquet on 2031-03-20"
    # Delivered: the outbox keeps the record, not the bodies nor what they were made from.
    for stored in db.outbox().find({"booking_id": booking["_id"]}):
        assert stored["status"] == "sent" and stored["template"] == stored["kind"]
        assert not {"text", "html", "context"} & set(stored)


# Through the booking API ---------------------------------------------------------------------


def _book(client, customer, venue):
    date = today_plus(5)
    body = {"venue_id": str(venue["_id"]), "date": date, "guests": 40, "slots": ["dinner"]}
    return client.post("/bookings", json=body, headers=customer.headers)


def test_a_booking_request_mails_both_after_its_response(
    client, customer, owner, venue, smtp_server
):
    recorder = smtp_server()
    response = _book(client, customer, venue)
    booking = ok_data(response, 201)["booking"]
    assert recorder.messages == []
    response.close()
    assert sorted(m["rcpt_tos"][0] for m in recorder.messages) == sorted(
        [customer.user["email"], owner.user["email"]]
    )
    assert all(booking["reference"] in body(m["message"], "plain") for m in recorder.messages)
    assert db.outbox().count_documents({"status": "sent"}) == 2


def test_a_booking_succeeds_while_smtp_is_down(app, client, customer, venue):
    app.config.update(SMTP_HOST="127.0.0.1", SMTP_PORT=free_port(), SMTP_STARTTLS=False)
    with _book(client, customer, venue) as response:
        booking = ok_data(response, 201)["booking"]
    stored = db.bookings().find_one({"_id": ObjectId(booking["id"])})
    assert stored["status"] == "pending"
    assert db.slot_claims().count_documents({"booking_id": stored["_id"]}) == 1
    messages = list(db.outbox().find({"booking_id": stored["_id"]}))
    assert len(messages) == 2
    # One attempt failed after the response; the other waits for send-outbox.
    assert sorted(m["status"] for m in messages) == ["failed", "queued"]
    assert all(m["next_attempt_at"] for m in messages)


def test_a_booking_succeeds_when_its_notice_cannot_be_written(client, customer, venue, outbox_down):
    booking = ok_data(_book(client, customer, venue), 201)["booking"]
    assert db.bookings().count_documents({"_id": ObjectId(booking["id"])}) == 1
    assert db.outbox().count_documents({}) == 0


def test_formatting_helpers():
    assert mail.money(1250000) == "PKR 1,250,000"
    assert mail.money(-500) == "-PKR 500"
    assert mail.money(None) == "—"
    assert notifications.long_date("2031-03-01") == "Saturday 1 March 2031"
    naive = dt.datetime(2031, 3, 14, 23, 5)  # a stored UTC time read without tz_aware
    assert notifications.local_time(naive, "Asia/Karachi") == "15 Mar 2031, 04:05 (Asia/Karachi)"
    assert notifications.local_time(None, "Asia/Karachi") is None


def test_created_with_the_venue_and_customer_in_hand_reads_neither_again(
    make_booking, venue, customer, monkeypatch
):
    booking = make_booking()
    notifications.booking_created(booking)
    expected = {email: (m["subject"], m["text"], m["html"]) for email, m in outbox(booking).items()}
    db.outbox().delete_many({})

    reads = []
    real_venues, real_users = db.venues, db.users

    class Counting:
        def __init__(self, collection):
            self.collection = collection

        def find_one(self, query, *args, **kwargs):
            reads.append((self.collection.name, query["_id"]))
            return self.collection.find_one(query, *args, **kwargs)

    monkeypatch.setattr(db, "venues", lambda: Counting(real_venues()))
    monkeypatch.setattr(db, "users", lambda: Counting(real_users()))
    notifications.booking_created(booking, venue, customer.user)
    monkeypatch.undo()

    assert reads == [("users", venue["owner_id"])]  # only the owner is read
    sent = {email: (m["subject"], m["text"], m["html"]) for email, m in outbox(booking).items()}
    assert sent == expected
