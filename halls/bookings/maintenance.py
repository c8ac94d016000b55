"""The bookings' cron work: holds past their time marked expired and days that are over
marked completed, and the repair of whatever a fault cut off half-way (`expire-holds`, which
runs `repair`). The slots never wait for it: a lapsed hold frees its slots by itself.
"""

import datetime as dt
import logging
from collections.abc import Mapping

from bson import ObjectId

from halls import clock, db, rules
from halls.bookings import claims, lifecycle
from halls.wallet import service as wallet

log = logging.getLogger("halls.bookings")


def expire_holds(now: dt.datetime | None = None) -> int:
    """Mark every pending booking past its hold expired; returns how many."""
    now = now or clock.now()
    lapsed = db.bookings().find({"status": "pending", "expires_at": {"$lte": now}})
    return sum(1 for booking in lapsed if lifecycle.expire(booking, now=now))


def complete_bookings(now: dt.datetime | None = None) -> int:
    """Mark confirmed bookings whose date is over where their venue is completed."""
    now = now or clock.now()
    # No venue's today is later than today in the furthest-ahead zone: only dates before it
    # can be over anywhere, so only those are read.
    candidates = db.bookings().find(
        {"status": "confirmed", "date": {"$lt": rules.today_in(rules.LATEST_ZONE, now)}}
    )
    done = 0
    zones: dict[ObjectId, Mapping[str, object]] = {}  # a venue's time zone, {} if it is gone
    for booking in candidates:
        venue_id = booking["venue_id"]
        if venue_id not in zones:
            zones[venue_id] = db.venues().find_one({"_id": venue_id}, {"timezone": 1}) or {}
        if booking["date"] >= rules.local_today(zones[venue_id], now):
            continue
        result = db.bookings().update_one(
            {"_id": booking["_id"], "status": "confirmed"},
            {"$set": {"status": "completed", "completed_at": now, "updated_at": now}},
        )
        done += result.modified_count
    return done


# How far back wallet-reconcile looks for moves whose refund a crash left unpaid.
MOVE_REFUNDS_WITHIN = dt.timedelta(days=30)


def repair_move_refunds(
    now: dt.datetime | None = None, older_than: dt.timedelta = wallet.RECONCILE_AFTER
) -> int:
    """Pay the refunds of cheaper moves that a crash cut off after the move; returns how many.

    A move writes the booking, then refunds what its history entry says it `refunded` under
    `refund:<id>:move<step>`; a crash between the two leaves that entry with no such refund. Only
    moves older than older_than are looked at: a younger one may still be finishing.
    """
    now = now or clock.now()
    window = {"$lte": now - older_than, "$gte": now - MOVE_REFUNDS_WITHIN}
    moved = {"refunded": {"$gt": 0}, "at": window}
    query = {"payment.method": lifecycle.WALLET, "history": {"$elemMatch": moved}}
    paid = 0
    for booking in db.bookings().find(query, {"user_id": 1, "history": 1}):
        owed = {
            f"refund:{booking['_id']}:move{step}": change["refunded"]
            for step, change in enumerate(booking["history"], start=1)
            if change["refunded"] > 0
        }
        made = wallet.recorded(owed)
        for key, amount in owed.items():
            if key not in made:
                wallet.refund_for_booking(booking["user_id"], booking["_id"], amount, key=key)
                paid += 1
    return paid


# How far back expire-holds looks for refunds a crash left unpaid and payments it left standing.
REPAIRS_WITHIN = dt.timedelta(days=30)
ENDED = ("rejected", "cancelled", "expired")


def repair_refunds(now=None, older_than=wallet.RECONCILE_AFTER):
    """Pay the refunds that bookings ended with but a fault kept from the wallet; how many.

    Ending a booking writes its refund on it first (lifecycle.refund_fields) and pays it
    after, under `refund:<id>`: a crash in between leaves the booking saying what is owed and
    no such entry. The key makes each paid once, whoever gets there first.
    """
    now = now or clock.now()
    query = {
        "status": {"$in": list(ENDED)},
        "updated_at": {"$lte": now - older_than, "$gte": now - REPAIRS_WITHIN},
        "payment.method": lifecycle.WALLET,
        "refund.amount": {"$gt": 0},
    }
    found = db.bookings().find(query, {"user_id": 1, "refund": 1})
    owed = {f"{wallet.REFUND}:{booking['_id']}": booking for booking in found}
    made = wallet.recorded(owed)
    for key, booking in owed.items():
        if key not in made:
            amount = booking["refund"]["amount"]
            wallet.refund_for_booking(booking["user_id"], booking["_id"], amount, key=key)
    return len(owed) - len(made)


def void_stray_payments(now=None, older_than=wallet.RECONCILE_AFTER):
    """Void settled payments whose booking or move never happened; returns how many.

    A booking pays before it is written, and a move before it moves (`payment:<id>` and
    `payment:<id>:move<n>`): a failure after the payment undoes both, and a crash in the undo
    leaves a payment nothing accounts for: no booking with that id, or no move n with that
    price in its history. Only payments older than older_than are judged (a live request may
    be about to write its booking).
    """
    now = now or clock.now()
    window = {"$lte": now - older_than, "$gte": now - REPAIRS_WITHIN}
    query = {"kind": wallet.PAYMENT, "state": wallet.DONE, "at": window}
    payments = list(db.wallet_transactions().find(query, {"key": 1, "booking_id": 1, "amount": 1}))
    ids = list({payment["booking_id"] for payment in payments})
    found = db.bookings().find({"_id": {"$in": ids}}, {"history": 1})
    bookings = {booking["_id"]: booking for booking in found}
    voided = 0
    for payment in payments:
        if not _accounted(payment, bookings.get(payment["booking_id"])):
            log.warning("voiding payment %s: nothing it paid for exists", payment["key"])
            wallet.void_debit(payment["booking_id"], key=payment["key"])
            voided += 1
    return voided


def _accounted(payment, booking):
    if booking is None:
        return False
    _, _, move = payment["key"].partition(f"payment:{payment['booking_id']}:move")
    if not move:
        return True  # the booking's own payment: the booking exists, so it was made
    history = booking.get("history") or []
    step = int(move)
    return step <= len(history) and history[step - 1]["price_delta"] == -payment["amount"]


def repair(now=None):
    """Every repair, in an order where each finds what the one before left: counts of each.

    Money first (half-done movements finished or voided, then payments nothing accounts for),
    then statuses, then refunds owed, then the claims. Each step is idempotent and leaves
    alone what a live request may still own (younger than its window).
    """
    now = now or clock.now()
    counts = {f"wallet {name}": n for name, n in wallet.reconcile(now=now).items()}
    counts["stray payments voided"] = void_stray_payments(now)
    counts["expired"] = expire_holds(now)
    counts["completed"] = complete_bookings(now)
    counts["refunds paid"] = repair_refunds(now)
    counts["move refunds paid"] = repair_move_refunds(now)
    settled = claims.settle_stale(now)
    counts["claims held for their booking"] = settled["held"]
    counts["claims in flight freed"] = settled["freed"]
    counts["freed"] = claims.sweep_orphans(now)
    counts["deleted"] = claims.delete_past(now)
    return counts
