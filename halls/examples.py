"""The OpenAPI document's examples: what each request sends and what it gets back.

One story throughout: Olivia owns Shalimar Banquet in Lahore; Cyrus books its dinner slot.
Request examples load through their In schemas, and answers are stored documents dumped
through the Out schemas, so an example cannot show a field the API would not
(tests/test_openapi_sdk.py validates every one against the document too).
"""

import datetime as dt
from typing import cast

from bson import ObjectId

from halls.addons.schemas import AddonIn, AddonOut
from halls.auth.schemas import UserOut
from halls.bookings import display
from halls.bookings.schemas import (
    BookingMoveOut,
    BookingOut,
    CancellationQuoteOut,
    RescheduleQuoteOut,
)
from halls.documents import Venue
from halls.venues.quote_schemas import QuoteOut
from halls.venues.schemas import (
    AvailabilityOut,
    BlackoutOut,
    VenueIn,
    VenueOut,
)
from halls.venues.search_schemas import VenueSearchItem
from halls.wallet.schemas import WalletTransactionOut

OWNER_ID = "66f1a2b3c4d5e6f708192a01"
CUSTOMER_ID = "66f1a2b3c4d5e6f708192a02"
VENUE_ID = "66f1a2b3c4d5e6f708192a10"
BOOKING_ID = "66f1a2b3c4d5e6f708192a20"
BLACKOUT_ID = "66f1a2b3c4d5e6f708192a30"
TRANSACTION_ID = "66f1a2b3c4d5e6f708192a40"
DAY = "2030-12-20"
OTHER_DAY = "2030-12-21"
CREATED = dt.datetime(2030, 11, 2, 9, 30, tzinfo=dt.UTC)
NOW = dt.datetime(2030, 11, 20, 14, 5, tzinfo=dt.UTC)
ACCESS_TOKEN = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiI2NmYxIn0.access-token-signature"
REFRESH_TOKEN = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiI2NmYxIn0.refresh-token-signature"
CALENDAR_TOKEN = "Wm9hZ2F0ZS1jYWxlbmRhci10b2tlbi1leGFtcGxl"

# What a path parameter is, by name, in an example request.
PATH_PARAMETERS = {
    "venue_id": VENUE_ID,
    "booking_id": BOOKING_ID,
    "blackout_id": BLACKOUT_ID,
    "key": "catering",
}


def ok(data):
    """The success envelope around `data`."""
    return {"ok": True, "data": data}


# --- requests ---------------------------------------------------------------------------------

SIGNUP = {
    "full_name": "Cyrus Khan",
    "email": "cyrus@example.com",
    "password": "correct horse battery",
    "contact_number": "+92 300 1234567",
    "is_venue_owner": False,
}
LOGIN = {"email": "cyrus@example.com", "password": "correct horse battery"}
GOOGLE = {"id_token": "eyJhbGciOiJSUzI1NiJ9.google-id-token", "is_venue_owner": False}
FORGOT_PASSWORD = {"email": "cyrus@example.com"}
RESET_PASSWORD = {"token": "5b1f0c7e9a2d4c88b7e3", "new_password": "a new long passphrase"}
ME_PATCH = {"full_name": "Cyrus A. Khan", "contact_number": "+92 321 7654321"}
LOGOUT = {"refresh_token": REFRESH_TOKEN}

SLOTS = [
    {"key": "lunch", "label": "Lunch", "start": "12:00", "end": "16:00"},
    {"key": "dinner", "label": "Dinner", "start": "19:00", "end": "23:30"},
]
VENUE_REGISTER = {
    "venue_name": "Shalimar Banquet",
    "type": "Banquet",
    "address": "12 Canal Road, Lahore",
    "city": "Lahore",
    "maps_location": {"type": "Point", "coordinates": [74.3587, 31.5204]},
    "capacity": 600,
    "space_sqft": 9000.0,
    "amenities": {"parking_valet": True, "air_conditioner": True, "stage": True},
    "additional_description": "A banquet hall for weddings and receptions by the canal.",
    "pictures": ["https://cdn.example.com/venues/shalimar/hall.jpg"],
    "dates_available": [DAY, OTHER_DAY],
    "pricing": {"base_price": 350000, "overrides": [{"date": OTHER_DAY, "price": 420000}]},
    "slots": SLOTS,
}
VENUE_PATCH = {"capacity": 650}
BLACKOUT = {"date": OTHER_DAY, "slots": ["lunch"], "reason": "Hall maintenance"}
ADDON = {
    "key": "catering",
    "name": "Catering",
    "price": 2500,
    "unit": "per_guest",
    "max_qty": 600,
}
ADDON_PATCH = {"price": 2800}
BOOKING = {
    "venue_id": VENUE_ID,
    "date": DAY,
    "guests": 250,
    "slots": ["dinner"],
    "addons": [{"key": "catering"}],
    "expected_total": 975000,
    "payment_method": "pay_at_venue",
}
DECISION = {"status": "confirmed"}
RESCHEDULE = {"date": OTHER_DAY, "slots": ["dinner"], "expected_total": 1045000}
SIGN_S3 = {"filename": "hall.jpg", "content_type": "image/jpeg", "size_bytes": 2400000}
SIGN_CLOUDINARY = {"filename": "hall.jpg", "content_type": "image/jpeg", "folder": "venues"}
WALLET_CREDIT = {"user_id": CUSTOMER_ID, "amount": 50000, "note": "Goodwill credit"}
IDEMPOTENCY_KEY = "8b6f3c1e-2d4a-4f7b-9c0e-5a1b2c3d4e5f"

# --- answers ----------------------------------------------------------------------------------


def _user(user_id, full_name, email, owner):
    stored = {
        "_id": ObjectId(user_id),
        "full_name": full_name,
        "email": email,
        "contact_number": "+92 300 1234567",
        "is_venue_owner": owner,
        "role": "owner" if owner else "customer",
        "auth_provider": "password",
        "created_at": CREATED,
        "updated_at": CREATED,
    }
    return UserOut().dump(stored)


CUSTOMER = _user(CUSTOMER_ID, "Cyrus Khan", "cyrus@example.com", False)
OWNER = _user(OWNER_ID, "Olivia Owner", "olivia@example.com", True)
TOKENS = {
    "user": CUSTOMER,
    "access_token": ACCESS_TOKEN,
    "refresh_token": REFRESH_TOKEN,
    "token_type": "Bearer",
    "expires_in": 1800,
}
ACCESS = {key: value for key, value in TOKENS.items() if key != "refresh_token"}
ME_CHANGED = {"user": {**CUSTOMER, **ME_PATCH}}
RESET_MAILED = "If that email has an account, a reset link is on its way."
PASSWORD_RESET = "Your password has been reset; sign in with the new one."
SIGNED_OUT = "Signed out."

ADDON_STORED = AddonIn().load(ADDON)
BLACKOUT_STORED = {"id": BLACKOUT_ID, **BLACKOUT}
VENUE_STORED = {
    "_id": ObjectId(VENUE_ID),
    "owner_id": ObjectId(OWNER_ID),
    **VenueIn().load(VENUE_REGISTER),
    "currency": "PKR",
    "addons": [ADDON_STORED],
    "created_at": CREATED,
    "updated_at": CREATED,
}
VENUE = VenueOut().dump(VENUE_STORED)
VENUE_CLOSED = VenueOut().dump({**VENUE_STORED, "blackouts": [BLACKOUT_STORED]})
VENUE_DELETED = VenueOut().dump({**VENUE_STORED, "status": "deleted", "deleted_at": NOW})
VENUE_SUMMARY = VenueSearchItem().dump(
    {
        **VENUE_STORED,
        "base_price": 350000,
        "price_on_date": 350000,
        "free_slots": ["lunch", "dinner"],
        "distance_km": 1.25,
    }
)


def page(items, total=None):
    return {"items": items, "page": 1, "limit": 20, "total": len(items) if total is None else total}


def _line(kind, key, label, unit_price, qty):
    names = ("kind", "key", "label", "unit_price", "qty", "amount")
    return dict(zip(names, (kind, key, label, unit_price, qty, unit_price * qty), strict=True))


LINES = [
    _line("slot", "dinner", "Dinner", 350000, 1),
    _line("addon", "catering", "Catering", 2500, 250),
]
PRICE = {"lines": LINES, "subtotal": 975000, "total": 975000, "currency": "PKR"}
QUOTE = QuoteOut().dump(
    {
        "venue_id": ObjectId(VENUE_ID),
        "date": DAY,
        "guests": 250,
        "slots": [SLOTS[1]],
        **PRICE,
        "valid_until": NOW + dt.timedelta(minutes=15),
        "available": True,
        "unavailable_slots": [],
    }
)
AVAILABILITY = AvailabilityOut().dump(
    {
        "venue_id": ObjectId(VENUE_ID),
        "date": DAY,
        "available": True,
        "price": 350000,
        "slots": [
            {**SLOTS[0], "available": True, "reason": None},
            {**SLOTS[1], "available": False, "reason": "slot_taken"},
        ],
    }
)
BLACKOUT_CREATED = {
    "blackout": BlackoutOut().dump(BLACKOUT_STORED),
    "venue": VENUE_CLOSED,
    "cancelled_bookings": [],
}
CALENDAR = {
    "token": CALENDAR_TOKEN,
    "feed_url": f"https://halls.example.com/venues/{VENUE_ID}/calendar.ics?token={CALENDAR_TOKEN}",
}
CALENDAR_FEED = (
    "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//halls//venue calendar//EN\r\n"
    f"BEGIN:VEVENT\r\nUID:{BOOKING_ID}@halls\r\nSUMMARY:Dinner - 250 guests (confirmed)\r\n"
    "DTSTART;TZID=Asia/Karachi:20301220T190000\r\nDTEND;TZID=Asia/Karachi:20301220T233000\r\n"
    "END:VEVENT\r\nEND:VCALENDAR\r\n"
)
ADDON_OUT = AddonOut().dump(ADDON_STORED)

BOOKING_STORED = {
    "_id": ObjectId(BOOKING_ID),
    "reference": "HB-7K3Q9M",
    "venue_id": ObjectId(VENUE_ID),
    "venue": display.venue_summary(cast(Venue, VENUE_STORED)),
    "user_id": ObjectId(CUSTOMER_ID),
    "owner_id": ObjectId(OWNER_ID),
    "date": DAY,
    "slots": ["dinner"],
    "slot": "dinner",
    "slot_details": [SLOTS[1]],
    "guests": 250,
    "addons": [{"key": "catering", "qty": 250}],
    "status": "pending",
    "expires_at": NOW + dt.timedelta(hours=24),
    "price_locked": PRICE["total"],
    "price_breakdown": PRICE,
    "currency": "PKR",
    "payment": {"method": "pay_at_venue", "paid": 0, "refunded": 0},
    "history": [],
    "policy": {
        "cancellation": [
            {"min_hours_before": 168, "refund_pct": 100},
            {"min_hours_before": 48, "refund_pct": 50},
            {"min_hours_before": 0, "refund_pct": 0},
        ],
        "reschedule_cutoff_hours": 24,
    },
    "created_at": NOW,
    "updated_at": NOW,
}
BOOKING_OUT = BookingOut().dump(BOOKING_STORED)
CONFIRMED = {**BOOKING_STORED, "status": "confirmed", "confirmed_at": NOW}
BOOKING_CONFIRMED = BookingOut().dump(CONFIRMED)
BOOKING_CANCELLED = BookingOut().dump(
    {
        **CONFIRMED,
        "status": "cancelled",
        "cancelled_at": NOW,
        "cancelled_by": "customer",
        "reason": "Plans changed",
        "refund": {"pct": 0, "amount": 0},
    }
)
MOVE = {
    "at": NOW,
    "by": ObjectId(CUSTOMER_ID),
    "from": {"date": DAY, "slots": ["dinner"]},
    "to": {"date": OTHER_DAY, "slots": ["dinner"]},
    "price_delta": 70000,
    "refund_pct_before": 50,
    "refund_pct": 100,
    "refunded": 0,
    "forfeited": 0,
}
RESCHEDULED = {
    "booking": BookingOut().dump(
        {**CONFIRMED, "date": OTHER_DAY, "history": [MOVE], "updated_at": NOW}
    ),
    "change": BookingMoveOut().dump(MOVE),
}
RESCHEDULE_QUOTE = RescheduleQuoteOut().dump(
    {
        "booking_id": ObjectId(BOOKING_ID),
        "date": OTHER_DAY,
        "slots": [SLOTS[1]],
        "quote": {
            "lines": LINES,
            "subtotal": 1045000,
            "total": 1045000,
            "currency": "PKR",
            "valid_until": NOW + dt.timedelta(minutes=15),
        },
        "current_total": 975000,
        "price_delta": 70000,
        "charge": 0,
        "refund_pct": 100,
        "refunded": 0,
        "forfeited": 0,
        "by_owner": False,
        "allowed": True,
        "available": True,
    }
)
CANCELLATION_QUOTE = CancellationQuoteOut().dump(
    {
        "booking_id": ObjectId(BOOKING_ID),
        "refund_pct": 50,
        "refund_amount": 0,
        "paid": 0,
        "currency": "PKR",
        "hours_before": 725.4,
        "event_start": dt.datetime(2030, 12, 20, 14, 0, tzinfo=dt.UTC),
        "by_owner": False,
        "policy": [
            {"min_hours_before": 168, "refund_pct": 100},
            {"min_hours_before": 48, "refund_pct": 50},
            {"min_hours_before": 0, "refund_pct": 0},
        ],
    }
)

S3_KEY = f"venues/{OWNER_ID}/3f2c9a7e-hall.jpg"
S3_OBJECT = f"https://halls-media.s3.ap-south-1.amazonaws.com/{S3_KEY}"
S3_SIGNED = {
    "upload_url": f"{S3_OBJECT}?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Signature=5d2c",
    "method": "PUT",
    "headers": {"Content-Type": "image/jpeg", "Content-Length": "2400000"},
    "key": S3_KEY,
    "public_url": S3_OBJECT,
    "expires_in": 900,
}
CLOUDINARY_SIGNED = {
    "upload_url": "https://api.cloudinary.com/v1_1/halls/auto/upload",
    "method": "POST",
    "params": {
        "api_key": "123456789012345",
        "timestamp": "1923825900",
        "folder": "venues",
        "signature": "b1946ac92492d2347c6235b4d2611184",
    },
    "expires_in": 3600,
}

CREDIT = WalletTransactionOut().dump(
    {
        "_id": ObjectId(TRANSACTION_ID),
        "amount": 50000,
        "kind": "credit",
        "booking_id": None,
        "balance_after": 50000,
        "note": "Goodwill credit",
        "at": NOW,
    }
)
WALLET = {"balance": 50000, "currency": "PKR", "recent": [CREDIT]}
WALLET_CREDITED = {"transaction": CREDIT, "balance": 50000}
