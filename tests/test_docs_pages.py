"""/docs (Swagger UI) and /redoc (ReDoc) work offline: every file they load is served by halls,
and in a real headless Chromium that can reach nothing but halls they render the operations."""

from html.parser import HTMLParser

import pytest

from tests.browser import browser_page, chromium, live_server  # noqa: F401  (fixtures)

PAGES = ("/docs", "/redoc")


class Assets(HTMLParser):
    """The scripts and stylesheets an HTML page references."""

    def __init__(self):
        super().__init__()
        self.urls = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "script" and attrs.get("src"):
            self.urls.append(attrs["src"])
        if tag == "link" and "stylesheet" in (attrs.get("rel") or "").split():
            self.urls.append(attrs["href"])


def assets_of(client, path):
    response = client.get(path)
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    parser = Assets()
    parser.feed(response.get_data(as_text=True))
    return parser.urls


@pytest.mark.parametrize("path", PAGES)
def test_every_file_a_docs_page_loads_is_served_by_halls(client, path):
    urls = assets_of(client, path)
    assert urls, "the page loads no script at all?"
    for url in urls:
        assert url.startswith("/") and not url.startswith("//"), f"{url} is on another host"
        with client.get(url) as response:
            assert response.status_code == 200, url
            assert response.mimetype in ("text/javascript", "text/css"), url
            assert len(response.data) > 10_000, url  # the real build, not an empty answer


def test_swagger_ui_loads_its_script_and_stylesheet_from_halls(client):
    assert set(assets_of(client, "/docs")) == {
        "/docs/assets/swagger-ui/swagger-ui.css",
        "/docs/assets/swagger-ui/swagger-ui-standalone-preset.js",
        "/docs/assets/swagger-ui/swagger-ui-bundle.js",
    }
    assert assets_of(client, "/redoc") == ["/docs/assets/redoc/redoc.standalone.js"]


@pytest.mark.parametrize(
    "path", ["/docs/assets/swagger-ui/index.html", "/docs/assets/swagger-ui/../../x"]
)
def test_only_the_files_the_pages_need_are_served(client, path):
    response = client.get(path)
    assert response.status_code == 404
    assert response.get_json()["ok"] is False


@pytest.mark.parametrize("path", PAGES)
def test_the_docs_pages_may_load_from_halls_only(client, path):
    policy = client.get(path).headers["Content-Security-Policy"]
    assert "default-src 'self'" in policy
    assert "img-src 'self' data:" in policy
    assert "Content-Security-Policy" not in client.get("/openapi.json").headers


def operation_ids(client):
    spec = client.get("/openapi.json").get_json()
    return [
        operation["operationId"]
        for item in spec["paths"].values()
        for method, operation in item.items()
        if method in ("get", "post", "put", "patch", "delete")
    ]


def test_swagger_ui_renders_every_operation_offline(browser_page, live_server, client):  # noqa: F811
    browser_page.goto(f"{live_server}/docs")
    browser_page.wait_for_selector(".opblock")
    # Swagger UI's ids: operations-<tag>-<operationId>, its dots escaped with a backslash.
    rendered = browser_page.eval_on_selector_all(".opblock", "blocks => blocks.map(b => b.id)")
    rendered = {id_.replace("\\", "").split("-", 2)[2] for id_ in rendered}
    assert rendered == set(operation_ids(client))
    assert len(rendered) == 41
    assert browser_page.offsite == []
    assert browser_page.errors == []


def test_redoc_renders_the_document_offline(browser_page, live_server, client):  # noqa: F811
    browser_page.goto(f"{live_server}/redoc")
    browser_page.wait_for_selector('[data-section-id="operation/bookings.create"]')
    rendered = browser_page.eval_on_selector_all(
        "[data-section-id^='operation/']", "ops => ops.map(op => op.dataset.sectionId)"
    )
    assert {section.removeprefix("operation/") for section in rendered} == set(
        operation_ids(client)
    )
    assert "Book one or more slots of a date" in browser_page.inner_text("body")
    assert browser_page.offsite == []
    assert browser_page.errors == []
