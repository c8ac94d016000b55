"""The Postman collection reads like documentation: folders by resource, a description and a
saved example on every request, and the bearer token set once, on the collection."""

import json
from pathlib import Path

COLLECTION = Path(__file__).resolve().parent.parent / "postman" / "halls.postman_collection.json"
RESOURCES = ["Health", "Errors", "Auth", "Venues", "Add-ons", "Bookings", "Blackouts"]
RESOURCES += ["Calendar feed", "Wallet", "Uploads", "Clean up"]


def requests(nodes):
    for node in nodes:
        if "item" in node:
            yield from requests(node["item"])
        else:
            yield node


def test_folders_by_resource_each_described():
    collection = json.loads(COLLECTION.read_text())
    assert [folder["name"] for folder in collection["item"]] == RESOURCES
    assert all(folder.get("description") for folder in collection["item"])
    # Run order: the first request picks the run's id and dates (the collection's pre-request).
    assert next(requests(collection["item"]))["name"] == "Health"


def test_every_request_is_described_and_has_an_example():
    items = list(requests(json.loads(COLLECTION.read_text())["item"]))
    assert len(items) >= 87
    assert len({item["name"] for item in items}) == len(items)
    for item in items:
        assert len(item["request"]["description"]) > 20, item["name"]
        [example] = item["response"]
        assert example["code"] >= 200 and example["originalRequest"]["method"], item["name"]
        if example["_postman_previewlanguage"] == "json":
            body = json.loads(example["body"])
            assert body["ok"] is (example["code"] < 400), item["name"]
        # Every request checks what it gets back.
        tests = [event for event in item["event"] if event["listen"] == "test"]
        assert tests and any("pm.test(" in line for line in tests[0]["script"]["exec"])


def test_the_bearer_token_is_set_once_on_the_collection():
    collection = json.loads(COLLECTION.read_text())
    assert collection["auth"] == {
        "type": "bearer",
        "bearer": [{"key": "token", "value": "{{jwt}}", "type": "string"}],
    }
    allowed = {"{{owner_jwt}}", "{{refresh_token}}", "{{badToken}}"}
    for item in requests(collection["item"]):
        headers = [header["key"].lower() for header in item["request"].get("header", [])]
        assert "authorization" not in headers, item["name"]
        auth = item["request"].get("auth")
        if auth is not None and auth["type"] != "noauth":
            assert auth["type"] == "bearer" and auth["bearer"][0]["value"] in allowed
    examples = COLLECTION.read_text()
    assert "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJ" not in examples  # no whole token kept
