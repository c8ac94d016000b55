"""Demo data worth looking at: accounts, 25 venues, add-ons, and six months of bookings.

Loaded by `make run` (HALLS_DEMO_DATA=true) and `flask --app wsgi seed-demo`. The logins are
published in the README, so production refuses to load them.

The accounts and venues have fixed ids (`demo_id`), so after a restart of the embedded
backend the same ids come back: saved Postman variables and unexpired tokens keep working.
Dates move with the calendar: the venues open HISTORY_DAYS before today and DAYS_AHEAD after
it, and the bookings (history.py) are replayed relative to today.
"""

import datetime as dt
import logging
from collections import Counter

from bson import ObjectId
from flask import current_app

from halls import clock, db
from halls.addons import service as addons
from halls.addons.schemas import AddonIn
from halls.auth import service as accounts
from halls.config import ConfigError
from halls.demo import history
from halls.demo.venues import DAYS_AHEAD, VENUES, addon_bodies, venue_body
from halls.errors import Conflict
from halls.rules import local_today
from halls.venues import service as venues
from halls.venues.schemas import VenueIn

log = logging.getLogger("halls.demo")

OWNER_EMAIL = "owner@halls.demo"
CUSTOMER_EMAIL = "customer@halls.demo"
ADMIN_EMAIL = "admin@halls.demo"
PASSWORD = "halls-demo-2025"
# Who is who in history.TIMELINE: name, email, venue owner. Every account has the password.
PEOPLE = {
    "owner": ("Demo Owner", OWNER_EMAIL, True),
    "customer": ("Demo Customer", CUSTOMER_EMAIL, False),
    "admin": ("Demo Admin", ADMIN_EMAIL, False),
    "ayesha": ("عائشہ خان", "ayesha@halls.demo", False),
    "bilal": ("Bilal Ahmed", "bilal@halls.demo", False),
}
LOGINS = [("owner", OWNER_EMAIL), ("customer", CUSTOMER_EMAIL), ("admin", ADMIN_EMAIL)]
OPENED_AT = "09:00"  # the local time, HISTORY_DAYS ago, when the owner registered the venues

# The ids' first four bytes are an ObjectId's creation time: 2025-01-01, before any demo data.
ID_EPOCH = int(dt.datetime(2025, 1, 1, tzinfo=dt.UTC).timestamp())
USER, VENUE = 1, 2


def demo_id(kind, number):
    """The fixed id of the demo's `number`th account (USER) or venue (VENUE)."""
    return ObjectId(f"{ID_EPOCH:08x}{kind:04x}{number:012x}")


def seed_if_empty():
    """Load the demo data once; a summary with the logins either way."""
    if current_app.config["HALLS_ENV"] == "production":
        raise ConfigError("Demo data has a published password; it is never loaded in production.")
    if db.users().find_one({"email": OWNER_EMAIL}, {"_id": 1}):
        return _summary("already loaded; nothing added")
    now = clock.now()
    today = local_today({}, now)
    with clock.frozen(history.instant((history.HISTORY_DAYS, OPENED_AT), today, now)):
        try:
            people = _accounts()
        except Conflict:
            # Another worker loaded it between our check and this insert.
            return _summary("already loaded; nothing added")
        dates = _dates(today)
        registered = _venues(people["owner"], dates)
    made = history.replay(people, registered, today, now)
    statuses = Counter(booking["status"] for booking in db.bookings().find({}, {"status": 1}))
    shown = ", ".join(f"{count} {status}" for status, count in sorted(statuses.items()))
    return _summary(
        f"loaded {len(registered)} venues, dates {dates[0]} to {dates[-1]};"
        f" {len(made)} bookings ({shown})"
    )


def _accounts():
    """The demo accounts by their TIMELINE name; Conflict when the owner exists already."""
    people = {}
    for number, (key, (full_name, email, is_owner)) in enumerate(PEOPLE.items(), start=1):
        try:
            issued = accounts.create_user(
                full_name, email, PASSWORD, "+923001234567", is_owner, user_id=demo_id(USER, number)
            )
            people[key] = issued["user"]
        except Conflict:
            if key == "owner":
                raise
            log.warning("demo: %s already exists; kept as it is", email)
            people[key] = db.users().find_one({"email": email})
            continue
        if key == "admin":
            accounts.set_admin(email)
    return people


def _dates(today):
    start = dt.date.fromisoformat(today) - dt.timedelta(days=history.HISTORY_DAYS)
    days = history.HISTORY_DAYS + DAYS_AHEAD
    return [(start + dt.timedelta(days=n)).isoformat() for n in range(days)]


def _venues(owner, dates):
    """Register every venue of VENUES, with its add-ons; returns them by name."""
    registered = {}
    schema, addon_schema = VenueIn(), AddonIn()
    rows = [(city, row) for city, city_rows in VENUES.items() for row in city_rows]
    for number, (city, row) in enumerate(rows, start=1):
        fields = schema.load(venue_body(city, row, dates))
        # register_venue stores the fields it is given: the fixed id goes in with them.
        venue = venues.register_venue(owner, {**fields, "_id": demo_id(VENUE, number)})
        for body in addon_bodies(venue["venue_name"]):
            addons.add_addon(owner, str(venue["_id"]), addon_schema.load(body))
        registered[venue["venue_name"]] = venue
    return registered


def _summary(what):
    lines = [f"demo data: {what}"]
    lines += [f"demo {role} login: {email} / {PASSWORD}" for role, email in LOGINS]
    if not current_app.config.get("MONGO_URI"):
        lines.append("embedded database: this data lives only in this process's memory")
    for line in lines:
        log.info(line)
    return "\n".join(lines)
