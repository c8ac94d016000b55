"""JWTs: issuing, revoking, and the decorators that guard routes.

A token is refused when its jti is on the blocklist (logout) or when its `ver` claim is older
than the user's `token_version` (logout everywhere, password reset): one counter on the user
revokes every token issued before it moved, with no list to keep.

flask-jwt-extended issues the tokens and answers every refusal (its error handlers call the
loaders at the end of this module); `auth_required` checks the bearer token of the
`Authorization` header itself (halls reads tokens from that header only), with the same rules
and exceptions as its `jwt_required` but one decode of the token instead of four.
"""

import datetime as dt
import functools
import re
import time

import jwt as pyjwt
from flask import current_app, g, request
from flask_jwt_extended import create_access_token, create_refresh_token, decode_token
from flask_jwt_extended.exceptions import (
    InvalidHeaderError,
    JWTDecodeError,
    NoAuthorizationError,
    RevokedTokenError,
    UserLookupError,
    WrongTokenError,
)
from flask_smorest import Blueprint

from halls import clock, db
from halls.errors import Forbidden, envelope_error
from halls.extensions import error_responses, jwt
from halls.schemas import object_id

BEARER: list[dict[str, list[str]]] = [{"bearerAuth": []}]


def init_app(app):
    """Bind the JWT manager to the app; HS256 with the configured secret."""
    app.config.setdefault("JWT_ALGORITHM", "HS256")
    app.config["JWT_DECODE_ALGORITHMS"] = ["HS256"]
    if app.config.get("JWT_TOKEN_LOCATION", "headers") in ("headers", ["headers"]):
        # A bearer header is never sent by a browser on its own: no CSRF value to carry, and
        # every request checks each character of its token, so a shorter one is cheaper.
        app.config.setdefault("JWT_COOKIE_CSRF_PROTECT", False)
    jwt.init_app(app)


def role_of(user):
    """The role a user acts in: admin when granted, else owner or customer."""
    if user.get("role") == "admin":
        return "admin"
    return "owner" if user.get("is_venue_owner") else "customer"


def issue_tokens(user):
    """An access and a refresh token for `user`, in the token-response shape."""
    identity = str(user["_id"])
    claims = {
        "email": user["email"],
        "is_venue_owner": bool(user.get("is_venue_owner")),
        "role": role_of(user),
        "ver": user.get("token_version", 0),
    }
    return {
        "user": user,
        "access_token": create_access_token(identity, additional_claims=claims),
        "refresh_token": create_refresh_token(identity, additional_claims=claims),
        "token_type": "Bearer",
        "expires_in": int(_seconds(current_app.config["JWT_ACCESS_TOKEN_EXPIRES"])),
    }


def issue_access_token(user):
    """A fresh access token for the refresh flow."""
    tokens = issue_tokens(user)
    del tokens["refresh_token"]
    return tokens


def _seconds(ttl):
    return ttl.total_seconds() if isinstance(ttl, dt.timedelta) else ttl


def revoke_token(payload):
    """Put one token on the blocklist until it would have expired anyway."""
    expires_at = dt.datetime.fromtimestamp(payload["exp"], dt.UTC)
    db.revoked_tokens().update_one(
        {"jti": payload["jti"]},
        {
            "$setOnInsert": {
                "jti": payload["jti"],
                "user_id": object_id(payload["sub"]),
                "expires_at": expires_at,
                "revoked_at": clock.now(),
            }
        },
        upsert=True,
    )


def revoke_token_string(encoded, user_id):
    """Revoke an encoded token if it is ours, still valid and the user's; ignore anything else
    (nobody signs another user out)."""
    try:
        payload = decode_token(encoded)
    except Exception:  # noqa: BLE001 - an undecodable token needs no revoking
        return
    if payload["sub"] == str(user_id):
        revoke_token(payload)


def revoke_all(user_id):
    """Invalidate every token issued to the user so far."""
    db.users().update_one({"_id": user_id}, {"$inc": {"token_version": 1}})


def current_user():
    """The user document behind the request's access token."""
    return g.auth_user


def current_claims():
    """The decoded claims of the request's token."""
    return g.auth_claims


def auth_required(fn=None, *, refresh=False):
    """Require a valid, unrevoked token (access by default) and document the bearer scheme."""

    def decorate(view):
        @functools.wraps(view)
        def guarded(*args, **kwargs):
            g.auth_user, g.auth_claims = _verified(refresh)
            return view(*args, **kwargs)

        return Blueprint.doc(security=BEARER, responses=error_responses(401))(guarded)

    return decorate(fn) if fn is not None else decorate


def _verified(refresh):
    """The user and claims of the request's bearer token; raises what jwt_required raises.

    jwt_required reads a token unverified twice (to choose a key and an algorithm: we have one
    of each) and once more for its header, and PyJWT checks every character of it in Python
    each time: a quarter of an authenticated request's time. One verified decode tells all.
    """
    encoded = _bearer_token()
    config = current_app.config
    leeway = config.get("JWT_DECODE_LEEWAY", 0)
    algorithms = tuple(config["JWT_DECODE_ALGORITHMS"])
    try:
        header, payload = _decoded(encoded, config["JWT_SECRET_KEY"], algorithms, leeway)
    except pyjwt.ExpiredSignatureError as error:
        # Signed by us, only too old: its handler shows the expired token to our loader.
        error.jwt_header = pyjwt.get_unverified_header(encoded)
        error.jwt_data = pyjwt.decode(encoded, options={"verify_signature": False})
        raise
    header, payload = dict(header), dict(payload)  # the caller's own copies
    if "sub" not in payload:
        raise JWTDecodeError("Missing claim: sub")
    for claim, default in (("type", "access"), ("jti", None)):
        payload.setdefault(claim, default)
    wanted = "refresh" if refresh else "access"
    if payload["type"] != wanted:
        raise WrongTokenError(f"Only {wanted} tokens are allowed")
    return _user_of(header, payload), payload


def _decoded(encoded, secret, algorithms, leeway):
    """(header, payload) of a token PyJWT verifies with this secret; a token verified before
    is not verified again while it has not expired (the signature cannot have changed, and
    its not-before and issued-at times only grow older). Expiry is checked on every use:
    when it may have passed, PyJWT decides again. Refused tokens are never remembered."""
    header, payload = _verified_once(encoded, secret, algorithms, leeway)
    expires = payload.get("exp")
    seconds = leeway.total_seconds() if isinstance(leeway, dt.timedelta) else leeway
    if expires is not None and int(expires) <= time.time() - seconds:
        # PyJWT's own test (_validate_exp), on PyJWT's clock, not halls.clock: the one that
        # decides must be the one asked. It decides again, and raises
        # ExpiredSignatureError.
        return _verify(encoded, secret, algorithms, leeway)
    return header, payload


def _verify(encoded, secret, algorithms, leeway):
    token = pyjwt.decode_complete(encoded, secret, algorithms=list(algorithms), leeway=leeway)
    return token["header"], token["payload"]


_verified_once = functools.lru_cache(maxsize=1024)(_verify)


def _bearer_token():
    """The token of `Authorization: Bearer <token>`, read as flask-jwt-extended reads it."""
    field = request.headers.get("Authorization", "").strip().strip(",")
    if not field:
        raise NoAuthorizationError("Missing Authorization Header")
    # A blank piece (", ,") has no scheme at all: split()[:1] is [] for it, never an error.
    bearers = [value for value in re.split(r",\s*", field) if value.split()[:1] == ["Bearer"]]
    if len(bearers) != 1:
        raise NoAuthorizationError(
            "Missing 'Bearer' type in 'Authorization' header. "
            "Expected 'Authorization: Bearer <JWT>'"
        )
    parts = bearers[0].split()
    if len(parts) != 2:
        raise InvalidHeaderError("Bad Authorization header. Expected 'Authorization: Bearer <JWT>'")
    return parts[1]


def _user_of(header, payload):
    """The token's user; refused when revoked (blocklist or token_version) or when gone."""
    user_id = object_id(payload["sub"])
    user = db.users().find_one({"_id": user_id}) if user_id else None
    if user is None:
        raise UserLookupError(f"No user for {payload['sub']}", header, payload)
    if (
        payload.get("ver", 0) != user.get("token_version", 0)
        or db.revoked_tokens().find_one({"jti": payload["jti"]}, {"_id": 1}) is not None
    ):
        raise RevokedTokenError(header, payload)
    g.user_id = str(user["_id"])  # for the request log line
    return user


def owner_required(view):
    """Require an access token of a venue owner (403 `owner_required` otherwise)."""

    @functools.wraps(view)
    def guarded(*args, **kwargs):
        if not current_user().get("is_venue_owner"):
            raise Forbidden("Only venue owners may do this.", error_code="owner_required")
        return view(*args, **kwargs)

    return Blueprint.doc(responses=error_responses(403))(auth_required(guarded))


def admin_required(view):
    """Require an access token of an admin (403 `admin_required` otherwise)."""

    @functools.wraps(view)
    def guarded(*args, **kwargs):
        if role_of(current_user()) != "admin":
            raise Forbidden("Only an administrator may do this.", error_code="admin_required")
        return view(*args, **kwargs)

    return Blueprint.doc(responses=error_responses(403))(auth_required(guarded))


def _unauthorized(code, message):
    return envelope_error(401, code, message)


@jwt.unauthorized_loader
def _missing(reason):
    return _unauthorized("token_missing", "Send a bearer token in the Authorization header.")


@jwt.invalid_token_loader
def _invalid(reason):
    return _unauthorized("token_invalid", "The token is not valid.")


@jwt.expired_token_loader
def _expired(header, payload):
    return _unauthorized("token_expired", "The token has expired; refresh it or sign in again.")


@jwt.revoked_token_loader
def _revoked(header, payload):
    return _unauthorized("token_revoked", "The token has been revoked; sign in again.")


@jwt.user_lookup_error_loader
def _user_gone(header, payload):
    return _unauthorized("token_invalid", "The token's user no longer exists.")
