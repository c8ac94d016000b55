"""Stored bookings brought to today's shape (`flask --app wsgi migrate`), so halls reads one.

Bookings stored before multi-slot booking (issue 2) kept one `slot` with its `slot_detail`, an
integer `price_locked`, and no `slots`, `slot_details`, `price_breakdown`, `payment`, `addons`
or `history`. Today's shape has `slots: [slot]` (and `slot` = slots[0]), `slot_details`, the
integer `price_locked` with its `price_breakdown` `{lines, subtotal, total, currency}` (one slot
line), and a pay-at-venue `payment` record: issue-2 bookings were all paid at the venue.

Bookings stored from multi-slot booking until issue 18 kept the breakdown as `price_locked`: it
moves to `price_breakdown`, and `price_locked` becomes its total again, as the seed defines it.
Their `venue` was `{id, venue_name}`: it gets the rest of today's summary (city, address, time
zone, cover picture) from the venue as it is now, which is what they were shown with until
then; the name stays the one it was booked under. And they had no `reference`: each draws one,
as a new booking does (bookings.references), drawing again should it be taken.

Bookings stored before issue 13 also lack `policy`, the terms they keep (policy.snapshot),
and their moves lack what each did to the refunds. Such a booking gets its venue's terms as
they are now (what it was read under until then), and each old move `refund_pct_before: null`
(nothing recorded, no limit), `refund_pct: 100` and `forfeited: 0` (a lower price was given
back in full then), and `refunded`: the difference a wallet booking got back.

Each booking is rewritten by one update_one whose filter pins the old fields it was computed
from, so a second run, or two at once, change nothing twice; a booking the filter no longer
matches was migrated by someone else and is not counted here.

Slot claims need nothing: the claims of that time (an ObjectId `_id`) are keyed `venue:date:slot`
by db.create_indexes, which every start of the app runs (this command's too), and their fields
are today's (a claim without `in_flight` reads as settled, which such an old claim is).
"""

import functools

from halls import db
from halls.bookings import policy, references
from halls.bookings.display import slots_by_key, venue_summary

PAY_AT_VENUE = {"method": "pay_at_venue", "paid": 0, "refunded": 0}

# Any field of the older shape. A one-off scan of the collection: no index serves it.
OLDER_SHAPE = {
    "$or": [
        {"slots": {"$exists": False}},
        {"slot_details": {"$exists": False}},
        {"price_breakdown": {"$exists": False}},
        {"payment": {"$exists": False}},
        {"addons": {"$exists": False}},
        {"history": {"$exists": False}},
        {"policy": {"$exists": False}},
        {"history": {"$elemMatch": {"refunded": {"$exists": False}}}},
        {"venue.timezone": {"$exists": False}},
        {"reference": {"$exists": False}},
    ]
}

# What each count in the report means, in the order it prints them.
CHANGES = {
    "slots": "without slots",
    "slot_details": "without slot_details",
    "price_breakdown": "without price_breakdown",
    "price_locked": "with the breakdown as price_locked",
    "payment": "without a payment record",
    "addons": "without addons",
    "history": "without history",
    "policy": "without a policy",
    "moves": "with moves of the older shape",
    "venue": "without the venue summary",
    "reference": "without a reference",
}


def migrate_bookings():
    """Rewrite every booking of the older shape; returns {"migrated", <field>..., "left"}."""
    counts = dict.fromkeys(("migrated", *CHANGES), 0)
    for booking in db.bookings().find(OLDER_SHAPE):
        rewrite = _rewrite(booking)
        if rewrite is None:
            continue  # no shape of ours: left for a person to look at
        query, update, changed = rewrite
        if _applied(booking["_id"], query, update).modified_count:
            counts["migrated"] += 1
            for change in changed:
                counts[change] += 1
    counts["left"] = db.bookings().count_documents(OLDER_SHAPE)
    return counts


def _applied(booking_id, query, update):
    """update_one; a reference it gives that another booking drew meanwhile is drawn again."""
    fields = update["$set"]
    if "reference" not in fields:
        return db.bookings().update_one(query, update)
    write = functools.partial(db.bookings().update_one, query, update)
    return references.write_drawing_again(write, fields, booking_id)


def _rewrite(booking):
    """(filter, update, what it changes) for today's shape, applied only while it is as read."""
    query, fields = {"_id": booking["_id"]}, {}
    slots = booking.get("slots")
    if slots is None:
        if not booking.get("slot"):
            return None
        slots = fields["slots"] = [booking["slot"]]
        query.update(slot=booking["slot"], slots={"$exists": False})
    details = booking.get("slot_details")
    if details is None:
        details = fields["slot_details"] = _slot_details(booking, slots)
        query["slot_details"] = {"$exists": False}
    if "price_breakdown" not in booking:
        price = booking["price_locked"]
        if isinstance(price, dict):  # the breakdown itself (multi-slot, until issue 18)
            fields.update(price_breakdown=price, price_locked=price["total"])
        elif len(details) == 1:  # an integer price (issue 2): the total of one slot line
            fields["price_breakdown"] = _one_slot_price(details[0], price, booking.get("currency"))
        else:
            return None  # one price for several slots: not a shape halls ever stored
        query.update(price_locked=price, price_breakdown={"$exists": False})
    for field, empty in (("payment", PAY_AT_VENUE), ("addons", []), ("history", [])):
        if field not in booking:
            fields[field] = empty
            query[field] = {"$exists": False}
    if "timezone" not in (booking.get("venue") or {}):
        fields["venue"] = _venue_summary(booking)
        query["venue.timezone"] = {"$exists": False}
    if "reference" not in booking:
        fields["reference"] = references.new_reference()
        query["reference"] = {"$exists": False}
    changed = list(fields)
    if "policy" not in booking:
        venue = db.venues().find_one({"_id": booking["venue_id"]}) or {}
        fields["policy"] = policy.snapshot(venue)
        query["policy"] = {"$exists": False}
        changed.append("policy")
    history = booking.get("history") or []
    if any("refunded" not in change for change in history):
        wallet = (booking.get("payment") or PAY_AT_VENUE)["method"] == "wallet"
        fields["history"] = [_move_terms(change, wallet) for change in history]
        query["history"] = history
        changed.append("moves")
    update = {"$set": fields}
    if "slot_detail" in booking:
        update["$unset"] = {"slot_detail": ""}
    return query, update, changed


def _move_terms(change, wallet):
    """An older move with what it did to the refunds: a lower price came back in full."""
    if "refunded" in change:
        return change
    given_back = max(-change["price_delta"], 0) if wallet else 0
    terms = {"refund_pct_before": None, "refund_pct": 100, "refunded": given_back}
    return {**change, **terms, "forfeited": 0}


def _slot_details(booking, slots):
    """The booking's own snapshot of its slot; else the venue's slot of that key, as it is."""
    if booking.get("slot_detail") and [booking["slot_detail"].get("key")] == slots:
        return [booking["slot_detail"]]
    venue = db.venues().find_one({"_id": booking["venue_id"]}, {"slots": 1}) or {}
    return [
        {name: slot[name] for name in ("key", "label", "start", "end") if name in slot}
        for slot in slots_by_key(slots, venue)
    ]


def _venue_summary(booking):
    """Today's summary of the booking's venue, under the name the booking kept."""
    venue = db.venues().find_one({"_id": booking["venue_id"]}) or {"_id": booking["venue_id"]}
    named = (booking.get("venue") or {}).get("venue_name") or venue.get("venue_name") or ""
    return venue_summary({**venue, "venue_name": named})


def _one_slot_price(detail, price, currency):
    """An integer price as the one slot line pricing.quote would have written for it."""
    line = {"kind": "slot", "key": detail["key"], "label": detail.get("label")}
    line.update(unit_price=price, qty=1, amount=price)
    return {"lines": [line], "subtotal": price, "total": price, "currency": currency or "PKR"}
