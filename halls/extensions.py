"""The Flask extensions, created once and bound to an app in create_app."""

from http import HTTPStatus

from apispec import BasePlugin
from flask_cors import CORS
from flask_jwt_extended import JWTManager
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_smorest import Api

from halls.schemas import ErrorEnvelope


def error_responses(*statuses):
    """`responses` for `Blueprint.doc`: these statuses answer with the error envelope."""
    return {str(status): HTTPStatus(status).name for status in statuses}


def follow(*operation_ids, request_body=None, **parameters):
    """Links to each operation (named by its endpoint), giving it these parameters and body
    fields as runtime expressions (schemathesis evaluates those inside `request_body` too)."""
    link = {"parameters": parameters} if parameters else {}
    if request_body:
        link["requestBody"] = request_body
    return {target: {"operationId": target, **link} for target in operation_ids}


def links(status, *follows):
    """`responses` for `Blueprint.doc`: where the `status` answer leads, as `follow` says."""
    # The status as `Blueprint.response` was given it (an int), so the two documents merge.
    return {status: {"links": {name: link for group in follows for name, link in group.items()}}}


class OperationIds(BasePlugin):
    """Name each operation after its Flask endpoint (`bookings.create`), so links can name it."""

    def operation_helper(self, path=None, operations=None, rule=None, **kwargs):
        for operation in (operations or {}).values():
            if rule is not None:
                operation.setdefault("operationId", rule.endpoint)


class ErrorResponses(BasePlugin):
    """Document the errors the app answers around every view, beside those routes list.

    A JSON body can be malformed (400), too large (413) or not JSON (415); a path id can name
    nothing (404); any route but /health's may be rate-limited (429) or meet a database outage
    (503). 401/403 come from the auth decorators, the rest from each route.
    """

    def operation_helper(self, path=None, operations=None, **kwargs):
        for operation in (operations or {}).values():
            statuses = []
            if "requestBody" in operation:
                statuses += [400, 413, 415]
            if "{" in path:
                statuses.append(404)
            if not path.startswith("/health"):
                statuses += [429, 503]
            responses = operation.setdefault("responses", {})
            for status, name in error_responses(*statuses).items():
                responses.setdefault(status, name)


class HallsApi(Api):
    """flask-smorest, documenting our error envelope instead of its own."""

    ERROR_SCHEMA = ErrorEnvelope
    # Each operation lists the error statuses it can answer; a catch-all `default` would make
    # every status look documented.
    DEFAULT_ERROR_RESPONSE_NAME = None

    def __init__(self, app=None, **kwargs):
        kwargs.setdefault("spec_kwargs", {}).setdefault(
            "extra_plugins", [ErrorResponses(), OperationIds()]
        )
        super().__init__(app, **kwargs)


jwt = JWTManager()
limiter = Limiter(key_func=get_remote_address)
cors = CORS()
