"""GET /venues/<id>/availability, and the availability and price rules behind it."""

import datetime as dt

import pytest

from halls import db, rules
from halls.bookings import claims
from halls.venues import service
from tests.helpers import TWO_SLOTS, assert_error, hold_slot, ok_data, other_id, today_plus


def availability(client, venue, query):
    return ok_data(client.get(f"/venues/{venue['_id']}/availability?{query}"))


def test_an_open_day_with_the_base_price(client, owner, make_venue):
    venue = make_venue(owner.user)
    day = today_plus(2)
    assert availability(client, venue, f"date={day}") == {
        "venue_id": str(venue["_id"]),
        "date": day,
        "available": True,
        "price": 100000,
        "slots": [
            {
                "key": "full_day",
                "label": "Full day",
                "start": "00:00",
                "end": "23:59",
                "available": True,
                "reason": None,
            }
        ],
    }


def test_price_comes_from_the_first_override_then_the_base_then_null(client, owner, make_venue):
    day = today_plus(2)
    overridden = make_venue(
        owner.user,
        pricing={
            "base_price": 100000,
            "overrides": [{"date": day, "price": 75000}, {"date": day, "price": 1}],
        },
    )
    unpriced = make_venue(owner.user, pricing={"base_price": None, "overrides": []})
    assert availability(client, overridden, f"date={day}")["price"] == 75000
    assert availability(client, overridden, f"date={today_plus(3)}")["price"] == 100000
    data = availability(client, unpriced, f"date={day}")
    assert data["price"] is None
    assert data["available"] is True  # open, though a booking will need a price


def test_a_past_date_is_unavailable(client, owner, make_venue):
    yesterday = today_plus(-1)
    venue = make_venue(owner.user, dates_available=[yesterday, today_plus(1)])
    data = availability(client, venue, f"date={yesterday}")
    assert data["available"] is False
    assert [slot["available"] for slot in data["slots"]] == [False]


def test_a_date_not_offered_is_unavailable(client, owner, make_venue):
    venue = make_venue(owner.user, dates_available=[today_plus(1)])
    data = availability(client, venue, f"date={today_plus(2)}")
    assert data["available"] is False
    assert data["price"] == 100000


def test_held_slots_are_unavailable(client, owner, make_venue):
    day = today_plus(4)
    venue = make_venue(owner.user, slots=TWO_SLOTS)
    hold_slot(venue, day, "dinner")
    data = availability(client, venue, f"date={day}")
    assert data["available"] is True
    assert {slot["key"]: slot["available"] for slot in data["slots"]} == {
        "lunch": True,
        "dinner": False,
    }
    lunch = hold_slot(venue, day, "lunch")
    data = availability(client, venue, f"date={day}")
    assert data["available"] is False
    claims.release_claims(lunch)
    assert availability(client, venue, f"date={day}")["available"] is True


def test_an_inactive_venue_is_unavailable(client, owner, make_venue):
    venue = make_venue(owner.user, status="inactive")
    assert availability(client, venue, f"date={today_plus(1)}")["available"] is False


def test_a_range_lists_each_day(client, owner, make_venue):
    venue = make_venue(
        owner.user,
        slots=TWO_SLOTS,
        dates_available=[today_plus(1), today_plus(2)],
        pricing={"base_price": 5000, "overrides": [{"date": today_plus(2), "price": 9000}]},
    )
    hold_slot(venue, today_plus(2), "lunch")
    hold_slot(venue, today_plus(1), "lunch")
    hold_slot(venue, today_plus(1), "dinner")
    data = availability(client, venue, f"from={today_plus(0)}&to={today_plus(3)}")
    assert data["venue_id"] == str(venue["_id"])
    days = data["days"]
    assert [day["date"] for day in days] == [today_plus(n) for n in range(4)]
    assert [day["available"] for day in days] == [False, False, True, False]
    assert [day["price"] for day in days] == [5000, 5000, 9000, 5000]
    assert [slot["available"] for slot in days[2]["slots"]] == [False, True]


def test_a_range_reads_the_claims_once(client, owner, make_venue, monkeypatch):
    venue = make_venue(owner.user)
    calls = []
    real = claims.held_slots

    def counting(venue_id, dates, slots=None):
        calls.append(list(dates))
        return real(venue_id, dates, slots)

    monkeypatch.setattr(service.claims, "held_slots", counting)
    data = availability(client, venue, f"from={today_plus(1)}&to={today_plus(62)}")
    assert len(data["days"]) == 62
    assert len(calls) == 1 and len(calls[0]) == 62


def test_a_one_day_range_is_allowed(client, owner, make_venue):
    venue = make_venue(owner.user)
    day = today_plus(1)
    assert [d["date"] for d in availability(client, venue, f"from={day}&to={day}")["days"]] == [day]


@pytest.mark.parametrize(
    "query",
    [
        "",
        f"date={today_plus(1)}&from={today_plus(1)}&to={today_plus(2)}",
        f"date={today_plus(1)}&to={today_plus(2)}",
        f"from={today_plus(1)}",
        f"to={today_plus(1)}",
        f"from={today_plus(3)}&to={today_plus(2)}",
        f"from={today_plus(1)}&to={today_plus(63)}",
        "date=2031-02-29",
        "date=tomorrow",
        f"date={today_plus(1)}&slot=lunch",
        "date[$gt]=2000-01-01",
    ],
)
def test_bad_questions_are_422(client, owner, make_venue, query):
    venue = make_venue(owner.user)
    response = client.get(f"/venues/{venue['_id']}/availability?{query}")
    assert assert_error(response, 422, "validation_failed")["details"]


@pytest.mark.parametrize("venue_id", [other_id(), "bogus"])
def test_unknown_venue_is_404(client, venue_id):
    response = client.get(f"/venues/{venue_id}/availability?date={today_plus(1)}")
    assert_error(response, 404, "venue_not_found")


def test_deleted_venue_is_404(client, owner, make_venue):
    venue = make_venue(owner.user, status="deleted")
    response = client.get(f"/venues/{venue['_id']}/availability?date={today_plus(1)}")
    assert_error(response, 404, "venue_not_found")


def test_availability_writes_nothing(client, owner, make_venue):
    venue = make_venue(owner.user)
    availability(client, venue, f"from={today_plus(1)}&to={today_plus(5)}")
    assert db.slot_claims().count_documents({}) == 0
    assert db.venues().find_one({"_id": venue["_id"]})["updated_at"] is not None


# --- the rules, with a fixed clock ----------------------------------------------------------

# 20:30 UTC: already the next day in Karachi (UTC+5), still the same day in New York.
NOW = dt.datetime(2031, 3, 10, 20, 30, tzinfo=dt.UTC)


def test_local_today_follows_the_venue_time_zone():
    assert rules.local_today({"timezone": "Asia/Karachi"}, NOW) == "2031-03-11"
    assert rules.local_today({"timezone": "America/New_York"}, NOW) == "2031-03-10"
    assert rules.local_today({}, NOW) == "2031-03-11"  # Asia/Karachi by default


def test_is_open_on_uses_the_venue_calendar():
    karachi = {"timezone": "Asia/Karachi", "dates_available": ["2031-03-10", "2031-03-11"]}
    new_york = {**karachi, "timezone": "America/New_York"}
    assert not rules.is_open_on(karachi, "2031-03-10", NOW)
    assert rules.is_open_on(new_york, "2031-03-10", NOW)
    assert rules.is_open_on(karachi, "2031-03-11", NOW)
    assert not rules.is_open_on({**karachi, "status": "inactive"}, "2031-03-11", NOW)


def test_zones_open_on_a_date():
    assert rules.zones_open_on("2031-03-13", NOW) is None  # ahead of every calendar
    zones = rules.zones_open_on("2031-03-10", NOW)
    assert "America/New_York" in zones and "Asia/Karachi" not in zones
    assert rules.is_past_everywhere("2031-03-09", NOW)
    assert not rules.is_past_everywhere("2031-03-10", NOW)


def test_fully_held_and_dates_between():
    venue = {"slots": TWO_SLOTS}
    assert rules.fully_held(venue, {"lunch", "dinner"})
    assert not rules.fully_held(venue, {"lunch"})
    assert rules.fully_held({}, {"full_day"})  # the default single slot
    assert rules.dates_between("2031-02-27", "2031-03-02") == [
        "2031-02-27",
        "2031-02-28",
        "2031-03-01",
        "2031-03-02",
    ]
