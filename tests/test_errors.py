"""The error envelope at its edges, with the auth endpoints as the vehicle."""

import json

import flask
import pytest
from pymongo.errors import DuplicateKeyError, ServerSelectionTimeoutError

from halls import db
from halls.auth import service
from tests.helpers import PASSWORD, assert_error, ok_data

SIGNUP = {"email": "eve@example.com", "password": PASSWORD, "is_venue_owner": False}


@pytest.mark.parametrize("body", ['{"email": ', "{'email': 'x'}", "[1, 2", "\xff\xfe"])
def test_malformed_json_is_400(client, body):
    response = client.post("/auth/signup", data=body, content_type="application/json")
    error = assert_error(response, 400, "malformed_json")
    assert error["message"] == "The request body is not valid JSON."
    assert db.users().count_documents({}) == 0


def test_body_over_one_megabyte_is_413(client):
    body = json.dumps({**SIGNUP, "full_name": "x" * (1024 * 1024)})
    response = client.post("/auth/signup", data=body, content_type="application/json")
    assert_error(response, 413, "payload_too_large")
    assert db.users().count_documents({}) == 0


def test_body_just_under_the_limit_reaches_validation(client):
    body = json.dumps({**SIGNUP, "full_name": "x" * (1024 * 1024 - 200)})
    response = client.post("/auth/signup", data=body, content_type="application/json")
    error = assert_error(response, 422, "validation_failed")
    assert "full_name" in error["details"]


def test_unknown_field_is_named_in_details(client):
    response = client.post("/auth/signup", json={**SIGNUP, "is_admin": True})
    error = assert_error(response, 422, "validation_failed")
    assert error["details"] == {"is_admin": ["Unknown field."]}
    assert db.users().count_documents({}) == 0


def test_every_invalid_field_is_reported(client):
    response = client.post("/auth/signup", json={"email": "nope", "password": "x"})
    error = assert_error(response, 422, "validation_failed")
    assert set(error["details"]) == {"email", "password", "is_venue_owner"}


@pytest.mark.parametrize(
    "path, body",
    [
        ("/auth/login", {"email": {"$ne": ""}, "password": {"$gt": ""}}),
        ("/auth/login", {"email": {"$regex": ".*"}, "password": PASSWORD}),
        ("/auth/signup", {**SIGNUP, "email": {"$gt": ""}}),
        ("/auth/forgot-password", {"email": {"$ne": ""}}),
        ("/auth/reset-password", {"token": {"$ne": ""}, "new_password": "long enough"}),
        ("/auth/google", {"id_token": {"$ne": ""}}),
    ],
)
def test_mongo_operators_in_fields_are_refused(client, make_user, path, body):
    user, _ = make_user(email="eve@example.com")
    db.password_resets().insert_one({"user_id": user["_id"], "token_hash": "h", "used_at": None})
    error = assert_error(client.post(path, json=body), 422, "validation_failed")
    assert error["details"]
    assert db.users().count_documents({}) == 1
    assert db.password_resets().find_one()["used_at"] is None
    assert db.outbox().count_documents({}) == 0
    assert db.revoked_tokens().count_documents({}) == 0


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data"]
)
def test_non_json_body_is_415(client, content_type):
    body = json.dumps(SIGNUP)
    response = client.post("/auth/signup", data=body, content_type=content_type)
    assert_error(response, 415, "unsupported_media_type")
    assert db.users().count_documents({}) == 0


def test_json_with_a_charset_is_json(client):
    body = json.dumps(SIGNUP)
    response = client.post(
        "/auth/signup", data=body, content_type="application/json; charset=utf-8"
    )
    ok_data(response, 201)


def test_no_body_where_one_is_needed_is_422(client):
    error = assert_error(client.post("/auth/login"), 422, "validation_failed")
    assert set(error["details"]) == {"email", "password"}


def test_json_that_is_not_an_object_is_422(client):
    assert_error(client.post("/auth/login", json=["a", "b"]), 422, "validation_failed")


def test_unexpected_exception_is_a_generic_500(client, monkeypatch, caplog):
    def explode(**fields):
        raise RuntimeError("secret internals: mongodb://admin:hunter2@db")

    monkeypatch.setattr(service, "log_in", explode)
    response = client.post("/auth/login", json={"email": "eve@example.com", "password": "x"})
    error = assert_error(response, 500, "internal_error")
    assert error["message"] == "Something went wrong on our side."
    assert error["details"] == {}
    text = response.get_data(as_text=True)
    assert "hunter2" not in text and "Traceback" not in text and "RuntimeError" not in text
    # ...but the operator's log has the trace.
    assert "RuntimeError" in caplog.text


def test_an_answer_that_holds_a_cycle_is_a_logged_500(own_app, caplog):
    # The JSON encoder does not look for cycles (no answer has one); one still fails cleanly.
    cycle = {"name": "loop"}
    cycle["self"] = cycle
    own_app.add_url_rule("/cycle", "cycle", lambda: flask.jsonify(cycle))
    response = own_app.test_client().get("/cycle")
    error = assert_error(response, 500, "internal_error")
    assert error["details"] == {}
    assert "RecursionError" in caplog.text


def test_answers_keep_the_schema_order_of_their_keys(client):
    body = client.get("/health").get_data(as_text=True)
    assert body.startswith('{"ok":true,"data":{')


def test_duplicate_key_from_a_service_is_409(client, monkeypatch):
    def collide(**fields):
        raise DuplicateKeyError("E11000 duplicate key error")

    monkeypatch.setattr(service, "log_in", collide)
    response = client.post("/auth/login", json={"email": "eve@example.com", "password": "x"})
    error = assert_error(response, 409, "conflict")
    assert "E11000" not in error["message"]


def test_unreachable_database_is_503(client, monkeypatch):
    def down(**fields):
        raise ServerSelectionTimeoutError("no servers found, 2000 ms")

    monkeypatch.setattr(service, "create_user", down)
    response = client.post("/auth/signup", json=SIGNUP)
    error = assert_error(response, 503, "database_unavailable")
    assert "no servers" not in error["message"]


def test_unknown_route_and_wrong_method(client):
    assert_error(client.post("/auth/nope", json={}), 404, "route_not_found")
    assert_error(client.get("/auth/login"), 405, "method_not_allowed")
    assert_error(client.delete("/auth/me"), 405, "method_not_allowed")
