"""The wallet: a balance on the user and a ledger entry for every money movement.

Each movement is a `wallet_transactions` entry with a unique `key` (`payment:<booking_id>`,
`refund:<booking_id>`, `credit:<uuid>`). The balance only changes together with its entry,
and nothing is applied twice, without multi-document transactions (a standalone server has
none). Four writes, each atomic on its own:

1. Insert the entry, state `pending`. The unique key turns a replay (a cancel sent twice) into
   a DuplicateKeyError, and the replay answers with the first entry instead of paying again.
2. Apply it to the user in one update whose filter pins `wallet_seq` (how many movements the
   wallet has had, read just before) and requires the entry's ref to be absent from
   `pending_txns`; it sets the new balance, bumps `wallet_seq` and pushes
   `{ref, entry_id, balance_after, seq, at}` onto `pending_txns`. Why pin the sequence
   instead of `$inc` with a `balance >= amount` guard: the new balance and the never-negative
   check are computed from exactly the balance being replaced, so balance_after is known
   before the write and stored on the user by the same atomic update; a crash right after it
   loses nothing. A request that lost a race to another movement of the same wallet re-reads
   and retries.
3. Mark the entry `done` with its balance_after and seq (seq orders the statement exactly).
4. `$pull` the ref from `pending_txns`.

A crash after step 1 leaves a pending entry, after step 2 an applied one the user still lists,
after step 3 a leftover ref. `reconcile()` (`flask --app wsgi wallet-reconcile`, run it from
cron) repairs them: an applied entry is settled from the user's record; an unapplied refund is
applied (the customer is owed it); an unapplied payment or credit is voided, because nobody saw
it succeed (the booking failed, the admin got an error and will retry); leftover refs of
settled entries are pulled.

Only one writer advances an entry at a time: the request that inserted it, or, once it has
sat untouched for RECONCILE_AFTER, the reconcile run that claimed it by bumping `touched_at`.
A replay that meets an existing entry returns it as it stands. This matters because after
step 4 the user no longer remembers the ref, so two writers trusting step 2's guard at once
could apply one entry twice.

A payment that its booking could not keep is voided (`void_debit`): the entry goes `voiding`
(the intent survives a crash), the reversal is applied under its own ref `void:<key>`, and the
entry becomes `void`: no money moved. A void entry gives its key up (it keeps it as
`voided_key`), so a retry of the same step, e.g. a reschedule, pays under the same key again.
Entries in state `done` always sum to the balance; pending and void entries never count, and
only `done` ones are shown to the user.
"""

import datetime as dt
import logging
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

from bson import ObjectId
from pymongo import ASCENDING, DESCENDING, ReturnDocument
from pymongo.errors import DuplicateKeyError

from halls import clock, db
from halls.documents import PendingTxn, User, WalletEntry
from halls.errors import ApiError, Conflict, NotFound, ServiceUnavailable

log = logging.getLogger("halls.wallet")

CURRENCY = "PKR"
PAYMENT, REFUND, CREDIT = "payment", "refund", "credit"
KINDS = (PAYMENT, REFUND, CREDIT)
PENDING, DONE, VOIDING, VOID = "pending", "done", "voiding", "void"
RECENT = 10
# Far longer than any request runs: an entry untouched this long has no live writer left.
RECONCILE_AFTER = dt.timedelta(minutes=10)
# Each lost race means another movement of the same wallet succeeded, so retries are few;
# the bound only stops a pathological storm from spinning forever.
MAX_ATTEMPTS = 100
APPLIED_ORDER = [("seq", DESCENDING), ("_id", DESCENDING)]


def balance(user_id: ObjectId) -> int:
    """The user's balance in PKR; 0 for a wallet never used."""
    user = db.users().find_one({"_id": user_id}, {"wallet_balance": 1})
    return user.get("wallet_balance", 0) if user else 0


def get_wallet(user: User) -> dict[str, Any]:
    """The user's balance and their latest settled entries."""
    recent = (
        db.wallet_transactions()
        .find({"user_id": user["_id"], "state": DONE})
        .sort(APPLIED_ORDER)
        .limit(RECENT)
    )
    return {"balance": balance(user["_id"]), "currency": CURRENCY, "recent": list(recent)}


def list_transactions(user: User, args: Mapping[str, Any]) -> db.Page[WalletEntry]:
    """A page of the user's settled entries, latest first."""
    query: dict[str, Any] = {"user_id": user["_id"], "state": DONE}
    if "kind" in args:
        query["kind"] = args["kind"]
    return db.find_page(
        db.wallet_transactions(), query, args["page"], args["limit"], sort=APPLIED_ORDER
    )


def credit_wallet(admin: User, user_id: ObjectId, amount: int, note: str) -> dict[str, Any]:
    """An admin tops up a user's wallet (there is no payment gateway yet)."""
    if db.users().find_one({"_id": user_id}, {"_id": 1}) is None:
        raise NotFound("No such user.", error_code="user_not_found")
    key = f"{CREDIT}:{uuid.uuid4().hex}"
    entry = _record(user_id, amount, CREDIT, key, note=note, by=admin["_id"])
    return {"transaction": entry, "balance": balance(user_id)}


def debit_for_booking(
    user_id: ObjectId, booking_id: ObjectId, amount: int, key: str | None = None
) -> WalletEntry | None:
    """Pay for a booking from the wallet: the done entry, or 409 `insufficient_funds`.

    A booking with nothing to pay (amount 0) moves no money and returns None. `key` lets one
    booking pay more than once (e.g. a reschedule's difference); it defaults to
    `payment:<booking_id>`, and a repeat with the same key returns the first entry.
    """
    if amount < 0:
        raise ValueError("a debit amount is what the customer pays: zero or more")
    if amount == 0:
        return None
    return _record(user_id, -amount, PAYMENT, key or f"{PAYMENT}:{booking_id}", booking_id)


def void_debit(booking_id: ObjectId, key: str | None = None) -> WalletEntry | None:
    """Undo a booking's payment as if it never happened: balance restored, entry `void`.

    The void entry gives its key up, so a retry may pay under the same key; calling this again
    then finds nothing left to void and returns None.
    """
    key = key or f"{PAYMENT}:{booking_id}"
    entry = db.wallet_transactions().find_one({"key": key})
    if entry is None:
        return None
    if entry["state"] == PENDING:
        applied = _applied(entry["user_id"], key)
        if applied is None:
            return _void_unapplied(entry)
        entry = _settle(entry, [key], _done(applied))
    return _reverse(entry)


def refund_for_booking(
    user_id: ObjectId, booking_id: ObjectId, amount: int, key: str | None = None
) -> WalletEntry | None:
    """Give money back for a booking: the refund entry, or the one an earlier call made.

    Idempotent by key (default `refund:<booking_id>`): replaying a cancel never refunds twice.
    Never refunds more than the booking's settled payments took, less earlier refunds; with
    nothing to refund it returns None.
    """
    key = key or f"{REFUND}:{booking_id}"
    existing = db.wallet_transactions().find_one({"key": key})
    if existing is not None:
        return existing
    refundable = refundable_for(user_id, booking_id)
    if amount > refundable:
        log.warning(
            "refund capped at what was paid",
            extra={"fields": {"booking_id": str(booking_id), "asked": amount, "paid": refundable}},
        )
        amount = refundable
    if amount <= 0:
        return None
    return _record(user_id, amount, REFUND, key, booking_id)


def recorded(keys: Iterable[str]) -> set[str]:
    """Which of these movement keys the ledger has an entry for, in any state."""
    found = db.wallet_transactions().find({"key": {"$in": list(keys)}}, {"key": 1})
    return {entry["key"] for entry in found}


def refundable_for(user_id: ObjectId, booking_id: ObjectId) -> int:
    """What the booking's settled payments took from the user, less refunds made or owed."""
    entries = db.wallet_transactions().find(
        {
            "booking_id": booking_id,
            "kind": {"$in": [PAYMENT, REFUND]},
            "user_id": user_id,
            "state": {"$in": [PENDING, DONE]},
        },
        {"kind": 1, "state": 1, "amount": 1},
    )
    # A pending payment may yet be voided, so it does not count; a pending refund is owed.
    paid = sum(-e["amount"] for e in entries if e["kind"] == REFUND or e["state"] == DONE)
    return max(paid, 0)


def _record(
    user_id: ObjectId,
    amount: int,
    kind: str,
    key: str,
    booking_id: ObjectId | None = None,
    note: str | None = None,
    by: ObjectId | None = None,
) -> WalletEntry | None:
    """Insert, apply and settle one movement; a repeated key returns the first entry."""
    now = clock.now()
    entry: WalletEntry = {
        "_id": ObjectId(),
        "user_id": user_id,
        "amount": amount,
        "kind": kind,
        "booking_id": booking_id,
        "balance_after": None,
        "seq": None,
        "key": key,
        "state": PENDING,
        "at": now,
        "touched_at": now,
    }
    if note is not None:  # a credit's: why, and which admin gave it
        entry["note"] = note
    if by is not None:
        entry["by"] = by
    try:
        db.wallet_transactions().insert_one(entry)
    except DuplicateKeyError:
        return db.wallet_transactions().find_one({"key": key})
    try:
        applied = _apply(entry, key, amount)
    except ApiError:
        # A refusal (too little money, no such user, busy) came before any balance moved.
        db.wallet_transactions().delete_one({"_id": entry["_id"], "state": PENDING})
        raise
    return _settle(entry, [key], _done(applied))


def _apply(entry: WalletEntry, ref: str, delta: int) -> PendingTxn:
    """Move the entry's user's balance by delta once for ref; the pending_txns item that did it."""
    user_id = entry["user_id"]
    for _ in range(MAX_ATTEMPTS):
        user = db.users().find_one(
            {"_id": user_id}, {"wallet_balance": 1, "wallet_seq": 1, "pending_txns": 1}
        )
        if user is None:
            raise NotFound("No such user.", error_code="user_not_found")
        applied = _item(user, ref)
        if applied is not None:
            return applied
        current = user.get("wallet_balance", 0)
        # Only paying can be refused: money coming back is never turned away.
        if delta < 0 and current + delta < 0:
            raise Conflict(
                "The wallet balance is too low to pay this.",
                error_code="insufficient_funds",
                details={"balance": current, "needed": -delta},
            )
        seq = user.get("wallet_seq", 0)
        item: PendingTxn = {
            "ref": ref,
            "entry_id": entry["_id"],
            "balance_after": current + delta,
            "seq": seq + 1,
            "at": clock.now(),
        }
        result = db.users().update_one(
            {"_id": user_id, "wallet_seq": _pinned(seq), "pending_txns.ref": {"$ne": ref}},
            {
                "$set": {"wallet_balance": item["balance_after"], "wallet_seq": item["seq"]},
                "$push": {"pending_txns": item},
            },
        )
        if result.modified_count:
            return item
    raise ServiceUnavailable("The wallet is busy; try again.", error_code="wallet_busy")


def _pinned(seq: int) -> int | dict[str, list[int | None]]:
    # A wallet never used has no wallet_seq yet; {$in: [0, None]} matches the missing field.
    return seq if seq else {"$in": [0, None]}


def _item(user: User, ref: str) -> PendingTxn | None:
    return next((i for i in user.get("pending_txns") or [] if i["ref"] == ref), None)


def _applied(user_id: ObjectId, ref: str) -> PendingTxn | None:
    """The user's record of ref's application, or None if it never moved the balance."""
    user = db.users().find_one({"_id": user_id}, {"pending_txns": 1})
    return _item(user, ref) if user else None


def _done(applied: PendingTxn) -> dict[str, Any]:
    return {
        "state": DONE,
        "balance_after": applied["balance_after"],
        "seq": applied["seq"],
        "settled_at": clock.now(),
    }


def _settle(entry: WalletEntry, refs: list[str], changes: Mapping[str, Any]) -> WalletEntry:
    """Write the outcome on the entry, then let the user forget its refs (steps 3 and 4)."""
    settled = db.wallet_transactions().find_one_and_update(
        {"_id": entry["_id"]}, {"$set": changes}, return_document=ReturnDocument.AFTER
    )
    db.users().update_one(
        {"_id": entry["user_id"]}, {"$pull": {"pending_txns": {"ref": {"$in": refs}}}}
    )
    # Only an entry that never moved the balance is ever deleted (_record): this one is there.
    assert settled is not None
    return settled


def _void_unapplied(entry: WalletEntry) -> WalletEntry | None:
    return db.wallet_transactions().find_one_and_update(
        {"_id": entry["_id"]},
        {"$set": _voided(entry)},
        return_document=ReturnDocument.AFTER,
    )


def _reverse(entry: WalletEntry) -> WalletEntry:
    """Put a settled payment's money back and void it; resumable from `voiding`."""
    db.wallet_transactions().update_one(
        {"_id": entry["_id"]}, {"$set": {"state": VOIDING, "touched_at": clock.now()}}
    )
    ref = f"void:{entry['key']}"
    _apply(entry, ref, -entry["amount"])
    # The payment's own ref goes too, in case a crash left it behind when it was settled.
    return _settle(entry, [entry["key"], ref], _voided(entry))


def _voided(entry: WalletEntry) -> dict[str, Any]:
    # A void entry gives its key up (keeping it as voided_key), so a retry may pay again.
    return {
        "state": VOID,
        "voided_at": clock.now(),
        "key": f"{entry['key']}:void:{entry['_id']}",
        "voided_key": entry["key"],
    }


def reconcile(
    now: dt.datetime | None = None, older_than: dt.timedelta = RECONCILE_AFTER
) -> dict[str, int]:
    """Finish or discard what crashes left half-done; counts of what was repaired."""
    now = now or clock.now()
    cutoff = now - older_than
    summary = {"settled": 0, "applied": 0, "voided": 0, "reversed": 0, "failed": 0, "pulled": 0}
    while True:
        # Claiming by touching: a second reconcile run (or a slow request) never shares it.
        entry = db.wallet_transactions().find_one_and_update(
            {"state": {"$in": [PENDING, VOIDING]}, "touched_at": {"$lte": cutoff}},
            {"$set": {"touched_at": now}},
            sort=[("touched_at", ASCENDING)],
            return_document=ReturnDocument.AFTER,
        )
        if entry is None:
            break
        try:
            summary[_repair(entry)] += 1
        except ApiError as error:
            # Left pending; touched_at makes the next run try again instead of this one looping.
            log.error("wallet entry %s not repaired: %s", entry["_id"], error.description)
            summary["failed"] += 1
    summary["pulled"] = _pull_settled_refs(cutoff)
    return summary


def _repair(entry: WalletEntry) -> str:
    if entry["state"] == VOIDING:
        _reverse(entry)
        return "reversed"
    applied = _applied(entry["user_id"], entry["key"])
    if applied is not None:
        _settle(entry, [entry["key"]], _done(applied))
        return "settled"
    if entry["kind"] != REFUND:
        _void_unapplied(entry)
        return "voided"
    _settle(entry, [entry["key"]], _done(_apply(entry, entry["key"], entry["amount"])))
    return "applied"


def _pull_settled_refs(cutoff: dt.datetime) -> int:
    """Drop refs of settled entries that a crash between steps 3 and 4 left on users."""
    pulled = 0
    for user in db.users().find({"pending_txns.at": {"$lte": cutoff}}, {"pending_txns": 1}):
        for item in user["pending_txns"]:
            if item["at"] > cutoff:
                continue
            entry = db.wallet_transactions().find_one({"_id": item["entry_id"]}, {"state": 1})
            wanted = VOID if item["ref"].startswith("void:") else DONE
            if entry is None or entry["state"] not in (wanted, PENDING, VOIDING):
                log.error("wallet ref %s of user %s needs a person", item["ref"], user["_id"])
            elif entry["state"] == wanted:
                db.users().update_one(
                    {"_id": user["_id"]}, {"$pull": {"pending_txns": {"ref": item["ref"]}}}
                )
                pulled += 1
    return pulled
