"""The one MongoClient, the collection accessors, and every index in one list."""

import contextlib
import logging
from collections.abc import Mapping, Sequence
from typing import Any, Generic, TypedDict, TypeVar

from flask import current_app
from pymongo import ASCENDING, DESCENDING, GEOSPHERE, IndexModel, MongoClient
from pymongo.collection import Collection
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError, OperationFailure

from halls.documents import Booking, Claim, OutboxMessage, User, Venue, WalletEntry

log = logging.getLogger("halls.db")

# How long an Idempotency-Key answers with its first response (halls.idempotency, TTL below).
IDEMPOTENCY_KEEP_SECONDS = 24 * 3600

# Every index the services rely on, next to the query it serves. Created at start-up and by
# `flask --app wsgi create-indexes`; the same list runs on mongomock and on a real server.
INDEXES = {
    "users": [
        # signup and login look users up by email; unique makes a duplicate signup a 409.
        IndexModel([("email", ASCENDING)], unique=True, name="email_unique"),
        # Google sign-in finds the account by Google's subject id; one account per identity.
        IndexModel([("google_sub", ASCENDING)], unique=True, sparse=True, name="google_sub_unique"),
        # wallet-reconcile finds users whose balance change was applied but never settled.
        IndexModel([("pending_txns.at", ASCENDING)], name="wallet_pending_at"),
    ],
    "password_resets": [
        # reset-password finds the token by its hash.
        IndexModel([("token_hash", ASCENDING)], unique=True, name="token_hash_unique"),
        # a successful reset retires the user's other unused tokens.
        IndexModel([("user_id", ASCENDING)], name="user"),
        # the server deletes a reset token once it is past expires_at.
        IndexModel([("expires_at", ASCENDING)], expireAfterSeconds=0, name="expires_ttl"),
    ],
    "login_attempts": [
        # auth/throttle.py reads and writes an account's attempts by _id (the hashed email);
        # the server forgets them once the window after the last attempt is over.
        IndexModel([("expires_at", ASCENDING)], expireAfterSeconds=0, name="expires_ttl"),
    ],
    "revoked_tokens": [
        # every authenticated request checks its jti here.
        IndexModel([("jti", ASCENDING)], unique=True, name="jti_unique"),
        # a revoked token needs remembering only until it would have expired anyway.
        IndexModel([("expires_at", ASCENDING)], expireAfterSeconds=0, name="expires_ttl"),
    ],
    "venues": [
        # /venues/mine, and the owner's bookings list resolves its venue ids here.
        IndexModel([("owner_id", ASCENDING), ("created_at", DESCENDING)], name="owner_created"),
        # search filters: type and capacity range (seed §1.3).
        IndexModel([("type", ASCENDING), ("capacity", ASCENDING)], name="type_capacity"),
        IndexModel([("capacity", ASCENDING)], name="capacity"),
        # search with near_*: $geoNear needs exactly one 2dsphere index.
        IndexModel([("maps_location", GEOSPHERE)], name="maps_location_2dsphere"),
        # search with date: venues open that day.
        IndexModel([("dates_available", ASCENDING)], name="dates_available"),
        # price on a date looks up the override for that date (seed §1.3).
        IndexModel([("pricing.overrides.date", ASCENDING)], name="override_date"),
        # search by city and status, newest first.
        IndexModel([("status", ASCENDING), ("city", ASCENDING)], name="status_city"),
        # search with amenities (amenities.<name>: true), and, when that finds nothing, which
        # of the names no venue has at all (amenities.<name> $exists): any name, one index.
        IndexModel([("amenities.$**", ASCENDING)], name="amenities_any"),
    ],
    "bookings": [
        # a venue's bookings by date and status (seed §1.4): e.g. future active ones of a venue.
        IndexModel(
            [("venue_id", ASCENDING), ("date", ASCENDING), ("status", ASCENDING)],
            name="venue_date_status",
        ),
        # GET /bookings for a customer (and an owner's ?mine=true): newest first, _id breaks
        # ties between bookings made in the same millisecond so pages never overlap.
        IndexModel(
            [("user_id", ASCENDING), ("created_at", DESCENDING), ("_id", DESCENDING)],
            name="user_created",
        ),
        # GET /bookings for an owner: every booking of their venues, newest first.
        IndexModel(
            [("owner_id", ASCENDING), ("created_at", DESCENDING), ("_id", DESCENDING)],
            name="owner_created",
        ),
        # POST /bookings: the customer's live unpaid holds, over all venues and at one (the
        # holds cap: user_id, status pending, expires_at null or > now; payment and venue
        # filtered on the few documents found).
        IndexModel(
            [("user_id", ASCENDING), ("status", ASCENDING), ("expires_at", ASCENDING)],
            name="user_status_expires",
        ),
        # expire-holds: pending bookings whose hold is over (status pending, expires_at <= now).
        IndexModel([("status", ASCENDING), ("expires_at", ASCENDING)], name="status_expires"),
        # expire-holds: confirmed bookings on dates that may be over (date < the latest today).
        IndexModel([("status", ASCENDING), ("date", ASCENDING)], name="status_date"),
        # wallet-reconcile: recent moves (history.at) whose refund a crash may have cut off.
        IndexModel([("history.at", ASCENDING)], name="history_at"),
        # POST /bookings with an Idempotency-Key: a retry finds the booking its first attempt
        # made, and unique makes two attempts at one action make one booking (sparse: only
        # bookings made with a key have one).
        IndexModel([("request_key", ASCENDING)], unique=True, sparse=True, name="request_key"),
        # expire-holds: recently ended bookings (status, updated_at) whose refund a crash cut off.
        IndexModel([("status", ASCENDING), ("updated_at", ASCENDING)], name="status_updated"),
        # GET /bookings/<reference>, and every route that takes a booking id, finds a booking
        # by its reference; unique, so a booking's write draws again on a taken one
        # (bookings.references). Sparse: a booking stored before references has none until
        # `flask migrate` gives it one.
        IndexModel([("reference", ASCENDING)], unique=True, sparse=True, name="reference_unique"),
    ],
    "slot_claims": [
        # The double-booking guard is the `_id` index itself: a claim's _id is claim_id(venue,
        # date, slot), and a booking takes it with an upsert matching only a free claim, so a
        # second taker collides on the _id. This one serves the reads by venue and dates
        # (availability's held_slots).
        IndexModel(
            [("venue_id", ASCENDING), ("date", ASCENDING), ("slot", ASCENDING)],
            name="venue_date_slot",
        ),
        # releasing a booking's claims finds them by booking.
        IndexModel([("booking_id", ASCENDING)], name="booking"),
        # search with date: held_by_venue(date) reads one day's held claims across all venues;
        # expire-holds: delete_past removes the claims of dates over (date $lt).
        IndexModel([("date", ASCENDING), ("state", ASCENDING)], name="date_state"),
        # the orphan sweep (expire-holds): held claims taken longer ago than the grace period.
        IndexModel([("state", ASCENDING), ("claimed_at", ASCENDING)], name="state_claimed_at"),
        # claims a dead request left in flight past their grace period (settle_stale).
        IndexModel([("in_flight", ASCENDING), ("expires_at", ASCENDING)], name="in_flight_expires"),
    ],
    "wallet_transactions": [
        # the ledger applies each money movement once: payment:<booking>, refund:<booking>, ...
        IndexModel([("key", ASCENDING)], unique=True, name="key_unique"),
        # GET /wallet and /wallet/transactions: a user's settled entries, latest applied first.
        IndexModel(
            [("user_id", ASCENDING), ("state", ASCENDING), ("seq", DESCENDING)],
            name="user_state_seq",
        ),
        # refunds cap themselves at what the booking's payments took.
        IndexModel([("booking_id", ASCENDING), ("kind", ASCENDING)], name="booking_kind"),
        # wallet-reconcile claims entries a crash left pending or voiding, oldest first.
        IndexModel([("state", ASCENDING), ("touched_at", ASCENDING)], name="state_touched"),
        # expire-holds: recent settled payments whose booking or move never happened.
        IndexModel(
            [("kind", ASCENDING), ("state", ASCENDING), ("at", ASCENDING)], name="kind_state_at"
        ),
    ],
    "outbox": [
        # send-outbox claims due messages: status queued/failed/sending, next_attempt_at <= now,
        # earliest first (mail.py). Replaces status_created, which nothing queries any more.
        IndexModel(
            [("status", ASCENDING), ("next_attempt_at", ASCENDING)], name="status_next_attempt"
        ),
    ],
    "idempotency_keys": [
        # a request with an Idempotency-Key reserves (user, key) by inserting it: one winner.
        IndexModel([("user_id", ASCENDING), ("key", ASCENDING)], unique=True, name="user_key"),
        # a key answers for 24 hours; the server forgets it after that.
        IndexModel(
            [("created_at", ASCENDING)],
            expireAfterSeconds=IDEMPOTENCY_KEEP_SECONDS,
            name="created_ttl",
        ),
    ],
}


def connect(config):
    """Open the database named by the config: a real server, or the embedded one."""
    uri = config.get("MONGO_URI")
    if uri:
        timeout = config["MONGO_TIMEOUT_MS"]
        client = MongoClient(
            uri,
            tz_aware=True,
            serverSelectionTimeoutMS=timeout,
            connectTimeoutMS=timeout,
            socketTimeoutMS=config["MONGO_SOCKET_TIMEOUT_MS"],
        )
        log.info("database: MongoDB at %s, database %s", _redact(uri), config["MONGO_DB"])
    else:
        from halls import embedded

        client = embedded.client()
        log.info(
            "database: embedded (mongomock, in this process only), database %s", config["MONGO_DB"]
        )
    return client[config["MONGO_DB"]]


def _redact(uri):
    # mongodb://user:secret@host -> mongodb://***@host: credentials never reach a log.
    scheme, sep, rest = uri.partition("://")
    if "@" in rest:
        rest = "***@" + rest.split("@", 1)[1]
    return scheme + sep + rest


# Indexes an earlier version declared, dropped at start-up before INDEXES are created (a
# server refuses an index whose keys an old one with another name or options already has).
RETIRED_INDEXES = {
    # slot claims became keyed by _id (claim_id): the _id index is their unique key now.
    "slot_claims": ["venue_date_slot_unique"],
}


def claim_id(venue_id: object, date: str, slot: str) -> str:
    """The `_id` of the claim on one slot of a venue on a date: unique per slot by itself."""
    return f"{venue_id}:{date}:{slot}"


def create_indexes(database):
    """Bring older documents and indexes up to date, then create every declared index.

    Safe to repeat, and to run from several workers at once.
    """
    for name, retired in RETIRED_INDEXES.items():
        present = database[name].index_information()
        for index in retired:
            if index in present:
                try:
                    database[name].drop_index(index)
                except OperationFailure:
                    log.info("index %s.%s already dropped", name, index)
    # After the drop: the old unique index would refuse the keyed copy of each claim.
    _key_old_claims(database["slot_claims"])
    for name, models in INDEXES.items():
        database[name].create_indexes(models)


def _key_old_claims(claims):
    """Give claims stored before claim_id existed (an ObjectId _id) their key as _id."""
    for claim in claims.find({"_id": {"$type": "objectId"}}):
        keyed = {**claim, "_id": claim_id(claim["venue_id"], claim["date"], claim["slot"])}
        # Already there: another worker moved it first (the old unique index allowed one).
        with contextlib.suppress(DuplicateKeyError):
            claims.insert_one(keyed)
        claims.delete_one({"_id": claim["_id"]})


def database() -> Database[Any]:
    """The current app's database."""
    return current_app.extensions["halls_db"]


def _collection(name: str) -> Collection[Any]:
    """The current database's collection of that name, made once per database (a Collection
    is a thread-safe handle; making one per call cost each request several)."""
    database_now = database()
    made: tuple[Database[Any], dict[str, Collection[Any]]] | None
    made = current_app.extensions.get("halls_collections")
    if made is None or made[0] is not database_now:  # a first call, or another database since
        made = (database_now, {})
        current_app.extensions["halls_collections"] = made
    collection = made[1].get(name)
    if collection is None:
        collection = made[1][name] = database_now[name]
    return collection


def users() -> Collection[User]:
    return _collection("users")


def password_resets() -> Collection[Any]:
    return _collection("password_resets")


def login_attempts() -> Collection[Any]:
    return _collection("login_attempts")


def revoked_tokens() -> Collection[Any]:
    return _collection("revoked_tokens")


def venues() -> Collection[Venue]:
    return _collection("venues")


def bookings() -> Collection[Booking]:
    return _collection("bookings")


def slot_claims() -> Collection[Claim]:
    return _collection("slot_claims")


def outbox() -> Collection[OutboxMessage]:
    return _collection("outbox")


def idempotency_keys() -> Collection[Any]:
    return _collection("idempotency_keys")


def wallet_transactions() -> Collection[WalletEntry]:
    return _collection("wallet_transactions")


NEWEST_FIRST = [("created_at", DESCENDING), ("_id", DESCENDING)]

Document = TypeVar("Document", bound=Mapping[str, Any])


class Page(TypedDict, Generic[Document]):
    items: list[Document]
    page: int
    limit: int
    total: int


def find_page(
    collection: Collection[Document],
    query: Mapping[str, Any],
    page: int,
    limit: int,
    sort: Sequence[tuple[str, int]] = NEWEST_FIRST,
) -> Page[Document]:
    """One page of a query as {"items", "page", "limit", "total"}; newest first by default."""
    cursor = collection.find(query).sort(sort).skip((page - 1) * limit).limit(limit)
    total = collection.count_documents(query)
    return {"items": list(cursor), "page": page, "limit": limit, "total": total}


def ping():
    """Ask the server to answer; raises a ConnectionFailure when it cannot."""
    database().command("ping")
