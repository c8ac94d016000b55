"""Helpers the auth tests share."""

from tests.helpers import PASSWORD

USER_FIELDS = {
    "id",
    "full_name",
    "email",
    "contact_number",
    "is_venue_owner",
    "role",
    "auth_provider",
    "created_at",
    "updated_at",
}


def signup(client, **fields):
    body = {"email": "sara@example.com", "password": PASSWORD, "is_venue_owner": False}
    return client.post("/auth/signup", json={**body, **fields})


def login(client, email, password=PASSWORD):
    return client.post("/auth/login", json={"email": email, "password": password})
