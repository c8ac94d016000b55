"""Bookings at the edge: what a client may send, and what we show."""

from marshmallow import (
    Schema,
    ValidationError,
    fields,
    pre_dump,
    validate,
    validates_schema,
)

from halls.bookings import display, references
from halls.schemas import (
    CommaList,
    DateField,
    Meta,
    ObjectIdField,
    PageArgs,
    QuickDump,
    StrictSchema,
    Timestamp,
)
from halls.venues.quote_schemas import PriceBreakdownOut, PriceLineOut, SlotKeyList
from halls.venues.schemas import CancellationTierOut

STATUSES = ("pending", "confirmed", "rejected", "cancelled", "expired", "completed")
PAYMENT_METHODS = ("pay_at_venue", "wallet")
REASON = validate.Length(max=500)
SLOT_KEY = validate.Length(min=1, max=40)
MAX_TOTAL = 10**15  # PKR; far above any real total, far inside a 64-bit integer


def _slot_list(**kwargs):
    return fields.List(
        fields.String(validate=SLOT_KEY),
        validate=validate.Length(min=1, max=24),
        metadata={"description": "Slot keys of one date; all are booked or none."},
        **kwargs,
    )


def _expected_total():
    return fields.Integer(
        strict=True,
        validate=validate.Range(min=0, max=MAX_TOTAL),
        metadata={"description": "The total the client showed; 409 price_changed if it moved."},
    )


class BookingAddonIn(StrictSchema):
    key = fields.String(required=True, validate=SLOT_KEY)
    qty = fields.Integer(
        strict=True,
        validate=validate.Range(min=1, max=100_000),
        metadata={"description": "Default: 1, or the guest count for a per-guest add-on."},
    )


class BookingIn(StrictSchema):
    """POST /bookings. A malformed venue_id is a 422 here; a well-formed unknown one is a 404."""

    venue_id = ObjectIdField(required=True)
    date = DateField(required=True)
    guests = fields.Integer(required=True, strict=True, validate=validate.Range(min=1))
    slot = fields.String(
        validate=SLOT_KEY,
        metadata={"description": "One slot key, for clients that book one; or send `slots`."},
    )
    slots = _slot_list()
    addons = fields.List(
        fields.Nested(BookingAddonIn), load_default=list, validate=validate.Length(max=50)
    )
    expected_total = _expected_total()
    payment_method = fields.String(
        load_default="pay_at_venue", validate=validate.OneOf(PAYMENT_METHODS)
    )

    @validates_schema
    def slot_or_slots(self, data, **kwargs):
        if "slot" in data and "slots" in data:
            raise ValidationError("Send slot or slots, not both.", "slots")


class BookingRescheduleIn(StrictSchema):
    """POST /bookings/<id>/reschedule: the new date and slots (add-ons and guests stay)."""

    date = DateField(required=True)
    slots = _slot_list(required=True)
    expected_total = _expected_total()


class RescheduleQuoteArgs(StrictSchema):
    """GET /bookings/<id>/reschedule-quote?date=D&slots=a,b: what that move would do."""

    date = DateField(required=True, metadata={"example": "2030-12-21"})
    slots = SlotKeyList(
        required=True,
        metadata={"description": "Slot keys of the new date.", "example": ["dinner"]},
    )


class BookingStatusIn(StrictSchema):
    """PATCH /bookings/<id>: the venue's owner confirms or rejects a pending booking."""

    status = fields.String(required=True, validate=validate.OneOf(["confirmed", "rejected"]))
    reason = fields.String(validate=REASON)


class CancelArgs(StrictSchema):
    """DELETE /bookings/<id>?reason=...: the reason in the query string."""

    reason = fields.String(validate=REASON, metadata={"example": "Plans changed"})


class StatusList(CommaList):
    """Booking statuses, any of which a booking may have."""

    default_error_messages = {"item": f"List statuses among {', '.join(STATUSES)}."}
    max_items = len(STATUSES)
    unique = True

    def __init__(self, **kwargs):
        super().__init__(fields.String(validate=validate.OneOf(STATUSES)), **kwargs)

    def parse_item(self, item):
        if item not in STATUSES:
            raise self.make_error("item")
        return item


class CancelIn(StrictSchema):
    """DELETE /bookings/<id> with a JSON body: the reason there, for clients that send one."""

    reason = fields.String(validate=REASON)


def cancel_reason(args, body):
    """The reason a cancel gives, from the query or the body; 422 when both give one (which
    one would it be?)."""
    if "reason" in args and "reason" in body:
        raise ValidationError({"reason": ["Send it in the query or in the body, not both."]})
    return args.get("reason", body.get("reason"))


class BookingListArgs(PageArgs):
    status = StatusList(metadata={"example": ["pending", "confirmed"]})
    venue_id = ObjectIdField(metadata={"example": "66f1a2b3c4d5e6f708192a10"})
    date_from = DateField(metadata={"example": "2030-12-01", "description": "Event date from."})
    date_to = DateField(metadata={"example": "2030-12-31", "description": "Event date to."})
    mine = fields.Boolean(
        load_default=False,
        metadata={
            "description": "Owners: the bookings they made, not those of their venues.",
            "example": False,
        },
    )

    @validates_schema
    def check_range(self, data, **kwargs):
        start, end = data.get("date_from"), data.get("date_to")
        if start and end and start > end:
            raise ValidationError("Must not be before date_from.", field_name="date_to")


class BookingVenueOut(Schema):
    """The venue as it was when booked: a rename or a new picture later does not change it."""

    id = ObjectIdField()
    venue_name = fields.String()
    city = fields.String(allow_none=True)
    address = fields.String()
    timezone = fields.String(
        metadata={"description": "The IANA zone of the booking's date and slot times."}
    )
    cover_picture = fields.String(
        allow_none=True, metadata={"description": "Its first picture's URL; null if none."}
    )


def _booked_slot(field):
    # A booking moved to today's shape (flask migrate) whose slot its venue no longer has
    # knows only the key.
    return field(metadata={"optional": True, "description": "Unless the slot is long gone."})


class BookingSlotOut(Schema):
    """The slot as it was when booked (a snapshot: the venue may change its slots later)."""

    key = fields.String()
    label = _booked_slot(fields.String)
    start = _booked_slot(fields.String)
    end = _booked_slot(fields.String)


class BookingAddonOut(Schema):
    key = fields.String()
    qty = fields.Integer()


class BookingPaymentOut(Schema):
    method = fields.String(validate=validate.OneOf(PAYMENT_METHODS))
    paid = fields.Integer(metadata={"description": "PKR taken from the wallet for it, net."})
    refunded = fields.Integer()


class BookingRefundOut(Schema):
    pct = fields.Integer()
    amount = fields.Integer()


class BookingPlaceOut(Schema):
    date = DateField()
    slots = fields.List(fields.String())


class BookingMoveOut(Schema):
    """One reschedule: when, by whom, from where to where, and what it did to the price."""

    at = Timestamp()
    by = ObjectIdField()
    from_ = fields.Nested(BookingPlaceOut, data_key="from", attribute="from")
    to = fields.Nested(BookingPlaceOut)
    price_delta = fields.Integer()
    refund_pct_before = fields.Integer(
        allow_none=True,
        metadata={
            "description": "What the customer's cancel refunded just before the move (null "
            "before the owner confirmed): after the customer's move a cancel refunds at most "
            "this, after the owner's at least this."
        },
    )
    refund_pct = fields.Integer(
        metadata={"description": "The share of a lower price given back (100 for the owner)."}
    )
    refunded = fields.Integer(metadata={"description": "PKR given back to the wallet."})
    forfeited = fields.Integer(
        metadata={"description": "PKR of a lower price kept by the venue, no longer paid."}
    )


class BookingPolicyOut(Schema):
    """The terms in force when the booking was made; later venue edits never change them."""

    cancellation = fields.List(fields.Nested(CancellationTierOut))
    reschedule_cutoff_hours = fields.Integer()


def _at(what):
    return Timestamp(metadata={"optional": True, "description": f"Once {what}."})


class BookingOut(QuickDump, Meta):
    reference = fields.String(
        metadata={
            "description": "The booking's short code for people (receipts, mails); any "
            "path that takes a booking id takes it too, in any case.",
            "pattern": references.PATTERN,
            "example": "HB-7K3Q9M",
        }
    )
    venue_id = ObjectIdField()
    venue = fields.Nested(BookingVenueOut)
    user_id = ObjectIdField()
    starts_at = Timestamp(
        metadata={
            "description": "When the first booked slot starts (UTC); a slot known by its key "
            "only counts as the whole day."
        }
    )
    ends_at = Timestamp(
        metadata={"description": "When the last booked slot ends (UTC), past midnight included."}
    )
    date = DateField()
    slots = fields.List(fields.String())
    slot = fields.String(metadata={"description": "slots[0], for clients that book one slot."})
    slot_details = fields.List(fields.Nested(BookingSlotOut))
    slot_detail = fields.Nested(BookingSlotOut, metadata={"description": "slot_details[0]."})
    guests = fields.Integer()
    addons = fields.List(fields.Nested(BookingAddonOut))
    status = fields.String(validate=validate.OneOf(STATUSES))
    expires_at = Timestamp(
        metadata={"optional": True, "description": "Once held pending: when the hold lapses."}
    )
    price_locked = fields.Integer(
        metadata={
            "description": "The total in PKR the booking locked when made or last moved: "
            "price_breakdown.total."
        }
    )
    price_breakdown = fields.Nested(
        PriceBreakdownOut,
        metadata={"description": "The quote when booked or last moved (a snapshot)."},
    )
    currency = fields.String(validate=validate.OneOf(["PKR"]))
    payment = fields.Nested(BookingPaymentOut)
    refund = fields.Nested(
        BookingRefundOut, metadata={"optional": True, "description": "Once cancelled."}
    )
    history = fields.List(fields.Nested(BookingMoveOut))
    policy = fields.Nested(BookingPolicyOut)
    cancelled_by = fields.String(
        validate=validate.OneOf(["customer", "owner"]),
        metadata={"optional": True, "description": "Once cancelled: who did."},
    )
    reason = fields.String(
        metadata={"optional": True, "description": "Given when rejecting or cancelling."}
    )
    confirmed_at = _at("confirmed")
    rejected_at = _at("rejected")
    cancelled_at = _at("cancelled")
    expired_at = _at("its hold lapsed (swept)")
    completed_at = _at("its date went by, confirmed")

    @pre_dump
    def shown(self, booking, **kwargs):
        """What a booking shows beyond what it stores: `starts_at` and `ends_at`, and for
        clients of one slot, `slot_detail`: the first of the booking's slots."""
        if not booking.get("slot_details"):
            return booking  # no booking of ours: shown as it is
        starts_at, ends_at = display.event_span(booking)
        shown = {**booking, "starts_at": starts_at, "ends_at": ends_at}
        return {**shown, "slot_detail": booking["slot_details"][0]}


class BookingData(Schema):
    booking = fields.Nested(BookingOut, required=True)


class BookingRescheduleData(Schema):
    booking = fields.Nested(BookingOut, required=True)
    change = fields.Nested(BookingMoveOut, required=True)


class CancellationQuoteOut(Schema):
    """What a cancel now would refund (GET /bookings/<id>/cancellation-quote)."""

    booking_id = ObjectIdField()
    refund_pct = fields.Integer(
        metadata={
            "description": "Per the booking's policy tiers, within the limits its moves set; "
            "100 when the venue's owner cancels, and for a booking that was never confirmed."
        }
    )
    refund_amount = fields.Integer(metadata={"description": "PKR back to the wallet."})
    paid = fields.Integer(metadata={"description": "PKR paid through halls (0 at the venue)."})
    currency = fields.String(validate=validate.OneOf(["PKR"]))
    hours_before = fields.Float(metadata={"description": "Hours left until the event starts."})
    event_start = Timestamp()
    by_owner = fields.Boolean()
    # The venue's own tier shape: the tiers the booking was made under.
    policy = fields.List(fields.Nested(CancellationTierOut))


class RescheduleQuoteBreakdownOut(Schema):
    lines = fields.List(fields.Nested(PriceLineOut))
    subtotal = fields.Integer()
    total = fields.Integer()
    currency = fields.String()
    valid_until = Timestamp(metadata={"description": "Ask again after this."})


class RescheduleQuoteOut(Schema):
    """What a move would do (GET /bookings/<id>/reschedule-quote), before anyone moves it."""

    booking_id = ObjectIdField()
    date = fields.String()
    slots = fields.List(fields.Nested(BookingSlotOut))
    quote = fields.Nested(
        RescheduleQuoteBreakdownOut,
        metadata={"description": "The new price; send its total as expected_total to move."},
    )
    current_total = fields.Integer()
    price_delta = fields.Integer(metadata={"description": "quote.total - current_total."})
    charge = fields.Integer(metadata={"description": "PKR the wallet pays for a dearer move."})
    refund_pct = fields.Integer(
        metadata={"description": "The share of a lower price given back: a cancel's pct now."}
    )
    refunded = fields.Integer(metadata={"description": "PKR back to the wallet."})
    forfeited = fields.Integer(metadata={"description": "PKR of a lower price the venue keeps."})
    by_owner = fields.Boolean()
    allowed = fields.Boolean(
        metadata={"description": "false: the owner asks a move that costs the customer more."}
    )
    available = fields.Boolean(metadata={"description": "No other booking holds the slots now."})
