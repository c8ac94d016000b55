"""Fixtures: a fresh app on a fresh database per test, and small factories.

The database is an in-memory mongomock by default. With HALLS_TEST_MONGO_URI set, each test
gets a throwaway database on that server, dropped afterwards: the same tests, unchanged.
"""

import datetime as dt
import os
import uuid

import pytest

from halls import clock as halls_clock
from halls import create_app, db, embedded
from halls.auth import tokens
from halls.extensions import limiter
from tests.helpers import PASSWORD, bearer, today_plus

TEST_MONGO_URI = os.environ.get("HALLS_TEST_MONGO_URI")

# A developer's .env never reaches the tests: not through wsgi.py or gunicorn.conf.py, nor
# through the `flask` command a test runs (halls.config.load_env_file).
os.environ["FLASK_SKIP_DOTENV"] = "1"


def _database():
    if TEST_MONGO_URI:
        from pymongo import MongoClient

        client = MongoClient(TEST_MONGO_URI, tz_aware=True, serverSelectionTimeoutMS=5000)
        return client[f"halls_test_{uuid.uuid4().hex[:12]}"]
    return embedded.new_client()["halls_test"]


@pytest.fixture
def app_config():
    """Per-test config overrides; a test may update it before asking for `app`."""
    return {
        "TESTING": True,
        "RATELIMIT_ENABLED": False,
        "BCRYPT_ROUNDS": 4,
        "JWT_SECRET_KEY": "test-secret-" + "x" * 32,
        "HALLS_DEMO_DATA": False,
    }


@pytest.fixture
def database():
    database = _database()
    yield database
    if TEST_MONGO_URI:
        database.client.drop_database(database.name)
        database.client.close()


# Apps built so far, one per distinct config: building one (its blueprints and OpenAPI
# document) took about 0.1 s, most of a typical test's time. A test still gets a fresh
# database, the config it asked for, and a limiter with nothing counted.
_apps = {}


@pytest.fixture
def app(app_config, database):
    key = repr(sorted(app_config.items()))
    app = _apps.get(key)
    if app is None:
        app = _apps[key] = create_app({**app_config, "DATABASE": database})
    else:
        app.config["DATABASE"] = app.extensions["halls_db"] = database
        db.create_indexes(database)
    # The limiter is one object for every app: the app made last configured it.
    limiter.enabled = app.config["RATELIMIT_ENABLED"]
    if limiter.enabled:
        limiter.reset()
    config = dict(app.config)
    with app.app_context():
        yield app
    app.config.clear()  # what the test changed goes with it
    app.config.update(config)


@pytest.fixture
def own_app(app_config, database):
    """An app of the test's own, never shared: for a test that adds routes to it."""
    app = create_app({**app_config, "DATABASE": database})
    with app.app_context():
        yield app


@pytest.fixture
def client(app):
    return app.test_client()


class FrozenClock:
    """halls.clock.now, frozen where the test sets it (at first: when the test began)."""

    def __init__(self, at):
        self.at = at

    def __call__(self):
        return self.at

    def set(self, at):
        self.at = at

    def advance(self, **delta):
        self.at += dt.timedelta(**delta)


@pytest.fixture
def clock(monkeypatch):
    """The one clock every module reads, frozen: `clock.set(at)`, `clock.advance(hours=1)`."""
    frozen = FrozenClock(halls_clock.now())
    monkeypatch.setattr(halls_clock, "now", frozen)
    return frozen


@pytest.fixture
def make_user(app):
    """Insert a user straight into the database and return (user, access-token headers)."""
    from halls.auth.service import hash_password

    def make(*, owner=False, email=None, role=None, password=PASSWORD, **fields):
        now = dt.datetime.now(dt.UTC)
        user = {
            "full_name": fields.pop("full_name", "Test Person"),
            "email": email or f"user-{uuid.uuid4().hex[:10]}@example.com",
            "password_hash": hash_password(password),
            "contact_number": fields.pop("contact_number", "+923001234567"),
            "is_venue_owner": owner,
            "role": role or ("owner" if owner else "customer"),
            "auth_provider": "password",
            "token_version": 0,
            "created_at": now,
            "updated_at": now,
            **fields,
        }
        user["_id"] = db.users().insert_one(user).inserted_id
        issued = tokens.issue_tokens(user)
        return user, bearer(issued["access_token"])

    return make


@pytest.fixture
def owner(make_user):
    return make_user(owner=True, full_name="Olivia Owner")


@pytest.fixture
def customer(make_user):
    return make_user(full_name="Cyrus Customer")


@pytest.fixture
def smtp_server(app):
    """start(**aiosmtpd options) runs an SMTP server on loopback and points the app at it."""
    from tests.smtp import start_smtp

    controllers = []

    def start(**smtp_options):
        recorder, controller = start_smtp(app, **smtp_options)
        controllers.append(controller)
        return recorder

    yield start
    for controller in controllers:
        controller.stop()


@pytest.fixture
def make_venue(app):
    """Insert a venue straight into the database, in its stored shape."""

    def make(owner_user, **fields):
        now = dt.datetime.now(dt.UTC)
        venue = {
            "owner_id": owner_user["_id"],
            "venue_name": "Test Hall",
            "type": "Hall",
            "address": "1 Mall Road",
            "city": "Lahore",
            "maps_location": {"type": "Point", "coordinates": [74.3587, 31.5204]},
            "capacity": 300,
            "space_sqft": 4000.0,
            "amenities": {"parking_valet": True, "air_conditioner": True},
            "additional_description": "",
            "pictures": [],
            "videos": [],
            "dates_available": [today_plus(d) for d in range(1, 31)],
            "pricing": {"base_price": 100000, "overrides": []},
            "slots": [{"key": "full_day", "label": "Full day", "start": "00:00", "end": "23:59"}],
            "timezone": "Asia/Karachi",
            "currency": "PKR",
            "status": "active",
            "created_at": now,
            "updated_at": now,
        }
        venue.update(fields)
        venue["_id"] = db.venues().insert_one(venue).inserted_id
        return venue

    return make
