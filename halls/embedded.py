"""The zero-setup backend: mongomock, taught the server features halls relies on.

1. Single-document atomicity. A MongoDB server applies each write (an upsert, a
   find-and-modify, an insert with its unique-index check) as one indivisible step. mongomock
   checks unique indexes after writing, in Python, so two threads can interleave between the
   check and the write. We serialise mongomock's write paths behind one lock, which is what the
   server guarantees per document; queries stay the same pymongo calls on both backends.
   mongomock also updates stored documents in place, so a read copying a document while a
   write changes it would see half a write (or fail: "dictionary changed size"); reads take
   the same lock, as a server never shows a document halfway through a write.
2. The `$geoNear` aggregation stage (2dsphere, GeoJSON points, distances in metres), which
   mongomock does not implement. Search sends the same pipeline to both backends.
   An aggregation reads from the store only the documents its leading `$match` or `$geoNear`
   keeps, as a server does from its indexes; mongomock copied the whole collection first.
4. A filter with a plain `_id` equality (or an `_id` `$in` list) finds its documents by key, as
   a server finds them by the `_id` index, and tests the rest of the filter on those documents
   alone; mongomock tested every stored document. Every read and write path goes through it
   (`_iter_documents`).
3. The positional `$` in a find-and-modify (`addons.$.price`) updates the array element the
   filter matched, as on a server; mongomock updated the first element.

Nothing here changes a query; it only makes mongomock execute what a server executes.
"""

import functools
import math
import threading

import mongomock
from bson import ObjectId
from mongomock import aggregate as mm_aggregate
from mongomock import filtering as mm_filtering
from mongomock import helpers as mm_helpers
from pymongo import ReturnDocument

# MongoDB's own radius for spherical distances (geoconstants.h: kRadiusOfEarthInMeters).
EARTH_RADIUS_M = 6378.1 * 1000

_WRITE_METHODS = (
    "insert_one",
    "insert_many",
    "update_one",
    "update_many",
    "replace_one",
    "delete_one",
    "delete_many",
    "find_one_and_update",
    "find_one_and_replace",
    "find_one_and_delete",
    "bulk_write",
    "create_index",
    "create_indexes",
)
# Where mongomock reads stored documents: cursors (find, find_one) and the other readers.
_READ_METHODS = ("count_documents", "estimated_document_count", "distinct", "aggregate")
# `_id` types whose store key is the value itself (mongomock keys a document id by a hashdict).
_KEY_TYPES = (ObjectId, str, int)
_write_lock = threading.RLock()
_taught = False
_shared_client = None


def teach():
    """Install what we teach mongomock, once per process."""
    global _taught
    if _taught:
        return
    mongomock.Collection.aggregate = _aggregate
    mongomock.Collection._iter_documents = _by_key(mongomock.Collection._iter_documents)
    for name in (*_WRITE_METHODS, *_READ_METHODS):
        setattr(mongomock.Collection, name, _atomic(getattr(mongomock.Collection, name)))
    cursor = mongomock.collection.Cursor
    cursor._compute_results = _atomic(cursor._compute_results)
    mm_aggregate._PIPELINE_HANDLERS["$geoNear"] = _geo_near_stage
    mongomock.Collection._find_and_modify = _positional_aware(mongomock.Collection._find_and_modify)
    _taught = True


def _atomic(method):
    @functools.wraps(method)
    def locked(*args, **kwargs):
        with _write_lock:
            return method(*args, **kwargs)

    return locked


def _positional_aware(find_and_modify):
    """find-and-modify whose positional `$` updates the array element the filter matched.

    mongomock narrows the filter to {_id} before it updates, which forgets the element that
    `addons.$.price` refers to and updates the first one instead; a server never does.
    """

    @functools.wraps(find_and_modify)
    def modify(
        self,
        query,
        projection=None,
        update=None,
        upsert=False,
        sort=None,
        return_document=ReturnDocument.BEFORE,
        **kwargs,
    ):
        target = self.find_one(query, {"_id": 1}, sort=sort) if _positional(update) else None
        if target is None:
            return find_and_modify(
                self, query, projection, update, upsert, sort, return_document, **kwargs
            )
        pinned = {"_id": target["_id"]}
        before = self.find_one(pinned, projection)
        self._update({**query, **pinned}, update, False)
        after = return_document is ReturnDocument.AFTER or kwargs.get("new")
        return self.find_one(pinned, projection) if after else before

    return modify


def _positional(update):
    operators = update.values() if isinstance(update, dict) else []
    return any(".$" in path for fields in operators if isinstance(fields, dict) for path in fields)


def new_client():
    """A fresh, empty in-memory server (tests take one per app)."""
    teach()
    return mongomock.MongoClient(tz_aware=True)


def client():
    """The process-wide in-memory server that gunicorn's threads share."""
    global _shared_client
    if _shared_client is None:
        _shared_client = new_client()
    return _shared_client


def _aggregate(self, pipeline, session=None, **unused_kwargs):
    """Collection.aggregate that copies only the stored documents its leading stage keeps.

    The whole pipeline still runs on the copies, its first stage included, so the answer is the
    one mongomock gave when it copied every document first.
    """
    spec, keeps = _leading_filter(pipeline)
    in_collection = [
        self._copy_only_fields(document, None, dict)
        for document in self._iter_documents(spec)
        if keeps is None or keeps(document)
    ]
    if self.codec_options.tz_aware:
        in_collection = [
            mm_helpers.make_datetime_timezone_aware_in_document(doc) for doc in in_collection
        ]
    return mm_aggregate.process_pipeline(in_collection, self.database, pipeline, session)


def _by_key(iter_documents):
    """_iter_documents that finds a filter's plain `_id` equality, or `_id` `$in`, by key."""

    @functools.wraps(iter_documents)
    def iterate(self, filter):
        keys = _id_keys(filter)
        if keys is None or self._store.is_empty:  # is_empty expires TTL first
            return iter_documents(self, filter)
        stored = self._store._documents
        found = [stored[key] for key in keys if key in stored]
        if not found:
            mm_filtering.filter_applies(filter, {})  # still refuse a malformed filter
        return iter([doc for doc in found if mm_filtering.filter_applies(filter, doc)])

    return iterate


def _id_keys(filter):
    """The store keys a filter's `_id` equality or `$in` names, each once; None to scan."""
    wanted = filter.get("_id") if isinstance(filter, dict) else None
    if isinstance(wanted, dict) and list(wanted) == ["$in"] and isinstance(wanted["$in"], list):
        keys = wanted["$in"]
    else:
        keys = [wanted]
    # Only ids equal exactly when their keys are equal (not regexes, documents, booleans).
    if not all(type(key) in _KEY_TYPES for key in keys):
        return None
    return list(dict.fromkeys(keys))  # without a sort the order is the server's own business


def _leading_filter(pipeline):
    """The filter and the test a stored document must pass to reach the pipeline at all."""
    first = pipeline[0] if isinstance(pipeline, (list, tuple)) and pipeline else None
    if not isinstance(first, dict) or len(first) != 1:
        return {}, None
    ((operator, options),) = first.items()
    if operator == "$match" and isinstance(options, dict):
        return mm_helpers.patch_datetime_awareness_in_document(options), None
    if operator == "$geoNear" and isinstance(options, dict) and options.get("key"):
        near = _Near(options)
        return {}, lambda document: near.distance_m(document) is not None
    return {}, None


class _Near:
    """What a $geoNear keeps: its query, then a `key` location within the distance bounds."""

    def __init__(self, options):
        self.key = options.get("key")
        if not self.key:
            raise NotImplementedError("halls' embedded $geoNear needs the `key` option")
        self.point = _point(options["near"])
        self.max_distance = options.get("maxDistance")
        self.min_distance = options.get("minDistance")
        # Read as a $match reads its filter: datetimes in UTC to the millisecond, as stored.
        self.query = mm_helpers.patch_datetime_awareness_in_document(options.get("query") or {})

    def distance_m(self, document):
        """The document's distance in metres if the stage keeps it, else None."""
        # Distance first, as the server walks its 2dsphere index before it applies the query.
        try:
            location = mm_helpers.get_value_by_dot(document, self.key)
        except KeyError:
            return None
        distance = haversine_m(self.point, _point(location))
        if self.max_distance is not None and distance > self.max_distance:
            return None
        if self.min_distance is not None and distance < self.min_distance:
            return None
        if self.query and not mm_filtering.filter_applies(self.query, document):
            return None
        return distance


def _geo_near_stage(in_collection, database, options):
    """$geoNear as the server runs it for a 2dsphere index and a GeoJSON `near`."""
    near = _Near(options)
    distance_field = options["distanceField"]
    multiplier = options.get("distanceMultiplier", 1)
    found = []
    for document in in_collection:
        distance = near.distance_m(mm_helpers.patch_datetime_awareness_in_document(document))
        if distance is not None:
            found.append((distance, document))
    found.sort(key=lambda pair: pair[0])
    results = []
    for distance, document in found:
        document = dict(document)
        _set_path(document, distance_field, distance * multiplier)
        results.append(document)
    return results


def _set_path(document, path, value):
    # Like the server, a dotted distanceField creates the embedded documents it needs.
    *parents, last = path.split(".")
    for part in parents:
        document = document.setdefault(part, {})
    document[last] = value


def _point(value):
    if isinstance(value, dict):
        value = value["coordinates"]
    return float(value[0]), float(value[1])


def haversine_m(a, b):
    """Great-circle distance in metres between two (lng, lat) points."""
    lng1, lat1, lng2, lat2 = map(math.radians, (*a, *b))
    h = (
        math.sin((lat2 - lat1) / 2) ** 2
        + math.cos(lat1) * math.cos(lat2) * math.sin((lng2 - lng1) / 2) ** 2
    )
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))
