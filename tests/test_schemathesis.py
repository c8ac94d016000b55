"""Schemathesis against /openapi.json, in-process: every operation, as an owner and a customer.

Each operation gets a bounded number of generated requests (valid and invalid ones), sent with
a real bearer token. About half of them are aimed at a world seeded through the API (tests/
fuzz_world.py): real ids, slot keys, open dates and tokens, so that they get past the 404s and
409s and their success answers are checked too. Every response must be no 5xx, a documented
status, the documented content type and the documented schema; and each operation in
fuzz_world.MUST_SUCCEED must have answered its success status at least once.
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

from tests.fuzz_world import MUST_SUCCEED, aim, seed_world
from tests.helpers import key_and_certificate
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
def google_key():
    return key_and_certificate("google-test")


@pytest.fixture
def app_config(app_config, monkeypatch, google_key):
    """Configured like production: Google sign-in and both upload services (all offline)."""
    from halls.auth import google

    fake = FakeTransport({KEY_ID: google_key[1].decode()})
    monkeypatch.setattr(google, "transport", lambda: fake)
    return {
        **app_config,
        **S3,
        "GOOGLE_CLIENT_ID": CLIENT_ID,
        "CLOUDINARY_URL": CLOUDINARY_URL,
    }


@pytest.fixture
def world(app, make_user, google_key):
    """The seeded world; afterwards, every operation it must reach answered its success."""
    world = seed_world(app, make_user, google_key)
    yield world
    missed = {
        f"{role} {label}: {sorted(world.seen[role, label])}"
        for (role, label), success in MUST_SUCCEED.items()
        if (role, label) in world.seen and success not in world.seen[role, label]
    }
    assert not missed, f"never reached its success status: {missed}"


FUZZ = settings(
    max_examples=25,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)


def call_as(role, case, data, app, world):
    """Send the case with the role's token, aimed at the world when drawn so; validate it."""
    aimed = data.draw(st.booleans(), label="aimed")
    if aimed:
        aim(case, data.draw, role, world)
    response = case.call(app=app, headers=world.headers(role, case, aimed))
    world.seen.setdefault((role, case.operation.label), set()).add(response.status_code)
    case.validate_response(response, checks=CHECKS)


@schema.parametrize()
@schema.given(data=st.data())
@FUZZ
def test_api_conforms_to_its_schema_as_owner(case, data, app, world):
    call_as("owner", case, data, app, world)


@schema.parametrize()
@schema.given(data=st.data())
@FUZZ
def test_api_conforms_to_its_schema_as_customer(case, data, app, world):
    call_as("customer", case, data, app, world)


def test_every_operation_that_must_succeed_is_in_the_schema():
    """A renamed route cannot drop out of MUST_SUCCEED unnoticed."""
    labels = {result.ok().label for result in schema.get_all_operations()}
    assert {label for _, label in MUST_SUCCEED} <= labels


@pytest.mark.parametrize("role", ["owner", "customer"])
def test_workflows_conform_to_the_schema(role, app, database, world):
    """Chains of calls along the links schemathesis infers (register → get/patch a venue,
    book → get/cancel the booking, ...), each response checked like above."""
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
            return {"app": app, "headers": world.headers(role, case, aimed=False)}

        def validate_response(self, response, case, additional_checks=None, **kwargs):
            case.validate_response(response, checks=CHECKS, transport_kwargs=kwargs)

    Workflow.run(settings=settings(FUZZ, max_examples=20, stateful_step_count=8))
