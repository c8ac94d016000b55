"""The clock: `now()` is the only place halls reads the time.

Modules call `clock.now()` through this module, never a copy of the function, so that the
tests' `clock` fixture (tests/conftest.py), which replaces `now` here, moves every one of them
at once. (PyJWT reads its own clock for token expiry; halls.auth.tokens checks expiry on that
same clock, as PyJWT would.)
"""

import contextlib
import datetime as dt


def now() -> dt.datetime:
    """The current UTC time, to the millisecond.

    BSON keeps milliseconds: a document we answer with then equals the one read back later.
    """
    at = dt.datetime.now(dt.UTC)
    return at.replace(microsecond=at.microsecond // 1000 * 1000)


@contextlib.contextmanager
def frozen(at):
    """Within the block, now() answers `at`: a history replayed at the times it happened.

    For the demo data, loaded at start-up before a request is served: every thread sees this
    time while the block runs, so it is never for a request.
    """
    at = at.replace(microsecond=at.microsecond // 1000 * 1000)
    # Replaced here as the tests' clock fixture does, and put back as it was found.
    real = globals()["now"]
    globals()["now"] = lambda: at
    try:
        yield at
    finally:
        globals()["now"] = real
