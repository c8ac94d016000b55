"""Bookings: /bookings."""

from flask import Response
from flask_smorest import Blueprint
from marshmallow import RAISE

from halls.auth.tokens import auth_required, current_user
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
from halls.idempotency import idempotent, request_key
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
@blp.arguments(BookingIn())
@blp.response(201, envelope(BookingData))
@blp.doc(responses=error_responses(404))
@blp.doc(responses=booking_links(201))
def create(body):
    """Book one or more slots of a date: pending (held) or, at auto-confirm venues, confirmed."""
    booking = service.create_booking(current_user(), **body, request_key=request_key())
    return {"booking": booking}


@blp.route("", methods=["GET"])
@auth_required
@blp.arguments(BookingListArgs(), location="query", unknown=RAISE)
@blp.response(200, envelope(page_of(BookingOut)))
@blp.doc(responses=booking_links(200, "$response.body#/data/items/0"))
def list_(args):
    """Customers: their bookings. Owners: their venues' bookings, or `mine=true` their own."""
    return service.list_bookings(current_user(), args)


@blp.route("/<booking_id>", methods=["GET"])
@auth_required
@blp.response(200, envelope(BookingData))
def get(booking_id):
    """One booking, for its booker or its venue's owner."""
    return {"booking": service.get_booking(current_user(), booking_id)}


@blp.route("/<booking_id>", methods=["PATCH"])
@auth_required
@blp.arguments(BookingStatusIn())
@blp.response(200, envelope(BookingData))
@blp.doc(responses=error_responses(403, 409))
@blp.doc(responses=booking_links(200))
def decide(body, booking_id):
    """The venue's owner confirms or rejects a pending booking."""
    return {"booking": service.decide_booking(current_user(), booking_id, **body)}


@blp.route("/<booking_id>", methods=["DELETE"])
@auth_required
@idempotent
@blp.arguments(CancelArgs(), location="query", unknown=RAISE)
@blp.arguments(CancelIn(), location="json", required=False)
@blp.response(200, envelope(BookingData))
def cancel(args, body, booking_id):
    """Cancel a booking (booker or venue owner), with an optional reason in the query or body."""
    reason = cancel_reason(args, body)
    return {"booking": service.cancel_booking(current_user(), booking_id, reason)}


@blp.route("/<booking_id>/reschedule", methods=["POST"])
@auth_required
@idempotent
@blp.arguments(BookingRescheduleIn())
@blp.response(200, envelope(BookingRescheduleData))
@blp.doc(responses=booking_links(200))
def reschedule(body, booking_id):
    """Move a booking to another date or slots (booker or venue owner), re-quoted."""
    booking, change = rescheduling.reschedule_booking(current_user(), booking_id, **body)
    return {"booking": booking, "change": change}


@blp.route("/<booking_id>/reschedule-quote")
@auth_required
@blp.arguments(RescheduleQuoteArgs(), location="query", unknown=RAISE)
@blp.response(200, envelope(RescheduleQuoteOut))
@blp.doc(responses=error_responses(409))
def reschedule_quote(args, booking_id):
    """What moving the booking to that date and slots would cost or refund (booker or owner)."""
    return rescheduling.quote_reschedule(current_user(), booking_id, **args)


@blp.route("/<booking_id>/receipt.pdf")
@auth_required
@blp.response(200, {"type": "string", "format": "binary"}, content_type="application/pdf")
def receipt(booking_id):
    """A one-page PDF receipt of the booking, for its booker or its venue's owner."""
    pdf, reference = receipts.booking_receipt(current_user(), booking_id)
    return Response(pdf, mimetype="application/pdf", headers=receipts.headers(reference))


@blp.route("/<booking_id>/cancellation-quote")
@auth_required
@blp.response(200, envelope(CancellationQuoteOut))
@blp.doc(responses=error_responses(409))
def cancellation_quote(booking_id):
    """What cancelling now would refund, by the venue's policy (booker or venue owner)."""
    return service.quote_cancellation(current_user(), booking_id)
