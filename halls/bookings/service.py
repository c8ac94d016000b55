"""Bookings: create, list, read, confirm or reject, cancel, reschedule, expire and complete.

The slot_claims collection (claims.py) makes double booking impossible; this module keeps each
booking and its claims in step, in an order of writes that never leaves a slot wrongly free:
claims are taken before the booking that needs them is written, and freed only after the
booking no longer needs them. Each multi-step write undoes its earlier steps when a later one
fails, so a refused request leaves nothing claimed and no money moved.

A pending booking holds its slots until `expires_at` (the venue's `hold_minutes`); its claims
carry the same `expires_at`, so once the hold is over the claim filter treats the slots as free
at once. `expire_holds` (the `expire-holds` command) only tidies up afterwards: it marks such
bookings `expired`, tells their customers and returns any wallet payment.
"""

import datetime as dt

from bson import ObjectId
from pymongo import ReturnDocument

from halls import db, notifications, pricing, rules
from halls.bookings import claims, policy
from halls.errors import Conflict, Forbidden, NotFound, Unprocessable
from halls.schemas import object_id
from halls.wallet import service as wallet

ACTIVE = ("pending", "confirmed")
WALLET = "wallet"


def _now():
    return dt.datetime.now(dt.UTC)


# What a booking reads of its venue: all but the dates offered (the query decides the one date
# it needs) and what only the venue's page shows. pricing.overrides stays whole: a server
# refuses an $elemMatch projection of a nested array.
BOOKING_VIEW = dict.fromkeys(
    (
        "dates_available",
        "pictures",
        "videos",
        "additional_description",
        "amenities",
        "maps_location",
    ),
    0,
)


def get_bookable_venue(venue_id, date):
    """The venue if it takes bookings (status active), read for booking on the date; else 404.

    Its `dates_available` reads [date] when it offers the date and [] when not, so the rules
    answer for that date as on the whole list, which is never copied out of the database.
    """
    active = {"_id": venue_id, "status": "active"}
    venue = db.venues().find_one({**active, "dates_available": date}, BOOKING_VIEW)
    offered = venue is not None
    if not offered:  # the date is not offered, or there is no such venue
        venue = db.venues().find_one(active, BOOKING_VIEW)
        if venue is None:
            raise NotFound("No such venue.", error_code="venue_not_found")
    venue["dates_available"] = [date] if offered else []
    return venue


# Creating ---------------------------------------------------------------------------------


def create_booking(
    user,
    venue_id,
    date,
    guests,
    slot=None,
    slots=None,
    addons=None,
    expected_total=None,
    payment_method="pay_at_venue",
):
    """Book one or more slots of a venue on a date: pending (held), or confirmed at once."""
    venue = get_bookable_venue(venue_id, date)
    now = _now()
    details = pricing.slot_details(venue, slots or ([slot] if slot else []))
    keys = [detail["key"] for detail in details]
    _check_bookable(venue, date, keys, now)
    quote = pricing.quote(venue, date, keys, guests, addons, now)
    pricing.check_expected_total(quote, expected_total)
    booking = _new_booking(user, venue, date, guests, details, quote, payment_method, now)
    _write_claimed(booking)
    notifications.booking_created(booking, venue, user)
    return booking


REFUSALS = {
    "venue_inactive": "The venue is not taking bookings.",
    "date_unavailable": "The venue is not open for booking on that date.",
    "outside_booking_window": "The date is further ahead than the venue takes bookings.",
    "blacked_out": "The venue has blocked that date or slot.",
    "too_late_to_book": "The slot starts too soon to book; the venue needs more notice.",
}


def _check_bookable(venue, date, keys, now):
    """409 with the venue's reason when any slot may not be booked now (claims aside)."""
    refusals = {}
    for key in keys:
        refusal = rules.slot_refusal(venue, date, key, now)
        if refusal:
            refusals.setdefault(refusal, []).append(key)
    if refusals:
        # One code per answer: the first refusal found names every slot it applies to.
        code, slots = next(iter(refusals.items()))
        raise Conflict(
            REFUSALS.get(code, "That slot cannot be booked."),
            error_code=code,
            details={"date": date, "slots": slots},
        )


def _new_booking(user, venue, date, guests, details, quote, payment_method, now):
    return {
        "_id": ObjectId(),
        "venue_id": venue["_id"],
        "venue": {"id": venue["_id"], "venue_name": venue["venue_name"]},
        "user_id": user["_id"],
        # The venue's owner, copied so an owner's list is one indexed query.
        "owner_id": venue["owner_id"],
        **_placed(venue, date, details, quote, now),
        "guests": guests,
        "addons": _addons_of(quote),
        "currency": "PKR",
        "payment": {
            "method": payment_method,
            "paid": quote["total"] if payment_method == WALLET else 0,
            "refunded": 0,
        },
        "history": [],
        "created_at": now,
        "updated_at": now,
    }


def _placed(venue, date, details, quote, now):
    """Where a booking is, what it costs there, and how firmly it holds: new or moved."""
    fields = {
        "date": date,
        "slots": [detail["key"] for detail in details],
        "slot": details[0]["key"],
        "slot_details": details,
        "price_locked": pricing.locked(quote),
    }
    if rules.setting(venue, "auto_confirm"):
        fields.update(status="confirmed", confirmed_at=now, confirmed_once=True)
    else:
        fields.update(status="pending", expires_at=_hold_until(venue, date, details, now))
    return fields


def _addons_of(quote):
    return [
        {"key": line["key"], "qty": line["qty"]}
        for line in quote["lines"]
        if line["kind"] == "addon"
    ]


def _hold_until(venue, date, details, now):
    hold = now + dt.timedelta(minutes=rules.setting(venue, "hold_minutes"))
    # A hold never outlasts the start of the event it holds the slots for.
    return min(hold, rules.event_start(venue, date, [detail["key"] for detail in details]))


def _write_claimed(booking):
    """Claim, insert, confirm the claims: any failure undoes the earlier steps."""
    booking_id, place = booking["_id"], (booking["venue_id"], booking["date"], booking["slots"])
    # The claims first: only their unique index can refuse a second booker atomically.
    claims.claim_slots(*place, booking_id)
    try:
        db.bookings().insert_one(booking)
    except BaseException:
        claims.release_claims(booking_id)
        raise
    try:
        _recheck_venue(booking["venue_id"], booking["date"], booking["slots"])
        if booking["payment"]["method"] == WALLET:
            wallet.debit_for_booking(booking["user_id"], booking_id, booking["payment"]["paid"])
        if not claims.confirm_claims(booking_id, *place, booking.get("expires_at")):
            # The insert outlived the grace period and someone took a lapsed claim over.
            raise _slot_taken(booking["date"], booking["slots"])
    except BaseException:
        if booking["payment"]["method"] == WALLET:
            wallet.void_debit(booking_id)
        db.bookings().delete_one({"_id": booking_id})
        claims.release_claims(booking_id)
        raise


def _recheck_venue(venue_id, date, keys):
    """Once the claims and the booking are written: the venue still offers these slots.

    Write, then check: the venue's owner deletes a venue or removes a date or slot by writing
    first and then looking for bookings and claims (venues.service), and a booking writes its
    claims and itself first and then reads the venue here. Of two such requests racing, at
    least one sees the other's write, so no booking is left on a deleted venue, a removed date
    or a removed slot.
    """
    offering = {"_id": venue_id, "status": "active", "dates_available": date}
    venue = db.venues().find_one(offering, {"slots": 1})  # its slots only: the usual answer
    if venue is None:
        venue = get_bookable_venue(venue_id, date)  # 404 when it is gone or inactive
        if not venue["dates_available"]:
            raise Conflict(
                REFUSALS["date_unavailable"],
                error_code="date_unavailable",
                details={"date": date, "slots": list(keys)},
            )
    pricing.slot_details(venue, keys)  # 422 for a slot the venue no longer has


def _slot_taken(date, slots):
    return Conflict(
        "That slot is already booked.",
        error_code="slot_taken",
        details={"date": date, "slots": list(slots)},
    )


# Reading ----------------------------------------------------------------------------------


def list_bookings(user, args):
    """A page of the bookings the user may see, newest first."""
    if user.get("is_venue_owner") and not args.get("mine"):
        query = {"owner_id": user["_id"]}
    else:
        query = {"user_id": user["_id"]}
    if "venue_id" in args:
        query["venue_id"] = args["venue_id"]
    if "status" in args:
        query.update(_status_filter(args["status"], _now()))
    dates = {}
    if "date_from" in args:
        dates["$gte"] = args["date_from"]
    if "date_to" in args:
        dates["$lte"] = args["date_to"]
    if dates:
        query["date"] = dates
    page = db.find_page(db.bookings(), query, args["page"], args["limit"])
    now = _now()
    page["items"] = [_as_seen(booking, now) for booking in page["items"]]
    return page


def _status_filter(status, now):
    # A pending booking whose hold is over is expired, swept or not: filter as we show it.
    if status == "pending":
        return {"status": "pending", "$or": [{"expires_at": None}, {"expires_at": {"$gt": now}}]}
    if status == "expired":
        return {"$or": [{"status": "expired"}, {"status": "pending", "expires_at": {"$lte": now}}]}
    return {"status": status}


def get_booking(user, booking_id):
    """A booking its booker or its venue's owner may see; 404 for anyone else."""
    return _as_seen(_find_booking(user, booking_id), _now())


def _find_booking(user, booking_id):
    booking_id = object_id(booking_id)
    booking = None
    if booking_id is not None:
        # Who may see it is part of the filter: a stranger's lookup finds nothing at all.
        booking = db.bookings().find_one(
            {"_id": booking_id, "$or": [{"user_id": user["_id"]}, {"owner_id": user["_id"]}]}
        )
    if booking is None:
        raise NotFound("No such booking.", error_code="booking_not_found")
    return booking


def _lapsed(booking, now):
    expires_at = booking.get("expires_at")
    return booking["status"] == "pending" and expires_at is not None and expires_at <= now


def _as_seen(booking, now):
    """The booking as it truly stands: a pending one past its hold reads as expired."""
    if _lapsed(booking, now):
        return {**booking, "status": "expired"}
    return booking


# Deciding ---------------------------------------------------------------------------------


def decide_booking(user, booking_id, status, reason=None):
    """The venue's owner confirms or rejects a pending booking while its hold lasts."""
    booking = _find_booking(user, booking_id)
    if booking["owner_id"] != user["_id"]:
        raise Forbidden("Only the venue's owner may do this.", error_code="not_venue_owner")
    _refuse_lapsed(booking)
    if booking["status"] != "pending":
        _refuse_transition(booking["_id"], status, booking)
    if status == "confirmed":
        return _confirm(booking, reason)
    return _reject(booking, reason)


def _refuse_lapsed(booking):
    """409 `hold_expired` for a pending booking past its hold (expiring it on the way)."""
    if _lapsed(booking, _now()):
        _expire(booking)
        raise _hold_expired(booking)


def _hold_expired(booking):
    return Conflict(
        "The booking's hold is over; the slots are no longer kept for it.",
        error_code="hold_expired",
        details={"expires_at": _timestamp(booking.get("expires_at"))},
    )


def _confirm(booking, reason):
    # The claims first, and only while live: once they are held for good the hold can no
    # longer lapse, so a confirmed booking always owns its slots. The other order is unsafe:
    # a crash after marking the booking confirmed but before holding its claims for good
    # would leave a confirmed booking whose claims still lapse when the old hold ends, free
    # for another booking to take. This order, crashing between the two writes, leaves only a
    # pending booking holding its slots for good: confirming again finishes the job, and once
    # its hold is over it reads as expired and expire-holds frees them (_expire).
    slots = booking["slots"]
    if not claims.keep_live_claims(booking["_id"], booking["venue_id"], booking["date"], slots):
        current = db.bookings().find_one({"_id": booking["_id"]})
        if current["status"] in ("pending", "expired") and _place(current) == _place(booking):
            # Its claims lapsed (and may have gone to another booking): the hold is over.
            _expire(current, force=True)
            raise _hold_expired(current)
        _overtaken(booking, "confirmed")  # cancelled, rejected or moved meanwhile
    updated = _move_status(booking, "confirmed", reason, unset=("expires_at",))
    notifications.booking_confirmed(updated)
    return updated


def _reject(booking, reason):
    updated = _move_status(booking, "rejected", reason, refund_pct=100)
    claims.release_claims(booking["_id"])
    _return_refund(updated)
    notifications.booking_rejected(updated)
    return updated


def _move_status(booking, status, reason=None, refund_pct=None, unset=()):
    """pending -> status in one guarded write; 409 if another request moved it first."""
    now = _now()
    changes = {"status": status, "updated_at": now, f"{status}_at": now}
    if status == "confirmed":
        # Kept through moves back to pending: the cancellation tiers bind it from now on.
        changes["confirmed_once"] = True
    if reason is not None:
        changes["reason"] = reason
    if refund_pct is not None:
        changes.update(_refund_fields(booking, refund_pct))
    update = {"$set": changes}
    if unset:
        update["$unset"] = dict.fromkeys(unset, "")
    # status (and place) in the filter: of two clicks at once, exactly one finds it pending.
    updated = db.bookings().find_one_and_update(
        {"_id": booking["_id"], "status": "pending", **_place(booking)},
        update,
        return_document=ReturnDocument.AFTER,
    )
    if updated is None:
        _overtaken(booking, status)
    return updated


def _place(booking):
    """Where the booking is, its date and slot keys: in a filter, only while it is still there."""
    return {"date": booking["date"], "slots": booking["slots"]}


def _timestamp(at):
    return at and at.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _overtaken(booking, to):
    """Raise for a request another one overtook; return the booking if it did not."""
    current = db.bookings().find_one({"_id": booking["_id"]})
    if current["status"] != booking["status"]:
        _refuse_transition(booking["_id"], to, current)
    if _place(current) != _place(booking):
        raise Conflict(
            "The booking was moved meanwhile; reload it and try again.",
            error_code="booking_changed",
            details={"date": current["date"], "slots": current["slots"]},
        )
    return current


# Cancelling -------------------------------------------------------------------------------


def cancel_booking(user, booking_id, reason=None):
    """The booker or the venue's owner cancels; the slots are free at once. Repeats are no-ops."""
    booking = _find_booking(user, booking_id)
    if booking["status"] == "cancelled":
        # Idempotent, and heals what a crash left undone after the booking was cancelled.
        claims.release_claims(booking["_id"])
        _return_refund(booking)
        return booking
    _refuse_lapsed(booking)
    if booking["status"] not in ACTIVE:
        _refuse_transition(booking["_id"], "cancelled", booking)
    venue = db.venues().find_one({"_id": booking["venue_id"]}) or {}
    if booking["date"] < rules.local_today(venue):
        raise Conflict(
            "A booking in the past cannot be cancelled.",
            error_code="booking_in_past",
            details={"date": booking["date"]},
        )
    by_owner = booking["user_id"] != user["_id"]
    now = _now()
    quote = policy.refund_quote(booking, venue, now, by_owner=by_owner)
    changes = {
        "status": "cancelled",
        "cancelled_by": "owner" if by_owner else "customer",
        "cancelled_at": now,
        "updated_at": now,
        **_refund_fields(booking, quote["refund_pct"]),
    }
    if reason is not None:
        changes["reason"] = reason
    updated = db.bookings().find_one_and_update(
        {"_id": booking["_id"], "status": {"$in": list(ACTIVE)}, **_place(booking)},
        {"$set": changes},
        return_document=ReturnDocument.AFTER,
    )
    if updated is None:
        # Another request got there first. Cancelled: replaying is a no-op. Moved by a
        # reschedule: cancel it where it is now. Anything else: a conflict.
        current = db.bookings().find_one({"_id": booking["_id"]})
        if current["status"] not in ("cancelled", *ACTIVE):
            _refuse_transition(booking["_id"], "cancelled", current)
        return cancel_booking(user, booking_id, reason)
    # The booking is inactive before its claims are freed: a crash in between blocks the
    # slots (healed by cancelling again) but can never let two bookings hold one.
    claims.release_claims(booking["_id"])
    _return_refund(updated)
    notifications.booking_cancelled(updated)
    return updated


def _refund_fields(booking, pct):
    amount = policy.refund_amount(booking, pct)
    return {
        "refund": {"pct": pct, "amount": amount},
        "payment.refunded": booking["payment"]["refunded"] + amount,
    }


def _return_refund(booking):
    """Put the booking's refund back in the wallet (at most once, however often it runs)."""
    amount = (booking.get("refund") or {}).get("amount", 0)
    if amount and _by_wallet(booking):
        wallet.refund_for_booking(booking["user_id"], booking["_id"], amount)


def quote_cancellation(user, booking_id, now=None):
    """What cancelling now would refund, for the booker or the venue's owner."""
    booking = get_booking(user, booking_id)
    if booking["status"] not in ACTIVE:
        raise Conflict(
            f"A {booking['status']} booking cannot be cancelled.",
            error_code="invalid_transition",
            details={"from": booking["status"], "to": "cancelled"},
        )
    venue = db.venues().find_one({"_id": booking["venue_id"]}) or {}
    by_owner = booking["user_id"] != user["_id"]
    quote = policy.refund_quote(booking, venue, now or _now(), by_owner=by_owner)
    return {"booking_id": booking["_id"], "currency": "PKR", **quote}


def _refuse_transition(booking_id, to, current=None):
    current = current or db.bookings().find_one({"_id": booking_id}, {"status": 1})
    raise Conflict(
        f"A {current['status']} booking cannot become {to}.",
        error_code="invalid_transition",
        details={"from": current["status"], "to": to},
    )


# Rescheduling -----------------------------------------------------------------------------


def reschedule_booking(user, booking_id, date, slots, expected_total=None):
    """Move a booking to other slots or another date; returns (booking, the history entry)."""
    booking = _find_booking(user, booking_id)
    _refuse_lapsed(booking)
    if booking["status"] not in ACTIVE:
        _refuse_transition(booking["_id"], "rescheduled", booking)
    venue = get_bookable_venue(booking["venue_id"], date)
    now = _now()
    _check_cutoff(booking, venue, now)
    details = pricing.slot_details(venue, slots)
    to = {"date": date, "slots": [detail["key"] for detail in details]}
    if to == _place(booking):
        raise Unprocessable(
            "The booking already has that date and those slots.",
            details={"slots": ["Choose another date or other slots."]},
        )
    _check_bookable(venue, date, to["slots"], now)
    quote = _requote(booking, venue, to, now)
    pricing.check_expected_total(quote, expected_total)
    change = {
        "at": now,
        "by": user["_id"],
        "from": _place(booking),
        "to": to,
        "price_delta": quote["total"] - booking["price_locked"]["total"],
    }
    moved = _move(booking, venue, details, quote, change)
    notifications.booking_rescheduled(moved, change)
    return moved, change


def _check_cutoff(booking, venue, now):
    start = rules.event_start(venue, booking["date"], booking["slots"])
    hours = rules.setting(venue, "reschedule_cutoff_hours")
    if now + dt.timedelta(hours=hours) > start:
        raise Conflict(
            f"A booking can be moved until {hours} hours before it starts.",
            error_code="reschedule_too_late",
            details={"cutoff_hours": hours, "event_start": _timestamp(start)},
        )


def _requote(booking, venue, to, now):
    """The slots priced afresh for the new date; the add-ons as they were locked."""
    quote = pricing.quote(venue, to["date"], to["slots"], booking["guests"], [], now)
    # Add-ons are a snapshot like any price: an owner's later edits never reach a booking.
    addons = [line for line in booking["price_locked"]["lines"] if line["kind"] == "addon"]
    quote["lines"] += addons
    quote["subtotal"] += sum(line["amount"] for line in addons)
    quote["total"] += sum(line["amount"] for line in addons)
    return quote


def _move(booking, venue, details, quote, change):
    """New claims, then the booking, then the old claims: a failure leaves it where it was."""
    booking_id, venue_id = booking["_id"], booking["venue_id"]
    to, was = change["to"], change["from"]
    kept = [key for key in to["slots"] if was["date"] == to["date"] and key in was["slots"]]
    fresh = [key for key in to["slots"] if key not in kept]
    step = len(booking.get("history") or []) + 1
    delta = change["price_delta"] if _by_wallet(booking) else 0
    charge_key = f"payment:{booking_id}:move{step}"
    claims.claim_slots(venue_id, to["date"], fresh, booking_id)
    try:
        if delta > 0:
            wallet.debit_for_booking(booking["user_id"], booking_id, delta, key=charge_key)
        moved = _write_move(booking, venue, details, quote, change, max(delta, 0))
    except BaseException:
        if delta > 0:
            wallet.void_debit(booking_id, key=charge_key)
        claims.release_slots(booking_id, venue_id, to["date"], fresh)
        raise
    try:
        _recheck_venue(venue_id, to["date"], to["slots"])
        if not claims.confirm_claims(
            booking_id, venue_id, to["date"], to["slots"], moved.get("expires_at")
        ):
            # A fresh claim outlived its grace period and went to someone else.
            raise _slot_taken(to["date"], fresh)
    except BaseException:
        # Move back: the booking where it was, its kept claims on their old hold.
        _unmove(booking, moved, kept)
        if delta > 0:
            wallet.void_debit(booking_id, key=charge_key)
        claims.release_slots(booking_id, venue_id, to["date"], fresh)
        raise
    # Only now that the booking lives at its new place are the claims it left freed.
    claims.release_all_but(booking_id, venue_id, to["date"], to["slots"])
    if delta < 0:
        wallet.refund_for_booking(
            booking["user_id"], booking_id, -delta, key=f"refund:{booking_id}:move{step}"
        )
    return moved


def _by_wallet(booking):
    return booking["payment"]["method"] == WALLET


def _write_move(booking, venue, details, quote, change, charged):
    """The guarded write that moves the booking; 409 if it changed since it was read."""
    now, to = change["at"], change["to"]
    changes = {**_placed(venue, to["date"], details, quote, now), "updated_at": now}
    payment = booking["payment"]
    refunded = max(-change["price_delta"], 0) if _by_wallet(booking) else 0
    changes["payment"] = {
        **payment,
        "paid": payment["paid"] + charged,
        "refunded": payment["refunded"] + refunded,
    }
    query = {"_id": booking["_id"], "status": booking["status"], **_place(booking)}
    if booking["status"] == "pending":
        query["$or"] = [{"expires_at": None}, {"expires_at": {"$gt": now}}]
    # Confirmed means confirmed where it is now; pending means a fresh hold there.
    stale = "expires_at" if changes["status"] == "confirmed" else "confirmed_at"
    update = {"$set": changes, "$push": {"history": change}, "$unset": {stale: ""}}
    moved = db.bookings().find_one_and_update(query, update, return_document=ReturnDocument.AFTER)
    if moved is None:
        current = _overtaken(booking, "rescheduled")
        raise _hold_expired(current)  # still pending where it was: its hold ran out
    return moved


# What a move rewrites (_placed's fields), to put back should the move have to be undone.
MOVED_FIELDS = (
    "date",
    "slots",
    "slot",
    "slot_details",
    "price_locked",
    "status",
    "expires_at",
    "confirmed_at",
    "confirmed_once",
)


def _unmove(booking, moved, kept):
    """Put a moved booking back as it was read, and its kept claims back on its old hold."""
    fields = (*MOVED_FIELDS, "payment", "updated_at")
    update = {
        "$set": {field: booking[field] for field in fields if field in booking},
        "$pop": {"history": 1},
    }
    missing = [field for field in fields if field not in booking]
    if missing:
        update["$unset"] = dict.fromkeys(missing, "")
    db.bookings().update_one({"_id": booking["_id"], **_place(moved)}, update)
    claims.confirm_claims(
        booking["_id"], booking["venue_id"], booking["date"], kept, booking.get("expires_at")
    )


# Sweeping ---------------------------------------------------------------------------------


def expire_holds(now=None):
    """Mark every pending booking past its hold expired; returns how many."""
    now = now or _now()
    lapsed = db.bookings().find({"status": "pending", "expires_at": {"$lte": now}})
    return sum(1 for booking in lapsed if _expire(booking, now=now))


def _expire(booking, now=None, force=False):
    """pending -> expired (its hold is over); frees the claims, refunds, tells the customer."""
    now = now or _now()
    query = {"_id": booking["_id"], "status": "pending"}
    if not force:
        query["expires_at"] = {"$lte": now}
    updated = db.bookings().find_one_and_update(
        query,
        {
            "$set": {
                "status": "expired",
                "expired_at": now,
                "updated_at": now,
                **_refund_fields(booking, 100),
            }
        },
        return_document=ReturnDocument.AFTER,
    )
    if updated is None:
        return None
    claims.release_claims(booking["_id"])
    _return_refund(updated)
    notifications.hold_expired(updated)
    return updated


# How far back wallet-reconcile looks for moves whose refund a crash left unpaid.
MOVE_REFUNDS_WITHIN = dt.timedelta(days=30)


def repair_move_refunds(now=None, older_than=wallet.RECONCILE_AFTER):
    """Pay the refunds of cheaper moves that a crash cut off after the move; returns how many.

    A move writes the booking, then refunds the difference under `refund:<id>:move<step>`; a
    crash between the two leaves the history's negative price_delta with no such entry. Only
    moves older than older_than are looked at: a younger one may still be finishing.
    """
    now = now or _now()
    window = {"$lte": now - older_than, "$gte": now - MOVE_REFUNDS_WITHIN}
    moved = {"price_delta": {"$lt": 0}, "at": window}
    query = {"payment.method": WALLET, "history": {"$elemMatch": moved}}
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


def complete_bookings(now=None):
    """Mark confirmed bookings whose date is over where their venue is completed."""
    now = now or _now()
    # No venue's today is later than today in the furthest-ahead zone: only dates before it
    # can be over anywhere, so only those are read.
    candidates = db.bookings().find(
        {"status": "confirmed", "date": {"$lt": rules.today_in(rules.LATEST_ZONE, now)}}
    )
    done = 0
    zones = {}
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
