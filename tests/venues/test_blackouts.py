"""POST/DELETE /venues/<id>/blackouts: owners close dates or slots; bookings in the way.

A blackout holds the slots' claims itself, so the claims tell the truth about every step: who
holds a slot after a blackout is added, refused, forced or removed.
"""

import pytest
from bson import ObjectId

from halls import db
from halls.venues import service
from tests.helpers import TWO_SLOTS, assert_error, ok_data, other_id, race, today_plus

DAY = today_plus(5)


@pytest.fixture
def venue(owner, make_venue):
    return make_venue(owner.user, slots=TWO_SLOTS)


def blackout(client, headers, venue, **body):
    body = {"date": DAY, "reason": "Repairs", **body}
    return client.post(f"/venues/{venue['_id']}/blackouts", json=body, headers=headers)


def added(client, headers, venue, **body):
    return ok_data(blackout(client, headers, venue, **body), 201)


def remove(client, headers, venue, blackout_id):
    return client.delete(f"/venues/{venue['_id']}/blackouts/{blackout_id}", headers=headers)


def book(client, headers, venue, slot, date=DAY):
    body = {"venue_id": str(venue["_id"]), "date": date, "guests": 20, "slot": slot}
    return client.post("/bookings", json=body, headers=headers)


def booked(client, headers, venue, slot, date=DAY):
    return ok_data(book(client, headers, venue, slot, date), 201)["booking"]


def holders(venue, date=DAY):
    """{slot: booking_id} of the held claims of the venue on the date."""
    found = db.slot_claims().find({"venue_id": venue["_id"], "date": date, "state": "taken"})
    return {claim["slot"]: claim["booking_id"] for claim in found}


def stored(venue):
    return db.venues().find_one({"_id": venue["_id"]})


def snapshot():
    """Everything a blackout can change, to prove a refused request changed nothing."""
    return (
        list(db.venues().find().sort("_id")),
        list(db.bookings().find().sort("_id")),
        list(db.slot_claims().find().sort("_id")),
    )


def slot_reasons(client, venue, date=DAY):
    data = ok_data(client.get(f"/venues/{venue['_id']}/availability?date={date}"))
    return {slot["key"]: slot["reason"] for slot in data["slots"]}


# --- adding ---------------------------------------------------------------------------------


def test_a_whole_day_blackout_closes_every_slot(client, owner, venue):
    data = added(client, owner.headers, venue)
    new = data["blackout"]
    assert new == {"id": new["id"], "date": DAY, "slots": [], "reason": "Repairs"}
    assert data["venue"]["blackouts"] == [new]
    assert data["cancelled_bookings"] == []
    assert stored(venue)["blackouts"] == [new]
    assert stored(venue)["updated_at"] > venue["updated_at"]
    blackout_id = ObjectId(new["id"])
    assert holders(venue) == {"lunch": blackout_id, "dinner": blackout_id}
    assert all(
        claim["expires_at"] is None for claim in db.slot_claims().find({"booking_id": blackout_id})
    )
    assert slot_reasons(client, venue) == {"lunch": "blacked_out", "dinner": "blacked_out"}
    assert slot_reasons(client, venue, today_plus(6)) == {"lunch": None, "dinner": None}
    search = ok_data(client.get(f"/venues/search?date={DAY}"))
    assert search["total"] == 0


def test_a_slot_blackout_closes_only_that_slot(client, owner, customer, venue):
    data = added(client, owner.headers, venue, slots=["dinner", "dinner"], reason="  Private  ")
    assert data["blackout"]["slots"] == ["dinner"]
    assert data["blackout"]["reason"] == "Private"
    assert holders(venue) == {"dinner": ObjectId(data["blackout"]["id"])}
    assert slot_reasons(client, venue) == {"lunch": None, "dinner": "blacked_out"}
    assert ok_data(client.get(f"/venues/search?date={DAY}"))["total"] == 1
    booking = booked(client, customer.headers, venue, "lunch")
    assert holders(venue)["lunch"] == ObjectId(booking["id"])


def test_a_blacked_out_slot_cannot_be_booked(client, owner, customer, venue):
    added(client, owner.headers, venue, slots=["lunch"])
    before = snapshot()
    response = book(client, customer.headers, venue, "lunch")
    assert response.status_code == 409
    assert snapshot() == before


def test_an_old_venue_without_blackouts_takes_one(client, owner, make_venue):
    old = make_venue(owner.user)
    assert "blackouts" not in stored(old)
    new = added(client, owner.headers, old)["blackout"]
    assert stored(old)["blackouts"] == [new]
    assert holders(old) == {"full_day": ObjectId(new["id"])}


def test_a_blackout_may_close_today_and_dates_not_offered(client, owner, venue):
    added(client, owner.headers, venue, date=today_plus(0))
    far = today_plus(400)
    added(client, owner.headers, venue, date=far, slots=["lunch"])
    assert [b["date"] for b in stored(venue)["blackouts"]] == [today_plus(0), far]


@pytest.mark.parametrize(
    "body",
    [
        {"date": today_plus(-1)},
        {"date": "2031-02-30"},
        {"date": None},
        {"slots": ["breakfast"]},
        {"slots": ["Lunch"]},
        {"slots": "lunch"},
        {"reason": ""},
        {"reason": "   "},
        {"reason": "x" * 201},
        {"force": "yes"},
        {"id": "mine"},
        {"date": {"$gt": ""}},
    ],
)
def test_bad_blackouts_are_422_and_change_nothing(client, owner, venue, body):
    before = snapshot()
    assert assert_error(blackout(client, owner.headers, venue, **body), 422, "validation_failed")[
        "details"
    ]
    assert snapshot() == before


def test_date_and_reason_are_required(client, owner, venue):
    response = client.post(f"/venues/{venue['_id']}/blackouts", json={}, headers=owner.headers)
    assert set(assert_error(response, 422, "validation_failed")["details"]) == {
        "date",
        "reason",
    }


@pytest.mark.parametrize(
    ("first", "second"),
    [([], []), ([], ["lunch"]), (["lunch"], []), (["lunch"], ["dinner", "lunch"])],
)
def test_overlapping_blackouts_are_409(client, owner, venue, first, second):
    existing = added(client, owner.headers, venue, slots=first)["blackout"]
    before = snapshot()
    error = assert_error(
        blackout(client, owner.headers, venue, slots=second), 409, "already_blacked_out"
    )
    assert error["context"] == {"date": DAY, "blackout_ids": [existing["id"]]}
    assert snapshot() == before


def test_blackouts_of_different_slots_or_days_coexist(client, owner, venue):
    lunch = added(client, owner.headers, venue, slots=["lunch"])["blackout"]
    dinner = added(client, owner.headers, venue, slots=["dinner"])["blackout"]
    added(client, owner.headers, venue, date=today_plus(6))
    assert holders(venue) == {"lunch": ObjectId(lunch["id"]), "dinner": ObjectId(dinner["id"])}
    assert len(stored(venue)["blackouts"]) == 3


def test_a_venue_keeps_a_bounded_list(client, owner, venue, monkeypatch):
    monkeypatch.setattr(service, "MAX_BLACKOUTS", 2)
    added(client, owner.headers, venue, date=today_plus(6))
    added(client, owner.headers, venue, date=today_plus(7))
    before = snapshot()
    assert_error(blackout(client, owner.headers, venue), 409, "too_many_blackouts")
    assert snapshot()[0] == before[0]
    assert holders(venue) == {}  # the claims it took are free again


# --- bookings in the way --------------------------------------------------------------------


def test_bookings_in_the_way_are_a_409_naming_them(client, owner, customer, venue):
    lunch = booked(client, customer.headers, venue, "lunch")
    dinner = booked(client, customer.headers, venue, "dinner")
    before = snapshot()
    error = assert_error(blackout(client, owner.headers, venue), 409, "blackout_conflicts_bookings")
    assert error["context"] == {
        "date": DAY,
        "slots": ["dinner", "lunch"],
        "booking_ids": sorted([lunch["id"], dinner["id"]]),
    }
    assert snapshot() == before
    assert holders(venue) == {"lunch": ObjectId(lunch["id"]), "dinner": ObjectId(dinner["id"])}


def test_a_slot_blackout_only_minds_its_own_slot(client, owner, customer, venue):
    lunch = booked(client, customer.headers, venue, "lunch")
    new = added(client, owner.headers, venue, slots=["dinner"])["blackout"]
    assert holders(venue) == {"lunch": ObjectId(lunch["id"]), "dinner": ObjectId(new["id"])}
    assert db.bookings().find_one({"_id": ObjectId(lunch["id"])})["status"] == "pending"


def test_force_cancels_the_bookings_as_the_owner(client, owner, customer, make_user, venue):
    lunch = booked(client, customer.headers, venue, "lunch")
    _, someone = make_user()
    dinner = booked(client, someone, venue, "dinner")
    elsewhere = booked(client, customer.headers, venue, "lunch", date=today_plus(6))
    data = added(client, owner.headers, venue, force=True, reason="Flooding")
    assert sorted(data["cancelled_bookings"]) == sorted([lunch["id"], dinner["id"]])
    for booking in (lunch, dinner):
        doc = db.bookings().find_one({"_id": ObjectId(booking["id"])})
        assert doc["status"] == "cancelled"
        assert doc["cancelled_by"] == "owner"
        assert "Flooding" in doc["reason"]
    blackout_id = ObjectId(data["blackout"]["id"])
    assert holders(venue) == {"lunch": blackout_id, "dinner": blackout_id}
    assert db.bookings().find_one({"_id": ObjectId(elsewhere["id"])})["status"] == "pending"
    assert holders(venue, today_plus(6)) == {"lunch": ObjectId(elsewhere["id"])}


def test_force_without_bookings_in_the_way_cancels_nothing(client, owner, customer, venue):
    other = booked(client, customer.headers, venue, "lunch", date=today_plus(6))
    data = added(client, owner.headers, venue, force=True)
    assert data["cancelled_bookings"] == []
    assert db.bookings().find_one({"_id": ObjectId(other["id"])})["status"] == "pending"


def test_released_claims_do_not_stand_in_the_way(client, owner, customer, venue):
    cancelled = booked(client, customer.headers, venue, "lunch")
    ok_data(client.delete(f"/bookings/{cancelled['id']}", headers=customer.headers))
    data = added(client, owner.headers, venue)
    assert data["cancelled_bookings"] == []
    assert holders(venue)["lunch"] == ObjectId(data["blackout"]["id"])


def test_force_gives_up_when_bookings_keep_coming(client, owner, venue, monkeypatch):
    # A claim with no booking document behind it (a booking still being written) cannot be
    # cancelled; after a few rounds the blackout is refused and leaves nothing of its own.
    from halls.bookings import claims

    writer = ObjectId()
    claims.claim_slots(venue["_id"], DAY, ["lunch"], writer)
    before = snapshot()
    error = assert_error(
        blackout(client, owner.headers, venue, force=True), 409, "blackout_conflicts_bookings"
    )
    assert error["context"]["booking_ids"] == [str(writer)]
    # Venues and bookings untouched; the only claim held is still the writer's (the dinner
    # claim document the blackout took is left free, as every released claim is).
    assert snapshot()[:2] == before[:2]
    assert holders(venue) == {"lunch": writer}


# --- removing -------------------------------------------------------------------------------


def test_removing_a_blackout_reopens_the_slots(client, owner, customer, venue):
    keep = added(client, owner.headers, venue, date=today_plus(6))["blackout"]
    gone = added(client, owner.headers, venue)["blackout"]
    data = ok_data(remove(client, owner.headers, venue, gone["id"]))
    assert data["venue"]["blackouts"] == [keep]
    assert stored(venue)["blackouts"] == [keep]
    assert holders(venue) == {}
    assert holders(venue, today_plus(6)) == {
        "lunch": ObjectId(keep["id"]),
        "dinner": ObjectId(keep["id"]),
    }
    assert slot_reasons(client, venue) == {"lunch": None, "dinner": None}
    booked(client, customer.headers, venue, "dinner")


@pytest.mark.parametrize("blackout_id", [other_id(), "bogus", "$ne"])
def test_removing_an_unknown_blackout_is_404(client, owner, venue, blackout_id):
    added(client, owner.headers, venue)
    before = snapshot()
    assert_error(remove(client, owner.headers, venue, blackout_id), 404, "blackout_not_found")
    assert snapshot() == before


def test_removing_twice_is_404_the_second_time(client, owner, venue):
    new = added(client, owner.headers, venue)["blackout"]
    ok_data(remove(client, owner.headers, venue, new["id"]))
    assert_error(remove(client, owner.headers, venue, new["id"]), 404, "blackout_not_found")


def test_a_blackout_of_another_venue_is_404(client, owner, make_venue, venue):
    theirs = added(client, owner.headers, make_venue(owner.user))["blackout"]
    before = snapshot()
    assert_error(remove(client, owner.headers, venue, theirs["id"]), 404, "blackout_not_found")
    assert snapshot() == before


# --- who may -------------------------------------------------------------------------------


def test_another_owner_may_neither_add_nor_remove(client, owner, make_user, venue):
    new = added(client, owner.headers, venue)["blackout"]
    _, stranger = make_user(owner=True)
    before = snapshot()
    assert_error(blackout(client, stranger, venue, date=today_plus(6)), 403, "not_venue_owner")
    assert_error(remove(client, stranger, venue, new["id"]), 403, "not_venue_owner")
    assert snapshot() == before


def test_customers_and_strangers_are_refused(client, owner, customer, venue):
    new = added(client, owner.headers, venue)["blackout"]
    before = snapshot()
    assert_error(
        blackout(client, customer.headers, venue, date=today_plus(6)), 403, "owner_required"
    )
    assert_error(remove(client, customer.headers, venue, new["id"]), 403, "owner_required")
    assert blackout(client, {}, venue).status_code == 401
    assert remove(client, {}, venue, new["id"]).status_code == 401
    assert snapshot() == before


@pytest.mark.parametrize("venue_id", [other_id(), "bogus"])
def test_unknown_venue_is_404(client, owner, venue_id):
    assert_error(blackout(client, owner.headers, {"_id": venue_id}), 404, "venue_not_found")
    assert_error(
        remove(client, owner.headers, {"_id": venue_id}, other_id()), 404, "venue_not_found"
    )


def test_deleted_venue_is_404(client, owner, make_venue):
    gone = make_venue(owner.user, status="deleted")
    assert_error(blackout(client, owner.headers, gone), 404, "venue_not_found")
    assert db.slot_claims().count_documents({}) == 0


# --- blackouts and the rest of the venue ------------------------------------------------------


def test_a_blacked_out_date_may_leave_dates_available(client, owner, venue):
    added(client, owner.headers, venue)
    dates = [date for date in venue["dates_available"] if date != DAY]
    response = client.patch(
        f"/venues/{venue['_id']}", json={"dates_available": dates}, headers=owner.headers
    )
    assert DAY not in ok_data(response)["venue"]["dates_available"]


def test_a_blacked_out_slot_may_be_removed_from_the_venue(client, owner, venue):
    added(client, owner.headers, venue, slots=["dinner"])
    response = client.patch(
        f"/venues/{venue['_id']}", json={"slots": TWO_SLOTS[:1]}, headers=owner.headers
    )
    assert [slot["key"] for slot in ok_data(response)["venue"]["slots"]] == ["lunch"]


def test_patch_still_protects_booked_dates_beside_a_blackout(client, owner, customer, venue):
    added(client, owner.headers, venue, slots=["dinner"])
    booked(client, customer.headers, venue, "lunch")
    dates = [date for date in venue["dates_available"] if date != DAY]
    response = client.patch(
        f"/venues/{venue['_id']}", json={"dates_available": dates}, headers=owner.headers
    )
    assert_error(response, 409, "date_in_use")


# --- races -----------------------------------------------------------------------------------


def test_a_blackout_racing_bookings_never_shares_a_slot(app, owner, make_user, venue):
    customers = [make_user().headers for _ in range(12)]
    calls = [lambda c: blackout(c, owner.headers, venue, slots=["lunch"])]
    calls += [lambda c, h=h: book(c, h, venue, "lunch") for h in customers]
    results = race(app, calls)
    winners = [result for result in results if result[0] == 201]
    assert len(winners) == 1, results
    assert all(result[0] == 409 for result in results if result[0] != 201), results
    (claim,) = db.slot_claims().find({"venue_id": venue["_id"], "date": DAY, "slot": "lunch"})
    active = list(db.bookings().find({"status": {"$in": ["pending", "confirmed"]}}))
    blackouts = stored(venue).get("blackouts") or []
    if blackouts:
        assert active == []
        assert claim["booking_id"] == ObjectId(blackouts[0]["id"])
    else:
        assert [booking["_id"] for booking in active] == [claim["booking_id"]]
