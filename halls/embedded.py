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
   An aggregation applies its leading `$match` or `$geoNear` to the store once and copies only
   the documents it keeps (only the fields an inclusion `$project` next in line reads), as a
   server reads from its indexes; mongomock copied the whole collection first. When the
   stages after it only read their documents (match, sort, page, count, a top-level
   `$project`, a `$facet` of those), only the documents that leave the pipeline are copied.
   A `$geoNear` with a `maxDistance` walks a spatial index, as a server walks its 2dsphere
   index: the stored documents bucketed by the grid cell of their `key` point (kept with
   the radians and cosine the distance needs), built when first asked and dropped by any
   write to the collection, so only documents in the cells a point that near can lie in,
   and within the circle's bounding box, are tested (all of them for a circle over a pole
   or across the antimeridian, without a maxDistance, or in a collection whose documents
   may expire).
3. The positional `$` in a find-and-modify (`addons.$.price`) updates the array element the
   filter matched, as on a server; mongomock updated the first element.
4. A filter with a plain `_id` equality (or an `_id` `$in` list) finds its documents by key, as
   a server finds them by the `_id` index, and tests the rest of the filter on those documents
   alone; mongomock tested every stored document. Every read and write path goes through it
   (`_iter_documents`). Found by `$in`, they come in the list's order (neither mongomock's nor
   a server's: halls sorts wherever order matters). Likewise a plain equality on the first
   field of a declared index (`held_by_venue`'s `date`) tests only the documents holding that
   value: an index of the field's values, built when first asked and dropped by any write to
   the collection (reads during a write scan; a collection whose documents may expire is
   always scanned).
5. A filter is compiled once per read, write, `$geoNear` or `$match` stage (`_compiled`):
   mongomock's `_Filterer.apply` worked out for the filter (which clauses are operators,
   negative or positive, which operator functions; two numbers, two strings or two datetimes
   compared directly) and run on each document, rather than the filter taken apart again for
   every document. It answers, and fails, as `filter_applies` does; what it does not take apart
   goes to `filter_applies` itself. A filter of one clause is that clause; `$and`/`$or`/`$nor`
   loop over their compiled parts; a positive clause on a field of plain dicts (one operator, or
   a plain value to equal) skips the steps that cannot apply to it; a path whose last part is
   read in each document of an array reads them directly; an `$elemMatch` whose first clause
   equals a string or an integer passes over the documents that clause refuses. Likewise a
   `$sort` compares values of one kind (numbers, strings, ObjectIds, booleans, datetimes)
   directly, as mongomock's BsonComparable would; a `$project` that only includes top-level
   fields keeps them without taking the spec apart for every document; and the datetime patch a
   `$match` applies to each document shares the values it leaves alone. Copies rebuild only what
   holds something mutable (a flat dict or list is copied in C); a find's projection that only
   includes, or only excludes, top-level fields is kept directly; and a tz-aware find copies
   each document once (the cursor's conversion is the copy).

Nothing here changes a query; it only makes mongomock execute what a server executes, or run
the same steps with less work (5).
"""

import collections
import datetime as dt
import functools
import math
import threading
import types
import weakref

import mongomock
from bson import ObjectId
from mongomock import OperationFailure
from mongomock import aggregate as mm_aggregate
from mongomock import collection as mm_collection
from mongomock import command_cursor as mm_command_cursor
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
# Values a copy may share with the store: nothing in them can change.
_IMMUTABLE = frozenset({str, int, float, bool, type(None), bytes, ObjectId})
# mongomock's own datetime conversions, which ours stand in for (see _patched and _aware).
_mm_patch = mm_helpers.patch_datetime_awareness_in_document
_mm_aware = mm_helpers.make_datetime_timezone_aware_in_document
_mm_copy_field = mm_collection._copy_field
_mm_copy_only_fields = mongomock.Collection._copy_only_fields
# mongomock compares pymongo's version with a constant (version.parse('3.6')) on every insert
# and every $set field: the same immutable Version each time, so parsed once.
_versions = types.SimpleNamespace(
    parse=functools.lru_cache(maxsize=None)(mm_collection.version.parse)
)
# The grid of the spatial index: cells this many degrees of latitude and longitude across.
CELL_DEGREES = 0.1
_write_lock = threading.RLock()
# Per collection store, the indexes built on it since its last write: {(kind, field): index}.
_indexes = weakref.WeakKeyDictionary()
_writing_now = 0  # writes under way (all in one thread: they hold _write_lock)
_taught = False
_shared_client = None


def teach():
    """Install what we teach mongomock, once per process."""
    global _taught
    if _taught:
        return
    mongomock.Collection.aggregate = _aggregate
    mongomock.Collection._iter_documents = _by_key(mongomock.Collection._iter_documents)
    for name in _WRITE_METHODS:
        setattr(mongomock.Collection, name, _writing(getattr(mongomock.Collection, name)))
    for name in _READ_METHODS:
        setattr(mongomock.Collection, name, _atomic(getattr(mongomock.Collection, name)))
    cursor = mongomock.collection.Cursor
    cursor._compute_results = _atomic(cursor._compute_results)
    mm_aggregate._PIPELINE_HANDLERS["$geoNear"] = _geo_near_stage
    mm_aggregate._PIPELINE_HANDLERS["$match"] = _match_stage
    mm_aggregate._PIPELINE_HANDLERS["$project"] = _project_stage
    mm_helpers.patch_datetime_awareness_in_document = _patched
    mm_helpers.make_datetime_timezone_aware_in_document = _aware
    mm_collection._copy_field = _copy_field
    mongomock.Collection._copy_only_fields = _copy_only_fields
    mm_collection.version = mm_aggregate.version = _versions
    mm_aggregate._PIPELINE_HANDLERS["$sort"] = _sort_stage
    mongomock.Collection._find_and_modify = _positional_aware(mongomock.Collection._find_and_modify)
    _taught = True


def _atomic(method):
    @functools.wraps(method)
    def locked(*args, **kwargs):
        with _write_lock:
            return method(*args, **kwargs)

    return locked


def _writing(method):
    """A write method, atomic, after which the collection's indexes of ours (spatial and
    equality) are dropped, to be built again when next asked."""

    @functools.wraps(method)
    def write(self, *args, **kwargs):
        global _writing_now
        with _write_lock:
            _writing_now += 1  # its own reads must not keep an index the write outdates
            try:
                return method(self, *args, **kwargs)
            finally:
                _writing_now -= 1
                _indexes.pop(self._store, None)  # mongomock changes documents in place

    return write


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
    """Collection.aggregate that reads from the store only what the pipeline needs of it.

    A leading `$match` or `$geoNear` is applied once, to the stored documents, as a server
    reads them from its indexes; mongomock copied every document and ran the stage on the
    copies. A `$project` next in line that only includes fields narrows each document to those
    fields, as a server reads no more of a document than the pipeline uses (and when it only
    includes top-level fields, the narrowed documents are its answer). When the stages after
    that only read their documents (_reads_only), they run on the stored values and only the
    documents that leave the pipeline are copied; otherwise what the leading stage keeps is
    copied first. Either way the answer is the one mongomock gave when it copied every
    document first.
    """
    lead = _Lead.of(pipeline)
    rest = pipeline[1:] if lead else pipeline
    fields = _included_fields(rest[0]) if rest else None
    if fields is not None and _narrowing_is(rest[0], fields, lead):
        rest = rest[1:]
    # A dotted distance field is set inside the document's own sub-documents: copy them first.
    dotted = lead is not None and "." in (lead.distance_field or "")
    copy_last = _reads_only(rest) and not dotted
    aware = self.codec_options.tz_aware
    found = lead.keep(self) if lead else ((None, doc) for doc in self._iter_documents({}))
    in_collection = []
    for distance, document in found:
        copied = _narrowed(document, fields) if copy_last else _copy_out(document, fields, aware)
        if distance is not None:
            _set_path(copied, lead.distance_field, distance * lead.multiplier)
        in_collection.append(copied)
    result = mm_aggregate.process_pipeline(in_collection, self.database, rest, session)
    if not copy_last:
        return result
    return mm_command_cursor.CommandCursor([_copy_out(doc, None, aware) for doc in result])


def _narrowed(document, fields):
    """The stored document's `fields` (all when None) in a dict of its own, their values
    still the stored ones: for stages that only read them (_reads_only)."""
    if fields is None:
        return dict(document)
    return {name: value for name, value in document.items() if name in fields}


def _narrowing_is(stage, fields, lead):
    """Whether the `$project` stage keeps exactly the `fields` _aggregate narrows each
    document to (top-level inclusions, with `_id`, and the lead's distance field among them),
    in the document's order as the narrowing does: it would change nothing."""
    included = _top_level_inclusion(stage["$project"])
    distance = lead.distance_field if lead else None
    return (
        included is not None
        and bool(included[1])
        and included[0] | {"_id"} == fields
        and (distance is None or distance in fields)
    )


def _reads_only(pipeline):
    """Whether every stage of the pipeline reads its documents without changing them or
    handing on what it has not built itself, and reads datetimes alike in UTC, naive or aware:
    `$match` (which tests a converted copy), `$sort`, `$skip`, `$limit`, `$count`, a `$project`
    of top-level fields (new documents, the values shared), and a `$facet` of such pipelines."""
    for stage in pipeline:
        if not isinstance(stage, dict) or len(stage) != 1:
            return False
        ((operator, options),) = stage.items()
        if operator == "$facet":
            if not isinstance(options, dict) or not all(
                isinstance(inner, list) and _reads_only(inner) for inner in options.values()
            ):
                return False
        elif operator == "$project":
            included = _top_level_inclusion(options) if options else None
            if not (included and (included[0] or included[1])):  # _project_stage's own way
                return False
        elif operator not in _READING_STAGES:
            return False
    return True


_READING_STAGES = frozenset({"$match", "$sort", "$skip", "$limit", "$count"})


def _copy_out(document, fields, aware):
    """A stored document as a read returns it (its `fields` only, when given): copied, with
    datetimes made UTC-aware when the client asks for that (_copy_aware)."""
    copied = _copy_aware if aware else _copy_plain
    if fields is None:
        return copied(document)
    # The narrowed document, copied in one go.
    return {
        name: value if type(value) in _IMMUTABLE else copied(value)
        for name, value in document.items()
        if name in fields
    }


def _included_fields(stage):
    """The top-level fields a `$project` stage that only includes fields, or computes them,
    reads (with `_id`); None when it may read any other field (an exclusion, `$$ROOT`)."""
    spec = stage.get("$project") if isinstance(stage, dict) and len(stage) == 1 else None
    if not isinstance(spec, dict) or not spec:
        return None
    fields = {"_id"}
    for path, value in spec.items():
        if not isinstance(path, str) or path.startswith("$"):
            return None
        if path == "_id" and value in (0, 1):  # includes True and False
            continue
        if value is True or (type(value) is int and value == 1):
            fields.add(path.split(".")[0])
            continue
        read = _fields_read(value) if isinstance(value, (dict, list, str)) else None
        if read is None:
            return None  # an exclusion, or an expression we cannot see into
        fields |= read
    return fields


def _fields_read(expression):
    """The top-level fields an aggregation expression reads, or None if it may read any."""
    if isinstance(expression, str):
        if expression.startswith("$$"):  # a variable: only ROOT and CURRENT are the document
            return None if expression[2:].split(".")[0] in ("ROOT", "CURRENT") else set()
        return {expression[1:].split(".")[0]} if expression.startswith("$") else set()
    if isinstance(expression, dict):
        parts = expression.values()
    elif isinstance(expression, list):
        parts = expression
    else:
        return set()
    fields = set()
    for part in parts:
        read = _fields_read(part)
        if read is None:
            return None
        fields |= read
    return fields


def _by_key(iter_documents):
    """_iter_documents that finds a filter's plain `_id` equality, or `_id` `$in`, by key, and
    tests documents with the filter compiled once (_compiled) rather than read per document
    (one document found by key is tested by mongomock's filter_applies: the same answer,
    without the cost of compiling)."""

    @functools.wraps(iter_documents)
    def iterate(self, filter):
        keys = _id_keys(filter)
        if self._store.is_empty:  # is_empty expires TTL first
            return iter_documents(self, filter)
        if keys is None:
            applies = _compiled(filter)
            found = _EqualityIndex.candidates(self._store, filter)
            if found is None:
                found = list(self._store.documents)
            return (doc for doc in found if applies(doc))
        stored = self._store._documents
        found = [stored[key] for key in keys if key in stored]
        if not found:
            # Still refuse a malformed filter, as a server does even when no document matches
            # (tested without the _id, which would end the test before the rest is read).
            mm_filtering.filter_applies({k: v for k, v in filter.items() if k != "_id"}, {})
            return iter(())
        if len(found) == 1:
            # One document: reading the filter once for it costs less than compiling it.
            return iter([doc for doc in found if _test_once(filter, doc)])
        applies = _compiled(filter)
        return iter([doc for doc in found if applies(doc)])

    return iterate


def _test_once(search_filter, document):
    """mongomock's filter_applies: what _compiled answers, for a filter used on one document."""
    return mm_filtering.filter_applies(search_filter, document)


# What `_Filterer.apply` reads of mongomock's filtering module.
_NOTHING = mm_filtering.NOTHING
_OPERATORS = mm_filtering._filterer_inst._operator_map
_COMPARISONS = {name: _OPERATORS[name] for name in mm_filtering.SORTING_OPERATOR_MAP}
# Exact types bson_compare orders as Python does, by the kind it compares them within.
_ORDERED_KINDS = {int: "number", float: "number", str: "string", dt.datetime: "datetime"}
_NEGATIVE = {"$ne", "$nin"}


def _compiled(search_filter):
    """mongomock's filter_applies(search_filter, document) as a function of the document: its
    `_Filterer.apply` worked out once for the filter (which clauses are operators, negative,
    positive, which operator functions) instead of again for every document, the same steps
    in the same order. Clauses it does not take apart (an unknown operator, `$expr`, `$all`,
    a top-level `$not`, a malformed one) go to filter_applies itself, so they answer, and
    fail, as before."""
    if not isinstance(search_filter, dict):
        return functools.partial(mm_filtering.filter_applies, search_filter)
    clauses = [_clause(key, search) for key, search in search_filter.items() if key != "$comment"]
    if len(clauses) == 1:
        return clauses[0]  # one clause answers, and fails, as the filter does

    def applies(document):
        for clause in clauses:  # noqa: SIM110 - a loop is cheaper than all() over a generator
            if not clause(document):
                return False
        return True

    return applies


def _as_is(key, search):
    return functools.partial(mm_filtering.filter_applies, {key: search})


def _clause(key, search):
    if key in _LOGICAL:
        if not search or not isinstance(search, list):
            return _as_is(key, search)
        subfilters = [_compiled(query) for query in search]
        return _LOGICAL[key](subfilters)
    if key.startswith("$") or (isinstance(search, dict) and "$all" in search):
        return _as_is(key, search)
    return _field_clause(key, search)


def _any_of(subfilters):
    def any_applies(document):
        for applies in subfilters:  # noqa: SIM110 - as any() over a generator, without one
            if applies(document):
                return True
        return False

    return any_applies


def _all_of(subfilters):
    def all_apply(document):
        for applies in subfilters:  # noqa: SIM110 - as all() over a generator, without one
            if not applies(document):
                return False
        return True

    return all_apply


def _none_of(subfilters):
    def none_applies(document):
        for applies in subfilters:  # noqa: SIM110 - as all(not ...) over a generator
            if applies(document):
                return False
        return True

    return none_applies


_LOGICAL = {"$or": _any_of, "$and": _all_of, "$nor": _none_of}


def _field_clause(key, search):
    """One `field: condition` clause, as `_Filterer.apply` tests it."""
    negative = isinstance(search, dict) and bool(_NEGATIVE & set(search))
    positive = not isinstance(search, dict) or bool(set(search) - _NEGATIVE)
    exists_false = search == {"$exists": False}
    is_ops = bool(search) and isinstance(search, dict) and all(k.startswith("$") for k in search)
    tests = None
    if is_ops:
        original = search
        try:
            if "$options" in search and "$regex" in search:
                search = mm_filtering._combine_regex_options(search)
            tests = [_operator_test(key, name, value) for name, value in search.items()]
        except Exception:  # noqa: BLE001 - filter_applies fails on it too, when it gets there
            return _as_is(key, original)
    only = tests[0] if tests is not None and len(tests) == 1 else None
    is_regex = isinstance(search, mm_filtering._RE_TYPES)
    is_id = isinstance(search, ObjectId)
    parts = key.split(".") if key else None
    plain = parts is not None and len(parts) == 1
    last_name = _name_in_arrays(parts[-1]) if parts else None

    def clause(document):
        if exists_false and not mm_filtering.iter_key_candidates(key, document):
            return True
        if plain and type(document) is dict:
            candidates = (document.get(key, _NOTHING),)
        else:
            candidates = _candidates(key, parts, document, last_name)
        is_match = False
        has_candidates = False
        for doc_val in candidates:
            has_candidates |= doc_val is not _NOTHING
            if only is not None:
                is_match = only(doc_val, document)
            elif tests is not None:
                is_match = all(test(doc_val, document) for test in tests)
            elif is_regex and isinstance(doc_val, (str, list)):
                is_match = mm_filtering._regex(doc_val, search)
            elif isinstance(doc_val, (list, tuple)):
                is_match = search in doc_val or search == doc_val
                if is_id:
                    is_match |= str(search) in doc_val
            else:
                is_match = (doc_val == search) or (search is None and doc_val is _NOTHING)
            if negative and not is_match:
                return False
            if is_match and not negative:
                break
        return not (not is_match and (has_candidates or positive))

    if positive and not negative and not exists_false and parts and parts[-1]:
        # The usual clause: operators or a plain value, on a field of a plain document or of
        # plain documents inside it; the same steps as `clause` with the branches that cannot
        # apply taken out (anything else on the way, e.g. an array, goes to `clause`, or for
        # a plain value to its candidates, any of which may equal it).
        head, last = parts[:-1], parts[-1]
        if only is not None:

            def one_operator(document):
                parent = document if plain else _parent(document, head)
                if type(parent) is not dict:
                    return clause(document)
                return bool(only(parent.get(last, _NOTHING), document))

            return one_operator
        if tests is not None:

            def operators(document):
                parent = document if plain else _parent(document, head)
                if type(parent) is not dict:
                    return clause(document)
                doc_val = parent.get(last, _NOTHING)
                for test in tests:  # noqa: SIM110 - as all() over a generator, without one
                    if not test(doc_val, document):
                        return False
                return True

            return operators
        if not is_regex and not is_id:
            # Found in a list exactly when _any_equal finds it: == both ways, no NaN, no None.
            by_value = type(search) in (str, int)

            def equal(document):
                parent = document if plain else _parent(document, head)
                if type(parent) is not dict:
                    if plain:
                        return clause(document)
                    if type(parent) is list and last_name is not None and by_value:
                        # The value of each document in the array (_candidates), equal to
                        # the string or integer, or an array holding it (_any_equal).
                        values = [
                            item.get(last, _NOTHING) for item in parent if isinstance(item, dict)
                        ]
                        if search in values:
                            return True
                        return _holds_arrays(values) and _any_equal(values, search)
                    return _any_equal(_candidates(key, parts, document, last_name), search)
                doc_val = parent.get(last, _NOTHING)
                if isinstance(doc_val, (list, tuple)):
                    return bool(search in doc_val or search == doc_val)
                return bool((doc_val == search) or (search is None and doc_val is _NOTHING))

            return equal

    return clause


def _any_equal(candidates, search):
    """Whether a candidate equals the plain value, as `clause` decides for a positive one."""
    for doc_val in candidates:
        if isinstance(doc_val, (list, tuple)):
            if search in doc_val or search == doc_val:
                return True
        elif (doc_val == search) or (search is None and doc_val is _NOTHING):
            return True
    return False


def _only_dicts(items):
    """Whether every item is a plain dict (looked at in C)."""
    return _DICTS.issuperset(map(type, items))


def _holds_arrays(values):
    """Whether any value may be an array (a list, a tuple, or a subclass of either): not every
    one is of a type that never is one (looked at in C)."""
    return not _NEVER_ARRAYS.issuperset(map(type, values))


_NEVER_ARRAYS = _IMMUTABLE | {dict, dt.datetime, type(_NOTHING)}
_DICTS = frozenset({dict})


def _parent(document, head):
    """What the last part of a dotted key is read in, reached through plain dicts only
    (mongomock's walk, reading a missing part as {}), or None when the walk meets anything
    but a plain dict on the way."""
    value = document
    for part in head:
        if type(value) is not dict:
            return None
        value = value.get(part, {})
    return value


def _candidates(key, parts, document, last_name=None):
    """mongomock's iter_key_candidates(key, document), walking plain dicts itself, and a list
    of documents when the key's last part (`last_name`, see _name_in_arrays) is next."""
    value = document
    last = len(parts) - 1 if parts else -1
    for depth, part in enumerate(parts or ()):
        if type(value) is not dict:
            break
        if depth == last:
            # An empty last part leaves mongomock an empty key: the document itself.
            return (value.get(part, _NOTHING) if part else value,)
        value = value.get(part, {})
    else:
        return mm_filtering.iter_key_candidates(key, document)  # an empty key
    if depth == last and last_name is not None and type(value) is list:
        # _iter_key_candidates_sublist: each document's value, or NOTHING where it has none.
        return [item.get(last_name, _NOTHING) for item in value if isinstance(item, dict)]
    return mm_filtering.iter_key_candidates(".".join(parts[depth:]), value)


@functools.lru_cache(maxsize=1024)
def _name_in_arrays(part):
    """The part, if mongomock reads it in each document of an array (not as an index, not
    as the whole value: an empty part); else None."""
    if not part:
        return None
    try:
        int(part)  # what _iter_key_candidates_sublist tries
    except ValueError:
        return part
    return None


class _Unsupported(Exception):
    """An operator _compiled leaves to filter_applies."""


def _operator_test(key, name, value):
    """test(doc_val, document) for one operator of a clause, as `_Filterer.apply` runs it."""
    if name == "$elemMatch":
        return _elem_match_test(value)
    if name in _COMPARISONS:
        compare, slow = mm_filtering.SORTING_OPERATOR_MAP[name], _COMPARISONS[name]
        kind = _ORDERED_KINDS.get(type(value))
        if kind is not None:

            def ordered(doc_val, document):
                # bson_compare of two numbers, two strings or two datetimes is the Python
                # comparison (which refuses a naive datetime against an aware one, as there).
                if _ORDERED_KINDS.get(type(doc_val)) == kind:
                    return compare(doc_val, value)
                return slow(doc_val, value)

            return ordered
        return lambda doc_val, document: slow(doc_val, value)
    kind = _kind_of(value) if name in ("$in", "$nin") else None
    if kind is not None:
        contains = _member_test(value, kind)
        if name == "$in":
            return lambda doc_val, document: contains(doc_val)
        return lambda doc_val, document: not contains(doc_val)
    if name in _OPERATORS:
        test = _OPERATORS[name]
        return lambda doc_val, document: test(doc_val, value)
    if name == "$not":
        # What _not_op refuses (on every document) goes to filter_applies; the rest is
        # `not filter_applies({key: value}, document)`.
        if isinstance(value, dict):
            if not all(op in _OPERATORS or op in mm_filtering.LOGICAL_OPERATOR_MAP for op in value):
                raise _Unsupported(name)
        elif not isinstance(value, mm_filtering._RE_TYPES):
            raise _Unsupported(name)
        inner = _compiled({key: value})
        return lambda doc_val, document: not inner(document)
    raise _Unsupported(name)


def _kind_of(values):
    """ObjectId or str, when the list holds values of that type only (None aside); else None."""
    if not isinstance(values, (list, tuple)):
        return None
    kinds = {type(value) for value in values if value is not None}
    return kinds.pop() if len(kinds) == 1 and kinds <= {ObjectId, str} else None


def _member_test(values, kind):
    """mongomock's _in_op(doc_val, values) for values of one kind (_kind_of): a value of that
    kind is looked up in a set (equal exactly when its hash-equal), any other in the list as
    before."""
    members = frozenset(values)
    missing_matches = None in members  # a missing field matches a None

    def contains(doc_val):
        if doc_val is _NOTHING and missing_matches:
            return True
        for item in doc_val if isinstance(doc_val, (list, tuple)) else (doc_val,):
            if type(item) is kind:
                if item in members:
                    return True
            elif item in values:
                return True
        return False

    return contains


def _elem_match_test(query):
    """`_Filterer._elem_match_op` with its query compiled."""
    if not isinstance(query, dict):
        raise _Unsupported("$elemMatch")
    applies, wrapped = _compiled(query), _compiled({"field": query})
    # A first clause `name: string or integer` answers False, and ends the test, for a
    # document whose value there is neither equal nor an array: such items are passed over.
    name, wanted = next(iter(query.items()), (None, None))
    if not (isinstance(name, str) and name and name[0] != "$" and "." not in name):
        name = None
    if type(wanted) not in (str, int):
        name = None

    def elem_match(doc_val, document):
        if not isinstance(doc_val, list):
            return False
        if name is not None:
            if _only_dicts(doc_val):
                # The usual array of documents: none holds the value, nor an array, so none
                # can apply.
                values = [item.get(name, _NOTHING) for item in doc_val]
                if wanted not in values and not _holds_arrays(values):
                    return False
            doc_val = [
                item
                for item in doc_val
                if type(item) is not dict
                or isinstance(value := item.get(name, _NOTHING), (list, tuple))
                or value == wanted  # as `equal` decides
            ]
        for item in doc_val:
            try:
                if applies(item):
                    return True
            except OperationFailure:
                if wrapped({"field": item}):
                    return True
        return False

    return elem_match


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


class _Lead:
    """A leading `$match` or `$geoNear`, applied to the stored documents before any copy."""

    distance_field = None
    multiplier = 1

    @classmethod
    def of(cls, pipeline):
        """The pipeline's leading stage if it is one we apply to the store, else None."""
        first = pipeline[0] if isinstance(pipeline, (list, tuple)) and pipeline else None
        if not isinstance(first, dict) or len(first) != 1:
            return None
        ((operator, options),) = first.items()
        if operator == "$match" and isinstance(options, dict):
            return cls(options)
        if operator == "$geoNear" and isinstance(options, dict) and options.get("key"):
            return _GeoLead(options)
        return None

    def __init__(self, options):
        self.spec = _patched(options)

    def keep(self, collection):
        """(distance or None, stored document) of every document the stage keeps, in order."""
        return ((None, document) for document in collection._iter_documents(self.spec))


class _GeoLead(_Lead):
    def __init__(self, options):
        self.near = _Near(options)
        self.distance_field = options["distanceField"]
        self.multiplier = options.get("distanceMultiplier", 1)

    def keep(self, collection):
        located = _SpatialIndex.of(collection._store, self.near.key).near(self.near)
        if located is None:
            # Every stored document: mongomock's _iter_documents({}) would test {} on each.
            return _nearest(self.near, list(collection._store.documents))
        found = []
        for document, place in located:
            if place is None:  # a location the index could not place
                distance = self.near.distance_m(document)
            else:
                distance = self.near.distance_at(document, place)
            if distance is not None:
                found.append((distance, document))
        found.sort(key=_first)
        return found


class _SpatialIndex:
    """A 2dsphere index, as a server walks one: the stored documents by the cell of the grid
    their `key` point lies in, so a $geoNear with a maxDistance tests only the documents of
    the cells that can hold a point that near. Built when first asked, dropped by any write
    to the collection; documents come out in store order, so ties sort as in a full scan."""

    @classmethod
    def of(cls, store, key):
        return _index_of(cls, store, key)

    def __init__(self, store, key):
        self.documents = store._documents
        self.ttl = bool(store._ttl_indexes)  # documents may expire without a write
        # (position, document, place) by cell; place: _Place of its location.
        self.cells = collections.defaultdict(list)
        # Documents whose location fits no cell (a malformed one, a latitude beyond 90):
        # every search tests them, and fails on them, as a full scan does.
        self.elsewhere = []
        plain = "." not in key
        for position, document in enumerate(self.documents.values()):
            try:
                location = _key_value(document, key, plain)
            except KeyError:
                continue  # no location: never near, as in a full scan
            except Exception:  # noqa: BLE001 - the full scan raises it again
                self.elsewhere.append((position, document, None))
                continue
            place = _Place.of(location)
            if place is None:
                self.elsewhere.append((position, document, None))
            else:
                self.cells[_cell_of(place.lat, place.lng)].append((position, document, place))

    def near(self, near):
        """(document, its _Place or None) of the documents that may be within `near`'s
        maxDistance, in store order; None when every document must be tested (no
        maxDistance, a circle over a pole or across the antimeridian, documents that
        expire)."""
        box = _box(near)
        if box is None or self.ttl:
            return None
        (low_lat, low_lng), (high_lat, high_lng) = (_cell_of(*corner) for corner in box)
        if (high_lat - low_lat + 1) * (high_lng - low_lng + 1) <= len(self.cells):
            cells = (
                (lat, lng)
                for lat in range(low_lat, high_lat + 1)
                for lng in range(low_lng, high_lng + 1)
            )
        else:  # a wide circle: fewer cells hold documents than it covers
            cells = (
                (lat, lng)
                for lat, lng in self.cells
                if low_lat <= lat <= high_lat and low_lng <= lng <= high_lng
            )
        found = [*self.elsewhere]
        for cell in cells:
            found.extend(self.cells.get(cell, ()))
        found.sort(key=_first)
        return [(document, place) for _, document, place in found]


def _index_of(kind, store, field):
    """The index of that kind on the store's field, built now if none is current (and kept
    unless a write is under way, which may change the documents it has bucketed)."""
    if _writing_now:
        return kind(store, field)
    indexes = _indexes.setdefault(store, {})
    index = indexes.get((kind, field))
    if index is None or index.documents is not store._documents:  # dropped since
        index = indexes[kind, field] = kind(store, field)
    return index


class _EqualityIndex:
    """A declared index's first field, as a server walks it for an equality: the stored
    documents by each value of the field (each element of an array), so a filter with a plain
    `field: value` tests only the documents that may hold that value. Built when first asked,
    dropped by any write to the collection; documents come out in store order."""

    @classmethod
    def candidates(cls, store, search_filter):
        """The documents that may match the filter, in store order; None when it has no
        plain equality on the first field of an index, its documents may expire, or a write
        is under way (whose own reads scan)."""
        if not isinstance(search_filter, dict) or store._ttl_indexes or _writing_now:
            return None
        indexed = {next(iter(index["key"]), (None,))[0] for index in store.indexes.values()}
        for field, value in search_filter.items():
            if field in indexed and "." not in field and type(value) in _KEY_TYPES:
                return _index_of(cls, store, field).lookup(value)
        return None

    def __init__(self, store, field):
        self.documents = store._documents
        self.values = collections.defaultdict(list)
        # Values no bucket can stand for (an unknown type): every lookup includes them.
        self.anything = []
        for position, document in enumerate(self.documents.values()):
            value = document.get(field)  # stored documents are dicts (an upsert's, a subclass)
            elements = value if isinstance(value, (list, tuple)) else [value]
            if not all(type(element) in _BUCKETED for element in elements):
                self.anything.append((position, document))
                continue
            for element in dict.fromkeys(e for e in elements if type(e) not in _UNEQUAL):
                self.values[element].append((position, document))

    def lookup(self, value):
        found = [*self.anything, *self.values.get(value, ())]
        if isinstance(value, ObjectId):
            # mongomock also matches an array holding the id's string.
            found += self.values.get(str(value), ())
        return [document for _, document in sorted(dict(found).items())]


# Values a bucket holds; documents, arrays and None can never equal a key-type value.
_BUCKETED = frozenset({str, int, float, bool, ObjectId, dict, list, type(None)})
_UNEQUAL = frozenset({dict, list, type(None)})


class _Place(collections.namedtuple("_Place", "lng lat lng_rad lat_rad cos_lat")):
    """A located document's point as the index keeps it: in degrees, and what haversine_m
    works out of it (the same floats, worked out once)."""

    @classmethod
    def of(cls, location):
        """The place of a location, or None if it fits no cell of the grid."""
        try:
            lng, lat = _point(location)
        except (TypeError, ValueError, KeyError, IndexError):
            return None
        if not (-90 <= lat <= 90 and -180 <= lng <= 180):  # also refuses NaN
            return None
        lng_rad, lat_rad = math.radians(lng), math.radians(lat)
        return cls(lng, lat, lng_rad, lat_rad, math.cos(lat_rad))


def _cell_of(lat, lng):
    return math.floor(lat / CELL_DEGREES), math.floor(lng / CELL_DEGREES)


def _box(near):
    """((lat, lng), (lat, lng)) corners of a box holding every point within near's
    maxDistance, or None when no such box is simple (no maxDistance, a pole or the
    antimeridian inside the circle)."""
    lng, lat = near.point
    apart, wide = near.max_lat_apart, near.max_lng_apart
    if wide is None or lng - wide < -180 or lng + wide > 180:
        return None
    return (lat - apart, lng - wide), (lat + apart, lng + wide)


def _lng_apart(point, apart):
    """The most degrees of longitude a point `apart` degrees of arc from `point` (lng, lat)
    can lie from it (the widest a spherical cap of that radius spans), with a margin; None
    when that is no bound (no maxDistance, a pole inside the cap, a point off the globe)."""
    lng, lat = point
    if not (math.isfinite(apart) and -180 <= lng <= 180 and abs(lat) + apart < 90):
        return None
    ratio = math.sin(math.radians(apart)) / math.cos(math.radians(lat))
    return math.degrees(math.asin(min(1.0, ratio))) * (1 + 1e-6) + 1e-9


def _nearest(near, documents, as_stored=None):
    """(distance, document) of the documents `near` keeps, nearest first (stable on ties)."""
    found = []
    for document in documents:
        distance = near.distance_m(as_stored(document) if as_stored else document)
        if distance is not None:
            found.append((distance, document))
    found.sort(key=lambda pair: pair[0])
    return found


class _Near:
    """What a $geoNear keeps: its query, then a `key` location within the distance bounds."""

    def __init__(self, options):
        self.key = options.get("key")
        if not self.key:
            raise NotImplementedError("halls' embedded $geoNear needs the `key` option")
        self.plain_key = "." not in self.key  # read directly, as get_value_by_dot would
        self.point = _point(options["near"])
        self.max_distance = options.get("maxDistance")
        self.min_distance = options.get("minDistance")
        # No point more than this many degrees of latitude away can be within maxDistance (a
        # great circle is never shorter than its change of latitude); the margin keeps every
        # rounding on the side of testing the distance itself.
        self.max_lat_apart = (
            math.inf
            if self.max_distance is None
            else math.degrees(self.max_distance / EARTH_RADIUS_M) * (1 + 1e-6) + 1e-9
        )
        self.max_lng_apart = _lng_apart(self.point, self.max_lat_apart)
        # haversine_m's work on the point, done once (distance_at).
        self.lng_rad, self.lat_rad = math.radians(self.point[0]), math.radians(self.point[1])
        self.cos_lat = math.cos(self.lat_rad)
        # Read as a $match reads its filter: datetimes in UTC to the millisecond, as stored.
        self.query = _patched(options.get("query") or {})
        self.matches = _compiled(self.query)

    def distance_m(self, document):
        """The document's distance in metres if the stage keeps it, else None."""
        # Distance first, as the server walks its 2dsphere index before it applies the query.
        try:
            location = _key_value(document, self.key, self.plain_key)
        except KeyError:
            return None
        location = _point(location)
        if abs(location[1] - self.point[1]) > self.max_lat_apart and abs(location[1]) <= 90:
            return None
        return self._kept_at(document, haversine_m(self.point, location))

    def distance_at(self, document, place):
        """distance_m of a document the spatial index placed (a _Place within a box
        _box bounds: max_lng_apart is a bound): haversine_m's floats, from the place."""
        lng, lat, lng_rad, lat_rad, cos_lat = place
        if abs(lat - self.point[1]) > self.max_lat_apart:
            return None
        if abs(lng - self.point[0]) > self.max_lng_apart:
            return None
        h = (
            math.sin((lat_rad - self.lat_rad) / 2) ** 2
            + self.cos_lat * cos_lat * math.sin((lng_rad - self.lng_rad) / 2) ** 2
        )
        return self._kept_at(document, 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h))))

    def _kept_at(self, document, distance):
        """The distance if the stage keeps the document that far away, else None."""
        if self.max_distance is not None and distance > self.max_distance:
            return None
        if self.min_distance is not None and distance < self.min_distance:
            return None
        if self.query and not self.matches(document):
            return None
        return distance


def _key_value(document, key, plain):
    """The document's value at the (plain or dotted) key; KeyError when it has none."""
    return document[key] if plain else mm_helpers.get_value_by_dot(document, key)


def _match_stage(in_collection, database, options):
    """mongomock's $match stage (_handle_match_stage), its filter compiled once."""
    applies = _compiled(_patched(options))
    return [document for document in in_collection if applies(_patched(document))]


def _sharing_immutables(convert_rest):
    """One of mongomock's datetime conversions (`convert_rest`), rebuilding plain dicts and
    lists itself and sharing their immutable values, which the original returns unchanged;
    anything else goes to the original."""

    def convert(value):
        kind = type(value)
        if kind in _IMMUTABLE:
            return value
        if kind is dict:
            if _IMMUTABLE.issuperset(map(type, value.values())):  # a flat one, copied in C
                return value.copy()
            return {
                key: item if type(item) in _IMMUTABLE else convert(item)
                for key, item in value.items()
            }
        if kind is list:
            if _IMMUTABLE.issuperset(map(type, value)):
                return value.copy()
            return [item if type(item) in _IMMUTABLE else convert(item) for item in value]
        return convert_rest(value)

    return convert


# patch_datetime_awareness_in_document: datetimes as stored, naive UTC to the millisecond
# (inserts, updates, filters); make_datetime_timezone_aware_in_document (_aware, below): what
# a tz-aware client's reads return. mongomock itself uses these in place of its own (teach).
_patched = _sharing_immutables(_mm_patch)


def _copy_field(value, container):
    """mongomock's _copy_field (how find copies a stored document out): plain dicts and lists
    rebuilt here, immutable values shared (it copy.copy'd each: an equal value, or itself)."""
    if container is not dict:
        return _mm_copy_field(value, container)
    return _copy_plain(value)


_copy_plain = _sharing_immutables(functools.partial(_mm_copy_field, container=dict))


def _aware_copy(value):
    """mongomock's copy of a value, then its aware conversion; a datetime (immutable, and
    replaced by the conversion) is converted without the copy, which only made an equal one."""
    if type(value) is dt.datetime:
        return _mm_aware(value)
    return _mm_aware(_mm_copy_field(value, dict))


# A read of a tz-aware client: mongomock's copy, then its make_datetime_timezone_aware_in_document,
# in one walk. It is also the conversion a tz-aware cursor applies to what find hands it
# (_aware): a copy of everything it converts, so that find may hand on stored values.
_copy_aware = _aware = _sharing_immutables(_aware_copy)


def _copy_only_fields(self, document, fields, container):
    """mongomock's Collection._copy_only_fields (how find copies a stored document out). A
    projection that only includes, or only excludes, top-level fields keeps them as it would:
    in the document's order, `_id` last when it includes them (unless `_id` is excluded),
    and, as it does, `_id` moved to the end of the caller's projection.

    A tz-aware client's cursor turns each document it gets from here into a converted copy of
    its own at once (Cursor._compute_results, under the lock, with _aware): for it the
    fields' values are handed on as stored rather than copied twice."""
    if container is not dict:
        return _mm_copy_only_fields(self, document, fields, container)
    aware = self.codec_options.tz_aware
    if fields is None or (not fields and _EMPTY_PROJECTION_IS_NONE):
        return document if aware else _copy_plain(document)
    shape = _top_level_projection(fields)
    if shape is None or not shape[0]:  # not such a projection, or `_id` alone
        return _mm_copy_only_fields(self, document, fields, container)
    names, include, id_value = shape
    copy = _as_stored if aware else _copy_plain
    if include:
        copied = {key: copy(value) for key, value in document.items() if key in names}
        if id_value != 0 and "_id" in document:
            copied["_id"] = document["_id"]
    else:
        copied = {key: copy(value) for key, value in document.items() if key not in names}
        if id_value == 0:
            copied.pop("_id", None)
    fields.pop("_id", None)
    fields["_id"] = id_value
    return copied


def _as_stored(value):
    return value


# mongomock reads an empty find projection as none (pymongo 4): the whole document.
_EMPTY_PROJECTION_IS_NONE = mm_collection.version.parse("4.0") <= mm_helpers.PYMONGO_VERSION


def _top_level_inclusion(spec):
    """(the top-level fields included, the `_id` value 0 or 1) of a projection that includes
    top-level fields and nothing else, `_id` aside; else None."""
    shape = _top_level_projection(spec)
    if shape is None or not shape[1]:
        return None
    return shape[0], shape[2]


def _top_level_projection(spec):
    """(the top-level fields named, whether it includes them, the `_id` value 0 or 1) of a
    projection that includes top-level fields, or excludes them, and nothing else, `_id`
    aside (with none: an inclusion); else None."""
    if not isinstance(spec, dict):
        return None
    id_value = spec.get("_id", 1)
    if type(id_value) not in (int, bool) or id_value not in (0, 1):
        return None
    names, kinds = set(), set()
    for name, value in spec.items():
        if name == "_id":
            continue
        if not isinstance(name, str) or name[:1] in ("", "$") or "." in name:
            return None
        if value is True or value is False or (type(value) is int and value in (0, 1)):
            kinds.add(bool(value))
        else:
            return None
        names.add(name)
    if len(kinds) > 1:
        return None  # both: mongomock refuses it
    return names, kinds != {False}, id_value


def _project_stage(in_collection, database, options):
    """mongomock's $project stage (_handle_project_stage); one that only includes top-level
    fields keeps each document's own fields among them, in its order, as it would."""
    included = _top_level_inclusion(options) if options else None  # {}: no documents at all
    fields = included and included[0] | ({"_id"} if included[1] else set())
    if not fields:  # not such a spec, or `_id: 0` alone (an exclusion)
        return mm_aggregate._handle_project_stage(in_collection, database, options)
    return [{key: value for key, value in doc.items() if key in fields} for doc in in_collection]


# Types bson_compare orders as Python does when both sides are of the same kind.
_SORT_KINDS = {int: 1, float: 1, str: 2, ObjectId: 3, bool: 4, dt.datetime: 5}


def _sort_stage(in_collection, database, options):
    """mongomock's $sort stage (_handle_sort_stage): a stable sort per key, last key first.
    Values all of one kind (numbers, strings, ObjectIds, booleans, datetimes) are compared
    directly, which is what its BsonComparable does for them; any other mix sorts as before."""
    ordered = in_collection
    for key, direction in reversed(list(options.items())):
        if type(key) is str and key and "." not in key and _only_dicts(ordered):
            # resolve_key of a top-level field of a plain dict
            values = [document.get(key, _NOTHING) for document in ordered]
        else:
            values = [mm_filtering.resolve_key(key, document) for document in ordered]
        kinds = {_SORT_KINDS.get(type(value)) for value in values}
        if len(kinds) <= 1 and None not in kinds:
            pairs = sorted(zip(values, ordered, strict=True), key=_first, reverse=direction < 0)
            ordered = [document for _, document in pairs]
        else:
            resolve = functools.partial(_sort_key, key)
            ordered = sorted(ordered, key=resolve, reverse=direction < 0)
    return ordered


def _first(pair):
    return pair[0]


def _sort_key(key, document):
    return mm_filtering.resolve_sort_key(key, document)


def _geo_near_stage(in_collection, database, options):
    """$geoNear as the server runs it for a 2dsphere index and a GeoJSON `near`.

    Only reached when $geoNear is not the first stage (which a server refuses): _aggregate
    applies a leading one to the store.
    """
    as_stored = mm_helpers.patch_datetime_awareness_in_document
    results = []
    for distance, document in _nearest(_Near(options), in_collection, as_stored):
        document = dict(document)
        _set_path(
            document, options["distanceField"], distance * options.get("distanceMultiplier", 1)
        )
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
