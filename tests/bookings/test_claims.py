"""claims.py directly: taking, confirming, lapsing and releasing slot claims."""

import datetime as dt

import pytest
from bson import ObjectId
from pymongo.errors import DuplicateKeyError

from halls import db
from halls.bookings import claims
from halls.errors import Conflict

DATE = "2030-06-01"
OTHER_DATE = "2030-06-02"


@pytest.fixture
def venue_id(app):
    return ObjectId()


def claim(venue_id, slot="full_day", date=DATE):
    return db.slot_claims().find_one({"venue_id": venue_id, "date": date, "slot": slot})


def lapse(booking_id):
    """Move the booking's claims past their grace period, as time passing would."""
    past = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    db.slot_claims().update_many({"booking_id": booking_id}, {"$set": {"expires_at": past}})


def take(venue_id, slots=("full_day",), date=DATE, confirm=True):
    booking_id = ObjectId()
    claims.claim_slots(venue_id, date, list(slots), booking_id)
    if confirm:
        assert claims.confirm_claims(booking_id, venue_id, date, list(slots))
    return booking_id


def test_a_claim_is_taken_for_a_grace_period_then_held_for_good(app, venue_id):
    booking_id = ObjectId()
    before = dt.datetime.now(dt.UTC)
    claims.claim_slots(venue_id, DATE, ["full_day"], booking_id)

    doc = claim(venue_id)
    assert doc["state"] == "taken" and doc["booking_id"] == booking_id
    grace = dt.timedelta(seconds=app.config["CLAIM_GRACE_SECONDS"])
    assert before + grace - dt.timedelta(seconds=5) <= doc["expires_at"] <= before + grace * 2

    assert claims.confirm_claims(booking_id, venue_id, DATE, ["full_day"]) is True
    assert claim(venue_id)["expires_at"] is None
    assert claims.held_slots(venue_id, [DATE]) == {DATE: {"full_day"}}


def test_a_held_claim_refuses_a_second_booking(venue_id):
    first = take(venue_id)
    second = ObjectId()
    with pytest.raises(Conflict) as refused:
        claims.claim_slots(venue_id, DATE, ["full_day"], second)
    assert refused.value.error_code == "slot_taken"
    assert refused.value.context == {"date": DATE, "slots": ["full_day"]}
    assert claim(venue_id)["booking_id"] == first
    assert db.slot_claims().count_documents({}) == 1


def test_a_claim_within_its_grace_period_refuses_a_second_booking(venue_id):
    first = take(venue_id, confirm=False)
    with pytest.raises(Conflict):
        claims.claim_slots(venue_id, DATE, ["full_day"], ObjectId())
    assert claim(venue_id)["booking_id"] == first


def test_an_unconfirmed_claim_lapses_and_is_reclaimable(venue_id):
    crashed = take(venue_id, confirm=False)
    lapse(crashed)
    assert claims.held_slots(venue_id, [DATE]) == {}

    rescuer = take(venue_id)
    doc = claim(venue_id)
    assert doc["booking_id"] == rescuer and doc["state"] == "taken"
    assert db.slot_claims().count_documents({}) == 1
    # The crashed booking, should it ever appear, cannot confirm a claim it lost.
    assert claims.confirm_claims(crashed, venue_id, DATE, ["full_day"]) is False
    assert claim(venue_id)["booking_id"] == rescuer


def test_a_year_on_a_confirmed_claim_is_held_and_an_unconfirmed_one_is_not(venue_id, clock):
    confirmed = take(venue_id, ["evening"])
    take(venue_id, ["morning"], confirm=False)
    clock.advance(days=365)

    assert claims.held_slots(venue_id, [DATE]) == {DATE: {"evening"}}
    with pytest.raises(Conflict):
        claims.claim_slots(venue_id, DATE, ["evening"], ObjectId())
    newcomer = ObjectId()
    claims.claim_slots(venue_id, DATE, ["morning"], newcomer)
    assert claim(venue_id, "morning")["booking_id"] == newcomer
    assert claim(venue_id, "evening")["booking_id"] == confirmed


def test_a_lapsed_claim_nobody_took_can_still_be_confirmed(venue_id):
    slow = take(venue_id, confirm=False)
    lapse(slow)
    assert claims.confirm_claims(slow, venue_id, DATE, ["full_day"]) is True
    assert claims.held_slots(venue_id, [DATE]) == {DATE: {"full_day"}}


def test_several_slots_are_claimed_all_or_none(venue_id):
    evening = take(venue_id, ["evening"])
    loser = ObjectId()
    with pytest.raises(Conflict) as refused:
        claims.claim_slots(venue_id, DATE, ["morning", "evening", "night"], loser)
    assert refused.value.context == {"date": DATE, "slots": ["evening"]}
    assert db.slot_claims().count_documents({"booking_id": loser}) == 0
    assert claim(venue_id, "morning")["state"] == "free"
    assert claim(venue_id, "night") is None  # never tried: the evening already refused it
    assert claim(venue_id, "evening")["booking_id"] == evening

    both = take(venue_id, ["morning", "night"])
    assert claims.held_slots(venue_id, [DATE]) == {DATE: {"morning", "evening", "night"}}
    assert db.slot_claims().count_documents({"booking_id": both}) == 2


def test_confirm_counts_every_claim_of_the_booking(venue_id):
    booking_id = ObjectId()
    claims.claim_slots(venue_id, DATE, ["morning", "evening"], booking_id)
    assert claims.confirm_claims(booking_id, venue_id, DATE, ["morning", "evening", "x"]) is False
    assert claims.confirm_claims(booking_id, ObjectId(), DATE, ["morning", "evening"]) is False
    assert claim(venue_id, "morning")["in_flight"] is False  # held: the answer says not all
    assert claims.confirm_claims(booking_id, venue_id, DATE, ["morning", "evening"]) is True


def test_a_failure_midway_releases_what_was_taken(venue_id, monkeypatch):
    real = db.slot_claims
    calls = []

    class Flaky:
        def __init__(self, collection):
            self.collection = collection

        def find_one_and_update(self, *args, **kwargs):
            calls.append(1)
            if len(calls) == 2:
                raise RuntimeError("connection reset")
            return self.collection.find_one_and_update(*args, **kwargs)

        def __getattr__(self, name):
            return getattr(self.collection, name)

    monkeypatch.setattr(db, "slot_claims", lambda: Flaky(real()))
    booking_id = ObjectId()
    with pytest.raises(RuntimeError):
        claims.claim_slots(venue_id, DATE, ["morning", "evening"], booking_id)
    monkeypatch.setattr(db, "slot_claims", real)

    assert claim(venue_id, "morning")["state"] == "free"
    assert db.slot_claims().count_documents({"booking_id": booking_id}) == 0


def test_release_frees_only_the_owning_bookings_claims(venue_id):
    mine = take(venue_id, ["morning"])
    theirs = take(venue_id, ["evening"])

    claims.release_claims(ObjectId())
    claims.release_claims(None)
    assert claims.held_slots(venue_id, [DATE]) == {DATE: {"morning", "evening"}}

    claims.release_claims(mine)
    freed = claim(venue_id, "morning")
    assert freed["state"] == "free" and freed["booking_id"] is None
    assert freed["expires_at"] is None and freed["released_at"].tzinfo is not None
    assert claim(venue_id, "evening")["booking_id"] == theirs
    assert claims.held_slots(venue_id, [DATE]) == {DATE: {"evening"}}


def test_a_released_claim_is_taken_again_in_the_same_document(venue_id):
    first = take(venue_id)
    doc_id = claim(venue_id)["_id"]
    claims.release_claims(first)
    second = take(venue_id)
    assert claim(venue_id)["_id"] == doc_id
    assert claim(venue_id)["booking_id"] == second
    assert db.slot_claims().count_documents({}) == 1


def test_held_slots_ignores_free_and_lapsed_claims_and_other_venues_and_dates(venue_id):
    take(venue_id, ["confirmed"])
    take(venue_id, ["in_grace"], confirm=False)
    lapse(take(venue_id, ["lapsed"], confirm=False))
    claims.release_claims(take(venue_id, ["released"]))
    take(venue_id, ["next_day"], date=OTHER_DATE)
    take(ObjectId(), ["elsewhere"])

    assert claims.held_slots(venue_id, [DATE]) == {DATE: {"confirmed", "in_grace"}}
    assert claims.held_slots(venue_id, [DATE, OTHER_DATE]) == {
        DATE: {"confirmed", "in_grace"},
        OTHER_DATE: {"next_day"},
    }
    assert claims.held_slots(venue_id, ["2030-07-01"]) == {}


def test_held_by_venue_ignores_free_and_lapsed_claims(venue_id):
    other_venue, quiet_venue = ObjectId(), ObjectId()
    take(venue_id, ["morning"])
    lapse(take(venue_id, ["evening"], confirm=False))
    take(other_venue, ["full_day"], confirm=False)
    claims.release_claims(take(quiet_venue, ["full_day"]))
    take(venue_id, ["evening"], date=OTHER_DATE)

    assert claims.held_by_venue(DATE) == {venue_id: {"morning"}, other_venue: {"full_day"}}
    assert claims.held_by_venue(DATE, [venue_id, quiet_venue]) == {venue_id: {"morning"}}
    assert claims.held_by_venue(DATE, []) == {}
    assert claims.held_by_venue(OTHER_DATE) == {venue_id: {"evening"}}


def test_claiming_more_slots_never_releases_those_already_held(venue_id):
    """A reschedule claims only its new slots; a refusal frees those, never the old ones."""
    booking_id = take(venue_id, ["morning"])
    take(venue_id, ["evening"])
    with pytest.raises(Conflict):
        claims.claim_slots(venue_id, DATE, ["afternoon", "evening"], booking_id)
    assert claim(venue_id, "morning")["booking_id"] == booking_id
    assert claim(venue_id, "afternoon")["state"] == "free"
    assert claims.held_slots(venue_id, [DATE]) == {DATE: {"morning", "evening"}}


def test_confirm_may_hold_only_the_claims_of_one_place(venue_id):
    booking_id = take(venue_id, ["morning"])
    claims.claim_slots(venue_id, OTHER_DATE, ["evening"], booking_id)
    hold = dt.datetime.now(dt.UTC) + dt.timedelta(hours=2)
    assert claims.confirm_claims(booking_id, venue_id, OTHER_DATE, ["evening"], hold) is True
    assert claim(venue_id, "evening", OTHER_DATE)["expires_at"] == hold.replace(
        microsecond=hold.microsecond // 1000 * 1000
    )
    assert claim(venue_id, "morning")["expires_at"] is None
    assert claims.confirm_claims(booking_id, venue_id, OTHER_DATE, ["evening", "night"]) is False


def test_keep_live_claims_holds_a_live_hold_for_good_and_refuses_a_lapsed_one(venue_id):
    live = ObjectId()
    claims.claim_slots(venue_id, DATE, ["morning", "evening"], live)
    assert claims.keep_live_claims(live, venue_id, DATE, ["morning", "evening"]) is True
    assert claim(venue_id, "morning")["expires_at"] is None

    lapsed = take(venue_id, ["night"], confirm=False)
    lapse(lapsed)
    assert claims.keep_live_claims(lapsed, venue_id, DATE, ["night"]) is False
    assert claims.held_slots(venue_id, [DATE]) == {DATE: {"morning", "evening"}}

    # One of two claims lost to another booking: the hold is over, not half-kept.
    partly = take(venue_id, ["a", "b"], confirm=False)
    lapse(partly)
    taker = take(venue_id, ["b"])
    assert claims.keep_live_claims(partly, venue_id, DATE, ["a", "b"]) is False
    assert claim(venue_id, "b")["booking_id"] == taker


def test_release_slots_and_release_all_but_free_only_the_bookings_other_claims(venue_id):
    mine = take(venue_id, ["morning", "evening"])
    claims.claim_slots(venue_id, OTHER_DATE, ["morning"], mine)
    theirs = take(venue_id, ["night"])

    claims.release_slots(mine, venue_id, DATE, ["evening", "night"])
    assert claim(venue_id, "evening")["state"] == "free"
    assert claim(venue_id, "night")["booking_id"] == theirs
    assert claim(venue_id, "morning")["booking_id"] == mine

    claims.release_all_but(mine, venue_id, OTHER_DATE, ["morning"])
    assert claim(venue_id, "morning")["state"] == "free"
    assert claim(venue_id, "morning", OTHER_DATE)["booking_id"] == mine
    assert claim(venue_id, "night")["booking_id"] == theirs


def test_a_refusal_names_every_requested_slot_held_by_others(venue_id):
    take(venue_id, ["evening"])
    take(venue_id, ["night"])
    with pytest.raises(Conflict) as refused:
        claims.claim_slots(venue_id, DATE, ["morning", "evening", "night"], ObjectId())
    assert refused.value.context == {"date": DATE, "slots": ["evening", "night"]}


def test_a_request_refused_by_one_still_in_flight_tries_again(venue_id, monkeypatch):
    """The blocker was mid-request (unconfirmed) and gave up: the retry gets the slot."""
    blocker = take(venue_id, ["evening"], confirm=False)
    assert claim(venue_id, "evening")["in_flight"] is True
    pauses = []

    def pause(seconds):
        pauses.append(seconds)
        claims.release_claims(blocker)  # the other request fails meanwhile

    monkeypatch.setattr(claims.time, "sleep", pause)
    winner = ObjectId()
    claims.claim_slots(venue_id, DATE, ["morning", "evening"], winner)
    assert len(pauses) == 1
    assert claim(venue_id, "evening")["booking_id"] == winner
    assert claim(venue_id, "morning")["booking_id"] == winner
    assert claims.confirm_claims(winner, venue_id, DATE, ["morning", "evening"]) is True
    assert claim(venue_id, "evening")["in_flight"] is False


def test_a_blocker_in_flight_that_never_leaves_is_a_conflict_in_the_end(venue_id, monkeypatch):
    take(venue_id, ["evening"], confirm=False)
    pauses = []
    monkeypatch.setattr(claims.time, "sleep", pauses.append)
    loser = ObjectId()
    with pytest.raises(Conflict) as refused:
        claims.claim_slots(venue_id, DATE, ["morning", "evening"], loser)
    assert refused.value.context == {"date": DATE, "slots": ["evening"]}
    assert len(pauses) == claims.CLAIM_ATTEMPTS - 1
    assert db.slot_claims().count_documents({"booking_id": loser}) == 0


def test_a_settled_blocker_is_a_conflict_at_once(venue_id, monkeypatch):
    take(venue_id, ["evening"])
    monkeypatch.setattr(claims.time, "sleep", lambda seconds: pytest.fail("no retry"))
    with pytest.raises(Conflict):
        claims.claim_slots(venue_id, DATE, ["evening"], ObjectId())


def test_a_claims_id_is_its_venue_date_and_slot(venue_id):
    booking_id = take(venue_id, ["morning", "evening"])
    ids = {doc["_id"] for doc in db.slot_claims().find({"booking_id": booking_id})}
    assert ids == {f"{venue_id}:{DATE}:morning", f"{venue_id}:{DATE}:evening"}
    # The _id index is the unique key: a second document for the slot cannot exist at all.
    with pytest.raises(DuplicateKeyError):
        db.slot_claims().insert_one(
            {"_id": db.claim_id(venue_id, DATE, "morning"), "state": "free"}
        )
    assert claim(venue_id, "morning")["booking_id"] == booking_id


def test_claims_of_dates_over_everywhere_are_deleted(venue_id):
    now = dt.datetime(2030, 6, 3, 11, 0, tzinfo=dt.UTC)  # 2030-06-02 23:00 at UTC-12
    over = take(venue_id, ["morning"], date="2030-06-01")
    claims.release_claims(take(venue_id, ["evening"], date="2030-06-01"))
    take(venue_id, ["morning"], date="2030-06-02")  # still today at UTC-12
    take(venue_id, ["morning"], date="2030-06-03")

    assert claims.delete_past(now) == 2
    left = sorted(doc["date"] for doc in db.slot_claims().find())
    assert left == ["2030-06-02", "2030-06-03"]
    assert db.slot_claims().count_documents({"booking_id": over}) == 0
    assert claims.delete_past(now) == 0


def test_claims_stored_before_keyed_ids_are_moved_to_them_at_start_up(database, venue_id):
    """An older database: claims under ObjectIds and the old unique index on their fields."""
    old = database.slot_claims
    old.drop()
    old.create_index(
        [("venue_id", 1), ("date", 1), ("slot", 1)], unique=True, name="venue_date_slot_unique"
    )
    holder = ObjectId()
    old.insert_many(
        [
            {"_id": ObjectId(), "venue_id": venue_id, "date": DATE, "slot": "evening"}
            | {"state": "taken", "booking_id": holder, "expires_at": None},
            {"_id": ObjectId(), "venue_id": venue_id, "date": DATE, "slot": "night"}
            | {"state": "free", "booking_id": None, "expires_at": None},
        ]
    )
    db.create_indexes(database)
    db.create_indexes(database)  # again, as every worker does at start-up

    assert "venue_date_slot_unique" not in old.index_information()
    assert "venue_date_slot" in old.index_information()
    assert sorted(doc["_id"] for doc in old.find()) == [
        db.claim_id(venue_id, DATE, "evening"),
        db.claim_id(venue_id, DATE, "night"),
    ]
    # The held one still holds its slot against the keyed upsert; the free one is takeable.
    with pytest.raises(Conflict):
        claims.claim_slots(venue_id, DATE, ["evening"], ObjectId())
    taker = take(venue_id, ["night"])
    assert claim(venue_id, "night")["booking_id"] == taker
    assert claim(venue_id, "evening")["booking_id"] == holder


def test_held_slots_by_key_agree_with_the_query_by_venue_and_date(venue_id, monkeypatch):
    take(venue_id, ["morning", "evening"])
    take(venue_id, ["night"], date=OTHER_DATE)
    claims.release_claims(take(venue_id, ["afternoon"], date=OTHER_DATE))
    lapse(take(venue_id, ["afternoon"], confirm=False))
    take(ObjectId(), ["morning"])  # another venue's
    own = ["morning", "afternoon", "evening", "night"]
    dates = [DATE, OTHER_DATE, "2030-06-03"]

    expected = {DATE: {"morning", "evening"}, OTHER_DATE: {"night"}}
    assert claims.held_slots(venue_id, dates) == expected
    assert claims.held_slots(venue_id, dates, own) == expected
    assert claims.held_slots(venue_id, [DATE], ["evening"]) == {DATE: {"evening"}}


def test_a_collection_handle_is_made_once_per_database(app):
    first = db.venues()
    assert db.venues() is first
    assert first.full_name == f"{db.database().name}.venues"
    assert db.slot_claims() is not first
    other = db.database().client["halls_other_database"]
    app.extensions["halls_db"], before = other, app.extensions["halls_db"]
    try:
        # Another database (as the state machine's worlds use): handles of that one.
        assert db.venues().full_name == "halls_other_database.venues"
    finally:
        app.extensions["halls_db"] = before
    assert db.venues().full_name == first.full_name
