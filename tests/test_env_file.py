""".env: halls reads it at start; .env.example reads the same in a shell and in halls."""

import json
import os
import re
import runpy
import subprocess
import sys
from pathlib import Path

import pytest
from dotenv import dotenv_values

from halls import config

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / ".env.example"


def _names(path):
    return re.findall(r"^([A-Z][A-Z0-9_]*)=", path.read_text(), re.M)


def _shell_values(path, names):
    """What `set -a; . FILE; set +a` puts in a shell's environment, and what the shell said."""
    script = 'set -a; . "$1"; set +a; shift; exec "$@"'
    dump = "import json, os, sys; print(json.dumps({n: os.environ.get(n) for n in sys.argv[1:]}))"
    result = subprocess.run(
        ["bash", "-c", script, "bash", str(path), sys.executable, "-c", dump, *names],
        env={"PATH": os.environ["PATH"]},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return json.loads(result.stdout), result.stderr


def test_every_variable_of_env_example_arrives_in_a_shell_and_in_halls():
    names = _names(EXAMPLE)
    assert len(names) > 40
    read_by_halls = dotenv_values(EXAMPLE)
    read_by_shell, complaints = _shell_values(EXAMPLE, names)
    assert complaints == ""
    assert list(read_by_halls) == names
    missing = [name for name in names if read_by_shell[name] is None]
    assert missing == []
    assert read_by_shell == read_by_halls
    # The values with spaces and shell characters, whole and without their quotes.
    assert read_by_halls["MAIL_FROM"] == "Halls <no-reply@halls.local>"
    assert read_by_halls["RATELIMIT_DEFAULT"] == "300 per minute"
    assert read_by_halls["CORS_ORIGINS"] == "*"
    settings = config.from_env(read_by_halls)
    assert settings["MAIL_FROM"] == "Halls <no-reply@halls.local>"
    assert settings["RATELIMIT_AUTH"] == "10 per minute"
    assert settings["MONGO_URI"] is None  # empty means unset


def test_an_unquoted_value_with_spaces_is_what_the_shell_check_catches(tmp_path):
    # The old .env.example line: a shell ran `per` as a command and lost the variable.
    broken = tmp_path / ".env"
    broken.write_text("RATELIMIT_DEFAULT=300 per minute\nMONGO_DB=halls\n")
    read_by_shell, complaints = _shell_values(broken, ["RATELIMIT_DEFAULT", "MONGO_DB"])
    assert read_by_shell == {"RATELIMIT_DEFAULT": None, "MONGO_DB": "halls"}
    assert "per" in complaints


@pytest.fixture
def environ(monkeypatch):
    """os.environ as a throwaway copy, without any variable halls reads or the skip switch."""
    copy = dict(os.environ)
    for name in [*_names(EXAMPLE), "FLASK_SKIP_DOTENV"]:
        copy.pop(name, None)
    monkeypatch.setattr(os, "environ", copy)
    return copy


@pytest.fixture
def env_file(tmp_path, monkeypatch):
    path = tmp_path / ".env"
    path.write_text(
        "# a comment\n"
        'PUBLIC_BASE_URL="https://halls.example.pk"\n'
        'MAIL_FROM="Halls Team <team@halls.example.pk>"\n'
        "MONGO_DB=from_the_file\n"
        "BIND=127.0.0.1:9123\n"
    )
    monkeypatch.setattr(config, "ENV_FILE", path)
    return path


def test_the_env_file_fills_what_the_environment_lacks(environ, env_file):
    environ["MONGO_DB"] = "from_the_environment"
    assert config.load_env_file() is True
    settings = config.from_env()
    assert settings["PUBLIC_BASE_URL"] == "https://halls.example.pk"
    assert settings["MAIL_FROM"] == "Halls Team <team@halls.example.pk>"
    # A variable already set keeps its value.
    assert settings["MONGO_DB"] == "from_the_environment"


@pytest.mark.parametrize("skip", ["1", "true", "yes"])
def test_flask_skip_dotenv_skips_the_file(environ, env_file, skip):
    environ["FLASK_SKIP_DOTENV"] = skip
    assert config.load_env_file() is False
    assert "PUBLIC_BASE_URL" not in environ
    assert config.from_env()["PUBLIC_BASE_URL"] == "http://127.0.0.1:8000"


def test_flask_skip_dotenv_false_still_reads_it(environ, env_file):
    environ["FLASK_SKIP_DOTENV"] = "0"
    assert config.load_env_file() is True
    assert environ["PUBLIC_BASE_URL"] == "https://halls.example.pk"


def test_no_env_file_is_fine(environ, tmp_path):
    assert config.load_env_file(tmp_path / "absent.env") is False
    assert config.from_env()["PUBLIC_BASE_URL"] == "http://127.0.0.1:8000"


def test_gunicorn_and_the_app_read_it_before_their_settings(environ, env_file):
    assert runpy.run_path(str(ROOT / "gunicorn.conf.py"))["bind"] == "127.0.0.1:9123"
    app = runpy.run_path(str(ROOT / "wsgi.py"))["app"]
    assert app.config["PUBLIC_BASE_URL"] == "https://halls.example.pk"
    assert app.config["MONGO_DB"] == "from_the_file"


def test_the_tests_never_read_a_developers_env_file():
    # conftest sets Flask's switch, which wsgi.py, gunicorn.conf.py and `flask` obey.
    assert os.environ["FLASK_SKIP_DOTENV"] == "1"
    assert config.load_env_file(EXAMPLE) is False
