"""Venue schemas: what an owner may send, what anyone may ask, and what we show."""

from marshmallow import (
    Schema,
    ValidationError,
    fields,
    post_load,
    validate,
    validates_schema,
)

from halls import rules
from halls.addons.schemas import AddonOut
from halls.schemas import (
    MAX_CAPACITY,
    MAX_PRICE,
    SNAKE_NAME,
    DateField,
    GeoPoint,
    HttpsUrl,
    Meta,
    ObjectIdField,
    StrictBoolean,
    StrictSchema,
    Text,
    Timestamp,
    parse_date,
    without_defaults,
)

VENUE_TYPES = ("Hall", "Auditorium", "Banquet", "Lawn")
EDITABLE_STATUSES = ("active", "inactive")
STATUSES = (*EDITABLE_STATUSES, "deleted")
# Why a slot cannot be booked (rules.day_availability): availability's and the quote's reasons.
SLOT_REFUSALS = (
    "slot_taken",
    "blacked_out",
    "too_late_to_book",
    "date_unavailable",
    "outside_booking_window",
    "venue_inactive",
    "unknown_slot",
)
MAX_DATES = 731  # two years of dates
MAX_RANGE_DAYS = 62
HH_MM = r"^([01]\d|2[0-3]):[0-5]\d$"


def _known_timezone(value):
    if value not in rules.known_timezones():
        raise ValidationError("Not a known IANA time zone, e.g. Asia/Karachi.")


class VenueSlotIn(StrictSchema):
    key = fields.String(required=True, validate=validate.Regexp(SNAKE_NAME))
    label = Text(required=True, validate=validate.Length(min=1, max=60))
    start = fields.String(required=True, validate=validate.Regexp(HH_MM))
    end = fields.String(required=True, validate=validate.Regexp(HH_MM))

    @validates_schema
    def start_before_end(self, data, **kwargs):
        if data["start"] >= data["end"]:
            raise ValidationError("A slot must end after it starts.", "end")


class CancellationTierIn(StrictSchema):
    min_hours_before = fields.Integer(strict=True, required=True, validate=validate.Range(0, 8760))
    refund_pct = fields.Integer(strict=True, required=True, validate=validate.Range(0, 100))


def _sane_refund_tiers(tiers):
    hours = [tier["min_hours_before"] for tier in tiers]
    if len(hours) != len(set(hours)):
        raise ValidationError("Each min_hours_before may appear only once.")
    ordered = sorted(tiers, key=lambda tier: -tier["min_hours_before"])
    for earlier, later in zip(ordered, ordered[1:], strict=False):
        if later["refund_pct"] > earlier["refund_pct"]:
            raise ValidationError("Cancelling closer to the event may not refund more.")


class VideoIn(StrictSchema):
    url = HttpsUrl(required=True)
    size_mb = fields.Float(
        required=True, validate=validate.Range(min=0, max=25, min_inclusive=False)
    )


class OverrideIn(StrictSchema):
    date = DateField(required=True)
    price = fields.Integer(strict=True, required=True, validate=validate.Range(0, MAX_PRICE))


class PricingIn(StrictSchema):
    base_price = fields.Integer(
        strict=True, load_default=None, validate=validate.Range(0, MAX_PRICE)
    )
    overrides = fields.List(
        fields.Nested(OverrideIn), load_default=list, validate=validate.Length(max=MAX_DATES)
    )

    # Schema-level (run only once every field is valid), so each override has its date.
    @validates_schema
    def unique_dates(self, data, **kwargs):
        dates = [override["date"] for override in data.get("overrides", [])]
        if len(dates) != len(set(dates)):
            raise ValidationError("Each override date may appear only once.", "overrides")


class VenueIn(StrictSchema):
    venue_name = Text(required=True, validate=validate.Length(min=1, max=120))
    type = fields.String(required=True, validate=validate.OneOf(VENUE_TYPES))
    address = Text(required=True, validate=validate.Length(min=1, max=300))
    maps_location = GeoPoint(required=True)
    capacity = fields.Integer(strict=True, required=True, validate=validate.Range(1, MAX_CAPACITY))
    city = Text(load_default=None, validate=validate.Length(min=1, max=80))
    space_sqft = fields.Float(load_default=None, validate=validate.Range(0, 10_000_000))
    amenities = fields.Dict(
        keys=fields.String(validate=validate.Regexp(SNAKE_NAME)),
        values=StrictBoolean(),
        load_default=dict,
        validate=validate.Length(max=50),
    )
    additional_description = fields.String(load_default="", validate=validate.Length(max=5000))
    pictures = fields.List(HttpsUrl(), load_default=list, validate=validate.Length(max=30))
    videos = fields.List(
        fields.Nested(VideoIn), load_default=list, validate=validate.Length(max=10)
    )
    dates_available = fields.List(
        DateField(), load_default=list, validate=validate.Length(max=MAX_DATES)
    )
    pricing = fields.Nested(PricingIn, load_default=lambda: {"base_price": None, "overrides": []})
    slots = fields.List(
        fields.Nested(VenueSlotIn),
        load_default=lambda: [dict(slot) for slot in rules.DEFAULT_SLOTS],
        validate=validate.Length(min=1, max=24),
    )
    timezone = fields.String(load_default=rules.DEFAULT_TIMEZONE, validate=_known_timezone)
    currency = fields.String(validate=validate.OneOf(["PKR"]), load_only=True)
    status = fields.String(load_default="active", validate=validate.OneOf(EDITABLE_STATUSES))
    # The owner's calendar (issue 3); defaults live in rules.SETTINGS, which older venues use.
    booking_window_days = fields.Integer(
        strict=True,
        load_default=rules.SETTINGS["booking_window_days"],
        validate=validate.Range(1, 1095),
        metadata={"description": "How many days ahead bookings are taken."},
    )
    min_notice_hours = fields.Integer(
        strict=True,
        load_default=rules.SETTINGS["min_notice_hours"],
        validate=validate.Range(0, 8760),
        metadata={"description": "A slot can be booked until this many hours before it starts."},
    )
    open_days = fields.List(
        fields.String(validate=validate.OneOf(rules.WEEKDAYS)),
        load_default=lambda: list(rules.WEEKDAYS),
        validate=validate.Length(min=1, max=7),
        metadata={"description": "Weekdays the venue opens: mon, tue, wed, thu, fri, sat, sun."},
    )
    hold_minutes = fields.Integer(
        strict=True,
        load_default=rules.SETTINGS["hold_minutes"],
        validate=validate.Range(5, 43200),
        metadata={"description": "How long a pending booking holds its slots."},
    )
    auto_confirm = StrictBoolean(load_default=rules.SETTINGS["auto_confirm"])
    reschedule_cutoff_hours = fields.Integer(
        strict=True,
        load_default=rules.SETTINGS["reschedule_cutoff_hours"],
        validate=validate.Range(0, 8760),
    )
    cancellation_policy = fields.List(
        fields.Nested(CancellationTierIn),
        load_default=lambda: rules.setting({}, "cancellation_policy"),
        validate=[validate.Length(min=1, max=10), _sane_refund_tiers],
    )

    # Schema-level validators run only once every field is valid, so each slot is whole.
    @validates_schema
    def slots_fit_the_day(self, data, **kwargs):
        slots = data.get("slots", [])
        if len({slot["key"] for slot in slots}) != len(slots):
            raise ValidationError("Each slot key may appear only once.", "slots")
        ordered = sorted(slots, key=lambda slot: slot["start"])
        for before, after in zip(ordered, ordered[1:], strict=False):
            if after["start"] < before["end"]:
                raise ValidationError(f"Slots {before['key']} and {after['key']} overlap.", "slots")

    @validates_schema
    def not_empty(self, data, **kwargs):
        if not data:
            raise ValidationError("Send at least one field to change.")

    @post_load
    def normalise(self, data, **kwargs):
        data.pop("currency", None)  # always PKR; accepted only so clients may echo it back
        if "dates_available" in data:
            data["dates_available"] = sorted(set(data["dates_available"]))
        if "open_days" in data:
            data["open_days"] = [day for day in rules.WEEKDAYS if day in data["open_days"]]
        if "cancellation_policy" in data:
            data["cancellation_policy"].sort(key=lambda tier: -tier["min_hours_before"])
        return data


# A PATCH body: any fields of VenueIn, none with a default; load it with
# `VenuePatch(partial=PATCH_FIELDS)`.
VenuePatch = without_defaults(VenueIn, "VenuePatch")


# Every top-level field optional, and inside pricing each part optional so that
# {"pricing": {"overrides": [...]}} leaves base_price alone. Not partial=True: that would also
# make each slot, video and override partial, letting a slot without an end through.
PATCH_FIELDS = (*VenueIn._declared_fields, "pricing.base_price", "pricing.overrides")


class GeoPointOut(Schema):
    """A GeoJSON Point: coordinates are [longitude, latitude]."""

    type = fields.String(validate=validate.OneOf(["Point"]))
    coordinates = fields.List(
        fields.Float(), validate=validate.Length(equal=2), metadata={"example": [74.3587, 31.5204]}
    )


class VenueSlotOut(Schema):
    key = fields.String()
    label = fields.String()
    start = fields.String(metadata={"example": "18:00"})
    end = fields.String(metadata={"example": "23:00"})


class VideoOut(Schema):
    url = fields.String()
    size_mb = fields.Float()


class OverrideOut(Schema):
    date = DateField()
    price = fields.Integer()


class PricingOut(Schema):
    base_price = fields.Integer(allow_none=True)
    overrides = fields.List(fields.Nested(OverrideOut))


class CancellationTierOut(Schema):
    min_hours_before = fields.Integer()
    refund_pct = fields.Integer()


class BlackoutOut(Schema):
    id = fields.String()
    date = DateField()
    slots = fields.List(fields.String(), metadata={"description": "empty: the whole day"})
    reason = fields.String()


class VenueOut(Meta):
    owner_id = ObjectIdField()
    venue_name = fields.String()
    type = fields.String(validate=validate.OneOf(VENUE_TYPES))
    address = fields.String()
    city = fields.String(allow_none=True)
    maps_location = fields.Nested(GeoPointOut)
    capacity = fields.Integer()
    space_sqft = fields.Float(allow_none=True)
    amenities = fields.Dict(keys=fields.String(), values=fields.Boolean())
    additional_description = fields.String()
    pictures = fields.List(fields.String())
    videos = fields.List(fields.Nested(VideoOut))
    dates_available = fields.List(DateField())
    pricing = fields.Nested(PricingOut)
    slots = fields.List(fields.Nested(VenueSlotOut))
    booking_window_days = fields.Integer(dump_default=rules.SETTINGS["booking_window_days"])
    min_notice_hours = fields.Integer(dump_default=rules.SETTINGS["min_notice_hours"])
    open_days = fields.List(
        fields.String(validate=validate.OneOf(rules.WEEKDAYS)),
        dump_default=lambda: list(rules.WEEKDAYS),
    )
    blackouts = fields.List(fields.Nested(BlackoutOut), dump_default=list)
    hold_minutes = fields.Integer(dump_default=rules.SETTINGS["hold_minutes"])
    auto_confirm = fields.Boolean(dump_default=rules.SETTINGS["auto_confirm"])
    reschedule_cutoff_hours = fields.Integer(dump_default=rules.SETTINGS["reschedule_cutoff_hours"])
    cancellation_policy = fields.List(
        fields.Nested(CancellationTierOut),
        dump_default=lambda: rules.setting({}, "cancellation_policy"),
    )
    timezone = fields.String(dump_default=rules.DEFAULT_TIMEZONE)
    currency = fields.String(validate=validate.OneOf(["PKR"]))
    status = fields.String(validate=validate.OneOf(STATUSES))
    addons = fields.List(fields.Nested(AddonOut), dump_default=list)
    deleted_at = Timestamp(metadata={"optional": True, "description": "Only once deleted."})


class VenueData(Schema):
    venue = fields.Nested(VenueOut, required=True)


class CalendarTokenOut(Schema):
    """POST /venues/<id>/calendar-token: the new token, shown this once, and the feed URL."""

    token = fields.String(required=True)
    feed_url = fields.String(
        required=True, metadata={"description": "Subscribe to this URL; it carries the token."}
    )


class CalendarFeedArgs(StrictSchema):
    token = fields.String(
        required=True,
        validate=validate.Length(min=1, max=128),
        metadata={"example": "Wm9hZ2F0ZS1jYWxlbmRhci10b2tlbi1leGFtcGxl"},
    )


class AvailabilityArgs(StrictSchema):
    date = DateField(metadata={"example": "2030-12-20", "description": "One day."})
    first = DateField(
        data_key="from", metadata={"example": "2030-12-20", "description": "A range's first day."}
    )
    last = DateField(
        data_key="to", metadata={"example": "2031-01-10", "description": "A range's last day."}
    )

    @validates_schema
    def one_day_or_a_range(self, data, **kwargs):
        ranged = "first" in data or "last" in data
        if "date" in data and ranged:
            raise ValidationError("Ask for one date, or for from and to; not both.")
        if "date" in data:
            return
        if "first" not in data or "last" not in data:
            raise ValidationError("Ask for date=YYYY-MM-DD, or for from and to.")
        days = (parse_date(data["last"]) - parse_date(data["first"])).days + 1
        if not 1 <= days <= MAX_RANGE_DAYS:
            raise ValidationError(
                f"to must be on or after from, at most {MAX_RANGE_DAYS} days in all.", "to"
            )


class VenueSlotAvailabilityOut(VenueSlotOut):
    available = fields.Boolean()
    reason = fields.String(
        allow_none=True,
        validate=validate.OneOf(SLOT_REFUSALS),
        metadata={"description": "Why not; null when available."},
    )


class DayAvailabilityOut(Schema):
    date = DateField()
    available = fields.Boolean()
    price = fields.Integer(allow_none=True)
    slots = fields.List(fields.Nested(VenueSlotAvailabilityOut))


class BlackoutIn(StrictSchema):
    date = DateField(required=True)
    slots = fields.List(
        fields.String(validate=validate.Regexp(SNAKE_NAME)),
        load_default=list,
        validate=validate.Length(max=24),
        metadata={"description": "Slot keys; leave out (or empty) to close the whole day."},
    )
    reason = Text(required=True, validate=validate.Length(min=1, max=200))
    force = StrictBoolean(
        load_default=False,
        metadata={"description": "Cancel (and fully refund) the bookings in the way."},
    )


class BlackoutCreatedData(Schema):
    blackout = fields.Nested(BlackoutOut, required=True)
    venue = fields.Nested(VenueOut, required=True)
    cancelled_bookings = fields.List(fields.String(), required=True)


def _one_day(field):
    return field(metadata={"optional": True, "description": "Asked for one date: that day's."})


class AvailabilityOut(Schema):
    """One day ({venue_id, date, available, price, slots}) or a range ({venue_id, days})."""

    venue_id = ObjectIdField()
    date = _one_day(DateField)
    available = _one_day(fields.Boolean)
    price = fields.Integer(
        allow_none=True,
        metadata={"optional": True, "description": "Asked for one date: that day's price."},
    )
    slots = fields.List(
        fields.Nested(VenueSlotAvailabilityOut),
        metadata={"optional": True, "description": "Asked for one date: that day's slots."},
    )
    days = fields.List(
        fields.Nested(DayAvailabilityOut),
        metadata={"optional": True, "description": "Asked for from..to: each day of it."},
    )
