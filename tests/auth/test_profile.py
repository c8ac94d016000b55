"""GET and PATCH /auth/me: the caller's own account, password changes included."""

import pytest

from halls import db
from tests.auth.helpers import USER_FIELDS, login
from tests.helpers import PASSWORD, assert_error, bearer, ok_data


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
    assert db.users().find_one({"_id": owner.user["_id"]})["full_name"] == "Olivia Owner"
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
