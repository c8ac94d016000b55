"""The world the schemathesis run aims at: seeded through the API, and how a case is aimed at it.

Random ids, slot keys and dates never get past a 404 or a 409, so without aiming the success
answers of booking, quoting, rescheduling, deciding and refreshing would never be checked
against the schema. An aimed case keeps the generated parts that do not matter and takes real
values (drawn with Hypothesis, so they vary and shrink) where they do.
"""

import dataclasses
import re

from hypothesis import strategies as st

from halls import db
from tests.auth.test_google import sign
from tests.helpers import PASSWORD, TWO_SLOTS, bearer, ok_data, today_plus, venue_body

DJ = {"key": "dj", "name": "DJ", "price": 5000, "unit": "per_event", "max_qty": None}
CAPACITY = 300
BOOKED_DAY, BLACKOUT_DAY, OTHER_DAY = 9, 20, 12

# The success status each (role, operation) must answer at least once in its fuzz run.
MUST_SUCCEED = {
    ("customer", "POST /bookings"): 201,
    ("owner", "GET /venues/{venue_id}/quote"): 200,
    ("customer", "GET /venues/{venue_id}/quote"): 200,
    ("owner", "POST /bookings/{booking_id}/reschedule"): 200,
    ("customer", "POST /bookings/{booking_id}/reschedule"): 200,
    ("owner", "PATCH /bookings/{booking_id}"): 200,
    ("owner", "POST /auth/refresh"): 200,
    ("customer", "POST /auth/refresh"): 200,
    ("owner", "POST /auth/login"): 200,
    ("customer", "POST /auth/login"): 200,
    ("owner", "POST /venues/register"): 201,
    ("owner", "DELETE /venues/{venue_id}"): 200,
    ("owner", "DELETE /venues/{venue_id}/blackouts/{blackout_id}"): 200,
    ("owner", "GET /venues/{venue_id}/calendar.ics"): 200,
    ("customer", "GET /venues/{venue_id}/calendar.ics"): 200,
    ("owner", "POST /wallet/credit"): 201,
    ("owner", "POST /uploads/sign-s3"): 200,
    ("owner", "GET /venues/{venue_id}/availability"): 200,
    ("customer", "GET /venues/{venue_id}/availability"): 200,
    ("owner", "POST /venues/{venue_id}/addons"): 201,
    ("owner", "POST /auth/google"): 201,
    ("customer", "POST /auth/google"): 201,
    ("owner", "POST /auth/reset-password"): 200,
    ("customer", "POST /auth/reset-password"): 200,
}


@dataclasses.dataclass
class World:
    users: dict  # role -> {"id", "email", "access_token", "refresh_token"}
    venue_id: str  # the owner's venue: two slots, open for 30 days, a DJ add-on, a blackout
    spare_venue_id: str  # another venue of the owner's, with no bookings, free to delete
    booking_id: str  # the customer's pending booking at the venue
    blackout_id: str
    calendar_token: str
    reset_token: str  # mailed to the customer by POST /auth/forgot-password
    google_key: tuple  # signs Google ID tokens the app accepts
    seen: dict = dataclasses.field(default_factory=dict)  # (role, label) -> statuses answered

    def headers(self, role, case, aimed):
        """The role's access token; its refresh token where an aimed case asks for one."""
        kind = "refresh_token" if aimed and case.path == "/auth/refresh" else "access_token"
        return bearer(self.users[role][kind])

    def ids(self):
        """Values of the parameter names the operations share, for any case aimed here."""
        return {
            "venue_id": self.venue_id,
            "booking_id": self.booking_id,
            "blackout_id": self.blackout_id,
            "key": DJ["key"],
            "user_id": self.users["customer"]["id"],
            "token": self.calendar_token,
            "date": today_plus(OTHER_DAY),
        }


def seed_world(app, make_user, google_key):
    """Users, venues, an add-on, a blackout, a feed token, a pending booking and a password
    reset, all through the API."""
    client = app.test_client()
    # The owner is an admin too, so POST /wallet/credit gets past its 403.
    owner, _ = make_user(owner=True, role="admin")
    customer, _ = make_user()
    users = {
        role: _signed_in(client, user) for role, user in (("owner", owner), ("customer", customer))
    }
    as_owner = bearer(users["owner"]["access_token"])
    as_customer = bearer(users["customer"]["access_token"])

    def post(path, body, headers=as_owner, status=201):
        return ok_data(client.post(path, json=body, headers=headers), status)

    venue = venue_body(
        capacity=CAPACITY,
        slots=TWO_SLOTS,
        dates_available=[today_plus(day) for day in range(1, 31)],
        pricing={"base_price": 100000, "overrides": []},
    )
    venue_id = post("/venues/register", venue)["venue"]["id"]
    spare_venue_id = post("/venues/register", venue_body(venue_name="Spare Hall"))["venue"]["id"]
    post(f"/venues/{venue_id}/addons", DJ)
    closed = {"date": today_plus(BLACKOUT_DAY), "reason": "Maintenance"}
    blackout_id = post(f"/venues/{venue_id}/blackouts", closed)["blackout"]["id"]
    calendar_token = post(f"/venues/{venue_id}/calendar-token", None)["token"]
    # Enough in the customer's wallet that wallet payments succeed too.
    credit = {"user_id": users["customer"]["id"], "amount": 10_000_000, "note": "Fuzzing"}
    post("/wallet/credit", credit)
    booking = {"venue_id": venue_id, "date": today_plus(BOOKED_DAY), "slots": ["lunch"]}
    booked = post("/bookings", {**booking, "guests": 100}, headers=as_customer)["booking"]
    assert booked["status"] == "pending"
    post("/auth/forgot-password", {"email": users["customer"]["email"]}, status=200)
    (mailed,) = db.outbox().find({"kind": "password_reset"})
    reset_token = re.search(r"token=([\w-]+)", mailed["text"]).group(1)
    return World(
        users,
        venue_id,
        spare_venue_id,
        booked["id"],
        blackout_id,
        calendar_token,
        reset_token,
        google_key,
    )


def _signed_in(client, user):
    body = {"email": user["email"], "password": PASSWORD}
    tokens = ok_data(client.post("/auth/login", json=body))
    return {"id": str(user["_id"]), "email": user["email"], **tokens}


# Dates a booking may take: past the 24-hour notice and the 48-hour reschedule cutoff, inside
# the venue's 30 open days, not on the blackout.
open_dates = st.sampled_from([today_plus(day) for day in range(3, 31) if day != BLACKOUT_DAY])
slot_keys = st.lists(
    st.sampled_from([slot["key"] for slot in TWO_SLOTS]), min_size=1, max_size=2, unique=True
)
guests = st.integers(1, CAPACITY)


def aim(case, draw, role, world):
    """Point the case at the world: real ids, and for the operations below values that pass."""
    for values in (case.path_parameters, case.query, case.body):
        if isinstance(values, dict):
            values.update({k: v for k, v in world.ids().items() if k in values})
    aimer = AIMERS.get(case.operation.label)
    if aimer is not None:
        aimer(case, draw, role, world)


def _book(case, draw, role, world):
    case.body = {
        "venue_id": world.venue_id,
        "date": draw(open_dates),
        "slots": draw(slot_keys),
        "guests": draw(guests),
        "addons": draw(st.sampled_from([[], [{"key": DJ["key"], "qty": 1}]])),
        "payment_method": draw(st.sampled_from(["pay_at_venue", "wallet"])),
    }


def _quote(case, draw, role, world):
    case.query = {
        "date": draw(open_dates),
        "slots": ",".join(draw(slot_keys)),
        "guests": draw(guests),
        **draw(st.sampled_from([{}, {"addons": f"{DJ['key']}:2"}])),
    }


def _reschedule(case, draw, role, world):
    case.body = {"date": draw(open_dates), "slots": draw(slot_keys)}


def _decide(case, draw, role, world):
    case.body = {"status": draw(st.sampled_from(["confirmed", "rejected"])), "reason": "Fuzzed"}


def _login(case, draw, role, world):
    case.body = {"email": world.users[role]["email"], "password": PASSWORD}


def _register(case, draw, role, world):
    case.body = venue_body(capacity=draw(guests), slots=TWO_SLOTS)


def _delete_venue(case, draw, role, world):
    case.path_parameters = {"venue_id": world.spare_venue_id}


def _feed(case, draw, role, world):
    case.query = {"token": world.calendar_token}


def _credit(case, draw, role, world):
    amount = draw(st.integers(1, 10_000_000))
    case.body = {"user_id": world.users["customer"]["id"], "amount": amount, "note": "Fuzzed"}


def _availability(case, draw, role, world):
    first = draw(open_dates)
    case.query = draw(st.sampled_from([{"date": first}, {"from": first, "to": first}]))


def _add_addon(case, draw, role, world):
    case.body = {**DJ, "key": draw(st.sampled_from(["catering", "decor", "sound"]))}


def _google(case, draw, role, world):
    person = draw(st.integers(1, 10**6))
    token = sign(world.google_key, sub=str(person), email=f"google-{person}@example.com")
    case.body = {"id_token": token}


def _reset(case, draw, role, world):
    case.body = {"token": world.reset_token, "new_password": "another horse battery"}


def _sign_s3(case, draw, role, world):
    case.body = {"filename": "hall.jpg", "content_type": "image/jpeg", "size_bytes": draw(guests)}


AIMERS = {
    "POST /bookings": _book,
    "GET /venues/{venue_id}/quote": _quote,
    "POST /bookings/{booking_id}/reschedule": _reschedule,
    "PATCH /bookings/{booking_id}": _decide,
    "POST /auth/login": _login,
    "POST /venues/register": _register,
    "DELETE /venues/{venue_id}": _delete_venue,
    "GET /venues/{venue_id}/calendar.ics": _feed,
    "POST /wallet/credit": _credit,
    "POST /uploads/sign-s3": _sign_s3,
    "GET /venues/{venue_id}/availability": _availability,
    "POST /venues/{venue_id}/addons": _add_addon,
    "POST /auth/google": _google,
    "POST /auth/reset-password": _reset,
}
