"""Venues: owners register and manage them; anyone searches them and asks availability."""

from flask import Response, url_for
from flask_smorest import Blueprint
from marshmallow import RAISE

from halls import examples as ex
from halls.auth.tokens import current_user, owner_required
from halls.extensions import error_responses, follow, links
from halls.schemas import PageArgs, envelope, page_of
from halls.venues import ical_feed, search, service
from halls.venues.quote_schemas import QuoteArgs, QuoteOut
from halls.venues.schemas import (
    PATCH_FIELDS,
    AvailabilityArgs,
    AvailabilityOut,
    BlackoutCreatedData,
    BlackoutIn,
    CalendarFeedArgs,
    CalendarTokenOut,
    VenueData,
    VenueIn,
    VenueOut,
    VenuePatch,
)
from halls.venues.search_schemas import SearchArgs, VenueSearchItem

blp = Blueprint(
    "venues", __name__, url_prefix="/venues", description="Venues, search, availability and quotes"
)

VENUE_ID = "$response.body#/data/venue/id"
FIRST_VENUE_ID = "$response.body#/data/items/0/id"
OWN_VENUE_OPERATIONS = (
    "venues.update",
    "venues.delete",
    "venues.add_blackout",
    "venues.calendar_token",
    "addons.create",
)
VENUE_OPERATIONS = ("venues.show", "venues.availability", "venues.quote", "addons.list_")
REQUEST_VENUE_ID = "$request.path.venue_id"


def venue_links(status, venue_id, operations):
    """`responses` for `Blueprint.doc`: the venue whose id is at `venue_id` leads to these
    operations and to booking it."""
    to_book = follow("bookings.create", request_body={"venue_id": venue_id})
    return links(status, follow(*operations, venue_id=venue_id), to_book)


@blp.route("/register", methods=["POST"])
@owner_required
@blp.arguments(VenueIn(), example=ex.VENUE_REGISTER)
@blp.response(201, envelope(VenueData), example=ex.ok({"venue": ex.VENUE}))
@blp.doc(responses=venue_links(201, VENUE_ID, OWN_VENUE_OPERATIONS + VENUE_OPERATIONS))
def register(fields):
    """Register a venue owned by the caller (owners only).

    Name, type, address, location and capacity are required; everything else has a default:
    the three standard slots, the Asia/Karachi time zone, no dates and no price yet. A venue
    is bookable on the dates in `dates_available` that have a price (an override for the
    date, else `pricing.base_price`). `maps_location` is a GeoJSON Point or `{lat, lng}`.
    """
    return {"venue": service.register_venue(current_user(), fields)}


@blp.route("/mine")
@owner_required
@blp.arguments(PageArgs(), location="query", unknown=RAISE)
@blp.response(200, envelope(page_of(VenueOut)), example=ex.ok(ex.page([ex.VENUE])))
@blp.doc(responses=venue_links(200, FIRST_VENUE_ID, OWN_VENUE_OPERATIONS + VENUE_OPERATIONS))
def mine(args):
    """The caller's venues, newest first, inactive ones included.

    Whole venues, as GET /venues/{venue_id} shows them; deleted ones are left out.
    """
    return service.list_my_venues(current_user(), args["page"], args["limit"])


@blp.route("/search")
@blp.arguments(SearchArgs(), location="query", unknown=RAISE)
@blp.response(200, envelope(page_of(VenueSearchItem)), example=ex.ok(ex.page([ex.VENUE_SUMMARY])))
@blp.doc(responses=venue_links(200, FIRST_VENUE_ID, VENUE_OPERATIONS))
def search_all(args):
    """Search active venues by type, city, capacity, date, price, place and amenities.

    Every filter is optional and they combine. With `date`, only venues with a slot still
    free that day are listed, each with its price that day and its free slots; with
    `near_lat` and `near_lng` (and `near_km`, 10 by default), each result has its distance.
    `amenities` lists names every result must have (repeated or comma-separated); a name no
    venue has at all is a 422 naming it. Sorted newest first, or by distance when near.
    """
    return search.search_venues(args)


@blp.route("/<venue_id>")
@blp.response(200, envelope(VenueData), example=ex.ok({"venue": ex.VENUE}))
def show(venue_id):
    """One venue (public).

    The whole venue: its dates, prices, slots, calendar settings, blackouts and add-ons. A
    deleted venue is a 404 `venue_not_found`.
    """
    return {"venue": service.get_venue(venue_id)}


@blp.route("/<venue_id>", methods=["PATCH"])
@owner_required
@blp.arguments(VenuePatch(partial=PATCH_FIELDS), example=ex.VENUE_PATCH)
@blp.response(200, envelope(VenueData), example=ex.ok({"venue": {**ex.VENUE, **ex.VENUE_PATCH}}))
@blp.doc(responses=error_responses(409))
def update(changes, venue_id):
    """Change some fields of one of the caller's venues.

    Send only the fields to change: nothing else is touched (none has a default here).
    Inside `pricing`, `base_price` and `overrides` change separately. A date or slot that
    active bookings use cannot be removed (409 `date_in_use`, `slot_in_use`).
    """
    return {"venue": service.update_venue(current_user(), venue_id, changes)}


@blp.route("/<venue_id>", methods=["DELETE"])
@owner_required
@blp.response(200, envelope(VenueData), example=ex.ok({"venue": ex.VENUE_DELETED}))
@blp.doc(responses=error_responses(409))
def delete(venue_id):
    """Soft-delete one of the caller's venues (refused while bookings are upcoming).

    The venue leaves search and its page answers 404 from then on; its past bookings keep
    it. With pending or confirmed bookings still to come it is a 409 `venue_has_bookings`.
    """
    return {"venue": service.delete_venue(current_user(), venue_id)}


@blp.route("/<venue_id>/availability")
@blp.arguments(AvailabilityArgs(), location="query", unknown=RAISE)
@blp.response(200, envelope(AvailabilityOut), example=ex.ok(ex.AVAILABILITY))
def availability(args, venue_id):
    """Free slots and the price on one date, or on each date from..to (at most 62 days).

    Ask `date=YYYY-MM-DD` for one day, or `from` and `to` for `days`. Each slot says whether
    it can be booked now and, if not, why (`reason`): taken, blacked out, too late, a date
    the venue does not offer, beyond its booking window, or the venue is not taking bookings.
    """
    return service.venue_availability(venue_id, **args)


@blp.route("/<venue_id>/quote")
@blp.arguments(QuoteArgs(), location="query", unknown=RAISE)
@blp.response(200, envelope(QuoteOut), example=ex.ok(ex.QUOTE))
@blp.doc(responses=error_responses(409))
def quote(args, venue_id):
    """Price a booking line by line without booking, and say if the slots are free now.

    One line per slot at the day's price and one per add-on (`key:qty`; a per-guest add-on
    defaults to the guest count). The quote holds nothing: it is `valid_until` 15 minutes on,
    and a booking sent with this `total` as `expected_total` gets a 409 `price_changed`
    rather than a different price.
    """
    return service.quote_venue(venue_id, **args)


@blp.route("/<venue_id>/blackouts", methods=["POST"])
@owner_required
@blp.arguments(BlackoutIn(), example=ex.BLACKOUT)
@blp.response(201, envelope(BlackoutCreatedData), example=ex.ok(ex.BLACKOUT_CREATED))
@blp.doc(responses=error_responses(409))
@blp.doc(
    responses=links(
        201,
        follow(
            "venues.remove_blackout",
            venue_id=REQUEST_VENUE_ID,
            blackout_id="$response.body#/data/blackout/id",
        ),
    )
)
def add_blackout(fields, venue_id):
    """Close a date, or some of its slots, of one of the caller's venues.

    Leave `slots` out to close the whole day. Bookings in the way make it a 409
    `blackout_conflicts_bookings` naming them, unless `force` is true: then they are
    cancelled by the owner and fully refunded, and listed in `cancelled_bookings`.
    """
    return service.add_blackout(current_user(), venue_id, fields)


@blp.route("/<venue_id>/blackouts/<blackout_id>", methods=["DELETE"])
@owner_required
@blp.response(200, envelope(VenueData), example=ex.ok({"venue": ex.VENUE}))
def remove_blackout(venue_id, blackout_id):
    """Reopen what a blackout closed.

    The slots become bookable again; the venue is returned without the blackout.
    """
    return {"venue": service.remove_blackout(current_user(), venue_id, blackout_id)}


@blp.route("/<venue_id>/calendar-token", methods=["POST"])
@owner_required
@blp.response(201, envelope(CalendarTokenOut), example=ex.ok(ex.CALENDAR))
@blp.doc(
    responses=links(
        201,
        follow(
            "venues.calendar_feed", venue_id=REQUEST_VENUE_ID, token="$response.body#/data/token"
        ),
    )
)
def calendar_token(venue_id):
    """Make (or replace) the venue's calendar feed token; it is shown only this once.

    Subscribe a calendar app to `feed_url`. A new token replaces the old one, whose feed
    stops working at once.
    """
    token = ical_feed.rotate_calendar_token(current_user(), venue_id)
    url = url_for("venues.calendar_feed", venue_id=venue_id, token=token, _external=True)
    return {"token": token, "feed_url": url}


@blp.route("/<venue_id>/calendar.ics")
@blp.arguments(CalendarFeedArgs(), location="query", unknown=RAISE)
@blp.response(200, {"type": "string"}, content_type="text/calendar", example=ex.CALENDAR_FEED)
def calendar_feed(args, venue_id):
    """The venue's bookings as an iCalendar feed; the token in the URL stands in for a login.

    Pending, confirmed and completed bookings, one event per booked slot, in the venue's time
    zone. A wrong or replaced token is a 404 `calendar_not_found`.
    """
    ics = ical_feed.venue_calendar(venue_id, args["token"])
    return Response(ics, mimetype="text/calendar", headers=ical_feed.FEED_HEADERS)
