"""Faults at every write of every money or slot operation, then the repair (issue 13).

A fault injector wraps every collection accessor of halls.db and counts the writes one
operation makes (inserts, updates, find-and-modifies, deletes), across all collections, in
order. A dry run counts them; then, for each write N and each kind of fault, the operation runs
again on a fresh database with write N failing:

- `before`: write N raises AutoReconnect without being applied (a refused connection);
- `after`:  write N is applied, then raises AutoReconnect (the answer was lost: an election,
  a network cut after the server wrote);
- `crash`:  write N raises, and so does every later call, reads too (the worker was killed).

Whatever the fault, the safe invariants hold at once (no slot sold twice, every balance
accounted for). The client may then retry (same Idempotency-Key), time passes beyond every
window, `flask --app wsgi expire-holds` runs, and every invariant holds (tests/invariants.py).
"""

import datetime as dt
import uuid

import pytest

from halls import db, idempotency
from halls.auth import tokens
from tests import conftest
from tests.bookings.faults import KINDS, WRITES, Faults
from tests.bookings.helpers import SLOTS, fund
from tests.bookings.invariants import check_repaired, check_safe
from tests.helpers import bearer, ok_data, today_plus

PRICE = 100000
DAY, OTHER_DAY, DEAR_DAY = today_plus(10), today_plus(11), today_plus(12)
# Past every window a repair waits out: the claims' grace (5 min), the wallet's 10 minutes.
LATER = dt.timedelta(minutes=11)


@pytest.fixture
def faults(app, monkeypatch):
    injector = Faults()
    for name, faulty in injector.accessors().items():
        monkeypatch.setattr(db, name, faulty)
    return injector


class World:
    """A fresh database for each run, and the people and venues a scenario needs."""

    def __init__(self, app, clock, make_user, make_venue):
        self.app, self.clock, self.make_user, self.make_venue = app, clock, make_user, make_venue
        self.start = clock.at
        self.client = app.test_client()
        self.databases = []

    def fresh(self):
        database = conftest._database()
        self.databases.append(database)
        self.app.config["DATABASE"] = self.app.extensions["halls_db"] = database
        db.create_indexes(database)
        self.clock.set(self.start)
        self.owner = self.make_user(owner=True, full_name="Olivia Owner")
        self.customer = self.make_user(full_name="Cyrus Customer")
        self.admin = self.make_user(role="admin", full_name="Ada Admin")
        fund(self.customer[0], 10 * PRICE)
        overrides = [{"date": DEAR_DAY, "price": 130000}]
        self.venue = self.make_venue(
            self.owner[0],
            slots=SLOTS,
            hold_minutes=60,
            pricing={"base_price": PRICE, "overrides": overrides},
        )
        return database

    def close(self):
        if conftest.TEST_MONGO_URI:
            for database in self.databases:
                database.client.drop_database(database.name)
        self.databases = []

    def tokens(self, who):
        """Fresh access tokens: the clock may have moved past the first ones' lifetime."""
        return bearer(tokens.issue_tokens(who[0])["access_token"])

    # Requests -------------------------------------------------------------------------------

    def book(self, venue=None, slots=("morning", "evening"), payment="wallet", key=None):
        body = {
            "venue_id": str((venue or self.venue)["_id"]),
            "date": DAY,
            "guests": 50,
            "slots": list(slots),
            "payment_method": payment,
        }
        headers = {**self.tokens(self.customer), "Idempotency-Key": key or uuid.uuid4().hex}
        return self.client.post("/bookings", json=body, headers=headers)

    def booked(self, confirm=False, **options):
        booking = ok_data(self.book(**options), 201)["booking"]
        if confirm:
            self.decide(booking, "confirmed")
        return booking

    def decide(self, booking, status):
        path = f"/bookings/{booking['id']}"
        return self.client.patch(path, json={"status": status}, headers=self.tokens(self.owner))

    def cancel(self, booking, who):
        headers = {**self.tokens(who), "Idempotency-Key": uuid.uuid4().hex}
        return self.client.delete(f"/bookings/{booking['id']}", headers=headers)

    def reschedule(self, booking, date, slots):
        """Quote the move first, as a client shows it, then ask for it at that total."""
        query = f"?date={date}&slots={','.join(slots)}"
        quote = self.client.get(
            f"/bookings/{booking['id']}/reschedule-quote{query}",
            headers=self.tokens(self.customer),
        )
        body = {
            "date": date,
            "slots": slots,
            "expected_total": quote.json["data"]["quote"]["total"],
        }
        headers = {**self.tokens(self.customer), "Idempotency-Key": uuid.uuid4().hex}
        path = f"/bookings/{booking['id']}/reschedule"
        return self.client.post(path, json=body, headers=headers)

    def credit(self, amount=5000):
        body = {"user_id": str(self.customer[0]["_id"]), "amount": amount, "note": "top-up"}
        return self.client.post("/wallet/credit", json=body, headers=self.tokens(self.admin))

    def expire_holds(self):
        return self.app.test_cli_runner().invoke(args=["expire-holds"])


# Scenarios: each sets up its world (no faults) and returns the operation to fault, and for a
# booking the client's retry of that very request.


def book_paying_at_venue(world):
    key = uuid.uuid4().hex
    return lambda: world.book(payment="pay_at_venue", key=key)


def book_with_wallet(world):
    key = uuid.uuid4().hex
    return lambda: world.book(key=key)


def book_at_an_auto_confirm_venue(world):
    venue = world.make_venue(world.owner[0], slots=SLOTS, auto_confirm=True)
    key = uuid.uuid4().hex
    return lambda: world.book(venue=venue, key=key)


def confirm(world):
    booking = world.booked()
    return lambda: world.decide(booking, "confirmed")


def reject(world):
    booking = world.booked()
    return lambda: world.decide(booking, "rejected")


def cancel_as_customer(world):
    booking = world.booked()
    return lambda: world.cancel(booking, world.customer)


def cancel_as_owner(world):
    booking = world.booked(confirm=True)
    return lambda: world.cancel(booking, world.owner)


def reschedule_same_price(world):
    booking = world.booked(slots=["morning"])
    return lambda: world.reschedule(booking, OTHER_DAY, ["evening"])


def reschedule_dearer(world):
    booking = world.booked(slots=["morning"])
    return lambda: world.reschedule(booking, DEAR_DAY, ["morning", "evening"])


def reschedule_cheaper(world):
    booking = world.booked()
    return lambda: world.reschedule(booking, OTHER_DAY, ["morning"])


def reschedule_keeping_a_slot(world):
    booking = world.booked(slots=["morning"], confirm=True)
    return lambda: world.reschedule(booking, DAY, ["morning", "evening"])


def expire(world):
    world.booked()
    world.clock.advance(minutes=61)  # past the hold
    return world.expire_holds


def complete(world):
    world.booked(confirm=True)
    world.clock.advance(days=12)  # DAY is over
    return world.expire_holds


def credit(world):
    return world.credit


SCENARIOS = [
    book_paying_at_venue,
    book_with_wallet,
    book_at_an_auto_confirm_venue,
    confirm,
    reject,
    cancel_as_customer,
    cancel_as_owner,
    reschedule_same_price,
    reschedule_dearer,
    reschedule_cheaper,
    reschedule_keeping_a_slot,
    expire,
    complete,
    credit,
]
BOOKINGS = [book_paying_at_venue, book_with_wallet, book_at_an_auto_confirm_venue]


def succeeded(outcome):
    if hasattr(outcome, "exit_code"):  # a CLI run
        return outcome.exit_code == 0
    return outcome.status_code < 400


def retried(world, operation):
    """The client sends the same request again until it gets a final answer."""
    outcome = operation()
    if outcome.status_code == 409 and outcome.get_json()["error"]["code"] == (
        "idempotency_in_progress"
    ):
        # The first attempt died holding its key: the key is free again after its lease.
        world.clock.advance(seconds=idempotency.LEASE.total_seconds() + 1)
        outcome = operation()
    return outcome


def repair(world, database):
    world.clock.advance(seconds=LATER.total_seconds())
    result = world.expire_holds()
    assert result.exit_code == 0, result.output
    return check_repaired(database, world.clock.at)


def run_faulted(world, faults, scenario, kind, retry):
    """The scenario with each of its writes faulted in turn; the failures found, per step."""
    world.fresh()
    operation = scenario(world)
    faults.arm("count")
    assert succeeded(operation()), "the operation must succeed without faults"
    faults.disarm()
    steps = list(faults.calls)
    failures = []
    for step, call in enumerate(steps, start=1):
        database = world.fresh()
        operation = scenario(world)
        faults.arm(kind, at=step)
        operation()
        faults.disarm()
        try:
            check_safe(database, world.clock.at)
            if retry:
                answer = retried(world, operation)
                check_safe(database, world.clock.at)
                assert answer.status_code == 201, answer.get_json()
            stored = repair(world, database)
            if retry:
                # One request, one booking: the one the retry answered with.
                assert [str(b["_id"]) for b in stored.bookings] == [
                    answer.get_json()["data"]["booking"]["id"]
                ]
        except AssertionError as failure:
            failures.append(f"step {step} ({call}): {failure}")
    world.close()
    return steps, failures


@pytest.fixture
def world(app, clock, make_user, make_venue, faults):
    made = World(app, clock, make_user, make_venue)
    yield made
    made.close()


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda scenario: scenario.__name__)
def test_every_write_faulted_is_repaired(world, faults, scenario, kind):
    steps, failures = run_faulted(world, faults, scenario, kind, retry=False)
    assert steps, "the operation writes nothing?"
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("scenario", BOOKINGS, ids=lambda scenario: scenario.__name__)
def test_a_retried_booking_makes_one_booking_and_one_charge(world, faults, scenario, kind):
    steps, failures = run_faulted(world, faults, scenario, kind, retry=True)
    assert not failures, "\n".join(failures)


def test_the_injector_counts_every_write_of_a_booking(world, faults):
    """The dry run sees the whole booking: key, claims, payment, booking, confirm, mail, key."""
    world.fresh()
    operation = book_with_wallet(world)
    faults.arm("count")
    ok_data(operation(), 201)
    assert faults.calls == [
        "idempotency_keys.insert_one",
        "slot_claims.find_one_and_update",
        "slot_claims.find_one_and_update",
        "wallet_transactions.insert_one",
        "users.update_one",
        "wallet_transactions.find_one_and_update",
        "users.update_one",
        "bookings.insert_one",
        "slot_claims.update_many",
        "outbox.insert_many",
        "idempotency_keys.update_one",
    ]


# The issue's scenarios, one by one ------------------------------------------------------------


def fault_the(faults, kind, call):
    """Fail the first write named `call` (collection.method) of the next operation."""
    faults.arm("count")
    original = faults.call

    def call_once(where, method, real, args, kwargs):
        if faults.kind == "count" and f"{where}.{method}" == call and method in WRITES:
            faults.kind, faults.at, faults.count = kind, 1, 0
        return original(where, method, real, args, kwargs)

    faults.call = call_once
    return lambda: setattr(faults, "call", original)


def test_a_booking_cut_off_before_its_claims_were_confirmed_is_never_sold_twice(world, faults):
    database = world.fresh()
    venue = world.make_venue(world.owner[0], slots=SLOTS, auto_confirm=True)
    restore = fault_the(faults, "crash", "slot_claims.update_many")
    assert world.book(venue=venue).status_code == 503
    restore()
    faults.disarm()
    first = database.bookings.find_one()
    assert first["status"] == "confirmed"  # written, and confirmed at once: the venue auto-confirms

    world.clock.advance(minutes=6)  # past the claims' grace period
    other = world.make_user(full_name="Other Customer")
    body = {"venue_id": str(venue["_id"]), "date": DAY, "guests": 5, "slots": ["morning"]}
    second = world.client.post("/bookings", json=body, headers=world.tokens(other))
    assert second.status_code == 409, second.get_json()  # main: 201, a second confirmed booking
    assert database.bookings.count_documents({}) == 1
    check_safe(database, world.clock.at)
    stored = repair(world, database)
    assert [b["_id"] for b in stored.active] == [first["_id"]]


def test_a_retry_with_the_same_key_gets_the_first_booking_and_pays_once(world, faults):
    database = world.fresh()
    key = uuid.uuid4().hex
    restore = fault_the(faults, "crash", "slot_claims.update_many")
    assert world.book(key=key).status_code == 503
    restore()
    faults.disarm()
    first = database.bookings.find_one()

    answer = retried(world, lambda: world.book(key=key))
    booking = ok_data(answer, 201)["booking"]
    assert booking["id"] == str(first["_id"])  # main: a second booking, charged again
    assert database.bookings.count_documents({}) == 1
    payments = database.wallet_transactions.count_documents({"kind": "payment", "state": "done"})
    assert payments == 1
    repair(world, database)


@pytest.mark.parametrize(
    ("operation", "status"),
    [(reject, "rejected"), (expire, "expired"), (cancel_as_customer, "cancelled")],
)
def test_a_refund_cut_off_after_the_status_write_is_paid_by_the_repair(
    world, faults, operation, status
):
    database = world.fresh()
    run = operation(world)
    restore = fault_the(faults, "after", "bookings.find_one_and_update")
    run()
    restore()
    faults.disarm()
    ended = database.bookings.find_one()
    assert ended["status"] == status and ended["refund"]["amount"] == 2 * PRICE
    assert database.users.find_one({"_id": world.customer[0]["_id"]})["wallet_balance"] == 8 * PRICE

    repair(world, database)  # main: the refund is lost for good (and a cancel waits for a DELETE)
    assert (
        database.users.find_one({"_id": world.customer[0]["_id"]})["wallet_balance"] == 10 * PRICE
    )
    refunds = list(database.wallet_transactions.find({"kind": "refund", "state": "done"}))
    assert [(entry["key"], entry["amount"]) for entry in refunds] == [
        (f"refund:{ended['_id']}", 2 * PRICE)
    ]
    repair(world, database)  # and once only
    assert database.wallet_transactions.count_documents({"kind": "refund"}) == 1


def test_two_attempts_at_one_request_make_one_booking(world, monkeypatch):
    """Should a retry miss the first attempt's booking (say its read raced the insert), the
    unique request_key refuses the second insert: the second attempt undoes itself and answers
    with the first booking."""
    from halls.bookings import create
    from tests.bookings.helpers import Proxy, claim_of

    database = world.fresh()
    customer = world.customer[0]
    first = create.create_booking(
        customer, world.venue["_id"], DAY, 5, slots=["morning"], request_key="k"
    )
    real = db.bookings
    missed = []

    class Missing(Proxy):
        def find_one(self, query, *args, **kwargs):
            if "request_key" in query and not missed:
                missed.append(query)
                return None
            return self.collection.find_one(query, *args, **kwargs)

    monkeypatch.setattr(db, "bookings", lambda: Missing(real()))
    again = create.create_booking(
        customer, world.venue["_id"], DAY, 5, slots=["evening"], request_key="k"
    )
    monkeypatch.setattr(db, "bookings", real)
    assert missed and again["_id"] == first["_id"]
    assert database.bookings.count_documents({}) == 1
    assert claim_of(world.venue, DAY, "evening")["state"] == "free"
    check_repaired(database, world.clock.at)
