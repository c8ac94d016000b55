"""The zero-setup backend: mongomock, taught the server features halls relies on.

One module per feature a MongoDB server has and mongomock lacks:

- `atomic`: a write is one indivisible step and a read never sees half of one.
- `geo_near`: the `$geoNear` aggregation stage (2dsphere, GeoJSON points, metres).
- `positional`: a find-and-modify's positional `$` updates the element the filter matched.

Nothing here changes a query: halls sends the same calls to both backends. Only features are
taught; the stand-in's speed is not a goal (production refuses to run on it). Some of what we
touch is mongomock's own private code, so `teach` refuses any version but the one it was
written for.
"""

import mongomock

from halls.embedded import atomic, geo_near, positional

MONGOMOCK_VERSION = "4.3.0"  # requirements.txt pins it

_taught = False
_shared_client = None


def teach():
    """Install the features into mongomock, once per process; refuse another version."""
    global _taught
    if mongomock.__version__ != MONGOMOCK_VERSION:
        raise RuntimeError(
            f"halls.embedded was written for mongomock {MONGOMOCK_VERSION}; found "
            f"{mongomock.__version__}. Install requirements.txt, or check the features "
            "against the new version and update MONGOMOCK_VERSION."
        )
    if _taught:
        return
    geo_near.teach()
    positional.teach()
    atomic.teach()  # last: its lock goes around what the others installed
    _taught = True


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
