"""teach() installs the three features, once, and only on the mongomock it was written for."""

import sys
from pathlib import Path

import mongomock
import pytest

from halls import embedded
from halls.embedded import atomic


def test_another_mongomock_version_is_refused_at_start_up(monkeypatch):
    monkeypatch.setattr(mongomock, "__version__", "4.4.0")
    message = "halls.embedded was written for mongomock 4.3.0; found 4.4.0"
    with pytest.raises(RuntimeError, match=message):
        embedded.teach()
    with pytest.raises(RuntimeError, match=message):
        embedded.new_client()


def test_the_pinned_version_is_the_one_it_was_written_for():
    requirements = (Path(__file__).parents[2] / "requirements.txt").read_text().splitlines()
    assert f"mongomock=={embedded.MONGOMOCK_VERSION}" in requirements
    assert mongomock.__version__ == embedded.MONGOMOCK_VERSION


def test_teaching_twice_installs_once():
    embedded.teach()
    installed = mongomock.Collection.insert_one
    embedded.teach()
    assert mongomock.Collection.insert_one is installed
    assert embedded.client() is embedded.client()
    assert embedded.new_client() is not embedded.new_client()


def taught_places():
    """Where in mongomock's modules a function of halls.embedded is installed."""
    found = set()
    for module in [m for name, m in sys.modules.items() if name.split(".")[0] == "mongomock"]:
        for name, value in vars(module).items():
            if isinstance(value, type):
                found |= {f"{value.__name__}.{a}" for a, v in vars(value).items() if ours(v)}
            elif isinstance(value, dict):
                found |= {f"{name}[{key!r}]" for key, item in value.items() if ours(item)}
            elif ours(value):
                found.add(name)
    return found


def ours(value):
    code = getattr(value, "__code__", None)
    return code is not None and "halls/embedded" in code.co_filename.replace("\\", "/")


def test_only_the_features_are_installed():
    embedded.teach()
    locked = {f"Collection.{name}" for name in atomic.WRITES + atomic.READS}
    expected = locked | {"Cursor._compute_results", "_PIPELINE_HANDLERS['$geoNear']"}
    assert taught_places() == expected
