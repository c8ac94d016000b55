"""The stored documents' shapes, for the type check: what the code that writes each collection
puts in it. `NotRequired` keys are written by a later step only, or missing from documents stored
before the code that writes them. Nothing checks them at run time: the schemas are the edge.
"""

import datetime as dt
from typing import Any, NotRequired, TypedDict

from bson import ObjectId


class PendingTxn(TypedDict):  # a wallet movement applied, its entry not yet settled
    ref: str
    entry_id: ObjectId
    balance_after: int
    seq: int
    at: dt.datetime


class User(TypedDict):
    """`users`: written by auth.service (sign-up, Google sign-in, profile, password reset,
    set_admin), tokens.revoke_all (token_version) and the wallet (its balance)."""

    _id: ObjectId
    full_name: str
    email: str
    password_hash: str | None  # None: a Google account, or one whose password was dropped
    contact_number: str
    is_venue_owner: bool
    auth_provider: str  # password or google: how the account was made
    google_sub: NotRequired[str]  # once linked to a Google identity
    role: str  # customer, owner or admin
    token_version: int  # tokens issued before it moved are refused
    email_verified_at: NotRequired[dt.datetime]  # once it proved it owns its mailbox
    wallet_balance: NotRequired[int]  # PKR; a wallet never used has none of the wallet fields
    wallet_seq: NotRequired[int]
    pending_txns: NotRequired[list[PendingTxn]]
    created_at: dt.datetime
    updated_at: dt.datetime


class Slot(TypedDict):
    key: str
    label: str
    start: str  # HH:MM on the venue's clock
    end: str


class GeoPoint(TypedDict):
    type: str  # Point
    coordinates: list[float]  # [lng, lat]


class Video(TypedDict):
    url: str
    size_mb: float


class Override(TypedDict):
    date: str
    price: int  # that date's price instead of the base price


class Pricing(TypedDict):
    base_price: int | None  # None: only dates with an override are bookable
    overrides: list[Override]


class CancellationTier(TypedDict):
    min_hours_before: int
    refund_pct: int


class Blackout(TypedDict):  # its claims are held under ObjectId(id)
    id: str
    date: str
    slots: list[str]  # empty: the whole day
    reason: str


class Addon(TypedDict):  # something a venue sells with a booking (addons.service)
    key: str
    name: str
    price: int
    unit: str  # per_event or per_guest
    max_qty: int | None


class VenueFields(TypedDict):  # what an owner sends (VenueIn); a PATCH, any part of it
    venue_name: str
    type: str
    address: str
    city: str | None
    maps_location: GeoPoint
    capacity: int
    space_sqft: float | None
    amenities: dict[str, bool]
    additional_description: str
    pictures: list[str]
    videos: list[Video]
    dates_available: list[str]
    pricing: Pricing
    slots: list[Slot]
    timezone: str
    status: str  # active or inactive (deleted is venues.service's own)
    # The owner's calendar (issue 3): venues stored before it lack these; rules.setting
    # reads its defaults for them.
    booking_window_days: NotRequired[int]
    min_notice_hours: NotRequired[int]
    open_days: NotRequired[list[str]]
    hold_minutes: NotRequired[int]
    auto_confirm: NotRequired[bool]
    reschedule_cutoff_hours: NotRequired[int]
    cancellation_policy: NotRequired[list[CancellationTier]]


class Venue(VenueFields):
    """`venues`: written by venues.service (register, update, delete, blackouts), addons.service
    (addons) and venues.ical_feed (the calendar token)."""

    _id: ObjectId
    owner_id: ObjectId
    currency: str
    blackouts: NotRequired[list[Blackout]]
    addons: NotRequired[list[Addon]]  # none on venues stored before add-ons
    deleted_at: NotRequired[dt.datetime]
    calendar_token_hash: NotRequired[str]
    calendar_token_at: NotRequired[dt.datetime]
    created_at: dt.datetime
    updated_at: dt.datetime


class BookedSlot(TypedDict):  # as when booked; migrated, of a slot gone: the key only
    key: str
    label: NotRequired[str]
    start: NotRequired[str]
    end: NotRequired[str]


class PriceLine(TypedDict):
    kind: str  # slot or addon
    key: str
    label: str | None
    unit_price: int
    qty: int
    amount: int


class PriceBreakdown(TypedDict):  # price_breakdown: a quote less its valid_until
    lines: list[PriceLine]
    subtotal: int
    total: int
    currency: str


class Place(TypedDict):
    date: str
    slots: list[str]


class Placement(Place):
    """Where a booking is, its price there and how firmly it holds: bookings.create.placed
    writes these when a booking is made and again on every move."""

    slot: str  # slots[0], kept for issue-2 clients
    slot_details: list[BookedSlot]
    price_locked: int  # PKR: the total the booking locked (seed §1.4), price_breakdown's total
    price_breakdown: PriceBreakdown  # how that total is made up, line by line
    status: str  # pending, confirmed, rejected, cancelled, expired or completed
    expires_at: NotRequired[dt.datetime]  # while pending: the end of its hold
    confirmed_at: NotRequired[dt.datetime]
    confirmed_once: NotRequired[bool]  # the cancellation tiers bind it (policy)


class MoveTerms(TypedDict):  # what a move did to the refunds (policy.move_terms)
    refund_pct_before: int | None  # the customer's cancel pct just before it; None if unbound
    refund_pct: int  # the share of a lower price given back
    refunded: int  # PKR given back to the wallet
    forfeited: int  # PKR of a lower price kept by the venue


# One reschedule, appended to the booking's `history` by bookings.reschedule: where from and
# to, and MoveTerms' fields (migrate gives them to older moves). Spelt as a call: "from" is a
# keyword.
Move = TypedDict(
    "Move",
    {
        "at": dt.datetime,
        "by": ObjectId,
        "from": Place,
        "to": Place,
        "price_delta": int,
        "refund_pct_before": int | None,
        "refund_pct": int,
        "refunded": int,
        "forfeited": int,
    },
)


class BookingVenue(TypedDict):
    """The venue as it was when booked (a snapshot: a later rename or move does not reach it),
    so that a list of bookings shows each one's venue without reading the venues."""

    id: ObjectId
    venue_name: str
    city: str | None
    address: str
    timezone: str  # the venue's IANA zone: the booking's date and slot times are on its clock
    cover_picture: str | None  # the URL of its first picture; None without pictures


class BookedAddon(TypedDict):
    key: str
    qty: int


class Refund(TypedDict):
    pct: int
    amount: int  # PKR


class Payment(TypedDict):
    method: str  # pay_at_venue or wallet
    paid: int  # PKR taken from the wallet for it
    refunded: int  # PKR given back so far


class BookingPolicy(TypedDict):  # the terms in force when the booking was made (policy.py)
    cancellation: list[CancellationTier]  # longest notice first
    reschedule_cutoff_hours: int


class Booking(Placement):
    """`bookings`: written by bookings.service (create, decide, cancel), bookings.lifecycle
    (expire), bookings.reschedule (moves), bookings.maintenance (complete) and
    bookings.migrate (which brings older bookings to this shape)."""

    _id: ObjectId
    reference: str  # HB-7K3Q9M: unique, for people (bookings.references)
    venue_id: ObjectId
    venue: BookingVenue  # the venue's summary when booked
    user_id: ObjectId
    owner_id: ObjectId  # the venue's owner, copied so an owner's list is one indexed query
    guests: int
    addons: list[BookedAddon]
    currency: str
    payment: Payment
    history: list[Move]
    policy: BookingPolicy  # migrate gives older bookings their venue's terms
    refund: NotRequired[Refund]  # once rejected, cancelled or expired
    cancelled_by: NotRequired[str]  # customer or owner
    reason: NotRequired[str]
    rejected_at: NotRequired[dt.datetime]
    cancelled_at: NotRequired[dt.datetime]
    expired_at: NotRequired[dt.datetime]
    completed_at: NotRequired[dt.datetime]
    created_at: dt.datetime
    updated_at: dt.datetime


class Claim(TypedDict):
    """`slot_claims`: one per (venue, date, slot), upserted and freed by bookings.claims."""

    _id: str  # db.claim_id(venue_id, date, slot)
    venue_id: ObjectId
    date: str
    slot: str
    state: str  # taken or free
    booking_id: ObjectId | None  # the booking's (or a blackout's) id; None once freed
    claimed_at: dt.datetime
    expires_at: dt.datetime | None  # None while taken: held until freed
    in_flight: NotRequired[bool]  # claimed, not yet confirmed; older claims lack it
    released_at: NotRequired[dt.datetime]


class WalletEntry(TypedDict):
    """`wallet_transactions`: one per money movement, written by wallet.service."""

    _id: ObjectId
    user_id: ObjectId
    amount: int  # PKR; negative for a payment
    kind: str  # payment, refund or credit
    booking_id: ObjectId | None
    balance_after: int | None  # None until settled
    seq: int | None
    key: str  # unique: payment:<booking_id>, refund:<booking_id>, credit:<uuid>...
    state: str  # pending, done, voiding or void
    at: dt.datetime
    touched_at: dt.datetime
    note: NotRequired[str]  # a credit's: why it was given
    by: NotRequired[ObjectId]  # a credit's: the admin who gave it
    settled_at: NotRequired[dt.datetime]
    voided_at: NotRequired[dt.datetime]
    voided_key: NotRequired[str]  # a void entry gives its key up and keeps it here


class MailBody(TypedDict, total=False):  # written (text, html), or left to a template
    text: str
    html: str | None
    template: str
    context: dict[str, Any]


class Mail(MailBody):  # a message as its sender hands it to mail.queue
    to: str
    subject: str
    kind: str
    booking_id: NotRequired[ObjectId]


class OutboxMessage(Mail):
    """`outbox`: written by mail.queue, then claimed, sent or failed by mail.deliver (which
    drops the bodies once sent)."""

    _id: ObjectId
    status: str  # queued, sending, sent or failed
    attempts: int
    next_attempt_at: NotRequired[dt.datetime]  # none once sent or given up
    error: NotRequired[str]
    sent_at: NotRequired[dt.datetime]
    gave_up_at: NotRequired[dt.datetime]
    created_at: dt.datetime
    updated_at: dt.datetime
