"""POST /auth/google with real RS256 ID tokens, verified by google-auth's own code.

The only stand-in is the HTTP transport: it serves our test certificate at Google's
certificate URL, so `verify_oauth2_token` runs unchanged (signature, audience, expiry, issuer).
"""

import base64
import datetime
import json
import time

import pytest
from google.auth import crypt
from google.auth import jwt as google_jwt
from google.auth.transport import requests as google_requests

from halls import db
from halls.auth import google
from tests.helpers import PASSWORD, assert_error, bearer, key_and_certificate, ok_data

CLIENT_ID = "halls-test.apps.googleusercontent.com"
KEY_ID = "halls-test-key"
GOOGLE_CERTS_URL = "https://www.googleapis.com/oauth2/v1/certs"


@pytest.fixture(scope="module")
def google_key():
    return key_and_certificate("google-test")


@pytest.fixture(scope="module")
def stranger_key():
    return key_and_certificate("not-google")


class FakeResponse:
    def __init__(self, status, data):
        self.status = status
        self.data = data
        self.headers = {}


class FakeTransport:
    """Answers google-auth's certificate request with our test certificate."""

    def __init__(self, certs, status=200):
        self.certs = certs
        self.status = status
        self.urls = []

    def __call__(self, url, method="GET", body=None, headers=None, timeout=None, **kwargs):
        self.urls.append(url)
        return FakeResponse(self.status, json.dumps(self.certs).encode())


@pytest.fixture
def app_config(app_config):
    return {**app_config, "GOOGLE_CLIENT_ID": CLIENT_ID}


@pytest.fixture
def transport(monkeypatch, google_key):
    fake = FakeTransport({KEY_ID: google_key[1].decode()})
    monkeypatch.setattr(google, "transport", lambda: fake)
    return fake


def sign(key, **claims):
    """A Google-shaped ID token signed with `key`'s private half."""
    now = int(time.time())
    payload = {
        "iss": "https://accounts.google.com",
        "aud": CLIENT_ID,
        "sub": "110000000000000000001",
        "email": "gina@example.com",
        "email_verified": True,
        "name": "Gina Google",
        "iat": now,
        "exp": now + 3600,
    }
    payload.update(claims)
    payload = {name: value for name, value in payload.items() if value is not None}
    signer = crypt.RSASigner.from_string(key[0], key_id=KEY_ID)
    return google_jwt.encode(signer, payload).decode()


def post(client, token, **fields):
    return client.post("/auth/google", json={"id_token": token, **fields})


def test_new_google_user_is_created(client, transport, google_key):
    response = post(client, sign(google_key), is_venue_owner=True, contact_number="+923001112223")
    data = ok_data(response, 201)
    assert data["user"]["email"] == "gina@example.com"
    assert data["user"]["auth_provider"] == "google"
    assert data["user"]["role"] == "owner"
    assert data["user"]["full_name"] == "Gina Google"
    assert "password_hash" not in data["user"] and "google_sub" not in data["user"]
    # google-auth fetched the certificates from Google's real URL, through our transport.
    assert transport.urls == [GOOGLE_CERTS_URL]
    stored = db.users().find_one({"email": "gina@example.com"})
    assert stored["google_sub"] == "110000000000000000001"
    assert stored["password_hash"] is None
    assert stored["is_venue_owner"] is True and stored["role"] == "owner"
    assert stored["contact_number"] == "+923001112223"
    assert stored["token_version"] == 0
    me = ok_data(client.get("/auth/me", headers=bearer(data["access_token"])))
    assert me["user"]["id"] == str(stored["_id"])


def test_existing_google_user_signs_in(client, transport, google_key):
    first = ok_data(post(client, sign(google_key)), 201)
    again = ok_data(post(client, sign(google_key), is_venue_owner=True), 200)
    assert again["user"]["id"] == first["user"]["id"]
    # is_venue_owner only counts when the account is created.
    assert again["user"]["is_venue_owner"] is False
    assert db.users().count_documents({}) == 1


def test_a_proven_password_account_is_linked_and_keeps_its_password(
    client, transport, google_key, make_user
):
    user, _ = make_user(email="gina@example.com", owner=True, email_verified_at=_long_ago())
    data = ok_data(post(client, sign(google_key, email="Gina@Example.com")), 200)
    assert data["user"]["id"] == str(user["_id"])
    assert data["user"]["auth_provider"] == "password"
    stored = db.users().find_one({"_id": user["_id"]})
    assert stored["google_sub"] == "110000000000000000001"
    assert stored["auth_provider"] == "password"
    assert stored["password_hash"] == user["password_hash"]
    assert db.users().count_documents({}) == 1
    login = client.post("/auth/login", json={"email": "gina@example.com", "password": PASSWORD})
    assert ok_data(login)["user"]["id"] == str(user["_id"])
    # Once linked, the Google identity finds the account by its subject id.
    assert ok_data(post(client, sign(google_key)), 200)["user"]["id"] == str(user["_id"])


def _long_ago():
    return datetime.datetime(2025, 1, 1, tzinfo=datetime.UTC)


def test_an_unproven_password_account_is_linked_but_loses_its_password_and_sessions(
    client, transport, google_key, make_user
):
    """Someone may have signed up with this email first: Google's proof wins, theirs dies."""
    squatter, squatter_headers = make_user(email="gina@example.com")
    data = ok_data(post(client, sign(google_key)), 200)
    assert data["user"]["id"] == str(squatter["_id"])
    stored = db.users().find_one({"_id": squatter["_id"]})
    assert stored["google_sub"] == "110000000000000000001"
    assert stored["password_hash"] is None
    assert stored["email_verified_at"] is not None
    assert stored["token_version"] == squatter["token_version"] + 1
    login = client.post("/auth/login", json={"email": "gina@example.com", "password": PASSWORD})
    assert_error(login, 401, "invalid_credentials")
    assert_error(client.get("/auth/me", headers=squatter_headers), 401, "token_revoked")
    # The Google session itself works.
    assert ok_data(client.get("/auth/me", headers=bearer(data["access_token"])))


def test_email_of_another_google_identity_is_taken(client, transport, google_key, make_user):
    user, _ = make_user(email="gina@example.com", google_sub="someone-else")
    assert_error(post(client, sign(google_key)), 409, "email_taken")
    assert db.users().find_one({"_id": user["_id"]})["google_sub"] == "someone-else"
    assert db.users().count_documents({}) == 1


@pytest.mark.parametrize(
    "claims",
    [
        {"email_verified": False},
        {"email_verified": None},
        {"email_verified": "true"},
        {"email": None},
        {"aud": "someone-elses-client.apps.googleusercontent.com"},
        {"iat": int(time.time()) - 7200, "exp": int(time.time()) - 3600},
        {"iss": "https://evil.example.com"},
    ],
    ids=[
        "unverified",
        "no-verified-claim",
        "verified-as-text",
        "no-email",
        "audience",
        "expired",
        "issuer",
    ],
)
def test_unacceptable_token_is_refused(client, transport, google_key, claims):
    assert_error(post(client, sign(google_key, **claims)), 401, "invalid_google_token")
    assert db.users().count_documents({}) == 0


def test_token_signed_by_another_key_is_refused(client, transport, stranger_key):
    assert_error(post(client, sign(stranger_key)), 401, "invalid_google_token")
    assert db.users().count_documents({}) == 0


def test_tampered_token_is_refused(client, transport, google_key):
    header, payload, signature = sign(google_key).split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["email"] = "admin@example.com"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
    assert_error(post(client, f"{header}.{forged}.{signature}"), 401, "invalid_google_token")
    assert db.users().count_documents({}) == 0


@pytest.mark.parametrize("token", ["abc", "a.b.c", "e30.e30.e30", "x" * 8192])
def test_garbage_token_is_refused(client, transport, token):
    assert_error(post(client, token), 401, "invalid_google_token")


def test_unconfigured_server_says_so(app, client, transport, google_key):
    app.config["GOOGLE_CLIENT_ID"] = None
    assert_error(post(client, sign(google_key)), 503, "google_not_configured")
    assert transport.urls == []
    assert db.users().count_documents({}) == 0


def test_unreachable_certificates_are_a_503(client, monkeypatch, google_key):
    failing = FakeTransport({}, status=500)
    monkeypatch.setattr(google, "transport", lambda: failing)
    assert_error(post(client, sign(google_key)), 503, "google_unavailable")
    assert db.users().count_documents({}) == 0


@pytest.mark.parametrize(
    "body",
    [{}, {"id_token": {"$ne": ""}}, {"id_token": "t", "role": "admin"}, {"id_token": ""}],
)
def test_invalid_body_is_422(client, transport, body):
    response = client.post("/auth/google", json=body)
    assert_error(response, 422, "validation_failed")
    assert transport.urls == []


def test_production_transport_is_google_auths_requests_transport():
    assert isinstance(google.transport(), google_requests.Request)


def test_losing_a_creation_race_signs_in_to_the_winner(
    client, transport, google_key, make_user, monkeypatch
):
    # Another request created the account between our lookup and our insert.
    from halls.auth import service

    winner, _ = make_user(email="gina@example.com")
    lookups = iter([None])
    real = service._google_user
    monkeypatch.setattr(service, "_google_user", lambda claims: next(lookups, real(claims)))
    data = ok_data(post(client, sign(google_key)), 200)
    assert data["user"]["id"] == str(winner["_id"])
    assert db.users().count_documents({}) == 1
    assert db.users().find_one()["google_sub"] == "110000000000000000001"
