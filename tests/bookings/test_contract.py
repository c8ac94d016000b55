"""What every booking answer carries (issue 18): the integer `price_locked` with its
`price_breakdown`, a `reference` that any booking path accepts, `starts_at`/`ends_at`, and the
venue's summary; what is stored for them, and what `flask migrate` makes of older bookings."""

import datetime as dt
import re

import pytest
from bson import ObjectId
from pymongo.errors import DuplicateKeyError

from halls import db
from halls.bookings import display, references
from halls.bookings import migrate as migration
from tests.bookings.helpers import (
    Proxy,
    assert_free,
    assert_held_by,
    book,
    booked,
    claim_of,
    snapshot,
    stored,
)
from tests.helpers import TWO_SLOTS, assert_error, ok_data, today_plus

REFERENCE = re.compile(r"^HB-[23456789ABCDEFGHJKLMNPQRSTUVWXYZ]{6}$")
COVER = "https://cdn.example.com/halls/front.jpg"
LUNCH, DINNER = TWO_SLOTS


def utc(day, hh_mm):
    """A YYYY-MM-DD date and HH:MM as the API's UTC timestamp."""
    return f"{day}T{hh_mm}:00.000Z"


def shift(day, days):
    return (dt.date.fromisoformat(day) + dt.timedelta(days=days)).isoformat()


@pytest.fixture
def venue(make_venue, owner):
    return make_venue(
        owner[0],
        venue_name="Shalimar Banquet",
        address="12 Canal Bank Road",
        city="Lahore",
        slots=TWO_SLOTS,
        pictures=[COVER, "https://cdn.example.com/halls/hall.jpg"],
        pricing={"base_price": 150000, "overrides": []},
    )


def summary_of(venue):
    return {
        "id": str(venue["_id"]),
        "venue_name": venue["venue_name"],
        "city": venue["city"],
        "address": venue["address"],
        "timezone": venue["timezone"],
        "cover_picture": (venue["pictures"] or [None])[0],
    }


def assert_contract(booking, venue):
    """The booking as shown and as stored: an integer total with its breakdown, a reference,
    the venue's summary, and its slot times as UTC instants."""
    assert type(booking["price_locked"]) is int
    assert booking["price_locked"] == booking["price_breakdown"]["total"]
    assert booking["price_breakdown"]["subtotal"] == booking["price_locked"]
    assert (
        sum(line["amount"] for line in booking["price_breakdown"]["lines"])
        == (booking["price_locked"])
    )
    assert REFERENCE.match(booking["reference"])
    assert booking["venue"] == summary_of(venue)
    times = [(slot["start"], slot["end"]) for slot in booking["slot_details"]]
    assert booking["starts_at"] == local_as_utc(venue, booking["date"], min(times)[0])
    assert booking["ends_at"] == local_as_utc(venue, booking["date"], max(times)[1])
    doc = stored(booking)
    assert doc["price_locked"] == booking["price_locked"] and type(doc["price_locked"]) is int
    assert doc["price_breakdown"] == booking["price_breakdown"]
    assert doc["reference"] == booking["reference"]
    assert doc["venue"] == {**summary_of(venue), "id": venue["_id"]}
    assert "starts_at" not in doc and "ends_at" not in doc  # shown, never stored


def local_as_utc(venue, day, hh_mm):
    from zoneinfo import ZoneInfo

    local = dt.datetime.fromisoformat(f"{day}T{hh_mm}").replace(tzinfo=ZoneInfo(venue["timezone"]))
    return local.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# Every answer -----------------------------------------------------------------------------


def test_every_booking_answer_carries_the_contract(client, customer, owner, venue):
    made = booked(client, customer[1], venue, slots=["lunch", "dinner"], date=today_plus(5))
    assert made["price_locked"] == 300000
    assert_contract(made, venue)
    path = f"/bookings/{made['id']}"

    got = ok_data(client.get(path, headers=customer[1]))["booking"]
    assert_contract(got, venue)
    assert got["reference"] == made["reference"]
    listed = ok_data(client.get("/bookings", headers=customer[1]))["items"]
    assert [item["reference"] for item in listed] == [made["reference"]]
    assert_contract(listed[0], venue)
    owners = ok_data(client.get("/bookings", headers=owner[1]))["items"]
    assert_contract(owners[0], venue)

    db.venues().update_one(
        {"_id": venue["_id"]},
        {"$set": {"pricing.overrides": [{"date": today_plus(6), "price": 160000}]}},
    )
    body = {"date": today_plus(6), "slots": ["lunch", "dinner"], "expected_total": 320000}
    moved = ok_data(client.post(f"{path}/reschedule", json=body, headers=customer[1]))
    assert moved["booking"]["price_locked"] == 320000
    assert moved["change"]["price_delta"] == 20000
    assert_contract(moved["booking"], venue)
    assert moved["booking"]["reference"] == made["reference"]  # a move keeps it

    confirmed = ok_data(client.patch(path, json={"status": "confirmed"}, headers=owner[1]))
    assert_contract(confirmed["booking"], venue)
    cancelled = ok_data(client.delete(path, headers=customer[1]))["booking"]
    assert cancelled["status"] == "cancelled"
    assert_contract(cancelled, venue)

    other = booked(client, customer[1], venue, slots=["lunch"], date=today_plus(7))
    rejected = ok_data(
        client.patch(f"/bookings/{other['id']}", json={"status": "rejected"}, headers=owner[1])
    )
    assert_contract(rejected["booking"], venue)
    assert len({made["reference"], other["reference"]}) == 2


def test_the_venue_summary_is_a_snapshot_of_when_it_was_booked(client, customer, venue):
    made = booked(client, customer[1], venue, slots=["lunch"])
    db.venues().update_one(
        {"_id": venue["_id"]},
        {"$set": {"venue_name": "Shalimar Grand", "address": "1 Mall Road", "pictures": []}},
    )

    again = ok_data(client.get(f"/bookings/{made['id']}", headers=customer[1]))["booking"]
    assert again["venue"] == summary_of(venue)  # as it was
    later = booked(client, customer[1], venue, slots=["dinner"])
    assert later["venue"] == {
        **summary_of(venue),
        "venue_name": "Shalimar Grand",
        "address": "1 Mall Road",
        "cover_picture": None,
    }


# starts_at and ends_at --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("zone", "slot", "starts", "ends"),
    [
        # Karachi is UTC+5: an evening slot ends the same UTC day.
        ("Asia/Karachi", DINNER, (0, "13:00"), (0, "18:00")),
        # Kolkata is UTC+5:30: the half hour shows.
        ("Asia/Kolkata", LUNCH, (0, "06:30"), (0, "10:30")),
        # Bogota is UTC-5: an evening there is the next day in UTC.
        ("America/Bogota", DINNER, (0, "23:00"), (1, "04:00")),
        # Past midnight (ends before it starts): 22:00 to 02:00 the next day, Karachi time.
        ("Asia/Karachi", {"key": "late", "label": "Late", "start": "22:00", "end": "02:00"},
         (0, "17:00"), (0, "21:00")),
        ("America/Bogota", {"key": "late", "label": "Late", "start": "22:00", "end": "02:00"},
         (1, "03:00"), (1, "07:00")),
    ],
)  # fmt: skip
def test_slot_times_are_utc_instants_on_the_venues_clock(
    client, customer, make_venue, owner, zone, slot, starts, ends
):
    # A slot past midnight cannot be registered through the API; a venue may still store one.
    venue = make_venue(owner[0], timezone=zone, slots=[slot], pictures=[COVER])
    day = today_plus(5, venue)
    db.venues().update_one({"_id": venue["_id"]}, {"$set": {"dates_available": [day]}})

    made = booked(client, customer[1], venue, date=day)

    assert made["venue"]["timezone"] == zone
    assert made["starts_at"] == utc(shift(day, starts[0]), starts[1])
    assert made["ends_at"] == utc(shift(day, ends[0]), ends[1])
    got = ok_data(client.get(f"/bookings/{made['id']}", headers=customer[1]))["booking"]
    assert (got["starts_at"], got["ends_at"]) == (made["starts_at"], made["ends_at"])


def test_several_slots_run_from_the_first_start_to_the_last_end(client, customer, venue):
    day = today_plus(4)
    made = booked(client, customer[1], venue, slots=["dinner", "lunch"], date=day)
    assert (made["starts_at"], made["ends_at"]) == (utc(day, "07:00"), utc(day, "18:00"))


def test_a_slot_known_by_its_key_only_spans_its_whole_day():
    booking = {
        "date": "2031-03-20",
        "venue": {"timezone": "Asia/Karachi"},
        "slot_details": [{"key": "gone"}],  # migrated, of a slot the venue no longer had
    }
    assert display.event_span(booking) == (
        dt.datetime(2031, 3, 19, 19, 0, tzinfo=dt.UTC),
        dt.datetime(2031, 3, 20, 19, 0, tzinfo=dt.UTC),
    )


# The reference ----------------------------------------------------------------------------


def test_the_reference_finds_the_booking_for_its_booker_and_its_venues_owner(
    client, customer, owner, venue
):
    made = booked(client, customer[1], venue, slots=["lunch"])
    reference = made["reference"]
    for headers in (customer[1], owner[1]):
        for typed in (reference, reference.lower(), f"hb-{reference[3:].lower()}"):
            found = ok_data(client.get(f"/bookings/{typed}", headers=headers))["booking"]
            assert found["id"] == made["id"] and found["reference"] == reference


@pytest.mark.parametrize("who", ["another customer", "another owner"])
def test_a_reference_is_404_to_anyone_else(client, customer, make_user, venue, who):
    made = booked(client, customer[1], venue, slots=["lunch"])
    _, headers = make_user(owner=who == "another owner")
    before = snapshot()
    for path in ("", "/receipt.pdf", "/cancellation-quote"):
        response = client.get(f"/bookings/{made['reference']}{path}", headers=headers)
        assert_error(response, 404, "booking_not_found")
    response = client.delete(f"/bookings/{made['reference']}", headers=headers)
    assert_error(response, 404, "booking_not_found")
    assert snapshot() == before


def test_a_reference_needs_a_token(client, customer, venue):
    made = booked(client, customer[1], venue, slots=["lunch"])
    assert_error(client.get(f"/bookings/{made['reference']}"), 401, "token_missing")


@pytest.mark.parametrize(
    "typed", ["HB-ZZZZZZ", "HB-0O1I00", "HB-7K3Q9", "HB-7K3Q9MM", "XX-7K3Q9M", "nonsense", "%24ne"]
)
def test_an_unknown_or_malformed_reference_is_404(client, customer, venue, typed):
    booked(client, customer[1], venue, slots=["lunch"])
    assert_error(client.get(f"/bookings/{typed}", headers=customer[1]), 404, "booking_not_found")


def test_every_booking_path_takes_the_reference(client, customer, owner, venue):
    made = booked(client, customer[1], venue, slots=["lunch"], date=today_plus(5))
    path = f"/bookings/{made['reference'].lower()}"

    quote = ok_data(client.get(f"{path}/cancellation-quote", headers=customer[1]))
    assert quote["booking_id"] == made["id"]
    receipt = client.get(f"{path}/receipt.pdf", headers=owner[1])
    assert receipt.status_code == 200 and receipt.mimetype == "application/pdf"
    disposition = receipt.headers["Content-Disposition"]
    assert disposition == f'inline; filename="halls-booking-{made["reference"]}.pdf"'
    body = {"date": today_plus(6), "slots": ["dinner"]}
    moved = ok_data(client.post(f"{path}/reschedule", json=body, headers=customer[1]))
    assert moved["booking"]["id"] == made["id"] and stored(made)["date"] == today_plus(6)
    confirmed = ok_data(client.patch(path, json={"status": "confirmed"}, headers=owner[1]))
    assert confirmed["booking"]["status"] == "confirmed"
    assert_held_by(claim_of(venue, today_plus(6), "dinner"), made["id"])
    cancelled = ok_data(client.delete(path, headers=customer[1]))["booking"]
    assert cancelled["status"] == "cancelled" and stored(made)["status"] == "cancelled"
    assert_free(claim_of(venue, today_plus(6), "dinner"))


def test_the_reference_index_is_unique_and_serves_the_lookup(app, customer, venue):
    index = db.bookings().index_information()["reference_unique"]
    assert list(index["key"]) == [("reference", 1)] and index["unique"] and index["sparse"]


def draws(monkeypatch, *given):
    """new_reference hands out these references, then fresh ones; returns what it handed."""
    handed, queue, real = [], list(given), references.new_reference

    def drawn():
        handed.append(queue.pop(0) if queue else real())
        return handed[-1]

    monkeypatch.setattr(references, "new_reference", drawn)
    return handed


def test_a_drawn_reference_already_taken_is_drawn_again_in_the_same_step(
    client, customer, make_user, venue, monkeypatch
):
    first = booked(client, customer[1], venue, slots=["lunch"])
    handed = draws(monkeypatch, first["reference"], first["reference"])

    second = booked(client, make_user()[1], venue, slots=["dinner"])

    assert handed[:2] == [first["reference"]] * 2 and len(handed) == 3
    assert second["reference"] == handed[2] != first["reference"]
    assert stored(second)["reference"] == second["reference"]
    assert_held_by(claim_of(venue, slot="dinner"), second["id"])
    assert db.bookings().count_documents({}) == 2


def test_a_reference_taken_on_every_draw_leaves_nothing_behind(
    client, customer, make_user, venue, monkeypatch
):
    first = booked(client, customer[1], venue, slots=["lunch"])
    handed = draws(monkeypatch, *[first["reference"]] * references.ATTEMPTS)
    before = snapshot()

    response = book(client, make_user()[1], venue, slots=["dinner"])

    assert_error(response, 409, "conflict")
    assert handed == [first["reference"]] * references.ATTEMPTS
    assert snapshot()[0] == before[0]  # no second booking
    assert_free(claim_of(venue, slot="dinner"))  # its claim given back


def test_another_unique_refusal_is_not_taken_for_a_reference(client, customer, venue, monkeypatch):
    real = db.bookings

    class Refusing(Proxy):
        def insert_one(self, document, *args, **kwargs):
            raise DuplicateKeyError("E11000 duplicate key error (another unique index)", 11000)

    monkeypatch.setattr(db, "bookings", lambda: Refusing(real()))
    handed = draws(monkeypatch)

    assert_error(book(client, customer[1], venue, slots=["lunch"]), 409, "conflict")
    assert len(handed) == 1  # not drawn again: the reference was never the problem
    monkeypatch.setattr(db, "bookings", real)
    assert db.bookings().count_documents({}) == 0
    assert_free(claim_of(venue, slot="lunch"))


# DELETE with a reason in the body -----------------------------------------------------------


def test_a_cancel_takes_its_reason_from_a_json_body(client, customer, owner, venue):
    made = booked(client, customer[1], venue, slots=["lunch"])
    path = f"/bookings/{made['id']}"

    cancelled = ok_data(client.delete(path, json={"reason": "Moved abroad"}, headers=owner[1]))

    assert cancelled["booking"]["reason"] == "Moved abroad"
    assert cancelled["booking"]["cancelled_by"] == "owner"
    doc = stored(made)
    assert doc["status"] == "cancelled" and doc["reason"] == "Moved abroad"
    assert_free(claim_of(venue, slot="lunch"))


def test_a_cancel_still_takes_its_reason_from_the_query(client, customer, venue):
    made = booked(client, customer[1], venue, slots=["lunch"])
    response = client.delete(f"/bookings/{made['id']}?reason=Plans%20changed", headers=customer[1])
    assert ok_data(response)["booking"]["reason"] == "Plans changed"
    assert stored(made)["reason"] == "Plans changed"


def test_a_retried_cancel_sends_its_body_again_or_is_another_request(client, customer, venue):
    made = booked(client, customer[1], venue, slots=["lunch"])
    path, key = f"/bookings/{made['id']}", {"Idempotency-Key": "cancel-1", **customer[1]}

    first = client.delete(path, json={"reason": "Ill"}, headers=key)
    again = client.delete(path, json={"reason": "Ill"}, headers=key)
    other = client.delete(path, json={"reason": "Busy"}, headers=key)

    assert ok_data(first)["booking"]["reason"] == "Ill"
    assert again.headers["Idempotent-Replayed"] == "true" and again.data == first.data
    assert_error(other, 422, "idempotency_key_reused")
    assert stored(made)["reason"] == "Ill"


@pytest.mark.parametrize(
    ("query", "body", "field"),
    [
        ("?reason=One", {"reason": "Another"}, "reason"),
        ("?reason=Same", {"reason": "Same"}, "reason"),
        ("", {"reason": "x" * 501}, "reason"),
        ("", {"reason": 7}, "reason"),
        ("", {"reason": "Fine", "refund": 100}, "refund"),
    ],
)
def test_a_cancel_with_a_bad_reason_changes_nothing(client, customer, venue, query, body, field):
    made = booked(client, customer[1], venue, slots=["lunch"])
    before = snapshot()

    response = client.delete(f"/bookings/{made['id']}{query}", json=body, headers=customer[1])

    error = assert_error(response, 422, "validation_failed")
    assert set(error["details"]) == {field}
    assert snapshot() == before
    assert_held_by(claim_of(venue, slot="lunch"), made["id"])


# Older bookings ---------------------------------------------------------------------------


def dict_priced_booking(venue, user, date, slot=LUNCH):
    """A booking as halls stored it from multi-slot booking until issue 18: the breakdown as
    price_locked, the venue as {id, venue_name}, no reference."""
    price = venue["pricing"]["base_price"]
    line = {"kind": "slot", "key": slot["key"], "label": slot["label"], "unit_price": price}
    breakdown = {"lines": [{**line, "qty": 1, "amount": price}], "subtotal": price}
    at = dt.datetime(2030, 1, 2, 3, 4, 5, 678000, tzinfo=dt.UTC)
    booking = {
        "_id": ObjectId(),
        "venue_id": venue["_id"],
        "venue": {"id": venue["_id"], "venue_name": "Shalimar (old name)"},
        "user_id": user["_id"],
        "owner_id": venue["owner_id"],
        "date": date,
        "slots": [slot["key"]],
        "slot": slot["key"],
        "slot_details": [dict(slot)],
        "guests": 40,
        "addons": [],
        "status": "confirmed",
        "price_locked": {**breakdown, "total": price, "currency": "PKR"},
        "currency": "PKR",
        "payment": {"method": "pay_at_venue", "paid": 0, "refunded": 0},
        "history": [],
        "created_at": at,
        "updated_at": at,
    }
    db.bookings().insert_one(booking)
    return booking


def migrate(app):
    result = app.test_cli_runner().invoke(args=["migrate"])
    return result.exit_code, result.output.strip()


def test_migrate_brings_dict_priced_bookings_to_the_contract(app, client, customer, venue):
    current = booked(client, customer[1], venue, slots=["dinner"], date=today_plus(4))
    as_made = stored(current)
    older = [dict_priced_booking(venue, customer[0], today_plus(n)) for n in (3, 5)]

    code, output = migrate(app)

    assert code == 0
    assert output == (
        "migrated 2 bookings: 0 without slots, 0 without slot_details,"
        " 2 without price_breakdown, 2 with the breakdown as price_locked,"
        " 0 without a payment record, 0 without addons, 0 without history,"
        " 2 without a policy, 0 with moves of the older shape,"
        " 2 without the venue summary, 2 without a reference; 0 left"
    )
    assert stored(current) == as_made
    migrated = [db.bookings().find_one({"_id": booking["_id"]}) for booking in older]
    for before, after in zip(older, migrated, strict=True):
        assert after["price_locked"] == 150000
        assert after["price_breakdown"] == before["price_locked"]
        assert REFERENCE.match(after["reference"])
        assert after["venue"] == {
            **summary_of(venue),
            "id": venue["_id"],
            "venue_name": "Shalimar (old name)",  # the name it was booked under
        }
        changed = {"price_locked", "price_breakdown", "reference", "venue", "policy"}
        assert {k: v for k, v in after.items() if k not in changed} == {
            k: v for k, v in before.items() if k not in changed
        }
    assert len({after["reference"] for after in migrated} | {current["reference"]}) == 3

    for after in migrated:
        shown = ok_data(client.get(f"/bookings/{after['reference']}", headers=customer[1]))
        assert shown["booking"]["price_locked"] == 150000
        assert shown["booking"]["starts_at"] == local_as_utc(venue, after["date"], "12:00")

    again = [db.bookings().find_one({"_id": booking["_id"]}) for booking in older]
    assert migrate(app)[1].startswith("migrated 0 bookings:")
    assert [db.bookings().find_one({"_id": booking["_id"]}) for booking in older] == again


def test_migrate_draws_again_a_reference_another_booking_has(
    app, client, customer, venue, monkeypatch
):
    current = booked(client, customer[1], venue, slots=["dinner"])
    older = dict_priced_booking(venue, customer[0], today_plus(5))
    handed = draws(monkeypatch, current["reference"])

    counts = migration.migrate_bookings()

    assert counts["migrated"] == counts["reference"] == 1 and counts["left"] == 0
    assert handed[0] == current["reference"] and len(handed) == 2
    assert db.bookings().find_one({"_id": older["_id"]})["reference"] == handed[1]
    assert stored(current)["reference"] == current["reference"]
