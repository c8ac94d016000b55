"""Auth bodies in and out: what a client may send, and the user and tokens we show."""

from marshmallow import Schema, fields, missing, validate

from halls.auth.tokens import role_of
from halls.schemas import Meta, StrictSchema

PASSWORD_LENGTH = validate.Length(min=8, max=128)
# Empty is allowed on the wire (see BlankIsNotGiven); anything else must look like a number.
CONTACT_NUMBER = validate.Regexp(
    r"^(\+?[0-9][0-9 ()-]{5,23})?$", error="Not a valid phone number; use digits and an optional +."
)


class EmailField(fields.Email):
    """An email address, trimmed and lower-cased before it is validated."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, str):
            value = value.strip().lower()
        return super()._deserialize(value, attr, data, **kwargs)


class TrimmedString(fields.String):
    """A string with surrounding whitespace removed."""

    def _deserialize(self, value, attr, data, **kwargs):
        return super()._deserialize(value, attr, data, **kwargs).strip()


class BlankIsNotGiven(TrimmedString):
    """An optional text that a form sends empty ("" or spaces) when left blank: read as not
    given (the field's default, or no change in a PATCH), not refused."""

    def deserialize(self, value, attr=None, data=None, **kwargs):
        if isinstance(value, str) and not value.strip():
            value = missing
        return super().deserialize(value, attr, data, **kwargs)


def _email(**kwargs):
    return EmailField(validate=validate.Length(max=254), **kwargs)


def _contact_number(**kwargs):
    description = "A phone number; empty means not given."
    metadata = {"description": description, "example": "+92 300 1234567"}
    return BlankIsNotGiven(
        validate=CONTACT_NUMBER, metadata=metadata | kwargs.pop("metadata", {}), **kwargs
    )


def _full_name(**kwargs):
    return TrimmedString(validate=validate.Length(max=100), **kwargs)


class SignupIn(StrictSchema):
    full_name = _full_name(load_default="")
    email = _email(required=True)
    password = fields.String(required=True, validate=PASSWORD_LENGTH)
    contact_number = _contact_number(load_default="")
    is_venue_owner = fields.Boolean(required=True)


class LoginIn(StrictSchema):
    email = _email(required=True)
    password = fields.String(required=True, validate=validate.Length(min=1, max=128))


class GoogleIn(StrictSchema):
    id_token = fields.String(required=True, validate=validate.Length(min=1, max=8192))
    is_venue_owner = fields.Boolean(
        load_default=False, metadata={"description": "Used only when the account is created."}
    )
    contact_number = _contact_number(
        load_default="",
        metadata={"description": "Used only when the account is created; empty means not given."},
    )


class ForgotPasswordIn(StrictSchema):
    email = _email(required=True)


class ResetPasswordIn(StrictSchema):
    token = fields.String(required=True, validate=validate.Length(min=1, max=200))
    new_password = fields.String(required=True, validate=PASSWORD_LENGTH)


class MePatch(StrictSchema):
    full_name = _full_name()
    contact_number = _contact_number()
    new_password = fields.String(validate=PASSWORD_LENGTH)
    current_password = fields.String(
        validate=validate.Length(min=1, max=128),
        metadata={"description": "Required with new_password."},
    )


class LogoutIn(StrictSchema):
    all = fields.Boolean(
        load_default=False, metadata={"description": "Revoke every token of the user."}
    )
    refresh_token = fields.String(
        validate=validate.Length(min=1, max=4096),
        metadata={"description": "Also revoke this refresh token (a mobile app signs out both)."},
    )


class UserOut(Meta):
    full_name = fields.String(required=True)
    email = fields.String(required=True)
    contact_number = fields.String(required=True)
    is_venue_owner = fields.Boolean(required=True)
    role = fields.Function(
        role_of, required=True, metadata={"enum": ["owner", "customer", "admin"]}
    )
    auth_provider = fields.String(required=True, metadata={"enum": ["password", "google"]})


class UserData(Schema):
    user = fields.Nested(UserOut, required=True)


class AccessTokenData(UserData):
    access_token = fields.String(required=True)
    token_type = fields.String(required=True, validate=validate.OneOf(["Bearer"]))
    expires_in = fields.Integer(required=True, metadata={"description": "Seconds."})


class TokenData(AccessTokenData):
    refresh_token = fields.String(required=True)


def _after_password_change(field, **kwargs):
    description = "After a password change: the fresh token pair's."
    return field(metadata={"optional": True, "description": description}, **kwargs)


class MeData(UserData):
    """The user; after a password change also a fresh token pair (earlier ones are revoked)."""

    access_token = _after_password_change(fields.String)
    refresh_token = _after_password_change(fields.String)
    token_type = _after_password_change(fields.String, validate=validate.OneOf(["Bearer"]))
    expires_in = _after_password_change(fields.Integer)


class MessageData(Schema):
    message = fields.String(required=True)
