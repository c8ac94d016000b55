"""An optional field a form leaves blank ("" or spaces) counts as not given: contact_number at
signup, at Google sign-up and in PATCH /auth/me. Anything else that is no phone number is 422."""

import re

import pytest

from halls import db
from tests.helpers import assert_error, ok_data

SIGNUP = {
    "email": "blank@example.com",
    "password": "correct horse battery",
    "is_venue_owner": False,
}


@pytest.mark.parametrize("blank", ["", "   "])
def test_signup_with_a_blank_contact_number_stores_none(client, blank):
    data = ok_data(client.post("/auth/signup", json={**SIGNUP, "contact_number": blank}), 201)
    assert data["user"]["contact_number"] == ""
    stored = db.users().find_one({"email": "blank@example.com"})
    assert stored["contact_number"] == ""


def test_signup_with_a_contact_number_that_is_no_number_is_a_422(client):
    response = client.post("/auth/signup", json={**SIGNUP, "contact_number": "call me"})
    error = assert_error(response, 422, "validation_failed")
    assert list(error["details"]) == ["contact_number"]
    assert db.users().count_documents({}) == 0


@pytest.mark.parametrize("blank", ["", " "])
def test_a_blank_contact_number_in_patch_me_changes_nothing(client, customer, blank):
    user, headers = customer
    body = {"full_name": "Cyrus C.", "contact_number": blank}
    data = ok_data(client.patch("/auth/me", json=body, headers=headers))
    assert data["user"]["contact_number"] == user["contact_number"] == "+923001234567"
    assert data["user"]["full_name"] == "Cyrus C."
    stored = db.users().find_one({"_id": user["_id"]})
    assert (stored["contact_number"], stored["full_name"]) == ("+923001234567", "Cyrus C.")


def test_the_document_allows_what_the_server_accepts(client):
    spec = client.get("/openapi.json").get_json()
    schemas = spec["components"]["schemas"]
    for name in ("SignupIn", "GoogleIn", "MePatch"):
        field = schemas[name]["properties"]["contact_number"]
        assert re.fullmatch(field["pattern"], "")
        assert re.fullmatch(field["pattern"], "+92 300 1234567")
        assert not re.fullmatch(field["pattern"], "call me")
        assert "empty means not given" in field["description"]
    assert schemas["SignupIn"]["properties"]["contact_number"]["default"] == ""
    assert "default" not in schemas["MePatch"]["properties"]["contact_number"]
