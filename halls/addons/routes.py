"""Add-ons: /venues/<id>/addons[/<key>]."""

from flask_smorest import Blueprint
from marshmallow import RAISE

from halls import examples as ex
from halls.addons import service
from halls.addons.schemas import AddonData, AddonIn, AddonOut, AddonPatch
from halls.auth.tokens import current_user, owner_required
from halls.extensions import error_responses, follow, links
from halls.schemas import PageArgs, envelope, page_of

blp = Blueprint(
    "addons",
    __name__,
    url_prefix="/venues",
    description="Add-ons a venue sells with a booking",
)


@blp.route("/<venue_id>/addons")
@blp.arguments(PageArgs(), location="query", unknown=RAISE)
@blp.response(200, envelope(page_of(AddonOut)), example=ex.ok(ex.page([ex.ADDON_OUT])))
def list_(args, venue_id):
    """The venue's add-ons (public).

    What a booking may add: catering, decor, sound and the like, each at a flat price per
    event or per guest.
    """
    return service.list_addons(venue_id, args["page"], args["limit"])


@blp.route("/<venue_id>/addons", methods=["POST"])
@owner_required
@blp.arguments(AddonIn(), example=ex.ADDON)
@blp.response(201, envelope(AddonData), example=ex.ok({"addon": ex.ADDON_OUT}))
@blp.doc(responses=error_responses(409))
@blp.doc(
    responses=links(
        201,
        follow(
            "addons.update",
            "addons.delete",
            venue_id="$request.path.venue_id",
            key="$response.body#/data/addon/key",
        ),
    )
)
def create(fields, venue_id):
    """Offer a new add-on at one of the caller's venues.

    `key` names it in bookings and quotes and cannot change later; a venue offers at most 50.
    """
    return {"addon": service.add_addon(current_user(), venue_id, fields)}


@blp.route("/<venue_id>/addons/<key>", methods=["PATCH"])
@owner_required
@blp.arguments(AddonPatch(exclude=("key",), partial=True), example=ex.ADDON_PATCH)
@blp.response(
    200, envelope(AddonData), example=ex.ok({"addon": {**ex.ADDON_OUT, **ex.ADDON_PATCH}})
)
def update(changes, venue_id, key):
    """Change an add-on's name, price, unit or limit (booked prices stay as they were).

    Send only the fields to change; nothing else is touched.
    """
    return {"addon": service.update_addon(current_user(), venue_id, key, changes)}


@blp.route("/<venue_id>/addons/<key>", methods=["DELETE"])
@owner_required
@blp.response(200, envelope(AddonData), example=ex.ok({"addon": ex.ADDON_OUT}))
def delete(venue_id, key):
    """Stop offering an add-on (bookings that have it keep it).

    Answers with the add-on as it was.
    """
    return {"addon": service.delete_addon(current_user(), venue_id, key)}
