"""Calendar feeds: POST /venues/<id>/calendar-token and GET /venues/<id>/calendar.ics?token=."""

import datetime as dt
import hashlib

import icalendar
import pytest

from halls import db
from tests.helpers import TWO_SLOTS, assert_error, insert_booking, ok_data, other_id, today_plus


@pytest.fixture
def venue(owner, make_venue):
    return make_venue(owner.user, slots=TWO_SLOTS, venue_name="Shalimar Hall")


def rotate(client, venue, headers):
    return client.post(f"/venues/{venue['_id']}/calendar-token", headers=headers)


@pytest.fixture
def token(client, owner, venue):
    return ok_data(rotate(client, venue, owner.headers), 201)["token"]


def feed(client, venue, token):
    return client.get(f"/venues/{venue['_id']}/calendar.ics", query_string={"token": token})


def events(response):
    """The feed's VEVENTs by UID, after checking it is an iCalendar document."""
    assert response.status_code == 200, response.data[:300]
    assert response.headers["Content-Type"] == "text/calendar; charset=utf-8"
    calendar = icalendar.Calendar.from_ical(response.data)
    assert calendar.name == "VCALENDAR"
    return {str(event["uid"]): event for event in calendar.walk("VEVENT")}


def uid(booking):
    return f"booking-{booking['_id']}@halls"


def test_owner_gets_a_token_and_only_its_hash_is_stored(client, owner, venue):
    data = ok_data(rotate(client, venue, owner.headers), 201)

    token = data["token"]
    assert len(token) >= 40
    assert data["feed_url"] == (
        f"http://localhost/venues/{venue['_id']}/calendar.ics?token={token}"
    )
    stored = db.venues().find_one({"_id": venue["_id"]})
    assert stored["calendar_token_hash"] == hashlib.sha256(token.encode()).hexdigest()
    assert token not in str(stored)


def test_feed_lists_live_bookings_with_times_in_the_venue_zone(client, venue, customer, token):
    both = insert_booking(venue, customer.user, date="2030-03-16")
    live_hold = dt.datetime.now(dt.UTC) + dt.timedelta(hours=5)
    pending = insert_booking(
        venue,
        customer.user,
        date="2030-03-17",
        slots=["dinner"],
        status="pending",
        expires_at=live_hold,
    )

    response = feed(client, venue, token)

    found = events(response)
    assert set(found) == {uid(both), uid(pending)}
    text = response.data.decode()
    assert "\r\n" in text and "\n" not in text.replace("\r\n", "")  # RFC 5545 line endings
    assert "BEGIN:VTIMEZONE\r\nTZID:Asia/Karachi\r\n" in text
    assert "DTSTART;TZID=Asia/Karachi:20300316T120000" in text
    assert "DTEND;TZID=Asia/Karachi:20300316T230000" in text
    assert "DTSTART;TZID=Asia/Karachi:20300317T180000" in text
    event = found[uid(both)]
    # 12:00 in Karachi (UTC+5) is 07:00 UTC.
    start = event.decoded("dtstart")
    assert start.astimezone(dt.UTC) == dt.datetime(2030, 3, 16, 7, 0, tzinfo=dt.UTC)
    assert str(event["summary"]) == "[Confirmed] Shalimar Hall: Lunch + Dinner, 120 guests"
    assert str(event["status"]) == "CONFIRMED"
    assert str(event["location"]) == "1 Mall Road, Lahore"
    assert f"Booking reference: {both['reference']}" in str(event["description"])
    assert "Total: PKR 200,000" in str(event["description"])
    assert str(found[uid(pending)]["status"]) == "TENTATIVE"
    assert str(found[uid(pending)]["summary"]).startswith("[Pending] ")


def test_feed_leaves_out_what_holds_nothing(client, owner, venue, customer, make_venue, token):
    kept = insert_booking(venue, customer.user, status="completed", date=today_plus(-10))
    lapsed = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
    for status, fields in [
        ("cancelled", {}),
        ("rejected", {}),
        ("expired", {}),
        ("pending", {"expires_at": lapsed}),  # a lapsed hold no sweeper has marked yet
    ]:
        insert_booking(venue, customer.user, status=status, **fields)
    insert_booking(venue, customer.user, date=today_plus(-91))  # older than the feed keeps
    insert_booking(make_venue(owner.user), customer.user)  # the owner's other venue

    assert set(events(feed(client, venue, token))) == {uid(kept)}


def test_feed_shows_no_customer_contact_details(client, venue, make_user, token):
    person, _ = make_user(
        full_name="Zainab Unique-Name", email="zainab@example.com", contact_number="+923339998877"
    )
    insert_booking(venue, person, reason="Zainab's wedding")

    text = feed(client, venue, token).data.decode()

    for secret in ("Zainab", "zainab@example.com", "+923339998877", str(person["_id"])):
        assert secret not in text
    assert "BEGIN:VEVENT" in text


def test_uid_is_stable_and_sequence_counts_reschedules(client, venue, customer, token):
    move = {"at": dt.datetime.now(dt.UTC), "by": customer.user["_id"], "price_delta": 0}
    booking = insert_booking(venue, customer.user, history=[move, move])

    first, second = feed(client, venue, token), feed(client, venue, token)

    assert first.data == second.data
    assert int(events(first)[uid(booking)]["sequence"]) == 2


def test_daylight_saving_zone_gets_its_rules(client, owner, customer, make_venue):
    venue = make_venue(owner.user, slots=TWO_SLOTS, timezone="Europe/London")
    token = ok_data(rotate(client, venue, owner.headers), 201)["token"]
    booking = insert_booking(venue, customer.user, date="2030-07-06", slots=["dinner"])

    response = feed(client, venue, token)

    event = events(response)[uid(booking)]
    # 18:00 British Summer Time is 17:00 UTC.
    start = event.decoded("dtstart").astimezone(dt.UTC)
    assert start == dt.datetime(2030, 7, 6, 17, 0, tzinfo=dt.UTC)
    text = response.data.decode()
    assert "TZID:Europe/London" in text and "BEGIN:DAYLIGHT" in text and "TZNAME:BST" in text
    assert "DTSTART;TZID=Europe/London:20300706T180000" in text


def test_feed_without_bookings_still_carries_the_zone(client, venue, token):
    response = feed(client, venue, token)

    assert events(response) == {}
    text = response.data.decode()
    assert "X-WR-CALNAME:Shalimar Hall: bookings" in text
    assert "REFRESH-INTERVAL;VALUE=DURATION:PT1H" in text
    assert "X-PUBLISHED-TTL:PT1H" in text
    assert "TZID:Asia/Karachi" in text


def test_text_is_escaped_by_the_rfc(client, owner, customer, make_venue):
    venue = make_venue(owner.user, venue_name="Rose, Thorn; Lawn")
    token = ok_data(rotate(client, venue, owner.headers), 201)["token"]
    booking = insert_booking(venue, customer.user)

    response = feed(client, venue, token)

    assert "Rose\\, Thorn\\; Lawn" in response.data.decode()
    summary = str(events(response)[uid(booking)]["summary"])
    assert summary.startswith("[Confirmed] Rose, Thorn; Lawn: Full day")


def test_rotating_kills_the_old_token(client, owner, venue, customer, token):
    insert_booking(venue, customer.user)

    new = ok_data(rotate(client, venue, owner.headers), 201)["token"]

    assert new != token
    response = feed(client, venue, token)
    assert_error(response, 404, "calendar_not_found")
    assert response.mimetype == "application/json"
    assert len(events(feed(client, venue, new))) == 1


@pytest.mark.parametrize("wrong", ["nope", "x" * 43])
def test_wrong_token_is_404(client, venue, token, wrong):
    assert_error(feed(client, venue, wrong), 404, "calendar_not_found")


def test_token_of_one_venue_opens_no_other(client, owner, make_venue, token):
    other = make_venue(owner.user)
    assert_error(feed(client, other, token), 404, "calendar_not_found")


def test_venue_without_a_token_has_no_feed(client, venue):
    assert_error(feed(client, venue, "anything"), 404, "calendar_not_found")


@pytest.mark.parametrize("venue_id", ["not-an-id", other_id()])
def test_unknown_venue_feed_is_404(client, token, venue_id):
    response = client.get(f"/venues/{venue_id}/calendar.ics", query_string={"token": token})
    assert_error(response, 404, "calendar_not_found")


def test_deleted_venue_has_no_feed(client, venue, token):
    db.venues().update_one({"_id": venue["_id"]}, {"$set": {"status": "deleted"}})
    assert_error(feed(client, venue, token), 404, "calendar_not_found")


def test_feed_needs_a_token_and_nothing_else(client, venue, token):
    path = f"/venues/{venue['_id']}/calendar.ics"
    error = assert_error(client.get(path), 422, "validation_failed")
    assert "token" in str(error["details"])
    response = client.get(path, query_string={"token": token, "extra": "1"})
    assert_error(response, 422, "validation_failed")


@pytest.mark.parametrize(
    ("who", "status", "code"),
    [("other_owner", 403, "not_venue_owner"), ("customer", 403, "owner_required")],
)
def test_only_the_venue_owner_rotates(client, make_user, venue, token, who, status, code):
    _, headers = make_user(owner=who == "other_owner")
    before = db.venues().find_one({"_id": venue["_id"]})

    assert_error(rotate(client, venue, headers), status, code)

    assert db.venues().find_one({"_id": venue["_id"]}) == before
    assert len(events(feed(client, venue, token))) == 0


def test_rotating_needs_a_token(client, venue):
    assert_error(client.post(f"/venues/{venue['_id']}/calendar-token"), 401, "token_missing")
    assert "calendar_token_hash" not in db.venues().find_one({"_id": venue["_id"]})


@pytest.mark.parametrize("venue_id", ["not-an-id", other_id()])
def test_rotating_an_unknown_venue_is_404(client, owner, venue_id):
    response = client.post(f"/venues/{venue_id}/calendar-token", headers=owner.headers)
    assert_error(response, 404, "venue_not_found")


def test_rotating_a_deleted_venue_is_404(client, owner, venue):
    db.venues().update_one({"_id": venue["_id"]}, {"$set": {"status": "deleted"}})
    assert_error(rotate(client, venue, owner.headers), 404, "venue_not_found")
    assert "calendar_token_hash" not in db.venues().find_one({"_id": venue["_id"]})


def test_the_hash_is_never_shown(client, owner, venue, token):
    path = f"/venues/{venue['_id']}"
    answers = [
        client.get(path),
        client.get("/venues/mine", headers=owner.headers),
        client.patch(path, json={"capacity": 250}, headers=owner.headers),
        client.get("/venues/search"),
    ]
    for response in answers:
        assert response.status_code == 200
        assert b"calendar_token" not in response.data
        assert token.encode() not in response.data


def test_the_hash_cannot_be_set_by_patch(client, owner, venue, token):
    before = db.venues().find_one({"_id": venue["_id"]})["calendar_token_hash"]

    response = client.patch(
        f"/venues/{venue['_id']}", json={"calendar_token_hash": "0" * 64}, headers=owner.headers
    )

    assert_error(response, 422, "validation_failed")
    assert db.venues().find_one({"_id": venue["_id"]})["calendar_token_hash"] == before


def test_feed_follows_bookings_made_moved_and_cancelled_through_the_api(
    client, venue, customer, token
):
    body = {"venue_id": str(venue["_id"]), "date": today_plus(10), "guests": 40, "slot": "lunch"}
    booking = ok_data(client.post("/bookings", json=body, headers=customer.headers), 201)["booking"]
    day = today_plus(10).replace("-", "")

    event = events(feed(client, venue, token))[f"booking-{booking['id']}@halls"]
    assert str(event["status"]) == "TENTATIVE" and int(event["sequence"]) == 0
    assert event.decoded("dtstart").strftime("%Y%m%dT%H%M") == f"{day}T1200"

    moved = {"date": today_plus(12), "slots": ["dinner"]}
    path = f"/bookings/{booking['id']}"
    ok_data(client.post(f"{path}/reschedule", json=moved, headers=customer.headers))
    event = events(feed(client, venue, token))[f"booking-{booking['id']}@halls"]
    assert int(event["sequence"]) == 1
    new_day = today_plus(12).replace("-", "")
    assert event.decoded("dtstart").strftime("%Y%m%dT%H%M") == f"{new_day}T1800"

    ok_data(client.delete(path, headers=customer.headers))
    assert events(feed(client, venue, token)) == {}
