"""Booking states: the guarded status changes and the refund bookkeeping that deciding,
cancelling, moving and the sweeps share (service, reschedule and maintenance import it).

A booking is `pending` (holding its slots until `expires_at`) or `confirmed`, until it ends
`rejected`, `cancelled`, `expired` or `completed`. Every status change is one find-and-modify
whose filter names the status (and place) the booking was read in, so of two requests racing
exactly one wins; `overtaken` tells the other why. A refund is written on the booking
(`refund`, `payment.refunded`) before the wallet pays it, and `return_refund` pays it at most
once, however often it runs.
"""

import datetime as dt
from typing import Any, NoReturn, cast

from bson import ObjectId
from pymongo import ReturnDocument

from halls import clock, db, notifications
from halls.bookings import claims, policy
from halls.documents import Booking, Place, Venue
from halls.errors import Conflict, NotFound
from halls.wallet import service as wallet

ACTIVE = ("pending", "confirmed")
WALLET = "wallet"


def lapsed(booking: Booking, now: dt.datetime) -> bool:
    expires_at = booking.get("expires_at")
    return booking["status"] == "pending" and expires_at is not None and expires_at <= now


def as_seen(booking: Booking, now: dt.datetime) -> Booking:
    """The booking as it truly stands: a pending one past its hold reads as expired."""
    if lapsed(booking, now):
        return {**booking, "status": "expired"}
    return booking


def refuse_lapsed(booking: Booking) -> None:
    """409 `hold_expired` for a pending booking past its hold (expiring it on the way)."""
    if lapsed(booking, clock.now()):
        expire(booking)
        raise hold_expired(booking)


def hold_expired(booking: Booking) -> Conflict:
    return Conflict(
        "The booking's hold is over; the slots are no longer kept for it.",
        error_code="hold_expired",
        context={"expires_at": timestamp(booking.get("expires_at"))},
    )


def expire(booking: Booking, now: dt.datetime | None = None, force: bool = False) -> Booking | None:
    """pending -> expired (its hold is over); frees the claims, refunds, tells the customer."""
    now = now or clock.now()
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
                **refund_fields(booking, lapse_refund_pct(booking, now)),
            }
        },
        return_document=ReturnDocument.AFTER,
    )
    if updated is None:
        return None
    claims.release_claims(booking["_id"])
    return_refund(updated)
    notifications.hold_expired(updated)
    return updated


def lapse_refund_pct(booking: Booking, now: dt.datetime) -> int:
    """What the lapse refunds (policy.lapse_pct), as at the end of the hold."""
    found = db.venues().find_one({"_id": booking["venue_id"]}, {"slots": 1, "timezone": 1})
    ended = min(booking.get("expires_at") or now, now)
    return policy.lapse_pct(booking, found or cast(Venue, {}), ended)


def place(booking: Place) -> Place:
    """Where the booking is, its date and slot keys: in a filter, only while it is still there."""
    return {"date": booking["date"], "slots": booking["slots"]}


def timestamp(at: dt.datetime | None) -> str | None:
    if at is None:
        return None
    return at.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def overtaken(booking: Booking, to: str) -> Booking:
    """Raise for a request another one overtook; return the booking if it did not."""
    current = reread(booking["_id"])
    if current["status"] != booking["status"]:
        refuse_transition(booking["_id"], to, current)
    if place(current) != place(booking):
        raise booking_changed(current)
    return current


def booking_changed(current: Booking) -> Conflict:
    return Conflict(
        "The booking was moved meanwhile; reload it and try again.",
        error_code="booking_changed",
        context={"date": current["date"], "slots": current["slots"]},
    )


def refuse_transition(booking_id: ObjectId, to: str, current: Booking | None = None) -> NoReturn:
    current = current or reread(booking_id, {"status": 1})
    raise Conflict(
        f"A {current['status']} booking cannot become {to}.",
        error_code="invalid_transition",
        context={"from": current["status"], "to": to},
    )


def reread(booking_id: ObjectId, projection: dict[str, int] | None = None) -> Booking:
    """The booking as it is now; 404 once it is gone (a booking whose writes failed is deleted,
    and a request that read it meanwhile must not crash on it)."""
    current = db.bookings().find_one({"_id": booking_id}, projection)
    if current is None:
        raise NotFound("No such booking.", error_code="booking_not_found")
    return current


def refund_fields(booking: Booking, pct: int) -> dict[str, Any]:
    amount = policy.refund_amount(booking, pct)
    return {
        "refund": {"pct": pct, "amount": amount},
        "payment.refunded": booking["payment"]["refunded"] + amount,
    }


def return_refund(booking: Booking) -> None:
    """Put the booking's refund back in the wallet (at most once, however often it runs)."""
    refund = booking.get("refund")
    if refund and refund["amount"] and paid_by_wallet(booking):
        wallet.refund_for_booking(booking["user_id"], booking["_id"], refund["amount"])


def paid_by_wallet(booking: Booking) -> bool:
    return booking["payment"]["method"] == WALLET
