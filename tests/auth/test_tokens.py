"""Bearer tokens: their claims, and every way a token is refused (401 with a stable code)."""

import base64
import datetime as dt
import json

import jwt as pyjwt
import pytest
from flask_jwt_extended import create_access_token, decode_token

from halls import db
from halls.auth import tokens
from tests.helpers import PASSWORD, assert_error, bearer, ok_data

SECRET = "test-secret-" + "x" * 32


def login(client, user):
    response = client.post("/auth/login", json={"email": user["email"], "password": PASSWORD})
    return ok_data(response)


def claims_of(token):
    return pyjwt.decode(token, SECRET, algorithms=["HS256"])


def me(client, token):
    return client.get("/auth/me", headers=bearer(token))


def _b64(obj):
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")


def test_access_token_carries_the_claims(client, make_user):
    user, _ = make_user(owner=True, email="olga@example.com")
    issued = login(client, user)
    claims = claims_of(issued["access_token"])
    assert claims["sub"] == str(user["_id"])
    assert claims["email"] == "olga@example.com"
    assert claims["is_venue_owner"] is True
    assert claims["role"] == "owner"
    assert claims["type"] == "access"
    assert claims["jti"]
    assert claims["exp"] - claims["iat"] == 1800 == issued["expires_in"]
    assert issued["token_type"] == "Bearer"
    refresh = claims_of(issued["refresh_token"])
    assert refresh["type"] == "refresh"
    assert refresh["sub"] == str(user["_id"])
    assert refresh["jti"] != claims["jti"]
    assert refresh["exp"] - refresh["iat"] == 7 * 24 * 3600
    # Bearer tokens only (no cookies): they carry no CSRF value.
    assert "csrf" not in claims and "csrf" not in refresh


def test_customer_and_admin_roles(client, make_user):
    customer, _ = make_user()
    admin, _ = make_user(role="admin")
    assert claims_of(login(client, customer)["access_token"])["role"] == "customer"
    assert claims_of(login(client, admin)["access_token"])["role"] == "admin"
    assert login(client, admin)["user"]["role"] == "admin"


def test_token_lifetimes_come_from_config(app_config, request):
    app_config.update(JWT_ACCESS_TOKEN_EXPIRES=60, JWT_REFRESH_TOKEN_EXPIRES=120)
    client = request.getfixturevalue("client")
    user, _ = request.getfixturevalue("make_user")()
    issued = login(client, user)
    assert issued["expires_in"] == 60
    access = claims_of(issued["access_token"])
    refresh = claims_of(issued["refresh_token"])
    assert access["exp"] - access["iat"] == 60
    assert refresh["exp"] - refresh["iat"] == 120


def test_valid_token_is_accepted(client, customer):
    user, headers = customer
    assert ok_data(client.get("/auth/me", headers=headers))["user"]["id"] == str(user["_id"])


@pytest.mark.parametrize("headers", [{}, {"Authorization": ""}, {"Authorization": "Basic abc"}])
def test_missing_token(client, headers):
    assert_error(client.get("/auth/me", headers=headers), 401, "token_missing")


@pytest.mark.parametrize(
    ("field", "status", "code"),
    [
        ("Bearer", 401, "token_invalid"),  # no token after the type
        ("Bearer {token} extra", 401, "token_invalid"),
        ("Bearer {token}, Bearer {token}", 401, "token_missing"),  # which one?
        ("bearer {token}", 401, "token_missing"),  # the type is case-sensitive
        ("Basic abc, Bearer {token}", 200, None),  # other schemes beside it are ignored
        ("  Bearer {token} ,", 200, None),
        (",  ,x", 401, "token_missing"),  # a blank piece has no scheme (was a 500)
        (", \t, Bearer {token}", 200, None),
    ],
)
def test_how_the_authorization_header_is_read(client, customer, field, status, code):
    token = customer.headers["Authorization"].split()[1]
    response = client.get("/auth/me", headers={"Authorization": field.format(token=token)})
    if code:
        assert_error(response, status, code)
    else:
        assert ok_data(response, status)["user"]["id"] == str(customer.user["_id"])


@pytest.mark.parametrize(
    "claims", [{"sub": None}, {"type": "id"}, {"sub": 42}, {"nbf": 4102444800}]
)
def test_a_token_we_signed_with_odd_claims_is_invalid(client, customer, claims):
    token = customer.headers["Authorization"].split()[1]
    forged = {**claims_of(token), **claims}
    forged = pyjwt.encode(
        {name: value for name, value in forged.items() if value is not None}, SECRET
    )
    assert_error(me(client, forged), 401, "token_invalid")


def test_tampered_signature(client, customer):
    _, headers = customer
    token = headers["Authorization"].split()[1]
    header, payload, signature = token.split(".")
    flipped = ("A" if signature[0] != "A" else "B") + signature[1:]
    assert_error(me(client, f"{header}.{payload}.{flipped}"), 401, "token_invalid")


def test_tampered_payload(client, customer, owner):
    _, headers = customer
    header, payload, signature = headers["Authorization"].split()[1].split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["sub"] = str(owner.user["_id"])
    claims["is_venue_owner"] = True
    assert_error(me(client, f"{header}.{_b64(claims)}.{signature}"), 401, "token_invalid")


def test_wrong_secret(client, customer):
    user, headers = customer
    claims = claims_of(headers["Authorization"].split()[1])
    forged = pyjwt.encode(claims, "another-secret-" + "y" * 32, algorithm="HS256")
    assert_error(me(client, forged), 401, "token_invalid")


def test_alg_none(client, customer):
    _, headers = customer
    claims = claims_of(headers["Authorization"].split()[1])
    unsigned = f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(claims)}."
    assert_error(me(client, unsigned), 401, "token_invalid")


@pytest.mark.parametrize("token", ["garbage", "a.b.c", "a.b"])
def test_garbage_token(client, token):
    assert_error(me(client, token), 401, "token_invalid")


def test_expired_token(client, customer):
    user, _ = customer
    expired = create_access_token(
        str(user["_id"]),
        additional_claims={"email": user["email"], "ver": 0},
        expires_delta=dt.timedelta(seconds=-10),
    )
    assert claims_of_unverified(expired)["exp"] < dt.datetime.now(dt.UTC).timestamp()
    assert_error(me(client, expired), 401, "token_expired")


def claims_of_unverified(token):
    return pyjwt.decode(token, options={"verify_signature": False})


def test_refresh_token_is_not_an_access_token(client, customer):
    issued = login(client, customer.user)
    assert_error(me(client, issued["refresh_token"]), 401, "token_invalid")


def test_access_token_cannot_refresh(client, customer):
    issued = login(client, customer.user)
    response = client.post("/auth/refresh", headers=bearer(issued["access_token"]))
    assert_error(response, 401, "token_invalid")


def test_refresh_gives_a_working_access_token(client, customer):
    user, _ = customer
    issued = login(client, user)
    data = ok_data(client.post("/auth/refresh", headers=bearer(issued["refresh_token"])))
    assert "refresh_token" not in data
    assert data["token_type"] == "Bearer" and data["expires_in"] == 1800
    assert data["user"]["id"] == str(user["_id"])
    claims = claims_of(data["access_token"])
    assert claims["type"] == "access" and claims["sub"] == str(user["_id"])
    assert ok_data(me(client, data["access_token"]))["user"]["id"] == str(user["_id"])


def test_refresh_without_token(client):
    assert_error(client.post("/auth/refresh"), 401, "token_missing")


def test_logout_revokes_the_presented_token_only(client, customer):
    user, _ = customer
    first = login(client, user)
    second = login(client, user)
    response = client.post("/auth/logout", headers=bearer(first["access_token"]))
    assert ok_data(response) == {"message": "Signed out."}
    assert_error(me(client, first["access_token"]), 401, "token_revoked")
    assert ok_data(me(client, second["access_token"]))
    # The refresh token was not presented, so it still works.
    assert ok_data(client.post("/auth/refresh", headers=bearer(first["refresh_token"])))
    jti = claims_of(first["access_token"])["jti"]
    revoked = db.revoked_tokens().find_one({"jti": jti})
    assert revoked["user_id"] == user["_id"]
    exp = claims_of(first["access_token"])["exp"]
    assert revoked["expires_at"] == dt.datetime.fromtimestamp(exp, dt.UTC)
    assert db.users().find_one({"_id": user["_id"]})["token_version"] == 0


def test_logout_revokes_the_refresh_token_in_the_body(client, customer):
    issued = login(client, customer.user)
    response = client.post(
        "/auth/logout",
        json={"refresh_token": issued["refresh_token"]},
        headers=bearer(issued["access_token"]),
    )
    ok_data(response)
    assert_error(
        client.post("/auth/refresh", headers=bearer(issued["refresh_token"])), 401, "token_revoked"
    )
    assert db.revoked_tokens().count_documents({}) == 2


def test_logout_ignores_an_unusable_refresh_token(client, customer):
    issued = login(client, customer.user)
    response = client.post(
        "/auth/logout",
        json={"refresh_token": "not-a-token"},
        headers=bearer(issued["access_token"]),
    )
    ok_data(response)
    assert db.revoked_tokens().count_documents({}) == 1
    assert_error(me(client, issued["access_token"]), 401, "token_revoked")


def test_logout_leaves_another_users_refresh_token_alone(client, customer, owner):
    """Found by the schemathesis chain sign-up -> sign-out: a token of someone else's was
    revoked."""
    mine, theirs = login(client, customer.user), login(client, owner.user)
    response = client.post(
        "/auth/logout",
        json={"refresh_token": theirs["refresh_token"]},
        headers=bearer(mine["access_token"]),
    )
    ok_data(response)
    assert [r["jti"] for r in db.revoked_tokens().find()] == [
        claims_of(mine["access_token"])["jti"]
    ]
    assert ok_data(client.post("/auth/refresh", headers=bearer(theirs["refresh_token"])))


def test_logout_twice_is_refused(client, customer):
    issued = login(client, customer.user)
    ok_data(client.post("/auth/logout", headers=bearer(issued["access_token"])))
    response = client.post("/auth/logout", headers=bearer(issued["access_token"]))
    assert_error(response, 401, "token_revoked")


def test_logout_all_revokes_every_token(client, customer, owner):
    user, _ = customer
    sessions = [login(client, user) for _ in range(3)]
    response = client.post(
        "/auth/logout", json={"all": True}, headers=bearer(sessions[0]["access_token"])
    )
    assert ok_data(response) == {"message": "Signed out everywhere."}
    for session in sessions:
        assert_error(me(client, session["access_token"]), 401, "token_revoked")
        refresh = client.post("/auth/refresh", headers=bearer(session["refresh_token"]))
        assert_error(refresh, 401, "token_revoked")
    assert db.users().find_one({"_id": user["_id"]})["token_version"] == 1
    # Someone else's tokens are untouched, and signing in again works.
    assert ok_data(client.get("/auth/me", headers=owner.headers))
    assert db.users().find_one({"_id": owner.user["_id"]})["token_version"] == 0
    assert ok_data(me(client, login(client, user)["access_token"]))


def test_logout_needs_an_access_token(client, customer):
    issued = login(client, customer.user)
    response = client.post("/auth/logout", headers=bearer(issued["refresh_token"]))
    assert_error(response, 401, "token_invalid")
    assert db.revoked_tokens().count_documents({}) == 0


def test_password_reset_revokes_earlier_tokens(client, customer):
    user, headers = customer
    issued = login(client, user)
    client.post("/auth/forgot-password", json={"email": user["email"]})
    token = db.outbox().find_one({"to": user["email"]})["text"].split("token in the app: ")[1]
    token = token.split()[0]
    response = client.post(
        "/auth/reset-password", json={"token": token, "new_password": "a new password"}
    )
    ok_data(response)
    assert_error(client.get("/auth/me", headers=headers), 401, "token_revoked")
    assert_error(me(client, issued["access_token"]), 401, "token_revoked")
    refresh = client.post("/auth/refresh", headers=bearer(issued["refresh_token"]))
    assert_error(refresh, 401, "token_revoked")


def test_deleted_user_token_is_refused(client, customer):
    user, headers = customer
    db.users().delete_one({"_id": user["_id"]})
    assert_error(client.get("/auth/me", headers=headers), 401, "token_invalid")


def test_token_with_a_malformed_subject_is_refused(client):
    token = create_access_token("not-an-object-id", additional_claims={"ver": 0})
    assert_error(me(client, token), 401, "token_invalid")


def test_revoke_token_string_ignores_foreign_tokens(app, customer):
    foreign = pyjwt.encode({"sub": "x"}, "other-" + "z" * 32, algorithm="HS256")
    tokens.revoke_token_string(foreign, "x")
    assert db.revoked_tokens().count_documents({}) == 0
    payload = decode_token(customer.headers["Authorization"].split()[1])
    assert payload["type"] == "access"


def test_a_token_is_verified_once_until_it_expires(app, client, customer, monkeypatch):
    user, _ = customer
    token = create_access_token(
        str(user["_id"]),
        additional_claims={"email": user["email"], "ver": 0},
        expires_delta=dt.timedelta(seconds=30),
    )
    decodes = []
    real_decode = pyjwt.decode_complete
    monkeypatch.setattr(
        pyjwt, "decode_complete", lambda *a, **k: decodes.append(1) or real_decode(*a, **k)
    )
    assert ok_data(me(client, token))["user"]["email"] == user["email"]
    assert ok_data(me(client, token))["user"]["email"] == user["email"]
    assert len(decodes) == 1  # the second use did not verify it again

    # Another secret: verified afresh, and refused.
    monkeypatch.setitem(app.config, "JWT_SECRET_KEY", "another-secret-" + "x" * 40)
    assert_error(me(client, token), 401, "token_invalid")
    monkeypatch.setitem(app.config, "JWT_SECRET_KEY", SECRET)

    # Past its expiry (on PyJWT's clock and ours): refused, though verified before.
    later = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=60)

    class Later(dt.datetime):
        @classmethod
        def now(cls, tz=None):
            return later if tz else later.replace(tzinfo=None)

    monkeypatch.setattr(pyjwt.api_jwt, "datetime", Later)
    monkeypatch.setattr(tokens.time, "time", lambda: later.timestamp())
    assert_error(me(client, token), 401, "token_expired")
