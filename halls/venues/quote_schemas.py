"""Quotes at the edge: what a quote may ask (slots and add-ons as lists), and the price it
shows line by line, which a booking keeps as its `price_breakdown` snapshot."""

import re

from marshmallow import Schema, fields, validate

from halls.addons.schemas import MAX_ADDONS
from halls.schemas import MAX_CAPACITY, CommaList, DateField, ObjectIdField, StrictSchema, Timestamp
from halls.venues.schemas import SLOT_REFUSALS, VenueSlotOut


class SlotKeyList(CommaList):
    default_error_messages = {"item": "List slot keys separated by commas, e.g. lunch,dinner."}


class AddonChoiceList(CommaList):
    """`key:qty,key` → [{"key", "qty"}, {"key"}]."""

    default_error_messages = {
        "item": "List add-ons as key:qty separated by commas, e.g. catering:150,decor:1."
    }
    max_items = MAX_ADDONS

    def __init__(self, **kwargs):
        choice = validate.Regexp(r"^[a-z][a-z0-9_]{0,39}(:[0-9]{1,9})?$")
        super().__init__(fields.String(validate=choice), **kwargs)

    def parse_item(self, item):
        key, sep, qty = item.partition(":")
        choice = {"key": super().parse_item(key.strip())}
        if sep:
            if not re.fullmatch(r"-?\d{1,9}", qty.strip()):
                raise self.make_error("item")
            choice["qty"] = int(qty)
        return choice


class QuoteArgs(StrictSchema):
    """GET /venues/<id>/quote: what a booking of these slots and add-ons would cost."""

    date = DateField(required=True, metadata={"example": "2030-12-20"})
    slots = SlotKeyList(
        metadata={
            "description": "Slot keys; optional for a one-slot venue.",
            "example": ["dinner"],
        }
    )
    guests = fields.Integer(
        required=True, validate=validate.Range(1, MAX_CAPACITY), metadata={"example": 250}
    )
    addons = AddonChoiceList(
        metadata={
            "description": "Add-ons as key or key:qty.",
            "example": ["catering", "decor:1"],
        }
    )


class PriceLineOut(Schema):
    kind = fields.String(validate=validate.OneOf(["slot", "addon"]))
    key = fields.String()
    label = fields.String()
    unit_price = fields.Integer()
    qty = fields.Integer()
    amount = fields.Integer()


class PriceBreakdownOut(Schema):
    """A price line by line: a quote, and a booking's `price_breakdown` snapshot."""

    lines = fields.List(fields.Nested(PriceLineOut))
    subtotal = fields.Integer()
    total = fields.Integer()
    currency = fields.String(validate=validate.OneOf(["PKR"]))


class QuoteRefusalOut(Schema):
    key = fields.String()
    reason = fields.String(validate=validate.OneOf(SLOT_REFUSALS))


class QuoteOut(PriceBreakdownOut):
    venue_id = ObjectIdField()
    date = DateField()
    guests = fields.Integer()
    slots = fields.List(fields.Nested(VenueSlotOut))
    valid_until = Timestamp(
        metadata={"description": "Ask again after this; booking re-prices at booking time."}
    )
    available = fields.Boolean(metadata={"description": "Every chosen slot is bookable now."})
    unavailable_slots = fields.List(fields.Nested(QuoteRefusalOut))
