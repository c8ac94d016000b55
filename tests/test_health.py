from tests.helpers import assert_error, ok_data


def test_health_is_up(client):
    assert ok_data(client.get("/health")) == {"status": "up"}


def test_ready_pings_the_database(client):
    assert ok_data(client.get("/health/ready")) == {"status": "ready"}


def test_ready_reports_an_unreachable_database(client, monkeypatch):
    from pymongo.errors import ServerSelectionTimeoutError

    from halls import db

    def down():
        raise ServerSelectionTimeoutError("no servers")

    monkeypatch.setattr(db, "ping", down)
    assert_error(client.get("/health/ready"), 503, "database_unavailable")


def test_unknown_route_is_an_envelope(client):
    assert_error(client.get("/nope"), 404, "route_not_found")


def test_wrong_method_is_an_envelope(client):
    assert_error(client.delete("/health"), 405, "method_not_allowed")


def test_openapi_document_is_served(client):
    spec = client.get("/openapi.json").get_json()
    assert spec["openapi"].startswith("3.")
    assert "bearerAuth" in spec["components"]["securitySchemes"]
    assert "/health" in spec["paths"]
