"""Venue search at the edge: what a search may ask, and the summary each result shows."""

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from halls import rules
from halls.schemas import (
    MAX_CAPACITY,
    MAX_PRICE,
    CommaList,
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
        allow_none=True, metadata={"description": "The venue's pricing.base_price."}
    )
    price_on_date = fields.Integer(
        allow_none=True,
        metadata={"optional": True, "description": "With date: the price that day."},
    )
    distance_km = fields.Float(
        metadata={"optional": True, "description": "With near_lat and near_lng."}
    )
    free_slots = fields.List(
        fields.String(),
        metadata={
            "optional": True,
            "description": "With date: the keys of the slots that can still be booked that "
            "day, those GET /venues/{venue_id}/availability shows available.",
        },
    )


class AmenityList(CommaList):
    """Amenity names, each of which a venue must have (repeated, or separated by commas)."""

    default_error_messages = {"item": "List amenity names in snake_case, separated by commas."}
    max_items = 20
    unique = True


def _not_over_everywhere(date):
    if rules.is_past_everywhere(date):
        raise ValidationError("The date is in the past.")


def _example(value, description=None):
    return {"example": value} | ({"description": description} if description else {})


class SearchArgs(PageArgs):
    type = fields.String(validate=validate.OneOf(VENUE_TYPES), metadata=_example("Banquet"))
    city = Text(
        validate=validate.Length(min=1, max=80), metadata=_example("Lahore", "Exact, any case.")
    )
    capacity_min = fields.Integer(
        validate=validate.Range(1, MAX_CAPACITY), metadata=_example(200, "Guests, at least.")
    )
    capacity_max = fields.Integer(
        validate=validate.Range(1, MAX_CAPACITY), metadata=_example(800, "Guests, at most.")
    )
    date = DateField(
        validate=_not_over_everywhere,
        metadata=_example("2030-12-20", "Venues with a slot still free that day."),
    )
    price_min = fields.Integer(
        validate=validate.Range(0, MAX_PRICE),
        metadata=_example(100000, "PKR; with date, the price that day."),
    )
    price_max = fields.Integer(
        validate=validate.Range(0, MAX_PRICE),
        metadata=_example(500000, "PKR; with date, the price that day."),
    )
    near_lat = fields.Float(validate=validate.Range(-90, 90), metadata=_example(31.52))
    near_lng = fields.Float(validate=validate.Range(-180, 180), metadata=_example(74.36))
    near_km = fields.Float(
        validate=validate.Range(0, 500, min_inclusive=False),
        metadata=_example(10, "With near_lat and near_lng; 10 when not given."),
    )
    amenities = AmenityList(
        metadata=_example(["stage", "parking_valet"], "Every one required of a result.")
    )
    q = Text(
        validate=validate.Length(min=1, max=100), metadata=_example("shalimar", "In the name.")
    )
    sort = fields.String(validate=validate.OneOf(SORTS), metadata=_example("price_asc"))

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
