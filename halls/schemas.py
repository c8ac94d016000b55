"""Schemas and fields shared by every resource: ids, dates, the envelope, pages."""

import datetime as dt
import functools

from bson import ObjectId
from bson.errors import InvalidId
from marshmallow import Schema, fields, pre_dump, validate

DATE_FORMAT = "%Y-%m-%d"


class StrictSchema(Schema):
    """An `In` schema: unknown fields are refused (marshmallow's default, said out loud)."""

    class Meta:
        unknown = "raise"


class ObjectIdField(fields.Field):
    """An ObjectId on the way in (from a 24-hex string) and a string on the way out."""

    default_error_messages = {"invalid": "Not a valid id."}

    def __init__(self, **kwargs):
        # Documented as what it is on the wire, so clients and fuzzers send real ids.
        kwargs["metadata"] = {"type": "string", "pattern": "^[0-9a-fA-F]{24}$"} | kwargs.get(
            "metadata", {}
        )
        super().__init__(**kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, str):
            raise self.make_error("invalid")
        try:
            return ObjectId(value)
        except InvalidId as error:
            raise self.make_error("invalid") from error

    def _serialize(self, value, attr, obj, **kwargs):
        return None if value is None else str(value)


class DateField(fields.String):
    """A calendar date as `YYYY-MM-DD`, kept as that string (it sorts and compares right)."""

    default_error_messages = {"invalid_date": "Not a valid date; use YYYY-MM-DD."}

    def __init__(self, **kwargs):
        kwargs["metadata"] = {"format": "date"} | kwargs.get("metadata", {})
        super().__init__(**kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs)
        try:
            parsed = dt.datetime.strptime(text, DATE_FORMAT).date()
        except ValueError as error:
            raise self.make_error("invalid_date") from error
        if parsed.isoformat() != text:
            raise self.make_error("invalid_date")
        return text


class Timestamp(fields.DateTime):
    """A UTC instant rendered as ISO-8601 with a Z."""

    def _serialize(self, value, attr, obj, **kwargs):
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        # Fixed width, and MongoDB's own precision: the same instant always reads the same,
        # whether it comes from a fresh write or from the database.
        return value.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Meta(Schema):
    """Common output fields of a stored document."""

    id = ObjectIdField(attribute="_id", dump_only=True)
    created_at = Timestamp(dump_only=True)
    updated_at = Timestamp(dump_only=True)


class PageArgs(StrictSchema):
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=10_000))
    limit = fields.Integer(load_default=20, validate=validate.Range(min=1, max=100))


class ErrorBody(Schema):
    code = fields.String(required=True, metadata={"example": "slot_taken"})
    message = fields.String(required=True)
    details = fields.Dict(required=True)


class ErrorEnvelope(Schema):
    """Every failure: {"ok": false, "error": {code, message, details}}."""

    ok = fields.Boolean(required=True, metadata={"example": False})
    error = fields.Nested(ErrorBody, required=True)


@functools.cache
def envelope(schema_cls):
    """The success envelope around `schema_cls`: routes return the data, this wraps it."""

    def wrap(self, data, **kwargs):
        return {"ok": True, "data": data}

    return type(
        f"{schema_cls.__name__}Envelope",
        (Schema,),
        {
            "ok": fields.Boolean(required=True, metadata={"example": True}),
            "data": fields.Nested(schema_cls, required=True),
            "wrap": pre_dump(wrap),
        },
    )


@functools.cache
def page_of(schema_cls):
    """A page of `schema_cls` items: {"items", "page", "limit", "total"}."""
    return type(
        f"{schema_cls.__name__}Page",
        (Schema,),
        {
            "items": fields.List(fields.Nested(schema_cls), required=True),
            "page": fields.Integer(required=True),
            "limit": fields.Integer(required=True),
            "total": fields.Integer(required=True),
        },
    )


def parse_date(text):
    """A `YYYY-MM-DD` string as a date (the string was validated by DateField)."""
    return dt.datetime.strptime(text, DATE_FORMAT).date()


def object_id(value):
    """An id from a URL path, or None when it is not a valid ObjectId."""
    try:
        return ObjectId(value)
    except (InvalidId, TypeError):
        return None
