"""Settings from the environment and `.env`; production refuses unsafe values."""

import os
from pathlib import Path
from urllib.parse import urlsplit

from dotenv import load_dotenv
from limits import parse_many

# 32+ characters so that PyJWT does not warn in development; production refuses it anyway.
DEFAULT_JWT_SECRET = "dev-only-insecure-jwt-secret-change-me-in-production"


# The `.env` file of a checkout (or of /app in the Docker image): the project's root folder.
ENV_FILE = Path(__file__).resolve().parent.parent / ".env"


class ConfigError(RuntimeError):
    """The environment asks for something that must not run."""


def load_env_file(path=None):
    """Add the variables of `.env` to the environment; those already set keep their value.

    The entry points (wsgi.py, gunicorn.conf.py) call it before any setting is read;
    create_app never does, so the tests and any program that builds an app see only their own
    environment. FLASK_SKIP_DOTENV=1, Flask's switch that the `flask` command obeys for the same
    file, skips it. Returns whether the file was there.
    """
    if os.environ.get("FLASK_SKIP_DOTENV", "").lower() not in ("", "0", "false", "no"):
        return False
    path = ENV_FILE if path is None else Path(path)
    if not path.is_file():
        return False
    load_dotenv(path, override=False, encoding="utf-8")
    return True


def from_env(env=None):
    """Build the Flask config mapping from environment variables."""
    env = os.environ if env is None else env
    get = env.get

    def number(name, default):
        # An empty value (SMTP_PORT=) means "use the default", as it does for strings.
        value = get(name) or default
        try:
            return int(value)
        except ValueError:
            raise ConfigError(f"{name} must be a whole number, not {value!r}.") from None

    def rate_limit(name, default, single=False):
        # Flask-Limiter's notation ("10 per minute", "100/hour;1000/day"), checked at start, not
        # at the first request it would have broken.
        value = get(name) or default
        try:
            limits = parse_many(value)
        except ValueError:
            limits = []
        if not limits or (single and len(limits) > 1):
            what = "one rate limit" if single else "rate limits"
            raise ConfigError(f"{name} must be {what} such as '10 per minute', not {value!r}.")
        return value

    def absolute_url(name):
        value = get(name) or None
        parts = urlsplit(value or "")
        if value and (not parts.scheme or (parts.scheme in ("http", "https") and not parts.netloc)):
            raise ConfigError(
                f"{name} must be an absolute URL (https://... or an app's own scheme://...), "
                f"not {value!r}."
            )
        return value

    return {
        "HALLS_ENV": get("HALLS_ENV", "development"),
        "MONGO_URI": get("MONGO_URI") or None,
        "MONGO_DB": get("MONGO_DB", "halls"),
        # How long to wait for an unreachable server before answering 503 (selection, connect).
        "MONGO_TIMEOUT_MS": number("MONGO_TIMEOUT_MS", 1500),
        # How long one operation may wait on a server that stopped answering mid-request.
        "MONGO_SOCKET_TIMEOUT_MS": number("MONGO_SOCKET_TIMEOUT_MS", 5000),
        "JWT_SECRET_KEY": get("JWT_SECRET") or DEFAULT_JWT_SECRET,
        "JWT_ACCESS_TOKEN_EXPIRES": number("JWT_ACCESS_TTL_SECONDS", 1800),
        "JWT_REFRESH_TOKEN_EXPIRES": number("JWT_REFRESH_TTL_SECONDS", 7 * 24 * 3600),
        "BCRYPT_ROUNDS": number("BCRYPT_ROUNDS", 12),
        "GOOGLE_CLIENT_ID": get("GOOGLE_CLIENT_ID") or None,
        # How many reverse proxies (nginx, a load balancer) stand in front and set X-Forwarded-For.
        "PROXY_COUNT": number("PROXY_COUNT", 0),
        "CORS_ORIGINS": get("CORS_ORIGINS", "*"),
        "RATELIMIT_STORAGE_URI": get("RATELIMIT_STORAGE_URI", "memory://"),
        "RATELIMIT_DEFAULT": rate_limit("RATELIMIT_DEFAULT", "300 per minute"),
        "RATELIMIT_AUTH": rate_limit("RATELIMIT_AUTH", "10 per minute"),
        # Failed sign-ins per account (auth/throttle.py): strict, whatever the address.
        "RATELIMIT_LOGIN_ACCOUNT": rate_limit(
            "RATELIMIT_LOGIN_ACCOUNT", "5 per 15 minutes", single=True
        ),
        # Failed sign-ins per client address: generous, as one carrier NAT is many people.
        "RATELIMIT_LOGIN_IP": rate_limit("RATELIMIT_LOGIN_IP", "100 per minute"),
        "RATELIMIT_ENABLED": get("RATELIMIT_ENABLED", "true").lower() != "false",
        "SMTP_HOST": get("SMTP_HOST") or None,
        "SMTP_PORT": number("SMTP_PORT", 587),
        "SMTP_USER": get("SMTP_USER") or None,
        "SMTP_PASSWORD": get("SMTP_PASSWORD") or None,
        "SMTP_STARTTLS": get("SMTP_STARTTLS", "true").lower() != "false",
        "MAIL_FROM": get("MAIL_FROM", "Halls <no-reply@halls.local>"),
        # send-outbox retries a failed message after 1, 2, 4 ... minutes, then gives up.
        "MAIL_MAX_ATTEMPTS": number("MAIL_MAX_ATTEMPTS", 10),
        "MAIL_RETRY_BASE_SECONDS": number("MAIL_RETRY_BASE_SECONDS", 60),
        "PUBLIC_BASE_URL": get("PUBLIC_BASE_URL", "http://127.0.0.1:8000"),
        # Where the reset mail links, with ?token=... added: a web page or a mobile app's deep
        # link. Unset: PUBLIC_BASE_URL + /reset-password, the page halls serves.
        "PASSWORD_RESET_URL": absolute_url("PASSWORD_RESET_URL"),
        "S3_BUCKET": get("S3_BUCKET") or None,
        "S3_REGION": get("S3_REGION", "ap-south-1"),
        "S3_PUBLIC_BASE_URL": get("S3_PUBLIC_BASE_URL") or None,
        "AWS_ACCESS_KEY_ID": get("AWS_ACCESS_KEY_ID") or None,
        "AWS_SECRET_ACCESS_KEY": get("AWS_SECRET_ACCESS_KEY") or None,
        "CLOUDINARY_URL": get("CLOUDINARY_URL") or None,
        "CLOUDINARY_CLOUD_NAME": get("CLOUDINARY_CLOUD_NAME") or None,
        "CLOUDINARY_UPLOAD_PRESET": get("CLOUDINARY_UPLOAD_PRESET") or None,
        "UPLOAD_URL_TTL_SECONDS": number("UPLOAD_URL_TTL_SECONDS", 900),
        "CLAIM_GRACE_SECONDS": number("CLAIM_GRACE_SECONDS", 300),
        "HALLS_DEMO_DATA": get("HALLS_DEMO_DATA", "false").lower() == "true",
        "MAX_CONTENT_LENGTH": 1024 * 1024,
    }


def check(config):
    """Refuse to run production on the embedded backend or with the default secret."""
    if config["HALLS_ENV"] != "production":
        return
    if not config.get("MONGO_URI"):
        raise ConfigError(
            "HALLS_ENV=production needs MONGO_URI: the embedded database is not kept."
        )
    secret = config.get("JWT_SECRET_KEY") or ""
    if secret == DEFAULT_JWT_SECRET or len(secret) < 32:
        raise ConfigError(
            "HALLS_ENV=production needs a JWT_SECRET of at least 32 random characters."
        )
