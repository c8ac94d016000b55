"""GET /reset-password: the page the reset mail links to, over HTTP and in headless Chromium."""

import os
import re
import threading
from urllib.parse import urlsplit

import pytest
from werkzeug.serving import make_server

from halls import db
from halls.auth.pages import CONTENT_SECURITY_POLICY
from tests.helpers import PASSWORD, assert_error, ok_data

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
NEW_PASSWORD = "a brand new password"
BAD_TOKEN = "The reset token is unknown, expired or already used."
API_ANSWERED = "Failed to load resource: the server responded with a status of"


def forgot(client, email):
    return client.post("/auth/forgot-password", json={"email": email})


def login(client, email, password):
    return client.post("/auth/login", json={"email": email, "password": password})


def mailed_link(email):
    """The link in the reset mail to this address, as the plain-text body shows it."""
    message = db.outbox().find_one({"to": email, "kind": "password_reset"})
    (link,) = re.findall(r"^(https?://\S+)$", message["text"], re.M)
    assert f'href="{link}"' in message["html"]
    return link


# --- over HTTP ---------------------------------------------------------------------------


def test_the_page_is_a_form_for_the_token_with_a_strict_policy(client):
    response = client.get("/reset-password?token=abc-123")
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    assert response.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    assert "default-src 'none'" in CONTENT_SECURITY_POLICY
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert response.headers["X-Frame-Options"] == "DENY"
    page = response.get_data(as_text=True)
    assert '<input type="hidden" name="token" value="abc-123">' in page
    assert 'data-api="/auth/reset-password"' in page
    # Every asset is this server's own: a path, never another host.
    assets = re.findall(r'(?:src|href|action)="([^"]*)"', page)
    assert sorted(assets) == ["/static/reset-password.css", "/static/reset-password.js"]
    assert "<style" not in page and "style=" not in page  # style-src 'self' would drop them
    assert re.findall(r"<script[^>]*>([^<]*)</script>", page) == [""]  # no inline script


def test_the_token_is_escaped_into_the_page(client):
    page = client.get('/reset-password?token="><script>alert(1)</script>').get_data(as_text=True)
    assert "<script>alert" not in page
    assert 'value="&#34;&gt;&lt;script&gt;alert(1)&lt;/script&gt;"' in page


def test_without_a_token_the_page_asks_for_it(client):
    page = client.get("/reset-password").get_data(as_text=True)
    assert 'name="token" type="hidden"' not in page
    assert '<input id="token" name="token" required' in page


@pytest.mark.parametrize(
    ("path", "mimetype"),
    [("/static/reset-password.js", "text/javascript"), ("/static/reset-password.css", "text/css")],
)
def test_the_pages_script_and_style_are_served(client, path, mimetype):
    with client.get(path) as response:
        assert response.status_code == 200
        assert response.mimetype == mimetype
        assert "http" not in response.get_data(as_text=True)  # it loads and calls nothing else


def test_the_page_takes_no_post(client):
    assert_error(client.post("/reset-password", json={}), 405, "method_not_allowed")


# --- in Chromium -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser():
    """Debian's Chromium, headless, driven by Playwright (no browser download)."""
    if not os.access(CHROMIUM, os.X_OK):
        message = f"{CHROMIUM} is missing: apt-get install chromium (.ci/run does)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield browser
        browser.close()


@pytest.fixture
def live_server(app):
    """The test app on a free loopback port, served by werkzeug from a thread: its base URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=10)
    server.server_close()


class Visit:
    """A browser tab that may reach 127.0.0.1 only; it keeps what it asked for and logged."""

    def __init__(self, browser):
        self.context = browser.new_context()
        self.requests, self.blocked, self.console = [], [], []
        self.context.route("**/*", self._only_loopback)
        self.page = self.context.new_page()
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda error: self.console.append(str(error)))

    def _only_loopback(self, route):
        url = route.request.url
        if urlsplit(url).hostname == "127.0.0.1":
            self.requests.append((route.request.method, urlsplit(url).path))
            route.continue_()
        else:
            self.blocked.append(url)
            route.abort()

    def _console(self, message):
        # A CSP violation is logged as an error. An API answer of 4xx is logged too; the
        # tests check what the page then shows.
        text = message.text
        if message.type == "error" and not text.startswith(API_ANSWERED):
            self.console.append(text)

    def set_password(self, password, again=None):
        self.page.fill("#new_password", password)
        self.page.fill("#repeat_password", password if again is None else again)
        self.page.click("button[type=submit]")

    def status(self, kind):
        locator = self.page.locator(f"#status.{kind}")
        locator.wait_for(timeout=10_000)
        return locator.inner_text()


@pytest.fixture
def visit(browser):
    visit = Visit(browser)
    yield visit
    visit.context.close()
    assert visit.blocked == [], "the page tried to reach another host"
    assert visit.console == [], "the page logged errors (a CSP violation, a script error)"


def test_the_mailed_link_resets_the_password_in_a_browser(
    app, client, customer, live_server, visit
):
    user, _ = customer
    app.config["PUBLIC_BASE_URL"] = live_server
    ok_data(forgot(client, user["email"]))
    link = mailed_link(user["email"])
    assert link.startswith(f"{live_server}/reset-password?token=")

    visit.page.goto(link)
    assert visit.page.title() == "Reset your password · Halls"
    assert urlsplit(visit.page.url).query == ""  # the token left the address bar
    visit.set_password(NEW_PASSWORD)
    assert visit.status("success") == "Your password has been reset; sign in with the new one."
    assert visit.page.locator("#reset-form").is_hidden()

    assert sorted(visit.requests) == [
        ("GET", "/reset-password"),
        ("GET", "/static/reset-password.css"),
        ("GET", "/static/reset-password.js"),
        ("POST", "/auth/reset-password"),
    ]
    assert db.password_resets().find_one({"user_id": user["_id"]})["used_at"] is not None
    ok_data(login(client, user["email"], NEW_PASSWORD))
    assert_error(login(client, user["email"], PASSWORD), 401, "invalid_credentials")


def test_a_made_up_token_shows_the_apis_message(client, customer, live_server, visit):
    user, _ = customer
    visit.page.goto(f"{live_server}/reset-password?token=not-a-real-token")
    visit.set_password(NEW_PASSWORD)
    assert visit.status("error") == BAD_TOKEN
    assert visit.page.locator("#reset-form").is_visible()
    ok_data(login(client, user["email"], PASSWORD))


def test_an_expired_link_shows_the_apis_message(app, client, customer, live_server, visit, clock):
    user, _ = customer
    app.config["PUBLIC_BASE_URL"] = live_server
    ok_data(forgot(client, user["email"]))
    clock.advance(hours=1, seconds=1)
    visit.page.goto(mailed_link(user["email"]))
    visit.set_password(NEW_PASSWORD)
    assert visit.status("error") == BAD_TOKEN
    assert db.password_resets().find_one({"user_id": user["_id"]})["used_at"] is None
    ok_data(login(client, user["email"], PASSWORD))


def test_a_pasted_token_works_without_the_link(client, customer, live_server, visit):
    user, _ = customer
    ok_data(forgot(client, user["email"]))
    token = re.search(r"token=([\w-]+)", mailed_link(user["email"]))[1]
    visit.page.goto(f"{live_server}/reset-password")
    visit.page.fill("#token", f"  {token} ")
    visit.set_password(NEW_PASSWORD)
    assert visit.status("success").startswith("Your password has been reset")
    ok_data(login(client, user["email"], NEW_PASSWORD))


def test_different_passwords_are_caught_before_anything_is_sent(
    client, customer, live_server, visit
):
    user, _ = customer
    visit.page.goto(f"{live_server}/reset-password?token=whatever-token")
    visit.set_password(NEW_PASSWORD, again="another password")
    assert visit.status("error") == "The two passwords are not the same."
    assert ("POST", "/auth/reset-password") not in visit.requests
    ok_data(login(client, user["email"], PASSWORD))


def test_the_apis_field_messages_are_shown(client, customer, live_server, visit):
    # A token longer than the API takes: a 422 whose details name the field.
    visit.page.goto(f"{live_server}/reset-password?token={'t' * 201}")
    visit.set_password(NEW_PASSWORD)
    assert visit.status("error") == (
        "Some fields are invalid.\nReset token: Length must be between 1 and 200."
    )
