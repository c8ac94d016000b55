"""The cap on a customer's unpaid holds (issue 13): no account blocks a calendar for free.

A pending pay-at-venue booking costs nothing to make and holds its slots until its hold ends,
so one account could hold a venue's whole calendar. A customer may have MAX_HOLDS_PER_VENUE
such live holds at one venue and MAX_HOLDS_PER_CUSTOMER in all. A wallet hold has its money
taken, and an auto-confirmed booking holds nothing (the owner chose it): neither counts.
"""

import datetime as dt

from flask import current_app

from halls import db
from halls.bookings import lifecycle
from halls.documents import Booking
from halls.errors import Conflict

# An unpaid hold: pending, to be paid at the venue.
UNPAID_HOLD = {"status": "pending", "payment.method": "pay_at_venue"}


def check_holds(booking: Booking, now: dt.datetime) -> None:
    """409 `too_many_holds` when the booking would be one unpaid hold too many, before the
    writes. A soft cap: it counts the holds already written, so requests sent at the very same
    moment may each pass it (one hold over per such request; the rate limit bounds them).
    """
    if booking["status"] != "pending" or lifecycle.paid_by_wallet(booking):
        return
    live = {
        "user_id": booking["user_id"],
        **UNPAID_HOLD,
        # Its hold not over; or none at all (a booking from before holds never lapses).
        "$or": [{"expires_at": None}, {"expires_at": {"$gt": now}}],
    }
    held = db.bookings().count_documents(live)
    at_venue = db.bookings().count_documents({**live, "venue_id": booking["venue_id"]})
    most, most_at_venue = (
        current_app.config["MAX_HOLDS_PER_CUSTOMER"],
        current_app.config["MAX_HOLDS_PER_VENUE"],
    )
    if held >= most or at_venue >= most_at_venue:
        raise Conflict(
            "You hold too many unconfirmed bookings: wait for the owners' answers, cancel one, "
            "or pay from your wallet.",
            error_code="too_many_holds",
            context={
                "holds": held,
                "holds_at_venue": at_venue,
                "max_holds_per_customer": most,
                "max_holds_per_venue": most_at_venue,
            },
        )
