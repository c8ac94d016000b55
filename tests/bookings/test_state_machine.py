"""The booking rules under random sequences of actions, checked after every step.

A hypothesis RuleBasedStateMachine plays customers and owners against the real API (through
the test client, on a fresh embedded database per example): book, cancel, reschedule, confirm,
reject, let time pass, sweep expired holds, top wallets up, black dates out and reopen them.
After every step it reads the database and checks what must always hold: no slot has two
active bookings, every active booking holds its claims and no claim is held for nothing, every
wallet balance equals its ledger and what its bookings paid, and no booking gets back more than
it paid. A request the API refuses must leave the database as it found it.

Time is a clock the machine owns: every "now" the booking code reads is patched to it for the
example and restored afterwards, so holds lapse when the machine says so and a failing run
replays exactly. BookingRulesWithFaults plays the same game with faults injected into the
writes (issue 13) and the repair run now and then. CI runs a fixed set of examples
(derandomized); for a longer random search:
HALLS_HYPOTHESIS_PROFILE=booking-rules-explore .venv/bin/pytest tests/bookings/test_state_machine.py
"""

import datetime as dt
import functools
import os
import uuid
from zoneinfo import ZoneInfo

import pytest
from bson import ObjectId
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from halls import clock, create_app, db, embedded, idempotency
from halls import rules as venue_rules
from halls.auth import tokens
from tests.bookings.faults import ACCESSORS as FAULT_ACCESSORS
from tests.bookings.faults import KINDS, Faults
from tests.bookings.invariants import check_safe
from tests.helpers import bearer, venue_body

pytestmark = pytest.mark.slow

settings.register_profile(
    "booking-rules",
    max_examples=50,
    stateful_step_count=40,
    deadline=None,
    derandomize=True,  # the same examples on every run: a red CI is a red laptop
    database=None,  # nothing written to .hypothesis/; a failure prints its steps instead
    print_blob=True,
)
settings.register_profile(
    "booking-rules-explore",
    max_examples=500,
    stateful_step_count=80,
    deadline=None,
    derandomize=False,
    database=None,
    print_blob=True,
)
PROFILE = os.environ.get("HALLS_HYPOTHESIS_PROFILE", "booking-rules")

# Every clock the booking code reads (pricing and policy are handed `now` by their callers).
CLOCKS = ((clock, "now"),)
# A Monday; the machine draws the hour it starts at.
EPOCH = dt.datetime(2031, 3, 10, tzinfo=dt.UTC)
DAYS = 5  # dates offered: the start's local date and the days after it (few: they collide)
PEOPLE = ("cara", "cyrus", "coco", "olga", "omar")  # customers c*, owners o*
ACTIVE = ("pending", "confirmed")
TERMINAL = ("rejected", "cancelled", "expired", "completed")
# Where a stored status may go in one step (a reschedule takes confirmed back to pending).
MOVES = {
    "pending": {"pending", "confirmed", "rejected", "cancelled", "expired"},
    "confirmed": {"confirmed", "pending", "cancelled", "completed"},
    **{status: {status} for status in TERMINAL},
}

THREE_SLOTS = [
    {"key": "morning", "label": "Morning", "start": "09:00", "end": "12:00"},
    {"key": "afternoon", "label": "Afternoon", "start": "13:00", "end": "17:00"},
    {"key": "evening", "label": "Evening", "start": "18:00", "end": "23:00"},
]
TWO_SLOTS = [
    {"key": "lunch", "label": "Lunch", "start": "12:00", "end": "16:00"},
    {"key": "dinner", "label": "Dinner", "start": "18:00", "end": "23:30"},
]
VENUES = {
    # Owner-confirmed, short holds, a tiered policy, add-ons, dearer on some dates.
    "grand": {
        "owner": "olga",
        "timezone": "Asia/Karachi",
        "slots": THREE_SLOTS,
        "hold_minutes": 15,
        "auto_confirm": False,
        "min_notice_hours": 2,
        "reschedule_cutoff_hours": 24,
        "cancellation_policy": [
            {"min_hours_before": 72, "refund_pct": 100},
            {"min_hours_before": 24, "refund_pct": 50},
            {"min_hours_before": 0, "refund_pct": 0},
        ],
        "base_price": 1000,
        "overrides": {2: 1500, 4: 700},
        "addons": [
            {"key": "decor", "name": "Decor", "price": 200, "unit": "per_event", "max_qty": 1},
            {"key": "meal", "name": "Meal", "price": 10, "unit": "per_guest", "max_qty": None},
        ],
    },
    # Confirms at once; the default policy.
    "lawn": {
        "owner": "olga",
        "timezone": "Asia/Karachi",
        "slots": TWO_SLOTS,
        "hold_minutes": 5,
        "auto_confirm": True,
        "min_notice_hours": 0,
        "reschedule_cutoff_hours": 6,
        "cancellation_policy": None,
        "base_price": 800,
        "overrides": {1: 1200},
        "addons": [],
    },
    # Another owner, another time zone, an hour's hold, no reschedule cut-off.
    "hall": {
        "owner": "omar",
        "timezone": "Europe/London",
        "slots": TWO_SLOTS,
        "hold_minutes": 60,
        "auto_confirm": False,
        "min_notice_hours": 0,
        "reschedule_cutoff_hours": 0,
        "cancellation_policy": [
            {"min_hours_before": 48, "refund_pct": 100},
            {"min_hours_before": 0, "refund_pct": 25},
        ],
        "base_price": 1100,
        "overrides": {3: 500},
        "addons": [],
    },
}
ADDON_CHOICES = [
    [],
    [{"key": "decor"}],
    [{"key": "meal", "qty": 20}],
    [{"key": "decor"}, {"key": "meal"}],
]


# The owner's calendar settings each venue registers with (None: the default).
SETTINGS = (
    "hold_minutes",
    "auto_confirm",
    "min_notice_hours",
    "reschedule_cutoff_hours",
    "cancellation_policy",
)


class Clock:
    """The one "now" of an example; BSON keeps milliseconds, so it never has finer ones."""

    def __init__(self, now):
        self.now = now

    def __call__(self):
        return self.now


def policy_pct(venue, booking, now):
    """The refund pct a customer's cancel earns by the venue's tiers, from the notice given."""
    spec = VENUES[venue]
    start = min(slot["start"] for slot in spec["slots"] if slot["key"] in booking["slots"])
    local = dt.datetime.combine(
        dt.date.fromisoformat(booking["date"]),
        dt.time.fromisoformat(start),
        tzinfo=ZoneInfo(spec["timezone"]),
    )
    hours = (local - now).total_seconds() / 3600
    tiers = spec["cancellation_policy"] or venue_rules.DEFAULT_CANCELLATION_POLICY
    reached = [t for t in tiers if hours >= t["min_hours_before"]]
    return max(reached, key=lambda t: t["min_hours_before"])["refund_pct"] if reached else 0


def move_limits(booking):
    """(floor, cap) of a customer's refund pct set by the booking's moves: at most what the
    customer's own move found, at least what the owner's did (issue 13)."""
    floor, cap = 0, 100
    for change in booking["history"]:
        before = change["refund_pct_before"]
        if before is not None and change["by"] == booking["user_id"]:
            cap = min(cap, before)
        elif before is not None:
            floor = max(floor, before)
    return floor, cap


def net_paid(booking):
    """Paid through halls and neither given back nor forfeited by a cheaper move."""
    forfeited = sum(change["forfeited"] for change in booking["history"])
    return booking["payment"]["paid"] - booking["payment"]["refunded"] - forfeited


def slot_keys(venue_name):
    return [slot["key"] for slot in VENUES[venue_name]["slots"]]


def slot_choices(venue):
    """A few of the venue's slot keys."""
    keys = slot_keys(venue)
    return st.lists(st.sampled_from(keys), min_size=1, max_size=len(keys), unique=True)


# Now and then a request the API must refuse whole (422), leaving nothing behind.
ODD_REQUESTS = {
    "repeated slot": {"slots": ["dinner", "dinner"]},
    "foreign slot": {"slots": ["morning", "lunch"]},
    "over capacity": {"guests": 301},
    "unknown add-on": {"addons": [{"key": "dj"}]},
    "too many of an add-on": {"addons": [{"key": "decor", "qty": 2}]},
}


def booking_requests():
    """{venue, day, slots, guests, addons} of a booking request, mostly one the API may take."""

    def for_venue(venue):
        addons = ADDON_CHOICES if VENUES[venue]["addons"] else [[]]
        fine = st.fixed_dictionaries(
            {
                "venue": st.just(venue),
                "day": st.integers(0, DAYS - 1),
                "slots": slot_choices(venue),
                "guests": st.sampled_from([1, 40, 120, 300]),
                "addons": st.sampled_from(addons),
            }
        )
        odd = st.sampled_from(sorted(ODD_REQUESTS)).map(lambda name: ODD_REQUESTS[name])
        oddness = st.sampled_from([None] * 9 + ["odd"]).flatmap(
            lambda kind: odd if kind else st.just({})
        )
        return st.tuples(fine, oddness).map(lambda pair: {**pair[0], **pair[1]})

    return st.sampled_from(sorted(VENUES)).flatmap(for_venue)


@functools.cache
def shared_app():
    """One app for every example: building its OpenAPI document is 90 % of what an app costs,
    and an example shrinks over hundreds of runs. Each example still gets its own database."""
    return create_app(
        {
            "TESTING": True,
            "RATELIMIT_ENABLED": False,
            "BCRYPT_ROUNDS": 4,
            "JWT_SECRET_KEY": "test-secret-" + "x" * 32,
            "HALLS_DEMO_DATA": False,
            "DATABASE": embedded.new_client()["halls_state_machine"],
        }
    )


# Which booking a rule acts on: mostly a live one (pending or confirmed), now and then any.
PICKS = st.tuples(st.sampled_from(["live", "live", "live", "any"]), st.integers(0, 30))


def some_booking(machine):
    return bool(machine.world and machine.world.bookings)


class BookingRules(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        self.app = shared_app()
        # A fresh, empty database per example, indexed as create_app indexes its own.
        self.database = embedded.new_client()["halls_state_machine"]
        self.app.extensions["halls_db"] = self.database
        db.create_indexes(self.database)
        self.client = self.app.test_client()
        self.clock = Clock(EPOCH)
        self.saved_clocks = [(module, name, getattr(module, name)) for module, name in CLOCKS]
        for module, name in CLOCKS:
            setattr(module, name, self.clock)
        self.users, self.headers, self.venues = {}, {}, {}
        self.credited = {}  # PKR each person was given by the admin
        self.statuses = {}  # booking id -> stored status after the last step
        self.world = None  # the database as the last step left it (read by the invariants)
        self.last_write = None  # the last retryable write sent, and its answer
        self.ever_confirmed = set()  # bookings seen confirmed after some step

    def teardown(self):
        for module, name, original in self.saved_clocks:
            setattr(module, name, original)

    # Setting up ----------------------------------------------------------------------------

    @initialize(hour=st.integers(0, 23), minute=st.sampled_from([0, 20, 59]))
    def set_up(self, hour, minute):
        self.clock.now = EPOCH + dt.timedelta(hours=hour, minutes=minute)
        with self.app.app_context():
            for name in PEOPLE:
                self.users[name] = self._insert_user(name, owner=name.startswith("o"))
            self.admin = self._insert_user("admin", role="admin")
        for name, spec in VENUES.items():
            self.venues[name] = self._register_venue(name, spec)
        for name in PEOPLE:
            self._credit(name, 3000)

    def _insert_user(self, name, owner=False, role=None):
        user = {
            "full_name": name.title(),
            "email": f"{name}@example.com",
            "password_hash": "-",
            "contact_number": "+923001234567",
            "is_venue_owner": owner,
            "role": role or ("owner" if owner else "customer"),
            "auth_provider": "password",
            "token_version": 0,
            "created_at": self.clock.now,
            "updated_at": self.clock.now,
        }
        user["_id"] = self.database.users.insert_one(user).inserted_id
        self.headers[name] = bearer(tokens.issue_tokens(user)["access_token"])
        return user

    def _register_venue(self, name, spec):
        """The owner registers the venue and adds its add-ons, through the API."""
        first = dt.date.fromisoformat(venue_rules.today_in(spec["timezone"], self.clock.now))
        dates = [(first + dt.timedelta(days=n)).isoformat() for n in range(DAYS)]
        overrides = [{"date": dates[n], "price": price} for n, price in spec["overrides"].items()]
        settings = {name: spec[name] for name in SETTINGS if spec[name] is not None}
        body = venue_body(
            venue_name=name.title(),
            capacity=300,
            dates_available=dates,
            pricing={"base_price": spec["base_price"], "overrides": overrides},
            slots=spec["slots"],
            timezone=spec["timezone"],
            **settings,
        )
        status, data, _ = self._call("set_up", "POST", "/venues/register", spec["owner"], json=body)
        assert status == 201, data
        venue_id = data["venue"]["id"]
        for addon in spec["addons"]:
            path = f"/venues/{venue_id}/addons"
            status, data, _ = self._call("set_up", "POST", path, spec["owner"], json=addon)
            assert status == 201, data
        return {"_id": ObjectId(venue_id), "dates": dates, "timezone": spec["timezone"]}

    # Talking to the API --------------------------------------------------------------------

    def _call(self, step, method, path, who, retryable=False, **kwargs):
        """One request; never a 5xx, always the envelope: (status, data, error code).

        A retryable write carries a fresh Idempotency-Key, as a careful client sends it, and
        is remembered so that `retry` can send it again.
        """
        headers = dict(self.headers[who])
        if retryable:
            headers["Idempotency-Key"] = uuid.uuid4().hex
        response = self.client.open(path, method=method, headers=headers, **kwargs)
        body = response.get_json()
        served = response.status_code < 500 or self._tolerated(body)
        assert served, (step, response.status_code, body)
        assert body is not None and body["ok"] is (response.status_code < 400), body
        if retryable:
            self.last_write = {
                "request": {"path": path, "method": method, "headers": headers, **kwargs},
                "status": response.status_code,
                "body": body,
                "at": self.clock.now,
            }
        code = None if body["ok"] else body["error"]["code"]
        return response.status_code, body.get("data"), code

    def _credit(self, name, amount):
        status, data, _ = self._call(
            "credit",
            "POST",
            "/wallet/credit",
            "admin",
            json={"user_id": str(self.users[name]["_id"]), "amount": amount, "note": "top-up"},
        )
        assert status == 201, data
        self.credited[name] = self.credited.get(name, 0) + amount

    def _booking(self, booking_id):
        return self.database.bookings.find_one({"_id": ObjectId(booking_id)})

    def _venue_name(self, venue_id):
        return next(name for name, venue in self.venues.items() if venue["_id"] == venue_id)

    def _name_of(self, user_id):
        return next(name for name, user in self.users.items() if user["_id"] == user_id)

    def _actor(self, booking, role, stranger):
        """Who acts on the booking: its booker, its venue's owner, or someone else."""
        if role == "booker":
            return self._name_of(booking["user_id"])
        if role == "owner":
            return self._name_of(booking["owner_id"])
        return stranger

    def _tolerated(self, body):
        """An error the machine accepts where it expects none: none here (with faults, some)."""
        return False

    def _refused_cleanly(self, code):
        """A refused request left the database as the last step did."""
        # A lapsed hold is expired on the way to its 409 (a truthful sweep), nothing else.
        if code != "hold_expired":
            self._unchanged(f"a refused request ({code})")

    def _unchanged(self, what):
        now = World(self.database, self.clock.now).fingerprint()
        assert now == self.world.fingerprint(), f"{what} changed the database"

    # Rules ---------------------------------------------------------------------------------

    @rule(who=st.sampled_from(PEOPLE), request=booking_requests())
    def book_with_wallet(self, who, request):
        return self._book(who, request, "wallet")

    @rule(who=st.sampled_from(PEOPLE), request=booking_requests())
    def book_paying_at_venue(self, who, request):
        return self._book(who, request, "pay_at_venue")

    def _book(self, who, request, payment):
        venue, day, slots = request["venue"], request["day"], request["slots"]
        balance = self._balance(who)
        status, data, code = self._call(
            "book",
            "POST",
            "/bookings",
            who,
            retryable=True,
            json={
                "venue_id": str(self.venues[venue]["_id"]),
                "date": self.venues[venue]["dates"][day],
                "slots": slots,
                "guests": request["guests"],
                "payment_method": payment,
                "addons": request["addons"],
            },
        )
        if status != 201:
            self._refused_cleanly(code)
            return
        booking = data["booking"]
        assert booking["status"] == ("confirmed" if VENUES[venue]["auto_confirm"] else "pending")
        assert booking["slots"] == [key for key in slot_keys(venue) if key in slots]
        paid = booking["price_locked"] if payment == "wallet" else 0
        assert booking["payment"] == {"method": payment, "paid": paid, "refunded": 0}
        assert self._balance(who) == balance - paid

    @rule(
        pick=PICKS,
        role=st.sampled_from(["booker", "booker", "owner", "stranger"]),
        stranger=st.sampled_from(PEOPLE),
    )
    @precondition(some_booking)
    def cancel(self, pick, role, stranger):
        stored = self._pick(*pick)
        booking = str(stored["_id"])
        who = self._actor(stored, role, stranger)
        balance = self._balance(self._name_of(stored["user_id"]))
        status, data, code = self._call(
            "cancel", "DELETE", f"/bookings/{booking}", who, retryable=True
        )
        if status != 200:
            self._refuse_stranger(stored, who, status, code)
            self._refused_cleanly(code)
            return
        assert data["booking"]["status"] == "cancelled"
        if stored["status"] == "cancelled":
            assert data["booking"]["refund"] == stored["refund"]  # a repeat: nothing more back
            return
        # What the policy promises, worked out here on its own: the owner's side, or a request
        # the owner never accepted, gets everything back; else the tier the notice reaches.
        by_owner = stored["user_id"] != self.users[who]["_id"]
        pct = 100 if by_owner else self._customer_pct(stored, self.clock.now)
        paid = net_paid(stored)
        assert data["booking"]["refund"] == {"pct": pct, "amount": paid * pct // 100}
        booker = self._name_of(stored["user_id"])
        assert self._balance(booker) == balance + (
            paid * pct // 100 if stored["payment"]["method"] == "wallet" else 0
        )

    def _customer_pct(self, stored, at):
        """What the booker's own cancel refunds at `at`: all while the owner never confirmed
        it, else the venue's tier within the limits the booking's moves set."""
        if stored["_id"] not in self.ever_confirmed:
            return 100
        floor, cap = move_limits(stored)
        return min(max(policy_pct(self._venue_name(stored["venue_id"]), stored, at), floor), cap)

    @rule(
        pick=PICKS,
        decision=st.sampled_from(["confirmed", "rejected"]),
        role=st.sampled_from(["owner", "owner", "booker", "stranger"]),
        stranger=st.sampled_from(PEOPLE),
    )
    @precondition(some_booking)
    def decide(self, pick, decision, role, stranger):
        stored = self._pick(*pick)
        booking = str(stored["_id"])
        who = self._actor(stored, role, stranger)
        status, data, code = self._call(
            "decide", "PATCH", f"/bookings/{booking}", who, json={"status": decision}
        )
        if status != 200:
            self._refuse_stranger(stored, who, status, code)
            self._refused_cleanly(code)
            return
        assert who == self._name_of(stored["owner_id"])
        assert stored["status"] == "pending"
        assert data["booking"]["status"] == decision

    @rule(
        pick=PICKS,
        role=st.sampled_from(["booker", "booker", "stranger"]),
        stranger=st.sampled_from(PEOPLE),
        day=st.integers(0, DAYS - 1),
        data=st.data(),
    )
    @precondition(some_booking)
    def reschedule(self, pick, role, stranger, day, data):
        self._reschedule(self._pick(*pick), role, stranger, day, data)

    @rule(pick=PICKS, day=st.integers(0, DAYS - 1), data=st.data())
    @precondition(some_booking)
    def reschedule_as_owner(self, pick, day, data):
        self._reschedule(self._pick(*pick), "owner", None, day, data)

    def _reschedule(self, stored, role, stranger, day, data):
        who = self._actor(stored, role, stranger)
        name = self._venue_name(stored["venue_id"])
        date = self.venues[name]["dates"][day]
        slots = data.draw(slot_choices(name), label="slots")
        booker = self._name_of(stored["user_id"])
        balance = self._balance(booker)
        body = {"date": date, "slots": slots}
        by_owner = who != booker
        if not by_owner:  # a careful customer looks at the price first, and accepts it
            path = f"/bookings/{stored['_id']}/reschedule-quote?date={date}&slots={','.join(slots)}"
            status, shown, _ = self._call("reschedule_quote", "GET", path, who)
            self._unchanged("a move quote")
            if status == 200:
                body["expected_total"] = shown["quote"]["total"]
        status, data, code = self._call(
            "reschedule",
            "POST",
            f"/bookings/{stored['_id']}/reschedule",
            who,
            retryable=True,
            json=body,
        )
        if status != 200:
            self._refuse_stranger(stored, who, status, code)
            self._refused_cleanly(code)
            return
        moved, change = data["booking"], data["change"]
        delta = change["price_delta"]
        assert (moved["date"], set(moved["slots"])) == (date, set(slots))
        assert len(moved["history"]) == len(stored["history"]) + 1
        assert delta == moved["price_locked"] - stored["price_locked"]
        # Only the customer's own request costs more, at the total the customer was shown.
        assert delta <= 0 or (not by_owner and "expected_total" in body), (who, delta)
        # A move is a hold (never longer than the one it had), unless the venue confirms at once.
        assert moved["status"] == ("confirmed" if VENUES[name]["auto_confirm"] else "pending")
        was = stored.get("expires_at")
        if moved["status"] == "pending" and stored["status"] == "pending" and was is not None:
            assert self._booking(moved["id"])["expires_at"] <= was
        # The refund it had is kept as a limit; a lower price comes back at the cancel rate.
        bound = stored["_id"] in self.ever_confirmed
        before = self._customer_pct(stored, self.clock.now) if bound else None
        assert change["refund_pct_before"] == before, (change, before)
        rate = 100 if by_owner or before is None else before
        given_up = min(max(-delta, 0), net_paid(stored))
        assert (change["refunded"], change["forfeited"]) == (
            given_up * rate // 100,
            given_up - given_up * rate // 100,
        ), change
        if stored["payment"]["method"] == "wallet":
            assert self._balance(booker) == balance - max(delta, 0) + change["refunded"]
        else:
            assert self._balance(booker) == balance

    @rule()
    @precondition(lambda self: self.last_write is not None)
    def retry(self):
        """A client that lost the answer sends its last write again, with the same key."""
        sent = self.last_write
        response = self.client.open(**sent["request"])
        assert response.status_code < 500, response.get_json()
        if self.clock.now - sent["at"] >= idempotency.KEEP:
            return  # the key is forgotten: the write runs afresh, and the invariants judge it
        # The first answer, word for word, and nothing run again.
        assert (response.status_code, response.get_json()) == (sent["status"], sent["body"])
        assert response.headers["Idempotent-Replayed"] == "true"
        self._unchanged("a replayed request")

    @rule(minutes=st.sampled_from([1, 4, 6, 16, 61, 300, 1440]))
    def tick(self, minutes):
        """Time passes: holds lapse by themselves, before anybody sweeps."""
        self.clock.now += dt.timedelta(minutes=minutes)

    @rule()
    def sweep(self):
        """The expire-holds command, as cron runs it."""
        result = self.app.test_cli_runner().invoke(args=["expire-holds"])
        assert result.exit_code == 0, result.output
        assert result.exception is None
        now = self.clock.now
        for booking in self.database.bookings.find({"status": {"$in": list(ACTIVE)}}):
            # No hold outlives a sweep, and no confirmed booking outlives its day.
            assert booking["status"] == "confirmed" or booking["expires_at"] > now, booking
            venue = next(v for v in self.venues.values() if v["_id"] == booking["venue_id"])
            assert booking["date"] >= venue_rules.local_today(venue, now), booking

    @rule(who=st.sampled_from(PEOPLE), amount=st.sampled_from([500, 2000, 10000]))
    def credit(self, who, amount):
        self._credit(who, amount)

    @rule(
        place=st.sampled_from(sorted(VENUES)).flatmap(
            lambda venue: st.tuples(
                st.just(venue),
                st.lists(st.sampled_from(slot_keys(venue)), max_size=2, unique=True),
            )
        ),
        day=st.integers(0, DAYS - 1),
        force=st.booleans(),
    )
    def black_out_or_reopen(self, place, day, force):
        """The owner closes the date (some slots, or all), or reopens it if it was closed."""
        venue, slots = place
        owner, venue_id, date = (
            VENUES[venue]["owner"],
            self.venues[venue]["_id"],
            self.venues[venue]["dates"][day],
        )
        closed = [
            blackout
            for blackout in self.database.venues.find_one({"_id": venue_id}).get("blackouts", [])
            if blackout["date"] == date
        ]
        if closed:
            path = f"/venues/{venue_id}/blackouts/{closed[0]['id']}"
            status, data, code = self._call("reopen", "DELETE", path, owner)
            assert status == 200, code
            assert closed[0]["id"] not in [b["id"] for b in data["venue"]["blackouts"]]
            return
        status, data, code = self._call(
            "black_out",
            "POST",
            f"/venues/{venue_id}/blackouts",
            owner,
            json={"date": date, "slots": slots, "reason": "Repairs", "force": force},
        )
        if status != 201:
            forced_through = not force or code != "blackout_conflicts_bookings"
            assert forced_through or self._tolerated({"error": {"code": code}}), data
            self._refused_cleanly(code)
            return
        for booking_id in data["cancelled_bookings"]:
            cancelled = self._booking(booking_id)
            assert cancelled["status"] == "cancelled"
            # The venue closed: its owner's side, so the customer gets everything back.
            assert (
                cancelled["cancelled_by"] == "owner"
                or cancelled["user_id"] == cancelled["owner_id"]
            )
            assert (
                cancelled["refund"]["pct"] == 100 or cancelled["user_id"] == cancelled["owner_id"]
            )

    @rule(
        who=st.sampled_from(PEOPLE),
        venue=st.sampled_from(sorted(VENUES)),
        day=st.integers(0, DAYS - 1),
    )
    def look(self, who, venue, day):
        """What people see is the truth: their bookings' statuses, and the public calendar."""
        # A booking reads as it stands: a pending one past its hold shows expired, swept or not.
        status, data, _ = self._call("look", "GET", "/bookings?limit=100", who)
        assert status == 200
        stored = {str(b["_id"]): b for b in self.database.bookings.find()}
        for booking in data["items"]:
            truth = stored[booking["id"]]
            expected = truth["status"]
            if expected == "pending" and truth["expires_at"] <= self.clock.now:
                expected = "expired"
            assert booking["status"] == expected, (booking, truth)
        date = self.venues[venue]["dates"][day]
        venue_id = self.venues[venue]["_id"]
        status, data, _ = self._call(
            "look", "GET", f"/venues/{venue_id}/availability?date={date}", who
        )
        assert status == 200, data
        holders = World(self.database, self.clock.now).held()
        for slot in data["slots"]:
            held = (venue_id, date, slot["key"]) in holders
            # Free on the calendar never while held; taken there only while held.
            assert not (slot["available"] and held), slot
            assert held or slot["reason"] != "slot_taken", slot

    def _pick(self, which, index):
        """A booking as the last step left it: a live one mostly, else any one at all."""
        world = self.world
        pool = world.active if which == "live" and world.active else world.bookings
        return pool[index % len(pool)]

    def _refuse_stranger(self, stored, who, status, code):
        """Someone with no part in the booking learns nothing about it."""
        user_id = self.users[who]["_id"]
        if user_id not in (stored["user_id"], stored["owner_id"]):
            assert (status, code) == (404, "booking_not_found")

    def _balance(self, name):
        user = self.database.users.find_one({"_id": self.users[name]["_id"]})
        return user.get("wallet_balance", 0)

    # Invariants ----------------------------------------------------------------------------

    @invariant()
    def the_rules_hold(self):
        """Read the database once, then check every rule against it (after every step)."""
        world = World(self.database, self.clock.now)
        check_no_slot_booked_twice(world)
        check_active_bookings_hold_their_claims(world)
        check_no_claim_held_for_nothing(world)
        for name, user in self.users.items():
            check_wallet(world, name, user["_id"], self.credited.get(name, 0))
        check_no_booking_gets_back_more_than_it_paid(world)
        self._check_lapse_refunds(world)
        self.statuses = check_statuses_move_only_forward(world, self.statuses)
        self.ever_confirmed |= {b["_id"] for b in world.bookings if b["status"] == "confirmed"}
        self.world = world  # what the next step starts from

    def _check_lapse_refunds(self, world):
        """A lapsed hold refunds everything, unless the customer's move sent a booking the
        owner had confirmed back to pending: then what their cancel would have when it lapsed."""
        for booking in world.bookings:
            if booking["status"] != "expired" or not booking.get("refund"):
                continue
            history = booking["history"]
            customer_moved = history and history[-1]["by"] == booking["user_id"]
            pct = self._customer_pct(booking, booking["expires_at"]) if customer_moved else 100
            assert booking["refund"]["pct"] == pct, booking


class World:
    """Everything the invariants read, read once."""

    def __init__(self, database, now):
        self.now = now
        self.bookings = list(database.bookings.find())
        self.claims = {
            (c["venue_id"], c["date"], c["slot"]): c for c in database.slot_claims.find()
        }
        self.venues = list(database.venues.find())
        self.users = {user["_id"]: user for user in database.users.find()}
        self.entries = list(database.wallet_transactions.find())
        self.active = [booking for booking in self.bookings if self.is_active(booking)]

    def fingerprint(self):
        """What any refused request must leave as it was: bookings, held claims, money."""
        return (
            sorted(self.bookings, key=lambda booking: booking["_id"]),
            sorted(self.held().items()),
            sorted((entry["_id"], entry["state"]) for entry in self.entries),
            sorted((user_id, u.get("wallet_balance", 0)) for user_id, u in self.users.items()),
            sorted((venue["_id"], venue.get("blackouts") or []) for venue in self.venues),
        )

    def is_active(self, booking):
        if booking["status"] == "confirmed":
            return True
        return booking["status"] == "pending" and booking["expires_at"] > self.now

    def held(self):
        """{(venue_id, date, slot): holder id} of the claims that block their slot now."""
        return {
            place: claim["booking_id"]
            for place, claim in self.claims.items()
            if claim["state"] == "taken"
            and (claim["expires_at"] is None or claim["expires_at"] > self.now)
        }


def places_of(bookings):
    return {
        (booking["venue_id"], booking["date"], slot): booking["_id"]
        for booking in bookings
        for slot in booking["slots"]
    }


def check_no_slot_booked_twice(world):
    seen = {}
    for booking in world.active:
        for slot in booking["slots"]:
            place = (booking["venue_id"], booking["date"], slot)
            assert place not in seen, f"{place} booked by {seen[place]} and {booking['_id']}"
            seen[place] = booking["_id"]


def check_active_bookings_hold_their_claims(world):
    for booking in world.active:
        for slot in booking["slots"]:
            claim = world.claims.get((booking["venue_id"], booking["date"], slot))
            assert claim is not None, f"{booking['_id']} has no claim on {slot}"
            assert claim["state"] == "taken", claim
            assert claim["booking_id"] == booking["_id"], (booking["_id"], claim)
            # Held exactly as long as the booking: to its hold's end, or for good once confirmed.
            assert claim["expires_at"] == booking.get("expires_at"), (booking, claim)


def check_no_claim_held_for_nothing(world):
    active = places_of(world.active)
    # A completed booking's day is over: its claims hold a date nobody can book any more.
    completed = places_of(b for b in world.bookings if b["status"] == "completed")
    blackouts = {}
    for venue in world.venues:
        keys = [slot["key"] for slot in venue["slots"]]
        for blackout in venue.get("blackouts") or []:
            for slot in blackout["slots"] or keys:
                blackouts[(venue["_id"], blackout["date"], slot)] = ObjectId(blackout["id"])
    held = world.held()
    for place, holder in held.items():
        # The grace period covers a request still writing its booking, or one that died
        # half-way. Requests here run one at a time to the end: none may be left in flight.
        assert not world.claims[place].get("in_flight"), world.claims[place]
        owners = (active.get(place), blackouts.get(place), completed.get(place))
        assert holder in owners, f"{place} held by {holder}, which is not active there"
    # A date over in every time zone has no claims left (expire-holds deletes them).
    over = venue_rules.today_in(venue_rules.EARLIEST_ZONE, world.now)
    for place, holder in blackouts.items():
        if place[1] < over:
            continue
        assert held.get(place) == holder, f"blackout {holder} does not hold {place}"
        assert place not in active, f"{place} is blacked out and booked"


def check_wallet(world, name, user_id, credited):
    """The balance is its ledger's sum, never negative, and what the bookings say they took."""
    user = world.users[user_id]
    balance = user.get("wallet_balance", 0)
    entries = [entry for entry in world.entries if entry["user_id"] == user_id]
    assert balance >= 0, name
    assert balance == sum(e["amount"] for e in entries if e["state"] == "done"), name
    assert not user.get("pending_txns"), f"{name}: a money movement was left half-done"
    assert all(entry["state"] in ("done", "void") for entry in entries), name
    net_paid = sum(
        booking["payment"]["paid"] - booking["payment"]["refunded"]
        for booking in world.bookings
        if booking["user_id"] == user_id
    )
    assert balance == credited - net_paid, f"{name}: {balance} != {credited} - {net_paid}"


def check_no_booking_gets_back_more_than_it_paid(world):
    for booking in world.bookings:
        payment = booking["payment"]
        # A cheaper move of the customer's forfeits part of the difference to the venue.
        forfeited = sum(change["forfeited"] for change in booking["history"])
        assert 0 <= payment["refunded"] + forfeited <= payment["paid"], booking
        if payment["method"] == "pay_at_venue":
            assert payment["paid"] == 0, booking
        refund = booking.get("refund")
        if refund:
            assert 0 <= refund["amount"] <= payment["paid"], booking
        # Ended by the venue's side: all of what is still paid comes back.
        if booking["status"] == "rejected" or booking.get("cancelled_by") == "owner":
            assert payment["refunded"] + forfeited == payment["paid"], booking
        moved = sum(
            entry["amount"]
            for entry in world.entries
            if entry["booking_id"] == booking["_id"] and entry["state"] == "done"
        )
        assert -moved == payment["paid"] - payment["refunded"], (booking, moved)


def check_statuses_move_only_forward(world, before):
    """No booking vanishes or leaves a final status; returns the statuses now."""
    now = {booking["_id"]: booking["status"] for booking in world.bookings}
    assert set(before) <= set(now), "a booking disappeared"
    for booking_id, status in now.items():
        was = before.get(booking_id)
        assert was is None or status in MOVES[was], f"{booking_id}: {was} -> {status}"
    return now


BookingRules.TestCase.settings = settings.get_profile(PROFILE)
TestBookingRules = BookingRules.TestCase


# Faults (issue 13) ----------------------------------------------------------------------------
#
# The same machine, with more steps: an operation (book, cancel, decide, reschedule, the sweep,
# a credit) run with one of its writes faulted (tests/fault_injection.py: before, after or
# crash, at write 1..8), its client retrying it now and then with the same Idempotency-Key,
# and the repair: time past every window, then expire-holds as cron runs it. From a fault
# until the repair only the safe rules are checked (no slot sold twice, every balance
# accounted for, statuses only forward); after it, all of them.

REPAIR_AFTER = dt.timedelta(minutes=11)  # past the claims' grace and the wallet's window


class BookingRulesWithFaults(BookingRules):
    def __init__(self):
        super().__init__()
        self.faults = Faults()
        self.faulted = False  # a fault fired since the last repair
        self.saved_accessors = {name: getattr(db, name) for name in FAULT_ACCESSORS}
        for name, faulty in self.faults.accessors().items():
            setattr(db, name, faulty)

    def teardown(self):
        for name, real in self.saved_accessors.items():
            setattr(db, name, real)
        super().teardown()

    def _tolerated(self, body):
        # Left by a fault until the repair judges it: a payment half-done under a move's key
        # (503), or the claim of a request that died, in its grace period still (a forced
        # blackout cannot cancel a booking that was never written).
        tolerated = ("wallet_busy", "blackout_conflicts_bookings")
        return self.faulted and body["error"]["code"] in tolerated

    def _unchanged(self, what):
        # A request after a fault may settle what the fault left (claims.settle_in_flight).
        if not self.faulted:
            super()._unchanged(what)

    # One rule per operation, so that faults are a good share of the steps.
    FAULT = {"kind": st.sampled_from(KINDS), "at": st.integers(1, 8), "data": st.data()}

    @rule(**FAULT)
    def faulted_book(self, kind, at, data):
        self._faulted("book", kind, at, data)

    @rule(**FAULT)
    @precondition(some_booking)
    def faulted_cancel(self, kind, at, data):
        self._faulted("cancel", kind, at, data)

    @rule(**FAULT)
    @precondition(some_booking)
    def faulted_decide(self, kind, at, data):
        self._faulted("decide", kind, at, data)

    @rule(**FAULT)
    @precondition(some_booking)
    def faulted_reschedule(self, kind, at, data):
        self._faulted("reschedule", kind, at, data)

    @rule(**FAULT)
    def faulted_sweep(self, kind, at, data):
        self._faulted("sweep", kind, at, data)

    @rule(**FAULT)
    def faulted_credit(self, kind, at, data):
        self._faulted("credit", kind, at, data)

    def _faulted(self, operation, kind, at, data):
        """The operation with its `at`-th write failing; its client may retry it."""
        request = self._faulted_request(operation, data)
        self.faults.arm(kind, at)
        try:
            if request == "sweep":
                self.app.test_cli_runner().invoke(args=["expire-holds"])
            else:
                self.client.open(**request)
        finally:
            fired = self.faults.count >= at
            self.faults.disarm()
        self.faulted |= fired
        if operation == "credit":
            self._count_credits()
        # Mostly no retry: what the fault left then waits for the repair alone.
        retry = data.draw(st.sampled_from([False, False, False, True]), label="retry")
        if fired and request != "sweep" and retry:
            answer = self.client.open(**request)
            if answer.status_code == 409 and answer.get_json()["error"]["code"] == (
                "idempotency_in_progress"
            ):
                self.clock.now += idempotency.LEASE + dt.timedelta(seconds=1)
                answer = self.client.open(**request)
            assert answer.status_code < 500 or self._tolerated(answer.get_json()), answer.json

    def _faulted_request(self, operation, data):
        """The request a client sends for the operation (a fresh key on the retryable ones)."""
        if operation == "sweep":
            return "sweep"
        if operation == "credit":
            who = data.draw(st.sampled_from(PEOPLE), label="credited")
            body = {"user_id": str(self.users[who]["_id"]), "amount": 1000, "note": "top-up"}
            return self._request("POST", "/wallet/credit", "admin", json=body)
        if operation == "book":
            wanted = data.draw(booking_requests(), label="booking")
            who = data.draw(st.sampled_from(PEOPLE), label="booker")
            venue = self.venues[wanted["venue"]]
            body = {
                "venue_id": str(venue["_id"]),
                "date": venue["dates"][wanted["day"]],
                "slots": wanted["slots"],
                "guests": wanted["guests"],
                "payment_method": data.draw(st.sampled_from(["wallet", "pay_at_venue"])),
                "addons": wanted["addons"],
            }
            return self._request("POST", "/bookings", who, keyed=True, json=body)
        booking = self._pick_for(operation, data.draw(st.integers(0, 30), label="pick"))
        path = f"/bookings/{booking['_id']}"
        if operation == "cancel":
            role = data.draw(st.sampled_from(["booker", "owner"]), label="role")
            return self._request("DELETE", path, self._actor(booking, role, None), keyed=True)
        if operation == "decide":
            status = data.draw(st.sampled_from(["confirmed", "rejected"]), label="decision")
            owner = self._actor(booking, "owner", None)
            return self._request("PATCH", path, owner, json={"status": status})
        name = self._venue_name(booking["venue_id"])
        body = {
            "date": self.venues[name]["dates"][data.draw(st.integers(0, DAYS - 1), label="day")],
            "slots": data.draw(slot_choices(name), label="slots"),
        }
        who = self._actor(booking, "booker", None)
        return self._request("POST", f"{path}/reschedule", who, keyed=True, json=body)

    def _pick_for(self, operation, index):
        """A booking the operation can act on, so the fault meets its writes: a pending one to
        decide, a live one paid from the wallet (money to refund) to cancel or move."""
        world = self.world
        if operation == "decide":
            pool = [b for b in world.active if b["status"] == "pending"]
        else:
            pool = [b for b in world.active if b["payment"]["method"] == "wallet"]
        pool = pool or world.active or world.bookings
        return pool[index % len(pool)]

    def _request(self, method, path, who, keyed=False, **kwargs):
        headers = dict(self.headers[who])
        if keyed:
            headers["Idempotency-Key"] = uuid.uuid4().hex
        return {"path": path, "method": method, "headers": headers, **kwargs}

    @rule()
    @precondition(lambda self: self.faulted)
    def repair(self):
        """Cron's expire-holds, once every window a live request might still own is past."""
        self.clock.now += REPAIR_AFTER
        result = self.app.test_cli_runner().invoke(args=["expire-holds"])
        assert result.exit_code == 0, result.output
        self.faulted = False
        self._count_credits()

    def _count_credits(self):
        # A credit whose answer a fault lost may have been made: the ledger says which were.
        for name, user in self.users.items():
            credits = self.database.wallet_transactions.find(
                {"user_id": user["_id"], "kind": "credit", "state": "done"}
            )
            self.credited[name] = sum(entry["amount"] for entry in credits)

    @invariant()
    def the_rules_hold(self):
        """All the rules once repaired; between a fault and its repair, the safe ones."""
        if not self.faulted:
            super().the_rules_hold()
            return
        check_safe(self.database, self.clock.now)
        world = World(self.database, self.clock.now)
        self.statuses = check_statuses_move_only_forward(world, self.statuses)
        self.ever_confirmed |= {b["_id"] for b in world.bookings if b["status"] == "confirmed"}
        self.world = world


BookingRulesWithFaults.TestCase.settings = settings.get_profile(PROFILE)
TestBookingRulesWithFaults = BookingRulesWithFaults.TestCase
