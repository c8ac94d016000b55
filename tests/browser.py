"""A real browser against a live halls: Debian's headless Chromium driven by Playwright.

`live_server` serves the test's app on 127.0.0.1 from a thread; `browser_page` is a Chromium
page that may reach only that address: any request to another host is aborted and recorded
in `page.offsite` (a page we serve loads nothing from another host). Import both fixtures into
a test module: `from tests.browser import browser_page, chromium, live_server`.

Without Chromium the tests skip, saying why; on CI (CI set) they fail instead: .ci/run
installs it.
"""

import os
import shutil
import threading
from urllib.parse import urlsplit

import pytest
from werkzeug.serving import make_server

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
LOCAL_HOSTS = {"127.0.0.1"}


@pytest.fixture
def live_server(app):
    """The app served on 127.0.0.1 (a free port) for the test; its base URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def chromium():
    """One headless Chromium per test module: Playwright's sync API runs one instance per
    thread at a time, so it is closed before another module starts its own."""
    if not os.path.exists(CHROMIUM):
        reason = f"no Chromium at {CHROMIUM}: apt-get install -y chromium"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield browser
        browser.close()


@pytest.fixture
def browser_page(chromium, live_server):
    """A fresh page that can reach the live server only; `page.offsite` lists what it tried
    to load from anywhere else, and `page.errors` the uncaught script errors."""
    context = chromium.new_context()
    page = context.new_page()
    page.offsite = []
    page.errors = []

    def only_local(route):
        if urlsplit(route.request.url).hostname in LOCAL_HOSTS:
            route.continue_()
        else:
            page.offsite.append(route.request.url)
            route.abort()

    page.route("**/*", only_local)
    page.on("pageerror", lambda error: page.errors.append(str(error)))
    page.set_default_timeout(30_000)
    yield page
    context.close()
