"""Idempotency-Key: a retried write returns its first answer instead of running again.

A mobile app that loses the connection after sending `POST /bookings` cannot know whether the
booking was made. It retries with the same `Idempotency-Key` header, and gets the first
response back, byte for byte, with `Idempotent-Replayed: true`.

How one request with the header goes (per user and key, in `idempotency_keys`):
1. Reserve: insert `{user_id, key, fingerprint, state: "running", run_id, lease_until}`. The
   unique (user_id, key) index makes this the atomic step: of two requests sent at once with
   one key, exactly one insert succeeds and only that one runs the view.
2. Whoever loses reads the record: a different request (method, path, query or body differ)
   -> 422 `idempotency_key_reused`; a finished one -> its stored response replayed; one still
   running -> 409 `idempotency_in_progress` (retry a little later).
3. The winner runs the view. A final outcome (2xx or 4xx) is stored on the record; a 5xx or an
   exception deletes the record, because a retry of a request that failed on our side must be
   allowed to run.

A record counts for 24 hours (`KEEP`): the TTL index deletes it after that, and because a
server's TTL monitor only runs once a minute (and may lag), an older record still found is
treated as absent. A reservation whose request died with its process (no response, no
delete) is taken over once its lease (`LEASE`, longer than any request may run) has passed,
so a crash blocks a key for minutes, not a day.
"""

import datetime as dt
import functools
import hashlib
import json
from copy import deepcopy

from bson import ObjectId
from flask import current_app, g, request
from marshmallow import EXCLUDE, Schema, fields, validate
from pymongo.errors import DuplicateKeyError

from halls import clock, db
from halls.auth.tokens import current_user
from halls.errors import Conflict, Unprocessable

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
# `headers` for the success `Blueprint.response` of an idempotent route.
REPLAYED_DOC = {
    REPLAYED_HEADER: {
        "description": "true: this is the first answer to an earlier request with the same "
        "Idempotency-Key, replayed; nothing was done again.",
        "schema": {"type": "string", "enum": ["true"]},
    }
}
KEEP = dt.timedelta(seconds=db.IDEMPOTENCY_KEEP_SECONDS)
# Longer than any request may run (gunicorn kills a worker after 30 s): a reservation older
# than this belongs to a request that died unanswered, and a retry may take it over.
LEASE = dt.timedelta(minutes=5)
RUNNING, DONE = "running", "done"
# A key may be looked at a few times while another request reserves and releases it; after
# that many rounds the caller is told it is in progress rather than spun on.
RESERVE_ATTEMPTS = 3


class IdempotencyHeaders(Schema):
    """The optional header; loading it is what lets the key into a Mongo filter."""

    class Meta:
        unknown = EXCLUDE

    key = fields.String(
        data_key=HEADER,
        validate=[
            validate.Length(min=1, max=255),
            validate.Regexp(
                r"^[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?$",
                error="Use printable ASCII characters, with no space at either end.",
            ),
        ],
        metadata={
            "description": (
                "Any unique string (a UUID works) per intended action. A retry with the same "
                "key within 24 hours returns the first response (header `Idempotent-Replayed: "
                "true`) without doing anything again; the same key with a different request "
                "is a 422 `idempotency_key_reused`; while the first is still running, a 409 "
                "`idempotency_in_progress`."
            ),
            "example": "8b6f3c1e-2d4a-4f7b-9c0e-5a1b2c3d4e5f",
        },
    )


def idempotent(view):
    """Honour an Idempotency-Key header; place below `auth_required`, above `blp.arguments`."""

    @functools.wraps(view)
    def guarded(*args, **kwargs):
        key = _key_of(request)
        # Set on every request: an app context (and its g) may outlive one request.
        g.halls_request_key = None
        if key is None:
            return view(*args, **kwargs)
        user_id, fingerprint = current_user()["_id"], _fingerprint(request)
        g.halls_request_key = _request_key(user_id, key, fingerprint)
        outcome = _reserve(user_id, key, fingerprint)
        if outcome["state"] == DONE:
            return _replay(outcome)
        return _run_once(outcome, view, args, kwargs)

    # flask-smorest builds the OpenAPI operation from `_apidoc`: listing the header beside the
    # view's own arguments documents it without replacing them (a copy, as its decorators do).
    guarded._apidoc = deepcopy(getattr(view, "_apidoc", {}))
    documented = guarded._apidoc.setdefault("arguments", {})
    documented.setdefault("parameters", []).append(
        {"in": "headers", "required": False, "schema": IdempotencyHeaders}
    )
    documented.setdefault("responses", {}).update({409: "CONFLICT", 422: "UNPROCESSABLE_ENTITY"})
    return guarded


def request_key():
    """The running request's action as a stable id (user, key and request), or None without a
    key: a service stores it on what the action creates, under a unique index, so a retry
    whose first attempt got that far finds it instead of creating it again."""
    return g.get("halls_request_key")


def _request_key(user_id, key, fingerprint):
    # Hashed: the key is up to 255 characters of the client's; the id stays short.
    return hashlib.sha256(f"{user_id}\0{key}\0{fingerprint}".encode()).hexdigest()


def _key_of(req):
    if HEADER not in req.headers:
        return None
    return IdempotencyHeaders().load({HEADER: req.headers[HEADER]})["key"]


def _fingerprint(req):
    """A hash of what makes two requests the same: method, path, query and body."""
    digest = hashlib.sha256()
    query = sorted(req.args.items(multi=True))
    for part in (req.method, req.path, json.dumps(query), _canonical_body(req.get_data())):
        digest.update(part.encode() if isinstance(part, str) else part)
        digest.update(b"\0")
    return digest.hexdigest()


def _canonical_body(raw):
    # The same JSON sent with its keys in another order or other spacing is the same request:
    # a client library that re-serialises a retry must not be told it reused its key.
    try:
        return json.dumps(json.loads(raw), sort_keys=True, separators=(",", ":"))
    except (ValueError, RecursionError):
        return raw


def _fresh(user_id, key, fingerprint, now):
    return {
        "user_id": user_id,
        "key": key,
        "fingerprint": fingerprint,
        "state": RUNNING,
        "run_id": ObjectId(),
        "created_at": now,
        "lease_until": now + LEASE,
    }


def _reserve(user_id, key, fingerprint):
    """This request's reservation, or the finished record to replay; raises 409 or 422."""
    for _ in range(RESERVE_ATTEMPTS):
        now = clock.now()
        record = _fresh(user_id, key, fingerprint, now)
        try:
            db.idempotency_keys().insert_one(record)
            return record
        except DuplicateKeyError:
            existing = db.idempotency_keys().find_one({"user_id": user_id, "key": key})
        if existing is None:
            continue  # its request failed and released the key in between: try again
        if existing["created_at"] > now - KEEP:
            if existing["fingerprint"] != fingerprint:
                raise Unprocessable(
                    "This Idempotency-Key was used for a different request; use a new key.",
                    error_code="idempotency_key_reused",
                )
            if existing["state"] == DONE:
                return existing
            if existing["lease_until"] > now:
                break
        if _take_over(existing, record):
            return record
    raise Conflict(
        "A request with this Idempotency-Key is still running; retry in a moment.",
        error_code="idempotency_in_progress",
    )


def _take_over(existing, record):
    # Matching the old run_id makes this a compare-and-swap: of two requests taking over one
    # stale record, only the first replaces it.
    record.pop("_id", None)
    replaced = db.idempotency_keys().replace_one(
        {"_id": existing["_id"], "run_id": existing["run_id"]}, record
    )
    record["_id"] = existing["_id"]
    return replaced.matched_count == 1


def _run_once(record, view, args, kwargs):
    """Run the view for a reservation; keep a final outcome, release the key on a failure."""
    try:
        try:
            response = view(*args, **kwargs)
        except Exception as error:  # noqa: BLE001 - the app's handlers render it, as Flask would
            response = current_app.handle_user_exception(error)
        response = current_app.make_response(response)
    except BaseException:
        _release(record)
        raise
    if response.status_code >= 500:
        _release(record)
    else:
        _store(record, response)
    return response


def _store(record, response):
    db.idempotency_keys().update_one(
        {"_id": record["_id"], "run_id": record["run_id"]},
        {
            "$set": {
                "state": DONE,
                "status": response.status_code,
                "content_type": response.content_type,
                "body": response.get_data(),
                "finished_at": clock.now(),
            }
        },
    )


def _release(record):
    db.idempotency_keys().delete_one({"_id": record["_id"], "run_id": record["run_id"]})


def _replay(record):
    response = current_app.response_class(
        record["body"], status=record["status"], content_type=record["content_type"]
    )
    response.headers[REPLAYED_HEADER] = "true"
    return response
