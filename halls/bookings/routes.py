"""Bookings: /bookings."""

from flask import Response
from flask_smorest import Blueprint
from marshmallow import RAISE

from halls import examples as ex
from halls.auth.tokens import auth_required, current_user
from halls.bookings import create as creating
from halls.bookings import receipts, service
from halls.bookings import reschedule as rescheduling
from halls.bookings.schemas import (
    BookingData,
    BookingIn,
    BookingListArgs,
    BookingOut,
    BookingRescheduleData,
    BookingRescheduleIn,
    BookingStatusIn,
    CancelArgs,
    CancelIn,
    CancellationQuoteOut,
    RescheduleQuoteArgs,
    RescheduleQuoteOut,
    cancel_reason,
)
from halls.extensions import error_responses, follow, links
from halls.idempotency import REPLAYED_DOC, idempotent, request_key
from halls.schemas import envelope, page_of

blp = Blueprint(
    "bookings",
    __name__,
    url_prefix="/bookings",
    description="Book a venue's slot on a date; owners confirm or reject; either side cancels.",
)

BOOKING_OPERATIONS = (
    "bookings.get",
    "bookings.decide",
    "bookings.cancel",
    "bookings.reschedule",
    "bookings.receipt",
    "bookings.cancellation_quote",
    "bookings.reschedule_quote",
)


def booking_links(status, booking="$response.body#/data/booking"):
    """`responses` for `Blueprint.doc`: the booking at `booking` leads to its operations and to
    its venue's availability."""
    return links(
        status,
        follow(*BOOKING_OPERATIONS, booking_id=f"{booking}/id"),
        follow("venues.availability", venue_id=f"{booking}/venue_id"),
    )


@blp.route("", methods=["POST"])
@auth_required
@idempotent
@blp.arguments(BookingIn(), example=ex.BOOKING)
@blp.response(
    201,
    envelope(BookingData),
    example=ex.ok({"booking": ex.BOOKING_OUT}),
    headers=REPLAYED_DOC,
)
@blp.doc(responses=error_responses(404))
@blp.doc(responses=booking_links(201))
def create(body):
    """Book one or more slots of a date: pending (held) or, at auto-confirm venues, confirmed.

    All the slots are booked or none (409 `slot_taken` names the first refusal). A pending
    booking holds its slots until `expires_at` while the owner decides. With
    `payment_method: wallet` the total is paid from the wallet at once (409
    `insufficient_funds` otherwise). Send `expected_total` (the quote's total) to get a 409
    `price_changed` instead of a new price, and an `Idempotency-Key` to retry safely.
    """
    booking = creating.create_booking(current_user(), **body, request_key=request_key())
    return {"booking": booking}


@blp.route("", methods=["GET"])
@auth_required
@blp.arguments(BookingListArgs(), location="query", unknown=RAISE)
@blp.response(200, envelope(page_of(BookingOut)), example=ex.ok(ex.page([ex.BOOKING_CONFIRMED])))
@blp.doc(responses=booking_links(200, "$response.body#/data/items/0"))
def list_(args):
    """Customers: their bookings. Owners: their venues' bookings, or `mine=true` their own.

    Newest first. `status` takes one status or several (repeated or comma-separated); a
    pending booking whose hold ran out reads and filters as `expired`.
    """
    return service.list_bookings(current_user(), args)


@blp.route("/<booking_id>", methods=["GET"])
@auth_required
@blp.response(200, envelope(BookingData), example=ex.ok({"booking": ex.BOOKING_CONFIRMED}))
def get(booking_id):
    """One booking, for its booker or its venue's owner.

    Anyone else gets a 404 `booking_not_found`, as for an id that does not exist.
    """
    return {"booking": service.get_booking(current_user(), booking_id)}


@blp.route("/<booking_id>", methods=["PATCH"])
@auth_required
@blp.arguments(BookingStatusIn(), example=ex.DECISION)
@blp.response(200, envelope(BookingData), example=ex.ok({"booking": ex.BOOKING_CONFIRMED}))
@blp.doc(responses=error_responses(403, 409))
@blp.doc(responses=booking_links(200))
def decide(body, booking_id):
    """The venue's owner confirms or rejects a pending booking.

    Only a pending booking can be decided (409 `invalid_transition`); one whose hold ran out
    is a 409 `hold_expired`. Rejecting frees the slots and refunds what was paid.
    """
    return {"booking": service.decide_booking(current_user(), booking_id, **body)}


@blp.route("/<booking_id>", methods=["DELETE"])
@auth_required
@idempotent
@blp.arguments(CancelArgs(), location="query", unknown=RAISE)
@blp.arguments(CancelIn(), location="json", required=False, example={"reason": "Plans changed"})
@blp.response(
    200,
    envelope(BookingData),
    example=ex.ok({"booking": ex.BOOKING_CANCELLED}),
    headers=REPLAYED_DOC,
)
def cancel(args, body, booking_id):
    """Cancel a booking (booker or venue owner), with an optional reason in the query or body.

    The reason comes as `?reason=` or as the JSON body `{"reason": "..."}`, not both (422).
    The slots are free again at once. What was paid through halls is refunded to the wallet
    by the venue's cancellation policy (in full when the owner cancels); see
    GET /bookings/{booking_id}/cancellation-quote first. Cancelling again changes nothing.
    """
    reason = cancel_reason(args, body)
    return {"booking": service.cancel_booking(current_user(), booking_id, reason)}


@blp.route("/<booking_id>/reschedule", methods=["POST"])
@auth_required
@idempotent
@blp.arguments(BookingRescheduleIn(), example=ex.RESCHEDULE)
@blp.response(
    200, envelope(BookingRescheduleData), example=ex.ok(ex.RESCHEDULED), headers=REPLAYED_DOC
)
@blp.doc(responses=booking_links(200))
def reschedule(body, booking_id):
    """Move a booking to another date or slots (booker or venue owner), re-quoted.

    Guests and add-ons stay; the price is quoted again for the new date, and a wallet-paid
    booking is charged or refunded the difference. `change` is the move as recorded in
    `history`. Too close to the event it is a 409 `reschedule_too_late`.
    """
    booking, change = rescheduling.reschedule_booking(current_user(), booking_id, **body)
    return {"booking": booking, "change": change}


@blp.route("/<booking_id>/reschedule-quote")
@auth_required
@blp.arguments(RescheduleQuoteArgs(), location="query", unknown=RAISE)
@blp.response(200, envelope(RescheduleQuoteOut), example=ex.ok(ex.RESCHEDULE_QUOTE))
@blp.doc(responses=error_responses(409))
def reschedule_quote(args, booking_id):
    """What moving the booking to that date and slots would cost or refund (booker or owner).

    Changes nothing. Show it before a move: a dearer move by the customer needs its
    `quote.total` as `expected_total`, and an owner may not make a move that costs the
    customer more (`allowed` is false).
    """
    return rescheduling.quote_reschedule(current_user(), booking_id, **args)


@blp.route("/<booking_id>/receipt.pdf")
@auth_required
@blp.response(200, {"type": "string", "format": "binary"}, content_type="application/pdf")
def receipt(booking_id):
    """A one-page PDF receipt of the booking, for its booker or its venue's owner.

    The venue, date, slot times, guests, price lines, status and the booking's reference.
    """
    pdf, reference = receipts.booking_receipt(current_user(), booking_id)
    return Response(pdf, mimetype="application/pdf", headers=receipts.headers(reference))


@blp.route("/<booking_id>/cancellation-quote")
@auth_required
@blp.response(200, envelope(CancellationQuoteOut), example=ex.ok(ex.CANCELLATION_QUOTE))
@blp.doc(responses=error_responses(409))
def cancellation_quote(booking_id):
    """What cancelling now would refund, by the venue's policy (booker or venue owner).

    Changes nothing. A booking that can no longer be cancelled is a 409
    `invalid_transition`.
    """
    return service.quote_cancellation(current_user(), booking_id)
