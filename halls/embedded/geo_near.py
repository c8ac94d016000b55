"""The `$geoNear` aggregation stage, which mongomock lacks.

As a server runs it for a 2dsphere index and a GeoJSON `near`: the documents whose `key` holds
a GeoJSON point (or a [lng, lat] pair), nearest first, each with its distance on the sphere in
metres (MongoDB's radius) times `distanceMultiplier` at `distanceField` (dotted: inside
sub-documents), kept within `minDistance` and `maxDistance` and when they match `query` (read
as a `$match` reads its filter). A plain scan of the documents that reach the stage: no spatial
index. A server only takes the stage first in a pipeline; mongomock runs it anywhere.
"""

import math

from mongomock import aggregate, filtering, helpers

# MongoDB's own radius for spherical distances (geoconstants.h: kRadiusOfEarthInMeters).
EARTH_RADIUS_M = 6378.1 * 1000


def teach():
    # mongomock's table of stages is private; registering one is the only way to add a stage.
    aggregate._PIPELINE_HANDLERS["$geoNear"] = geo_near_stage


def geo_near_stage(documents, database, options):
    """The documents the stage keeps, nearest first (ties in their order), distances set."""
    key = options.get("key")
    if not key:
        raise NotImplementedError("halls' embedded $geoNear needs the `key` option")
    near = _point(options["near"])
    low, high = options.get("minDistance"), options.get("maxDistance")
    query = helpers.patch_datetime_awareness_in_document(options.get("query") or {})
    found = []
    for document in documents:
        try:
            location = helpers.get_value_by_dot(document, key)
        except KeyError:
            continue  # no location: a 2dsphere index leaves it out
        distance = haversine_m(near, _point(location))
        if (high is not None and distance > high) or (low is not None and distance < low):
            continue
        if query and not _matches(query, document):
            continue
        found.append((distance, document))
    found.sort(key=lambda pair: pair[0])
    multiplier = options.get("distanceMultiplier", 1)
    field = options["distanceField"]
    return [_with(document, field, distance * multiplier) for distance, document in found]


def _matches(query, document):
    """filter_applies as mongomock's `$match` stage calls it (both sides' datetimes naive UTC)."""
    return filtering.filter_applies(query, helpers.patch_datetime_awareness_in_document(document))


def _with(document, path, value):
    """A copy of the document with the value at the dotted path; the sub-documents on the way
    are copied, or made where there is none (as a server does), so no input changes."""
    *parents, last = path.split(".")
    copied = inner = dict(document)
    for part in parents:
        below = inner.get(part)
        inner[part] = dict(below) if isinstance(below, dict) else {}
        inner = inner[part]
    inner[last] = value
    return copied


def _point(value):
    """(lng, lat) of a GeoJSON point or a legacy pair; fails on anything else."""
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
