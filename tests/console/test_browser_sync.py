"""The sync status panel in a real browser: a real agent syncs into alice's notebooks folder
on a live `lakestow serve`, the folder's page shows the pass, and once three intervals go by
with no further pass, the page warns."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from console.browsing import shot
from console.console_support import LiveConsole, lakestow
from lakestow.sync.agent import Agent
from lakestow.sync.credentials import parse_process_document
from lakestow.sync.remote import Endpoint, Remote
from live import BUCKET

pytestmark = pytest.mark.slow
INTERVAL = 5.0


def notebooks_remote(live: LiveConsole) -> Remote:
    document = lakestow(live.data_dir, "credentials", "issue", "alice", "--format", "json")
    credentials = parse_process_document(document)
    prefix = f"acme/notebooks/customer-{live.ids['alice']}/"
    return Remote(Endpoint(live.endpoint, "us-east-1", lambda: credentials), BUCKET, prefix)


def test_a_stopped_agent_is_warned_about(
    alice_page: Page, live: LiveConsole, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    (home / "nb").mkdir(parents=True)
    (home / "nb" / "analysis.ipynb").write_text('{"cells": []}')
    with Agent(home, notebooks_remote(live), interval=INTERVAL) as agent:
        assert agent.sync().ok
    stopped = time.monotonic()

    alice_page.goto(f"{live.url}/browse/notebooks/customer-{live.ids['alice']}/")
    panel = alice_page.locator("#sync-status")
    expect(panel).to_contain_text("1 uploaded, 0 deleted, 0 kept aside")
    expect(panel).to_contain_text("every 5 s")
    expect(alice_page.locator("#sync-warning")).to_have_count(0)
    assert time.monotonic() - stopped < 3 * INTERVAL  # else this page could not be fresh
    shot(alice_page, "sync-status")

    time.sleep(max(0.0, stopped + 3 * INTERVAL + 1 - time.monotonic()))
    alice_page.reload()
    warning = alice_page.locator("#sync-warning")
    expect(warning).to_be_visible()
    expect(warning).to_contain_text("more than 3 intervals of 5 s")
    shot(alice_page, "sync-status-stale")
