"""The Flask extensions, created once and bound to an app in create_app."""

from http import HTTPStatus

from apispec import BasePlugin
from apispec.ext.marshmallow import MarshmallowPlugin, OpenAPIConverter
from flask_cors import CORS
from flask_jwt_extended import JWTManager
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_smorest import Api
from marshmallow import fields

from halls.errors import OTHER_HTTP_CODE
from halls.schemas import GEO_SHAPES, ErrorEnvelope, StrictSchema


def error_responses(*statuses):
    """`responses` for `Blueprint.doc`: these statuses answer with the error envelope."""
    return {str(status): HTTPStatus(status).name for status in statuses}


# Where a link keeps the body fields it fills. OpenAPI 3.0 allows a link's requestBody to be
# an object, but generators (openapi-generator's parser) accept only a string there, which
# cannot fill single fields; an extension keeps the document valid for all of them.
# tests/test_schemathesis.py hands these to schemathesis as requestBody.
LINK_BODY = "x-request-body"


def follow(*operation_ids, request_body=None, **parameters):
    """Links to each operation (named by its endpoint), giving it these parameters and body
    fields as runtime expressions."""
    link = {"parameters": parameters} if parameters else {}
    if request_body:
        given = ", ".join(f"`{name}`" for name in request_body)
        link["description"] = f"Send {given} in the body as the expression says."
        link[LINK_BODY] = request_body
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


class PathParameters(BasePlugin):
    """A path parameter, documented by name: an id is 24 hex digits; each has its example."""

    def __init__(self, examples):
        self.examples = examples

    def path_helper(self, path=None, operations=None, parameters=None, **kwargs):
        for parameter in parameters or []:
            if isinstance(parameter, dict) and parameter.get("in") == "path":
                name = parameter["name"]
                if name.endswith("_id"):
                    parameter["schema"] = {"type": "string", "pattern": "^[0-9a-fA-F]{24}$"}
                parameter["example"] = self.examples[name]


class ErrorResponses(BasePlugin):
    """Document the errors the app answers around every view, beside those routes list.

    A JSON body can be malformed (400), too large (413) or not JSON (415); a path id can name
    nothing (404); any route but /health's may be rate-limited (429) or meet a database outage
    (503); anything may fail unexpectedly (500). 401/403 come from the auth decorators, the
    rest from each route.
    """

    def operation_helper(self, path=None, operations=None, **kwargs):
        for operation in (operations or {}).values():
            statuses = [500]
            if "requestBody" in operation:
                statuses += [400, 413, 415]
            if "{" in path:
                statuses.append(404)
            if not path.startswith("/health"):
                statuses += [429, 503]
            responses = operation.setdefault("responses", {})
            for status, name in error_responses(*statuses).items():
                responses.setdefault(status, name)


class HallsConverter(OpenAPIConverter):
    """apispec's marshmallow converter, reading our schemas as StrictSchema says: an In
    schema refuses extra fields; an Out schema (an answer) allows them, and every field of it
    is always sent unless its metadata says `optional`."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.add_attribute_function(dict_size)

    def schema2jsonschema(self, schema):
        jsonschema = super().schema2jsonschema(schema)
        if isinstance(schema, type):
            schema = schema()
        if not isinstance(schema, StrictSchema):
            jsonschema.pop("additionalProperties", None)
            names = (
                field.data_key or name
                for name, field in schema.fields.items()
                if not field.load_only and not field.metadata.get("optional")
            )
            jsonschema["required"] = sorted(set(jsonschema.get("required", [])) | set(names))
        return jsonschema


def dict_size(self, field, ret, **kwargs):
    """A Dict field's Length is how many keys it may have: maxProperties, not maxLength."""
    if not isinstance(field, fields.Dict):
        return {}
    sizes = {}
    for length, properties in (("minLength", "minProperties"), ("maxLength", "maxProperties")):
        if length in ret:
            sizes[properties] = ret.pop(length)
    return sizes


class HallsMarshmallowPlugin(MarshmallowPlugin):
    Converter = HallsConverter


# Headers some answers carry, documented once.
HEADERS = {
    "RetryAfter": {
        "description": "Seconds to wait before trying again.",
        "schema": {"type": "integer", "minimum": 0, "example": 30},
    },
}

# An example error envelope for each documented error status: (code, message, the field
# messages in details, what else the error tells in context).
ERROR_EXAMPLES = {
    400: ("malformed_json", "The request body is not valid JSON.", {}, {}),
    401: ("token_missing", "Send a bearer token in the Authorization header.", {}, {}),
    403: ("not_venue_owner", "This venue belongs to another owner.", {}, {}),
    404: ("venue_not_found", "No venue has that id.", {}, {}),
    409: (
        "slot_taken",
        "That slot is already booked.",
        {},
        {"date": "2025-12-20", "slots": ["dinner"]},
    ),
    413: ("payload_too_large", "The request body is larger than 1 MB.", {}, {}),
    415: ("unsupported_media_type", "Send the body as application/json.", {}, {}),
    422: (
        "validation_failed",
        "Choose slots the venue has.",
        {"slots": ["No such slot: brunch. Choose from: lunch, dinner."]},
        {"known_slots": ["lunch", "dinner"]},
    ),
    429: ("rate_limited", "Too many requests; slow down and try again later.", {}, {}),
    500: ("internal_error", "Something went wrong on our side.", {}, {}),
    503: ("database_unavailable", "The database is unavailable; try again shortly.", {}, {}),
}


class HallsApi(Api):
    """flask-smorest, documenting our error envelope instead of its own, and our schemas as
    HallsConverter reads them."""

    ERROR_SCHEMA = ErrorEnvelope
    # Each operation lists the error statuses it can answer; a catch-all `default` would make
    # every status look documented.
    DEFAULT_ERROR_RESPONSE_NAME = None

    def __init__(self, app=None, *, path_examples, **kwargs):
        """`path_examples`: an example value for each path parameter, by name."""
        spec_kwargs = kwargs.setdefault("spec_kwargs", {})
        spec_kwargs.setdefault("marshmallow_plugin", HallsMarshmallowPlugin())
        plugins = [ErrorResponses(), OperationIds(), PathParameters(path_examples)]
        spec_kwargs.setdefault("extra_plugins", plugins)
        super().__init__(app, **kwargs)

    def _init_spec(self, **kwargs):
        super()._init_spec(**kwargs)
        for name, schema in GEO_SHAPES.items():
            self.spec.components.schema(name, schema)
        for name, header in HEADERS.items():
            self.spec.components.header(name, header)

    def _register_pagination_header(self):
        """Nothing: pages are in the envelope, not in flask-smorest's pagination header."""

    def _register_responses(self):
        """One error response per status, with an example, as flask-smorest would register
        it; a 429 says how long to wait."""
        for status in HTTPStatus:
            if status < 400:
                continue
            example = ERROR_EXAMPLES.get(status, (OTHER_HTTP_CODE, "", {}, {}))
            code, message, details, context = example
            message = message or status.phrase + "."
            error = {"code": code, "message": message, "details": details, "context": context}
            response = {
                "description": status.phrase,
                "content": {
                    "application/json": {
                        "schema": self.ERROR_SCHEMA,
                        "example": {"ok": False, "error": error},
                    }
                },
            }
            if status == 429:
                response["headers"] = {"Retry-After": {"$ref": "#/components/headers/RetryAfter"}}
            self.spec.components.response(status.name, response, lazy=True)


jwt = JWTManager()
limiter = Limiter(key_func=get_remote_address)
cors = CORS()
