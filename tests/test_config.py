import gc
import logging
import re
import runpy
from pathlib import Path

import pytest
from dotenv import dotenv_values

from halls import config, create_app
from tests.helpers import ok_data

ROOT = Path(__file__).resolve().parent.parent
STRONG_SECRET = "s" * 32


class RecordingEnv(dict):
    """An environment that remembers every variable asked for."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.asked = set()

    def get(self, key, default=None):
        self.asked.add(key)
        return super().get(key, default)


def _env_example():
    """The variables of .env.example, in order, with their values (as halls reads them)."""
    lines = (ROOT / ".env.example").read_text().splitlines()
    values = dotenv_values(ROOT / ".env.example")
    pairs = []
    for number, line in enumerate(lines):
        if not line.strip() or line.startswith("#"):
            continue
        match = re.fullmatch(r"([A-Z][A-Z0-9_]*)=(.*)", line)
        assert match, f".env.example line {number + 1} is not KEY=value: {line!r}"
        assert lines[number - 1].startswith("#"), f"{match[1]} has no comment above it"
        pairs.append((match[1], values[match[1]]))
    return pairs


def _read_by(path):
    return set(re.findall(r'os\.environ\.get\("([A-Z0-9_]+)"', (ROOT / path).read_text()))


def _clean_environment(monkeypatch):
    asked = RecordingEnv()
    config.from_env(asked)
    for name in asked.asked:
        monkeypatch.delenv(name, raising=False)


def test_env_example_lists_every_variable_config_reads():
    asked = RecordingEnv()
    config.from_env(asked)
    listed = [name for name, _ in _env_example()]
    assert len(listed) == len(set(listed)), "a variable is listed twice"
    assert asked.asked <= set(listed), f"missing from .env.example: {asked.asked - set(listed)}"


def test_env_example_lists_nothing_that_nobody_reads():
    asked = RecordingEnv()
    config.from_env(asked)
    readers = asked.asked | _read_by("gunicorn.conf.py") | _read_by("tests/conftest.py")
    listed = {name for name, _ in _env_example()}
    assert listed - readers == set()


def test_env_example_defaults_are_safe_for_development_only():
    env = dict(_env_example())
    settings = config.from_env(env)
    config.check(settings)
    assert settings["MONGO_URI"] is None
    assert settings["HALLS_DEMO_DATA"] is False
    assert settings["RATELIMIT_ENABLED"] is True
    with pytest.raises(config.ConfigError):
        config.check(config.from_env({**env, "HALLS_ENV": "production"}))


def test_development_defaults():
    settings = config.from_env({})
    config.check(settings)
    assert settings["HALLS_ENV"] == "development"
    assert settings["MONGO_URI"] is None
    assert settings["JWT_SECRET_KEY"] == config.DEFAULT_JWT_SECRET
    assert settings["JWT_ACCESS_TOKEN_EXPIRES"] == 1800
    assert settings["JWT_REFRESH_TOKEN_EXPIRES"] == 7 * 24 * 3600
    assert settings["RATELIMIT_AUTH"] == "10 per minute"
    assert settings["MAX_CONTENT_LENGTH"] == 1024 * 1024


def test_an_app_starts_on_development_defaults(monkeypatch, caplog):
    _clean_environment(monkeypatch)
    with caplog.at_level(logging.INFO, logger="halls.db"):
        app = create_app()
    client = app.test_client()
    assert ok_data(client.get("/health/ready")) == {"status": "ready"}
    assert any("embedded" in record.getMessage() for record in caplog.records)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("true", True), ("TRUE", True), ("false", False), ("yes", False), ("", False)],
)
def test_demo_data_flag(text, expected):
    assert config.from_env({"HALLS_DEMO_DATA": text})["HALLS_DEMO_DATA"] is expected


def test_empty_values_mean_unset():
    settings = config.from_env(
        {"MONGO_URI": "", "S3_BUCKET": "", "GOOGLE_CLIENT_ID": "", "JWT_SECRET": ""}
    )
    assert settings["JWT_SECRET_KEY"] == config.DEFAULT_JWT_SECRET
    assert (settings["MONGO_URI"], settings["S3_BUCKET"], settings["GOOGLE_CLIENT_ID"]) == (
        None,
        None,
        None,
    )


def test_empty_numbers_mean_the_default_and_garbage_is_refused():
    assert config.from_env({"SMTP_PORT": "", "BCRYPT_ROUNDS": ""})["SMTP_PORT"] == 587
    with pytest.raises(config.ConfigError, match="SMTP_PORT"):
        config.from_env({"SMTP_PORT": "twenty-five"})


PRODUCTION = {"HALLS_ENV": "production", "MONGO_URI": "mongodb://db.example:27017"}


@pytest.mark.parametrize(
    ("changes", "says"),
    [
        ({"MONGO_URI": ""}, "MONGO_URI"),
        ({"JWT_SECRET": STRONG_SECRET, "MONGO_URI": ""}, "MONGO_URI"),
        ({}, "JWT_SECRET"),
        ({"JWT_SECRET": config.DEFAULT_JWT_SECRET}, "JWT_SECRET"),
        ({"JWT_SECRET": ""}, "JWT_SECRET"),
        ({"JWT_SECRET": "s" * 31}, "JWT_SECRET"),
    ],
)
def test_production_refuses_unsafe_settings(changes, says):
    settings = config.from_env({**PRODUCTION, **changes})
    with pytest.raises(config.ConfigError, match=says):
        config.check(settings)


def test_production_accepts_a_real_database_and_a_strong_secret():
    config.check(config.from_env({**PRODUCTION, "JWT_SECRET": STRONG_SECRET}))


@pytest.mark.parametrize(
    "overrides",
    [
        {"MONGO_URI": None, "JWT_SECRET_KEY": STRONG_SECRET},
        {"MONGO_URI": "mongodb://db.example:27017", "JWT_SECRET_KEY": config.DEFAULT_JWT_SECRET},
    ],
)
def test_production_app_refuses_to_start(overrides, database):
    with pytest.raises(config.ConfigError):
        create_app({"HALLS_ENV": "production", "DATABASE": database, **overrides})


def test_production_app_starts_with_safe_settings(database):
    app = create_app(
        {
            "HALLS_ENV": "production",
            "MONGO_URI": "mongodb://db.example:27017",
            "JWT_SECRET_KEY": STRONG_SECRET,
            "DATABASE": database,
        }
    )
    assert ok_data(app.test_client().get("/health")) == {"status": "up"}


def _gunicorn(monkeypatch, **env):
    for name in _read_by("gunicorn.conf.py"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return runpy.run_path(str(ROOT / "gunicorn.conf.py"))


def test_gunicorn_defaults(monkeypatch):
    settings = _gunicorn(monkeypatch)
    assert settings["bind"] == "127.0.0.1:8000"
    assert (settings["workers"], settings["threads"]) == (1, 8)
    assert settings["worker_class"] == "gthread"
    assert (settings["timeout"], settings["graceful_timeout"]) == (30, 30)
    assert settings["accesslog"] is None  # halls logs each request itself, once
    assert _gunicorn(monkeypatch, GUNICORN_ACCESS_LOG="-")["accesslog"] == "-"


def test_gunicorn_workers_collect_garbage_less_often(monkeypatch):
    settings = _gunicorn(monkeypatch)
    before = gc.get_threshold()
    try:
        settings["post_fork"](None, None)
        assert gc.get_threshold() == settings["GC_THRESHOLD"] == (20_000, 10, 10)
    finally:
        gc.set_threshold(*before)


def test_gunicorn_keeps_one_worker_on_the_embedded_database(monkeypatch):
    settings = _gunicorn(monkeypatch, WEB_CONCURRENCY="4", GUNICORN_THREADS="16")
    assert (settings["workers"], settings["threads"]) == (1, 16)


def test_gunicorn_scales_out_on_a_real_database(monkeypatch):
    settings = _gunicorn(
        monkeypatch,
        MONGO_URI="mongodb://db.example:27017",
        WEB_CONCURRENCY="4",
        BIND="0.0.0.0:9000",
        GUNICORN_TIMEOUT="60",
        GUNICORN_GRACEFUL_TIMEOUT="20",
    )
    assert settings["workers"] == 4
    assert settings["bind"] == "0.0.0.0:9000"
    assert (settings["timeout"], settings["graceful_timeout"]) == (60, 20)


def test_dockerfile_runs_gunicorn_as_a_non_root_user_with_a_healthcheck():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11-slim$", dockerfile, re.M)
    assert re.search(r"^USER (?!root)\w+$", dockerfile, re.M)
    assert "pip install -r requirements.txt" in dockerfile
    assert "requirements-dev" not in dockerfile
    assert re.search(r"^HEALTHCHECK .*", dockerfile, re.M)
    assert "/health" in dockerfile
    assert 'CMD ["gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"]' in dockerfile


def _readme():
    return (ROOT / "README.md").read_text()


def _error_codes():
    """Every error code halls can answer with, read from the source."""
    patterns = [
        r'error_code="([a-z_]+)"',  # raise Conflict(..., error_code="slot_taken")
        r'error_code = \d+, "([a-z_]+)"',  # class defaults in errors.py
        r'\d+: \("([a-z_]+)"',  # errors.HTTP_CODES
        r'envelope_error\(\s*\d+,\s*"([a-z_]+)"',
        r'_unauthorized\(\s*"([a-z_]+)"',  # the token loaders
    ]
    source = "\n".join(path.read_text() for path in (ROOT / "halls").rglob("*.py"))
    return {code for pattern in patterns for code in re.findall(pattern, source)}


def test_readme_documents_every_error_code():
    codes = _error_codes()
    assert {"slot_taken", "token_revoked", "rate_limited", "uploads_not_configured"} <= codes
    documented = set(re.findall(r"`([a-z]+(?:_[a-z]+)*)`", _readme()))
    assert codes - documented == set()


def test_readme_documents_every_variable():
    documented = set(re.findall(r"^\| `([A-Z][A-Z0-9_]+)` \|", _readme(), re.M))
    assert {name for name, _ in _env_example()} == documented


def test_readme_lists_every_endpoint(app):
    readme = _readme()
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        path = re.sub(r"<(?:\w+:)?\w+>", "<id>", rule.rule)
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            assert f"{method} {path}" in readme, f"{method} {path} is not in the README"
