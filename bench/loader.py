"""Loads the generated dataset into a running server over HTTP, in parallel threads.

On the embedded backend the data must live inside the server process, so it goes in the way
clients send it: owner signups, `POST /venues/register`, customer signups and `POST /bookings`.
"""

import threading
import time
from concurrent.futures import ThreadPoolExecutor

from bench import dataset
from bench.wire import Client

THREADS = 16
GUESTS = 40  # below every generated capacity (the smallest is 50)
CONTENTION_VENUES = 10
CONTENTION_SLOTS = dataset.SLOT_SHAPES[1]  # morning and evening


class LoadError(RuntimeError):
    """The server refused the generated data; the message says what it answered."""


class Loaded:
    """What the benchmark knows about the data it put in the server."""

    def __init__(self):
        self.owners = []  # {"email", "token"}
        self.customers = []
        self.venues = []  # {"id", "body"}
        self.booked = set()  # (venue index, date, slot)
        self.contention_owner = None
        self.contention_venues = []  # {"id", "body"}
        self.dates = []
        self.timings = {}


class Loader:
    def __init__(self, port, seed, log=print):
        self.port = port
        self.rand = dataset.rng(seed)
        self.local = threading.local()
        self.log = log

    def client(self):
        if not hasattr(self.local, "client"):
            self.local.client = Client(self.port)
        return self.local.client

    def _parallel(self, function, items):
        with ThreadPoolExecutor(THREADS) as pool:
            return list(pool.map(function, items))

    def call(self, method, path, body=None, token=None, expect=(200, 201)):
        status, envelope = self.client().call(method, path, body, token)
        if status not in expect:
            raise LoadError(f"{method} {path} answered {status}: {envelope}")
        return envelope["data"]

    def signup(self, email, owner):
        body = {
            "full_name": email.split("@")[0],
            "email": email,
            "password": dataset.PASSWORD,
            "is_venue_owner": owner,
        }
        data = self.call("POST", "/auth/signup", body, expect=(201,))
        return {"email": email, "token": data["access_token"]}

    def load(self, venues, bookings, owners=10, customers=20):
        loaded = Loaded()
        loaded.dates = dataset.bench_dates()
        started = time.perf_counter()
        people = [(f"owner{i}@bench.halls", True) for i in range(owners)]
        people += [("contention-owner@bench.halls", True)]
        people += [(f"customer{i}@bench.halls", False) for i in range(customers)]
        accounts = self._parallel(lambda person: self.signup(*person), people)
        loaded.owners = accounts[:owners]
        loaded.contention_owner = accounts[owners]
        loaded.customers = accounts[owners + 1 :]
        loaded.timings["signups_s"] = round(time.perf_counter() - started, 2)

        started = time.perf_counter()
        bodies = [dataset.venue_body(self.rand, i, loaded.dates) for i in range(venues)]
        jobs = [(loaded.owners[i % owners]["token"], body) for i, body in enumerate(bodies)]
        loaded.venues = self._parallel(self._register, jobs)
        loaded.timings["venues_s"] = round(time.perf_counter() - started, 2)
        self.log(f"  {venues} venues in {loaded.timings['venues_s']} s")

        contention = []
        for i in range(CONTENTION_VENUES):
            body = dataset.venue_body(self.rand, venues + i, loaded.dates)
            body.update(
                venue_name=f"Bench contention venue {i}",
                dates_available=list(loaded.dates),
                slots=[dict(slot) for slot in CONTENTION_SLOTS],
            )
            contention.append((loaded.contention_owner["token"], body))
        loaded.contention_venues = self._parallel(self._register, contention)

        started = time.perf_counter()
        picks = dataset.pick_free_slots(
            self.rand, [v["body"] for v in loaded.venues], loaded.dates, bookings, loaded.booked
        )
        jobs = [
            (loaded.venues[index]["id"], date, slot, loaded.customers[n % customers]["token"])
            for n, (index, date, slot) in enumerate(picks)
        ]
        self._parallel(lambda job: self.book(*job), jobs)
        loaded.timings["bookings_s"] = round(time.perf_counter() - started, 2)
        self.log(f"  {bookings} bookings in {loaded.timings['bookings_s']} s")
        return loaded

    def _register(self, job):
        token, body = job
        venue = self.call("POST", "/venues/register", body, token, expect=(201,))["venue"]
        return {"id": venue["id"], "body": body}

    def book(self, venue_id, date, slot, token):
        body = booking_body(venue_id, date, slot)
        return self.call("POST", "/bookings", body, token, expect=(201,))["booking"]


def booking_body(venue_id, date, slot):
    """The POST /bookings body for one slot of a venue on a date."""
    return {"venue_id": venue_id, "date": date, "slot": slot, "guests": GUESTS}
