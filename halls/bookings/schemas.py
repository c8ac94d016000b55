"""Bookings at the edge: what a client may send, and what we show."""

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from halls.schemas import DateField, Meta, ObjectIdField, PageArgs, StrictSchema, Timestamp
from halls.venues.schemas import CancellationTierOut

STATUSES = ("pending", "confirmed", "rejected", "cancelled")
REASON = validate.Length(max=500)


class BookingIn(StrictSchema):
    """POST /bookings. A malformed venue_id is a 422 here; a well-formed unknown one is a 404."""

    venue_id = ObjectIdField(required=True)
    date = DateField(required=True)
    guests = fields.Integer(required=True, strict=True, validate=validate.Range(min=1))
    slot = fields.String(
        validate=validate.Length(min=1, max=40),
        metadata={"description": "Slot key; may be omitted when the venue has one slot."},
    )


class BookingStatusIn(StrictSchema):
    """PATCH /bookings/<id>: the venue's owner confirms or rejects a pending booking."""

    status = fields.String(required=True, validate=validate.OneOf(["confirmed", "rejected"]))
    reason = fields.String(validate=REASON)


class CancelArgs(StrictSchema):
    """DELETE /bookings/<id>?reason=...: the reason comes in the query (DELETE has no body)."""

    reason = fields.String(validate=REASON)


class BookingListArgs(PageArgs):
    status = fields.String(validate=validate.OneOf(STATUSES))
    venue_id = ObjectIdField()
    date_from = DateField()
    date_to = DateField()
    mine = fields.Boolean(
        load_default=False,
        metadata={"description": "Owners: the bookings they made, not those of their venues."},
    )

    @validates_schema
    def check_range(self, data, **kwargs):
        start, end = data.get("date_from"), data.get("date_to")
        if start and end and start > end:
            raise ValidationError("Must not be before date_from.", field_name="date_to")


class BookingVenueOut(Schema):
    id = ObjectIdField()
    venue_name = fields.String()


class BookingSlotOut(Schema):
    """The slot as it was when booked (a snapshot: the venue may change its slots later)."""

    key = fields.String()
    label = fields.String()
    start = fields.String()
    end = fields.String()


class BookingOut(Meta):
    venue_id = ObjectIdField()
    venue = fields.Nested(BookingVenueOut)
    user_id = ObjectIdField()
    date = fields.String()
    slot = fields.String()
    slot_detail = fields.Nested(BookingSlotOut)
    guests = fields.Integer()
    status = fields.String(validate=validate.OneOf(STATUSES))
    price_locked = fields.Integer()
    currency = fields.String()
    cancelled_by = fields.String(metadata={"description": "customer or owner; when cancelled."})
    reason = fields.String()
    confirmed_at = Timestamp()
    rejected_at = Timestamp()
    cancelled_at = Timestamp()


class BookingData(Schema):
    booking = fields.Nested(BookingOut, required=True)


class CancellationQuoteOut(Schema):
    """What a cancel now would refund (GET /bookings/<id>/cancellation-quote)."""

    booking_id = ObjectIdField()
    refund_pct = fields.Integer(metadata={"description": "100 when the venue's owner cancels."})
    refund_amount = fields.Integer(metadata={"description": "PKR back to the wallet."})
    paid = fields.Integer(metadata={"description": "PKR paid through halls (0 at the venue)."})
    currency = fields.String()
    hours_before = fields.Float(metadata={"description": "Hours left until the event starts."})
    event_start = Timestamp()
    by_owner = fields.Boolean()
    # The venue's own tier shape: the quote shows the very policy the venue publishes.
    policy = fields.List(fields.Nested(CancellationTierOut))
