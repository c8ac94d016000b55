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


def test_openapi_lists_each_operations_real_errors_and_no_catch_all(client):
    spec = client.get("/openapi.json").get_json()
    paths = spec["paths"]
    statuses = {
        (method, path): set(operation["responses"])
        for path, operations in paths.items()
        for method, operation in operations.items()
        if method != "parameters"
    }
    assert all("default" not in found for found in statuses.values())
    assert statuses[("get", "/health")] == {"200", "500"}
    assert statuses[("get", "/health/ready")] == {"200", "500", "503"}
    # A JSON body, a bearer token, an owner check, a path id, the route's own conflicts:
    assert statuses[("patch", "/venues/{venue_id}")] == {
        "200", "400", "401", "403", "404", "409", "413", "415", "422", "429", "500", "503"
    }  # fmt: skip
    assert {"401", "404", "409"} <= statuses[("post", "/bookings")]  # venue_id in the body
    assert "401" in statuses[("post", "/auth/login")]
    assert "409" in statuses[("post", "/auth/signup")]
    error = paths["/auth/login"]["post"]["responses"]["401"]["$ref"].rsplit("/", 1)[1]
    schema = spec["components"]["responses"][error]["content"]["application/json"]["schema"]
    assert schema["$ref"].endswith("/ErrorEnvelope")


def test_openapi_documents_ids_and_dates_as_they_are_sent(client):
    schemas = client.get("/openapi.json").get_json()["components"]["schemas"]
    booking_in = schemas["BookingIn"]["properties"]
    assert booking_in["venue_id"] == {"type": "string", "pattern": "^[0-9a-fA-F]{24}$"}
    assert booking_in["date"] == {"type": "string", "format": "date"}
