import json
import logging

from halls.observability import JsonFormatter
from tests.helpers import assert_error


def test_request_id_is_generated_and_echoed(client):
    generated = client.get("/health").headers["X-Request-ID"]
    assert len(generated) == 32
    echoed = client.get("/health", headers={"X-Request-ID": "abc-123"})
    assert echoed.headers["X-Request-ID"] == "abc-123"


def test_an_unsafe_request_id_is_replaced(client):
    for unsafe in ("bad id <script>", "x" * 200):
        response = client.get("/health", headers={"X-Request-ID": unsafe})
        assert response.headers["X-Request-ID"] != unsafe
        assert len(response.headers["X-Request-ID"]) == 32


def test_security_headers_on_every_response(client):
    for response in (client.get("/health"), client.get("/missing")):
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["X-Frame-Options"] == "DENY"
        assert response.headers["Referrer-Policy"] == "no-referrer"
        assert "Strict-Transport-Security" not in response.headers


def test_one_structured_line_per_request(client, caplog):
    with caplog.at_level(logging.INFO, logger="halls.request"):
        client.get("/health", headers={"X-Request-ID": "req-1"})
    (record,) = [r for r in caplog.records if r.name == "halls.request"]
    line = json.loads(JsonFormatter().format(record))
    assert line["method"] == "GET" and line["path"] == "/health" and line["status"] == 200
    assert line["request_id"] == "req-1"
    assert line["duration_ms"] >= 0


def test_a_crash_is_logged_with_its_trace_but_never_shown(own_app, caplog):
    @own_app.get("/boom")
    def boom():
        raise RuntimeError("secret detail")

    with caplog.at_level(logging.ERROR, logger="halls.errors"):
        error = assert_error(
            own_app.test_client().get("/boom", headers={"X-Request-ID": "req-2"}),
            500,
            "internal_error",
        )
    assert "secret detail" not in json.dumps(error)
    (record,) = [r for r in caplog.records if r.name == "halls.errors"]
    line = json.loads(JsonFormatter().format(record))
    assert line["request_id"] == "req-2"
    assert "secret detail" in line["trace"]


def test_limited_routes_carry_rate_limit_headers(app_config, database):
    from halls import create_app

    app = create_app({**app_config, "RATELIMIT_ENABLED": True, "DATABASE": database})
    client = app.test_client()
    response = client.post("/auth/login", json={"email": "a@example.com", "password": "x" * 8})
    assert response.status_code == 401
    assert response.headers["X-RateLimit-Limit"] == "100"
    assert int(response.headers["X-RateLimit-Remaining"]) == 99
    assert int(response.headers["X-RateLimit-Reset"]) > 0
