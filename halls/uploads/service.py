"""Signing direct uploads: the file goes from the owner's device to S3 or Cloudinary, not here.

Both signatures are computed locally (no network): S3 by botocore's SigV4 presigner,
Cloudinary as its upload API documents (SHA-1 of the sorted parameters and the API secret).
"""

import functools
import hashlib
import os
import re
import uuid
from urllib.parse import unquote, urlsplit

import botocore.session
from botocore.config import Config
from flask import current_app

from halls import clock
from halls.errors import ServiceUnavailable

CLOUDINARY_API = "https://api.cloudinary.com/v1_1"
# Cloudinary refuses a signed upload whose timestamp is more than an hour old.
CLOUDINARY_SIGNATURE_TTL = 3600


def _not_configured(what):
    return ServiceUnavailable(
        f"{what} uploads are not configured on this server.", error_code="uploads_not_configured"
    )


def safe_filename(filename):
    """The file's base name with only letters, digits, '.', '-' and '_' (an S3 key part)."""
    base = re.split(r"[\\/]", filename)[-1]
    stem, ext = os.path.splitext(base)
    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", stem).strip(".-_")[:80] or "file"
    return stem + ext.lower()


def _object_name(filename):
    # A random prefix: two uploads of "hall.jpg" never overwrite each other.
    return f"{uuid.uuid4().hex}-{safe_filename(filename)}"


@functools.lru_cache(maxsize=4)
def _s3_client(region, access_key_id, secret_access_key):
    # Virtual-hosted addressing gives the regional host (bucket.s3.<region>.amazonaws.com).
    config = Config(signature_version="s3v4", s3={"addressing_style": "virtual"})
    return botocore.session.get_session().create_client(
        "s3",
        region_name=region,
        aws_access_key_id=access_key_id,
        aws_secret_access_key=secret_access_key,
        config=config,
    )


def sign_s3_upload(owner, upload):
    """A presigned PUT URL for one venue picture or video under the owner's prefix."""
    settings = current_app.config
    bucket, key_id, secret = (
        settings["S3_BUCKET"],
        settings["AWS_ACCESS_KEY_ID"],
        settings["AWS_SECRET_ACCESS_KEY"],
    )
    if not (bucket and key_id and secret):
        raise _not_configured("S3")
    key = f"venues/{owner['_id']}/{_object_name(upload['filename'])}"
    expires_in = settings["UPLOAD_URL_TTL_SECONDS"]
    # Content-Type and Content-Length are signed: S3 refuses a PUT of another type or size,
    # which is what makes the size limit binding.
    headers = {"Content-Type": upload["content_type"], "Content-Length": str(upload["size_bytes"])}
    url = _s3_client(settings["S3_REGION"], key_id, secret).generate_presigned_url(
        "put_object",
        Params={
            "Bucket": bucket,
            "Key": key,
            "ContentType": upload["content_type"],
            "ContentLength": upload["size_bytes"],
        },
        ExpiresIn=expires_in,
    )
    base = settings["S3_PUBLIC_BASE_URL"]
    public_url = f"{base.rstrip('/')}/{key}" if base else url.split("?", 1)[0]
    return {
        "upload_url": url,
        "method": "PUT",
        "headers": headers,
        "key": key,
        "public_url": public_url,
        "expires_in": expires_in,
    }


def cloudinary_signature(params, api_secret):
    """Cloudinary's documented signature: SHA-1 of the sorted `k=v&...` string + secret."""
    payload = "&".join(f"{name}={params[name]}" for name in sorted(params))
    return hashlib.sha1((payload + api_secret).encode()).hexdigest()  # noqa: S324 - their scheme


def _cloudinary_account(url):
    # cloudinary://<api_key>:<api_secret>@<cloud_name>
    parts = urlsplit(url)
    cloud = parts.netloc.rpartition("@")[2]
    if parts.scheme != "cloudinary" or not (parts.username and parts.password and cloud):
        current_app.logger.error("CLOUDINARY_URL is not cloudinary://key:secret@cloud_name")
        raise _not_configured("Cloudinary")
    return unquote(parts.username), unquote(parts.password), cloud


def sign_cloudinary_upload(owner, upload):
    """Signed upload parameters (CLOUDINARY_URL) or the unsigned preset to use."""
    settings = current_app.config
    folder = "/".join(filter(None, ["venues", str(owner["_id"]), upload.get("folder")]))
    if settings["CLOUDINARY_URL"]:
        api_key, api_secret, cloud = _cloudinary_account(settings["CLOUDINARY_URL"])
        public_id = _object_name(upload.get("filename", "file"))
        signed = {
            "folder": folder,
            # Cloudinary adds the extension itself from the detected format.
            "public_id": os.path.splitext(public_id)[0],
            "timestamp": int(clock.now().timestamp()),
        }
        signature = cloudinary_signature(signed, api_secret)
        return {
            "upload_url": f"{CLOUDINARY_API}/{cloud}/auto/upload",
            "method": "POST",
            "params": {**signed, "api_key": api_key, "signature": signature},
            "expires_in": CLOUDINARY_SIGNATURE_TTL,
        }
    cloud, preset = settings["CLOUDINARY_CLOUD_NAME"], settings["CLOUDINARY_UPLOAD_PRESET"]
    if not (cloud and preset):
        raise _not_configured("Cloudinary")
    return {
        "upload_url": f"{CLOUDINARY_API}/{cloud}/auto/upload",
        "method": "POST",
        "unsigned_preset": preset,
        "params_sample": {"upload_preset": preset, "folder": folder},
    }
