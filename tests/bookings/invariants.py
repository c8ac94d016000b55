"""What must hold of the stored bookings, claims and wallets, read straight from the database.

`check_safe` holds at every moment, whatever failed half-way: no slot is held by two live
bookings, and every wallet balance is accounted for by its entries. `check_repaired` holds
once `expire-holds` has run after the last fault (its windows passed): every live booking holds
its claims on its own hold, no claim is held for nothing or left in flight, every refund owed
is paid exactly once, no payment stands for a booking or move that never happened, every
balance equals its settled ledger, and one request key made at most one booking.
"""

ACTIVE = ("pending", "confirmed")
ENDED = ("rejected", "cancelled", "expired")


class Stored:
    """Everything the checks read, read once."""

    def __init__(self, database, now):
        self.now = now
        self.bookings = list(database.bookings.find())
        self.claims = list(database.slot_claims.find())
        self.venues = list(database.venues.find())
        self.users = list(database.users.find())
        self.entries = list(database.wallet_transactions.find())
        self.active = [booking for booking in self.bookings if self.live(booking)]

    def live(self, booking):
        if booking["status"] == "confirmed":
            return True
        return booking["status"] == "pending" and booking["expires_at"] > self.now

    def held(self, claim):
        """The claim blocks its slot now (an in-flight one blocks until it is settled)."""
        if claim["state"] != "taken":
            return False
        lapsed = claim["expires_at"] is not None and claim["expires_at"] <= self.now
        return not lapsed or bool(claim.get("in_flight"))


def place_of(claim):
    return (claim["venue_id"], claim["date"], claim["slot"])


def places(bookings):
    return {
        (booking["venue_id"], booking["date"], slot): booking["_id"]
        for booking in bookings
        for slot in booking["slots"]
    }


def check_safe(database, now):
    """What no fault may ever break, even before any repair."""
    stored = Stored(database, now)
    no_slot_booked_twice(stored)
    no_two_holders(stored)
    for user in stored.users:
        balance_accounted(stored, user)
    return stored


def check_repaired(database, now):
    """Everything, once the repair has run after the last fault."""
    stored = check_safe(database, now)
    live_bookings_hold_their_claims(stored)
    no_claim_held_for_nothing(stored)
    for user in stored.users:
        balance_is_its_ledger(stored, user)
    bookings_paid_what_they_say(stored)
    refunds_paid_once(stored)
    no_payment_for_nothing(stored)
    one_booking_per_request(stored)
    return stored


def no_slot_booked_twice(stored):
    seen = {}
    for booking in stored.active:
        for slot in booking["slots"]:
            place = (booking["venue_id"], booking["date"], slot)
            assert place not in seen, f"{place} booked by {seen[place]} and {booking['_id']}"
            seen[place] = booking["_id"]


def no_two_holders(stored):
    """A live booking whose slot's claim is held by someone else could be sold twice."""
    claims = {place_of(claim): claim for claim in stored.claims}
    for booking in stored.active:
        for slot in booking["slots"]:
            claim = claims.get((booking["venue_id"], booking["date"], slot))
            assert claim is not None, f"{booking['_id']} has no claim on {slot}"
            assert claim["state"] == "taken", (booking["_id"], claim)
            assert claim["booking_id"] == booking["_id"], (booking["_id"], claim)
            # Still in flight (a request died before confirming it) is fine: it never lapses.
            assert stored.held(claim), (booking, claim)


def live_bookings_hold_their_claims(stored):
    claims = {place_of(claim): claim for claim in stored.claims}
    for booking in stored.active:
        for slot in booking["slots"]:
            claim = claims[(booking["venue_id"], booking["date"], slot)]
            assert not claim.get("in_flight"), claim
            hold = None if booking["status"] == "confirmed" else booking["expires_at"]
            assert claim["expires_at"] == hold, (booking, claim)


def no_claim_held_for_nothing(stored):
    active = places(stored.active)
    completed = places(b for b in stored.bookings if b["status"] == "completed")
    blackouts = {}
    for venue in stored.venues:
        keys = [slot["key"] for slot in venue["slots"]]
        for blackout in venue.get("blackouts") or []:
            for slot in blackout["slots"] or keys:
                blackouts[(venue["_id"], blackout["date"], slot)] = str(blackout["id"])
    for claim in stored.claims:
        if not stored.held(claim):
            continue
        assert not claim.get("in_flight"), f"left in flight: {claim}"
        place, holder = place_of(claim), claim["booking_id"]
        owners = (active.get(place), completed.get(place))
        assert holder in owners or blackouts.get(place) == str(holder), f"held for nothing: {claim}"


def _effective(entry, refs):
    """What the entry has moved on its user's balance so far."""
    state, key = entry["state"], entry.get("voided_key", entry["key"])
    if state == "done":
        return entry["amount"]
    if state == "pending":  # applied once the user lists its ref
        return entry["amount"] if key in refs else 0
    if state == "voiding":  # applied; its reversal once the user lists the void ref
        return 0 if f"void:{key}" in refs else entry["amount"]
    return 0  # void: moved nothing, or was reversed


def balance_accounted(stored, user):
    """Every PKR of the balance comes from an entry (settled, or applied and listed)."""
    refs = {item["ref"] for item in user.get("pending_txns") or []}
    mine = [entry for entry in stored.entries if entry["user_id"] == user["_id"]]
    balance = user.get("wallet_balance", 0)
    assert balance >= 0, user["_id"]
    assert balance == sum(_effective(entry, refs) for entry in mine), (user["_id"], balance)


def balance_is_its_ledger(stored, user):
    mine = [entry for entry in stored.entries if entry["user_id"] == user["_id"]]
    assert not user.get("pending_txns"), f"{user['_id']}: a movement was left half-done"
    assert all(entry["state"] in ("done", "void") for entry in mine), mine
    done = sum(entry["amount"] for entry in mine if entry["state"] == "done")
    assert user.get("wallet_balance", 0) == done, (user["_id"], user.get("wallet_balance"))


def _done_for(stored, booking_id):
    return [e for e in stored.entries if e["booking_id"] == booking_id and e["state"] == "done"]


def _keyed(stored, booking, kind):
    """The booking's settled entries under its own key (`refund:<id>`, `payment:<id>`)."""
    key = f"{kind}:{booking['_id']}"
    return [entry for entry in _done_for(stored, booking["_id"]) if entry["key"] == key]


def bookings_paid_what_they_say(stored):
    """A booking's settled entries are exactly what it says it paid less what it got back."""
    for booking in stored.bookings:
        payment = booking["payment"]
        assert 0 <= payment["refunded"] <= payment["paid"], booking
        moved = sum(entry["amount"] for entry in _done_for(stored, booking["_id"]))
        net = payment["paid"] - payment["refunded"] if payment["method"] == "wallet" else 0
        assert -moved == net, (booking["_id"], booking["status"], payment, moved)


def refunds_paid_once(stored):
    for booking in stored.bookings:
        refund = booking.get("refund") or {}
        if booking["status"] not in ENDED or booking["payment"]["method"] != "wallet":
            continue
        paid = [
            e for e in _done_for(stored, booking["_id"]) if e["key"] == f"refund:{booking['_id']}"
        ]
        expected = [refund["amount"]] if refund.get("amount") else []
        assert [entry["amount"] for entry in paid] == expected, (booking["_id"], refund, paid)


def no_payment_for_nothing(stored):
    bookings = {booking["_id"] for booking in stored.bookings}
    for entry in stored.entries:
        if entry["kind"] == "payment" and entry["state"] == "done":
            assert entry["booking_id"] in bookings, f"paid for no booking: {entry}"


def one_booking_per_request(stored):
    keys = [booking["request_key"] for booking in stored.bookings if booking.get("request_key")]
    assert len(keys) == len(set(keys)), "one request made two bookings"
    for booking in stored.bookings:
        payments = [
            e for e in _done_for(stored, booking["_id"]) if e["key"] == f"payment:{booking['_id']}"
        ]
        assert len(payments) <= 1, payments
