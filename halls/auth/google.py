"""Verifying Google ID tokens with google-auth, against Google's published certificates."""

import logging

from google.auth import exceptions as google_exceptions
from google.auth.transport import requests as google_requests
from google.oauth2 import id_token

from halls.errors import ServiceUnavailable, Unauthorized

log = logging.getLogger("halls.auth.google")


def transport():
    """The HTTP transport google-auth fetches the certificates with (tests swap it)."""
    return google_requests.Request()


def verify_google_token(token, client_id):
    """The claims of a valid ID token for our client id with a verified email, else 401."""
    try:
        claims = id_token.verify_oauth2_token(token, transport(), audience=client_id)
    except google_exceptions.TransportError as error:
        log.warning("could not fetch Google's certificates: %s", error)
        raise ServiceUnavailable(
            "Google sign-in is unavailable right now; try again shortly.",
            error_code="google_unavailable",
        ) from error
    except (ValueError, google_exceptions.GoogleAuthError) as error:
        raise _invalid() from error
    if claims.get("email_verified") is not True or not claims.get("email") or not claims.get("sub"):
        raise _invalid()
    return claims


def _invalid():
    return Unauthorized("The Google ID token is not valid.", error_code="invalid_google_token")
