"""POST /auth/forgot-password and /auth/reset-password: a one-time token by mail."""

import datetime as dt
import hashlib
import logging
import re

import pytest

from halls import db
from tests.auth.helpers import login
from tests.helpers import assert_error, ok_data


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
    ok_data(forgot(client, customer.user["email"]))
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
    ok_data(login(client, customer.user["email"]))


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
    ok_data(forgot(client, customer.user["email"]))
    error = assert_error(client.post("/auth/reset-password", json=body), 422, "validation_failed")
    assert field in error["details"]
    assert db.password_resets().find_one()["used_at"] is None


def test_google_only_user_can_set_a_password_by_reset(client, make_user):
    user, _ = make_user(password_hash=None, auth_provider="google", google_sub="g-2")
    ok_data(forgot(client, user["email"]))
    ok_data(reset(client, reset_token_of(user["email"])))
    ok_data(login(client, user["email"], "a fresh password"))
    assert db.users().find_one({"_id": user["_id"]})["auth_provider"] == "google"
