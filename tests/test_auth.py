"""Accounts over HTTP: signup, login, me, forgot and reset password, rate limits, OpenAPI."""

import datetime as dt
import hashlib
import logging
import re

import bcrypt
import pytest

from halls import db
from halls.auth import service
from tests.helpers import PASSWORD, assert_error, bearer, ok_data

USER_FIELDS = {
    "id",
    "full_name",
    "email",
    "contact_number",
    "is_venue_owner",
    "role",
    "auth_provider",
    "created_at",
    "updated_at",
}


def signup(client, **fields):
    body = {"email": "sara@example.com", "password": PASSWORD, "is_venue_owner": False}
    return client.post("/auth/signup", json={**body, **fields})


def login(client, email, password=PASSWORD):
    return client.post("/auth/login", json={"email": email, "password": password})


# --- signup ------------------------------------------------------------------------------


def test_signup_creates_the_user_and_signs_in(client):
    response = signup(
        client,
        full_name="  Sara Saleem ",
        email="  Sara@Example.COM ",
        contact_number="+92 300 1234567",
        is_venue_owner=True,
    )
    data = ok_data(response, 201)
    assert set(data) == {"user", "access_token", "refresh_token", "token_type", "expires_in"}
    user = data["user"]
    assert set(user) == USER_FIELDS
    assert user["email"] == "sara@example.com"
    assert user["full_name"] == "Sara Saleem"
    assert user["role"] == "owner" and user["is_venue_owner"] is True
    assert user["auth_provider"] == "password"
    assert user["created_at"].endswith("Z")
    stored = db.users().find_one({"email": "sara@example.com"})
    assert str(stored["_id"]) == user["id"]
    assert stored["role"] == "owner"
    assert stored["token_version"] == 0
    assert stored["contact_number"] == "+92 300 1234567"
    assert stored["password_hash"].startswith("$2b$04$")
    assert PASSWORD not in stored["password_hash"]
    assert service.check_password(PASSWORD, stored["password_hash"])
    assert stored["created_at"].tzinfo is not None
    me = ok_data(client.get("/auth/me", headers=bearer(data["access_token"])))
    assert me["user"] == user


def test_signup_minimal_customer(client):
    user = ok_data(signup(client), 201)["user"]
    assert user["role"] == "customer" and user["is_venue_owner"] is False
    assert user["full_name"] == "" and user["contact_number"] == ""


def test_signup_uses_the_configured_bcrypt_cost(app, client):
    app.config["BCRYPT_ROUNDS"] = 5
    ok_data(signup(client), 201)
    assert db.users().find_one()["password_hash"].startswith("$2b$05$")


@pytest.mark.parametrize("email", ["sara@example.com", "SARA@example.com", " sara@example.com"])
def test_signup_with_a_taken_email_is_409(client, make_user, email):
    existing, _ = make_user(email="sara@example.com", full_name="First")
    assert_error(signup(client, email=email, full_name="Second"), 409, "email_taken")
    assert db.users().count_documents({}) == 1
    assert db.users().find_one()["full_name"] == "First"


@pytest.mark.parametrize(
    "fields, field",
    [
        ({"is_venue_owner": None}, "is_venue_owner"),
        ({"email": "not-an-email"}, "email"),
        ({"email": ""}, "email"),
        ({"email": "a" * 250 + "@example.com"}, "email"),
        ({"password": "short12"}, "password"),
        ({"password": "x" * 129}, "password"),
        ({"password": 12345678}, "password"),
        ({"full_name": "x" * 101}, "full_name"),
        ({"contact_number": "call me"}, "contact_number"),
        ({"role": "admin"}, "role"),
        ({"token_version": 5}, "token_version"),
        ({"email": {"$ne": ""}}, "email"),
    ],
)
def test_signup_rejects_invalid_fields(client, fields, field):
    body = {"email": "sara@example.com", "password": PASSWORD, "is_venue_owner": False, **fields}
    body = {key: value for key, value in body.items() if value is not None}
    error = assert_error(client.post("/auth/signup", json=body), 422, "validation_failed")
    assert field in error["details"]
    assert db.users().count_documents({}) == 0


def test_signup_accepts_128_character_passwords(client):
    # Longer than bcrypt's 72 bytes: every character counts.
    password = "é" * 128
    ok_data(signup(client, password=password), 201)
    ok_data(login(client, "sara@example.com", password))
    assert_error(login(client, "sara@example.com", "é" * 127 + "e"), 401, "invalid_credentials")


# --- login -------------------------------------------------------------------------------


def test_login_returns_tokens_and_user(client, make_user):
    user, _ = make_user(email="lina@example.com", owner=True)
    data = ok_data(login(client, "  LINA@example.com "))
    assert data["user"]["id"] == str(user["_id"])
    assert set(data["user"]) == USER_FIELDS
    assert data["token_type"] == "Bearer"
    assert ok_data(client.get("/auth/me", headers=bearer(data["access_token"])))


def test_login_failures_look_the_same(client, make_user):
    make_user(email="lina@example.com")
    make_user(email="gina@example.com", password_hash=None, auth_provider="google")
    wrong_password = assert_error(
        login(client, "lina@example.com", "wrong password"), 401, "invalid_credentials"
    )
    unknown_email = assert_error(login(client, "nobody@example.com"), 401, "invalid_credentials")
    google_only = assert_error(login(client, "gina@example.com"), 401, "invalid_credentials")
    assert wrong_password == unknown_email == google_only


def test_login_checks_a_hash_even_without_a_user(client, monkeypatch):
    # Same work whether or not the email exists: no timing oracle for account discovery.
    calls = []
    real = bcrypt.checkpw
    monkeypatch.setattr(bcrypt, "checkpw", lambda pw, h: calls.append(h) or real(pw, h))
    assert_error(login(client, "nobody@example.com"), 401, "invalid_credentials")
    assert len(calls) == 1


@pytest.mark.parametrize(
    "body",
    [
        {"email": {"$ne": ""}, "password": {"$gt": ""}},
        {"email": "lina@example.com", "password": {"$ne": ""}},
        {"email": "lina@example.com"},
        {"email": "lina@example.com", "password": PASSWORD, "remember": True},
    ],
)
def test_login_rejects_invalid_bodies(client, make_user, body):
    make_user(email="lina@example.com")
    assert_error(client.post("/auth/login", json=body), 422, "validation_failed")


# --- me ----------------------------------------------------------------------------------


def test_me_shows_the_user_without_secrets(client, customer):
    user, headers = customer
    data = ok_data(client.get("/auth/me", headers=headers))
    assert set(data["user"]) == USER_FIELDS
    assert data["user"]["id"] == str(user["_id"])
    assert data["user"]["full_name"] == "Cyrus Customer"


def test_patch_me_updates_the_profile(client, customer, owner):
    user, headers = customer
    body = {"full_name": " Cyrus C. ", "contact_number": "+923009999999"}
    data = ok_data(client.patch("/auth/me", json=body, headers=headers))
    assert set(data) == {"user"}
    assert data["user"]["full_name"] == "Cyrus C."
    stored = db.users().find_one({"_id": user["_id"]})
    assert stored["full_name"] == "Cyrus C."
    assert stored["contact_number"] == "+923009999999"
    assert stored["updated_at"] > user["updated_at"].replace(microsecond=0)
    assert stored["password_hash"] == user["password_hash"]
    # Only the caller's own account changes.
    assert db.users().find_one({"_id": owner[0]["_id"]})["full_name"] == "Olivia Owner"
    assert ok_data(client.get("/auth/me", headers=headers))["user"]["full_name"] == "Cyrus C."


def test_patch_me_changes_the_password_and_renews_tokens(client, customer):
    user, headers = customer
    body = {"new_password": "a brand new one", "current_password": PASSWORD}
    data = ok_data(client.patch("/auth/me", json=body, headers=headers))
    assert {"user", "access_token", "refresh_token", "token_type"} <= set(data)
    assert_error(client.get("/auth/me", headers=headers), 401, "token_revoked")
    assert ok_data(client.get("/auth/me", headers=bearer(data["access_token"])))
    assert_error(login(client, user["email"]), 401, "invalid_credentials")
    ok_data(login(client, user["email"], "a brand new one"))
    assert db.users().find_one({"_id": user["_id"]})["token_version"] == 1


@pytest.mark.parametrize(
    "body, field",
    [
        (
            {"new_password": "a brand new one", "current_password": "wrong password"},
            "current_password",
        ),
        ({"new_password": "a brand new one"}, "current_password"),
        ({"current_password": PASSWORD}, "current_password"),
        ({"new_password": "short", "current_password": PASSWORD}, "new_password"),
        ({"email": "new@example.com"}, "email"),
        ({"is_venue_owner": True}, "is_venue_owner"),
        ({"role": "admin"}, "role"),
        ({"auth_provider": "google"}, "auth_provider"),
        ({"full_name": {"$set": "x"}}, "full_name"),
    ],
)
def test_patch_me_refuses(client, customer, body, field):
    user, headers = customer
    before = db.users().find_one({"_id": user["_id"]})
    error = assert_error(
        client.patch("/auth/me", json=body, headers=headers), 422, "validation_failed"
    )
    assert field in error["details"]
    assert db.users().find_one({"_id": user["_id"]}) == before
    assert ok_data(client.get("/auth/me", headers=headers))


def test_google_only_account_cannot_set_a_password_via_me(client, make_user):
    user, headers = make_user(password_hash=None, auth_provider="google", google_sub="g-1")
    body = {"new_password": "a brand new one", "current_password": "anything at all"}
    assert_error(client.patch("/auth/me", json=body, headers=headers), 422, "validation_failed")
    assert db.users().find_one({"_id": user["_id"]})["password_hash"] is None


def test_me_needs_a_token(client):
    assert_error(client.get("/auth/me"), 401, "token_missing")
    assert_error(client.patch("/auth/me", json={"full_name": "X"}), 401, "token_missing")
    assert db.users().count_documents({}) == 0


# --- forgot and reset password -----------------------------------------------------------


def reset_token_of(email):
    """The token from the reset mail in the outbox (no SMTP in tests)."""
    text = db.outbox().find_one({"to": email, "kind": "password_reset"})["text"]
    return re.search(r"reset-password\?token=([A-Za-z0-9_-]+)", text).group(1)


def forgot(client, email):
    return client.post("/auth/forgot-password", json={"email": email})


def reset(client, token, new_password="a fresh password"):
    return client.post("/auth/reset-password", json={"token": token, "new_password": new_password})


def test_forgot_password_for_a_known_user(app, client, customer, caplog):
    user, _ = customer
    caplog.set_level(logging.INFO, logger="halls.mail")
    before = dt.datetime.now(dt.UTC)
    data = ok_data(forgot(client, user["email"].upper()))
    assert data == {"message": "If that email has an account, a reset link is on its way."}
    token = reset_token_of(user["email"])
    assert len(token) >= 43
    stored = db.password_resets().find_one()
    assert stored["user_id"] == user["_id"]
    assert stored["token_hash"] == hashlib.sha256(token.encode()).hexdigest()
    assert token not in str(stored)
    assert stored["used_at"] is None
    # BSON keeps milliseconds, so the stored time may sit up to 1 ms before `before`.
    expected = before + dt.timedelta(hours=1)
    assert dt.timedelta(milliseconds=-1) < stored["expires_at"] - expected < dt.timedelta(seconds=5)
    message = db.outbox().find_one()
    assert message["status"] == "queued"
    assert message["subject"] == "Reset your Halls password"
    assert f"http://127.0.0.1:8000/reset-password?token={token}" in message["text"]
    lines = [r.getMessage() for r in caplog.records if r.name == "halls.mail"]
    assert len(lines) == 1
    assert user["email"] in lines[0] and "Reset your Halls password" in lines[0]
    assert token not in caplog.text


def test_reset_link_uses_the_public_base_url(app, client, customer):
    app.config["PUBLIC_BASE_URL"] = "https://halls.example.pk/"
    ok_data(forgot(client, customer[0]["email"]))
    text = db.outbox().find_one()["text"]
    assert "https://halls.example.pk/reset-password?token=" in text


def test_forgot_password_for_an_unknown_email_says_the_same(client, customer):
    data = ok_data(forgot(client, "nobody@example.com"))
    assert data == {"message": "If that email has an account, a reset link is on its way."}
    assert db.password_resets().count_documents({}) == 0
    assert db.outbox().count_documents({}) == 0


@pytest.mark.parametrize("body", [{}, {"email": "nope"}, {"email": {"$ne": ""}}])
def test_forgot_password_rejects_invalid_bodies(client, customer, body):
    assert_error(client.post("/auth/forgot-password", json=body), 422, "validation_failed")
    assert db.password_resets().count_documents({}) == 0


def test_reset_password_sets_the_new_password(client, customer):
    user, _ = customer
    ok_data(forgot(client, user["email"]))
    data = ok_data(reset(client, reset_token_of(user["email"])))
    assert data == {"message": "Your password has been reset; sign in with the new one."}
    ok_data(login(client, user["email"], "a fresh password"))
    assert_error(login(client, user["email"]), 401, "invalid_credentials")
    stored = db.password_resets().find_one()
    assert stored["used_at"] is not None
    assert db.users().find_one({"_id": user["_id"]})["token_version"] == 1
    # Using the mailed token proved the mailbox: a later Google link keeps this password.
    assert db.users().find_one({"_id": user["_id"]})["email_verified_at"] is not None


def test_reset_token_works_once(client, customer):
    user, _ = customer
    ok_data(forgot(client, user["email"]))
    token = reset_token_of(user["email"])
    ok_data(reset(client, token))
    assert_error(reset(client, token, "a third password"), 400, "invalid_reset_token")
    ok_data(login(client, user["email"], "a fresh password"))
    assert_error(login(client, user["email"], "a third password"), 401, "invalid_credentials")


def test_a_reset_retires_the_other_reset_tokens(client, customer):
    user, _ = customer
    ok_data(forgot(client, user["email"]))
    first = reset_token_of(user["email"])
    db.outbox().delete_many({})
    ok_data(forgot(client, user["email"]))
    second = reset_token_of(user["email"])
    ok_data(reset(client, second))
    assert_error(reset(client, first, "a third password"), 400, "invalid_reset_token")
    assert db.password_resets().count_documents({"used_at": None}) == 0


def test_expired_reset_token_is_refused(client, customer):
    user, _ = customer
    ok_data(forgot(client, user["email"]))
    past = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    db.password_resets().update_one({}, {"$set": {"expires_at": past}})
    assert_error(reset(client, reset_token_of(user["email"])), 400, "invalid_reset_token")
    ok_data(login(client, user["email"]))
    # The TTL index may or may not have removed it yet; it was not consumed either way.
    assert db.password_resets().count_documents({"used_at": {"$ne": None}}) == 0
    assert db.users().find_one({"_id": user["_id"]})["token_version"] == 0


def test_reset_token_past_its_hour_is_refused_before_any_ttl_cleanup(client, customer, clock):
    # The stored token is still there (no TTL monitor has run): only the explicit check stops it.
    user, _ = customer
    ok_data(forgot(client, user["email"]))
    token = reset_token_of(user["email"])
    clock.advance(hours=1, seconds=1)
    assert_error(reset(client, token), 400, "invalid_reset_token")
    assert db.password_resets().find_one()["used_at"] is None
    clock.advance(hours=-1, seconds=-1)
    ok_data(login(client, user["email"]))
    ok_data(reset(client, token))


def test_unknown_reset_token_is_refused(client, customer):
    assert_error(reset(client, "x" * 43), 400, "invalid_reset_token")
    ok_data(login(client, customer[0]["email"]))


def test_reset_for_a_deleted_user_is_refused(client, customer):
    user, _ = customer
    ok_data(forgot(client, user["email"]))
    db.users().delete_one({"_id": user["_id"]})
    assert_error(reset(client, reset_token_of(user["email"])), 400, "invalid_reset_token")


@pytest.mark.parametrize(
    "body, field",
    [
        ({"token": "abc", "new_password": "short"}, "new_password"),
        ({"token": {"$ne": ""}, "new_password": "long enough"}, "token"),
        ({"new_password": "long enough"}, "token"),
        ({"token": "abc", "new_password": "long enough", "user_id": "x"}, "user_id"),
    ],
)
def test_reset_password_rejects_invalid_bodies(client, customer, body, field):
    ok_data(forgot(client, customer[0]["email"]))
    error = assert_error(client.post("/auth/reset-password", json=body), 422, "validation_failed")
    assert field in error["details"]
    assert db.password_resets().find_one()["used_at"] is None


def test_google_only_user_can_set_a_password_by_reset(client, make_user):
    user, _ = make_user(password_hash=None, auth_provider="google", google_sub="g-2")
    ok_data(forgot(client, user["email"]))
    ok_data(reset(client, reset_token_of(user["email"])))
    ok_data(login(client, user["email"], "a fresh password"))
    assert db.users().find_one({"_id": user["_id"]})["auth_provider"] == "google"


# --- rate limits -------------------------------------------------------------------------


def test_the_eleventh_login_in_a_minute_is_rate_limited(app_config, request):
    app_config.update(RATELIMIT_ENABLED=True, RATELIMIT_LOGIN_IP="10 per minute")
    client = request.getfixturevalue("client")
    for number in range(10):
        assert_error(login(client, f"nobody{number}@example.com"), 401, "invalid_credentials")
    response = login(client, "nobody@example.com")
    assert_error(response, 429, "rate_limited")
    assert 0 < int(response.headers["Retry-After"]) <= 60
    # The limit is per endpoint: signing up is still allowed.
    ok_data(signup(client), 201)


@pytest.mark.parametrize(
    "path", ["/auth/signup", "/auth/google", "/auth/forgot-password", "/auth/reset-password"]
)
def test_other_auth_endpoints_are_rate_limited(app_config, request, path):
    app_config.update(RATELIMIT_ENABLED=True, RATELIMIT_AUTH="2 per minute")
    client = request.getfixturevalue("client")
    for _ in range(2):
        assert client.post(path, json={}).status_code == 422
    assert_error(client.post(path, json={}), 429, "rate_limited")


# --- OpenAPI -----------------------------------------------------------------------------


def test_every_auth_route_is_documented(client):
    spec = client.get("/openapi.json").get_json()
    paths = spec["paths"]
    expected = {
        ("/auth/signup", "post"): "201",
        ("/auth/login", "post"): "200",
        ("/auth/google", "post"): "200",
        ("/auth/forgot-password", "post"): "200",
        ("/auth/reset-password", "post"): "200",
        ("/auth/me", "get"): "200",
        ("/auth/me", "patch"): "200",
        ("/auth/refresh", "post"): "200",
        ("/auth/logout", "post"): "200",
    }
    for (path, method), status in expected.items():
        operation = paths[path][method]
        assert operation["summary"]
        assert "$ref" in operation["responses"][status]["content"]["application/json"]["schema"]
    assert "201" in paths["/auth/google"]["post"]["responses"]
    secured = {
        ("/auth/me", "get"),
        ("/auth/me", "patch"),
        ("/auth/refresh", "post"),
        ("/auth/logout", "post"),
    }
    for path, method in expected:
        security = paths[path][method].get("security")
        assert (security == [{"bearerAuth": []}]) == ((path, method) in secured), path
    schemas = spec["components"]["schemas"]
    assert {"SignupIn", "LoginIn", "GoogleIn", "UserOut", "TokenData"} <= set(schemas)
    assert "password_hash" not in schemas["UserOut"]["properties"]
    assert "token_version" not in schemas["UserOut"]["properties"]
    assert schemas["SignupIn"]["additionalProperties"] is False
