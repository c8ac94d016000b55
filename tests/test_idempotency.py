"""Idempotency-Key on the booking writes: a retry returns the first answer and runs nothing."""

import datetime as dt
import threading
import time

import pytest
from bson import ObjectId
from flask import request

from halls import db, idempotency
from halls.bookings import create, service
from halls.bookings import reschedule as rescheduling
from halls.idempotency import LEASE
from tests.helpers import TWO_SLOTS, assert_error, ok_data, send_at_once, today_plus

DAY = today_plus(5)
KEY = "9b1c3f0e-booking-retry-1"


@pytest.fixture
def venue(make_venue, owner):
    return make_venue(owner.user, slots=TWO_SLOTS)


def body_for(venue, date=DAY, slot="lunch", **extra):
    return {"venue_id": str(venue["_id"]), "date": date, "slot": slot, "guests": 40, **extra}


def post(client, headers, body, key=KEY):
    extra = {"Idempotency-Key": key} if key is not None else {}
    return client.post("/bookings", json=body, headers={**headers, **extra})


def cancel(client, headers, booking_id, key=KEY, reason=None):
    query = f"?reason={reason}" if reason else ""
    extra = {"Idempotency-Key": key} if key is not None else {}
    return client.delete(f"/bookings/{booking_id}{query}", headers={**headers, **extra})


def bookings_of(venue):
    return list(db.bookings().find({"venue_id": venue["_id"]}).sort("_id"))


def taken_claims(venue):
    return sorted(
        (c["date"], c["slot"])
        for c in db.slot_claims().find({"venue_id": venue["_id"], "state": "taken"})
    )


def record_of(user, key=KEY):
    return db.idempotency_keys().find_one({"user_id": user["_id"], "key": key})


def count_calls(monkeypatch, name="create_booking", module=create):
    """Count how often the booking service really runs behind the route."""
    calls = []
    real = getattr(module, name)

    def counted(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, counted)
    return calls


# --- POST /bookings --------------------------------------------------------------------------


def test_a_retry_replays_the_first_response_without_booking_again(
    client, customer, venue, monkeypatch
):
    user, headers = customer
    calls = count_calls(monkeypatch)

    first = post(client, headers, body_for(venue))
    again = post(client, headers, body_for(venue))

    booking = ok_data(first, 201)["booking"]
    assert "Idempotent-Replayed" not in first.headers
    assert again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.get_data() == first.get_data()
    assert again.content_type == first.content_type
    assert calls == [1]
    (stored,) = bookings_of(venue)
    assert str(stored["_id"]) == booking["id"]
    assert taken_claims(venue) == [(DAY, "lunch")]
    record = record_of(user)
    assert record["state"] == "done"
    assert record["status"] == 201
    assert record["body"] == first.get_data()


def test_the_same_json_in_another_key_order_is_the_same_request(client, customer, venue):
    _, headers = customer
    first = post(client, headers, body_for(venue))
    reordered = dict(reversed(list(body_for(venue).items())))

    again = post(client, headers, reordered)

    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.get_data() == first.get_data()
    assert len(bookings_of(venue)) == 1


def test_the_same_key_with_another_body_is_refused(client, customer, venue):
    user, headers = customer
    first = ok_data(post(client, headers, body_for(venue)), 201)["booking"]

    response = post(client, headers, body_for(venue, slot="dinner"))

    assert_error(response, 422, "idempotency_key_reused")
    assert "Idempotent-Replayed" not in response.headers
    (stored,) = bookings_of(venue)
    assert str(stored["_id"]) == first["id"]
    assert taken_claims(venue) == [(DAY, "lunch")]
    assert record_of(user)["status"] == 201  # the first outcome still answers for the key


def test_the_same_key_on_another_endpoint_is_refused(client, customer, venue):
    _, headers = customer
    booking = ok_data(post(client, headers, body_for(venue)), 201)["booking"]

    response = cancel(client, headers, booking["id"])

    assert_error(response, 422, "idempotency_key_reused")
    (stored,) = bookings_of(venue)
    assert stored["status"] == "pending"
    assert taken_claims(venue) == [(DAY, "lunch")]


def test_keys_belong_to_one_user(client, customer, make_user, venue):
    user, headers = customer
    other, other_headers = make_user()

    mine = ok_data(post(client, headers, body_for(venue)), 201)["booking"]
    theirs = post(client, other_headers, body_for(venue, slot="dinner"))

    assert "Idempotent-Replayed" not in theirs.headers
    assert ok_data(theirs, 201)["booking"]["id"] != mine["id"]
    assert taken_claims(venue) == [(DAY, "dinner"), (DAY, "lunch")]
    assert record_of(user)["fingerprint"] != record_of(other)["fingerprint"]


def test_without_the_header_nothing_is_remembered(client, customer, venue):
    _, headers = customer
    ok_data(post(client, headers, body_for(venue), key=None), 201)

    response = post(client, headers, body_for(venue), key=None)

    assert_error(response, 409, "slot_taken")
    assert len(bookings_of(venue)) == 1
    assert db.idempotency_keys().count_documents({}) == 0


@pytest.mark.parametrize(
    "key",
    ["", " ", " padded", "padded ", "x" * 256, "tab\there", "caf\u00e9", "new\u2028line"],
)
def test_a_malformed_key_is_a_422_and_nothing_happens(client, customer, venue, key):
    _, headers = customer

    response = post(client, headers, body_for(venue), key=key)

    error = assert_error(response, 422, "validation_failed")
    assert "Idempotency-Key" in error["details"]
    assert bookings_of(venue) == []
    assert taken_claims(venue) == []
    assert db.idempotency_keys().count_documents({}) == 0


def test_the_longest_key_and_inner_spaces_are_accepted(client, customer, venue):
    user, headers = customer
    long_key = "k" * 254 + "!"

    ok_data(post(client, headers, body_for(venue), key=long_key), 201)
    ok_data(post(client, headers, body_for(venue, slot="dinner"), key="a key with spaces"), 201)

    assert record_of(user, long_key)["status"] == 201
    assert record_of(user, "a key with spaces")["status"] == 201


def test_without_a_token_the_key_is_not_looked_at(client, venue):
    response = client.post("/bookings", json=body_for(venue), headers={"Idempotency-Key": KEY})

    assert_error(response, 401, "token_missing")
    assert db.idempotency_keys().count_documents({}) == 0
    assert bookings_of(venue) == []


def test_a_refusal_is_a_final_answer_and_is_replayed(client, customer, make_user, venue):
    user, headers = customer
    _, rival_headers = make_user()
    rival = ok_data(post(client, rival_headers, body_for(venue), key=None), 201)["booking"]

    refused = post(client, headers, body_for(venue))
    assert_error(refused, 409, "slot_taken")
    # The slot frees up, but the key already answered: a retry gets the same 409.
    ok_data(cancel(client, rival_headers, rival["id"], key=None))
    again = post(client, headers, body_for(venue))

    assert_error(again, 409, "slot_taken")
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.get_data() == refused.get_data()
    assert [b["status"] for b in bookings_of(venue)] == ["cancelled"]
    assert taken_claims(venue) == []
    assert record_of(user)["status"] == 409


def test_an_invalid_body_is_stored_and_replayed_as_its_422(client, customer, venue):
    user, headers = customer
    bad = body_for(venue, guests=0)

    first = post(client, headers, bad)
    again = post(client, headers, bad)

    assert_error(first, 422, "validation_failed")
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.get_data() == first.get_data()
    assert record_of(user)["status"] == 422
    assert bookings_of(venue) == []


@pytest.mark.parametrize(
    "raw",
    [b'{"venue_id": ', b"[" * 100_000 + b"]" * 100_000, b'{"guests": "\xff"}'],
    ids=["truncated", "nested-too-deep", "not-utf8"],
)
def test_a_body_that_cannot_be_read_is_a_kept_400(client, customer, venue, raw):
    user, headers = customer
    sent = {**headers, "Idempotency-Key": KEY, "Content-Type": "application/json"}

    first = client.post("/bookings", data=raw, headers=sent)
    again = client.post("/bookings", data=raw, headers=sent)
    other = client.post("/bookings", data=raw + b" ", headers=sent)

    assert_error(first, 400, "malformed_json")
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.get_data() == first.get_data()
    assert_error(other, 422, "idempotency_key_reused")  # other bytes, another request
    assert record_of(user)["status"] == 400
    assert bookings_of(venue) == []


@pytest.mark.parametrize(
    "failure, status, code",
    [
        (RuntimeError("boom"), 500, "internal_error"),
        (ConnectionError("socket closed"), 500, "internal_error"),
    ],
)
def test_a_server_failure_frees_the_key_so_the_retry_runs(
    client, customer, venue, monkeypatch, failure, status, code
):
    user, headers = customer
    real = create.create_booking
    calls = []

    def fails_once(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise failure
        return real(*args, **kwargs)

    monkeypatch.setattr(create, "create_booking", fails_once)

    assert_error(post(client, headers, body_for(venue)), status, code)
    assert record_of(user) is None
    assert bookings_of(venue) == []

    retried = post(client, headers, body_for(venue))

    booking = ok_data(retried, 201)["booking"]
    assert "Idempotent-Replayed" not in retried.headers
    assert calls == [1, 1]
    assert [str(b["_id"]) for b in bookings_of(venue)] == [booking["id"]]
    assert record_of(user)["status"] == 201


def test_a_503_frees_the_key_too(client, customer, venue, monkeypatch):
    from pymongo.errors import ServerSelectionTimeoutError

    user, headers = customer

    def database_down(*args, **kwargs):
        raise ServerSelectionTimeoutError("no servers")

    monkeypatch.setattr(create, "create_booking", database_down)

    assert_error(post(client, headers, body_for(venue)), 503, "database_unavailable")
    assert record_of(user) is None
    assert bookings_of(venue) == []


# --- one request at a time -------------------------------------------------------------------


def hold_the_handler(monkeypatch):
    """Make create_booking wait inside the handler until released; returns (entered, release)."""
    entered, release = threading.Event(), threading.Event()
    real = create.create_booking

    def held(*args, **kwargs):
        entered.set()
        assert release.wait(timeout=30)
        return real(*args, **kwargs)

    monkeypatch.setattr(create, "create_booking", held)
    return entered, release


def test_a_retry_while_the_first_still_runs_is_told_to_wait(app, customer, venue, monkeypatch):
    user, headers = customer
    entered, release = hold_the_handler(monkeypatch)
    outcome = {}
    first = threading.Thread(
        target=lambda: outcome.update(first=post(app.test_client(), headers, body_for(venue)))
    )
    first.start()
    try:
        assert entered.wait(timeout=30)
        client = app.test_client()

        busy = post(client, headers, body_for(venue))
        reused = post(client, headers, body_for(venue, slot="dinner"))

        assert_error(busy, 409, "idempotency_in_progress")
        assert_error(reused, 422, "idempotency_key_reused")
        assert record_of(user)["state"] == "running"
        assert bookings_of(venue) == []
    finally:
        release.set()
        first.join(timeout=30)

    booking = ok_data(outcome["first"], 201)["booking"]
    replay = post(app.test_client(), headers, body_for(venue))
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert replay.get_data() == outcome["first"].get_data()
    assert [str(b["_id"]) for b in bookings_of(venue)] == [booking["id"]]


def test_thirty_threads_with_one_key_run_the_handler_once(app, customer, venue, monkeypatch):
    user, headers = customer
    calls = count_calls(monkeypatch)
    threads_count = 30
    results = send_at_once(
        app, [lambda client: post(client, headers, body_for(venue))] * threads_count
    )

    assert calls == [1]
    originals = [
        r for r in results if "Idempotent-Replayed" not in r.headers and r.status_code == 201
    ]
    (original,) = originals
    for response in results:
        if response is original:
            continue
        if response.status_code == 409:
            assert_error(response, 409, "idempotency_in_progress")
        else:
            assert response.headers["Idempotent-Replayed"] == "true"
            assert response.get_data() == original.get_data()
    (stored,) = bookings_of(venue)
    assert str(stored["_id"]) == original.get_json()["data"]["booking"]["id"]
    assert taken_claims(venue) == [(DAY, "lunch")]
    assert db.idempotency_keys().count_documents({}) == 1
    assert record_of(user)["state"] == "done"


# --- age and crashes -------------------------------------------------------------------------


def age_the_record(user, by):
    aged = dt.datetime.now(dt.UTC) - by
    db.idempotency_keys().update_one({"user_id": user["_id"]}, {"$set": {"created_at": aged}})
    return aged


def test_after_a_day_the_key_is_free_again(client, customer, venue):
    user, headers = customer
    ok_data(post(client, headers, body_for(venue)), 201)
    day_ago = age_the_record(user, dt.timedelta(hours=24, seconds=1))

    response = post(client, headers, body_for(venue, slot="dinner"))

    booking = ok_data(response, 201)["booking"]
    assert "Idempotent-Replayed" not in response.headers
    assert booking["slot"] == "dinner"
    assert taken_claims(venue) == [(DAY, "dinner"), (DAY, "lunch")]
    (record,) = db.idempotency_keys().find({"user_id": user["_id"]})
    assert record["status"] == 201
    assert record["created_at"] > day_ago + dt.timedelta(hours=24)


def test_a_record_past_its_time_no_longer_answers_before_the_ttl_removes_it(
    client, customer, venue, monkeypatch
):
    # The TTL index still says 24 hours, so the record stays in the collection, as it does on a
    # server until its TTL monitor comes round: the code's own age check must free the key.
    monkeypatch.setattr(idempotency, "KEEP", dt.timedelta(hours=1))
    user, headers = customer
    ok_data(post(client, headers, body_for(venue)), 201)
    aged = age_the_record(user, dt.timedelta(hours=1, seconds=1))
    assert record_of(user)["created_at"] <= aged + dt.timedelta(milliseconds=1)

    response = post(client, headers, body_for(venue, slot="dinner"))

    assert ok_data(response, 201)["booking"]["slot"] == "dinner"
    assert taken_claims(venue) == [(DAY, "dinner"), (DAY, "lunch")]
    (record,) = db.idempotency_keys().find({"user_id": user["_id"]})
    assert record["created_at"] > aged + dt.timedelta(hours=1)
    assert record["status"] == 201


def crashed_reservation(app, user, venue, lease_left):
    """A reservation as a request leaves it when its process dies while running."""
    with app.test_request_context("/bookings", method="POST", json=body_for(venue)):
        fingerprint = idempotency._fingerprint(request)
    now = dt.datetime.now(dt.UTC)
    db.idempotency_keys().insert_one(
        {
            "user_id": user["_id"],
            "key": KEY,
            "fingerprint": fingerprint,
            "state": "running",
            "run_id": ObjectId(),
            "created_at": now - LEASE,
            "lease_until": now + lease_left,
        }
    )


def test_a_reservation_whose_request_died_is_taken_over_after_its_lease(
    app, client, customer, venue
):
    user, headers = customer
    crashed_reservation(app, user, venue, lease_left=-dt.timedelta(seconds=1))

    response = post(client, headers, body_for(venue))

    booking = ok_data(response, 201)["booking"]
    assert [str(b["_id"]) for b in bookings_of(venue)] == [booking["id"]]
    record = record_of(user)
    assert record["state"] == "done"
    assert record["status"] == 201


def test_a_reservation_within_its_lease_still_blocks(app, client, customer, venue):
    user, headers = customer
    crashed_reservation(app, user, venue, lease_left=dt.timedelta(minutes=1))

    assert_error(post(client, headers, body_for(venue)), 409, "idempotency_in_progress")
    assert bookings_of(venue) == []
    assert record_of(user)["state"] == "running"


# --- DELETE /bookings/<id> -------------------------------------------------------------------


def test_a_repeated_cancel_replays_the_first_answer(client, customer, venue, monkeypatch):
    user, headers = customer
    booking = ok_data(post(client, headers, body_for(venue), key=None), 201)["booking"]
    calls = count_calls(monkeypatch, "cancel_booking", service)

    first = cancel(client, headers, booking["id"], reason="plans changed")
    cancelled = db.bookings().find_one({"_id": ObjectId(booking["id"])})
    time.sleep(0.01)  # a second run would stamp a later updated_at
    again = cancel(client, headers, booking["id"], reason="plans changed")

    assert ok_data(first)["booking"]["status"] == "cancelled"
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.get_data() == first.get_data()
    assert calls == [1]
    assert db.bookings().find_one({"_id": ObjectId(booking["id"])}) == cancelled
    assert cancelled["reason"] == "plans changed"
    assert taken_claims(venue) == []
    assert record_of(user)["status"] == 200


def test_a_cancel_with_another_reason_under_the_same_key_is_refused(client, customer, venue):
    _, headers = customer
    booking = ok_data(post(client, headers, body_for(venue), key=None), 201)["booking"]
    ok_data(cancel(client, headers, booking["id"], reason="first"))

    assert_error(
        cancel(client, headers, booking["id"], reason="second"), 422, "idempotency_key_reused"
    )
    assert db.bookings().find_one({"_id": ObjectId(booking["id"])})["reason"] == "first"


def test_someone_elses_booking_is_still_a_404_and_is_replayed_as_one(
    client, customer, make_user, venue
):
    _, headers = customer
    stranger, stranger_headers = make_user()
    booking = ok_data(post(client, headers, body_for(venue), key=None), 201)["booking"]

    first = cancel(client, stranger_headers, booking["id"])
    again = cancel(client, stranger_headers, booking["id"])

    assert_error(first, 404, "booking_not_found")
    assert again.get_data() == first.get_data()
    assert db.bookings().find_one({"_id": ObjectId(booking["id"])})["status"] == "pending"
    assert taken_claims(venue) == [(DAY, "lunch")]
    assert record_of(stranger)["status"] == 404


# --- the store -------------------------------------------------------------------------------


def test_keys_are_unique_per_user_and_expire_after_a_day(app):
    indexes = db.idempotency_keys().index_information()

    assert list(indexes["user_key"]["key"]) == [("user_id", 1), ("key", 1)]
    assert indexes["user_key"]["unique"] is True
    assert list(indexes["created_ttl"]["key"]) == [("created_at", 1)]
    assert indexes["created_ttl"]["expireAfterSeconds"] == 24 * 3600


def test_the_header_is_documented_on_the_guarded_writes(client):
    spec = client.get("/openapi.json").get_json()["paths"]

    guarded = [
        ("/bookings", "post"),
        ("/bookings/{booking_id}", "delete"),
        ("/bookings/{booking_id}/reschedule", "post"),
    ]
    for path, method in guarded:
        names = [(p["in"], p["name"]) for p in spec[path][method]["parameters"]]
        assert ("header", "Idempotency-Key") in names
        assert "409" in spec[path][method]["responses"]
    assert "Idempotency-Key" not in str(spec["/bookings"]["get"])


def test_browsers_may_read_the_replay_header(client, customer, venue):
    _, headers = customer
    origin = {"Origin": "https://app.example.com"}
    post(client, headers, body_for(venue))

    replay = client.post(
        "/bookings", json=body_for(venue), headers={**headers, **origin, "Idempotency-Key": KEY}
    )

    assert replay.headers["Idempotent-Replayed"] == "true"
    exposed = replay.headers["Access-Control-Expose-Headers"]
    assert "Idempotent-Replayed" in [name.strip() for name in exposed.split(",")]


# --- POST /bookings/<id>/reschedule ----------------------------------------------------------


def reschedule(client, headers, booking_id, body, key=KEY):
    return client.post(
        f"/bookings/{booking_id}/reschedule",
        json=body,
        headers={**headers, "Idempotency-Key": key},
    )


def test_a_repeated_reschedule_replays_the_first_move(client, customer, venue, monkeypatch):
    user, headers = customer
    booking = ok_data(post(client, headers, body_for(venue), key=None), 201)["booking"]
    calls = count_calls(monkeypatch, "reschedule_booking", rescheduling)
    move = {"date": DAY, "slots": ["dinner"]}

    first = reschedule(client, headers, booking["id"], move)
    again = reschedule(client, headers, booking["id"], move)

    assert ok_data(first)["booking"]["slots"] == ["dinner"]
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.get_data() == first.get_data()
    assert calls == [1]
    stored = db.bookings().find_one({"_id": ObjectId(booking["id"])})
    assert stored["slots"] == ["dinner"]
    assert len(stored["history"]) == 1
    assert taken_claims(venue) == [(DAY, "dinner")]
    assert record_of(user)["status"] == 200


def test_a_reschedule_elsewhere_under_the_same_key_is_refused(client, customer, venue):
    _, headers = customer
    booking = ok_data(post(client, headers, body_for(venue), key=None), 201)["booking"]
    ok_data(reschedule(client, headers, booking["id"], {"date": DAY, "slots": ["dinner"]}))

    response = reschedule(
        client, headers, booking["id"], {"date": today_plus(6), "slots": ["lunch"]}
    )

    assert_error(response, 422, "idempotency_key_reused")
    stored = db.bookings().find_one({"_id": ObjectId(booking["id"])})
    assert (stored["date"], stored["slots"]) == (DAY, ["dinner"])
    assert len(stored["history"]) == 1
    assert taken_claims(venue) == [(DAY, "dinner")]
