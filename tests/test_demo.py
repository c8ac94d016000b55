import datetime as dt
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from halls import create_app, db, demo
from halls.config import ConfigError
from halls.errors import Conflict
from halls.rules import local_today, price_on
from tests.helpers import ok_data

CITY_CENTRES = {"Lahore": (31.5204, 74.3587), "Karachi": (24.8607, 67.0011)}
CITY_CENTRES["Islamabad"] = (33.6844, 73.0479)


def _km(lat1, lng1, lat2, lng2):
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dlat, dlng = p2 - p1, math.radians(lng2 - lng1)
    a = math.sin(dlat / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dlng / 2) ** 2
    return 2 * 6371 * math.asin(math.sqrt(a))


def _minutes(hhmm):
    hours, minutes = hhmm.split(":")
    return int(hours) * 60 + int(minutes)


def test_seed_loads_the_two_accounts(app, client):
    summary = demo.seed_if_empty()

    assert demo.OWNER_EMAIL in summary and demo.CUSTOMER_EMAIL in summary
    assert demo.PASSWORD in summary
    owner = db.users().find_one({"email": demo.OWNER_EMAIL})
    customer = db.users().find_one({"email": demo.CUSTOMER_EMAIL})
    assert (owner["is_venue_owner"], owner["role"]) == (True, "owner")
    assert (customer["is_venue_owner"], customer["role"]) == (False, "customer")
    for email, role in ((demo.OWNER_EMAIL, "owner"), (demo.CUSTOMER_EMAIL, "customer")):
        body = {"email": email, "password": demo.PASSWORD}
        data = ok_data(client.post("/auth/login", json=body))
        assert data["user"]["role"] == role


def test_seed_loads_25_venues_across_three_cities(app):
    demo.seed_if_empty()
    owner = db.users().find_one({"email": demo.OWNER_EMAIL})
    venues = list(db.venues().find())

    assert len(venues) == 25
    assert {v["owner_id"] for v in venues} == {owner["_id"]}
    by_city = {city: [v for v in venues if v["city"] == city] for city in CITY_CENTRES}
    assert all(len(found) >= 7 for found in by_city.values())
    assert sum(len(found) for found in by_city.values()) == 25
    assert {v["type"] for v in venues} == {"Hall", "Auditorium", "Banquet", "Lawn"}
    assert len({v["venue_name"] for v in venues}) == 25
    for venue in venues:
        lng, lat = venue["maps_location"]["coordinates"]
        assert venue["maps_location"]["type"] == "Point"
        assert _km(lat, lng, *CITY_CENTRES[venue["city"]]) < 40, venue["venue_name"]
        assert venue["city"] in venue["address"]
        assert venue["status"] == "active" and venue["currency"] == "PKR"
        assert venue["timezone"] == "Asia/Karachi"
        assert isinstance(venue["capacity"], int) and venue["capacity"] > 0
        assert isinstance(venue["pricing"]["base_price"], int)
        assert 50_000 <= venue["pricing"]["base_price"] <= 2_000_000
        assert any(venue["amenities"].values())
        assert all(url.startswith("https://") for url in venue["pictures"])


def test_seed_gives_90_days_from_today_in_karachi_after_its_history(app):
    demo.seed_if_empty()
    today = dt.date.fromisoformat(local_today({}))
    # Open since the history began (its past bookings took those dates), and 90 days ahead.
    first = -demo.history.HISTORY_DAYS
    expected = [(today + dt.timedelta(days=n)).isoformat() for n in range(first, 90)]
    for venue in db.venues().find():
        assert venue["dates_available"] == expected


def test_seed_slots_are_well_formed(app):
    demo.seed_if_empty()
    for venue in db.venues().find():
        slots = venue["slots"]
        assert slots and len({s["key"] for s in slots}) == len(slots)
        spans = sorted((_minutes(s["start"]), _minutes(s["end"])) for s in slots)
        assert all(start < end for start, end in spans)
        assert all(spans[i][1] <= spans[i + 1][0] for i in range(len(spans) - 1))
    kinds = {v["type"]: [s["key"] for s in v["slots"]] for v in db.venues().find()}
    assert kinds["Auditorium"] == ["full_day"]
    assert kinds["Banquet"] == ["lunch", "dinner"]


def test_seed_prices_weekends_at_a_few_venues(app):
    demo.seed_if_empty()
    with_overrides = list(db.venues().find({"pricing.overrides.0": {"$exists": True}}))
    assert 3 <= len(with_overrides) < 25
    for venue in with_overrides:
        base = venue["pricing"]["base_price"]
        for override in venue["pricing"]["overrides"]:
            assert override["date"] in venue["dates_available"]
            assert dt.date.fromisoformat(override["date"]).weekday() >= 4
            assert isinstance(override["price"], int) and override["price"] > base
            assert price_on(venue, override["date"]) == override["price"]
        weekday = next(
            d for d in venue["dates_available"] if dt.date.fromisoformat(d).weekday() < 4
        )
        assert price_on(venue, weekday) == base


def test_seed_is_idempotent(app):
    demo.seed_if_empty()
    before = (db.users().count_documents({}), db.venues().count_documents({}))
    summary = demo.seed_if_empty()
    assert "already loaded" in summary
    assert (db.users().count_documents({}), db.venues().count_documents({})) == before


def test_seed_skips_when_another_worker_won_the_race(app, monkeypatch):
    def taken(*args, **kwargs):
        raise Conflict("That email already has an account.", error_code="email_taken")

    monkeypatch.setattr(demo.accounts, "create_user", taken)
    assert "already loaded" in demo.seed_if_empty()
    assert db.venues().count_documents({}) == 0


def test_seed_keeps_an_existing_customer_account(app, make_user):
    existing, _ = make_user(email=demo.CUSTOMER_EMAIL, full_name="Already Here")
    demo.seed_if_empty()
    assert db.users().find_one({"email": demo.CUSTOMER_EMAIL})["full_name"] == "Already Here"
    assert db.venues().count_documents({}) == 25


def test_seed_refuses_production(app):
    app.config["HALLS_ENV"] = "production"
    with pytest.raises(ConfigError):
        demo.seed_if_empty()
    assert db.users().count_documents({}) == 0
    assert db.venues().count_documents({}) == 0


def test_demo_venues_are_bookable_through_the_api(app, client):
    demo.seed_if_empty()
    venue = db.venues().find_one({"venue_name": "Shalimar Grand Banquet"})
    # Two days ahead: both slots start more than the default 24 hours' notice away at any
    # time of day (tomorrow's dinner is less than that after 19:00 in Karachi).
    day = (dt.date.fromisoformat(local_today(venue)) + dt.timedelta(days=2)).isoformat()
    data = ok_data(client.get(f"/venues/{venue['_id']}/availability?date={day}"))
    assert data["available"] is True
    assert [slot["key"] for slot in data["slots"]] == ["lunch", "dinner"]
    assert all(slot["available"] for slot in data["slots"])
    assert data["price"] == price_on(venue, day)


def test_create_app_seeds_when_asked(app_config, database):
    create_app({**app_config, "DATABASE": database, "HALLS_DEMO_DATA": True})
    assert database.users.count_documents({"email": demo.OWNER_EMAIL}) == 1
    assert database.venues.count_documents({}) == 25


def test_seed_demo_command(app):
    result = app.test_cli_runner().invoke(args=["seed-demo"])
    assert result.exit_code == 0, result.output
    assert f"demo owner login: {demo.OWNER_EMAIL} / {demo.PASSWORD}" in result.output
    assert db.venues().count_documents({}) == 25


def test_flask_seed_demo_runs_from_a_shell():
    # What a newcomer types; on the embedded backend the data lives in that process only.
    root = Path(__file__).resolve().parent.parent
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MONGO_", "HALLS_"))}
    env["BCRYPT_ROUNDS"] = "4"
    flask = [sys.executable, "-m", "flask", "--app", "wsgi", "seed-demo"]
    result = subprocess.run(flask, cwd=root, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "loaded 25 venues" in result.stdout
    assert "embedded database" in result.stdout
