"""The documentation pages and their own files: Swagger UI (/docs, rendered by flask-smorest)
and ReDoc (/redoc) load their scripts and stylesheets from halls, out of the Python packages
that ship those builds, so the pages work without internet."""

import importlib.resources

from flask import (
    Blueprint,
    abort,
    current_app,
    render_template,
    request,
    send_from_directory,
    url_for,
)
from swagger_ui_bundle import swagger_ui_path

# Where Swagger UI's page finds its files (flask-smorest's OPENAPI_SWAGGER_UI_URL).
SWAGGER_UI_URL = "/docs/assets/swagger-ui/"
REDOC_URL = "/docs/assets/redoc/redoc.standalone.js"

# What the pages load, and nothing else of the packages (no source maps, no sample pages).
SWAGGER_UI_FILES = ("swagger-ui.css", "swagger-ui-bundle.js", "swagger-ui-standalone-preset.js")
# ReDoc 2's build, from flask-openapi3-redoc: its package imports nothing, so reading the
# file loads no framework. (ReDoc 3 would also send telemetry to Redocly.)
REDOC_DIR = importlib.resources.files("flask_openapi3_redoc") / "templates/redoc/js"

# The pages may load from halls only. Both builds carry a link to a logo on their maker's
# CDN (ReDoc's "API docs by Redocly"); with this policy the browser never asks for it. Inline
# scripts and styles: Swagger UI's page starts it inline, and both style themselves inline.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; worker-src 'self' blob:; connect-src 'self'"
)
DOC_PAGES = ("api-docs.openapi_swagger_ui", "apidocs.redoc")

blp = Blueprint("apidocs", __name__)


@blp.route(f"{SWAGGER_UI_URL}<filename>")
def swagger_ui(filename):
    """One of Swagger UI's files."""
    if filename not in SWAGGER_UI_FILES:
        abort(404)
    return send_from_directory(swagger_ui_path, filename, max_age=86400)


@blp.route(REDOC_URL)
def redoc_script():
    """ReDoc's standalone script."""
    return send_from_directory(REDOC_DIR, "redoc.standalone.js", max_age=86400)


@blp.route("/redoc")
def redoc():
    """The document in ReDoc (our page rather than flask-smorest's, which has no charset and
    turns on lazy rendering)."""
    return render_template(
        "apidocs/redoc.html",
        title=current_app.config["API_TITLE"],
        spec_url=url_for("api-docs.openapi_json"),
        redoc_url=REDOC_URL,
    )


def only_from_halls(response):
    """The documentation pages carry the policy that keeps them on halls."""
    if request.endpoint in DOC_PAGES:
        response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    return response


def init_app(app):
    app.register_blueprint(blp)
    app.after_request(only_from_halls)
