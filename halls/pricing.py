"""Quotes: what a booking of some slots and add-ons on a date costs, line by line.

A pure function of the venue document (no queries), so the quote endpoint and the booking
service price the very same way, and a booking can store the quote as its `price_breakdown`
snapshot (its total as `price_locked`): later edits of prices or add-ons never change what a
booking already costs.
"""

import datetime as dt

from halls import clock, rules
from halls.errors import Conflict, Unprocessable
from halls.schemas import Timestamp

CURRENCY = "PKR"
PER_EVENT, PER_GUEST = "per_event", "per_guest"
# A quote is a view, not a promise: booking re-quotes from the venue as it is then, and a
# client that sends the total it saw as `expected_total` gets 409 `price_changed` if it moved.
# Fifteen minutes tells a client when to ask again before showing the number to a person.
QUOTE_VALID_FOR = dt.timedelta(minutes=15)


def addons_of(venue):
    """The venue's add-ons (none on venues stored before add-ons existed)."""
    return venue.get("addons") or []


def slot_details(venue, slot_keys):
    """The chosen slots in the venue's slot order; no keys picks the venue's only slot."""
    slots = rules.slots_of(venue)
    known = [slot["key"] for slot in slots]
    keys = list(slot_keys or [])
    if not keys and len(slots) == 1:
        keys = known
    problem = None
    if not keys:
        problem = "This venue has several slots; choose at least one."
    elif len(set(keys)) != len(keys):
        problem = "Each slot may be chosen only once."
    elif set(keys) - set(known):
        unknown = ", ".join(sorted(set(keys) - set(known)))
        problem = f"No such slot: {unknown}. Choose from: {', '.join(known)}."
    if problem:
        raise Unprocessable(
            "Choose slots the venue has.",
            details={"slots": [problem]},
            context={"known_slots": known},
        )
    return [
        {name: slot.get(name) for name in ("key", "label", "start", "end")}
        for slot in slots
        if slot["key"] in keys
    ]


def quote(venue, date, slot_keys, guests, addons, now=None):
    """The breakdown {lines, subtotal, total, currency, valid_until} of a booking's price."""
    _check_guests(venue, guests)
    slots = slot_details(venue, slot_keys)
    addon_lines = _addon_lines(venue, addons or [], guests)
    price = rules.price_on(venue, date)
    if price is None:
        raise Conflict(
            "The venue has no price for that date.",
            error_code="no_price_for_date",
            context={"date": date},
        )
    lines = [_line("slot", slot["key"], slot["label"], price, 1) for slot in slots]
    lines += addon_lines
    subtotal = sum(line["amount"] for line in lines)
    now = now or clock.now()
    return {
        "lines": lines,
        "subtotal": subtotal,
        "total": subtotal,
        "currency": CURRENCY,
        "valid_until": now + QUOTE_VALID_FOR,
    }


def locked(quote_):
    """The part of a quote a booking keeps as `price_breakdown` (validity is the quote's own)."""
    return {name: value for name, value in quote_.items() if name != "valid_until"}


def check_expected_total(quote_, expected_total):
    """409 `price_changed`, with the new quote, when the client saw a different total."""
    if expected_total is None or expected_total == quote_["total"]:
        return
    raise Conflict(
        "The price has changed since you saw it; review the new quote.",
        error_code="price_changed",
        context={"quote": rendered(quote_), "expected_total": expected_total},
    )


def rendered(quote_):
    """The quote as JSON can carry it: valid_until as the API's UTC timestamp string."""
    return {**quote_, "valid_until": Timestamp().serialize("valid_until", quote_)}


def _check_guests(venue, guests):
    capacity = venue.get("capacity")
    if capacity is not None and guests > capacity:
        raise Unprocessable(
            "More guests than the venue holds.",
            details={"guests": [f"Must be at most the venue's capacity of {capacity}."]},
            context={"capacity": capacity},
        )


def _addon_lines(venue, choices, guests):
    offered = {addon["key"]: addon for addon in addons_of(venue)}
    lines, problems = [], {}
    for choice in choices:
        key = choice["key"]
        addon = offered.get(key)
        if key in problems or any(line["key"] == key for line in lines):
            problems[key] = ["Choose each add-on only once."]
            continue
        if addon is None:
            problems[key] = ["The venue offers no such add-on."]
            continue
        qty = choice.get("qty")
        if qty is None:
            qty = guests if addon["unit"] == PER_GUEST else 1
        problem = _qty_problem(addon, qty, guests)
        if problem:
            problems[key] = [problem]
            continue
        lines.append(_line("addon", key, addon["name"], addon["price"], qty))
    if problems:
        raise Unprocessable(
            "Some add-ons cannot be added.",
            details={"addons": problems},
            context={"known_addons": sorted(offered)},
        )
    return lines


def _qty_problem(addon, qty, guests):
    if qty < 1:
        return "The quantity must be at least 1."
    if addon.get("max_qty") is not None and qty > addon["max_qty"]:
        return f"At most {addon['max_qty']} may be ordered."
    if addon["unit"] == PER_GUEST and qty > guests:
        return f"A per-guest add-on may be ordered for at most the {guests} guests."
    return None


def _line(kind, key, label, unit_price, qty):
    return {
        "kind": kind,
        "key": key,
        "label": label,
        "unit_price": unit_price,
        "qty": qty,
        "amount": unit_price * qty,
    }
