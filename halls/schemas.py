"""Schemas and fields shared by every resource: limits, ids, dates, text, places, the envelope,
pages. A field type here knows no resource; a resource's own schemas live in its package."""

import copy
import datetime as dt
import functools
import math
import re

from bson import ObjectId
from bson.errors import InvalidId
from marshmallow import Schema, fields, missing, pre_dump, validate

from halls.errors import ERROR_CODES

MAX_CAPACITY = 100_000  # people: a venue's capacity, a booking's guests, an add-on's qty
MAX_PRICE = 1_000_000_000  # PKR; keeps every sum far inside a 64-bit integer
# Amenity names, slot keys and add-on keys become parts of stored field paths and filters
# (amenities.<name>, addons.key), so they are plain snake_case: no "$", no ".".
SNAKE_NAME = r"^[a-z][a-z0-9_]{0,39}$"


class StrictSchema(Schema):
    """An `In` schema: unknown fields are refused (marshmallow's default, said out loud).

    Any other schema is an `Out` schema, and the document reads it as an answer (see
    extensions.HallsConverter): extra fields allowed (a client must survive a new one), and
    every field always sent, so required, unless its metadata says `"optional": True` (and
    its description says when it is sent)."""

    class Meta:
        unknown = "raise"


def without_defaults(schema_cls, name):
    """`schema_cls` for a PATCH body: the same fields, validators and hooks, but no field (nor
    any field of a nested schema) has a default. Loaded partially, a PATCH applies no default
    anyway; but a client generated from a document that shows defaults sends every one of
    them, and so resets what it never meant to touch."""
    declared = {}
    for field_name, field in schema_cls._declared_fields.items():
        clone = copy.copy(field)
        clone.load_default = missing
        nested = getattr(field, "nested", None)
        if isinstance(nested, type) and issubclass(nested, Schema):
            clone.nested = without_defaults(nested, nested.__name__.removesuffix("In") + "Patch")
        declared[field_name] = clone
    return type(name, (schema_cls,), {"__doc__": schema_cls.__doc__, **declared})


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
            parsed = dt.date.fromisoformat(text)
        except ValueError as error:
            raise self.make_error("invalid_date") from error
        if parsed.isoformat() != text:  # only YYYY-MM-DD itself (fromisoformat takes more)
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


class StrictBoolean(fields.Boolean):
    """true or false only: "yes" and 1 are not booleans in a JSON body."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, bool):
            raise self.make_error("invalid")
        return value


class Text(fields.String):
    """A string with surrounding whitespace removed before it is validated."""

    def _deserialize(self, value, attr, data, **kwargs):
        return super()._deserialize(value, attr, data, **kwargs).strip()


class HttpsUrl(fields.Url):
    """An https URL of at most 2048 characters."""

    def __init__(self, **kwargs):
        super().__init__(schemes={"https"}, validate=validate.Length(max=2048), **kwargs)


# How GeoPoint reads in the OpenAPI document: one canonical shape, GeoJSON, as a named
# component (HallsApi registers it), so that every generator makes one plain class of it. (A
# oneOf of the two shapes becomes, in Kotlin, one class that needs both.)
GEO_SHAPES = {
    "GeoJsonPoint": {
        "type": "object",
        "description": "A GeoJSON Point: coordinates are [longitude, latitude]. A request may "
        'send {"lat": ..., "lng": ...} instead; answers always show the GeoJSON Point.',
        "required": ["type", "coordinates"],
        "additionalProperties": False,
        "properties": {
            "type": {"type": "string", "enum": ["Point"]},
            "coordinates": {
                "type": "array",
                "items": {"type": "number", "minimum": -180, "maximum": 180},
                "minItems": 2,
                "maxItems": 2,
            },
        },
        "example": {"type": "Point", "coordinates": [74.3587, 31.5204]},
    },
}
# (allOf: apispec keeps no $ref from field metadata; one allOf is that very type.)
GEO_POINT_DOC = {"allOf": [{"$ref": "#/components/schemas/GeoJsonPoint"}]}


class GeoPoint(fields.Field):
    """A GeoJSON Point or {lat, lng} on the way in; always a GeoJSON Point when stored."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs, metadata={**GEO_POINT_DOC, **kwargs.pop("metadata", {})})

    default_error_messages = {
        "invalid": 'Send a GeoJSON Point ("coordinates": [lng, lat]) or "lat" and "lng".',
        "range": "Latitude must be within -90..90 and longitude within -180..180.",
    }

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, dict) and set(value) == {"type", "coordinates"}:
            coordinates = value["coordinates"]
            if value["type"] != "Point" or not isinstance(coordinates, list | tuple):
                raise self.make_error("invalid")
            if len(coordinates) != 2:
                raise self.make_error("invalid")
            lng, lat = coordinates
        elif isinstance(value, dict) and set(value) == {"lat", "lng"}:
            lat, lng = value["lat"], value["lng"]
        else:
            raise self.make_error("invalid")
        lng, lat = _number(lng, self), _number(lat, self)
        if not (-180 <= lng <= 180 and -90 <= lat <= 90):
            raise self.make_error("range")
        return {"type": "Point", "coordinates": [lng, lat]}


def _number(value, field):
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise field.make_error("invalid")
    try:
        number = float(value)
    except OverflowError as error:  # an integer with hundreds of digits
        raise field.make_error("range") from error
    if not math.isfinite(number):
        raise field.make_error("invalid")
    return number


class CommaList(fields.List):
    """A list in a query string, sent either way or both: `amenities=stage&amenities=catering`
    or `amenities=stage,catering`. Each item is checked by `parse_item` (a snake_case name
    unless a subclass says otherwise); at least one, at most `max_items`. Documented as an
    array of the `inner` field (repeated keys: what generated clients send)."""

    default_error_messages = {"item": "Not a valid list."}
    max_items = 50
    unique = False  # True: a repeated item counts once

    def __init__(self, inner=None, **kwargs):
        inner = inner or fields.String(validate=validate.Regexp(SNAKE_NAME))
        metadata = {"minItems": 1, "maxItems": self.max_items} | kwargs.pop("metadata", {})
        super().__init__(inner, metadata=metadata, **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        texts = [value] if isinstance(value, str) else value
        if not isinstance(texts, list | tuple) or not all(isinstance(t, str) for t in texts):
            raise self.make_error("item")
        items = [item.strip() for text in texts for item in text.split(",") if item.strip()]
        if self.unique:
            items = list(dict.fromkeys(items))
        if not items or len(items) > self.max_items:
            raise self.make_error("item")
        return [self.parse_item(item) for item in items]

    def parse_item(self, item):
        if not re.match(SNAKE_NAME, item):
            raise self.make_error("item")
        return item


class Meta(Schema):
    """Common output fields of a stored document."""

    id = ObjectIdField(attribute="_id", dump_only=True)
    created_at = Timestamp(dump_only=True)
    updated_at = Timestamp(dump_only=True)


class QuickDump:
    """A schema whose dump of a plain dict (a stored document) takes the quick way: the same
    answer as marshmallow's, key order included (see _fast_value). Its hooks still run:
    Schema.dump calls them around _serialize. Search dumps ~20 venues a request, and every
    booking answer is a booking."""

    def _serialize(self, obj, *, many=False):
        if many or type(obj) is not dict:
            return super()._serialize(obj, many=many)
        if self.__dict__.get("_dump") is None:
            self._dump = _fast_dump(self)
        return self._dump(obj)


def _fast_value(field):
    """What field._serialize(value) gives, without marshmallow's work for the plain values a
    stored document holds: a str for a String, an int for an Integer, a list for a List, a dict
    for a Dict or a hook-free Nested... Any other value (or field) goes to field._serialize."""

    def slow(value):
        return field._serialize(value, None, None)

    kind, kept = type(field), _kept_type(field)
    if kept is not _NO_TYPE:  # a String, Integer, Float or Boolean
        return lambda value: value if type(value) is kept else slow(value)
    if kind is fields.List:
        inner, plain = _fast_value(field.inner), _kept_types(field.inner)

        def listed(value):
            if type(value) is not list:
                return slow(value)
            if plain.issuperset(map(type, value)):  # each kept as it is: looked at in C
                return list(value)
            return [inner(each) for each in value]

        return listed
    if kind is fields.Dict and field.key_field and field.value_field:
        keys, values = _fast_value(field.key_field), _fast_value(field.value_field)
        kept_keys, kept_values = _kept_types(field.key_field), _kept_types(field.value_field)

        def mapped(value):
            if type(value) is not dict:
                return slow(value)
            if kept_keys.issuperset(map(type, value)) and kept_values.issuperset(
                map(type, value.values())
            ):
                return dict(value)
            return {keys(k): values(v) for k, v in value.items()}

        return mapped
    schema = field.schema if kind is fields.Nested else None
    if schema is not None and not (schema.many or field.many or any(schema._hooks.values())):
        dump = _fast_dump(schema)
        return lambda value: dump(value) if type(value) is dict else slow(value)
    return slow


def _fast_dump(schema):
    """schema.dump(obj) of a dict, as marshmallow gives it (see _fast_value); a field whose
    key the dict lacks, or whose attribute is a dotted path, goes through field.serialize (its
    default, or left out). A value of the very type a String, Integer, Float or Boolean
    field gives back is kept as it is (what _fast_value does, without the call)."""
    plan = [
        (
            field.data_key if field.data_key is not None else name,
            attribute if "." not in attribute else _NO_KEY,
            _kept_type(field),
            _fast_value(field),
            functools.partial(field.serialize, name, accessor=schema.get_attribute),
        )
        for name, field in schema.dump_fields.items()
        for attribute in [field.attribute if field.attribute is not None else name]
    ]

    def dump(obj):  # obj: a plain dict (QuickDump and _fast_value look first)
        ret = schema.dict_class()
        for key, attribute, kept_type, value_of, serialize in plan:
            if attribute in obj:
                value = obj[attribute]
                ret[key] = value if type(value) is kept_type else value_of(value)
            else:
                value = serialize(obj)
                if value is not missing:
                    ret[key] = value
        return ret

    return dump


# The type of value each field gives back unchanged (field type, as_string).
_KEPT_TYPES = {
    (fields.String, False): str,
    (DateField, False): str,  # a String whose document says format: date
    (fields.Integer, False): int,
    (fields.Float, False): float,
    (fields.Boolean, False): bool,
}
_NO_KEY = object()  # no dict holds it: a dotted attribute goes to field.serialize


def _kept_type(field):
    """The type of value the field gives back unchanged, else _NO_TYPE."""
    return _KEPT_TYPES.get((type(field), getattr(field, "as_string", False)), _NO_TYPE)


def _kept_types(field):
    return frozenset({_kept_type(field)})


class _NO_TYPE:
    """The type of no value."""


class PageArgs(StrictSchema):
    page = fields.Integer(
        load_default=1, validate=validate.Range(min=1, max=10_000), metadata={"example": 1}
    )
    limit = fields.Integer(
        load_default=20, validate=validate.Range(min=1, max=100), metadata={"example": 20}
    )


class ErrorBody(Schema):
    code = fields.String(
        required=True,
        validate=validate.OneOf(ERROR_CODES),
        metadata={"description": "Stable: switch on it.", "example": "slot_taken"},
    )
    message = fields.String(
        required=True,
        metadata={"description": "A sentence for people.", "example": "That slot is taken."},
    )
    details = fields.Dict(
        required=True,
        metadata={
            "description": 'Field messages only, {"field": ["message"]} (nested for the fields '
            "of an object): set for validation_failed; else empty.",
            "example": {},
        },
    )
    context = fields.Dict(
        required=True,
        metadata={
            "description": "Whatever else the error tells a program, by code (README, Error "
            "codes): e.g. the taken slots, the known slot keys, a fresh quote; else empty.",
            "example": {"date": "2025-12-20", "slots": ["dinner"]},
        },
    )


class ErrorEnvelope(Schema):
    """Every failure: {"ok": false, "error": {code, message, details, context}}."""

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
    return dt.date.fromisoformat(text)


def object_id(value: str | ObjectId | None) -> ObjectId | None:
    """An id from a URL path, or None when it is not a valid ObjectId."""
    try:
        return ObjectId(value)
    except (InvalidId, TypeError):
        return None
