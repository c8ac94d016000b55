"""Bookings: list, read, confirm or reject, cancel, and the cancellation quote.

Creating one is create.py, moving one reschedule.py; the status changes and refunds they
share are lifecycle.py. Claims are freed only after the booking no longer needs them.

A pending booking holds its slots until `expires_at` (the venue's `hold_minutes`); its claims
carry the same `expires_at`, so once the hold is over the claim filter treats the slots as free
at once. `expire_holds` (maintenance.py, the `expire-holds` command) only tidies up afterwards:
it marks such bookings `expired`, tells their customers and returns any wallet payment.
"""

import datetime as dt
from collections.abc import Mapping
from typing import Any, cast

from pymongo import ReturnDocument

from halls import clock, db, notifications, rules
from halls.bookings import claims, lifecycle, policy, references
from halls.documents import Booking, User, Venue
from halls.errors import Conflict, Forbidden, NotFound

# Reading ----------------------------------------------------------------------------------


def list_bookings(user: User, args: Mapping[str, Any]) -> db.Page[Booking]:
    """A page of the bookings the user may see, newest first."""
    if user.get("is_venue_owner") and not args.get("mine"):
        query: dict[str, Any] = {"owner_id": user["_id"]}
    else:
        query = {"user_id": user["_id"]}
    if "venue_id" in args:
        query["venue_id"] = args["venue_id"]
    if "status" in args:
        now = clock.now()
        statuses = [_status_filter(status, now) for status in args["status"]]
        query.update(statuses[0] if len(statuses) == 1 else {"$or": statuses})
    dates: dict[str, str] = {}
    if "date_from" in args:
        dates["$gte"] = args["date_from"]
    if "date_to" in args:
        dates["$lte"] = args["date_to"]
    if dates:
        query["date"] = dates
    page = db.find_page(db.bookings(), query, args["page"], args["limit"])
    now = clock.now()
    page["items"] = [lifecycle.as_seen(booking, now) for booking in page["items"]]
    return page


def _status_filter(status: str, now: dt.datetime) -> dict[str, Any]:
    # A pending booking whose hold is over is expired, swept or not: filter as we show it.
    if status == "pending":
        return {"status": "pending", "$or": [{"expires_at": None}, {"expires_at": {"$gt": now}}]}
    if status == "expired":
        return {"$or": [{"status": "expired"}, {"status": "pending", "expires_at": {"$lte": now}}]}
    return {"status": status}


def get_booking(user: User, booking_id: str) -> Booking:
    """A booking its booker or its venue's owner may see; 404 for anyone else."""
    return lifecycle.as_seen(find_booking(user, booking_id), clock.now())


def find_booking(user: User, booking_id: str) -> Booking:
    """The booking a path names, by its id or its reference, if the user may see it; else 404."""
    named = references.naming(booking_id)
    booking = None
    if named is not None:
        # Who may see it is part of the filter: a stranger's lookup finds nothing at all.
        booking = db.bookings().find_one(
            {**named, "$or": [{"user_id": user["_id"]}, {"owner_id": user["_id"]}]}
        )
    if booking is None:
        raise NotFound("No such booking.", error_code="booking_not_found")
    return booking


# Deciding ---------------------------------------------------------------------------------


def decide_booking(user: User, booking_id: str, status: str, reason: str | None = None) -> Booking:
    """The venue's owner confirms or rejects a pending booking while its hold lasts."""
    booking = find_booking(user, booking_id)
    if booking["owner_id"] != user["_id"]:
        raise Forbidden("Only the venue's owner may do this.", error_code="not_venue_owner")
    lifecycle.refuse_lapsed(booking)
    if booking["status"] != "pending":
        lifecycle.refuse_transition(booking["_id"], status, booking)
    if status == "confirmed":
        return _confirm(booking, reason)
    return _reject(booking, reason)


def _confirm(booking: Booking, reason: str | None) -> Booking:
    # The claims first, and only while live: once they are held for good the hold can no
    # longer lapse, so a confirmed booking always owns its slots. The other order is unsafe:
    # a crash after marking the booking confirmed but before holding its claims for good
    # would leave a confirmed booking whose claims still lapse when the old hold ends, free
    # for another booking to take. This order, crashing between the two writes, leaves only a
    # pending booking holding its slots for good: confirming again finishes the job, and once
    # its hold is over it reads as expired and expire-holds frees them (lifecycle.expire).
    slots = booking["slots"]
    if not claims.keep_live_claims(booking["_id"], booking["venue_id"], booking["date"], slots):
        current = lifecycle.reread(booking["_id"])
        if current["status"] in ("pending", "expired") and lifecycle.place(
            current
        ) == lifecycle.place(booking):
            # Its claims lapsed (and may have gone to another booking): the hold is over.
            lifecycle.expire(current, force=True)
            raise lifecycle.hold_expired(current)
        lifecycle.overtaken(booking, "confirmed")  # cancelled, rejected or moved meanwhile
    updated = _move_status(booking, "confirmed", reason, unset=("expires_at",))
    notifications.booking_confirmed(updated)
    return updated


def _reject(booking: Booking, reason: str | None) -> Booking:
    updated = _move_status(booking, "rejected", reason, refund_pct=100)
    claims.release_claims(booking["_id"])
    lifecycle.return_refund(updated)
    notifications.booking_rejected(updated)
    return updated


def _move_status(
    booking: Booking,
    status: str,
    reason: str | None = None,
    refund_pct: int | None = None,
    unset: tuple[str, ...] = (),
) -> Booking:
    """pending -> status in one guarded write; 409 if another request moved it first."""
    now = clock.now()
    changes: dict[str, Any] = {"status": status, "updated_at": now, f"{status}_at": now}
    if status == "confirmed":
        # Kept through moves back to pending: the cancellation tiers bind it from now on.
        changes["confirmed_once"] = True
    if reason is not None:
        changes["reason"] = reason
    if refund_pct is not None:
        changes.update(lifecycle.refund_fields(booking, refund_pct))
    update: dict[str, dict[str, Any]] = {"$set": changes}
    if unset:
        update["$unset"] = dict.fromkeys(unset, "")
    # status (and place) in the filter: of two clicks at once, exactly one finds it pending.
    updated = db.bookings().find_one_and_update(
        {"_id": booking["_id"], "status": "pending", **lifecycle.place(booking)},
        update,
        return_document=ReturnDocument.AFTER,
    )
    if updated is None:
        current = lifecycle.overtaken(booking, status)
        # Pending where it was read after all: it was moved away and back meanwhile.
        raise lifecycle.booking_changed(current)
    return updated


# Cancelling -------------------------------------------------------------------------------


def cancel_booking(user: User, booking_id: str, reason: str | None = None) -> Booking:
    """The booker or the venue's owner cancels; the slots are free at once. Repeats are no-ops."""
    booking = find_booking(user, booking_id)
    if booking["status"] == "cancelled":
        # Idempotent, and heals what a crash left undone after the booking was cancelled.
        claims.release_claims(booking["_id"])
        lifecycle.return_refund(booking)
        return booking
    lifecycle.refuse_lapsed(booking)
    if booking["status"] not in lifecycle.ACTIVE:
        lifecycle.refuse_transition(booking["_id"], "cancelled", booking)
    venue = _venue_of(booking)
    if booking["date"] < rules.local_today(venue):
        raise Conflict(
            "A booking in the past cannot be cancelled.",
            error_code="booking_in_past",
            context={"date": booking["date"]},
        )
    by_owner = booking["user_id"] != user["_id"]
    now = clock.now()
    quote = policy.refund_quote(booking, venue, now, by_owner=by_owner)
    changes: dict[str, Any] = {
        "status": "cancelled",
        "cancelled_by": "owner" if by_owner else "customer",
        "cancelled_at": now,
        "updated_at": now,
        **lifecycle.refund_fields(booking, quote["refund_pct"]),
    }
    if reason is not None:
        changes["reason"] = reason
    updated = db.bookings().find_one_and_update(
        {
            "_id": booking["_id"],
            "status": {"$in": list(lifecycle.ACTIVE)},
            **lifecycle.place(booking),
        },
        {"$set": changes},
        return_document=ReturnDocument.AFTER,
    )
    if updated is None:
        # Another request got there first. Cancelled: replaying is a no-op. Moved by a
        # reschedule: cancel it where it is now. Anything else: a conflict.
        current = lifecycle.reread(booking["_id"])
        if current["status"] not in ("cancelled", *lifecycle.ACTIVE):
            lifecycle.refuse_transition(booking["_id"], "cancelled", current)
        return cancel_booking(user, booking_id, reason)
    # The booking is inactive before its claims are freed: a crash in between blocks the
    # slots (healed by cancelling again) but can never let two bookings hold one.
    claims.release_claims(booking["_id"])
    lifecycle.return_refund(updated)
    notifications.booking_cancelled(updated)
    return updated


def quote_cancellation(
    user: User, booking_id: str, now: dt.datetime | None = None
) -> dict[str, Any]:
    """What cancelling now would refund, for the booker or the venue's owner."""
    booking = get_booking(user, booking_id)
    if booking["status"] not in lifecycle.ACTIVE:
        raise Conflict(
            f"A {booking['status']} booking cannot be cancelled.",
            error_code="invalid_transition",
            context={"from": booking["status"], "to": "cancelled"},
        )
    by_owner = booking["user_id"] != user["_id"]
    quote = policy.refund_quote(booking, _venue_of(booking), now or clock.now(), by_owner=by_owner)
    return {"booking_id": booking["_id"], "currency": "PKR", **quote}


def _venue_of(booking: Booking) -> Venue:
    # Venues are only soft-deleted; should one be gone all the same, the rules read defaults.
    return db.venues().find_one({"_id": booking["venue_id"]}) or cast(Venue, {})
