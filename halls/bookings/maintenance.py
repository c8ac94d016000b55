"""The bookings' cron work: holds past their time marked expired and days that are over
marked completed (`expire-holds`), and the refunds of cheaper moves that a crash cut off paid
(`wallet-reconcile`). The slots never wait for them: a lapsed hold frees its slots by itself.
"""

import datetime as dt
from collections.abc import Mapping

from bson import ObjectId

from halls import clock, db, rules
from halls.bookings import lifecycle
from halls.wallet import service as wallet


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

    A move writes the booking, then refunds the difference under `refund:<id>:move<step>`; a
    crash between the two leaves the history's negative price_delta with no such entry. Only
    moves older than older_than are looked at: a younger one may still be finishing.
    """
    now = now or clock.now()
    window = {"$lte": now - older_than, "$gte": now - MOVE_REFUNDS_WITHIN}
    moved = {"price_delta": {"$lt": 0}, "at": window}
    query = {"payment.method": lifecycle.WALLET, "history": {"$elemMatch": moved}}
    paid = 0
    for booking in db.bookings().find(query, {"user_id": 1, "history": 1}):
        owed = {
            f"refund:{booking['_id']}:move{step}": -change["price_delta"]
            for step, change in enumerate(booking["history"], start=1)
            if change["price_delta"] < 0
        }
        made = wallet.recorded(owed)
        for key, amount in owed.items():
            if key not in made:
                wallet.refund_for_booking(booking["user_id"], booking["_id"], amount, key=key)
                paid += 1
    return paid
