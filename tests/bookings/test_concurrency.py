"""Races through the HTTP layer with real threads: the database admits one winner."""

import pytest
from bson import ObjectId

from halls import db
from tests.helpers import race, today_plus

THREADS = 50
DAY = today_plus(7)


def booking_call(venue, headers, slot=None):
    body = {"venue_id": str(venue["_id"]), "date": DAY, "guests": 10}
    if slot:
        body["slot"] = slot

    def call(client):
        return client.post("/bookings", json=body, headers=headers)

    return call


def book_now(client, venue, headers):
    """One booking through the API, outside any race."""
    response = booking_call(venue, headers)(client)
    assert response.status_code == 201, response.get_json()
    return response.get_json()["data"]["booking"]


def error_code(result):
    return result[1]["error"]["code"]


def active_bookings(venue):
    return list(db.bookings().find({"venue_id": venue["_id"], "status": {"$in": ACTIVE}}))


def held_claims(venue):
    return list(db.slot_claims().find({"venue_id": venue["_id"], "state": "taken"}))


ACTIVE = ["pending", "confirmed"]


def assert_one_winner(results, venue):
    """Exactly one 201, the rest 409 slot_taken, and the database agrees."""
    statuses = sorted(status for status, _ in results)
    assert statuses == [201] + [409] * (len(results) - 1), results
    assert {error_code(r) for r in results if r[0] == 409} == {"slot_taken"}
    (winner,) = [body["data"]["booking"] for status, body in results if status == 201]

    (active,) = active_bookings(venue)
    assert str(active["_id"]) == winner["id"]
    (claim,) = held_claims(venue)
    # Held as long as the winner's pending hold lasts.
    assert claim["booking_id"] == active["_id"] and claim["expires_at"] == active["expires_at"]
    assert db.slot_claims().count_documents({"venue_id": venue["_id"]}) == 1
    return winner


@pytest.fixture
def customers(make_user):
    return [make_user().headers for _ in range(THREADS)]


def test_fifty_bookers_of_one_slot_get_one_booking(app, client, customers, venue):
    results = race(app, [booking_call(venue, headers) for headers in customers])
    winner = assert_one_winner(results, venue)
    assert db.bookings().count_documents({}) == 1

    # The winner cancels; the slot is free, and the next race again has exactly one winner.
    winner_headers = customers[[s for s, _ in results].index(201)]
    cancelled = client.delete(f"/bookings/{winner['id']}", headers=winner_headers)
    assert cancelled.status_code == 200
    assert held_claims(venue) == []

    again = race(app, [booking_call(venue, headers) for headers in customers])
    second = assert_one_winner(again, venue)
    assert second["id"] != winner["id"]
    assert db.bookings().count_documents({"status": "cancelled"}) == 1
    assert db.bookings().count_documents({}) == 2


def test_racers_on_different_slots_do_not_block_each_other(
    app, customers, make_venue, owner, make_user
):
    slots = [
        {"key": f"s{n}", "label": f"Slot {n}", "start": f"{n:02}:00", "end": f"{n:02}:30"}
        for n in range(5)
    ]
    venue = make_venue(owner.user, slots=slots)
    calls = [booking_call(venue, headers, slot=f"s{i % 5}") for i, headers in enumerate(customers)]
    results = race(app, calls)
    assert sorted(s for s, _ in results) == [201] * 5 + [409] * (THREADS - 5)
    won = sorted(body["data"]["booking"]["slot"] for s, body in results if s == 201)
    assert won == ["s0", "s1", "s2", "s3", "s4"]
    assert len(active_bookings(venue)) == 5
    assert sorted(c["slot"] for c in held_claims(venue)) == won


def test_a_cancel_racing_new_bookers_never_lets_two_hold_the_slot(
    app, client, customers, venue, owner
):
    """One cancel and many bookers at once: whoever wins, the slot has at most one holder."""
    first_headers, bookers = customers[0], customers[1:]
    first = book_now(client, venue, first_headers)

    def cancel(client):
        return client.delete(f"/bookings/{first['id']}", headers=first_headers)

    # `cancel` reads `first` when it runs, so each round cancels that round's booking.
    for _round in range(3):
        results = race(app, [cancel] + [booking_call(venue, h) for h in bookers[:20]])
        cancel_result, book_results = results[0], results[1:]
        assert cancel_result[0] == 200, cancel_result
        statuses = [s for s, _ in book_results]
        assert set(statuses) <= {201, 409}, book_results
        assert statuses.count(201) <= 1
        assert {error_code(r) for r in book_results if r[0] == 409} <= {"slot_taken"}

        active = active_bookings(venue)
        claims = held_claims(venue)
        assert len(active) == statuses.count(201)
        assert [c["booking_id"] for c in claims] == [b["_id"] for b in active]
        # Free the slot for the next round, through the API.
        for booking in active:
            assert (
                client.delete(f"/bookings/{booking['_id']}", headers=owner.headers).status_code
                == 200
            )
        first = book_now(client, venue, first_headers)


def test_two_decisions_at_once_only_one_wins(app, client, customers, venue, owner):
    booking = book_now(client, venue, customers[0])

    def decide(status):
        def call(client):
            return client.patch(
                f"/bookings/{booking['id']}", json={"status": status}, headers=owner.headers
            )

        return call

    results = race(app, [decide("confirmed"), decide("rejected")] * 10)
    winners = [body["data"]["booking"]["status"] for s, body in results if s == 200]
    assert len(winners) == 1, results
    assert {error_code(r) for r in results if r[0] != 200} == {"invalid_transition"}
    stored = db.bookings().find_one({"_id": ObjectId(booking["id"])})
    assert stored["status"] == winners[0]
    held = held_claims(venue)
    assert len(held) == (1 if winners[0] == "confirmed" else 0)


def test_cancels_racing_a_decision_leave_booking_and_claim_in_step(
    app, client, customers, venue, owner
):
    booking = book_now(client, venue, customers[0])

    def cancel(client):
        return client.delete(f"/bookings/{booking['id']}", headers=customers[0])

    def confirm(client):
        return client.patch(
            f"/bookings/{booking['id']}", json={"status": "confirmed"}, headers=owner.headers
        )

    results = race(app, [cancel] * 10 + [confirm] * 10)
    assert all(s == 200 for s, _ in results[:10]), results[:10]
    assert {s for s, _ in results[10:]} <= {200, 409}
    assert {error_code(r) for r in results[10:] if r[0] == 409} <= {"invalid_transition"}
    stored = db.bookings().find_one({"_id": ObjectId(booking["id"])})
    assert stored["status"] == "cancelled"
    assert held_claims(venue) == []


# Several slots per booking ----------------------------------------------------------------

MULTI_THREADS = 30
SIX = [
    {
        "key": f"s{n}",
        "label": f"Slot {n}",
        "start": f"{8 + 2 * n:02}:00",
        "end": f"{9 + 2 * n:02}:00",
    }
    for n in range(6)
]


@pytest.fixture
def pausing_claims(monkeypatch):
    """Pause briefly after each claim attempt so that racing requests really interleave."""
    import time

    claims_of = db.slot_claims

    class Pausing:
        def __getattr__(self, name):
            return getattr(claims_of(), name)

        def find_one_and_update(self, *args, **kwargs):
            try:
                return claims_of().find_one_and_update(*args, **kwargs)
            finally:
                time.sleep(0.002)

    monkeypatch.setattr(db, "slot_claims", Pausing)


def window(index):
    """Overlapping runs of two or three neighbouring slots, different for neighbours."""
    width = 2 + index % 2
    first = index % (len(SIX) - width + 1)
    return [f"s{n}" for n in range(first, first + width)]


def test_thirty_overlapping_multi_slot_bookings_never_share_a_slot(
    app, make_user, make_venue, owner, pausing_claims
):
    venue = make_venue(owner.user, slots=SIX)
    wanted = [window(i) for i in range(MULTI_THREADS)]
    calls = []
    for slots in wanted:
        body = {"venue_id": str(venue["_id"]), "date": DAY, "guests": 10, "slots": slots}
        headers = make_user().headers
        calls.append(
            lambda client, body=body, headers=headers: client.post(
                "/bookings", json=body, headers=headers
            )
        )
    results = race(app, calls)

    assert {status for status, _ in results} <= {201, 409}, results
    assert 1 <= [status for status, _ in results].count(201) < MULTI_THREADS
    won = {}
    for (status, body), slots in zip(results, wanted, strict=True):
        if status == 201:
            assert body["data"]["booking"]["slots"] == slots
            won[body["data"]["booking"]["id"]] = slots
        else:
            assert body["error"]["code"] == "slot_taken"
            assert set(body["error"]["context"]["slots"]) <= set(slots)
    claimed = [slot for slots in won.values() for slot in slots]
    assert len(claimed) == len(set(claimed)), "a slot went to two bookings"

    # The database agrees: one active booking per winner, and exactly their slots are held,
    # each by its winner; every failed attempt left nothing taken.
    assert sorted(str(b["_id"]) for b in active_bookings(venue)) == sorted(won)
    held = {claim["slot"]: str(claim["booking_id"]) for claim in held_claims(venue)}
    assert held == {slot: booking for booking, slots in won.items() for slot in slots}
    assert db.bookings().count_documents({}) == len(won)


def test_many_bookings_moving_onto_one_slot_only_one_arrives(
    app, client, make_user, make_venue, owner, pausing_claims
):
    venue = make_venue(owner.user, slots=SIX)
    movers = []
    for n in range(10):
        user, headers = make_user()
        body = {"venue_id": str(venue["_id"]), "date": today_plus(10 + n), "guests": 5}
        response = client.post("/bookings", json={**body, "slots": ["s0"]}, headers=headers)
        assert response.status_code == 201
        movers.append((response.get_json()["data"]["booking"], headers))

    def move_call(booking, headers):
        def call(client):
            return client.post(
                f"/bookings/{booking['id']}/reschedule",
                json={
                    "date": DAY,
                    "slots": ["s0", "s1"],
                    "expected_total": 2 * booking["price_locked"],
                },
                headers=headers,
            )

        return call

    results = race(app, [move_call(booking, headers) for booking, headers in movers])
    statuses = [status for status, _ in results]
    assert statuses.count(200) == 1 and statuses.count(409) == 9, results
    assert {error_code(r) for r in results if r[0] == 409} == {"slot_taken"}

    winner = next(body for status, body in results if status == 200)["data"]["booking"]
    held = {(c["date"], c["slot"]): str(c["booking_id"]) for c in held_claims(venue)}
    expected = {(DAY, "s0"): winner["id"], (DAY, "s1"): winner["id"]}
    for booking, _ in movers:
        if booking["id"] != winner["id"]:
            # Every loser is still where it was, holding its own slot and nothing else.
            expected[(booking["date"], "s0")] = booking["id"]
            stored = db.bookings().find_one({"_id": ObjectId(booking["id"])})
            assert stored["date"] == booking["date"] and stored["history"] == []
    assert held == expected
