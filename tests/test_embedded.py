"""What halls teaches mongomock: the $geoNear stage and single-document atomic writes."""

import math
import sys
import threading

import pytest
from pymongo import ASCENDING, GEOSPHERE, IndexModel, ReturnDocument
from pymongo.errors import DuplicateKeyError

from halls import embedded

LAHORE = (74.3587, 31.5204)
ISLAMABAD = (73.0551, 33.7215)
KARACHI = (67.0300, 24.8138)
PESHAWAR = (71.5249, 34.0151)


def distance_m(a, b):
    """Spherical law of cosines: a second formula, not the module's haversine."""
    (lng1, lat1), (lng2, lat2) = [(math.radians(x), math.radians(y)) for x, y in (a, b)]
    cosine = math.sin(lat1) * math.sin(lat2) + math.cos(lat1) * math.cos(lat2) * math.cos(
        lng2 - lng1
    )
    return 6378.1 * 1000 * math.acos(max(-1.0, min(1.0, cosine)))


@pytest.fixture
def places():
    collection = embedded.new_client()["embedded_test"]["places"]
    collection.create_indexes([IndexModel([("loc", GEOSPHERE)])])
    collection.insert_many(
        [
            {"_id": name, "kind": kind, "loc": {"type": "Point", "coordinates": list(where)}}
            for name, kind, where in [
                ("lahore", "city", LAHORE),
                ("islamabad", "capital", ISLAMABAD),
                ("karachi", "city", KARACHI),
                ("peshawar", "city", PESHAWAR),
            ]
        ]
    )
    collection.insert_one({"_id": "nowhere", "kind": "city"})  # no location: never near
    return collection


def geo_near(collection, **options):
    stage = {
        "near": {"type": "Point", "coordinates": list(LAHORE)},
        "key": "loc",
        "distanceField": "dist",
        "spherical": True,
        **options,
    }
    return list(collection.aggregate([{"$geoNear": stage}]))


def test_distances_match_the_great_circle(places):
    found = geo_near(places)
    assert [doc["_id"] for doc in found] == ["lahore", "islamabad", "peshawar", "karachi"]
    coordinates = {
        "lahore": LAHORE,
        "islamabad": ISLAMABAD,
        "peshawar": PESHAWAR,
        "karachi": KARACHI,
    }
    for doc in found:
        assert doc["dist"] == pytest.approx(distance_m(LAHORE, coordinates[doc["_id"]]), abs=1)
    assert 265_000 < found[1]["dist"] < 275_000


def test_max_distance_query_and_multiplier(places):
    within_400km = geo_near(places, maxDistance=400_000)
    assert [doc["_id"] for doc in within_400km] == ["lahore", "islamabad", "peshawar"]
    cities = geo_near(places, maxDistance=400_000, query={"kind": "city"})
    assert [doc["_id"] for doc in cities] == ["lahore", "peshawar"]
    in_km = geo_near(places, distanceMultiplier=0.001, query={"_id": "islamabad"})
    assert in_km[0]["dist"] == pytest.approx(distance_m(LAHORE, ISLAMABAD) / 1000, abs=0.001)


def test_min_distance_and_later_stages(places):
    found = list(
        places.aggregate(
            [
                {
                    "$geoNear": {
                        "near": {"type": "Point", "coordinates": list(LAHORE)},
                        "key": "loc",
                        "distanceField": "meta.dist",
                        "minDistance": 1,
                        "spherical": True,
                    }
                },
                {"$sort": {"meta.dist": -1}},
                {"$limit": 2},
            ]
        )
    )
    assert [doc["_id"] for doc in found] == ["karachi", "peshawar"]
    assert found[0]["meta"]["dist"] > found[1]["meta"]["dist"]


def test_geo_near_needs_the_key_option(places):
    with pytest.raises(NotImplementedError):
        places.aggregate(
            [{"$geoNear": {"near": {"type": "Point", "coordinates": [0, 0]}, "distanceField": "d"}}]
        )


def test_geo_near_leaves_stored_documents_alone(places):
    geo_near(places)
    assert "dist" not in places.find_one({"_id": "lahore"})


THREADS = 50


@pytest.fixture(autouse=True)
def eager_thread_switches():
    # Switch threads every microsecond instead of every 5 ms, so that without the write lock
    # the racing read-modify-writes below really interleave (the counter loses increments).
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
            barrier.wait()
            try:
                outcomes.append((n, work(n, round_)))
            except DuplicateKeyError as error:
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


@pytest.mark.parametrize("returned", [ReturnDocument.BEFORE, ReturnDocument.AFTER])
def test_find_and_modify_updates_the_element_the_filter_matched(returned):
    """The positional `$` means the matched element, as on a server (mongomock took the first)."""
    collection = embedded.new_client()["embedded_test"]["venues"]
    items = [{"key": "a", "price": 1}, {"key": "b", "price": 2}, {"key": "c", "price": 3}]
    collection.insert_many([{"_id": 1, "items": items}, {"_id": 2, "items": items}])
    found = collection.find_one_and_update(
        {"status": {"$ne": "deleted"}, "items.key": "b"},
        {"$set": {"items.$.price": 20}},
        projection={"items": 1},
        sort=[("_id", -1)],
        return_document=returned,
    )
    changed = [items[0], {"key": "b", "price": 20}, items[2]]
    assert found == {"_id": 2, "items": changed if returned is ReturnDocument.AFTER else items}
    assert collection.find_one({"_id": 2})["items"] == changed
    assert collection.find_one({"_id": 1})["items"] == items
    no_match = {"_id": 2, "items.key": "z"}
    assert collection.find_one_and_update(no_match, {"$set": {"items.$.price": 0}}) is None
    assert collection.find_one({"_id": 2})["items"] == changed


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
