"""What halls teaches mongomock: $geoNear, single-document atomic writes, reads that copy less."""

import collections
import contextlib
import copy
import datetime as dt
import math
import random
import re
import sys
import threading

import mongomock
import pytest
from bson import ObjectId, Timestamp
from hypothesis import given, settings
from hypothesis import strategies as st
from mongomock import aggregate as mm_aggregate
from mongomock import collection as mm_collection
from mongomock import filtering as mm_filtering
from mongomock import helpers as mm_helpers
from packaging import version as packaging_version
from pymongo import ASCENDING, GEOSPHERE, DeleteOne, IndexModel, InsertOne, ReturnDocument
from pymongo.errors import DuplicateKeyError, OperationFailure

from halls import db, embedded
from halls.venues import search
from tests.helpers import today_plus

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


# --- an aggregation copies only what its leading stage keeps -------------------------------

SOON = [today_plus(days) for days in range(2, 12)]
CENTRES = [LAHORE, ISLAMABAD, KARACHI]


def scattered_venues(count=90, seed=7):
    """Venues of every shape search meets: near and far, priced or not, some with no location."""
    rng = random.Random(seed)
    start = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    venues = []
    for n in range(count):
        lng, lat = CENTRES[n % 3]
        venue = {
            "_id": ObjectId(),
            "venue_name": f"Hall {n}",
            "city": ["Lahore", "LAHORE", "Islamabad", "Karachi"][n % 4],
            "type": ["Hall", "Lawn", "Marquee"][n % 3],
            "status": "active" if n % 5 else "inactive",
            "capacity": rng.randrange(50, 1000),
            "amenities": {"wifi": n % 2 == 0, "parking_valet": n % 3 == 0},
            "maps_location": point(lng + rng.uniform(-0.3, 0.3), lat + rng.uniform(-0.3, 0.3)),
            "dates_available": rng.sample(SOON, 7),
            "timezone": "Asia/Karachi",
            "slots": [{"key": "full_day", "start": "00:00", "end": "23:59"}],
            "pricing": {
                "base_price": rng.choice([None, 50_000, 120_000, 300_000]),
                "overrides": [{"date": SOON[n % 10], "price": 90_000}] if n % 4 else [],
            },
            "created_at": start + dt.timedelta(hours=n, microseconds=n * 1_700),
        }
        if n % 17 == 0:
            del venue["maps_location"]
        if n % 11 == 0:
            venue["blackouts"] = [{"date": SOON[3]}]
        venues.append(venue)
    return venues


def point(lng, lat):
    return {"type": "Point", "coordinates": [lng, lat]}


@pytest.fixture
def venues():
    collection = embedded.new_client()["embedded_test"]["venues"]
    collection.create_indexes([IndexModel([("maps_location", GEOSPHERE)])])
    collection.insert_many(scattered_venues())
    return collection


def unoptimised(collection, pipeline):
    """What mongomock ran before: the pipeline over a copy of every stored document, with
    mongomock's own $match."""
    everything = list(collection.find())
    handlers = mm_aggregate._PIPELINE_HANDLERS
    taught, handlers["$match"] = handlers["$match"], mm_aggregate._handle_match_stage
    try:
        return list(mm_aggregate.process_pipeline(everything, collection.database, pipeline, None))
    finally:
        handlers["$match"] = taught


def near_lahore(**options):
    return {
        "$geoNear": {
            "near": point(*LAHORE),
            "key": "maps_location",
            "distanceField": "distance_km",
            "distanceMultiplier": 0.001,
            "spherical": True,
            **options,
        }
    }


COMPUTED_PROJECTION = {
    "$project": {
        "big": {"$gt": ["$capacity", 500]},
        "place": {"name": {"$toUpper": "$city"}, "fixed": {"$literal": 1}},
        "first_override": {
            "$arrayElemAt": [
                {
                    "$map": {
                        "input": {"$ifNull": ["$pricing.overrides", []]},
                        "as": "o",
                        "in": "$$o.price",
                    }
                },
                0,
            ]
        },
    }
}

PIPELINES = {
    "match": [{"$match": {"status": "active"}}],
    "match nothing": [{"$match": {"status": "gone"}}],
    "match everything": [{"$match": {}}],
    "match, sort, page": [
        {"$match": {"status": "active", "dates_available": SOON[4]}},
        {"$sort": {"capacity": -1, "_id": 1}},
        {"$skip": 2},
        {"$limit": 5},
    ],
    "match $or on a dotted path": [
        {"$match": {"$or": [{"capacity": {"$gte": 600}}, {"amenities.wifi": True}]}},
        {"$project": {"capacity": 1, "amenities": 1}},
    ],
    "match a regex and $nin": [
        {"$match": {"city": {"$regex": "^lahore$", "$options": "i"}, "type": {"$nin": ["Lawn"]}}}
    ],
    "match a time range": [
        {"$match": {"created_at": {"$gte": dt.datetime(2025, 1, 2, 3, tzinfo=dt.UTC)}}},
        {"$count": "n"},
    ],
    "match a missing field": [{"$match": {"blackouts": {"$exists": False}}}, {"$count": "n"}],
    "match $expr": [{"$match": {"$expr": {"$gt": ["$capacity", 500]}}}],
    "two matches": [{"$match": {"status": "active"}}, {"$match": {"capacity": {"$lt": 400}}}],
    "geoNear": [near_lahore()],
    "geoNear within 20 km and a query": [
        near_lahore(maxDistance=20_000, query={"status": "active", "dates_available": SOON[1]})
    ],
    "geoNear in a ring, then facet": [
        near_lahore(minDistance=5_000, maxDistance=30_000),
        {
            "$facet": {
                "items": [{"$sort": {"distance_km": 1, "_id": 1}}, {"$limit": 3}],
                "total": [{"$count": "n"}],
            }
        },
    ],
    "geoNear far away": [near_lahore(maxDistance=2_000_000, query={"type": "Marquee"})],
    "geoNear matching nothing": [near_lahore(maxDistance=10)],
    "no pipeline": [],
    "sort first": [{"$sort": {"capacity": 1, "_id": 1}}, {"$match": {"status": "active"}}],
    "match, then include fields": [
        {"$match": {"status": "active"}},
        {"$project": {"capacity": True, "pricing.base_price": 1, "created_at": 1, "_id": 0}},
    ],
    "geoNear, then include fields": [
        near_lahore(maxDistance=30_000),
        {"$project": {"distance_km": 1, "maps_location.coordinates": 1, "blackouts": 1}},
        {"$sort": {"distance_km": -1}},
    ],
    "match, then compute fields": [{"$match": {"status": "active"}}, COMPUTED_PROJECTION],
    "geoNear, then compute from the whole document": [
        near_lahore(maxDistance=30_000),
        {"$project": {"doc": "$$ROOT", "city": "$$CURRENT.city", "d": "$distance_km"}},
    ],
    "project first": [{"$project": {"city": 1, "type": 1}}, {"$match": {"type": "Lawn"}}],
    "exclude fields": [{"$match": {"status": "active"}}, {"$project": {"pricing": 0}}],
    "addFields first": [
        {"$addFields": {"big": {"$gt": ["$capacity", 500]}}},
        {"$match": {"big": True}},
    ],
}


@pytest.mark.parametrize("pipeline", PIPELINES.values(), ids=PIPELINES.keys())
def test_an_aggregation_answers_as_before(venues, pipeline):
    assert list(venues.aggregate(pipeline)) == unoptimised(venues, pipeline)


def test_a_geo_near_after_a_match_answers_as_its_query_does(venues):
    # A server wants $geoNear first; mongomock runs a later one over what reaches it.
    after = [{"$match": {"status": "active"}}, near_lahore(maxDistance=30_000)]
    first = [near_lahore(maxDistance=30_000, query={"status": "active"})]
    found = list(venues.aggregate(after))
    assert found == list(venues.aggregate(first)) == unoptimised(venues, after)
    assert len(found) > 3 and found == sorted(found, key=lambda doc: doc["distance_km"])


def test_the_pipelines_do_select(venues):
    # The comparisons above would prove little if every pipeline kept all or nothing.
    sizes = {name: len(unoptimised(venues, pipeline)) for name, pipeline in PIPELINES.items()}
    assert 0 < sizes["geoNear within 20 km and a query"] < sizes["geoNear"] < len(SOON) * 9
    assert sizes["match nothing"] == sizes["geoNear matching nothing"] == 0
    assert 0 < sizes["match a regex and $nin"] < sizes["match"] < 90


@pytest.fixture
def copies(monkeypatch):
    """The documents an aggregation copies out of the store: (_id or None, fields copied)."""
    made = []
    copy_out = embedded._copy_out

    def counting(document, *args):
        copied = copy_out(document, *args)
        made.append((document.get("_id"), tuple(sorted(copied))))
        return copied

    monkeypatch.setattr(embedded, "_copy_out", counting)
    return made


def test_only_the_kept_documents_are_copied(venues, copies):
    near = near_lahore(maxDistance=20_000, query={"status": "active"})
    found = list(venues.aggregate([near, {"$limit": 100}]))
    assert 0 < len(found) < 30
    assert sorted(copied for copied, _ in copies) == sorted(doc["_id"] for doc in found)
    copies.clear()
    active = list(venues.aggregate([{"$match": {"status": "active"}}]))
    assert len(copies) == len(active) == 72
    copies.clear()
    # A stage that adds to its documents works on copies: of every document, with no lead.
    venues.aggregate([{"$addFields": {"n": 1}}, {"$match": {"status": "active"}}])
    assert len(copies) == 90


def test_after_stages_that_only_read_only_what_leaves_is_copied(venues, copies):
    page = [{"$sort": {"_id": 1}}, {"$match": {"status": "active"}}, {"$skip": 1}, {"$limit": 4}]
    found = list(venues.aggregate(page))
    assert [copied for copied, _ in copies] == [doc["_id"] for doc in found]
    assert len(found) == 4 and found == unoptimised(venues, page)
    copies.clear()
    near = near_lahore(maxDistance=30_000, query={"status": "active"})
    facet = {
        "$facet": {
            "items": [{"$sort": {"distance_km": 1, "_id": 1}}, {"$limit": 3}],
            "total": [{"$count": "n"}],
            "ids": [{"$project": {"blackouts": 1}}, {"$match": {"blackouts": {"$exists": True}}}],
        }
    }
    (result,) = venues.aggregate([near, facet])
    # One document leaves, the page inside it; the facet read all the venues kept.
    assert copies == [(None, ("ids", "items", "total"))]
    assert len(result["items"]) == 3 and result["total"][0]["n"] > 10 and result["ids"]
    assert [result] == unoptimised(venues, [near, facet])


def _empty_every_container(value):
    if isinstance(value, dict):
        for item in value.values():
            _empty_every_container(item)
        value.clear()
    elif isinstance(value, list):
        for item in value:
            _empty_every_container(item)
        value.clear()


READING_PIPELINES = [
    [{"$match": {"status": "active"}}],
    # The distance set inside a sub-document (of the copy, never of the stored one).
    [near_lahore(maxDistance=30_000, distanceField="pricing.km"), {"$limit": 5}],
    [near_lahore(maxDistance=30_000, distanceField="maps_location.coordinates")],
    [near_lahore(maxDistance=30_000), {"$sort": {"capacity": 1, "_id": 1}}, {"$limit": 9}],
    [
        {"$match": {"status": "active"}},
        {"$project": {"pricing": 1, "slots": 1, "maps_location": 1, "created_at": 1}},
        {"$facet": {"all": [{"$skip": 0}], "first": [{"$limit": 2}], "n": [{"$count": "n"}]}},
    ],
]


@pytest.mark.parametrize("pipeline", READING_PIPELINES)
def test_what_an_aggregation_returns_is_the_readers_own(venues, pipeline):
    before = copy.deepcopy(list(venues.find()))
    found = list(venues.aggregate(pipeline))
    assert found and found == unoptimised(venues, pipeline)
    for document in found:
        _empty_every_container(document)  # anything shared with the store empties it too
    assert list(venues.find()) == before


def test_a_project_next_in_line_narrows_the_copies(venues, copies):
    near = near_lahore(maxDistance=20_000, query={"status": "active"})
    projected = {"$project": {"capacity": 1, "pricing.base_price": 1, "distance_km": 1}}
    found = list(venues.aggregate([near, projected]))
    assert found and {tuple(sorted(doc)) for doc in found} == {
        ("_id", "capacity", "distance_km", "pricing")
    }
    assert {fields for _, fields in copies} == {("_id", "capacity", "pricing")}
    assert all(set(doc["pricing"]) <= {"base_price"} for doc in found)
    copies.clear()
    venues.aggregate([{"$match": {"status": "active"}}, COMPUTED_PROJECTION])
    # What the expressions read, not their variables ($$o) nor the names they give.
    assert {fields for _, fields in copies} == {("_id", "capacity", "city", "pricing")}
    for stage in (
        {"$project": {"capacity": 0}},  # an exclusion needs everything else
        {"$project": {"whole": "$$ROOT"}},
        {"$addFields": {"n": 1}},
    ):
        copies.clear()
        venues.aggregate([{"$match": {"status": "active"}}, stage])
        assert len(copies) == 72 and all(len(fields) > 5 for _, fields in copies), stage


def test_a_pipeline_changes_no_stored_document(venues):
    before = list(venues.find())
    venues.aggregate([near_lahore(maxDistance=50_000), {"$addFields": {"capacity": 0}}])
    venues.aggregate([{"$match": {}}, {"$set": {"pricing.base_price": 1}}])
    assert list(venues.find()) == before


FIND_VIEWS = [
    None,
    {},
    {"pricing": 1, "slots": True, "created_at": 1},
    {"pricing": 1, "_id": 0},
    {"dates_available": 0, "maps_location": False},
    {"dates_available": 0, "_id": 0},
    {"pricing.base_price": 1, "created_at": 1},  # mongomock's own way
]


@pytest.mark.parametrize("aware", [True, False], ids=["tz-aware", "naive"])
@pytest.mark.parametrize("view", FIND_VIEWS)
def test_what_a_find_returns_is_the_readers_own(aware, view):
    collection = mongomock.MongoClient(tz_aware=aware)["embedded_test"]["venues"]
    collection.insert_many(scattered_venues())
    before = copy.deepcopy(list(collection.find()))
    with untaught():
        expected = list(collection.find({"status": "active"}, view and dict(view)))
        expected += [collection.find_one({"_id": before[3]["_id"]}, view and dict(view))]
    found = list(collection.find({"status": "active"}, view and dict(view)))
    found += [collection.find_one({"_id": before[3]["_id"]}, view and dict(view))]
    assert shape(found) == shape(expected)
    assert len(found) > 50
    for document in found:
        _empty_every_container(document)  # anything shared with the store empties it too
    assert list(collection.find()) == before


@pytest.fixture
def search_pipelines(venues, monkeypatch):
    """halls' search run over `venues`, recording every pipeline it sends."""
    claims_collection = venues.database["slot_claims"]
    claims_collection.insert_many(
        [
            {"venue_id": venue["_id"], "date": SOON[1], "slot": "full_day", "state": "taken"}
            for venue in venues.find({"dates_available": SOON[1]}).limit(6)
        ]
    )
    sent = []

    class Recording:
        def __getattr__(self, name):
            return getattr(venues, name)

        def aggregate(self, pipeline):
            sent.append(pipeline)
            return venues.aggregate(pipeline)

    monkeypatch.setattr(db, "venues", Recording)
    monkeypatch.setattr(db, "slot_claims", lambda: claims_collection)
    return sent


SEARCHES = [
    {"date": SOON[1], "near_lat": LAHORE[1], "near_lng": LAHORE[0], "near_km": 25},
    {
        "date": SOON[2],
        "near_lat": LAHORE[1],
        "near_lng": LAHORE[0],
        "near_km": 40,
        "price_max": 100_000,
    },
    {"date": SOON[3], "near_lat": ISLAMABAD[1], "near_lng": ISLAMABAD[0], "price_min": 60_000},
    {"near_lat": KARACHI[1], "near_lng": KARACHI[0], "near_km": 40, "sort": "price_asc"},
    {"date": SOON[5], "type": "Hall", "sort": "capacity"},
    {"city": "lahore", "amenities": ["wifi"], "capacity_min": 200},
    {"q": "hall 1", "price_min": 40_000, "sort": "price_desc"},
]


def test_the_search_pipeline_answers_as_before(venues, search_pipelines):
    totals = []
    for args in SEARCHES:
        found = search.search_venues({"page": 1, "limit": 5, **args})
        assert search_pipelines  # one, or two when the rules close a "maybe" venue
        for pipeline in search_pipelines:
            assert list(venues.aggregate(pipeline)) == unoptimised(venues, pipeline)
        search_pipelines.clear()
        totals.append(found["total"])
    assert all(totals) and len(set(totals)) > 3, totals


# --- a filter with a plain _id equality is found by key ------------------------------------

SOME_ID = ObjectId("65a000000000000000000001")


def keyed_collection():
    collection = embedded.new_client()["embedded_test"]["keyed"]
    other_ids = [ObjectId(f"65b{n:021x}") for n in range(30)]
    collection.insert_many(
        [
            {"_id": SOME_ID, "status": "active", "tags": ["a", "b"], "n": 1},
            {"_id": "slug", "status": "active", "n": 2},
            {"_id": 1.0, "status": "draft", "n": 3},
            {"_id": 7, "status": "active", "n": 4},
            {"_id": {"venue": 1, "slot": "am"}, "status": "active", "n": 5},
            {"_id": "slug-2", "status": "draft", "n": 6},
            *({"_id": other_ids[n], "status": "active", "n": 10 + n} for n in range(30)),
        ]
    )
    return collection


@pytest.fixture
def keyed():
    return keyed_collection()


@contextlib.contextmanager
def scanning():
    """mongomock scanning every stored document again, as it did before it was taught keys."""
    taught = mongomock.Collection._iter_documents
    mongomock.Collection._iter_documents = taught.__wrapped__
    try:
        yield
    finally:
        mongomock.Collection._iter_documents = taught


KEYED_FILTERS = {
    "object id": {"_id": SOME_ID},
    "object id and a field that matches": {"_id": SOME_ID, "status": "active", "tags": "b"},
    "object id and a field that does not": {"_id": SOME_ID, "status": "draft"},
    "object id and an $or": {"_id": SOME_ID, "$or": [{"n": 9}, {"tags": {"$size": 2}}]},
    "a missing id": {"_id": ObjectId()},
    "a missing id and more": {"_id": ObjectId(), "status": "active"},
    "string": {"_id": "slug"},
    "string, other status": {"_id": "slug-2", "status": "active"},
    "int equal to a stored double": {"_id": 1},
    "int": {"_id": 7, "n": 4},
    "a boolean (scanned)": {"_id": True},
    "a document id (scanned)": {"_id": {"venue": 1, "slot": "am"}},
    "$in": {"_id": {"$in": [SOME_ID, "slug", 7]}},
    "$in out of order, repeated, missing": {"_id": {"$in": [7, "nowhere", SOME_ID, 7, 7.0]}},
    "$in and a field": {"_id": {"$in": ["slug-2", 1, SOME_ID]}, "status": "draft"},
    "an empty $in": {"_id": {"$in": []}},
    "$in with a document (scanned)": {"_id": {"$in": [SOME_ID, {"venue": 1, "slot": "am"}]}},
    "$in and $nin (scanned)": {"_id": {"$in": [SOME_ID, 7], "$nin": [7]}},
    "$ne (scanned)": {"_id": {"$ne": "slug"}, "status": "draft"},
    "a regex (scanned)": {"_id": re.compile("^slug")},
    "no id": {"status": "draft"},
}


@pytest.mark.parametrize("query", KEYED_FILTERS.values(), ids=KEYED_FILTERS.keys())
def test_reads_by_id_answer_as_a_scan_does(keyed, query):
    def answers():
        # Without a sort the order is unspecified (a server returns _id-index order): compare sets.
        return (
            in_any_order(keyed.find(query)),
            keyed.find_one(query) is not None,
            keyed.count_documents(query),
            in_any_order(keyed.aggregate([{"$match": query}])),
        )

    found = answers()
    with scanning():
        assert answers() == found
    nothing = ["a missing id", "a missing id and more", "object id and a field that does not"]
    nothing += ["string, other status", "an empty $in"]
    assert (found[2] == 0) == (query in [KEYED_FILTERS[name] for name in nothing])


def in_any_order(documents):
    return sorted(documents, key=repr)


@pytest.mark.parametrize(
    "query",
    [
        {"_id": SOME_ID, "n": {"$bogus": 1}},
        {"_id": {"$in": ["nowhere", 7]}, "n": {"$bogus": 1}},
        {"$bogus": 1, "_id": ObjectId()},
        {"n": {"$bogus": 1}, "_id": "nowhere"},
    ],
)
def test_a_malformed_filter_is_refused_as_a_scan_refuses_it(keyed, query):
    with pytest.raises(OperationFailure, match="unknown"):
        keyed.find_one(query)
    with scanning(), pytest.raises(OperationFailure, match="unknown"):
        keyed.find_one(query)


def writes(collection):
    """A run of writes through every path that looks documents up, and what each returned."""
    done = [
        collection.update_one({"_id": SOME_ID, "status": "draft"}, {"$set": {"n": 0}}).raw_result,
        collection.update_one({"_id": SOME_ID}, {"$inc": {"n": 100}}).raw_result,
        collection.update_one({"_id": ObjectId()}, {"$set": {"n": 1}}).raw_result,
        collection.update_one(
            {"_id": "new", "status": "draft"}, {"$set": {"n": 50}}, upsert=True
        ).raw_result,
        collection.find_one_and_update(
            {"_id": "slug", "status": "active"},
            {"$set": {"status": "archived"}},
            return_document=ReturnDocument.AFTER,
        ),
        collection.find_one_and_update({"_id": "slug", "status": "active"}, {"$set": {"n": -1}}),
        collection.find_one_and_update(
            {"_id": SOME_ID, "tags": "b"}, {"$push": {"tags": "c"}}, projection={"tags": 1}
        ),
        collection.replace_one({"_id": 7, "n": 4}, {"status": "replaced"}).raw_result,
        collection.update_many({"_id": 1, "status": "draft"}, {"$set": {"n": 30}}).raw_result,
        collection.delete_one({"_id": "slug-2", "status": "active"}).raw_result,
        collection.delete_one({"_id": "slug-2"}).raw_result,
        collection.find_one_and_delete({"_id": "new"}),
        collection.delete_many({"_id": SOME_ID, "n": {"$gt": 1000}}).raw_result,
    ]
    for result in done:
        if isinstance(result, dict):
            result.pop("connectionId", None)  # one per client
    return done


def test_writes_by_id_act_as_a_scan_does():
    keyed = keyed_collection()
    done = writes(keyed)
    with scanning():
        scanned = keyed_collection()
        assert writes(scanned) == done
    assert list(keyed.find()) == list(scanned.find())
    assert done[1]["nModified"] == 1 and done[0]["nModified"] == 0
    assert done[4]["status"] == "archived" and done[5] is None
    assert done[9]["n"] == 0 and done[10]["n"] == 1


@pytest.fixture
def filter_calls(monkeypatch):
    """The stored documents reads and writes test against their filter (by _id)."""
    calls = []
    compiled = embedded._compiled

    def counting(search_filter):
        applies = compiled(search_filter)

        def test(document):
            calls.append(document.get("_id"))
            return applies(document)

        return test

    def once(search_filter, document):
        calls.append(document.get("_id"))
        return test_once(search_filter, document)

    test_once = embedded._test_once
    monkeypatch.setattr(embedded, "_compiled", counting)
    monkeypatch.setattr(embedded, "_test_once", once)
    return calls


def test_a_read_by_id_tests_one_document(keyed, filter_calls):
    assert keyed.find_one({"_id": SOME_ID, "status": "active"})["n"] == 1
    keyed.update_one({"_id": "slug"}, {"$set": {"n": 20}})
    keyed.update_many({"_id": {"$in": ["slug", 7, "nowhere"]}}, {"$set": {"seen": True}})
    assert filter_calls == [SOME_ID, "slug", "slug", 7]  # found by key: only those tested
    assert keyed.count_documents({"seen": True}) == 2
    filter_calls.clear()
    assert keyed.find_one({"status": "draft"})["n"] == 3
    assert len(filter_calls) == 36  # no _id: every stored document, as before


def test_a_document_found_by_id_still_answers_the_rest_of_the_filter(keyed, filter_calls):
    assert keyed.find_one({"_id": SOME_ID, "status": "draft"}) is None
    assert keyed.find_one({"_id": SOME_ID, "n": {"$gte": 1}})["n"] == 1
    assert filter_calls == [SOME_ID, SOME_ID]
    with pytest.raises(OperationFailure):
        keyed.find_one({"_id": SOME_ID, "n": {"$bogus": 1}})
    with pytest.raises(OperationFailure):
        keyed.find_one({"_id": "nowhere", "n": {"$bogus": 1}})


def test_an_expired_document_is_not_found_by_id():
    collection = embedded.new_client()["embedded_test"]["tokens"]
    collection.create_indexes([IndexModel([("expires_at", ASCENDING)], expireAfterSeconds=0)])
    past = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
    future = past + dt.timedelta(hours=1)
    collection.insert_many(
        [{"_id": "old", "expires_at": past}, {"_id": "new", "expires_at": future}]
    )
    assert collection.find_one({"_id": "old"}) is None
    assert collection.find_one({"_id": "new"})["_id"] == "new"


# --- a $geoNear with a maxDistance tests only the documents of nearby cells -----------------


def world_places(rng, count):
    """Places anywhere: clustered and alone, on the poles and the antimeridian, sharing points
    (ties keep store order), without a location, and off the globe (latitude 95)."""
    spots = [(rng.uniform(-180, 180), rng.uniform(-90, 90)) for _ in range(count)]
    spots += [(LAHORE[0] + rng.uniform(-0.5, 0.5), LAHORE[1] + rng.uniform(-0.5, 0.5))] * 3
    spots += [(LAHORE[0] + rng.gauss(0, 0.2), LAHORE[1] + rng.gauss(0, 0.2)) for _ in range(count)]
    spots += [(rng.choice([-180, 180, 179.99, -179.99]), rng.uniform(-60, 60)) for _ in range(20)]
    spots += [(rng.uniform(-180, 180), rng.choice([90, -90, 89.99])) for _ in range(20)]
    spots += [(10, 95), (0, 0), (0, 0)]
    places = [
        {"_id": n, "kind": rng.choice(["a", "b"]), "where": {"loc": point(lng, lat)}}
        for n, (lng, lat) in enumerate(spots)
    ]
    for place in rng.sample(places, 30):
        del place["where"]
    return places


def near_stage(lng, lat, key="where.loc", **options):
    return {"$geoNear": {"near": point(lng, lat), "key": key, "distanceField": "d", **options}}


def random_near(rng):
    lng, lat = rng.choice(
        [
            (rng.uniform(-180, 180), rng.uniform(-90, 90)),
            (LAHORE[0] + rng.uniform(-1, 1), LAHORE[1] + rng.uniform(-1, 1)),
            (rng.choice([-179.9, 179.95, 180]), rng.uniform(-70, 70)),
            (rng.uniform(-180, 180), rng.choice([89.95, -89.9, 90])),
            (0, 0),
        ]
    )
    options = {"maxDistance": rng.choice([0, 10, 5_000, 30_000, 300_000, 3_000_000, 20_000_000])}
    if rng.random() < 0.2:
        options = {}
    if rng.random() < 0.2:
        options["minDistance"] = 2_000
    if rng.random() < 0.3:
        options["query"] = {"kind": "a"}
    return near_stage(lng, lat, **options)


@pytest.fixture
def world():
    collection = embedded.new_client()["embedded_test"]["world"]
    collection.insert_many(world_places(random.Random(11), 400))
    return collection


def test_a_geo_near_answers_as_a_full_scan(world):
    rng = random.Random(5)
    kept = 0
    for _ in range(150):
        pipeline = [random_near(rng)]
        found = list(world.aggregate(pipeline))
        assert found == unoptimised(world, pipeline), pipeline
        kept += len(found)
    assert 0 < kept < 150 * 400  # the searches do select


def moved_near(collection, _id, lng, lat):
    return collection.update_one({"_id": _id}, {"$set": {"where.loc": point(lng, lat)}})


WRITES_THAT_MOVE = {
    "update_one": lambda c: moved_near(c, 1, *LAHORE),
    "update_many": lambda c: c.update_many({"kind": "b"}, {"$set": {"where.loc": point(0, 0)}}),
    "replace_one": lambda c: c.replace_one({"_id": 2}, {"where": {"loc": point(*LAHORE)}}),
    "find_one_and_update": lambda c: c.find_one_and_update(
        {"_id": 3}, {"$set": {"where.loc": point(*LAHORE)}}
    ),
    "unset the location": lambda c: c.update_many({}, {"$unset": {"where": ""}}),
    "delete_one": lambda c: c.delete_one({"_id": 404}),
    "delete_many": lambda c: c.delete_many({"kind": "a"}),
    "insert_one": lambda c: c.insert_one({"_id": "new", "where": {"loc": point(*LAHORE)}}),
    "insert_many": lambda c: c.insert_many([{"where": {"loc": point(*LAHORE)}} for _ in "abc"]),
    "bulk_write": lambda c: c.bulk_write(
        [InsertOne({"where": {"loc": point(*LAHORE)}}), DeleteOne({"_id": 406})]
    ),
    "drop": lambda c: c.drop(),
    "drop, then insert": lambda c: (c.drop(), c.insert_one({"where": {"loc": point(*LAHORE)}})),
}


@pytest.mark.parametrize("write", WRITES_THAT_MOVE.values(), ids=WRITES_THAT_MOVE.keys())
def test_a_geo_near_sees_every_write_before_it(world, write):
    pipelines = [[near_stage(*LAHORE, maxDistance=m)] for m in (20_000, 200_000)]
    pipelines.append([near_stage(0, 0, maxDistance=1_000)])
    before = [list(world.aggregate(pipeline)) for pipeline in pipelines]  # the index is built
    write(world)
    after = [list(world.aggregate(pipeline)) for pipeline in pipelines]
    assert after == [unoptimised(world, pipeline) for pipeline in pipelines]
    assert after != before


@pytest.fixture
def distance_tests(monkeypatch):
    """How many documents each $geoNear tested the distance of."""
    tested = []
    for name in ("distance_m", "distance_at"):  # a document as stored, or as the index placed it
        monkeypatch.setattr(embedded._Near, name, counted(getattr(embedded._Near, name), tested))
    return tested


def counted(distance, tested):
    def counting(near, document, *place):
        tested.append(document.get("_id"))
        return distance(near, document, *place)

    return counting


def test_a_geo_near_tests_only_nearby_cells(world, distance_tests):
    located = world.count_documents({"where.loc": {"$exists": True}})
    near = list(world.aggregate([near_stage(*LAHORE, maxDistance=5_000)]))
    assert 0 < len(near) <= len(distance_tests) < located / 4
    # A circle over a pole or across the antimeridian, or no maxDistance: every document.
    for lng, lat, options in [
        (0, 89.95, {"maxDistance": 20_000}),
        (179.99, 0, {"maxDistance": 20_000}),
        (*LAHORE, {}),
    ]:
        distance_tests.clear()
        world.aggregate([near_stage(lng, lat, **options)])
        assert len(distance_tests) == world.count_documents({})


def test_a_malformed_location_far_away_fails_the_search_as_a_scan_does(world):
    world.insert_one({"_id": "bad", "where": {"loc": {"type": "Point", "coordinates": "x"}}})
    pipeline = [near_stage(*LAHORE, maxDistance=20_000)]
    with pytest.raises(ValueError):
        unoptimised(world, pipeline)
    with pytest.raises(ValueError):
        world.aggregate(pipeline)


def test_a_geo_near_does_not_find_a_document_that_expired(world, monkeypatch):
    now = dt.datetime(2031, 3, 11, 5, 0)
    monkeypatch.setattr(mongomock, "utcnow", lambda: now)
    world.create_index("at", expireAfterSeconds=60)
    world.insert_one({"_id": "brief", "at": now, "where": {"loc": point(*LAHORE)}})
    pipeline = [near_stage(*LAHORE, maxDistance=1_000)]
    assert [doc["_id"] for doc in world.aggregate(pipeline)][:1] == ["brief"]
    monkeypatch.setattr(mongomock, "utcnow", lambda: now + dt.timedelta(minutes=2))
    found = list(world.aggregate(pipeline))
    assert "brief" not in [doc["_id"] for doc in found]
    assert found == unoptimised(world, pipeline)


# --- a filter compiled once answers as mongomock's filter_applies ---------------------------

SOME_OID = ObjectId("65a000000000000000000009")
LEAVES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-2, 3),
    st.sampled_from([1.0, 2.5, -0.0, math.nan, math.inf]),
    st.sampled_from(["", "a", "b", "ab", "B", str(SOME_OID)]),
    st.just(SOME_OID),
    st.just(dt.datetime(2031, 3, 11, 5, 0)),
)
KEYS = st.sampled_from(["a", "b", "c"])
DOC_VALUES = st.recursive(
    LEAVES,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(KEYS, inner, max_size=3)),
    max_leaves=6,
)
DOCUMENTS = st.one_of(st.dictionaries(KEYS, DOC_VALUES, max_size=3), LEAVES)
PATHS = st.sampled_from(["a", "b", "a.b", "a.0", "a.b.c", "c.a", "a.1.b", "", "a.", "a. 1", "b.c"])
REGEXES = st.sampled_from([re.compile("a"), "^a", "B", "[", 5])


@st.composite
def conditions(draw, depth):
    kind = draw(st.integers(0, 3 if depth else 2))
    if kind == 0:
        return draw(st.one_of(LEAVES, st.lists(LEAVES, max_size=2), REGEXES))
    if kind == 1:
        return draw(st.dictionaries(KEYS, LEAVES, max_size=2))
    operators = {
        "$eq": LEAVES,
        "$ne": LEAVES,
        "$gt": LEAVES,
        "$gte": LEAVES,
        "$lt": LEAVES,
        "$lte": LEAVES,
        "$in": st.one_of(st.lists(st.one_of(LEAVES, REGEXES), max_size=3), LEAVES),
        "$nin": st.lists(LEAVES, max_size=3),
        "$exists": st.booleans(),
        "$regex": REGEXES,
        "$options": st.sampled_from(["i", "x", "", 3]),
        "$size": st.integers(0, 2),
        "$type": st.sampled_from(["string", "number", "null", "array"]),
        "$all": st.lists(LEAVES, max_size=2),
        "$bogus": LEAVES,
        "$where": LEAVES,
    }
    if depth:
        operators["$not"] = conditions(depth - 1)
        operators["$elemMatch"] = st.one_of(filters(depth - 1), conditions(depth - 1))
    names = draw(st.lists(st.sampled_from(sorted(operators)), min_size=1, max_size=3, unique=True))
    return {name: draw(operators[name]) for name in names}


@st.composite
def filters(draw, depth=2):
    clauses = {}
    for _ in range(draw(st.integers(0, 3))):
        key = draw(st.one_of(PATHS, st.sampled_from(["$or", "$and", "$nor", "$comment", "$x"])))
        if key in ("$or", "$and", "$nor") and depth:
            value = draw(st.one_of(st.lists(filters(depth - 1), max_size=2), LEAVES))
        elif key.startswith("$"):
            value = draw(LEAVES)
        else:
            value = draw(conditions(depth))
        clauses[key] = value
    return clauses


def outcome(test):
    try:
        return "answers", bool(test())
    except Exception as error:  # noqa: BLE001 - the same failure is part of the same answer
        return "fails", type(error)


@settings(max_examples=3000, deadline=None)
@given(filters(), DOCUMENTS)
def test_a_compiled_filter_answers_as_filter_applies(search_filter, document):
    assert outcome(lambda: embedded._compiled(search_filter)(document)) == outcome(
        lambda: mm_filtering.filter_applies(search_filter, document)
    )


def same_answer(search_filter, document):
    compiled = outcome(lambda: embedded._compiled(search_filter)(document))
    return compiled == outcome(lambda: mm_filtering.filter_applies(search_filter, document))


def test_a_compiled_comparison_answers_as_filter_applies_for_every_pair_of_values():
    values = [None, True, False, 0, 1, -1, 1.0, 2.5, math.nan, "", "a", "B", SOME_OID]
    values += [dt.datetime(2031, 3, 11), [1, "a"], [], {"b": 1}, str(SOME_OID), [str(SOME_OID)]]
    values += [dt.datetime(2030, 1, 1, 5), dt.datetime(2031, 3, 11, tzinfo=dt.UTC)]
    for operator in ("$gt", "$gte", "$lt", "$lte", "$eq", "$ne", "$in", "$nin", None):
        for value in values:
            condition = {operator: [value] if operator in ("$in", "$nin") else value}
            if operator is None:
                condition = value  # a plain value: equality, or an element of an array
            for path in ("a", "a.b"):
                for stored in values:
                    for document in ({"a": stored}, {"a": {"b": stored}}, {"a": [{"b": stored}]}):
                        assert same_answer({path: condition}, document), (condition, document)


SORT_VALUES = st.one_of(
    st.integers(-2, 2),
    st.sampled_from([0.5, -0.0, 2.0, math.nan]),
    st.sampled_from(["", "a", "B", "ab"]),
    st.sampled_from([SOME_OID, ObjectId("65a000000000000000000001")]),
    st.booleans(),
    st.sampled_from([dt.datetime(2031, 3, 11), dt.datetime(2030, 1, 1)]),
    st.none(),
    st.lists(st.integers(0, 2), max_size=2),
)
SORTED_DOCUMENTS = st.lists(
    st.one_of(
        st.fixed_dictionaries({"n": st.integers(0, 99)}, optional={"a": SORT_VALUES}),
        st.fixed_dictionaries({"n": st.integers(0, 99), "a": st.integers(-2, 2)}),
        st.fixed_dictionaries({"n": st.integers(0, 99), "a": st.sampled_from(["a", "b"])}),
        st.fixed_dictionaries({"b": st.fixed_dictionaries({"c": SORT_VALUES})}),
    ),
    max_size=8,
)


@settings(max_examples=2000, deadline=None)
@given(
    SORTED_DOCUMENTS,
    st.dictionaries(st.sampled_from(["a", "n", "b.c", "x"]), st.sampled_from([1, -1]), min_size=1),
)
def test_a_taught_sort_orders_as_mongomock_does(documents, order):
    sorted_before = outcome(lambda: mm_aggregate._handle_sort_stage(documents, None, order))
    sorted_now = outcome(lambda: embedded._sort_stage(documents, None, order))
    assert sorted_now[0] == sorted_before[0]
    if sorted_now[0] == "answers":
        expected = mm_aggregate._handle_sort_stage(documents, None, order)
        assert embedded._sort_stage(documents, None, order) == expected


# --- a plain equality on an indexed field finds its documents through that field's values ----

EQUAL_VALUES = [
    "a",
    "b",
    "65a000000000000000000009",
    SOME_OID,
    1,
    1.0,
    True,
    0,
    None,
    dt.datetime(2031, 3, 11),
]


def indexed_world(rng):
    collection = embedded.new_client()["embedded_test"]["indexed"]
    collection.create_index([("k", ASCENDING), ("n", ASCENDING)])
    for n in range(120):
        document = {"_id": n, "n": n % 7}
        shape = rng.randrange(5)
        if shape == 1:
            document["k"] = rng.choice(EQUAL_VALUES)
        elif shape == 2:
            document["k"] = rng.sample(EQUAL_VALUES, 2) + [[rng.choice(EQUAL_VALUES)]]
        elif shape == 3:
            document["k"] = {"k": rng.choice(EQUAL_VALUES)}
        elif shape == 4:
            document["k"] = (rng.choice(EQUAL_VALUES),)
        collection.insert_one(document)
    return collection


def scanned(collection, search_filter):
    """The _ids mongomock's own scan finds, in store order."""
    documents = collection._store._documents.values()
    return [doc["_id"] for doc in documents if mm_filtering.filter_applies(search_filter, doc)]


def test_an_indexed_equality_finds_what_a_scan_finds(filter_calls):
    rng = random.Random(3)
    collection = indexed_world(rng)
    for value in EQUAL_VALUES:
        for search_filter in ({"k": value}, {"k": value, "n": {"$lt": 4}}, {"n": 2, "k": value}):
            found = [doc["_id"] for doc in collection.find(search_filter)]
            assert found == scanned(collection, search_filter), search_filter
    filter_calls.clear()
    assert [doc["_id"] for doc in collection.find({"k": "b"})] == scanned(collection, {"k": "b"})
    assert 0 < len(filter_calls) < 120 / 2  # only the documents that may hold "b"


def test_an_indexed_equality_sees_every_write_before_it():
    rng = random.Random(4)
    collection = indexed_world(rng)
    writes = [
        lambda: collection.update_one({"_id": 3}, {"$set": {"k": "b"}}),
        lambda: collection.update_many({"k": "b"}, {"$set": {"k": ["a", "z"]}}),
        lambda: collection.update_one({"k": "new"}, {"$set": {"n": 1}}, upsert=True),
        lambda: collection.find_one_and_update({"k": "new"}, {"$set": {"k": SOME_OID}}),
        lambda: collection.replace_one({"_id": 5}, {"k": str(SOME_OID)}),
        lambda: collection.delete_many({"k": "a"}),
        lambda: collection.insert_many([{"k": "z"}, {"k": ["z", 1]}]),
        lambda: collection.drop(),
        lambda: collection.insert_one({"k": "z"}),
    ]
    for write in writes:
        write()
        for value in ("a", "b", "z", "new", SOME_OID, str(SOME_OID), 1):
            found = [doc["_id"] for doc in collection.find({"k": value})]
            assert found == scanned(collection, {"k": value}), (write, value)


def test_a_one_field_clause_answers_as_filter_applies_on_arrays_tuples_and_gaps():
    # The short way a positive clause on a top-level field takes: a plain value to equal, or
    # one operator, against a missing field, None, scalars, lists and tuples holding it.
    stored = [None, "a", 1, 1.0, SOME_OID, str(SOME_OID), ["a"], ["a", 1], ("a", None), (), [["a"]]]
    documents = [{}, *({"a": value} for value in stored), {"a": {"b": 1}}, "a", None]
    conditions = [*stored[:6], ["a"], {"b": 1}, {}, {"$in": ["a", None]}, {"$gt": 0}]
    conditions += [{"$not": {"$lt": 1}}, {"$size": 2}, {"$exists": True}, {"$eq": None}]
    for condition in conditions:
        for document in documents:
            for search_filter in ({"a": condition}, {"a": condition, "b": {"$exists": False}}):
                assert same_answer(search_filter, document), (search_filter, document)


class Pair(collections.namedtuple("Pair", "x y")):
    """A tuple of another type, as a raw document may hold one."""


class Items(list):
    """A list of another type."""


def test_arrays_of_other_types_answer_as_filter_applies():
    # The checks made in C (dicts only, no array among the values) look at exact types; a
    # subclass of list or tuple takes the long way.
    values = [Pair("x", 1), Items(["x"]), ("x",), ["y", "x"], "x", "y", None]
    for value in values:
        for array in ([{"b": value}], [{"b": "z"}, {"b": value}], Items([{"b": value}])):
            document = {"a": array}
            for search_filter in (
                {"a.b": "x"},
                {"a": {"$elemMatch": {"b": "x"}}},
                {"a": {"$elemMatch": {"b": "x", "c": {"$exists": False}}}},
            ):
                assert same_answer(search_filter, document), (search_filter, document)


def test_a_path_through_an_array_answers_as_filter_applies():
    # The last part of a path read in each document of an array: missing there, in a
    # non-document element, a number-like part (an index), an empty part.
    arrays = [[], [{"b": 1}], [{"c": 1}, {"b": None}], [3, {"b": [1, 2]}, [{"b": 1}]], ({"b": 1},)]
    arrays += [[{"b": True}, {"b": 1.0}], [{"b": "x"}], [{"b": "y"}, {"b": ("x", 1)}, "x"]]
    documents = [{"a": array} for array in arrays] + [{"a": {"x": array}} for array in arrays]
    paths = ["a.b", "a.x.b", "a.0", "a. 0", "a.", "a.x.", "a.+0", "a.x.c"]
    for path in paths:
        conditions = (
            1,
            "x",
            True,
            None,
            {"$exists": False},
            {"$ne": 1},
            {"$in": [None, 2]},
            [1, 2],
        )
        for condition in conditions:
            for document in documents:
                assert same_answer({path: condition}, document), (path, condition, document)


# --- mongomock's datetime patch and $project, taught to do less work -------------------------

PATCHED_LEAVES = st.one_of(
    LEAVES,
    st.datetimes(timezones=st.sampled_from([None, dt.UTC, dt.timezone(dt.timedelta(hours=5))])),
    st.just(Timestamp(5, 3)),
    st.just(b"bytes"),
)
PATCHED_VALUES = st.recursive(
    PATCHED_LEAVES,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.lists(inner, max_size=3).map(tuple),
        st.dictionaries(KEYS, inner, max_size=3),
        st.dictionaries(KEYS, inner, max_size=3).map(collections.OrderedDict),
    ),
    max_leaves=8,
)


def shape(value):
    """The value with the type of every part of it, so equal shapes mean identical values."""
    if isinstance(value, dict):
        return type(value), [(key, shape(item)) for key, item in value.items()]
    if isinstance(value, (list, tuple)):
        return type(value), [shape(item) for item in value]
    return type(value), repr(value)


@contextlib.contextmanager
def untaught():
    """mongomock's own conversions and copy in place again: they call themselves by name."""
    names = [
        (mm_helpers, "patch_datetime_awareness_in_document", embedded._mm_patch),
        (mm_helpers, "make_datetime_timezone_aware_in_document", embedded._mm_aware),
        (mm_collection, "_copy_field", embedded._mm_copy_field),
        (mongomock.Collection, "_copy_only_fields", embedded._mm_copy_only_fields),
    ]
    taught = [getattr(module, name) for module, name, _ in names]
    for module, name, original in names:
        setattr(module, name, original)
    try:
        yield
    finally:
        for (module, name, _), now in zip(names, taught, strict=True):
            setattr(module, name, now)


@settings(max_examples=2000, deadline=None)
@given(PATCHED_VALUES)
def test_the_taught_conversions_and_copy_answer_as_mongomocks(value):
    with untaught():
        expected = conversions(
            value,
            embedded._mm_patch,
            embedded._mm_aware,
            embedded._mm_copy_field,
            lambda value: embedded._mm_aware(embedded._mm_copy_field(value, dict)),
        )
    taught = (embedded._patched, embedded._aware, embedded._copy_field, embedded._copy_aware)
    assert conversions(value, *taught) == expected


def conversions(value, patch, aware, copy_field, aware_copy):
    """Each conversion of the value: its shape, and how many containers it shares with it."""
    converted = [
        patch(value),
        aware(value),
        copy_field(value, dict),
        copy_field(value, collections.OrderedDict),
        aware_copy(value),  # what a tz-aware client's aggregate returns
    ]
    return [(shape(each), shared_containers(each, value)) for each in converted]


def shared_containers(converted, value):
    """How many dicts and lists of the converted value are the value's own objects."""
    return len(containers(converted) & containers(value))


def containers(value):
    """The ids of the dicts and lists in the value (itself included), tuples looked into."""
    if not isinstance(value, (dict, list, tuple)):
        return set()
    found = set() if isinstance(value, tuple) else {id(value)}
    for item in value.values() if isinstance(value, dict) else value:
        found |= containers(item)
    return found


def test_mongomock_uses_the_taught_functions():
    embedded.new_client()
    assert mm_helpers.patch_datetime_awareness_in_document is embedded._patched
    assert mm_helpers.make_datetime_timezone_aware_in_document is embedded._aware
    assert mm_collection._copy_field is embedded._copy_field
    assert mongomock.Collection._copy_only_fields is embedded._copy_only_fields
    # Its version checks get the same Version, parsed once.
    assert mm_collection.version.parse("3.6") == packaging_version.parse("3.6")
    assert mm_collection.version.parse("3.6") is mm_collection.version.parse("3.6")
    assert mm_aggregate.version is mm_collection.version


PROJECTED_DOCUMENTS = st.lists(
    st.dictionaries(st.sampled_from(["_id", "a", "b", "c"]), DOC_VALUES, max_size=4), max_size=3
)
PROJECTIONS = st.one_of(
    st.dictionaries(
        st.sampled_from(["_id", "a", "b", "a.b", "$a", ""]),
        st.sampled_from([0, 1, True, False, 1.0, 2, "$a", {"$literal": 1}]),
        max_size=3,
    ),
    st.lists(st.sampled_from(["a", "b"]), max_size=2),
)


@settings(max_examples=2000, deadline=None)
@given(PROJECTED_DOCUMENTS, PROJECTIONS)
def test_a_taught_project_answers_as_mongomocks(documents, spec):
    expected = outcome(lambda: mm_aggregate._handle_project_stage(documents, None, spec))
    taught = outcome(lambda: embedded._project_stage(documents, None, spec))
    assert taught == expected
    if expected[0] == "answers":
        before = mm_aggregate._handle_project_stage(documents, None, spec)
        assert shape(embedded._project_stage(documents, None, spec)) == shape(before)


def test_an_inclusion_project_is_taught_and_others_go_to_mongomock(monkeypatch):
    calls = []
    original = mm_aggregate._handle_project_stage

    def counting(*args):
        calls.append(args[2])
        return original(*args)

    monkeypatch.setattr(mm_aggregate, "_handle_project_stage", counting)
    documents = [{"_id": 1, "a": 2, "b": {"c": 3}}]
    assert embedded._project_stage(documents, None, {"b": 1, "_id": 0}) == [{"b": {"c": 3}}]
    assert embedded._project_stage(documents, None, {"_id": True}) == [{"_id": 1}]
    assert calls == []
    assert embedded._project_stage(documents, None, {"b.c": 1}) == [{"_id": 1, "b": {"c": 3}}]
    assert embedded._project_stage(documents, None, {"a": 0}) == [{"_id": 1, "b": {"c": 3}}]
    assert calls == [{"b.c": 1}, {"a": 0}]


def test_an_in_list_of_one_kind_answers_as_filter_applies():
    other = ObjectId("65a000000000000000000001")
    lists = [[SOME_OID], [SOME_OID, other], [str(SOME_OID)], ["a", "b"], ("a",), [SOME_OID, "a"]]
    lists += [["a", None], [None, SOME_OID], [None], []]
    stored = [SOME_OID, other, str(SOME_OID), "a", "c", None, 1, [SOME_OID], ["c", "a"], []]
    documents = [{}, *({"a": value} for value in stored), {"a": {"b": SOME_OID}}, "a"]
    for values in lists:
        for operator in ("$in", "$nin"):
            for document in documents:
                for path in ("a", "a.b"):
                    search_filter = {path: {operator: values}}
                    assert same_answer(search_filter, document), (search_filter, document)


FOUND_DOCUMENTS = st.dictionaries(st.sampled_from(["_id", "a", "b", "c"]), DOC_VALUES, max_size=4)
FIND_PROJECTIONS = st.dictionaries(
    st.sampled_from(["_id", "a", "b", "a.b", "$a", ""]),
    st.sampled_from([0, 1, True, False, 1.0, 2, {"$slice": 1}]),
    max_size=3,
)


@settings(max_examples=2000, deadline=None)
@given(FOUND_DOCUMENTS, FIND_PROJECTIONS)
def test_a_taught_find_projection_answers_as_mongomocks(document, projection):
    collection = embedded.new_client()["embedded_test"]["projected"]
    asked_before, asked_now = dict(projection), dict(projection)
    with untaught():
        before = outcome(
            lambda: embedded._mm_copy_only_fields(collection, document, asked_before, dict)
        )
    now = outcome(lambda: embedded._copy_only_fields(collection, document, asked_now, dict))
    assert now == before
    assert shape(asked_now) == shape(asked_before)  # the same change to the caller's projection
    if before[0] == "answers":
        with untaught():
            expected = embedded._mm_copy_only_fields(collection, document, dict(projection), dict)
        taught = embedded._copy_only_fields(collection, document, dict(projection), dict)
        assert shape(taught) == shape(expected)
