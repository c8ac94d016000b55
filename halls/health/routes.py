"""Liveness and readiness."""

from flask_smorest import Blueprint
from marshmallow import Schema, fields

from halls import db
from halls.errors import ServiceUnavailable
from halls.extensions import error_responses, limiter
from halls.schemas import envelope

blp = Blueprint("health", __name__, url_prefix="/health", description="Liveness and readiness")


class StatusOut(Schema):
    status = fields.String(required=True, metadata={"example": "up"})


@blp.route("")
@limiter.exempt
@blp.response(200, envelope(StatusOut), example={"ok": True, "data": {"status": "up"}})
def up():
    """The process is up; touches nothing else.

    For a liveness probe: never rate-limited.
    """
    return {"status": "up"}


@blp.route("/ready")
@limiter.exempt
@blp.response(200, envelope(StatusOut), example={"ok": True, "data": {"status": "ready"}})
@blp.doc(responses=error_responses(503))
def ready():
    """The database answers a ping (503 `database_unavailable` otherwise).

    For a readiness probe: never rate-limited.
    """
    try:
        db.ping()
    except Exception as error:  # noqa: BLE001 - any failure to ping means not ready
        raise ServiceUnavailable(
            "The database is unavailable.", error_code="database_unavailable"
        ) from error
    return {"status": "ready"}
