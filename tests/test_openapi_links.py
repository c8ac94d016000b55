"""The OpenAPI document's links: valid OpenAPI 3, and each one leads somewhere real.

A link names its target by operationId and fills the target's parameters (and, under
LINK_BODY, body fields) with runtime expressions into the response or request it starts from.
schemathesis follows them in tests/test_schemathesis.py; here every link is checked statically:
the target exists, takes what the link gives it and gets every path parameter it needs, and
each expression points at a field the source's documented response (or request) really has.
"""

import re

import pytest
import schemathesis

from halls.extensions import LINK_BODY

METHODS = {"get", "post", "put", "patch", "delete"}

# The chains the document must keep (source operation, status, target operation).
CHAINS = (
    [
        ("venues.register", "201", target)
        for target in (
            "venues.show",
            "venues.update",
            "venues.delete",
            "venues.availability",
            "venues.add_blackout",
            "venues.calendar_token",
            "venues.quote",
            "addons.create",
            "bookings.create",
        )
    ]
    + [
        ("bookings.create", "201", target)
        for target in (
            "bookings.get",
            "bookings.cancel",
            "bookings.reschedule",
            "venues.availability",
        )
    ]
    + [
        ("venues.search_all", "200", "bookings.create"),
        ("venues.add_blackout", "201", "venues.remove_blackout"),
        ("venues.calendar_token", "201", "venues.calendar_feed"),
        ("addons.create", "201", "addons.delete"),
        ("bookings.list_", "200", "bookings.get"),
        ("auth.signup", "201", "auth.logout"),
        ("auth.login", "200", "auth.logout"),
        ("auth.google_login", "201", "wallet.credit"),
    ]
)


@pytest.fixture
def spec(client):
    return client.get("/openapi.json").get_json()


def operations(spec):
    """operationId -> [(path, operation, its parameters by name, the path's included)]."""
    found = {}
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if method in METHODS:
                parameters = item.get("parameters", []) + operation.get("parameters", [])
                named = {parameter["name"]: parameter for parameter in parameters}
                found.setdefault(operation.get("operationId"), []).append((path, operation, named))
    return found


def all_links(spec):
    """(source operationId, status, link name, link) for every link in the document."""
    for item in spec["paths"].values():
        for method, operation in item.items():
            if method not in METHODS:
                continue
            for status, response in operation["responses"].items():
                if isinstance(response, dict):
                    for name, link in response.get("links", {}).items():
                        yield operation["operationId"], status, name, link


def resolved(spec, schema):
    while "$ref" in schema:
        node = spec
        for token in schema["$ref"].removeprefix("#/").split("/"):
            node = node[token]
        schema = node
    return schema


def schema_at(spec, schema, pointer):
    """The schema of the value a JSON pointer reaches in a document of `schema`, or None."""
    for token in pointer.removeprefix("/").split("/"):
        schema = resolved(spec, schema)
        if schema.get("type") == "array" and token.isdigit():
            schema = schema["items"]
        elif token in schema.get("properties", {}):
            schema = schema["properties"][token]
        else:
            return None
    return resolved(spec, schema)


def json_schema(spec, holder):
    """The application/json schema of a response or request body."""
    return resolved(spec, holder)["content"]["application/json"]["schema"]


def expression_problem(spec, expression, source, status):
    """What is wrong with one runtime expression, or None."""
    response_body = re.fullmatch(r"\$response\.body#(/.+)", expression)
    if response_body:
        response = source[1]["responses"][status]
        target = schema_at(spec, json_schema(spec, response), response_body.group(1))
        if target is None:
            return f"{expression}: the {status} response has no such field"
        if target.get("type") in ("object", "array"):
            return f"{expression}: not a scalar ({target.get('type')})"
        return None
    request_path = re.fullmatch(r"\$request\.path\.(\w+)", expression)
    if request_path:
        _, _, parameters = source
        if parameters.get(request_path.group(1), {}).get("in") != "path":
            return f"{expression}: the source has no such path parameter"
        return None
    return f"{expression}: not an expression these tests know"


def link_problems(spec, found, source_id, status, name, link):
    """What is wrong with one link, as sentences; empty when nothing is."""
    (source,) = found[source_id]
    targets = found.get(link.get("operationId"), [])
    if len(targets) != 1:
        return [f"operationId {link.get('operationId')!r} names {len(targets)} operations"]
    target_path, target, parameters = targets[0]
    problems = []
    for parameter, expression in link.get("parameters", {}).items():
        if parameter not in parameters:
            problems.append(f"{parameter}: not a parameter of {link['operationId']}")
        problems.append(expression_problem(spec, expression, source, status))
    given = set(link.get("parameters", {}))
    needed = {n for n, p in parameters.items() if p["in"] == "path"}
    if needed - given:
        problems.append(f"{target_path}: no value for {sorted(needed - given)}")
    for field, expression in link.get(LINK_BODY, {}).items():
        body = json_schema(spec, target["requestBody"])
        if schema_at(spec, body, f"/{field}") is None:
            problems.append(f"requestBody.{field}: not a field of {link['operationId']}'s body")
        problems.append(expression_problem(spec, expression, source, status))
    return [f"{source_id} {status} -> {name}: {p}" for p in problems if p]


def with_link_bodies(spec):
    """The document with each link's body fields as its requestBody, which schemathesis
    follows (the document keeps them under LINK_BODY: generators take only a string there)."""
    for _, _, _, link in all_links(spec):
        if LINK_BODY in link:
            link["requestBody"] = link.pop(LINK_BODY)
    return spec


def test_the_document_with_its_links_is_valid_openapi(spec):
    """Checked against the OpenAPI 3.0 meta-schema (schemathesis's validator)."""
    assert spec["openapi"].startswith("3.0")
    schemathesis.openapi.from_dict(spec).validate()
    schemathesis.openapi.from_dict(with_link_bodies(spec)).validate()


def test_links_fill_body_fields_by_expression(spec):
    bodies = {
        (source_id, link["operationId"]): link[LINK_BODY]
        for source_id, _, _, link in all_links(spec)
        if LINK_BODY in link
    }
    assert bodies[("auth.login", "auth.logout")] == {
        "refresh_token": "$response.body#/data/refresh_token"
    }
    assert bodies[("venues.register", "bookings.create")] == {
        "venue_id": "$response.body#/data/venue/id"
    }
    assert all("requestBody" not in link for _, _, _, link in all_links(spec))


def test_every_operation_is_named_after_its_endpoint_once(spec, app):
    found = operations(spec)
    assert None not in found
    assert {name for name, named in found.items() if len(named) > 1} == set()
    endpoints = {rule.endpoint for rule in app.url_map.iter_rules()}
    assert set(found) <= endpoints


def test_every_link_reaches_a_real_operation_with_real_fields(spec):
    found = operations(spec)
    problems = [
        problem
        for source_id, status, name, link in all_links(spec)
        for problem in link_problems(spec, found, source_id, status, name, link)
    ]
    assert problems == []


def test_the_problems_a_broken_link_has_are_found(spec):
    """The checker above can fail: a link with a wrong field, parameter and target."""
    found = operations(spec)
    broken = {
        "operationId": "venues.show",
        "parameters": {"venue": "$response.body#/data/venue/idd"},
    }
    assert link_problems(spec, found, "venues.register", "201", "x", broken) == [
        "venues.register 201 -> x: venue: not a parameter of venues.show",
        "venues.register 201 -> x: $response.body#/data/venue/idd: the 201 response has no "
        "such field",
        "venues.register 201 -> x: /venues/{venue_id}: no value for ['venue_id']",
    ]
    nowhere = {"operationId": "venues.nowhere"}
    assert link_problems(spec, found, "venues.register", "201", "y", nowhere) == [
        "operationId 'venues.nowhere' names 0 operations"
    ]
    whole = {"operationId": "venues.show", "parameters": {"venue_id": "$response.body#/data"}}
    assert link_problems(spec, found, "venues.register", "201", "z", whole) == [
        "venues.register 201 -> z: $response.body#/data: not a scalar (object)"
    ]


def test_the_documented_chains_are_linked(spec):
    """Register a venue -> use it and book it; book -> follow the booking; sign in -> out."""
    linked = {
        (source_id, status, link["operationId"]) for source_id, status, _, link in all_links(spec)
    }
    assert set(CHAINS) - linked == set()
