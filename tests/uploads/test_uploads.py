import datetime as dt
import hashlib
import hmac
import re
import time
from urllib.parse import parse_qsl, quote, urlsplit

import pytest

from halls.uploads.service import cloudinary_signature
from tests.helpers import assert_error, ok_data

MB = 1024 * 1024
KEY_ID = "AKIATESTKEY000000000"
SECRET = "test/secret+key/0123456789abcdefghijklmn"
S3 = {
    "S3_BUCKET": "halls-media",
    "S3_REGION": "ap-south-1",
    "AWS_ACCESS_KEY_ID": KEY_ID,
    "AWS_SECRET_ACCESS_KEY": SECRET,
}
PICTURE = {"filename": "hall.jpg", "content_type": "image/jpeg", "size_bytes": 2 * MB}


def _hmac(key, text):
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def sigv4_query_signature(method, url, headers, secret):
    """Recompute the SigV4 signature of a presigned URL from AWS's published algorithm."""
    parts = urlsplit(url)
    params = dict(parse_qsl(parts.query, keep_blank_values=True))
    params.pop("X-Amz-Signature", None)

    def enc(text):
        return quote(text, safe="-_.~")

    query = "&".join(f"{enc(k)}={enc(v)}" for k, v in sorted(params.items()))
    signed = params["X-Amz-SignedHeaders"].split(";")
    values = {k.lower(): v.strip() for k, v in headers.items()} | {"host": parts.netloc}
    canonical_headers = "".join(f"{name}:{values[name]}\n" for name in signed)
    canonical_request = "\n".join(
        [method, parts.path, query, canonical_headers, ";".join(signed), "UNSIGNED-PAYLOAD"]
    )
    _, date, region, service, terminator = params["X-Amz-Credential"].split("/")
    scope = f"{date}/{region}/{service}/{terminator}"
    string_to_sign = "\n".join(
        [
            "AWS4-HMAC-SHA256",
            params["X-Amz-Date"],
            scope,
            hashlib.sha256(canonical_request.encode()).hexdigest(),
        ]
    )
    key = ("AWS4" + secret).encode()
    for part in (date, region, service, terminator):
        key = _hmac(key, part)
    return hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()


def _query(url):
    return dict(parse_qsl(urlsplit(url).query))


def test_the_sigv4_checker_reproduces_aws_published_example():
    # AWS S3 docs, "Authenticating Requests: Using Query Parameters", GET example.
    url = (
        "https://examplebucket.s3.amazonaws.com/test.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256"
        "&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request"
        "&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host"
    )
    secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
    assert sigv4_query_signature("GET", url, {}, secret) == (
        "aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"
    )


def test_cloudinary_signature_reproduces_cloudinary_documented_example():
    params = {
        "timestamp": 1315060510,
        "public_id": "sample_image",
        "eager": "w_400,h_300,c_pad|w_260,h_200,c_crop",
    }
    assert cloudinary_signature(params, "abcd") == "bfd09f95f331f558cbd1320e67aa8d488770583e"


@pytest.fixture
def s3(app):
    app.config.update(S3)


def test_sign_s3_returns_a_valid_sigv4_put_url(s3, client, owner):
    user, headers = owner
    before = dt.datetime.now(dt.UTC).replace(microsecond=0)
    data = ok_data(client.post("/uploads/sign-s3", json=PICTURE, headers=headers))

    assert data["method"] == "PUT"
    assert data["expires_in"] == 900
    assert data["headers"] == {"Content-Type": "image/jpeg", "Content-Length": str(2 * MB)}
    assert re.fullmatch(rf"venues/{user['_id']}/[0-9a-f]{{32}}-hall\.jpg", data["key"])
    host = "halls-media.s3.ap-south-1.amazonaws.com"
    assert data["public_url"] == f"https://{host}/{data['key']}"
    assert data["upload_url"].startswith(f"https://{host}/{data['key']}?")

    query = _query(data["upload_url"])
    signed_at = dt.datetime.strptime(query["X-Amz-Date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.UTC)
    assert before <= signed_at <= dt.datetime.now(dt.UTC)
    assert query["X-Amz-Algorithm"] == "AWS4-HMAC-SHA256"
    assert query["X-Amz-Credential"] == (f"{KEY_ID}/{signed_at:%Y%m%d}/ap-south-1/s3/aws4_request")
    assert query["X-Amz-Expires"] == "900"
    assert query["X-Amz-SignedHeaders"] == "content-length;content-type;host"
    assert query["X-Amz-Signature"] == sigv4_query_signature(
        "PUT", data["upload_url"], data["headers"], SECRET
    )


def test_sign_s3_signature_binds_type_size_and_secret(s3, client, owner):
    data = ok_data(client.post("/uploads/sign-s3", json=PICTURE, headers=owner.headers))
    signature = _query(data["upload_url"])["X-Amz-Signature"]
    url = data["upload_url"]
    other_type = {**data["headers"], "Content-Type": "video/mp4"}
    other_size = {**data["headers"], "Content-Length": str(25 * MB)}
    assert sigv4_query_signature("PUT", url, other_type, SECRET) != signature
    assert sigv4_query_signature("PUT", url, other_size, SECRET) != signature
    assert sigv4_query_signature("PUT", url, data["headers"], "wrong") != signature


@pytest.mark.parametrize(
    ("filename", "suffix"),
    [
        ("../../etc/My Hall (1).JPG", "-My-Hall-1.jpg"),
        ("C:\\photos\\stage.jpeg", "-stage.jpeg"),
        ("$ne.jpg", "-ne.jpg"),
        ("-- .jpg", "-file.jpg"),
    ],
)
def test_sign_s3_keeps_keys_inside_the_owner_prefix(s3, client, owner, filename, suffix):
    user, headers = owner
    body = {**PICTURE, "filename": filename}
    data = ok_data(client.post("/uploads/sign-s3", json=body, headers=headers))
    assert data["key"].startswith(f"venues/{user['_id']}/")
    assert data["key"].endswith(suffix)
    assert re.fullmatch(r"venues/[0-9a-f]{24}/[0-9a-f]{32}-[A-Za-z0-9._-]+", data["key"])


def test_sign_s3_public_base_url_and_ttl_come_from_config(app, client, owner):
    app.config.update(
        S3, S3_PUBLIC_BASE_URL="https://cdn.halls.example/", UPLOAD_URL_TTL_SECONDS=60
    )
    data = ok_data(client.post("/uploads/sign-s3", json=PICTURE, headers=owner.headers))
    assert data["public_url"] == f"https://cdn.halls.example/{data['key']}"
    assert data["expires_in"] == 60
    assert _query(data["upload_url"])["X-Amz-Expires"] == "60"


def test_two_signs_of_the_same_name_get_different_keys(s3, client, owner):
    first = ok_data(client.post("/uploads/sign-s3", json=PICTURE, headers=owner.headers))
    second = ok_data(client.post("/uploads/sign-s3", json=PICTURE, headers=owner.headers))
    assert first["key"] != second["key"]


@pytest.mark.parametrize(
    ("content_type", "filename", "size"),
    [
        ("image/jpeg", "a.jpg", 10 * MB),
        ("image/png", "a.png", 10 * MB),
        ("image/webp", "a.webp", 1),
        ("video/mp4", "a.mp4", 25 * MB),
    ],
)
def test_sign_s3_accepts_each_type_up_to_its_limit(s3, client, owner, content_type, filename, size):
    body = {"filename": filename, "content_type": content_type, "size_bytes": size}
    data = ok_data(client.post("/uploads/sign-s3", json=body, headers=owner.headers))
    assert data["headers"] == {"Content-Type": content_type, "Content-Length": str(size)}


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"size_bytes": 10 * MB + 1}, "size_bytes"),
        (
            {"content_type": "video/mp4", "filename": "a.mp4", "size_bytes": 25 * MB + 1},
            "size_bytes",
        ),
        ({"size_bytes": 0}, "size_bytes"),
        ({"size_bytes": "100"}, "size_bytes"),
        ({"content_type": "image/gif", "filename": "a.gif"}, "content_type"),
        ({"content_type": "application/pdf"}, "content_type"),
        ({"content_type": {"$ne": ""}}, "content_type"),
        ({"filename": "hall.png"}, "filename"),
        ({"filename": "hall"}, "filename"),
        ({"filename": ""}, "filename"),
        ({"filename": "x" * 197 + ".jpg"}, "filename"),
        ({"bucket": "someone-elses"}, "bucket"),
    ],
)
def test_sign_s3_refuses_bad_uploads(s3, client, owner, changes, field):
    error = assert_error(
        client.post("/uploads/sign-s3", json={**PICTURE, **changes}, headers=owner.headers),
        422,
        "validation_failed",
    )
    assert field in error["details"]


@pytest.mark.parametrize("missing", ["filename", "content_type", "size_bytes"])
def test_sign_s3_requires_every_field(s3, client, owner, missing):
    body = {k: v for k, v in PICTURE.items() if k != missing}
    error = assert_error(
        client.post("/uploads/sign-s3", json=body, headers=owner.headers), 422, "validation_failed"
    )
    assert missing in error["details"]


@pytest.mark.parametrize("missing", ["S3_BUCKET", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"])
def test_sign_s3_is_503_until_configured(app, client, owner, missing):
    app.config.update({**S3, missing: None})
    assert_error(
        client.post("/uploads/sign-s3", json=PICTURE, headers=owner.headers),
        503,
        "uploads_not_configured",
    )


SIGN_REQUESTS = [("/uploads/sign-s3", PICTURE), ("/uploads/sign-cloudinary", {})]


@pytest.mark.parametrize(("path", "body"), SIGN_REQUESTS)
def test_customers_may_not_sign_uploads(s3, client, customer, path, body):
    assert_error(client.post(path, json=body, headers=customer.headers), 403, "owner_required")


@pytest.mark.parametrize(("path", "body"), SIGN_REQUESTS)
def test_signing_needs_a_token(s3, client, path, body):
    assert_error(client.post(path, json=body), 401, "token_missing")


CLOUDINARY_URL = "cloudinary://123456789012345:s3cr3t-ApI-secret@halls-demo"


def test_sign_cloudinary_signs_folder_public_id_and_timestamp(app, client, owner):
    app.config.update(CLOUDINARY_URL=CLOUDINARY_URL)
    user, headers = owner
    before = int(time.time())
    body = {"filename": "Main Hall.png", "content_type": "image/png", "folder": "gallery"}
    data = ok_data(client.post("/uploads/sign-cloudinary", json=body, headers=headers))

    assert data["upload_url"] == "https://api.cloudinary.com/v1_1/halls-demo/auto/upload"
    assert data["method"] == "POST"
    assert data["expires_in"] == 3600
    params = data["params"]
    assert set(params) == {"api_key", "timestamp", "folder", "public_id", "signature"}
    assert params["api_key"] == "123456789012345"
    assert before <= params["timestamp"] <= int(time.time())
    assert params["folder"] == f"venues/{user['_id']}/gallery"
    assert re.fullmatch(r"[0-9a-f]{32}-Main-Hall", params["public_id"])
    # Cloudinary's rule, by hand: every signed parameter but api_key, sorted, then the secret.
    to_sign = (
        f"folder={params['folder']}&public_id={params['public_id']}"
        f"&timestamp={params['timestamp']}s3cr3t-ApI-secret"
    )
    assert params["signature"] == hashlib.sha1(to_sign.encode()).hexdigest()
    assert "s3cr3t" not in str(data)


def test_sign_cloudinary_signed_mode_wins_over_the_preset(app, client, owner):
    app.config.update(
        CLOUDINARY_URL=CLOUDINARY_URL,
        CLOUDINARY_CLOUD_NAME="other",
        CLOUDINARY_UPLOAD_PRESET="halls_unsigned",
    )
    data = ok_data(client.post("/uploads/sign-cloudinary", json={}, headers=owner.headers))
    assert "signature" in data["params"]
    assert "unsigned_preset" not in data
    assert data["params"]["folder"] == f"venues/{owner.user['_id']}"


def test_sign_cloudinary_unsigned_preset(app, client, owner):
    app.config.update(CLOUDINARY_CLOUD_NAME="halls-demo", CLOUDINARY_UPLOAD_PRESET="halls_unsigned")
    data = ok_data(client.post("/uploads/sign-cloudinary", json={}, headers=owner.headers))
    assert data == {
        "upload_url": "https://api.cloudinary.com/v1_1/halls-demo/auto/upload",
        "method": "POST",
        "unsigned_preset": "halls_unsigned",
        "params_sample": {
            "upload_preset": "halls_unsigned",
            "folder": f"venues/{owner.user['_id']}",
        },
    }


@pytest.mark.parametrize(
    "settings",
    [
        {},
        {"CLOUDINARY_CLOUD_NAME": "halls-demo"},
        {"CLOUDINARY_UPLOAD_PRESET": "halls_unsigned"},
        {"CLOUDINARY_URL": "cloudinary://only-a-key@halls-demo"},
        {"CLOUDINARY_URL": "https://123:secret@halls-demo"},
    ],
)
def test_sign_cloudinary_is_503_until_configured(app, client, owner, settings):
    app.config.update(settings)
    assert_error(
        client.post("/uploads/sign-cloudinary", json={}, headers=owner.headers),
        503,
        "uploads_not_configured",
    )


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"folder": "../other-owner"}, "folder"),
        ({"folder": "a/b/c/d/e"}, "folder"),
        ({"folder": {"$gt": ""}}, "folder"),
        ({"content_type": "text/html"}, "content_type"),
        ({"filename": "hall.mp4", "content_type": "image/png"}, "filename"),
        ({"filename": "notes.txt"}, "filename"),
        ({"public_id": "chosen"}, "public_id"),
    ],
)
def test_sign_cloudinary_refuses_bad_input(app, client, owner, body, field):
    app.config.update(CLOUDINARY_URL=CLOUDINARY_URL)
    error = assert_error(
        client.post("/uploads/sign-cloudinary", json=body, headers=owner.headers),
        422,
        "validation_failed",
    )
    assert field in error["details"]
