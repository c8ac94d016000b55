"""The shape STYLE.md asks of halls/, checked so that it stays: modules split by job, no
import cycles, the stand-in kept to the embedded package, one clock."""

import ast
import pathlib
import re

import pytest

HALLS = pathlib.Path(__file__).resolve().parent.parent / "halls"
MAX_LINES = 450
# Who may name mongomock: the backend that teaches it, and db.py, which opens it.
MONGOMOCK_ALLOWED = ("embedded/", "db.py")
# Reading the time: halls/clock.py, and the token expiry check, which must ask PyJWT's clock.
CLOCK_READERS = {"clock.py": 1, "auth/tokens.py": 1}
READS_THE_TIME = re.compile(r"datetime\.now\(|datetime\.utcnow\(|\btime\.time\(|date\.today\(")


def modules():
    return sorted(HALLS.rglob("*.py"))


def relative(path):
    return path.relative_to(HALLS).as_posix()


def module_name(path):
    parts = path.relative_to(HALLS.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path, known):
    """The halls modules a file imports, at any depth (a function-level import counts)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name in known)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                full = f"{node.module}.{alias.name}"
                found.add(full if full in known else node.module)
    return found & known


def cycles(graph):
    """Every import cycle, each once (from its smallest module)."""
    found = []

    def walk(start, node, path):
        for follower in sorted(graph[node]):
            if follower == start:
                found.append(path)
            elif follower > start and follower not in path:
                walk(start, follower, [*path, follower])

    for start in sorted(graph):
        walk(start, start, [start])
    return found


def test_no_module_is_longer_than_a_few_screens():
    lines = {relative(path): len(path.read_text().splitlines()) for path in modules()}
    assert {name: n for name, n in lines.items() if n > MAX_LINES} == {}


def test_no_two_modules_import_each_other_even_through_others():
    known = {module_name(path) for path in modules()}
    graph = {module_name(path): imports_of(path, known) - {module_name(path)} for path in modules()}
    assert cycles(graph) == []


def test_the_cycle_finder_finds_a_cycle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c"]]


def test_only_the_embedded_backend_and_db_name_mongomock():
    naming = [relative(path) for path in modules() if "mongomock" in path.read_text()]
    assert naming, "the embedded backend names mongomock: the check reads the right files"
    assert [name for name in naming if not name.startswith(MONGOMOCK_ALLOWED)] == []


@pytest.mark.parametrize("path", modules(), ids=relative)
def test_the_time_is_read_in_one_place(path):
    reads = len(READS_THE_TIME.findall(path.read_text()))
    assert reads == CLOCK_READERS.get(relative(path), 0)
