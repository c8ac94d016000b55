"""A fault injector for halls.db's collections: the Nth write of an operation fails.

Every accessor (`db.bookings()`, ...) returns its collection wrapped, so that the writes one
operation makes (inserts, updates, find-and-modifies, deletes), across all collections, are
counted in order while the injector is armed, and the Nth fails as its kind says:

- `before`: it raises AutoReconnect without being applied (a refused connection);
- `after`:  it is applied, then raises AutoReconnect (the answer was lost: an election, a
  network cut after the server wrote);
- `crash`:  it raises, and so does every later call, reads too (the worker was killed).

Armed with kind "count", it only counts (the dry run that says how many writes there are).
"""

from pymongo.errors import AutoReconnect

from halls import db

WRITES = frozenset(
    {
        "insert_one",
        "insert_many",
        "update_one",
        "update_many",
        "replace_one",
        "find_one_and_update",
        "find_one_and_replace",
        "find_one_and_delete",
        "delete_one",
        "delete_many",
        "bulk_write",
    }
)
ACCESSORS = (
    "users",
    "password_resets",
    "revoked_tokens",
    "venues",
    "bookings",
    "slot_claims",
    "outbox",
    "idempotency_keys",
    "wallet_transactions",
)
KINDS = ("before", "after", "crash")


class Faults:
    """Counts the writes made while armed; fails the Nth as its kind says."""

    def __init__(self):
        self.kind, self.at, self.count, self.calls, self.dead = None, None, 0, [], False

    def arm(self, kind, at=None):
        self.kind, self.at, self.count, self.calls, self.dead = kind, at, 0, [], False

    def disarm(self):
        self.kind, self.dead = None, False

    def call(self, where, method, real, args, kwargs):
        if self.dead:
            raise AutoReconnect(f"{where}.{method}: the worker is gone")
        if self.kind is None or method not in WRITES:
            return real(*args, **kwargs)
        self.count += 1
        self.calls.append(f"{where}.{method}")
        if self.count != self.at:
            return real(*args, **kwargs)
        if self.kind == "after":
            real(*args, **kwargs)
        elif self.kind == "crash":
            self.dead = True
        raise AutoReconnect(f"{where}.{method}: connection reset ({self.kind})")

    def accessors(self):
        """{name: accessor} replacing halls.db's, each wrapping the real one's collection."""
        return {name: self._wrapping(name, getattr(db, name)) for name in ACCESSORS}

    def _wrapping(self, name, real):
        return lambda: Faulty(self, name, real())


class Faulty:
    """A collection whose calls go through the injector."""

    def __init__(self, faults, name, collection):
        self.faults, self.name, self.collection = faults, name, collection

    def __getattr__(self, method):
        attribute = getattr(self.collection, method)
        if not callable(attribute):
            return attribute

        def call(*args, **kwargs):
            return self.faults.call(self.name, method, attribute, args, kwargs)

        return call
