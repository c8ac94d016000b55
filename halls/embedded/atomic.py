"""Single-document atomicity: one lock around mongomock's writes and reads.

A server applies each write (an upsert, a find-and-modify, an insert with its unique-index
check) as one indivisible step, and shows a reader a document as it was before a write or
after it. mongomock checks unique indexes after writing, and changes a stored document in
place, field by field: two threads can interleave between the check and the write, and a read
copying a document while a write changes it sees half the write (or fails: "dictionary
changed size during iteration"). One re-entrant lock around every write and every read gives
the server's guarantee (and more: one operation at a time, which a stand-in can afford).
"""

import functools
import threading

import mongomock

# Collection methods that change stored documents or indexes.
WRITES = (
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
# The one Collection method that reads stored documents without a cursor (estimated counts
# call it too); find, find_one, distinct and aggregate read through a cursor.
READS = ("count_documents",)

lock = threading.RLock()


def teach():
    for name in WRITES + READS:
        _lock_around(mongomock.Collection, name)
    # A cursor reads the store when first used, after find has returned. mongomock does that
    # in one private method, behind __next__, distinct, __getitem__ and alive.
    _lock_around(mongomock.collection.Cursor, "_compute_results")


def _lock_around(owner, name):
    method = getattr(owner, name)

    @functools.wraps(method)
    def locked(*args, **kwargs):
        with lock:
            return method(*args, **kwargs)

    setattr(owner, name, locked)
