"""Schemathesis against /openapi.json, in-process: every operation, as an owner and a customer.

Each operation gets a bounded number of generated requests (valid and invalid ones), sent with
a real bearer token. About half of them are aimed at a world seeded through the API (tests/
fuzz_world.py): real ids, slot keys, open dates and tokens, so that they get past the 404s and
409s and their success answers are checked too. Every response must be no 5xx, a documented
status, the documented content type and the documented schema; and each operation in
fuzz_world.MUST_SUCCEED must have answered its success status at least once.

The stateful run follows the links the document declares (tests/test_openapi_links.py checks
them), always using the values a link gives, with bodies and queries aimed like above about half
the time; the same checks apply to every step, and at least MUST_FOLLOW chains per role must
have reached a success.
"""

import copy
from types import SimpleNamespace

import pytest
import schemathesis
from bson import ObjectId
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.generation.feedback import NO_FEEDBACK
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from halls import db
from halls.auth.tokens import issue_tokens
from tests.auth.test_google import CLIENT_ID, KEY_ID, FakeTransport
from tests.fuzz_world import MUST_SUCCEED, aim, seed_world
from tests.helpers import bearer, key_and_certificate
from tests.test_openapi_links import with_link_bodies
from tests.uploads.test_uploads import CLOUDINARY_URL, S3

pytestmark = pytest.mark.slow

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
            # The limiter is one object for every app: an app made later must not switch it on
            # for the app under test.
            "RATELIMIT_ENABLED": False,
        }
    )
    return app.test_client().get("/openapi.json").get_json()


SPEC = with_link_bodies(_spec())
# Generated requests only: the document's own examples are checked in tests/test_openapi_sdk.py
# (and schemathesis cannot run them beside @schema.given's aimed values).
schema = schemathesis.openapi.from_dict(
    copy.deepcopy(SPEC),
    config=SchemathesisConfig.from_dict({"phases": {"examples": {"enabled": False}}}),
)


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


# How many of the document's chains (source -> target operation, the target answering 2xx) each
# role's stateful run must have completed. Which ones depends on the paths Hypothesis takes, and
# those shift with any answer that changes, so the floor counts them instead of naming them.
MUST_FOLLOW = 3

# Only the document's own links: the chains it promises, not ones schemathesis guesses.
OWN_LINKS_ONLY = SchemathesisConfig.from_dict(
    {"phases": {"stateful": {"inference": {"algorithms": []}}}}
)


class FollowEveryLink:
    """Link calibration that always uses what a link gives. By default schemathesis drops some
    of it by a truly random coin, so a replayed scenario can take another path and Hypothesis
    stops it as flaky; the unlinked, random values are the plain fuzz run's and the roots' job."""

    def use_probability(self, transition_id):
        return 1.0

    def is_calibrated(self, transition_id):
        return True


def aimed_half_the_time(location, role, world):
    """A flatmap hook: the generated path parameters, query or body, or about as often what
    fuzz_world.aim makes of them. Values a link supplies still win over either."""

    def hook(context, value):
        @st.composite
        def aimed(draw):
            case = SimpleNamespace(
                operation=context.operation, path_parameters={}, query={}, body=None
            )
            setattr(case, location, copy.deepcopy(value))
            aim(case, draw, role, world)
            return getattr(case, location)

        return st.one_of(st.just(value), aimed())

    return hook


@pytest.mark.parametrize("role", ["owner", "customer"])
def test_workflows_conform_to_the_schema(role, app, database, world):
    """Chains of calls along the document's links (register -> get/patch/close/book the venue,
    book -> get/cancel/quote the booking, sign in -> sign out, ...), each response checked like
    above; at least MUST_FOLLOW chains must have reached a success."""
    chains = schemathesis.openapi.from_dict(copy.deepcopy(SPEC), config=OWN_LINKS_ONLY)
    for location in ("path_parameters", "query", "body"):
        chains.hook(f"flatmap_{location}")(aimed_half_the_time(location, role, world))
    # Every scenario starts from the same documents, so a replayed scenario answers the same.
    start = {name: list(database[name].find()) for name in database.list_collection_names()}
    followed = {}  # (source label, target label) -> statuses the target answered

    machine = chains.build_state_machine(feedback=NO_FEEDBACK, link_calibration=FollowEveryLink())

    class Workflow(machine):
        def setup(self):
            self.labels = {}  # case id -> its operation, to name where a link started
            for name in database.list_collection_names():
                database[name].delete_many({})
            for name, documents in start.items():
                if documents:
                    database[name].insert_many(documents)

        def step(self, input):
            output = super().step(input)
            self.labels[input.case.id] = input.case.operation.label
            if input.transition is not None and input.applied_parameters:
                source = self.labels[input.transition.parent_id]
                chain = followed.setdefault((source, input.case.operation.label), set())
                chain.add(output.response.status_code)
            return output

        def get_call_kwargs(self, case):
            if case.operation.label == "POST /auth/logout":
                # Signing out revokes the token it is sent with: not the one later steps use.
                user = db.users().find_one({"_id": ObjectId(world.users[role]["id"])})
                return {"app": app, "headers": bearer(issue_tokens(user)["access_token"])}
            return {"app": app, "headers": world.headers(role, case, aimed=False)}

        def validate_response(self, response, case, additional_checks=None, **kwargs):
            case.validate_response(response, checks=CHECKS, transport_kwargs=kwargs)

    Workflow.run(settings=settings(FUZZ, max_examples=40, stateful_step_count=6))
    completed = sorted(chain for chain, statuses in followed.items() if min(statuses) < 300)
    assert len(completed) >= MUST_FOLLOW, f"too few chains reached a success: {followed}"
