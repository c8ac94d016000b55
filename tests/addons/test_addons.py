"""Add-ons over HTTP: GET/POST /venues/<id>/addons, PATCH/DELETE /venues/<id>/addons/<key>."""

import datetime as dt

import pytest
from bson import ObjectId

from halls import db
from halls.addons.schemas import MAX_ADDONS
from tests.helpers import (
    CATERING,
    DECOR,
    assert_error,
    ok_data,
    other_id,
    send_at_once,
    today_plus,
)


def url(venue, key=None):
    base = f"/venues/{venue['_id']}/addons"
    return f"{base}/{key}" if key else base


def stored(venue):
    return db.venues().find_one({"_id": venue["_id"]})


@pytest.fixture
def venue(owner, make_venue):
    return make_venue(owner.user, addons=[dict(DECOR), dict(CATERING)])


# --- POST ------------------------------------------------------------------------------------


def test_an_owner_adds_an_add_on(client, owner, make_venue):
    _, headers = owner
    bare = make_venue(owner.user)  # stored before add-ons existed: no addons field at all
    before = stored(bare)["updated_at"]
    body = {"key": "sound", "name": "  Sound system ", "price": 15000, "unit": "per_event"}
    data = ok_data(client.post(url(bare), json=body, headers=headers), 201)
    expected = {**body, "name": "Sound system", "max_qty": None}
    assert data == {"addon": expected}
    doc = stored(bare)
    assert doc["addons"] == [expected]
    assert doc["updated_at"] > before.replace(tzinfo=doc["updated_at"].tzinfo)


def test_add_ons_are_kept_in_the_order_they_were_added(client, owner, venue):
    _, headers = owner
    body = {"key": "sound", "name": "Sound", "price": 1, "unit": "per_event", "max_qty": 3}
    ok_data(client.post(url(venue), json=body, headers=headers), 201)
    assert [addon["key"] for addon in stored(venue)["addons"]] == ["decor", "catering", "sound"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"key": "Sound"}, "key"),
        ({"key": "a.b"}, "key"),
        ({"key": "$where"}, "key"),
        ({"key": {"$ne": ""}}, "key"),
        ({"name": "   "}, "name"),
        ({"price": -1}, "price"),
        ({"price": "100"}, "price"),
        ({"price": 1.5}, "price"),
        ({"price": True}, "price"),
        ({"unit": "per_hour"}, "unit"),
        ({"max_qty": 0}, "max_qty"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_a_bad_add_on_is_refused_and_nothing_changes(client, owner, venue, change, field):
    _, headers = owner
    body = {"key": "sound", "name": "Sound", "price": 1, "unit": "per_event", **change}
    error = assert_error(
        client.post(url(venue), json=body, headers=headers), 422, "validation_failed"
    )
    assert field in error["details"]
    assert stored(venue)["addons"] == venue["addons"]


@pytest.mark.parametrize("missing", ["key", "name", "price", "unit"])
def test_required_fields(client, owner, venue, missing):
    _, headers = owner
    body = {"key": "sound", "name": "Sound", "price": 1, "unit": "per_event"}
    del body[missing]
    error = assert_error(
        client.post(url(venue), json=body, headers=headers), 422, "validation_failed"
    )
    assert missing in error["details"]


def test_a_key_can_be_added_once(client, owner, venue):
    _, headers = owner
    body = {**DECOR, "name": "Other decor", "price": 1}
    error = assert_error(client.post(url(venue), json=body, headers=headers), 409, "addon_exists")
    assert error["context"] == {"key": "decor"}
    assert stored(venue)["addons"] == venue["addons"]


def test_a_venue_offers_at_most_fifty_add_ons(client, owner, make_venue):
    _, headers = owner
    full = [
        {
            "key": f"addon_{n}",
            "name": f"Add-on {n}",
            "price": n,
            "unit": "per_event",
            "max_qty": None,
        }
        for n in range(MAX_ADDONS)
    ]
    venue = make_venue(owner.user, addons=full)
    body = {"key": "one_more", "name": "One more", "price": 1, "unit": "per_event"}
    error = assert_error(
        client.post(url(venue), json=body, headers=headers), 409, "too_many_addons"
    )
    assert error["context"] == {"max": MAX_ADDONS}
    assert stored(venue)["addons"] == full


def test_racing_adds_of_one_key_let_exactly_one_win(app, owner, make_venue):
    _, headers = owner
    venue = make_venue(owner.user)

    def add(n):
        body = {"key": "decor", "name": f"Decor {n}", "price": n, "unit": "per_event"}
        return lambda client: client.post(url(venue), json=body, headers=headers)

    responses = send_at_once(app, [add(n) for n in range(20)])
    assert sorted(response.status_code for response in responses) == [201] + [409] * 19
    assert {r.get_json()["error"]["code"] for r in responses if r.status_code == 409} == {
        "addon_exists"
    }
    addons = stored(venue)["addons"]
    assert len(addons) == 1
    (winner,) = [r.get_json()["data"]["addon"] for r in responses if r.status_code == 201]
    assert addons == [winner]


def test_racing_adds_never_pass_the_limit(app, owner, make_venue):
    _, headers = owner
    start = [
        {"key": f"old_{n}", "name": "Old", "price": 1, "unit": "per_event", "max_qty": None}
        for n in range(MAX_ADDONS - 3)
    ]
    venue = make_venue(owner.user, addons=start)

    def add(n):
        body = {"key": f"new_{n}", "name": "New", "price": 1, "unit": "per_event"}
        return lambda client: client.post(url(venue), json=body, headers=headers)

    responses = send_at_once(app, [add(n) for n in range(10)])
    assert sorted(response.status_code for response in responses) == [201] * 3 + [409] * 7
    assert len(stored(venue)["addons"]) == MAX_ADDONS


# --- who may write ---------------------------------------------------------------------------


def writes(venue):
    body = {"key": "sound", "name": "Sound", "price": 1, "unit": "per_event"}
    return [
        ("post", url(venue), body),
        ("patch", url(venue, "decor"), {"price": 1}),
        ("delete", url(venue, "decor"), None),
    ]


@pytest.mark.parametrize("index", range(3))
def test_another_owner_may_not_write(client, make_user, venue, index):
    _, stranger = make_user(owner=True)
    method, path, body = writes(venue)[index]
    response = getattr(client, method)(path, json=body, headers=stranger)
    assert_error(response, 403, "not_venue_owner")
    assert stored(venue)["addons"] == venue["addons"]


@pytest.mark.parametrize("index", range(3))
def test_a_customer_may_not_write(client, customer, venue, index):
    method, path, body = writes(venue)[index]
    response = getattr(client, method)(path, json=body, headers=customer.headers)
    assert_error(response, 403, "owner_required")
    assert stored(venue)["addons"] == venue["addons"]


@pytest.mark.parametrize("index", range(3))
def test_writes_need_a_token(client, venue, index):
    method, path, body = writes(venue)[index]
    assert_error(getattr(client, method)(path, json=body), 401, "token_missing")
    assert stored(venue)["addons"] == venue["addons"]


@pytest.mark.parametrize("venue_id", [other_id(), "not-an-id"])
@pytest.mark.parametrize("index", range(3))
def test_writes_to_an_unknown_venue_are_404(client, owner, venue_id, index):
    method, path, body = writes({"_id": venue_id})[index]
    assert_error(
        getattr(client, method)(path, json=body, headers=owner.headers), 404, "venue_not_found"
    )


@pytest.mark.parametrize("index", range(3))
def test_a_deleted_venue_takes_no_writes(client, owner, venue, index):
    db.venues().update_one({"_id": venue["_id"]}, {"$set": {"status": "deleted"}})
    method, path, body = writes(venue)[index]
    response = getattr(client, method)(path, json=body, headers=owner.headers)
    assert_error(response, 404, "venue_not_found")
    assert stored(venue)["addons"] == venue["addons"]


# --- GET -------------------------------------------------------------------------------------


def test_anyone_lists_a_venues_add_ons(client, venue):
    assert ok_data(client.get(url(venue))) == {
        "items": [DECOR, CATERING],
        "page": 1,
        "limit": 20,
        "total": 2,
    }


def test_the_list_is_paginated(client, venue):
    data = ok_data(client.get(url(venue) + "?page=2&limit=1"))
    assert data == {"items": [CATERING], "page": 2, "limit": 1, "total": 2}


def test_a_venue_stored_before_add_ons_lists_none(client, owner, make_venue):
    bare = make_venue(owner.user)
    assert ok_data(client.get(url(bare)))["items"] == []
    assert ok_data(client.get(f"/venues/{bare['_id']}"))["venue"]["addons"] == []


def test_the_venue_shows_its_add_ons(client, venue):
    assert ok_data(client.get(f"/venues/{venue['_id']}"))["venue"]["addons"] == [DECOR, CATERING]


@pytest.mark.parametrize("venue_id", [other_id(), "not-an-id"])
def test_listing_an_unknown_venue_is_404(client, venue_id):
    assert_error(client.get(f"/venues/{venue_id}/addons"), 404, "venue_not_found")


def test_listing_a_deleted_venue_is_404(client, venue):
    db.venues().update_one({"_id": venue["_id"]}, {"$set": {"status": "deleted"}})
    assert_error(client.get(url(venue)), 404, "venue_not_found")


def test_list_args_are_checked(client, venue):
    assert_error(client.get(url(venue) + "?limit=0"), 422, "validation_failed")
    assert_error(client.get(url(venue) + "?key[$ne]=x"), 422, "validation_failed")


def test_add_ons_are_changed_only_through_their_endpoints(client, owner, venue):
    _, headers = owner
    patch = {"addons": [{**DECOR, "price": 1}]}
    response = client.patch(f"/venues/{venue['_id']}", json=patch, headers=headers)
    error = assert_error(response, 422, "validation_failed")
    assert "addons" in error["details"]
    assert stored(venue)["addons"] == venue["addons"]


# --- PATCH -----------------------------------------------------------------------------------


def test_an_owner_changes_some_fields_of_an_add_on(client, owner, venue):
    _, headers = owner
    before = stored(venue)["updated_at"]
    changes = {"price": 45000, "max_qty": None}
    data = ok_data(client.patch(url(venue, "decor"), json=changes, headers=headers))
    changed = {**DECOR, "price": 45000, "max_qty": None}
    assert data == {"addon": changed}
    doc = stored(venue)
    assert doc["addons"] == [changed, CATERING]  # the other add-on is untouched
    assert doc["updated_at"] > before.replace(tzinfo=doc["updated_at"].tzinfo)


def test_the_positional_update_changes_the_matched_add_on_only(client, owner, venue):
    _, headers = owner
    body = {"name": "Buffet", "unit": "per_event", "max_qty": 2}
    ok_data(client.patch(url(venue, "catering"), json=body, headers=headers))
    assert stored(venue)["addons"] == [DECOR, {**CATERING, **body}]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "_schema"),
        ({"key": "other"}, "key"),
        ({"price": -5}, "price"),
        ({"unit": "per_day"}, "unit"),
        ({"name": ""}, "name"),
        ({"addons.$.price": 1}, "addons.$.price"),
    ],
)
def test_a_bad_patch_changes_nothing(client, owner, venue, body, field):
    _, headers = owner
    response = client.patch(url(venue, "decor"), json=body, headers=headers)
    error = assert_error(response, 422, "validation_failed")
    assert field in error["details"]
    assert stored(venue)["addons"] == venue["addons"]


@pytest.mark.parametrize("key", ["sound", "Decor", "$where", "a.b", "x" * 41])
def test_patching_an_add_on_the_venue_lacks_is_404(client, owner, venue, key):
    _, headers = owner
    response = client.patch(url(venue, key), json={"price": 1}, headers=headers)
    assert_error(response, 404, "addon_not_found")
    assert stored(venue)["addons"] == venue["addons"]


# --- DELETE ----------------------------------------------------------------------------------


def test_an_owner_removes_an_add_on(client, owner, venue):
    _, headers = owner
    assert ok_data(client.delete(url(venue, "decor"), headers=headers)) == {"addon": DECOR}
    assert stored(venue)["addons"] == [CATERING]
    assert_error(client.delete(url(venue, "decor"), headers=headers), 404, "addon_not_found")
    assert stored(venue)["addons"] == [CATERING]


@pytest.mark.parametrize("key", ["sound", "$where", "a.b"])
def test_removing_an_add_on_the_venue_lacks_is_404(client, owner, venue, key):
    assert_error(client.delete(url(venue, key), headers=owner.headers), 404, "addon_not_found")
    assert stored(venue)["addons"] == venue["addons"]


def test_removing_or_repricing_an_add_on_never_changes_a_booking(client, owner, customer, venue):
    _, headers = owner
    line = {
        "kind": "addon",
        "key": "decor",
        "label": "Stage decor",
        "unit_price": 40000,
        "qty": 1,
        "amount": 40000,
    }
    now = dt.datetime.now(dt.UTC)
    booking = {
        "_id": ObjectId(),
        "venue_id": venue["_id"],
        "user_id": customer.user["_id"],
        "owner_id": owner.user["_id"],
        "date": today_plus(9),
        "status": "confirmed",
        "addons": [{"key": "decor", "qty": 1}],
        "price_locked": 40000,
        "price_breakdown": {"lines": [line], "subtotal": 40000, "total": 40000, "currency": "PKR"},
        "created_at": now,
        "updated_at": now,
    }
    db.bookings().insert_one(booking)
    kept = db.bookings().find_one({"_id": booking["_id"]})
    ok_data(client.patch(url(venue, "decor"), json={"price": 1}, headers=headers))
    ok_data(client.delete(url(venue, "decor"), headers=headers))
    assert db.bookings().find_one({"_id": booking["_id"]}) == kept
