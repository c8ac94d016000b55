"""Auth: sign up, sign in (password or Google), profile, password reset, refresh, sign out."""

from flask import current_app
from flask_smorest import Blueprint

from halls import examples as ex
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
@blp.arguments(SignupIn(), example=ex.SIGNUP)
@blp.response(201, envelope(TokenData), example=ex.ok(ex.TOKENS))
@blp.doc(responses=error_responses(409))
@blp.doc(responses=signed_in_links(201))
def signup(fields):
    """Create an account with a password and sign in (409 `email_taken` if it exists).

    `is_venue_owner` makes an owner, who registers venues; anyone can book. The answer
    carries an access token (send it as `Authorization: Bearer ...`) and a refresh token.
    """
    return service.create_user(**fields)


@blp.route("/login", methods=["POST"])
@limiter.limit(login_ip_limit, deduct_when=failed_sign_in)
@blp.arguments(LoginIn(), example=ex.LOGIN)
@blp.response(200, envelope(TokenData), example=ex.ok(ex.TOKENS))
@blp.doc(responses=error_responses(401))
@blp.doc(responses=signed_in_links(200))
def login(fields):
    """Sign in with email and password (401 `invalid_credentials`, 429 `too_many_attempts`).

    A wrong email and a wrong password get the same answer. Failed attempts are limited per
    client and per account: past the limit the answer is a 429 with `Retry-After`.
    """
    return service.log_in(**fields)


@blp.route("/google", methods=["POST"])
@limiter.limit(auth_rate_limit)
@blp.arguments(GoogleIn(), example=ex.GOOGLE)
@blp.response(
    200,
    envelope(TokenData),
    description="Signed in to an existing account.",
    example=ex.ok(ex.TOKENS),
)
@blp.alt_response(
    201,
    schema=envelope(TokenData),
    description="Created a new account.",
    example=ex.ok(ex.TOKENS),
)
@blp.doc(responses=error_responses(401, 409))
@blp.doc(responses={**signed_in_links(200), **signed_in_links(201)})
def google_login(fields):
    """Sign in or sign up with a Google ID token (401 `invalid_google_token`).

    The token must be issued for this server's Google client id. A new Google account gets
    an account here (201), with `is_venue_owner` and `contact_number` as sent.
    """
    issued, created = service.log_in_with_google(**fields)
    return issued, 201 if created else 200


@blp.route("/forgot-password", methods=["POST"])
@limiter.limit(auth_rate_limit)
@blp.arguments(ForgotPasswordIn(), example=ex.FORGOT_PASSWORD)
@blp.response(200, envelope(MessageData), example=ex.ok({"message": ex.RESET_MAILED}))
def forgot_password(fields):
    """Mail a reset token if the email has an account; the answer is the same either way.

    The mail links to the password reset page with a token valid for an hour.
    """
    return service.request_password_reset(**fields)


@blp.route("/reset-password", methods=["POST"])
@limiter.limit(auth_rate_limit)
@blp.arguments(ResetPasswordIn(), example=ex.RESET_PASSWORD)
@blp.response(200, envelope(MessageData), example=ex.ok({"message": ex.PASSWORD_RESET}))
def reset_password(fields):
    """Set a new password with a reset token (400 `invalid_reset_token`).

    A token works once. Every token issued before stops working: sign in again.
    """
    return service.reset_password(**fields)


@blp.route("/me", methods=["GET"])
@auth_required
@blp.response(200, envelope(UserData), example=ex.ok({"user": ex.CUSTOMER}))
def me():
    """The signed-in user.

    Who the bearer token belongs to, with their role.
    """
    return {"user": current_user()}


@blp.route("/me", methods=["PATCH"])
@auth_required
@blp.arguments(MePatch(), example=ex.ME_PATCH)
@blp.response(200, envelope(MeData), example=ex.ok(ex.ME_CHANGED))
def update_me(changes):
    """Change name, contact number or password; a password change returns fresh tokens.

    A new password needs `current_password`, and revokes every earlier token: the answer
    then carries a new pair. An empty `contact_number` means no change.
    """
    return service.update_me(current_user(), changes)


@blp.route("/refresh", methods=["POST"])
@auth_required(refresh=True)
@blp.response(200, envelope(AccessTokenData), example=ex.ok(ex.ACCESS))
def refresh():
    """A new access token for a refresh token.

    Send the refresh token as the bearer token; an access token is refused here.
    """
    return service.refresh_access(current_user())


@blp.route("/logout", methods=["POST"])
@auth_required
@blp.arguments(LogoutIn(), required=False, example=ex.LOGOUT)
@blp.response(200, envelope(MessageData), example=ex.ok({"message": ex.SIGNED_OUT}))
def logout(fields):
    """Revoke this token (and `refresh_token`); with `all`, every token of the user.

    The body is optional. A mobile app sends its refresh token so that both stop working.
    """
    return service.log_out(
        current_user(), current_claims(), fields["all"], fields.get("refresh_token")
    )
