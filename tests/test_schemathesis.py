"""Schemathesis against /openapi.json, in-process: every operation, as an owner and a customer.

Each operation gets a bounded number of generated requests (valid and invalid ones), sent with
a real bearer token; half of them aim at real resources (the caller's venue, add-on, blackout
and booking) instead of random ids, so they get past the 404s. Every response must be no 5xx,
a documented status, the documented content type and the documented schema.
"""

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.helpers import TWO_SLOTS, insert_booking, key_and_certificate, today_plus
from tests.test_google import CLIENT_ID, KEY_ID, FakeTransport
from tests.test_uploads import CLOUDINARY_URL, S3

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


def _spec():
    """The OpenAPI document the app serves (any app serves the same one)."""
    from halls import create_app, embedded

    app = create_app(
        {
            "TESTING": True,
            "DATABASE": embedded.new_client()["halls_spec"],
            "JWT_SECRET_KEY": "spec-" + "x" * 32,
            "HALLS_DEMO_DATA": False,
        }
    )
    return app.test_client().get("/openapi.json").get_json()


schema = schemathesis.openapi.from_dict(_spec())


@pytest.fixture(scope="module")
def google_certificate():
    return key_and_certificate("google-test")[1].decode()


@pytest.fixture
def app_config(app_config, monkeypatch, google_certificate):
    """Configured like production: Google sign-in and both upload services (all offline)."""
    from halls.auth import google

    fake = FakeTransport({KEY_ID: google_certificate})
    monkeypatch.setattr(google, "transport", lambda: fake)
    return {
        **app_config,
        **S3,
        "GOOGLE_CLIENT_ID": CLIENT_ID,
        "CLOUDINARY_URL": CLOUDINARY_URL,
    }


@pytest.fixture
def callers(make_user, make_venue):
    """Bearer headers by role, and the ids of real resources they may reach."""

    # The owner is an admin too, so POST /wallet/credit gets past its 403.
    owner, owner_headers = make_user(owner=True, role="admin")
    customer, customer_headers = make_user()
    dj = {"key": "dj", "name": "DJ", "price": 5000, "unit": "per_event", "max_qty": None}
    venue = make_venue(owner, slots=TWO_SLOTS, blackouts=[], addons=[dj])
    booking = insert_booking(venue, customer, date=today_plus(9, venue), slots=["lunch"])
    ids = {
        "venue_id": str(venue["_id"]),
        "booking_id": str(booking["_id"]),
        "key": "dj",
        "date": today_plus(12, venue),
    }
    return {"owner": owner_headers, "customer": customer_headers}, ids


FUZZ = settings(
    max_examples=25,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)


def call_as(role, case, aim, app, callers):
    """Send the case with the role's token, aimed at real ids when `aim`; validate the answer."""
    headers, ids = callers
    if aim:
        for values in (case.path_parameters, case.query, case.body):
            if isinstance(values, dict):
                values.update({k: v for k, v in ids.items() if k in values})
    case.call_and_validate(app=app, headers=headers[role], checks=CHECKS)


@schema.parametrize()
@schema.given(aim=st.booleans())
@FUZZ
def test_api_conforms_to_its_schema_as_owner(case, aim, app, callers):
    call_as("owner", case, aim, app, callers)


@schema.parametrize()
@schema.given(aim=st.booleans())
@FUZZ
def test_api_conforms_to_its_schema_as_customer(case, aim, app, callers):
    call_as("customer", case, aim, app, callers)


@pytest.mark.parametrize("role", ["owner", "customer"])
def test_workflows_conform_to_the_schema(role, app, database, callers):
    """Chains of calls along the links schemathesis infers (register → get/patch a venue,
    book → get/cancel the booking, ...), each response checked like above."""
    headers, _ = callers
    # Every scenario starts from the same documents, so a replayed scenario answers the same.
    start = {name: list(database[name].find()) for name in database.list_collection_names()}

    class Workflow(schema.as_state_machine()):
        def setup(self):
            for name in database.list_collection_names():
                database[name].delete_many({})
            for name, documents in start.items():
                if documents:
                    database[name].insert_many(documents)

        def get_call_kwargs(self, case):
            return {"app": app, "headers": headers[role]}

        def validate_response(self, response, case, additional_checks=None, **kwargs):
            case.validate_response(response, checks=CHECKS, transport_kwargs=kwargs)

    Workflow.run(settings=settings(FUZZ, max_examples=20, stateful_step_count=8))
