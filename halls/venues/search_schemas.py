"""Venue search at the edge: what a search may ask, and the summary each result shows."""

import re

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from halls import rules
from halls.schemas import (
    MAX_CAPACITY,
    MAX_PRICE,
    SNAKE_NAME,
    DateField,
    ObjectIdField,
    PageArgs,
    QuickDump,
    Text,
)
from halls.venues.schemas import VENUE_TYPES, VenueOut

SORTS = ("distance", "price_asc", "price_desc", "capacity", "newest")
_VENUE = VenueOut._declared_fields


class VenueSummaryOut(Schema):
    """What a search item shows of VenueOut: a summary (GET /venues/<id> shows the rest).

    VenueOut's own field objects, so the two never disagree on a field.
    """

    owner_id = _VENUE["owner_id"]
    venue_name = _VENUE["venue_name"]
    type = _VENUE["type"]
    address = _VENUE["address"]
    city = _VENUE["city"]
    maps_location = _VENUE["maps_location"]
    capacity = _VENUE["capacity"]
    space_sqft = _VENUE["space_sqft"]
    amenities = _VENUE["amenities"]
    pictures = _VENUE["pictures"]
    currency = _VENUE["currency"]
    timezone = _VENUE["timezone"]
    slots = _VENUE["slots"]


SUMMARY_FIELDS = tuple(VenueSummaryOut._declared_fields)


class VenueSearchItem(QuickDump, VenueSummaryOut):
    """A search result: a summary of the venue, not the whole venue."""

    class Meta:
        description = (
            "A summary of the venue. GET /venues/{venue_id} shows the whole venue (its dates, "
            "price overrides, calendar settings, videos and add-ons), and "
            "GET /venues/{venue_id}/availability its slots and price on any date."
        )

    id = ObjectIdField(attribute="_id", dump_only=True)
    base_price = fields.Integer(
        allow_none=True, metadata={"description": "the venue's pricing.base_price"}
    )
    price_on_date = fields.Integer(
        allow_none=True, metadata={"description": "with date: the override that day, else base"}
    )
    distance_km = fields.Float(metadata={"description": "with near_lat/near_lng"})
    free_slots = fields.List(
        fields.String(),
        metadata={
            "description": "with date: the keys of the slots that can still be booked that day, "
            "those GET /venues/{venue_id}/availability shows available"
        },
    )


class AmenityList(fields.String):
    """A comma-separated list of amenity names (all of them required)."""

    default_error_messages = {"amenity": "List amenity names in snake_case, separated by commas."}

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs)
        names = list(dict.fromkeys(name.strip() for name in text.split(",") if name.strip()))
        if not names or len(names) > 20 or not all(re.match(SNAKE_NAME, n) for n in names):
            raise self.make_error("amenity")
        return names


def _not_over_everywhere(date):
    if rules.is_past_everywhere(date):
        raise ValidationError("The date is in the past.")


class SearchArgs(PageArgs):
    type = fields.String(validate=validate.OneOf(VENUE_TYPES))
    city = Text(validate=validate.Length(min=1, max=80))
    capacity_min = fields.Integer(validate=validate.Range(1, MAX_CAPACITY))
    capacity_max = fields.Integer(validate=validate.Range(1, MAX_CAPACITY))
    date = DateField(validate=_not_over_everywhere)
    price_min = fields.Integer(validate=validate.Range(0, MAX_PRICE))
    price_max = fields.Integer(validate=validate.Range(0, MAX_PRICE))
    near_lat = fields.Float(validate=validate.Range(-90, 90))
    near_lng = fields.Float(validate=validate.Range(-180, 180))
    near_km = fields.Float(validate=validate.Range(0, 500, min_inclusive=False))
    amenities = AmenityList()
    q = Text(validate=validate.Length(min=1, max=100))
    sort = fields.String(validate=validate.OneOf(SORTS))

    @validates_schema
    def consistent(self, data, **kwargs):
        errors = {}
        near = "near_lat" in data and "near_lng" in data
        if "near_lat" in data and not near:
            errors["near_lng"] = ["Send near_lat and near_lng together."]
        if "near_lng" in data and not near:
            errors["near_lat"] = ["Send near_lat and near_lng together."]
        if "near_km" in data and not near:
            errors["near_km"] = ["near_km needs near_lat and near_lng."]
        if data.get("sort") == "distance" and not near:
            errors["sort"] = ["Sorting by distance needs near_lat and near_lng."]
        for low, high in (("capacity_min", "capacity_max"), ("price_min", "price_max")):
            if low in data and high in data and data[low] > data[high]:
                errors[low] = [f"{low} is greater than {high}."]
        if errors:
            raise ValidationError(errors)
