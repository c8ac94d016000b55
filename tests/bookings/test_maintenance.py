"""`flask expire-holds` (maintenance.py): lapsed holds marked expired, days that are over
marked completed, the claims of past dates deleted."""

import datetime as dt

from bson import ObjectId

from halls import db
from halls.bookings import claims, maintenance
from tests.bookings.helpers import (
    SLOTS,
    Proxy,
    assert_free,
    assert_held_by,
    booked,
    cancel,
    claim_of,
    decide,
    lapse,
    notices,
    run_sweep,
    seen,
    snapshot,
    stored,
)
from tests.helpers import ok_data, today_plus


def test_expire_holds_marks_lapsed_bookings_and_frees_their_slots(
    app, client, customer, make_user, owner, make_venue
):
    venue = make_venue(owner.user, slots=SLOTS)
    lapsed = [booked(client, customer.headers, venue, slot=key) for key in ("morning", "evening")]
    live = booked(client, make_user().headers, venue, slot="morning", date=today_plus(4))
    confirmed = booked(client, make_user().headers, venue, slot="evening", date=today_plus(4))
    ok_data(decide(client, owner.headers, confirmed, "confirmed"))
    for booking in lapsed:
        lapse(booking)

    assert "expired 2" in run_sweep(app)
    for booking, key in zip(lapsed, ("morning", "evening"), strict=True):
        doc = stored(booking)
        assert doc["status"] == "expired" and doc["expired_at"] >= doc["expires_at"]
        assert_free(claim_of(venue, slot=key))
        assert notices(booking)[-1] == ("hold_expired", customer.user["email"])
    assert stored(live)["status"] == "pending"
    assert_held_by(claim_of(venue, today_plus(4), "morning"), live["id"])
    assert stored(confirmed)["status"] == "confirmed"

    before = snapshot(), db.outbox().count_documents({})
    assert "expired 0" in run_sweep(app)
    assert (snapshot(), db.outbox().count_documents({})) == before


def test_expire_holds_completes_bookings_whose_day_is_over(app, client, customer, owner, venue):
    confirmed = booked(client, customer.headers, venue)
    ok_data(decide(client, owner.headers, confirmed, "confirmed"))
    upcoming = booked(client, customer.headers, venue, date=today_plus(5))
    ok_data(decide(client, owner.headers, upcoming, "confirmed"))
    cancelled = booked(client, customer.headers, venue, date=today_plus(6))
    ok_data(cancel(client, customer.headers, cancelled))
    for booking in (confirmed, cancelled):
        db.bookings().update_one(
            {"_id": ObjectId(booking["id"])}, {"$set": {"date": today_plus(-1)}}
        )

    assert "completed 1" in run_sweep(app)
    doc = stored(confirmed)
    assert doc["status"] == "completed" and doc["completed_at"].tzinfo is not None
    assert seen(client, customer.headers, confirmed)["status"] == "completed"
    assert stored(upcoming)["status"] == "confirmed"
    assert stored(cancelled)["status"] == "cancelled"


def test_expire_holds_deletes_the_claims_of_dates_over_everywhere(app, owner, make_venue):
    venue = make_venue(owner.user, slots=SLOTS)
    everywhere_over = today_plus(-2)  # at least a day before today at UTC-12 too
    for date in (everywhere_over, today_plus(0), today_plus(3)):
        claims.claim_slots(venue["_id"], date, ["morning"], ObjectId())

    assert run_sweep(app).strip().endswith("deleted 1 past claims")
    dates = sorted(claim["date"] for claim in db.slot_claims().find())
    assert dates == [today_plus(0), today_plus(3)]
    assert run_sweep(app).strip().endswith("deleted 0 past claims")


def test_completion_goes_by_the_venues_own_calendar(app, customer, owner, make_venue):
    """At 12:00 UTC on 15 June it is already the 16th in Kiritimati but still the 15th in
    Pago Pago: a booking on the 15th is over at the first venue only."""
    now = dt.datetime(2030, 6, 15, 12, 0, tzinfo=dt.UTC)
    ahead = make_venue(owner.user, timezone="Pacific/Kiritimati")
    behind = make_venue(owner.user, timezone="Pacific/Pago_Pago")
    ids = {}
    for name, venue in (("ahead", ahead), ("behind", behind)):
        ids[name] = ObjectId()
        db.bookings().insert_one(
            {
                "_id": ids[name],
                "venue_id": venue["_id"],
                "owner_id": owner.user["_id"],
                "user_id": customer.user["_id"],
                "date": "2030-06-15",
                "status": "confirmed",
            }
        )
    assert maintenance.complete_bookings(now) == 1
    assert db.bookings().find_one({"_id": ids["ahead"]})["status"] == "completed"
    assert db.bookings().find_one({"_id": ids["behind"]})["status"] == "confirmed"
    assert maintenance.complete_bookings(now + dt.timedelta(days=1)) == 1
    assert db.bookings().find_one({"_id": ids["behind"]})["status"] == "completed"


def test_the_sweep_never_overrides_a_booking_that_moved_on(
    app, client, customer, venue, monkeypatch
):
    booking = booked(client, customer.headers, venue)
    lapse(booking)
    real = db.bookings

    class CancelledMeanwhile(Proxy):
        def find(self, *args, **kwargs):
            found = list(self.collection.find(*args, **kwargs))
            # The customer's cancel lands after the sweep read the booking.
            self.collection.update_one(
                {"_id": ObjectId(booking["id"])}, {"$set": {"status": "cancelled"}}
            )
            return found

    monkeypatch.setattr(db, "bookings", lambda: CancelledMeanwhile(real()))
    assert maintenance.expire_holds() == 0
    monkeypatch.setattr(db, "bookings", real)
    assert stored(booking)["status"] == "cancelled"
    assert "hold_expired" not in [kind for kind, _ in notices(booking)]
