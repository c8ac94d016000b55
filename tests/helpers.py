"""Assertions and small helpers the test files share."""

import datetime as dt

from bson import ObjectId

PASSWORD = "correct horse battery"


def today_plus(days, venue=None):
    """A date `days` from today in the venue's zone (Asia/Karachi by default)."""
    from halls.venues.rules import local_today

    base = dt.date.fromisoformat(local_today(venue or {}))
    return (base + dt.timedelta(days=days)).isoformat()


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


def assert_error(response, status, code):
    """The response is the error envelope with this status and code."""
    assert response.status_code == status, response.get_json()
    body = response.get_json()
    assert body["ok"] is False
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    assert isinstance(body["error"]["details"], dict)
    return body["error"]


def ok_data(response, status=200):
    """The response is the success envelope with this status; return its data."""
    assert response.status_code == status, response.get_json()
    body = response.get_json()
    assert body["ok"] is True
    return body["data"]


def other_id():
    return str(ObjectId())
