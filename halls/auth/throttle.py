"""Failed sign-ins per account: after a few within a window, the account's sign-in waits.

RATELIMIT_LOGIN_ACCOUNT ("5 per 15 minutes") allows that many failed password sign-ins for one
email in any such window, from any number of addresses; then POST /auth/login answers 429
`too_many_attempts` until the oldest of them is out of the window. The per-address limit
(RATELIMIT_LOGIN_IP, on the route) is separate and generous, so a carrier NAT full of people
is not one suspect.

Each account's recent attempts are one document in `login_attempts`, whose `_id` is a hash of
the case-folded email (the collection keeps no list of the addresses people typed, and an email
without an account is counted like any other, so a 429 tells nothing about who has one). The
count lives in MongoDB rather than in the rate limiter's storage: every worker and host shares
it whatever RATELIMIT_STORAGE_URI says, a password reset can clear it, and its time is
halls.clock's.

An attempt is recorded before its password is checked, in one atomic write that refuses it when
the account is at its limit, so concurrent guesses cannot overshoot; a sign-in that succeeds
takes its own attempt back. Only failures count, and a correct password never unlocks early:
what a lock refuses is any password, the right one included.
"""

import datetime as dt
import functools
import hashlib
import math

from bson import ObjectId
from flask import current_app
from limits import parse
from pymongo.errors import DuplicateKeyError

from halls import clock, db
from halls.errors import TooManyRequests


@functools.cache
def _limit(text):
    """("5 per 15 minutes") -> (5, 15 minutes)."""
    limit = parse(text)
    return limit.amount, dt.timedelta(seconds=limit.get_expiry())


def _key(email):
    return hashlib.sha256(email.strip().casefold().encode()).hexdigest()


def take_attempt(email):
    """Record a sign-in attempt for this email and return it; 429 when the account must wait."""
    if not current_app.config["RATELIMIT_ENABLED"]:
        return None
    amount, window = _limit(current_app.config["RATELIMIT_LOGIN_ACCOUNT"])
    now = clock.now()
    attempt = {"_id": _key(email), "id": ObjectId()}
    try:
        db.login_attempts().update_one(
            # Free while fewer than `amount` attempts are kept, or the oldest of them (the list
            # keeps the latest `amount`) is out of the window.
            {
                "_id": attempt["_id"],
                "$or": [
                    {f"attempts.{amount - 1}": {"$exists": False}},
                    {"attempts.0.at": {"$lte": now - window}},
                ],
            },
            {
                "$push": {
                    "attempts": {"$each": [{"id": attempt["id"], "at": now}], "$slice": -amount}
                },
                "$set": {"expires_at": now + window},
            },
            upsert=True,
        )
    except DuplicateKeyError:
        # The account's document is there and the filter refused it: it is at its limit.
        raise _locked(attempt["_id"], amount, window, now) from None
    return attempt


def _locked(key, amount, window, now):
    """The 429 for a locked account: how long until its oldest counted failure is out."""
    stored = db.login_attempts().find_one({"_id": key}) or {"attempts": []}
    oldest = stored["attempts"][-amount:][:1]
    wait = (oldest[0]["at"] + window - now).total_seconds() if oldest else 1
    seconds = max(1, math.ceil(wait))
    minutes = math.ceil(seconds / 60)
    return TooManyRequests(
        f"Too many failed sign-ins for this account; try again in "
        f"{minutes} minute{'s' if minutes > 1 else ''}, or reset the password.",
        error_code="too_many_attempts",
        details={"retry_after": seconds},
        headers={"Retry-After": str(seconds)},
    )


def take_back(attempt):
    """The attempt signed in: it no longer counts against the account."""
    if attempt is not None:
        db.login_attempts().update_one(
            {"_id": attempt["_id"]}, {"$pull": {"attempts": {"id": attempt["id"]}}}
        )


def forget(email):
    """Clear the account's failed sign-ins (its password was just reset through its mailbox)."""
    db.login_attempts().delete_one({"_id": _key(email)})
