"""The page a password-reset mail links to: a form that sets the new password through the API."""

from flask import Blueprint, make_response, render_template, request, url_for

blp = Blueprint("auth_pages", __name__)

# Where the page is; the reset mail links to PUBLIC_BASE_URL + this unless PASSWORD_RESET_URL
# names another place (a mobile app's deep link).
RESET_PAGE = "/reset-password"

# The page runs only its own script and style, from this server, and talks only to this API.
# form-action 'none': should the script fail, the form cannot send the password anywhere.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "connect-src 'self'",
        "img-src 'self'",
        "form-action 'none'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
    ]
)


@blp.route(RESET_PAGE, methods=["GET"])
def reset_password_page():
    """The new-password form for the token in the link; it calls POST /auth/reset-password."""
    page = render_template(
        "reset_password.html",
        token=request.args.get("token", ""),
        api=url_for("auth.reset_password"),
    )
    response = make_response(page)
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    # The address carries a secret: no cache keeps the page (nor, by Referrer-Policy, a link).
    response.headers["Cache-Control"] = "no-store"
    return response
