"""Venues: owners register and manage them; anyone searches them and asks availability."""

from flask import Response, url_for
from flask_smorest import Blueprint
from marshmallow import RAISE

from halls.auth.tokens import current_user, owner_required
from halls.extensions import error_responses, follow, links
from halls.schemas import PageArgs, envelope, page_of
from halls.venues import ical_feed, search, service
from halls.venues.schemas import (
    PATCH_FIELDS,
    AvailabilityArgs,
    AvailabilityOut,
    BlackoutCreatedData,
    BlackoutIn,
    CalendarFeedArgs,
    CalendarTokenOut,
    QuoteArgs,
    QuoteOut,
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
@blp.arguments(VenueIn())
@blp.response(201, envelope(VenueData))
@blp.doc(responses=venue_links(201, VENUE_ID, OWN_VENUE_OPERATIONS + VENUE_OPERATIONS))
def register(fields):
    """Register a venue owned by the caller (owners only)."""
    return {"venue": service.register_venue(current_user(), fields)}


@blp.route("/mine")
@owner_required
@blp.arguments(PageArgs(), location="query", unknown=RAISE)
@blp.response(200, envelope(page_of(VenueOut)))
@blp.doc(responses=venue_links(200, FIRST_VENUE_ID, OWN_VENUE_OPERATIONS + VENUE_OPERATIONS))
def mine(args):
    """The caller's venues, newest first, inactive ones included."""
    return service.list_my_venues(current_user(), args["page"], args["limit"])


@blp.route("/search")
@blp.arguments(SearchArgs(), location="query", unknown=RAISE)
@blp.response(200, envelope(page_of(VenueSearchItem)))
@blp.doc(responses=venue_links(200, FIRST_VENUE_ID, VENUE_OPERATIONS))
def search_all(args):
    """Search active venues by type, city, capacity, date, price, place and amenities."""
    return search.search_venues(args)


@blp.route("/<venue_id>")
@blp.response(200, envelope(VenueData))
def show(venue_id):
    """One venue (public)."""
    return {"venue": service.get_venue(venue_id)}


@blp.route("/<venue_id>", methods=["PATCH"])
@owner_required
@blp.arguments(VenuePatch(partial=PATCH_FIELDS))
@blp.response(200, envelope(VenueData))
@blp.doc(responses=error_responses(409))
def update(changes, venue_id):
    """Change some fields of one of the caller's venues."""
    return {"venue": service.update_venue(current_user(), venue_id, changes)}


@blp.route("/<venue_id>", methods=["DELETE"])
@owner_required
@blp.response(200, envelope(VenueData))
@blp.doc(responses=error_responses(409))
def delete(venue_id):
    """Soft-delete one of the caller's venues (refused while bookings are upcoming)."""
    return {"venue": service.delete_venue(current_user(), venue_id)}


@blp.route("/<venue_id>/availability")
@blp.arguments(AvailabilityArgs(), location="query", unknown=RAISE)
@blp.response(200, envelope(AvailabilityOut))
def availability(args, venue_id):
    """Free slots and the price on one date, or on each date from..to (at most 62 days)."""
    return service.venue_availability(venue_id, **args)


@blp.route("/<venue_id>/quote")
@blp.arguments(QuoteArgs(), location="query", unknown=RAISE)
@blp.response(200, envelope(QuoteOut))
@blp.doc(responses=error_responses(409))
def quote(args, venue_id):
    """Price a booking line by line without booking, and say if the slots are free now."""
    return service.quote_venue(venue_id, **args)


@blp.route("/<venue_id>/blackouts", methods=["POST"])
@owner_required
@blp.arguments(BlackoutIn())
@blp.response(201, envelope(BlackoutCreatedData))
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
    """Close a date, or some of its slots, of one of the caller's venues."""
    return service.add_blackout(current_user(), venue_id, fields)


@blp.route("/<venue_id>/blackouts/<blackout_id>", methods=["DELETE"])
@owner_required
@blp.response(200, envelope(VenueData))
def remove_blackout(venue_id, blackout_id):
    """Reopen what a blackout closed."""
    return {"venue": service.remove_blackout(current_user(), venue_id, blackout_id)}


@blp.route("/<venue_id>/calendar-token", methods=["POST"])
@owner_required
@blp.response(201, envelope(CalendarTokenOut))
@blp.doc(
    responses=links(
        201,
        follow(
            "venues.calendar_feed", venue_id=REQUEST_VENUE_ID, token="$response.body#/data/token"
        ),
    )
)
def calendar_token(venue_id):
    """Make (or replace) the venue's calendar feed token; it is shown only this once."""
    token = ical_feed.rotate_calendar_token(current_user(), venue_id)
    url = url_for("venues.calendar_feed", venue_id=venue_id, token=token, _external=True)
    return {"token": token, "feed_url": url}


@blp.route("/<venue_id>/calendar.ics")
@blp.arguments(CalendarFeedArgs(), location="query", unknown=RAISE)
@blp.response(200, {"type": "string"}, content_type="text/calendar")
def calendar_feed(args, venue_id):
    """The venue's bookings as an iCalendar feed; the token in the URL stands in for a login."""
    ics = ical_feed.venue_calendar(venue_id, args["token"])
    return Response(ics, mimetype="text/calendar", headers=ical_feed.FEED_HEADERS)
