"""Auth: sign up, sign in (password or Google), profile, password reset, refresh, sign out."""

from flask import current_app
from flask_smorest import Blueprint

from halls.auth import service
from halls.auth.schemas import (
    AccessTokenData,
    ForgotPasswordIn,
    GoogleIn,
    LoginIn,
    LogoutIn,
    MeData,
    MePatch,
    MessageData,
    ResetPasswordIn,
    SignupIn,
    TokenData,
    UserData,
)
from halls.auth.tokens import auth_required, current_claims, current_user
from halls.extensions import error_responses, follow, limiter, links
from halls.schemas import envelope

blp = Blueprint(
    "auth", __name__, url_prefix="/auth", description="Accounts, sign-in and bearer tokens"
)


def signed_in_links(status):
    """`responses` for `Blueprint.doc`: fresh tokens lead to signing out with the refresh token,
    and the new user's id to crediting their wallet (admins). The access token cannot be a link
    parameter: OpenAPI ignores an `Authorization` header parameter."""
    return links(
        status,
        follow("auth.logout", request_body={"refresh_token": "$response.body#/data/refresh_token"}),
        follow("wallet.credit", request_body={"user_id": "$response.body#/data/user/id"}),
    )


def auth_rate_limit():
    """The per-client limit on sign-up, Google sign-in and the password-reset endpoints."""
    return current_app.config["RATELIMIT_AUTH"]


def login_ip_limit():
    """The per-client limit on failed password sign-ins (per account: auth/throttle.py)."""
    return current_app.config["RATELIMIT_LOGIN_IP"]


def failed_sign_in(response):
    """Only a wrong email or password counts against the client's address."""
    return response.status_code == 401


@blp.route("/signup", methods=["POST"])
@limiter.limit(auth_rate_limit)
@blp.arguments(SignupIn())
@blp.response(201, envelope(TokenData))
@blp.doc(responses=error_responses(409))
@blp.doc(responses=signed_in_links(201))
def signup(fields):
    """Create an account with a password and sign in (409 `email_taken` if it exists)."""
    return service.create_user(**fields)


@blp.route("/login", methods=["POST"])
@limiter.limit(login_ip_limit, deduct_when=failed_sign_in)
@blp.arguments(LoginIn())
@blp.response(200, envelope(TokenData))
@blp.doc(responses=error_responses(401))
@blp.doc(responses=signed_in_links(200))
def login(fields):
    """Sign in with email and password (401 `invalid_credentials`, 429 `too_many_attempts`)."""
    return service.log_in(**fields)


@blp.route("/google", methods=["POST"])
@limiter.limit(auth_rate_limit)
@blp.arguments(GoogleIn())
@blp.response(200, envelope(TokenData), description="Signed in to an existing account.")
@blp.alt_response(201, schema=envelope(TokenData), description="Created a new account.")
@blp.doc(responses=error_responses(401, 409))
@blp.doc(responses={**signed_in_links(200), **signed_in_links(201)})
def google_login(fields):
    """Sign in or sign up with a Google ID token (401 `invalid_google_token`)."""
    issued, created = service.log_in_with_google(**fields)
    return issued, 201 if created else 200


@blp.route("/forgot-password", methods=["POST"])
@limiter.limit(auth_rate_limit)
@blp.arguments(ForgotPasswordIn())
@blp.response(200, envelope(MessageData))
def forgot_password(fields):
    """Mail a reset token if the email has an account; the answer is the same either way."""
    return service.request_password_reset(**fields)


@blp.route("/reset-password", methods=["POST"])
@limiter.limit(auth_rate_limit)
@blp.arguments(ResetPasswordIn())
@blp.response(200, envelope(MessageData))
def reset_password(fields):
    """Set a new password with a reset token (400 `invalid_reset_token`)."""
    return service.reset_password(**fields)


@blp.route("/me", methods=["GET"])
@auth_required
@blp.response(200, envelope(UserData))
def me():
    """The signed-in user."""
    return {"user": current_user()}


@blp.route("/me", methods=["PATCH"])
@auth_required
@blp.arguments(MePatch())
@blp.response(200, envelope(MeData))
def update_me(changes):
    """Change name, contact number or password; a password change returns fresh tokens."""
    return service.update_me(current_user(), changes)


@blp.route("/refresh", methods=["POST"])
@auth_required(refresh=True)
@blp.response(200, envelope(AccessTokenData))
def refresh():
    """A new access token for a refresh token."""
    return service.refresh_access(current_user())


@blp.route("/logout", methods=["POST"])
@auth_required
@blp.arguments(LogoutIn(), required=False)
@blp.response(200, envelope(MessageData))
def logout(fields):
    """Revoke this token (and `refresh_token`); with `all`, every token of the user."""
    return service.log_out(
        current_user(), current_claims(), fields["all"], fields.get("refresh_token")
    )
