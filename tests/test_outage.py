"""With the database unreachable: the process starts, /health stays up, everything else 503s.

A real pymongo client pointed at a closed loopback port: the driver's own failure path, not a
stand-in.
"""

import pytest
from flask_jwt_extended import create_access_token

from halls import create_app
from tests.helpers import assert_error, bearer, ok_data

UNREACHABLE = "mongodb://127.0.0.1:1/?directConnection=true"


@pytest.fixture
def down_app(app_config):
    app = create_app(
        {
            **app_config,
            "MONGO_URI": UNREACHABLE,
            "MONGO_TIMEOUT_MS": 200,
            "MONGO_SOCKET_TIMEOUT_MS": 200,
        }
    )
    yield app
    app.extensions["halls_db"].client.close()


def test_the_app_starts_without_its_database_and_health_stays_up(down_app):
    client = down_app.test_client()
    assert ok_data(client.get("/health")) == {"status": "up"}
    assert_error(client.get("/health/ready"), 503, "database_unavailable")


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("get", "/venues/search", None),
        ("get", "/venues/5f0000000000000000000000", None),
        ("post", "/auth/login", {"email": "a@example.com", "password": "whatever1"}),
        (
            "post",
            "/auth/signup",
            {"email": "a@example.com", "password": "whatever1", "is_venue_owner": False},
        ),
    ],
)
def test_public_endpoints_answer_503_in_the_envelope(down_app, method, path, body):
    client = down_app.test_client()
    response = getattr(client, method)(path, json=body)
    assert_error(response, 503, "database_unavailable")


@pytest.mark.parametrize(
    ("method", "path"),
    [("get", "/auth/me"), ("get", "/bookings"), ("post", "/bookings")],
)
def test_signed_in_endpoints_answer_503_not_401(down_app, method, path):
    with down_app.app_context():
        token = create_access_token("5f0000000000000000000000", additional_claims={"ver": 0})
    client = down_app.test_client()
    response = getattr(client, method)(
        path, headers=bearer(token), json={} if method == "post" else None
    )
    assert_error(response, 503, "database_unavailable")
