"""The taught `$geoNear` stage: distances, options, and what it leaves alone."""

import copy
import datetime as dt
import math

import pytest
from pymongo import GEOSPHERE, IndexModel

from halls import embedded
from halls.embedded import geo_near as stage

LAHORE = (74.3587, 31.5204)
ISLAMABAD = (73.0551, 33.7215)
KARACHI = (67.0300, 24.8138)
PESHAWAR = (71.5249, 34.0151)
COORDINATES = {"lahore": LAHORE, "islamabad": ISLAMABAD, "peshawar": PESHAWAR, "karachi": KARACHI}
OPENED = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)


def distance_m(a, b):
    """Spherical law of cosines: a second formula, not the module's haversine."""
    (lng1, lat1), (lng2, lat2) = [(math.radians(x), math.radians(y)) for x, y in (a, b)]
    cosine = math.sin(lat1) * math.sin(lat2) + math.cos(lat1) * math.cos(lat2) * math.cos(
        lng2 - lng1
    )
    return 6378.1 * 1000 * math.acos(max(-1.0, min(1.0, cosine)))


def point(lng, lat):
    return {"type": "Point", "coordinates": [lng, lat]}


@pytest.fixture
def places():
    collection = embedded.new_client()["embedded_test"]["places"]
    collection.create_indexes([IndexModel([("loc", GEOSPHERE)])])
    collection.insert_many(
        [
            {
                "_id": name,
                "kind": kind,
                "loc": point(*COORDINATES[name]),
                "meta": {"rank": n},
                "opened": OPENED + dt.timedelta(days=n, microseconds=n * 1_700),
            }
            for n, (name, kind) in enumerate(
                [("lahore", "city"), ("islamabad", "capital"), ("karachi", "city")]
                + [("peshawar", "city")]
            )
        ]
    )
    collection.insert_one({"_id": "nowhere", "kind": "city"})  # no location: never near
    return collection


def near_lahore(**options):
    return {"$geoNear": {"near": point(*LAHORE), "key": "loc", "distanceField": "dist", **options}}


def geo_near(collection, **options):
    return list(collection.aggregate([near_lahore(**options)]))


def test_distances_match_the_great_circle(places):
    found = geo_near(places)
    assert [doc["_id"] for doc in found] == ["lahore", "islamabad", "peshawar", "karachi"]
    for doc in found:
        assert doc["dist"] == pytest.approx(distance_m(LAHORE, COORDINATES[doc["_id"]]), abs=1)
    assert 265_000 < found[1]["dist"] < 275_000
    assert found[0]["dist"] == 0


def test_max_distance_query_and_multiplier(places):
    within_400km = geo_near(places, maxDistance=400_000)
    assert [doc["_id"] for doc in within_400km] == ["lahore", "islamabad", "peshawar"]
    cities = geo_near(places, maxDistance=400_000, query={"kind": "city"})
    assert [doc["_id"] for doc in cities] == ["lahore", "peshawar"]
    in_km = geo_near(places, distanceMultiplier=0.001, query={"_id": "islamabad"})
    assert in_km[0]["dist"] == pytest.approx(distance_m(LAHORE, ISLAMABAD) / 1000, abs=0.001)


def test_min_distance_a_dotted_field_and_later_stages(places):
    stages = [near_lahore(distanceField="meta.dist", minDistance=1), {"$sort": {"meta.dist": -1}}]
    found = list(places.aggregate([*stages, {"$limit": 2}]))
    assert [doc["_id"] for doc in found] == ["karachi", "peshawar"]
    assert found[0]["meta"] == {"rank": 2, "dist": pytest.approx(distance_m(LAHORE, KARACHI))}


def test_a_legacy_pair_is_a_point_too(places):
    places.insert_one({"_id": "pair", "loc": list(ISLAMABAD)})
    found = geo_near(places, maxDistance=300_000)
    assert [doc["_id"] for doc in found] == ["lahore", "islamabad", "pair"]
    assert found[1]["dist"] == found[2]["dist"]  # a tie keeps the documents' order


QUERIES = [
    {"kind": "city"},
    {"kind": {"$in": ["capital", "town"]}, "meta.rank": {"$lt": 3}},
    {"$or": [{"kind": "capital"}, {"meta.rank": 3}]},
    # A time to the microsecond: compared at the millisecond a server stores.
    {"opened": {"$gte": OPENED + dt.timedelta(days=2, microseconds=3_400)}},
    {"opened": {"$lt": dt.datetime(2025, 1, 2, 5, tzinfo=dt.timezone(dt.timedelta(hours=5)))}},
    {},
]


@pytest.mark.parametrize("query", QUERIES)
def test_a_query_answers_as_the_same_match_would(places, query):
    # A server wants $geoNear first; mongomock runs a later one over what reaches it.
    with_query = list(places.aggregate([near_lahore(query=query)]))
    after_match = list(places.aggregate([{"$match": query}, near_lahore()]))
    assert with_query == after_match
    matched = {doc["_id"] for doc in places.aggregate([{"$match": query}])} - {"nowhere"}
    assert {doc["_id"] for doc in with_query} == matched


def test_the_queries_do_select(places):
    # The comparison above would prove little if every query kept all or nothing.
    kept = [len(geo_near(places, query=query)) for query in QUERIES]
    assert kept == [3, 1, 2, 2, 1, 4]


def test_geo_near_leaves_stored_documents_alone(places):
    before = list(places.find())
    found = geo_near(places, distanceField="meta.dist")
    found += list(places.aggregate([{"$match": {}}, near_lahore(distanceField="loc.d")]))
    assert all("dist" in doc["meta"] or "d" in doc["loc"] for doc in found)
    assert list(places.find()) == before


def test_the_stage_changes_none_of_its_input():
    # mongomock hands a stage copies; the distance still goes into copies of its own.
    documents = [{"_id": 1, "loc": point(*KARACHI), "meta": {"rank": 1}}]
    before = copy.deepcopy(documents)
    found = stage.geo_near_stage(documents, None, near_lahore(distanceField="meta.d")["$geoNear"])
    assert found[0]["meta"]["d"] > 0
    assert documents == before


def test_geo_near_needs_the_key_option(places):
    with pytest.raises(NotImplementedError, match="key"):
        places.aggregate([{"$geoNear": {"near": point(0, 0), "distanceField": "d"}}])


@pytest.mark.parametrize(
    "location", [{"type": "Point", "coordinates": "x"}, {"type": "Point"}, [1], "here"]
)
def test_a_malformed_location_fails_the_stage(places, location):
    # A server refuses to store it under a 2dsphere index; here the search fails on it.
    places.insert_one({"_id": "bad", "loc": location})
    with pytest.raises((ValueError, KeyError, IndexError)):
        geo_near(places)


@pytest.mark.parametrize("near", [{"type": "Point"}, [74.3], None])
def test_a_malformed_near_fails_the_stage(places, near):
    with pytest.raises((KeyError, IndexError, TypeError)):
        geo_near(places, near=near)
