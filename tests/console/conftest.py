"""Fixtures of the console tests: the console in-process over a real data directory and the
local store, members signed in to it, and a live `lakestow serve` for browsers and the aws CLI."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, Playwright, sync_playwright

from console.browsing import ARGS, CHROMIUM, sign_in
from console.console_support import As, Console, LiveConsole, add_members
from inprocess import in_process
from lakestow.datadir import Opened


@pytest.fixture
def console(opened: Opened) -> Iterator[Console]:
    ids = add_members(opened)
    with in_process(opened, s3_url="http://127.0.0.1:9", console_url="http://testserver") as app:
        yield Console(app.client, opened, ids)


@pytest.fixture
def alice(console: Console) -> As:
    return console.as_("alice")


@pytest.fixture
def bob(console: Console) -> As:
    return console.as_("bob")


@pytest.fixture(scope="session")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveConsole]:
    server = LiveConsole(tmp_path_factory.mktemp("console-live")).create().start()
    yield server
    server.stop()
    assert "Traceback" not in server.log(), server.log()


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    """Module-scoped: a running Playwright holds an asyncio loop in this thread, which breaks
    the async tests (anyio) of any module that comes after it in the same session."""
    with sync_playwright() as running:
        yield running


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
    yield browser
    browser.close()


@pytest.fixture
def alice_page(browser: Browser, live: LiveConsole) -> Iterator[Page]:
    page = sign_in(browser, live, "alice")
    yield page
    page.context.close()
