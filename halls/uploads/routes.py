"""Signed direct uploads of venue pictures and videos (owners only)."""

from flask_smorest import Blueprint

from halls import examples as ex
from halls.auth.tokens import current_user, owner_required
from halls.schemas import envelope
from halls.uploads import service
from halls.uploads.schemas import CloudinarySignIn, CloudinarySignOut, S3SignIn, S3SignOut

blp = Blueprint(
    "uploads",
    __name__,
    url_prefix="/uploads",
    description="Sign direct uploads to S3 or Cloudinary; the file never passes through halls.",
)


@blp.route("/sign-s3", methods=["POST"])
@owner_required
@blp.arguments(S3SignIn(), example=ex.SIGN_S3)
@blp.response(200, envelope(S3SignOut), example=ex.ok(ex.S3_SIGNED))
def sign_s3(upload):
    """A presigned S3 PUT URL for one picture (≤ 10 MB) or mp4 video (≤ 25 MB).

    PUT the file to `upload_url` with exactly `headers`, then put `public_url` in the
    venue's `pictures` or `videos`. A 503 `uploads_not_configured` if the server has no
    bucket.
    """
    return service.sign_s3_upload(current_user(), upload)


@blp.route("/sign-cloudinary", methods=["POST"])
@owner_required
@blp.arguments(CloudinarySignIn(), example=ex.SIGN_CLOUDINARY)
@blp.response(200, envelope(CloudinarySignOut), example=ex.ok(ex.CLOUDINARY_SIGNED))
def sign_cloudinary(upload):
    """Signed Cloudinary upload parameters, or the unsigned preset to use.

    Signed mode: post the file with `params` to `upload_url` before `expires_in` runs out.
    Unsigned mode: post it with `params_sample` and the `unsigned_preset`.
    """
    return service.sign_cloudinary_upload(current_user(), upload)
