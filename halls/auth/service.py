"""Accounts: sign-up, sign-in (password or Google), profile, password reset, sign-out."""

import base64
import datetime as dt
import functools
import hashlib
import secrets
from collections.abc import Mapping
from typing import Any

import bcrypt
from bson import ObjectId
from flask import current_app
from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError

from halls import clock, db, notifications
from halls.auth import google, throttle, tokens
from halls.documents import User
from halls.errors import (
    BadRequest,
    Conflict,
    NotFound,
    ServiceUnavailable,
    Unauthorized,
    Unprocessable,
)

RESET_TTL = dt.timedelta(hours=1)


def hash_password(password: str) -> str:
    """A bcrypt hash of the password, at the configured cost."""
    salt = bcrypt.gensalt(current_app.config["BCRYPT_ROUNDS"])
    return bcrypt.hashpw(_prehash(password), salt).decode()


def check_password(password: str, password_hash: str | None) -> bool:
    """Whether the password matches the hash; spends the same time when there is no hash."""
    if not password_hash:
        password_hash = _dummy_hash(current_app.config["BCRYPT_ROUNDS"])
        bcrypt.checkpw(_prehash(password), password_hash.encode())
        return False
    return bcrypt.checkpw(_prehash(password), password_hash.encode())


def _prehash(password: str) -> bytes:
    # bcrypt reads at most 72 bytes (bcrypt 5 refuses more); passwords may be 128 characters,
    # so bcrypt sees a fixed-length digest of the whole password instead.
    return base64.b64encode(hashlib.sha256(password.encode()).digest())


@functools.cache
def _dummy_hash(rounds: int) -> str:
    return bcrypt.hashpw(b"no such user", bcrypt.gensalt(rounds)).decode()


def create_user(
    full_name: str,
    email: str,
    password: str,
    contact_number: str,
    is_venue_owner: bool,
    *,
    user_id: ObjectId | None = None,
) -> dict[str, Any]:
    """Sign up with a password; 409 `email_taken` when the email has an account.

    `user_id` fixes the new account's id (the demo accounts keep theirs across restarts).
    """
    user = _new_user(
        full_name=full_name,
        email=email,
        password_hash=hash_password(password),
        contact_number=contact_number,
        is_venue_owner=is_venue_owner,
        auth_provider="password",
    )
    if user_id is not None:
        user["_id"] = user_id
    try:
        db.users().insert_one(user)
    except DuplicateKeyError as error:
        raise Conflict("That email already has an account.", error_code="email_taken") from error
    return tokens.issue_tokens(user)


def _signup_role(is_venue_owner: bool | None) -> str:
    return "owner" if is_venue_owner else "customer"


def set_admin(email: str, revoke: bool = False) -> None:
    """Grant the administrator role to the account with this email, or take it back."""
    user = db.users().find_one({"email": email.strip().lower()}, {"is_venue_owner": 1})
    if user is None:
        raise NotFound("No account has that email.", error_code="user_not_found")
    # Revoked, it is the role signup gave. The role is read from the account on every
    # request, so tokens already issued follow it at once.
    role = _signup_role(user.get("is_venue_owner")) if revoke else "admin"
    db.users().update_one({"_id": user["_id"]}, {"$set": {"role": role, "updated_at": clock.now()}})


def _new_user(
    *,
    full_name: str,
    email: str,
    password_hash: str | None,
    contact_number: str,
    is_venue_owner: bool,
    auth_provider: str,
    google_sub: str | None = None,
) -> User:
    now = clock.now()
    user: User = {
        "_id": ObjectId(),
        "full_name": full_name,
        "email": email,
        "password_hash": password_hash,
        "contact_number": contact_number,
        "is_venue_owner": is_venue_owner,
        "auth_provider": auth_provider,
        "role": _signup_role(is_venue_owner),
        "token_version": 0,
        "created_at": now,
        "updated_at": now,
    }
    if google_sub is not None:  # absent otherwise: the unique index on it is sparse
        user["google_sub"] = google_sub
    return user


def log_in(email: str, password: str) -> dict[str, Any]:
    """Sign in with email and password; one 401 for every way it can be wrong, and a 429
    `too_many_attempts` while the account has had too many of them (auth/throttle.py)."""
    attempt = throttle.take_attempt(email)
    user = db.users().find_one({"email": email})
    if not check_password(password, user.get("password_hash") if user else None):
        raise Unauthorized("The email or password is not right.", error_code="invalid_credentials")
    throttle.take_back(attempt)
    return tokens.issue_tokens(user)


def log_in_with_google(
    id_token: str, is_venue_owner: bool, contact_number: str
) -> tuple[dict[str, Any], bool]:
    """Sign in with a Google ID token; returns (tokens, created)."""
    client_id = current_app.config.get("GOOGLE_CLIENT_ID")
    if not client_id:
        raise ServiceUnavailable(
            "Google sign-in is not configured on this server.", error_code="google_not_configured"
        )
    claims = google.verify_google_token(id_token, client_id)
    user = _google_user(claims)
    if user is not None:
        return tokens.issue_tokens(user), False
    user = _new_user(
        full_name=str(claims.get("name") or "")[:100],
        email=claims["email"].strip().lower(),
        password_hash=None,
        contact_number=contact_number,
        is_venue_owner=is_venue_owner,
        auth_provider="google",
        google_sub=claims["sub"],
    )
    try:
        db.users().insert_one(user)
    except DuplicateKeyError as error:
        # A concurrent sign-in (or sign-up) with this email won the insert: use that account.
        linked = _google_user(claims)
        if linked is None:
            raise Conflict(
                "That email belongs to an account linked to another Google identity.",
                error_code="email_taken",
            ) from error
        return tokens.issue_tokens(linked), False
    return tokens.issue_tokens(user), True


def _google_user(claims: Mapping[str, Any]) -> User | None:
    """The account of this Google identity, linking an account with the same email to it."""
    user = db.users().find_one({"google_sub": claims["sub"]})
    if user is not None:
        return user
    # Linking keeps auth_provider (how the account was made). Its password stays only if the
    # account ever proved it owns the mailbox (a password reset). Otherwise anyone could have
    # signed up with this email before its owner: Google proves ownership now, so the unproven
    # password and every session made with it are dropped (pre-account-takeover).
    email = claims["email"].strip().lower()
    link = {"google_sub": claims["sub"], "updated_at": clock.now()}
    proven = db.users().find_one_and_update(
        {"email": email, "google_sub": {"$exists": False}, "email_verified_at": {"$ne": None}},
        {"$set": link},
        return_document=ReturnDocument.AFTER,
    )
    if proven is not None:
        return proven
    return db.users().find_one_and_update(
        {"email": email, "google_sub": {"$exists": False}},
        {
            "$set": {**link, "password_hash": None, "email_verified_at": link["updated_at"]},
            "$inc": {"token_version": 1},
        },
        return_document=ReturnDocument.AFTER,
    )


def update_me(user: User, changes: Mapping[str, Any]) -> dict[str, Any]:
    """Change the profile; a new password needs the current one and revokes earlier tokens."""
    now = clock.now()
    updates = {key: changes[key] for key in ("full_name", "contact_number") if key in changes}
    new_password = changes.get("new_password")
    if new_password is not None:
        if not check_password(changes.get("current_password", ""), user.get("password_hash")):
            raise Unprocessable(
                "The current password is not right.",
                details={"current_password": ["The current password is not right."]},
            )
        updates["password_hash"] = hash_password(new_password)
    elif "current_password" in changes:
        raise Unprocessable(details={"current_password": ["Send it only with new_password."]})
    change: dict[str, dict[str, Any]] = {"$set": {**updates, "updated_at": now}}
    if new_password is not None:
        change["$inc"] = {"token_version": 1}
    updated = db.users().find_one_and_update(
        {"_id": user["_id"]}, change, return_document=ReturnDocument.AFTER
    )
    if updated is None:
        raise Unauthorized("The token's user no longer exists.", error_code="token_invalid")
    return tokens.issue_tokens(updated) if new_password is not None else {"user": updated}


def refresh_access(user: User) -> dict[str, Any]:
    """A new access token for the refresh token's user."""
    return tokens.issue_access_token(user)


def log_out(
    user: User,
    claims: Mapping[str, Any],
    everywhere: bool = False,
    refresh_token: str | None = None,
) -> dict[str, str]:
    """Revoke the presented token, the given refresh token, and with `everywhere` every token."""
    tokens.revoke_token(claims)
    if refresh_token:
        tokens.revoke_token_string(refresh_token, user["_id"])
    if everywhere:
        tokens.revoke_all(user["_id"])
    return {"message": "Signed out everywhere." if everywhere else "Signed out."}


def request_password_reset(email: str) -> dict[str, str]:
    """Mail a one-hour reset token to the account with this email, if there is one."""
    user = db.users().find_one({"email": email})
    if user is not None:
        token = secrets.token_urlsafe(32)
        now = clock.now()
        db.password_resets().insert_one(
            {
                "user_id": user["_id"],
                "token_hash": _token_hash(token),
                "expires_at": now + RESET_TTL,
                "created_at": now,
                "used_at": None,
            }
        )
        notifications.password_reset(user, token)
    return {"message": "If that email has an account, a reset link is on its way."}


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def reset_password(token: str, new_password: str) -> dict[str, str]:
    """Set a new password with a reset token; the token works once and earlier tokens die."""
    password_hash = hash_password(new_password)
    now = clock.now()
    # Expiry is checked here, not left to the TTL index: a server deletes expired documents
    # only about once a minute.
    reset = db.password_resets().find_one_and_update(
        {"token_hash": _token_hash(token), "used_at": None, "expires_at": {"$gt": now}},
        {"$set": {"used_at": now}},
    )
    if reset is None:
        raise BadRequest(
            "The reset token is unknown, expired or already used.",
            error_code="invalid_reset_token",
        )
    user = db.users().find_one_and_update(
        {"_id": reset["user_id"]},
        # Using the mailed token proves the account owns its mailbox.
        {"$set": {"password_hash": password_hash, "updated_at": now, "email_verified_at": now}},
        {"email": 1},
    )
    if user is None:
        raise BadRequest("The reset token's account is gone.", error_code="invalid_reset_token")
    tokens.revoke_all(reset["user_id"])
    # The mailbox's owner may sign in at once, even after a run of wrong passwords.
    throttle.forget(user["email"])
    # Any other reset link still in a mailbox is now stale.
    db.password_resets().update_many(
        {"user_id": reset["user_id"], "used_at": None}, {"$set": {"used_at": now}}
    )
    return {"message": "Your password has been reset; sign in with the new one."}
