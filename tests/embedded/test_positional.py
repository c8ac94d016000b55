"""find_one_and_update's positional `$` updates the element the filter matched; any other
update answers exactly as mongomock's own find_one_and_update."""

import inspect

import mongomock
import pytest
from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError

from halls import embedded

ITEMS = [{"key": "a", "price": 1}, {"key": "b", "price": 2}, {"key": "c", "price": 3}]
# mongomock's find_one_and_update, without what halls.embedded wraps around it.
MONGOMOCKS_OWN = inspect.unwrap(mongomock.Collection.find_one_and_update)


def venues():
    collection = embedded.new_client()["embedded_test"]["venues"]
    collection.create_index("name", unique=True, sparse=True)
    collection.insert_many([{"_id": 1, "items": ITEMS}, {"_id": 2, "items": ITEMS, "n": 5}])
    return collection


@pytest.mark.parametrize("returned", [ReturnDocument.BEFORE, ReturnDocument.AFTER])
def test_find_and_modify_updates_the_element_the_filter_matched(returned):
    """The positional `$` means the matched element, as on a server (mongomock took the first)."""
    collection = venues()
    found = collection.find_one_and_update(
        {"status": {"$ne": "deleted"}, "items.key": "b"},
        {"$set": {"items.$.price": 20}},
        projection={"items": 1},
        sort=[("_id", -1)],
        return_document=returned,
    )
    changed = [ITEMS[0], {"key": "b", "price": 20}, ITEMS[2]]
    assert found == {"_id": 2, "items": changed if returned is ReturnDocument.AFTER else ITEMS}
    assert collection.find_one({"_id": 2})["items"] == changed
    assert collection.find_one({"_id": 1})["items"] == ITEMS
    no_match = {"_id": 2, "items.key": "z"}
    assert collection.find_one_and_update(no_match, {"$set": {"items.$.price": 0}}) is None
    assert collection.find_one({"_id": 2})["items"] == changed


POSITIONAL = [
    ({"items.key": "c"}, {"$set": {"items.$.price": 30}}),
    ({"_id": 1, "items.price": {"$gte": 2}}, {"$inc": {"items.$.price": 100}}),
    ({"items": {"$elemMatch": {"key": "b"}}}, {"$set": {"items.$.key": "B"}, "$inc": {"n": 1}}),
]


@pytest.mark.parametrize(("query", "update"), POSITIONAL)
def test_a_positional_update_changes_what_update_one_changes(query, update):
    # mongomock's own update_one applies `$` as a server does: the same filter, the same change.
    taught, reference = venues(), venues()
    taught.find_one_and_update(query, update)
    reference.update_one(query, update)
    assert list(taught.find()) == list(reference.find())


def other_updates(collection, find_one_and_update):
    """What a run of updates without a positional `$` answers, and leaves stored."""

    def call(*args, **kwargs):
        return find_one_and_update(collection, *args, **kwargs)

    answers = [
        call({"_id": 2}, {"$set": {"n": 6}}),
        call({"n": 6}, {"$inc": {"n": 1}}, return_document=ReturnDocument.AFTER),
        call({}, {"$push": {"items": {"key": "d"}}}, sort=[("_id", -1)], projection={"n": 1}),
        call({"_id": 9}, {"$set": {"n": 1}}),
        call({"_id": 9}, {"$set": {"n": 1}}, upsert=True, return_document=ReturnDocument.AFTER),
        call({"items.key": "a"}, {"$set": {"items.0.price": 0}}),  # an index, not `$`
        call({"_id": 10, "name": "x"}, {"$set": {"n": 2}}, upsert=True),
    ]
    try:
        call({"_id": 11, "name": "y"}, {"$set": {"name": "x"}}, upsert=True)
    except DuplicateKeyError as error:
        answers.append(type(error))
    return answers, list(collection.find())


def test_other_updates_answer_as_mongomocks_own():
    taught = other_updates(venues(), mongomock.Collection.find_one_and_update)
    assert taught == other_updates(venues(), MONGOMOCKS_OWN)
    assert taught[0][-1] is DuplicateKeyError
