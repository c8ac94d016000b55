"""/openapi.json as client generators read it (issue 18): valid for openapi-spec-validator and
openapi-generator 7, typed (required fields, enums, dates, named shapes), documented (a
description and examples for every operation, valid against their own schemas, with no
internal wording), and good enough to generate a Python client that calls every operation.

The generator runs (openapi-generator's validation and Kotlin/Swift output, openapi-python-client
against the app) take seconds each: they are marked slow, and run in `make test` and CI.
"""

import copy
import importlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from bson import ObjectId
from openapi_schema_validator import OAS30Validator, oas30_format_checker
from openapi_spec_validator import validate as validate_spec

from halls import db
from halls.errors import ERROR_CODES
from halls.extensions import LINK_BODY
from tests.helpers import TWO_SLOTS, assert_error, ok_data, today_plus, venue_body

ROOT = Path(__file__).resolve().parent.parent
METHODS = ("get", "post", "put", "patch", "delete")
# Words that belong to our code and history, not to an API's reader.
INTERNAL = re.compile(
    r"issue[- ]?\d|mongo|embedded|stand-in|schemathesis|fuzz|\.py\b|TODO|seed §|QuickDump",
    re.IGNORECASE,
)


@pytest.fixture
def spec(client):
    return client.get("/openapi.json").get_json()


def operations(spec):
    """(method, path, operation) for every operation."""
    return [
        (method, path, operation)
        for path, item in spec["paths"].items()
        for method, operation in item.items()
        if method in METHODS
    ]


def resolve(spec, node):
    """`node`, or what its $ref points at in `spec`."""
    while "$ref" in node:
        target = spec
        for token in node["$ref"].removeprefix("#/").split("/"):
            target = target[token]
        node = target
    return node


def validator(spec, schema):
    """An OpenAPI 3.0 schema validator for `schema`, resolving #/components refs in `spec`."""
    return OAS30Validator(
        {**schema, "components": spec["components"]}, format_checker=oas30_format_checker
    )


def problems(spec, schema, instance):
    return [error.message for error in validator(spec, schema).iter_errors(instance)]


# --- valid for the validators ---------------------------------------------------------------


def test_the_document_passes_openapi_spec_validator(spec):
    validate_spec(copy.deepcopy(spec))  # raises with the first problem it finds


def test_the_validator_does_catch_a_default_that_breaks_its_pattern(spec):
    """What broke the document before: a default its own pattern refuses."""
    broken = copy.deepcopy(spec)
    field = broken["components"]["schemas"]["SignupIn"]["properties"]["contact_number"]
    field["pattern"] = "^[0-9]+$"
    with pytest.raises(Exception, match="does not match"):
        validate_spec(broken)


def java():
    found = shutil.which("java")
    if found is None:
        reason = "no Java runtime: apt-get install -y default-jre-headless"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    return found


def openapi_generator(*args, cwd=None):
    """Run openapi-generator 7 (the jar the openapi-generator-cli package ships)."""
    import openapi_generator_cli

    jar = Path(openapi_generator_cli.__file__).parent / "openapi-generator.jar"
    return subprocess.run(
        [java(), "-jar", str(jar), *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=cwd,
    )


@pytest.fixture
def spec_file(spec, tmp_path):
    path = tmp_path / "openapi.json"
    path.write_text(json.dumps(spec))
    return path


@pytest.mark.slow
def test_openapi_generator_finds_nothing_to_report(spec_file):
    """Its strictest check: errors fail it, and --recommend lists warnings (unused models)."""
    run = openapi_generator("validate", "-i", str(spec_file), "--recommend")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "No validation issues detected." in run.stdout, run.stdout


@pytest.mark.slow
def test_openapi_generator_refuses_an_object_link_body(spec, tmp_path):
    """What it refused before: a link whose requestBody is an object. The check can fail."""
    broken = copy.deepcopy(spec)
    link = broken["paths"]["/auth/login"]["post"]["responses"]["200"]["links"]["auth.logout"]
    link["requestBody"] = link.pop(LINK_BODY)
    path = tmp_path / "broken.json"
    path.write_text(json.dumps(broken))
    run = openapi_generator("validate", "-i", str(path))
    assert run.returncode != 0
    report = " ".join((run.stdout + run.stderr).split())
    assert "links.auth.logout.requestBody is not of type `string`" in report


@pytest.mark.slow
@pytest.mark.parametrize("generator", ["kotlin", "swift5"])
def test_openapi_generator_writes_typed_mobile_clients(spec_file, tmp_path, generator):
    out = tmp_path / generator
    run = openapi_generator(
        "generate", "-i", str(spec_file), "-g", generator, "-o", str(out), "--skip-validate-spec"
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    sources = {p.name: p.read_text() for p in out.rglob("*") if p.suffix in (".kt", ".swift")}
    booking = sources["BookingOut.kt" if generator == "kotlin" else "BookingOut.swift"]
    patch = sources["VenuePatch.kt" if generator == "kotlin" else "VenuePatch.swift"]
    if generator == "kotlin":
        assert re.search(r"val id: kotlin\.String,", booking)  # required: not optional
        assert re.search(r"val status: BookingOut\.Status,", booking)  # an enum
        assert re.search(r"val date: java\.time\.LocalDate,", booking)  # a date
        assert re.search(r"val expiresAt: java\.time\.OffsetDateTime\? = null", booking)
        assert not re.search(r"val \w+: [^=\n]+ = (?!null)", patch)  # no default but null
    else:
        assert re.search(r"public var id: String$", booking, re.MULTILINE)
        assert re.search(r"public var status: Status$", booking, re.MULTILINE)
        assert re.search(r"public var expiresAt: Date\?$", booking, re.MULTILINE)
        assert not re.search(r"public var \w+: [\w.?\[\]]+ = ", patch)
    assert any(name.startswith("GeoJsonPoint") for name in sources)
    venue = sources["VenueIn.kt" if generator == "kotlin" else "VenueIn.swift"]
    assert re.search(r"mapsLocation: GeoJsonPoint[,\n]", venue)  # one plain class


# --- typed ----------------------------------------------------------------------------------


def test_answers_declare_what_they_always_send_as_required(spec):
    schemas = spec["components"]["schemas"]
    booking, venue = schemas["BookingOut"], schemas["VenueOut"]
    optional_booking = set(booking["properties"]) - set(booking["required"])
    assert optional_booking == {
        "expires_at",
        "refund",
        "cancelled_by",
        "reason",
        "confirmed_at",
        "rejected_at",
        "cancelled_at",
        "expired_at",
        "completed_at",
    }
    assert set(venue["properties"]) - set(venue["required"]) == {"deleted_at"}
    assert schemas["UserOut"]["required"] == sorted(schemas["UserOut"]["properties"])


def answer_schemas(spec):
    """The names of the schemas an answer (a 2xx body) reaches, through refs and nesting."""
    found, pending = set(), []
    for _, _, operation in operations(spec):
        for status, response in operation["responses"].items():
            if status.startswith("2"):
                for content in resolve(spec, response).get("content", {}).values():
                    pending.append(content["schema"])
    while pending:
        node = pending.pop()
        if isinstance(node, dict):
            ref = node.get("$ref")
            if ref and ref.startswith("#/components/schemas/"):
                name = ref.rsplit("/", 1)[1]
                if name not in found:
                    found.add(name)
                    pending.append(spec["components"]["schemas"][name])
            else:
                pending.extend(node.values())
        elif isinstance(node, list):
            pending.extend(node)
    return found


def test_answers_allow_fields_added_later(spec):
    schemas = spec["components"]["schemas"]
    answers = answer_schemas(spec)
    assert {"BookingOut", "VenueOut", "VenueSearchItem", "GeoPointOut"} <= answers
    forbidding = {
        name
        for name in answers | {"ErrorEnvelope", "ErrorBody"}
        if re.search(r'"additionalProperties": false', json.dumps(schemas[name]))
    }
    assert forbidding == set()
    assert schemas["VenueIn"]["additionalProperties"] is False  # requests still refuse extras


def test_fixed_sets_are_enums_and_dates_are_dates(spec):
    schemas = spec["components"]["schemas"]
    venue = schemas["VenueOut"]["properties"]
    assert venue["type"]["enum"] == ["Hall", "Auditorium", "Banquet", "Lawn"]
    assert venue["status"]["enum"] == ["active", "inactive", "deleted"]
    assert venue["dates_available"]["items"] == {"type": "string", "format": "date"}
    assert schemas["AddonOut"]["properties"]["unit"]["enum"] == ["per_event", "per_guest"]
    assert schemas["BookingOut"]["properties"]["date"]["format"] == "date"
    assert schemas["OverrideOut"]["properties"]["date"]["format"] == "date"
    assert schemas["ErrorBody"]["properties"]["code"]["enum"] == list(ERROR_CODES)


def error_codes_in_source():
    """Every error code the source can answer with, however it is raised."""
    patterns = [
        r'error_code="([a-z_]+)"',  # raise Conflict(..., error_code="slot_taken")
        r'error_code = \d+, "([a-z_]+)"',  # ApiError subclasses' defaults
        r'\d+: \("([a-z_]+)"',  # errors.HTTP_CODES
        r'envelope_error\(\s*\d+,\s*"([a-z_]+)"',
        r'_unauthorized\(\s*"([a-z_]+)"',  # the token loaders
        r'OTHER_HTTP_CODE = "([a-z_]+)"',
    ]
    source = "\n".join(path.read_text() for path in (ROOT / "halls").rglob("*.py"))
    codes = {code for pattern in patterns for code in re.findall(pattern, source)}
    # Raised with the refusal rules.slot_refusal names (bookings.create.check_bookable).
    rules = (ROOT / "halls" / "rules.py").read_text()
    codes |= set(re.findall(r'return "([a-z_]+)"', rules))
    return codes


def test_the_error_code_enum_names_every_code_the_source_raises():
    codes = error_codes_in_source()
    assert {"slot_taken", "token_revoked", "unknown_slot", "http_error", "not_found"} <= codes
    assert codes - set(ERROR_CODES) == set()
    # and lists nothing that nothing raises (a stale entry is a lie in every client)
    assert set(ERROR_CODES) - codes == set()


def test_a_code_missing_from_the_enum_would_be_found(tmp_path, monkeypatch):
    """The scan above can fail: a new code in the source shows up in its result."""
    fake_root = tmp_path / "root"
    shutil.copytree(ROOT / "halls", fake_root / "halls")
    extra = fake_root / "halls" / "extra.py"
    extra.write_text('raise Conflict("x", error_code="brand_new_code")\n')
    monkeypatch.setattr(sys.modules[__name__], "ROOT", fake_root)
    assert "brand_new_code" in error_codes_in_source() - set(ERROR_CODES)


def test_a_place_has_one_named_shape(spec, client, owner):
    """GeoJSON, documented; {lat, lng} is still accepted (the description says so)."""
    schemas = spec["components"]["schemas"]
    for name in ("VenueIn", "VenuePatch"):
        location = schemas[name]["properties"]["maps_location"]
        assert location == {"allOf": [{"$ref": "#/components/schemas/GeoJsonPoint"}]}
    assert schemas["GeoJsonPoint"]["required"] == ["type", "coordinates"]
    assert '"lat"' in schemas["GeoJsonPoint"]["description"]
    body = {**venue_body(), "maps_location": {"lat": 31.5, "lng": 74.3}}
    venue = ok_data(client.post("/venues/register", json=body, headers=owner[1]), 201)["venue"]
    assert venue["maps_location"] == {"type": "Point", "coordinates": [74.3, 31.5]}


def test_objects_are_sized_by_properties_not_length(spec):
    amenities = spec["components"]["schemas"]["VenueIn"]["properties"]["amenities"]
    assert amenities["maxProperties"] == 50
    assert not re.search(r'"type": "object"[^{}]*"maxLength"', json.dumps(spec))


def test_headers_and_the_500_are_declared(spec):
    headers = spec["components"]["headers"]
    assert headers["RetryAfter"]["schema"]["type"] == "integer"
    too_many = spec["components"]["responses"]["TOO_MANY_REQUESTS"]
    assert too_many["headers"]["Retry-After"] == {"$ref": "#/components/headers/RetryAfter"}
    for method, path, operation in operations(spec):
        assert "500" in operation["responses"], f"{method} {path}"
    replayed = {
        operation["operationId"]
        for _, _, operation in operations(spec)
        for status, response in operation["responses"].items()
        if "Idempotent-Replayed" in resolve(spec, response).get("headers", {})
    }
    assert replayed == {"bookings.create", "bookings.cancel", "bookings.reschedule"}


# --- PATCH declares no defaults -------------------------------------------------------------


def defaults_in(spec, schema, seen=None):
    """Every `default` a body built from `schema` would carry, by dotted field name."""
    seen = seen or set()
    found = {}
    schema = resolve(spec, schema)
    for name, field in schema.get("properties", {}).items():
        field = resolve(spec, field)
        if "default" in field:
            found[name] = field["default"]
        if field.get("type") == "object" or "properties" in field:
            for inner, value in defaults_in(spec, field, seen).items():
                found[f"{name}.{inner}"] = value
    return found


def test_patch_bodies_declare_no_defaults(spec):
    schemas = spec["components"]["schemas"]
    for name in ("VenuePatch", "PricingPatch", "AddonPatch", "MePatch"):
        assert defaults_in(spec, schemas[name]) == {}, name
    # The create schemas keep theirs: the check above is not empty by construction.
    assert defaults_in(spec, schemas["VenueIn"])["status"] == "active"
    assert defaults_in(spec, schemas["VenueIn"])["pricing.base_price"] is None


def generated_client_body(spec, schema_name, **given):
    """A body as a generated client builds it: every default the schema declares (clients
    send those), then what the caller set."""
    body = {}
    for dotted, value in defaults_in(spec, spec["components"]["schemas"][schema_name]).items():
        *parents, last = dotted.split(".")
        node = body
        for parent in parents:
            node = node.setdefault(parent, {})
        node[last] = value
    return {**body, **given}


def test_a_one_field_patch_as_a_generated_client_sends_it_changes_one_field(
    client, spec, owner, make_venue, clock
):
    venue = make_venue(
        owner[0],
        status="inactive",
        auto_confirm=True,
        timezone="Asia/Dubai",
        additional_description="By the canal.",
        hold_minutes=90,
        min_notice_hours=0,
        pricing={"base_price": 250000, "overrides": [{"date": today_plus(3), "price": 1}]},
    )
    body = generated_client_body(spec, "VenuePatch", capacity=650)
    assert body == {"capacity": 650}
    clock.advance(seconds=5)
    data = ok_data(client.patch(f"/venues/{venue['_id']}", json=body, headers=owner[1]))
    assert data["venue"]["capacity"] == 650
    after = db.venues().find_one({"_id": venue["_id"]})
    before = {**venue, "capacity": 650}
    assert after["updated_at"] > venue["updated_at"]
    ignored = {"updated_at", "created_at"}
    assert {k: v for k, v in after.items() if k not in ignored} == {
        k: v for k, v in before.items() if k not in ignored
    }


def test_the_same_patch_with_the_create_schemas_defaults_would_reset_the_venue(
    client, spec, owner, make_venue
):
    """Why it matters: built from VenueIn's defaults, the one-field change resets the rest."""
    venue = make_venue(owner[0], status="inactive", auto_confirm=True, hold_minutes=90)
    body = generated_client_body(spec, "VenueIn", capacity=650)
    body.pop("slots", None)  # a venue_id's slots default differs from make_venue's
    body.pop("pricing", None)
    ok_data(client.patch(f"/venues/{venue['_id']}", json=body, headers=owner[1]))
    after = db.venues().find_one({"_id": venue["_id"]})
    assert (after["status"], after["auto_confirm"], after["hold_minutes"]) == (
        "active",
        False,
        1440,
    )


def test_an_addon_patch_of_one_field_keeps_the_limit(client, spec, owner, make_venue):
    addon = {"key": "decor", "name": "Decor", "price": 40000, "unit": "per_event", "max_qty": 1}
    venue = make_venue(owner[0], addons=[addon])
    body = generated_client_body(spec, "AddonPatch", price=45000)
    assert body == {"price": 45000}
    url = f"/venues/{venue['_id']}/addons/decor"
    assert ok_data(client.patch(url, json=body, headers=owner[1]))["addon"]["max_qty"] == 1
    stored = db.venues().find_one({"_id": venue["_id"]})["addons"]
    assert stored == [{**addon, "price": 45000}]


# --- documented -----------------------------------------------------------------------------


def test_every_operation_has_a_summary_and_a_description(spec):
    for method, path, operation in operations(spec):
        assert operation.get("summary"), f"{method} {path}"
        assert len(operation.get("description", "")) > 30, f"{method} {path}"


def test_no_internal_wording_reaches_the_reader(spec):
    texts = []

    def walk(node, where):
        if isinstance(node, dict):
            for key, value in node.items():
                if key in ("description", "summary") and isinstance(value, str):
                    texts.append((where, value))
                else:
                    walk(value, f"{where}/{key}")
        elif isinstance(node, list):
            for index, value in enumerate(node):
                walk(value, f"{where}/{index}")

    walk(spec, "")
    assert len(texts) > 150
    assert [(where, text) for where, text in texts if INTERNAL.search(text)] == []
    assert INTERNAL.search("slots[0], kept for issue-2 clients.")  # the check can fail


def json_content(spec, holder):
    return resolve(spec, holder).get("content", {}).get("application/json")


def test_every_operation_has_an_example_request_and_answer(spec):
    for method, path, operation in operations(spec):
        where = f"{method} {path}"
        if "requestBody" in operation:
            assert "example" in json_content(spec, operation["requestBody"]), where
        parameters = spec["paths"][path].get("parameters", []) + operation.get("parameters", [])
        for parameter in parameters:
            assert "example" in parameter or "example" in parameter["schema"], (where, parameter)
        success = [s for s in operation["responses"] if s.startswith("2")]
        for status in success:
            content = resolve(spec, operation["responses"][status])["content"]
            (media_type,) = content
            if media_type != "application/pdf":  # a binary file: no example to show
                assert "example" in content[media_type], (where, status)
        for status, response in operation["responses"].items():
            if not status.startswith("2"):
                assert "example" in json_content(spec, response), (where, status)


def test_every_example_is_valid_against_its_own_schema(spec):
    checked = 0
    for method, path, operation in operations(spec):
        holders = [operation.get("requestBody")] + list(operation["responses"].values())
        for holder in filter(None, holders):
            for media_type, content in resolve(spec, holder).get("content", {}).items():
                if "example" in content:
                    found = problems(spec, content["schema"], content["example"])
                    assert found == [], (method, path, media_type, found)
                    checked += 1
        for parameter in spec["paths"][path].get("parameters", []) + operation.get(
            "parameters", []
        ):
            example = parameter.get("example", parameter["schema"].get("example"))
            assert problems(spec, parameter["schema"], example) == [], (path, parameter)
    assert checked > 80
    # The check can fail: an example that breaks its schema is found.
    assert problems(spec, {"$ref": "#/components/schemas/BookingOut"}, {"id": 1})


def test_every_request_example_is_accepted_by_the_api(client, spec, owner, customer):
    """Sent as they are, the example bodies get past validation: no 422 and no 400."""
    headers = {"owner": owner[1], "customer": customer[1]}
    # Signing out revokes the token it is sent with: last, so the others meet a valid one.
    ordered = sorted(operations(spec), key=lambda found: found[1] == "/auth/logout")
    sent = 0
    for method, path, operation in ordered:
        if "requestBody" not in operation:
            continue
        body = json_content(spec, operation["requestBody"])["example"]
        url = re.sub(r"\{(\w+)\}", lambda m, p=path: _path_example(spec, p, m.group(1)), path)
        for role in ("owner", "customer"):
            response = client.open(url, method=method.upper(), json=body, headers=headers[role])
            refused = (response.get_json().get("error") or {}).get("code")
            assert refused not in ("validation_failed", "malformed_json"), (method, path, role)
            sent += 1
    assert sent == 2 * 19  # DELETE /bookings/{booking_id} takes a body too (its reason)


def _path_example(spec, path, name):
    (parameter,) = [p for p in spec["paths"][path]["parameters"] if p["name"] == name]
    return parameter["example"]


# --- real answers match the document ---------------------------------------------------------


class Checked:
    """A test client whose every JSON answer is validated against the operation's documented
    response for its status (required fields, enums, formats and all)."""

    def __init__(self, client, spec):
        self.client, self.spec, self.seen = client, spec, set()

    def __call__(self, method, url, **kwargs):
        response = self.client.open(url, method=method, **kwargs)
        path, operation = self._operation(method, url.split("?", 1)[0])
        documented = operation["responses"].get(str(response.status_code))
        assert documented, f"{method} {url}: {response.status_code} is not documented"
        content = resolve(self.spec, documented)["content"]
        if response.mimetype == "application/json":
            schema = content["application/json"]["schema"]
            found = problems(self.spec, schema, response.get_json())
            assert found == [], (method, url, found)
        else:
            assert response.mimetype in content
        self.seen.add(operation["operationId"])
        return response

    def _operation(self, method, url):
        if method.lower() in self.spec["paths"].get(url, {}):  # /venues/search, not {venue_id}
            return url, self.spec["paths"][url][method.lower()]
        for path, item in self.spec["paths"].items():
            pattern = re.sub(r"\\\{\w+\\\}", "[^/]+", re.escape(path))
            if re.fullmatch(pattern, url) and method.lower() in item:
                return path, item[method.lower()]
        raise AssertionError(f"{method} {url} is not in the document")


def test_real_answers_match_the_document(client, spec, owner, customer, make_user):
    call = Checked(client, spec)
    as_owner, as_customer = {"headers": owner[1]}, {"headers": customer[1]}
    admin = make_user(role="admin")[1]
    venue = ok_data(
        call(
            "POST",
            "/venues/register",
            json=open_venue(amenities={"stage": True}),
            **as_owner,
        ),
        201,
    )["venue"]
    vid = venue["id"]
    day, later = today_plus(5), today_plus(6)
    call("GET", f"/venues/{vid}", **as_customer)
    call("GET", "/venues/mine", **as_owner)
    call("GET", f"/venues/search?date={day}&near_lat=31.5&near_lng=74.3&amenities=stage")
    call("GET", f"/venues/{vid}/availability?date={day}")
    call("GET", f"/venues/{vid}/availability?from={day}&to={later}")
    addon = {"key": "decor", "name": "Decor", "price": 1000, "unit": "per_event", "max_qty": 2}
    call("POST", f"/venues/{vid}/addons", json=addon, **as_owner)
    call("GET", f"/venues/{vid}/addons")
    call("GET", f"/venues/{vid}/quote?date={day}&guests=10&slots=lunch&addons=decor:1")
    book = {"venue_id": vid, "date": day, "guests": 10, "slots": ["lunch"], "addons": []}
    booking = ok_data(call("POST", "/bookings", json=book, **as_customer), 201)["booking"]
    bid = booking["id"]
    call("GET", "/bookings?status=pending,confirmed", **as_customer)
    call("PATCH", f"/bookings/{bid}", json={"status": "confirmed"}, **as_owner)
    call("GET", f"/bookings/{bid}/cancellation-quote", **as_customer)
    move = {"date": later, "slots": ["lunch"]}
    call("POST", f"/bookings/{bid}/reschedule", json=move, **as_customer)
    call("GET", f"/bookings/{bid}/receipt.pdf", **as_customer)
    call("DELETE", f"/bookings/{bid}?reason=Plans%20changed", **as_customer)
    call("GET", f"/bookings/{bid}", **as_owner)
    blackout = {"date": day, "reason": "Maintenance"}
    made = ok_data(call("POST", f"/venues/{vid}/blackouts", json=blackout, **as_owner), 201)
    call("DELETE", f"/venues/{vid}/blackouts/{made['blackout']['id']}", **as_owner)
    token = ok_data(call("POST", f"/venues/{vid}/calendar-token", **as_owner), 201)["token"]
    call("GET", f"/venues/{vid}/calendar.ics?token={token}")
    credit = {"user_id": str(customer[0]["_id"]), "amount": 5000, "note": "Welcome"}
    call("POST", "/wallet/credit", json=credit, headers=admin)
    call("GET", "/wallet", **as_customer)
    call("GET", "/wallet/transactions", **as_customer)
    call("GET", "/auth/me", **as_customer)
    call("PATCH", "/auth/me", json={"contact_number": ""}, **as_customer)
    call("DELETE", f"/venues/{vid}/addons/decor", **as_owner)
    call("DELETE", f"/venues/{vid}", **as_owner)
    # Errors are in the envelope the document gives, with a code from its enum.
    assert_error(call("GET", f"/venues/{ObjectId()}"), 404, "venue_not_found")
    assert_error(call("GET", "/venues/search?amenities=ballroom"), 422, "validation_failed")
    assert_error(call("POST", "/bookings", json=book), 401, "token_missing")
    assert len(call.seen) == 27


# --- a generated Python client calls every operation ------------------------------------------

CLIENT_PACKAGE = "halls_generated_client"


@pytest.fixture
def app_config(app_config):
    """Configured like production for uploads (signing is offline)."""
    return {
        **app_config,
        "S3_BUCKET": "halls-media",
        "S3_REGION": "ap-south-1",
        "AWS_ACCESS_KEY_ID": "AKIAEXAMPLEKEYID0000",
        "AWS_SECRET_ACCESS_KEY": "example-secret-access-key-for-signing-only",
        "CLOUDINARY_URL": "cloudinary://123456789012345:s3cr3t-ApI-secret@halls-demo",
    }


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    """A Python client that openapi-python-client generates from the document."""
    from halls import create_app, embedded

    app = create_app(
        {
            "TESTING": True,
            "DATABASE": embedded.new_client()["halls_generated"],
            "JWT_SECRET_KEY": "generated-" + "x" * 32,
            "RATELIMIT_ENABLED": False,
        }
    )
    spec = app.test_client().get("/openapi.json").get_json()
    work = tmp_path_factory.mktemp("generated")
    (work / "openapi.json").write_text(json.dumps(spec))
    (work / "config.yaml").write_text(f"package_name_override: {CLIENT_PACKAGE}\npost_hooks: []\n")
    generator = Path(sys.executable).parent / "openapi-python-client"
    run = subprocess.run(
        [str(generator), "generate", "--path", "openapi.json", "--meta", "none"]
        + ["--output-path", CLIENT_PACKAGE, "--config", "config.yaml"],
        cwd=work,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    # The one thing it leaves out: a PDF answer (it reads JSON, text and octet-streams).
    warnings = re.findall(r"WARNING parsing (\S+ \S+)", run.stdout + run.stderr)
    assert warnings == ["GET /bookings/{booking_id}/receipt.pdf"], run.stdout
    sys.path.insert(0, str(work))
    try:
        yield importlib.import_module(CLIENT_PACKAGE)
    finally:
        sys.path.remove(str(work))
        for name in [n for n in sys.modules if n.split(".")[0] == CLIENT_PACKAGE]:
            del sys.modules[name]


class Generated:
    """Calls operations through the generated client, over WSGI into the app; each answer
    must parse into the documented model for its status."""

    def __init__(self, package, app):
        import httpx

        self.package, self.called = package, set()
        transport = httpx.WSGITransport(app=app)
        self.args = {"base_url": "http://halls.test", "raise_on_unexpected_status": True}
        self.args["httpx_args"] = {"transport": transport}

    def client(self, headers=None, strict=True):
        args = {**self.args, "raise_on_unexpected_status": strict}
        token = (headers or {}).get("Authorization", "").removeprefix("Bearer ")
        if token:
            return self.package.AuthenticatedClient(token=token, **args)
        return self.package.Client(**args)

    def model(self, name):
        return getattr(importlib.import_module(f"{CLIENT_PACKAGE}.models"), name)

    def __call__(self, operation_id, headers=None, expect=200, strict=True, **kwargs):
        """The parsed answer (strict: a status the client was not generated for raises)."""
        tag, name = operation_id.split(".")
        module = importlib.import_module(f"{CLIENT_PACKAGE}.api.{tag}.{tag}_{name.rstrip('_')}")
        response = module.sync_detailed(client=self.client(headers, strict), **kwargs)
        assert response.status_code == expect, response.content[:500]
        self.called.add(operation_id)
        return response.parsed if strict else response


@pytest.mark.slow
def test_a_generated_python_client_calls_every_operation(
    generated, app, spec, owner, customer, make_user
):
    call = Generated(generated, app)
    model = call.model
    admin = make_user(role="admin")[1]
    as_owner, as_customer = owner[1], customer[1]
    day, later = today_plus(5), today_plus(6)

    assert call("health.up").data.status == "up"
    call("health.ready")
    signup = model("SignupIn").from_dict({**venue_signup(), "contact_number": ""})
    signed = call("auth.signup", body=signup, expect=201).data
    assert signed.user.role.value == "customer"
    login = model("LoginIn")(email=signed.user.email, password="correct horse battery")
    tokens = call("auth.login", body=login).data
    bearer = {"Authorization": f"Bearer {tokens.access_token}"}
    refresh = {"Authorization": f"Bearer {tokens.refresh_token}"}
    assert call("auth.me", headers=bearer).data.user.email == signed.user.email
    me_patch = model("MePatch")(full_name="Renamed")
    assert call("auth.update_me", headers=bearer, body=me_patch).data.user.full_name == "Renamed"
    call("auth.refresh", headers=refresh)
    call("auth.forgot_password", body=model("ForgotPasswordIn")(email=signed.user.email))
    reset = model("ResetPasswordIn")(token="not-a-token", new_password="another long one")
    refused = call("auth.reset_password", body=reset, expect=400)
    assert refused.error.code == model("ErrorBodyCode").INVALID_RESET_TOKEN  # typed error
    google = model("GoogleIn")(id_token="not.a.token")
    assert call("auth.google_login", body=google, expect=503).error.code.value == (
        "google_not_configured"
    )

    register = model("VenueIn").from_dict(open_venue(amenities={"stage": True}))
    venue = call("venues.register", headers=as_owner, body=register, expect=201).data.venue
    vid = venue.id
    assert venue.type_.value == "Banquet" and venue.status.value == "active"
    assert isinstance(venue.maps_location.coordinates, list)
    before = db.venues().find_one({"_id": ObjectId(vid)})
    patched = call(
        "venues.update", venue_id=vid, headers=as_owner, body=model("VenuePatch")(capacity=650)
    )
    assert patched.data.venue.capacity == 650
    after = db.venues().find_one({"_id": ObjectId(vid)})
    changed = {k for k in after if after[k] != before.get(k)}
    assert changed == {"capacity", "updated_at"}  # a generated one-field PATCH sends one field
    call("venues.show", venue_id=vid)
    call("venues.mine", headers=as_owner)
    found = call("venues.search_all", amenities=["stage"], date=_date(day)).data
    assert [item.id for item in found.items] == [vid]
    call("venues.availability", venue_id=vid, date=_date(day))
    addon = model("AddonIn").from_dict(
        {"key": "decor", "name": "Decor", "price": 1000, "unit": "per_event", "max_qty": 2}
    )
    call("addons.create", venue_id=vid, headers=as_owner, body=addon, expect=201)
    call("addons.list_", venue_id=vid)
    call(
        "addons.update",
        venue_id=vid,
        key="decor",
        headers=as_owner,
        body=model("AddonPatch")(price=1200),
    )
    quote = call(
        "venues.quote",
        venue_id=vid,
        date=_date(day),
        guests=10,
        slots=["lunch"],
        addons=["decor:1"],
    )
    assert quote.data.total == quote.data.subtotal
    booking_in = model("BookingIn").from_dict(
        {
            "venue_id": vid,
            "date": day,
            "guests": 10,
            "slots": ["lunch"],
            "addons": [{"key": "decor"}],
        }
    )
    booking = call(
        "bookings.create", headers=as_customer, body=booking_in, idempotency_key="k-1", expect=201
    ).data.booking
    bid = booking.id
    assert booking.status.value == "pending" and str(booking.date) == day
    statuses = [
        model("BookingsListStatusItem")("pending"),
        model("BookingsListStatusItem")("confirmed"),
    ]
    assert call("bookings.list_", headers=as_customer, status=statuses).data.total == 1
    call("bookings.get", booking_id=bid, headers=as_customer)
    call(
        "bookings.decide",
        booking_id=bid,
        headers=as_owner,
        body=model("BookingStatusIn")(status=model("BookingStatusInStatus")("confirmed")),
    )
    call("bookings.cancellation_quote", booking_id=bid, headers=as_customer)
    call(
        "bookings.reschedule_quote",
        booking_id=bid,
        headers=as_customer,
        date=_date(later),
        slots=["lunch"],
    )
    move = model("BookingRescheduleIn").from_dict({"date": later, "slots": ["lunch"]})
    call("bookings.reschedule", booking_id=bid, headers=as_customer, body=move)
    # The client leaves the PDF answer unparsed: it hands over the bytes.
    receipt = call("bookings.receipt", booking_id=bid, headers=as_customer, strict=False)
    assert receipt.content.startswith(b"%PDF-")
    cancelled = call("bookings.cancel", booking_id=bid, headers=as_customer, reason="Plans changed")
    assert cancelled.data.booking.status.value == "cancelled"
    blackout = model("BlackoutIn").from_dict({"date": day, "reason": "Maintenance"})
    made = call("venues.add_blackout", venue_id=vid, headers=as_owner, body=blackout, expect=201)
    call(
        "venues.remove_blackout", venue_id=vid, blackout_id=made.data.blackout.id, headers=as_owner
    )
    token = call("venues.calendar_token", venue_id=vid, headers=as_owner, expect=201).data.token
    call("venues.calendar_feed", venue_id=vid, token=token)
    s3 = model("S3SignIn").from_dict(
        {"filename": "hall.jpg", "content_type": "image/jpeg", "size_bytes": 1000}
    )
    assert call("uploads.sign_s3", headers=as_owner, body=s3).data.method.value == "PUT"
    call(
        "uploads.sign_cloudinary",
        headers=as_owner,
        body=model("CloudinarySignIn")(filename="hall.jpg"),
    )
    credit = model("WalletCreditIn")(user_id=str(customer[0]["_id"]), amount=5000, note="Welcome")
    call("wallet.credit", headers=admin, body=credit, expect=201)
    assert call("wallet.get", headers=as_customer).data.balance == 5000
    call("wallet.transactions", headers=as_customer)
    call("addons.delete", venue_id=vid, key="decor", headers=as_owner)
    call("venues.delete", venue_id=vid, headers=as_owner)
    call("auth.logout", headers=bearer, body=model("LogoutIn")(refresh_token=tokens.refresh_token))

    every = {operation["operationId"] for _, _, operation in operations(spec)}
    assert call.called == every
    assert len(every) == 41


def open_venue(**fields):
    """A register body: two slots, open the next 30 days at 100 000 PKR."""
    dates = [today_plus(days) for days in range(1, 31)]
    pricing = {"base_price": 100000, "overrides": []}
    place = {"type": "Point", "coordinates": [74.3587, 31.5204]}
    return venue_body(
        slots=TWO_SLOTS, dates_available=dates, pricing=pricing, maps_location=place, **fields
    )


def venue_signup():
    return {
        "email": "generated@example.com",
        "password": "correct horse battery",
        "is_venue_owner": False,
    }


def _date(text):
    import datetime as dt

    return dt.date.fromisoformat(text)
