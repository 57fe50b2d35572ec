"""Headless Chromium (Debian's /usr/bin/chromium) for the browser tests, through Playwright.

The browser is never downloaded (no ``playwright install``): a missing /usr/bin/chromium fails
the tests with a clear message. Every browser context aborts requests to non-loopback hosts;
a test fails if a page tried one, threw an uncaught error or violated its CSP.

``publisher`` is a publisher's site on another origin and site than the DCS: a tiny loopback
server reached as ``http://localhost:<port>`` while the stack answers on ``127.0.0.1``.
"""

from __future__ import annotations

import contextlib
import html
import os
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Iterator

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1", "[::1]"}


@pytest.fixture(scope="session")
def playwright_driver() -> Iterator[object]:
    """The one Playwright driver of the session (a second sync driver cannot run beside it);
    tests that need Chromium with other flags launch their own browser from it."""
    if not os.path.exists(CHROMIUM):
        pytest.fail(
            f"{CHROMIUM} not found: the browser tests drive Debian's Chromium "
            "(apt-get install chromium); 'playwright install' is not used in this project.",
            pytrace=False,
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        yield pw


@pytest.fixture(scope="session")
def browser(playwright_driver) -> Iterator[object]:  # type: ignore[no-untyped-def]
    browser = playwright_driver.chromium.launch(
        executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
    )
    try:
        yield browser
    finally:
        browser.close()


class PageLog:
    """What a page did that a failing test wants to show: console lines, errors, blocked URLs."""

    def __init__(self) -> None:
        self.console: list[str] = []
        self.page_errors: list[str] = []
        self.blocked: list[str] = []

    def __str__(self) -> str:
        return f"console={self.console!r} page_errors={self.page_errors!r} blocked={self.blocked!r}"


@contextlib.contextmanager
def guarded_context(
    browser: Any, allow_host: Callable[[str], bool] = LOOPBACK_HOSTS.__contains__, **options: Any
) -> Iterator[Any]:
    """A fresh browser context (empty cookie jar) that only reaches hosts ``allow_host``
    accepts; on exit, fails on blocked requests, page errors and CSP violations."""
    ctx = browser.new_context(**options)
    log = PageLog()

    def guard(route: Any) -> None:
        host = urllib.parse.urlsplit(route.request.url).hostname or ""
        if allow_host(host):
            route.continue_()
        else:
            log.blocked.append(route.request.url)
            route.abort()

    ctx.route("**/*", guard)
    ctx.on(
        "page",
        lambda page: (
            page.on("console", lambda m: log.console.append(f"{m.type}: {m.text}")),
            page.on("pageerror", lambda e: log.page_errors.append(str(e))),
        ),
    )
    ctx.log = log
    try:
        yield ctx
    finally:
        ctx.close()
    assert not log.blocked, f"a page tried to reach a non-loopback address: {log.blocked}"
    assert not log.page_errors, f"uncaught errors in a page: {log.page_errors}"
    csp = [line for line in log.console if "Content Security Policy" in line]
    assert not csp, f"the assets broke their Content-Security-Policy: {csp}"


@pytest.fixture
def context(browser: Any) -> Iterator[Any]:
    """A fresh browser context (empty cookie jar) that only talks to loopback."""
    with guarded_context(browser) as ctx:
        yield ctx


@pytest.fixture
def page(context):  # type: ignore[no-untyped-def]
    return context.new_page()


# Pages a test serves from the publisher's site, by path (whole documents). A real server, not
# Playwright's route.fulfill: Chromium treats a fulfilled document as public, and refuses its
# requests to the loopback DCS (Local Network Access).
PUBLISHER_PAGES: dict[str, str] = {}


class _PublisherHandler(BaseHTTPRequestHandler):
    """``/tagged.html``: a page carrying the DCS tag; ``PUBLISHER_PAGES``; any other path: a
    blank page."""

    dcs_url = ""

    def do_GET(self) -> None:  # noqa: N802 (http.server naming)
        body = ""
        path = urllib.parse.urlsplit(self.path).path
        if path == "/tagged.html":
            body = f'<script src="{html.escape(self.dcs_url)}/tag.js"></script>'
        page = PUBLISHER_PAGES.get(path) or (
            f"<!doctype html><html><head><title>publisher</title></head><body>{body}</body></html>"
        )
        data = page.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


@pytest.fixture(scope="session")
def publisher(local_stack) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """Origin of a publisher page (``http://localhost:<port>``) tagged with the stack's DCS."""
    handler = type("Handler", (_PublisherHandler,), {"dcs_url": local_stack.dcs_url})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    # The other loopback name: another origin and another site than the DCS.
    host = (
        "localhost"
        if urllib.parse.urlsplit(local_stack.dcs_url).hostname != "localhost"
        else "127.0.0.1"
    )
    try:
        yield f"http://{host}:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
