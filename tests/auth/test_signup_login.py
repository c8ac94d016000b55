"""POST /auth/signup and /auth/login, their rate limits, and the auth routes' OpenAPI."""

import bcrypt
import pytest

from halls import db
from halls.auth import service
from tests.auth.helpers import USER_FIELDS, login, signup
from tests.helpers import PASSWORD, assert_error, bearer, ok_data

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
