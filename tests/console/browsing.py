"""Helpers of the browser tests: Chromium's settings, signing in, dialogs, screenshots, and
the API of the live console for checks."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import requests
from playwright.sync_api import Browser, Page, Request, expect

from console.console_support import LiveConsole

CHROMIUM = Path("/usr/bin/chromium")
SHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
MiB = 1024 * 1024


def sign_in(browser: Browser, live: LiveConsole, name: str) -> Page:
    context = browser.new_context(
        permissions=["clipboard-read", "clipboard-write"], accept_downloads=True
    )
    page = context.new_page()
    page.goto(live.url + "/")
    page.fill('input[name="name"]', name)
    page.fill('input[name="password"]', f"{name}-password")
    page.click('button[type="submit"]')
    page.wait_for_url("**/browse/**")
    return page


def shot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def reply(page: Page, answer: str | bool) -> str:
    """Answer the page's next question (its own dialog, #ask-dialog; the console never uses
    the browser's prompt or confirm): a text for one that asks for a name or path, True to
    confirm, False to cancel. What the question said."""
    dialog = page.locator("#ask-dialog")
    expect(dialog).to_be_visible()
    said = " ".join(
        dialog.locator(part).text_content() or "" for part in ("#ask-title", "#ask-message")
    )
    if isinstance(answer, str):
        page.fill("#ask-input", answer)
    page.click("#ask-ok" if answer is not False else "#ask-cancel")
    return said


def row_action(page: Page, name: str, action: str) -> None:
    """Choose `action` (the item's class: preview, download, share, versions, copy, rename,
    delete) in the row menu of the entry named `name`: its ⋯ button opens the menu."""
    row = page.locator(f'tr.entry[data-name="{name}"]')
    row.locator("button.menu-button").click()
    item = row.locator(f'ul.menu [role="menuitem"].{action}')
    expect(item).to_be_visible()
    item.click()


def home(live: LiveConsole, name: str = "alice") -> str:
    return f"data/customer-{live.ids[name]}/"


def api(live: LiveConsole, name: str = "alice") -> requests.Session:
    session = requests.Session()
    answer = session.post(
        f"{live.url}/api/session", json={"name": name, "password": f"{name}-password"}
    )
    session.headers["X-CSRF-Token"] = answer.json()["csrf_token"]
    return session


def listed(live: LiveConsole, path: str) -> list[str]:
    answer = api(live).get(f"{live.url}/api/list", params={"path": path, "limit": "1000"})
    return [e["name"] for e in answer.json()["entries"]]


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while chunk := file.read(MiB):
            digest.update(chunk)
    return digest.hexdigest()


def big_file(path: Path, size: int) -> Path:
    with path.open("wb") as out:
        block = os.urandom(MiB)
        for i in range(size // MiB):
            out.write(i.to_bytes(8, "big") + block[8:])
    return path


def part_number(request: Request) -> int | None:
    """The part number of a part upload request, else None."""
    url = request.url
    return int(url.split("/parts/")[1].split("?")[0]) if "/parts/" in url else None
