"""The owner's calendar: settings on a venue, and the rules availability, search and booking share.

Rules first, on a fixed clock; then the settings over HTTP (register, PATCH, GET), and how
availability and search honour them.
"""

import datetime as dt

import pytest

from halls import db, rules
from tests.helpers import TWO_SLOTS, assert_error, hold_slot, ok_data, today_plus, venue_body

# Tuesday 2031-03-11, 10:00 in Karachi (UTC+5, no daylight saving).
NOW = dt.datetime(2031, 3, 11, 5, 0, tzinfo=dt.UTC)
TODAY = "2031-03-11"


def venue(**fields):
    """A venue document as the rules see it, open from TODAY for a year, with two slots."""
    days = [(dt.date(2031, 3, 11) + dt.timedelta(days=n)).isoformat() for n in range(400)]
    return {
        "status": "active",
        "timezone": "Asia/Karachi",
        "dates_available": days,
        "slots": TWO_SLOTS,  # lunch 12:00-16:00, dinner 18:00-23:00
        **fields,
    }


def refusal(doc, date, slot="dinner", now=NOW):
    return rules.slot_refusal(doc, date, slot, now)


# --- settings and their defaults ----------------------------------------------------------


def test_a_venue_without_settings_has_the_defaults():
    old = {"venue_name": "Stored before issue 3"}
    assert rules.setting(old, "booking_window_days") == 365
    assert rules.setting(old, "min_notice_hours") == 24
    assert rules.setting(old, "open_days") == ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
    assert rules.setting(old, "blackouts") == []
    assert rules.setting(old, "hold_minutes") == 1440
    assert rules.setting(old, "auto_confirm") is False
    assert rules.setting(old, "reschedule_cutoff_hours") == 48
    assert rules.setting(old, "cancellation_policy") == [
        {"min_hours_before": 168, "refund_pct": 100},
        {"min_hours_before": 48, "refund_pct": 50},
        {"min_hours_before": 0, "refund_pct": 0},
    ]


def test_stored_settings_win_and_defaults_are_never_shared():
    assert rules.setting({"min_notice_hours": 0}, "min_notice_hours") == 0
    assert rules.setting({"auto_confirm": True}, "auto_confirm") is True
    policy = rules.setting({}, "cancellation_policy")
    policy[0]["refund_pct"] = 1  # a caller changing its copy changes nobody else's
    assert rules.setting({}, "cancellation_policy")[0]["refund_pct"] == 100


# --- slot_refusal, one code at a time ---------------------------------------------------------


def test_an_open_slot_is_not_refused():
    assert refusal(venue(), "2031-03-13") is None
    assert rules.is_open_on(venue(), "2031-03-13", NOW)


@pytest.mark.parametrize("status", ["inactive", "deleted"])
def test_a_venue_that_is_not_active_refuses(status):
    assert refusal(venue(status=status), "2031-03-13") == "venue_inactive"


def test_a_date_not_offered_or_past_is_unavailable():
    assert refusal(venue(dates_available=["2031-03-14"]), "2031-03-13") == "date_unavailable"
    assert refusal(venue(dates_available=["2031-03-10"]), "2031-03-10") == "date_unavailable"


def test_a_closed_weekday_is_unavailable():
    weekends = venue(open_days=["sat", "sun"])
    assert refusal(weekends, "2031-03-14") == "date_unavailable"  # a Friday
    assert refusal(weekends, "2031-03-15") is None  # Saturday
    assert refusal(weekends, "2031-03-16") is None  # Sunday
    assert not rules.is_open_on(weekends, "2031-03-14", NOW)


def test_the_booking_window_ends_on_its_last_day():
    month = venue(booking_window_days=30)
    assert refusal(month, "2031-04-10") is None  # today + 30
    assert refusal(month, "2031-04-11") == "outside_booking_window"
    assert refusal(venue(), "2032-03-10") is None  # today + 365 by default
    assert refusal(venue(), "2032-03-11") == "outside_booking_window"


def test_the_window_counts_from_today_where_the_venue_is():
    # 20:00 UTC: already the 12th in Karachi, still the 11th in New York.
    late = dt.datetime(2031, 3, 11, 20, 0, tzinfo=dt.UTC)
    karachi = venue(booking_window_days=1)
    new_york = venue(booking_window_days=1, timezone="America/New_York")
    assert refusal(karachi, "2031-03-13", now=late) is None
    assert refusal(new_york, "2031-03-13", now=late) == "outside_booking_window"


def test_min_notice_is_counted_to_each_slot_start():
    # Lunch tomorrow starts in 26 hours, dinner in 32.
    day = "2031-03-12"
    assert refusal(venue(), day, "lunch") is None
    assert refusal(venue(min_notice_hours=26), day, "lunch") is None  # exactly the notice
    assert refusal(venue(min_notice_hours=27), day, "lunch") == "too_late_to_book"
    assert refusal(venue(min_notice_hours=27), day, "dinner") is None
    assert refusal(venue(min_notice_hours=33), day, "dinner") == "too_late_to_book"


def test_without_notice_a_slot_may_be_booked_until_it_starts():
    no_notice = venue(min_notice_hours=0)
    assert refusal(no_notice, TODAY, "lunch") is None  # 12:00, two hours away
    started = dt.datetime(2031, 3, 11, 7, 1, tzinfo=dt.UTC)  # 12:01 in Karachi
    assert refusal(no_notice, TODAY, "lunch", now=started) == "too_late_to_book"
    assert refusal(no_notice, TODAY, "dinner", now=started) is None
    assert refusal(venue(), TODAY, "dinner") == "too_late_to_book"  # 24 h by default


def test_blackouts_close_a_day_or_some_slots():
    blackouts = [
        {"id": "a", "date": "2031-03-13", "slots": [], "reason": "Repairs"},
        {"id": "b", "date": "2031-03-14", "slots": ["lunch"], "reason": "Private"},
        {"id": "c", "date": "2031-03-15", "reason": "No slots field: the whole day"},
    ]
    doc = venue(blackouts=blackouts)
    assert refusal(doc, "2031-03-13", "lunch") == "blacked_out"
    assert refusal(doc, "2031-03-13", "dinner") == "blacked_out"
    assert refusal(doc, "2031-03-14", "lunch") == "blacked_out"
    assert refusal(doc, "2031-03-14", "dinner") is None
    assert refusal(doc, "2031-03-15", "dinner") == "blacked_out"
    assert refusal(doc, "2031-03-16", "lunch") is None
    assert not rules.is_open_on(doc, "2031-03-13", NOW)
    assert rules.is_open_on(doc, "2031-03-14", NOW)  # the day is open, one slot is not


def test_an_unknown_slot_is_refused():
    assert refusal(venue(), "2031-03-13", "breakfast") == "unknown_slot"


def test_the_day_level_refusal_comes_first():
    closed = venue(status="inactive", open_days=["sat"], min_notice_hours=8760)
    assert refusal(closed, "2031-03-13") == "venue_inactive"
    assert refusal(venue(open_days=["sat"], min_notice_hours=8760), "2031-03-13") == (
        "date_unavailable"
    )


# --- event_start ---------------------------------------------------------------------------


def test_event_start_is_the_earliest_slot_in_utc():
    doc = venue()
    assert rules.event_start(doc, "2031-03-12", ["dinner"]) == dt.datetime(
        2031, 3, 12, 13, 0, tzinfo=dt.UTC
    )
    assert rules.event_start(doc, "2031-03-12", ["dinner", "lunch"]) == dt.datetime(
        2031, 3, 12, 7, 0, tzinfo=dt.UTC
    )


def test_event_start_follows_daylight_saving():
    new_york = venue(timezone="America/New_York")
    # Clocks go forward on 2031-03-09: 12:00 is 17:00 UTC the day before, 16:00 UTC after.
    assert rules.event_start(new_york, "2031-03-08", ["lunch"]).hour == 17
    assert rules.event_start(new_york, "2031-03-10", ["lunch"]).hour == 16


def test_event_start_of_slots_the_venue_dropped_is_the_start_of_the_day():
    assert rules.event_start(venue(), "2031-03-12", ["gone"]) == dt.datetime(
        2031, 3, 11, 19, 0, tzinfo=dt.UTC
    )
    assert rules.event_start({}, "2031-03-12", ["full_day"]) == dt.datetime(
        2031, 3, 11, 19, 0, tzinfo=dt.UTC
    )


# --- the settings over HTTP ----------------------------------------------------------------

BODY = venue_body()
SETTINGS = {
    "booking_window_days": 90,
    "min_notice_hours": 0,
    "open_days": ["sun", "fri", "sat", "fri"],
    "hold_minutes": 30,
    "auto_confirm": True,
    "reschedule_cutoff_hours": 72,
    "cancellation_policy": [
        {"min_hours_before": 0, "refund_pct": 0},
        {"min_hours_before": 720, "refund_pct": 100},
    ],
}
AS_STORED = {
    **SETTINGS,
    "open_days": ["fri", "sat", "sun"],
    "cancellation_policy": [
        {"min_hours_before": 720, "refund_pct": 100},
        {"min_hours_before": 0, "refund_pct": 0},
    ],
}


def settings_of(doc):
    return {name: doc.get(name) for name in SETTINGS}


def test_register_stores_the_default_settings(client, owner):
    data = ok_data(client.post("/venues/register", json=BODY, headers=owner.headers), 201)
    defaults = {name: rules.setting({}, name) for name in SETTINGS}
    assert settings_of(data["venue"]) == defaults
    assert data["venue"]["blackouts"] == []
    stored = db.venues().find_one({"venue_name": "Shalimar Banquet"})
    assert settings_of(stored) == defaults


def test_register_takes_settings_and_normalises_them(client, owner):
    body = {**BODY, **SETTINGS}
    data = ok_data(client.post("/venues/register", json=body, headers=owner.headers), 201)
    assert settings_of(data["venue"]) == AS_STORED
    assert settings_of(db.venues().find_one({"venue_name": "Shalimar Banquet"})) == AS_STORED


def test_an_old_venue_shows_the_defaults(client, owner, make_venue):
    old = make_venue(owner.user)
    assert "min_notice_hours" not in db.venues().find_one({"_id": old["_id"]})
    data = ok_data(client.get(f"/venues/{old['_id']}"))["venue"]
    assert settings_of(data) == {name: rules.setting({}, name) for name in SETTINGS}
    assert data["blackouts"] == []
    assert "calendar_token_hash" not in data


def test_patch_changes_the_settings_sent_and_nothing_else(client, owner, make_venue):
    doc = make_venue(owner.user, min_notice_hours=12)
    response = client.patch(f"/venues/{doc['_id']}", json=SETTINGS, headers=owner.headers)
    assert settings_of(ok_data(response)["venue"]) == AS_STORED
    stored = db.venues().find_one({"_id": doc["_id"]})
    assert settings_of(stored) == AS_STORED
    assert stored["venue_name"] == doc["venue_name"]
    response = client.patch(
        f"/venues/{doc['_id']}", json={"auto_confirm": False}, headers=owner.headers
    )
    assert ok_data(response)["venue"]["auto_confirm"] is False
    assert db.venues().find_one({"_id": doc["_id"]})["booking_window_days"] == 90


@pytest.mark.parametrize(
    "body",
    [
        {"booking_window_days": 0},
        {"booking_window_days": 1096},
        {"booking_window_days": "30"},
        {"booking_window_days": None},
        {"min_notice_hours": -1},
        {"min_notice_hours": 8761},
        {"min_notice_hours": 1.5},
        {"open_days": []},
        {"open_days": ["funday"]},
        {"open_days": "mon"},
        {"open_days": ["Mon"]},
        {"hold_minutes": 4},
        {"hold_minutes": 43201},
        {"auto_confirm": "yes"},
        {"auto_confirm": 1},
        {"reschedule_cutoff_hours": -1},
        {"cancellation_policy": []},
        {"cancellation_policy": [{"min_hours_before": 0}]},
        {"cancellation_policy": [{"min_hours_before": -1, "refund_pct": 0}]},
        {"cancellation_policy": [{"min_hours_before": 0, "refund_pct": 101}]},
        {"cancellation_policy": [{"min_hours_before": 0, "refund_pct": 10, "note": "x"}]},
        {
            "cancellation_policy": [
                {"min_hours_before": 48, "refund_pct": 50},
                {"min_hours_before": 48, "refund_pct": 40},
            ]
        },
        {
            "cancellation_policy": [
                {"min_hours_before": 168, "refund_pct": 50},
                {"min_hours_before": 0, "refund_pct": 100},
            ]
        },
        {"blackouts": [{"date": "2031-03-13", "reason": "only through /blackouts"}]},
        {"calendar_token_hash": "0" * 64},
    ],
)
def test_patch_refuses_bad_settings_and_changes_nothing(client, owner, make_venue, body):
    doc = make_venue(owner.user)
    before = db.venues().find_one({"_id": doc["_id"]})
    response = client.patch(f"/venues/{doc['_id']}", json=body, headers=owner.headers)
    assert assert_error(response, 422, "validation_failed")["details"]
    assert db.venues().find_one({"_id": doc["_id"]}) == before


def test_another_owner_cannot_change_the_settings(client, owner, make_user, make_venue):
    doc = make_venue(owner.user)
    _, stranger = make_user(owner=True)
    response = client.patch(f"/venues/{doc['_id']}", json={"min_notice_hours": 0}, headers=stranger)
    assert_error(response, 403, "not_venue_owner")
    assert "min_notice_hours" not in db.venues().find_one({"_id": doc["_id"]})


# --- availability and search honour the calendar ------------------------------------------


def slot_reasons(client, doc, date):
    data = ok_data(client.get(f"/venues/{doc['_id']}/availability?date={date}"))
    return data["available"], {slot["key"]: slot["reason"] for slot in data["slots"]}


def test_availability_says_why_each_slot_is_unavailable(client, owner, make_venue):
    day = today_plus(3)
    doc = make_venue(
        owner.user,
        slots=TWO_SLOTS,
        blackouts=[{"id": "x", "date": day, "slots": ["lunch"], "reason": "Private"}],
    )
    assert slot_reasons(client, doc, day) == (True, {"lunch": "blacked_out", "dinner": None})
    hold_slot(doc, day, "dinner")
    assert slot_reasons(client, doc, day) == (
        False,
        {"lunch": "blacked_out", "dinner": "slot_taken"},
    )
    assert slot_reasons(client, doc, today_plus(0)) == (
        False,
        {"lunch": "date_unavailable", "dinner": "date_unavailable"},  # not offered today
    )


def test_availability_applies_notice_window_and_weekdays(client, owner, make_venue):
    doc = make_venue(owner.user, slots=TWO_SLOTS, min_notice_hours=8760)
    assert slot_reasons(client, doc, today_plus(5)) == (
        False,
        {"lunch": "too_late_to_book", "dinner": "too_late_to_book"},
    )
    doc = make_venue(owner.user, booking_window_days=4)
    assert slot_reasons(client, doc, today_plus(4))[0] is True
    assert slot_reasons(client, doc, today_plus(5)) == (
        False,
        {"full_day": "outside_booking_window"},
    )
    day = today_plus(6)
    doc = make_venue(
        owner.user, open_days=[d for d in rules.WEEKDAYS if d != rules.weekday_of(day)]
    )
    assert slot_reasons(client, doc, day) == (False, {"full_day": "date_unavailable"})
    assert slot_reasons(client, doc, today_plus(7))[0] is True


def test_a_range_applies_the_rules_day_by_day(client, owner, make_venue):
    first = today_plus(2)
    doc = make_venue(
        owner.user,
        open_days=[rules.weekday_of(first)],
        blackouts=[{"id": "x", "date": today_plus(9), "slots": [], "reason": "Repairs"}],
    )
    query = f"from={first}&to={today_plus(16)}"
    days = ok_data(client.get(f"/venues/{doc['_id']}/availability?{query}"))["days"]
    open_days = [day["date"] for day in days if day["available"]]
    assert open_days == [first, today_plus(16)]  # the same weekday; the one between is closed
    assert days[7]["slots"][0]["reason"] == "blacked_out"


def search_ids(client, date):
    data = ok_data(client.get(f"/venues/search?date={date}"))
    return {item["id"] for item in data["items"]}, data["total"]


def test_search_by_date_drops_venues_the_calendar_closes(client, owner, make_venue):
    day = today_plus(6)
    weekday = rules.weekday_of(day)
    plain = make_venue(owner.user, venue_name="Old, no settings")
    stored_defaults = make_venue(owner.user, **{name: rules.setting({}, name) for name in SETTINGS})
    slot_blackout = make_venue(
        owner.user,
        slots=TWO_SLOTS,
        blackouts=[{"id": "x", "date": day, "slots": ["lunch"], "reason": "Private"}],
    )
    other_day_blackout = make_venue(
        owner.user, blackouts=[{"id": "x", "date": today_plus(7), "slots": [], "reason": "No"}]
    )
    long_window = make_venue(owner.user, booking_window_days=200)
    make_venue(owner.user, open_days=[d for d in rules.WEEKDAYS if d != weekday])
    make_venue(owner.user, booking_window_days=5)
    make_venue(owner.user, blackouts=[{"id": "x", "date": day, "slots": [], "reason": "Repairs"}])
    make_venue(owner.user, blackouts=[{"id": "x", "date": day, "reason": "No slots field"}])
    make_venue(owner.user, open_days=[weekday], status="inactive")
    expected = {
        str(v["_id"])
        for v in (plain, stored_defaults, slot_blackout, other_day_blackout, long_window)
    }
    assert search_ids(client, day) == (expected, 5)
    # Without a date nothing is dropped for the calendar.
    assert ok_data(client.get("/venues/search"))["total"] == 9


def test_search_reads_the_window_where_each_venue_is(client, owner, make_venue, clock):
    # 20:00 UTC: Karachi is a day ahead of New York, so a 1-day window reaches one date later.
    clock.set(dt.datetime(2031, 3, 11, 20, 0, tzinfo=dt.UTC))
    dates = ["2031-03-12", "2031-03-13"]
    calendar = {"booking_window_days": 1, "min_notice_hours": 0, "slots": TWO_SLOTS}
    karachi = make_venue(owner.user, dates_available=dates, **calendar)
    new_york = make_venue(
        owner.user, dates_available=dates, timezone="America/New_York", **calendar
    )
    assert search_ids(client, "2031-03-13") == ({str(karachi["_id"])}, 1)
    assert search_ids(client, "2031-03-12") == ({str(karachi["_id"]), str(new_york["_id"])}, 2)


def test_search_drops_venues_whose_every_slot_is_too_soon(client, owner, make_venue, clock):
    clock.set(NOW)  # 10:00 in Karachi on TODAY
    dates = [TODAY, "2031-03-12", "2031-04-30"]
    two_slots = make_venue(owner.user, slots=TWO_SLOTS, dates_available=dates)
    full_day = make_venue(owner.user, dates_available=dates)  # 00:00 on each date
    no_notice = make_venue(owner.user, dates_available=dates, slots=TWO_SLOTS, min_notice_hours=0)
    month = make_venue(owner.user, dates_available=dates, min_notice_hours=24 * 40)
    lunch_blacked_out = make_venue(
        owner.user,
        slots=TWO_SLOTS,
        dates_available=dates,
        min_notice_hours=30,
        blackouts=[{"id": "x", "date": "2031-03-12", "slots": ["dinner"], "reason": "Private"}],
    )
    names = {
        str(v["_id"]): name
        for name, v in [
            ("two_slots", two_slots),
            ("full_day", full_day),
            ("no_notice", no_notice),
            ("month", month),
            ("lunch_blacked_out", lunch_blacked_out),
        ]
    }

    def listed(date):
        return {names[venue_id] for venue_id in search_ids(client, date)[0]}

    # Today: lunch (12:00) and dinner are still ahead, but only without notice.
    assert listed(TODAY) == {"no_notice"}
    # Tomorrow: lunch starts in 26 h, dinner in 32 h; full day at midnight, 14 h away.
    # lunch_blacked_out: dinner is blacked out and lunch is inside its 30 hours.
    assert listed("2031-03-12") == {"two_slots", "no_notice"}
    assert listed("2031-04-30") == set(names.values())  # 50 days ahead: month's 40 pass
