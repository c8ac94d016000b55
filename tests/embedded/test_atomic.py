"""One lock makes each mongomock write indivisible and keeps reads from seeing half of one."""

import sys
import threading

import pytest
from pymongo import ASCENDING, IndexModel
from pymongo.errors import DuplicateKeyError

from halls import embedded
from halls.embedded import atomic

THREADS = 50


@pytest.fixture(autouse=True)
def eager_thread_switches():
    # Switch threads every microsecond instead of every 5 ms, so that without the lock the
    # racing read-modify-writes below really interleave (the counter loses increments).
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(interval)


def run_together(work, rounds=1):
    """THREADS threads call work(n, round) at the same instant, round after round."""
    barrier = threading.Barrier(THREADS)
    outcomes = []

    def run(n):
        for round_ in range(rounds):
            barrier.wait(timeout=60)  # a thread that died breaks it: no test hangs
            try:
                outcomes.append((n, work(n, round_)))
            except Exception as error:  # an outcome the test looks at
                outcomes.append((n, error))

    threads = [threading.Thread(target=run, args=(n,)) for n in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes


@pytest.fixture
def claims_collection():
    collection = embedded.new_client()["embedded_test"]["claims"]
    collection.create_indexes([IndexModel([("key", ASCENDING)], unique=True)])
    return collection


def test_racing_upserts_of_a_free_claim_leave_one_winner(claims_collection):
    def take(n, round_):
        return claims_collection.find_one_and_update(
            {"key": "venue-day-slot", "state": "free"},
            {"$set": {"state": "taken", "by": n}},
            upsert=True,
        )

    outcomes = dict(run_together(take))
    losers = [n for n, outcome in outcomes.items() if isinstance(outcome, DuplicateKeyError)]
    assert len(losers) == THREADS - 1
    docs = list(claims_collection.find())
    assert len(docs) == 1
    assert docs[0]["state"] == "taken"
    assert docs[0]["by"] not in losers
    assert outcomes[docs[0]["by"]] is None  # the winner found no claim before its own


def test_racing_upserts_lose_no_increment(claims_collection):
    # Round after round, every thread bumps a counter that does not exist yet: 20 races to
    # create one document, each of which must end with all increments counted.
    def bump(n, counter):
        claims_collection.update_one({"key": counter}, {"$inc": {"n": 1}}, upsert=True)

    outcomes = run_together(bump, rounds=20)
    assert not [outcome for _, outcome in outcomes if isinstance(outcome, Exception)]
    docs = list(claims_collection.find())
    assert sorted(doc["key"] for doc in docs) == list(range(20))
    assert {doc["n"] for doc in docs} == {THREADS}


def test_a_read_never_sees_half_a_write(claims_collection):
    # mongomock changes a stored document in place, field by field; a server shows every
    # reader a document before or after a write, never in between (nor fails the read).
    claims_collection.insert_one({"key": "doc", "a": 0, "b": 0})

    def write_or_read(n, round_):
        if n % 2:
            fields = {"a": round_, f"grown_{n}_{round_}": True, "b": round_}
            claims_collection.update_one({"key": "doc"}, {"$set": fields})
            return None
        try:
            doc = claims_collection.find_one({"key": "doc"})
        except RuntimeError as error:  # "dictionary changed size during iteration"
            return error
        return (doc["a"], doc["b"])

    outcomes = run_together(write_or_read, rounds=20)
    reads = [outcome for n, outcome in outcomes if n % 2 == 0]
    assert len(reads) == 20 * THREADS // 2
    assert all(isinstance(read, tuple) and read[0] == read[1] for read in reads)


CALLS = {
    "find": lambda c: list(c.find({"key": "a"})),
    "find_one": lambda c: c.find_one({"key": "a"}),
    "find, sorted later": lambda c: list(c.find().sort("key")),
    "count_documents": lambda c: c.count_documents({}),
    "estimated_document_count": lambda c: c.estimated_document_count(),
    "distinct": lambda c: c.distinct("key"),
    "aggregate": lambda c: list(c.aggregate([{"$match": {"key": "a"}}])),
    "insert_one": lambda c: c.insert_one({"key": "b"}),
    "update_one": lambda c: c.update_one({"key": "a"}, {"$set": {"n": 1}}),
    "find_one_and_update": lambda c: c.find_one_and_update({"key": "a"}, {"$inc": {"n": 1}}),
    "delete_many": lambda c: c.delete_many({"key": "a"}),
}


@pytest.mark.parametrize("call", CALLS.values(), ids=CALLS.keys())
def test_every_read_and_write_waits_for_the_lock(claims_collection, call):
    claims_collection.insert_one({"key": "a"})
    done = threading.Event()
    thread = threading.Thread(target=lambda: (call(claims_collection), done.set()))
    with atomic.lock:  # another operation under way
        thread.start()
        assert not done.wait(0.05)
    assert done.wait(5)
    thread.join()
