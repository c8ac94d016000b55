"""The ApiError family and the handlers that render every failure in one envelope."""

import logging

from flask import jsonify, request
from marshmallow import ValidationError
from pymongo.errors import ConnectionFailure, DuplicateKeyError, PyMongoError
from werkzeug.exceptions import HTTPException

log = logging.getLogger("halls.errors")


class ApiError(HTTPException):
    """A failure the client can act on: a status, a stable code and a readable sentence.

    `details` holds field messages only, `{"field": ["message"]}` (nested for the fields of a
    nested object), so a form can put each message by its field; anything else a program may
    use (the taken slots, the known slot keys, a fresh quote, a balance) goes in `context`.
    """

    code = 400
    error_code = "bad_request"
    message = "The request could not be processed."

    def __init__(self, message=None, *, error_code=None, details=None, context=None, headers=None):
        super().__init__(description=message or self.message)
        self.error_code = error_code or self.error_code
        self.details = details or {}
        self.context = context or {}
        self.extra_headers = headers or {}


class BadRequest(ApiError):
    code, error_code = 400, "bad_request"


class Unauthorized(ApiError):
    code, error_code = 401, "unauthorized"
    message = "Authentication is required."


class Forbidden(ApiError):
    code, error_code = 403, "forbidden"
    message = "You may not do this."


class NotFound(ApiError):
    code, error_code = 404, "not_found"
    message = "Nothing was found here."


class Conflict(ApiError):
    code, error_code = 409, "conflict"
    message = "The request conflicts with the current state."


class Unprocessable(ApiError):
    code, error_code = 422, "validation_failed"
    message = "Some fields are invalid."


class TooManyRequests(ApiError):
    code, error_code = 429, "rate_limited"
    message = "Too many requests; slow down and try again later."


class ServiceUnavailable(ApiError):
    code, error_code = 503, "service_unavailable"
    message = "The service is unavailable; try again shortly."


# Codes for werkzeug's own exceptions (unknown route, wrong method, body too large, ...).
HTTP_CODES = {
    400: ("bad_request", "The request could not be understood."),
    404: ("route_not_found", "There is no such endpoint."),
    405: ("method_not_allowed", "This endpoint does not accept that method."),
    413: ("payload_too_large", "The request body is larger than 1 MB."),
    415: ("unsupported_media_type", "Send the body as application/json."),
    416: ("range_not_satisfiable", "The requested range of the file is not in it."),
    429: ("rate_limited", "Too many requests; slow down and try again later."),
    500: ("internal_error", "Something went wrong on our side."),
}
# Any other HTTP error werkzeug might raise: one code, so a client's switch stays closed.
OTHER_HTTP_CODE = "http_error"

# Every code an error answer can carry: the document's enum of `error.code`, which mobile
# clients generate a closed type from. A code raised anywhere must be listed here
# (tests/test_openapi_sdk.py reads the source for codes missing from it).
ERROR_CODES = (
    # the request itself
    "bad_request",
    "malformed_json",
    "validation_failed",
    "route_not_found",
    "method_not_allowed",
    "payload_too_large",
    "unsupported_media_type",
    "range_not_satisfiable",
    "rate_limited",
    "too_many_attempts",
    "http_error",
    # who is asking
    "unauthorized",
    "token_missing",
    "token_invalid",
    "token_expired",
    "token_revoked",
    "invalid_credentials",
    "invalid_google_token",
    "invalid_reset_token",
    "forbidden",
    "owner_required",
    "admin_required",
    "not_venue_owner",
    # what is not there
    "not_found",
    "user_not_found",
    "venue_not_found",
    "booking_not_found",
    "blackout_not_found",
    "addon_not_found",
    "calendar_not_found",
    # what the current state refuses
    "conflict",
    "email_taken",
    "addon_exists",
    "too_many_addons",
    "slot_taken",
    "unknown_slot",
    "date_unavailable",
    "outside_booking_window",
    "blacked_out",
    "too_late_to_book",
    "venue_inactive",
    "booking_in_past",
    "booking_changed",
    "hold_expired",
    "invalid_transition",
    "reschedule_too_late",
    "no_price_for_date",
    "price_changed",
    "insufficient_funds",
    "already_blacked_out",
    "blackout_conflicts_bookings",
    "too_many_blackouts",
    "date_in_use",
    "slot_in_use",
    "venue_has_bookings",
    "idempotency_in_progress",
    "idempotency_key_reused",
    "too_many_holds",
    "move_costs_more",
    "customer_must_accept",
    # the server and what it depends on
    "internal_error",
    "service_unavailable",
    "database_unavailable",
    "wallet_busy",
    "google_unavailable",
    "google_not_configured",
    "uploads_not_configured",
)


def envelope_error(status, code, message, details=None, headers=None, context=None):
    """The one error body: {"ok": false, "error": {"code", "message", "details", "context"}}:
    field messages in `details`, whatever else the error tells in `context` (see ApiError)."""
    error = {"code": code, "message": message, "details": details or {}, "context": context or {}}
    body = {"ok": False, "error": error}
    response = jsonify(body)
    response.status_code = status
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def render_http_exception(error):
    """Render ApiError and werkzeug/webargs HTTP exceptions in the envelope."""
    if isinstance(error, ApiError):
        return envelope_error(
            error.code,
            error.error_code,
            error.description,
            error.details,
            error.extra_headers,
            error.context,
        )
    data = getattr(error, "data", None) or {}
    messages = data.get("messages")
    headers = dict(data.get("headers") or {})
    if error.code == 429:
        headers.update(_retry_after(error))
    if messages is not None and error.code == 400:
        return envelope_error(400, "malformed_json", "The request body is not valid JSON.", {})
    if messages is not None:
        details = _flatten_locations(messages)
        return envelope_error(
            422, "validation_failed", "Some fields are invalid.", details, headers
        )
    code, message = HTTP_CODES.get(error.code, (OTHER_HTTP_CODE, error.description))
    return envelope_error(error.code, code, message, {}, headers)


def _retry_after(error):
    retry_after = getattr(error, "retry_after", None)
    limit = getattr(error, "limit", None)
    if retry_after is None and limit is not None:
        retry_after = limit.limit.get_expiry()
    return {"Retry-After": str(int(retry_after))} if retry_after is not None else {}


def _flatten_locations(messages):
    """webargs nests messages by location ({"json": {...}}); a client wants the fields."""
    if isinstance(messages, dict) and len(messages) == 1:
        (only,) = messages.values()
        if isinstance(only, dict):
            return only
    return messages


def handle_validation_error(error):
    """A marshmallow ValidationError raised by a service: 422 with field messages."""
    details = error.normalized_messages()  # {"_schema": [...]} for one that names no field
    return envelope_error(422, "validation_failed", "Some fields are invalid.", details)


def handle_duplicate_key(error):
    """A unique index refused a write that no service expected to collide."""
    log.warning("unexpected duplicate key: %s", error)
    return envelope_error(409, "conflict", "That conflicts with an existing record.")


def handle_database_down(error):
    """The database is unreachable: say so, keep the process alive."""
    log.error("database unavailable: %s", error)
    return envelope_error(
        503, "database_unavailable", "The database is unavailable; try again shortly."
    )


def handle_unexpected(error):
    """Anything else: log it with its trace, show a generic 500 with no detail."""
    from halls.observability import request_id

    log.error("unhandled error", exc_info=error, extra={"fields": {"request_id": request_id()}})
    code, message = HTTP_CODES[500]
    return envelope_error(500, code, message)


def require_json_body():
    """A body must be JSON: webargs would read any other body as {} and blame missing fields."""
    if request.content_length and not request.is_json:
        code, message = HTTP_CODES[415]
        return envelope_error(415, code, message)
    return None


def register(app):
    """Install the handlers; called after flask-smorest registered its own."""
    app.before_request(require_json_body)
    app.register_error_handler(HTTPException, render_http_exception)
    app.register_error_handler(ValidationError, handle_validation_error)
    app.register_error_handler(DuplicateKeyError, handle_duplicate_key)
    app.register_error_handler(ConnectionFailure, handle_database_down)
    app.register_error_handler(PyMongoError, _pymongo_error)
    app.register_error_handler(RecursionError, handle_too_deep)
    app.register_error_handler(Exception, handle_unexpected)


def handle_too_deep(error):
    """JSON nested deeper than the parser recurses (`[[[[...]]]]`): the client's fault."""
    from flask import request

    if request.is_json and request.content_length:
        return envelope_error(
            400, "malformed_json", "The request body is nested too deeply to read."
        )
    return handle_unexpected(error)


def _pymongo_error(error):
    # ServerSelectionTimeoutError and AutoReconnect are ConnectionFailures; other
    # driver errors that carry timeout=True (socket timeouts) mean the same to a client.
    if getattr(error, "timeout", False):
        return handle_database_down(error)
    return handle_unexpected(error)
