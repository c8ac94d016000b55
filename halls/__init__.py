"""halls: a REST API for booking event venues."""

import logging
import time

from flask import Flask
from flask.json.provider import DefaultJSONProvider
from pymongo.errors import ConnectionFailure
from werkzeug.middleware.proxy_fix import ProxyFix

from halls import apidocs, db, errors, observability
from halls import config as settings
from halls.extensions import HallsApi, cors, limiter

log = logging.getLogger("halls")

API_SPEC = {
    "API_TITLE": "halls",
    "API_VERSION": "1.0",
    "OPENAPI_VERSION": "3.0.3",
    "OPENAPI_URL_PREFIX": "/",
    "OPENAPI_JSON_PATH": "openapi.json",
    "OPENAPI_SWAGGER_UI_PATH": "/docs",
    # Swagger UI's page loads its files from halls itself (halls/apidocs.py, which serves
    # /redoc too): it works offline, and asks no validator on another host.
    "OPENAPI_SWAGGER_UI_URL": apidocs.SWAGGER_UI_URL,
    "OPENAPI_SWAGGER_UI_CONFIG": {"validatorUrl": None},
    "API_SPEC_OPTIONS": {
        "info": {
            "description": (
                "Book event venues. Every response is an envelope: "
                '`{"ok": true, "data": ...}` or `{"ok": false, "error": {"code", "message", '
                '"details", "context"}}`: field messages in `details`, anything else in '
                "`context`. Money is integer PKR; dates are YYYY-MM-DD in the venue's time "
                "zone; timestamps are UTC ISO-8601."
            )
        },
        "components": {
            "securitySchemes": {
                "bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
            }
        },
    },
}


class JSONProvider(DefaultJSONProvider):
    """Flask's JSON, keys in the order the schemas give them, without the encoder's check for
    circular references: every answer is a tree of plain values that a schema or the error
    envelope built (a cycle would still fail, as a RecursionError: a logged 500), and the
    check (an id() lookup and insert for every dict and list) was about 1 % of a search."""

    sort_keys = False

    def dumps(self, obj, **kwargs):
        kwargs.setdefault("check_circular", False)
        return super().dumps(obj, **kwargs)


def create_app(config=None):
    """Build the app: settings, database, extensions, blueprints, error handlers."""
    app = Flask(__name__)
    app.json = JSONProvider(app)
    app.config.update(settings.from_env())
    app.config.update(API_SPEC)
    app.config.update(
        JWT_ERROR_MESSAGE_KEY="message",
        RATELIMIT_HEADERS_ENABLED=True,
        RATELIMIT_STORAGE_URI=app.config["RATELIMIT_STORAGE_URI"],
    )
    app.config.update(config or {})
    settings.check(app.config)
    observability.configure_logging()

    if app.config["PROXY_COUNT"]:
        count = app.config["PROXY_COUNT"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=count, x_proto=count, x_host=count)

    app.extensions["halls_db"] = app.config.get("DATABASE") or db.connect(app.config)
    observability.init_app(app)
    api = _init_extensions(app)
    _register_blueprints(app, api)
    apidocs.init_app(app)
    errors.register(app)
    _register_commands(app)

    with app.app_context():
        if _ensure_indexes(app) and app.config["HALLS_DEMO_DATA"]:
            from halls import demo

            demo.seed_if_empty()
    return app


def _ensure_indexes(app):
    """Create the indexes now, or, with the database down, on a later request once it is up.

    A worker that cannot reach the database still starts: /health answers, every other
    endpoint answers 503 until the database returns, and then the indexes are made.
    """
    try:
        db.create_indexes(db.database())
        return True
    except ConnectionFailure as error:
        log.warning("database unreachable at start-up; indexes will be created later: %s", error)

    state = {"next_try": 0.0}

    @app.before_request
    def _retry_indexes():
        if state.get("done") or time.monotonic() < state["next_try"]:
            return
        state["next_try"] = time.monotonic() + 10
        try:
            db.create_indexes(db.database())
        except ConnectionFailure:
            return  # the request itself will meet the outage and answer 503
        state["done"] = True
        log.info("database reachable again; indexes ensured")

    return False


def _init_extensions(app):
    from halls import examples
    from halls.auth import tokens

    # One Api per app: flask-smorest keeps the app's OpenAPI document on it.
    api = HallsApi(app, path_examples=examples.PATH_PARAMETERS)
    tokens.init_app(app)
    limiter.init_app(app)
    origins = [o.strip() for o in app.config["CORS_ORIGINS"].split(",") if o.strip()]
    cors.init_app(
        app,
        origins=origins or "*",
        expose_headers=[
            "Retry-After",
            "X-Request-ID",
            "Idempotent-Replayed",
            "X-RateLimit-Limit",
            "X-RateLimit-Remaining",
            "X-RateLimit-Reset",
        ],
    )
    return api


def _register_blueprints(app, api):
    from halls.addons.routes import blp as addons
    from halls.auth.pages import blp as auth_pages
    from halls.auth.routes import blp as auth
    from halls.bookings.routes import blp as bookings
    from halls.health.routes import blp as health
    from halls.uploads.routes import blp as uploads
    from halls.venues.routes import blp as venues
    from halls.wallet.routes import blp as wallet

    for blueprint in (health, auth, venues, addons, bookings, uploads, wallet):
        api.register_blueprint(blueprint)
    # Web pages are not API operations: outside the OpenAPI document.
    app.register_blueprint(auth_pages)


def _register_commands(app):
    from halls import commands

    commands.register(app)
