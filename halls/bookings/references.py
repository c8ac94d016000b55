"""Booking references: the short code a person reads out, types or scans (`HB-7K3Q9M`).

A booking gets one when it is made: `HB-` and six characters drawn at random from an alphabet
without look-alikes (no 0 or O, no 1 or I): 32**6, about a billion, codes. Drawn, not derived
from the booking's id: a code this short cannot be unique by construction (any six characters
made from an id collide, by the birthday bound, within tens of thousands of bookings), and a
counter would tell anyone how many bookings halls takes. The unique `reference` index (db.py)
makes it unique: the rare write that draws a taken code draws again, in the same step
(`write_drawing_again`), so a collision never fails a booking nor undoes what came before it.
"""

import re
import secrets
from collections.abc import Callable
from typing import Any, TypeVar

from bson import ObjectId
from pymongo.errors import DuplicateKeyError

from halls import db
from halls.documents import Booking
from halls.schemas import object_id

PREFIX = "HB-"
ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"
LENGTH = 6
PATTERN = f"^{PREFIX}[{ALPHABET}]{{{LENGTH}}}$"
# Even at a million bookings a draw collides about once in a thousand; five in a row, never.
ATTEMPTS = 5

_MATCH = re.compile(PATTERN)
T = TypeVar("T")


def new_reference() -> str:
    """A fresh reference, drawn at random."""
    return PREFIX + "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))


def normalised(text: str) -> str | None:
    """A reference as a person may type it (any case) in its stored form; None if it is none."""
    candidate = text.strip().upper()
    return candidate if _MATCH.match(candidate) else None


def naming(booking_id: str) -> dict[str, Any] | None:
    """The filter for the booking a path names: 24 hex digits are its id, anything else its
    reference (in any case); None when the text can be neither."""
    oid = object_id(booking_id)
    if oid is not None:
        return {"_id": oid}
    reference = normalised(booking_id)
    return None if reference is None else {"reference": reference}


def write_drawing_again(
    write: Callable[[], T], fields: Booking | dict[str, Any], booking_id: ObjectId
) -> T:
    """write(), which stores fields["reference"] on the booking; while that reference turns out
    to be another booking's, draw another and write again. Any other refusal of a unique index
    goes to the caller as it came."""
    for _ in range(ATTEMPTS - 1):
        try:
            return write()
        except DuplicateKeyError:
            if not _taken(fields["reference"], booking_id):
                raise
        fields["reference"] = new_reference()
    return write()


def _taken(reference: str, booking_id: ObjectId) -> bool:
    # Which unique index refused the write: the reference, when another booking holds it.
    query = {"reference": reference, "_id": {"$ne": booking_id}}
    return db.bookings().count_documents(query, limit=1) > 0
