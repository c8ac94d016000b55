"""Add-ons at the edge: what an owner may offer with a venue, and what anyone sees of it."""

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from halls.schemas import (
    MAX_CAPACITY,
    MAX_PRICE,
    SNAKE_NAME,
    StrictSchema,
    Text,
    without_defaults,
)

ADDON_UNITS = ("per_event", "per_guest")
MAX_ADDONS = 50  # per venue; a quote lists them all, so keep the list a person can read


class AddonIn(StrictSchema):
    """POST /venues/<id>/addons: something a venue sells with a booking."""

    key = fields.String(required=True, validate=validate.Regexp(SNAKE_NAME))
    name = Text(required=True, validate=validate.Length(min=1, max=80))
    price = fields.Integer(strict=True, required=True, validate=validate.Range(0, MAX_PRICE))
    unit = fields.String(
        required=True,
        validate=validate.OneOf(ADDON_UNITS),
        metadata={"description": "per_event: a flat price; per_guest: price × guests."},
    )
    max_qty = fields.Integer(
        strict=True,
        load_default=None,
        allow_none=True,
        validate=validate.Range(1, MAX_CAPACITY),
        metadata={"description": "The most one booking may order; null for no limit."},
    )

    @validates_schema
    def not_empty(self, data, **kwargs):
        if not data:
            raise ValidationError("Send at least one field to change.")


# A PATCH body, no field with a default: load it with
# `AddonPatch(exclude=("key",), partial=True)` (keys stay).
AddonPatch = without_defaults(AddonIn, "AddonPatch")


class AddonOut(Schema):
    key = fields.String()
    name = fields.String()
    price = fields.Integer()
    unit = fields.String(validate=validate.OneOf(ADDON_UNITS))
    max_qty = fields.Integer(allow_none=True)


class AddonData(Schema):
    addon = fields.Nested(AddonOut, required=True)
