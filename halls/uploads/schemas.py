"""What a client may ask to upload, and the signed answers it gets back."""

import os

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from halls.schemas import StrictSchema

MB = 1024 * 1024

# What an owner may upload for a venue: the largest size and the file extensions that may
# carry each content type (the seed allows videos up to 25 MB).
MEDIA_TYPES = {
    "image/jpeg": (10 * MB, (".jpg", ".jpeg")),
    "image/png": (10 * MB, (".png",)),
    "image/webp": (10 * MB, (".webp",)),
    "video/mp4": (25 * MB, (".mp4",)),
}
EXTENSIONS = {ext for _, exts in MEDIA_TYPES.values() for ext in exts}

_content_type = validate.OneOf(list(MEDIA_TYPES), error="Must be one of: {choices}.")
_filename = validate.Length(min=1, max=200)


def _extension(filename):
    return os.path.splitext(filename)[1].lower()


def check_extension(filename, content_type):
    """The file's extension is one that the content type may carry."""
    allowed = MEDIA_TYPES[content_type][1] if content_type else tuple(sorted(EXTENSIONS))
    if _extension(filename) not in allowed:
        raise ValidationError(f"The extension must be one of: {', '.join(allowed)}.", "filename")


class S3SignIn(StrictSchema):
    filename = fields.String(required=True, validate=_filename)
    content_type = fields.String(required=True, validate=_content_type)
    size_bytes = fields.Integer(required=True, strict=True, validate=validate.Range(min=1))

    @validates_schema
    def _fits(self, data, **kwargs):
        if data.get("content_type") not in MEDIA_TYPES:
            return  # the field's own validator already refused it
        limit = MEDIA_TYPES[data["content_type"]][0]
        if data.get("size_bytes", 0) > limit:
            raise ValidationError(
                f"A {data['content_type']} file may be at most {limit // MB} MB.", "size_bytes"
            )
        if "filename" in data:
            check_extension(data["filename"], data["content_type"])


class CloudinarySignIn(StrictSchema):
    filename = fields.String(validate=_filename)
    content_type = fields.String(validate=_content_type)
    folder = fields.String(
        validate=validate.Regexp(
            r"^[A-Za-z0-9_-]{1,40}(/[A-Za-z0-9_-]{1,40}){0,3}$",
            error="Use up to four folder names of letters, digits, - and _, joined by /.",
        )
    )

    @validates_schema
    def _fits(self, data, **kwargs):
        content_type = data.get("content_type")
        if "filename" in data and (content_type is None or content_type in MEDIA_TYPES):
            check_extension(data["filename"], content_type)


class S3SignOut(Schema):
    upload_url = fields.String(required=True, metadata={"description": "SigV4 presigned URL"})
    method = fields.String(required=True, validate=validate.OneOf(["PUT"]))
    headers = fields.Dict(
        keys=fields.String(),
        values=fields.String(),
        required=True,
        metadata={"description": "Send exactly these headers with the PUT: they are signed."},
    )
    key = fields.String(required=True, metadata={"example": "venues/<owner_id>/<uuid>-hall.jpg"})
    public_url = fields.String(required=True)
    expires_in = fields.Integer(required=True, metadata={"example": 900})


class CloudinarySignOut(Schema):
    upload_url = fields.String(required=True)
    method = fields.String(required=True, validate=validate.OneOf(["POST"]))
    params = fields.Dict(
        metadata={
            "optional": True,
            "description": "Signed mode: post these form fields with the file.",
        }
    )
    expires_in = fields.Integer(
        metadata={"optional": True, "description": "Signed mode: seconds the signature lasts."}
    )
    unsigned_preset = fields.String(
        metadata={"optional": True, "description": "Unsigned mode: the upload preset."}
    )
    params_sample = fields.Dict(
        metadata={
            "optional": True,
            "description": "Unsigned mode: form fields to post with the file.",
        }
    )
