"""Signed direct uploads of venue pictures and videos (owners only)."""

from flask_smorest import Blueprint

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
@blp.arguments(S3SignIn())
@blp.response(200, envelope(S3SignOut))
def sign_s3(upload):
    """A presigned S3 PUT URL for one picture (≤ 10 MB) or mp4 video (≤ 25 MB)."""
    return service.sign_s3_upload(current_user(), upload)


@blp.route("/sign-cloudinary", methods=["POST"])
@owner_required
@blp.arguments(CloudinarySignIn())
@blp.response(200, envelope(CloudinarySignOut))
def sign_cloudinary(upload):
    """Signed Cloudinary upload parameters, or the unsigned preset to use."""
    return service.sign_cloudinary_upload(current_user(), upload)
