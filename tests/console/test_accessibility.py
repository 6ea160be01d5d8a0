"""Accessibility: axe-core (npm, installed under tests/a11y by scripts/test) injected into the
console's pages in Debian's Chromium finds no WCAG 2 A or AA violation, in light and dark."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page

from console.browsing import api, home, row_action, shot
from console.console_support import LiveConsole

AXE = Path(__file__).parents[1] / "a11y" / "node_modules" / "axe-core" / "axe.min.js"
TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]


def violations(page: Page) -> list[dict[str, Any]]:
    page.add_script_tag(path=str(AXE))
    found: list[dict[str, Any]] = page.evaluate(
        "async (tags) => (await axe.run(document, {runOnly: {type: 'tag', values: tags}}))"
        ".violations.map(v => ({id: v.id, impact: v.impact, help: v.help,"
        " nodes: v.nodes.slice(0, 3).map(n => n.target.join(' '))}))",
        TAGS,
    )
    return found


@pytest.fixture(scope="module")
def pages(live: LiveConsole) -> dict[str, str]:
    session = api(live)
    folder = home(live) + "a11y/"
    for name, data in (("table.csv", b"a,b\n1,2\n"), ("notes.txt", b"hello\n")):
        stored = session.put(f"{live.url}/api/object", params={"path": folder + name}, data=data)
        assert stored.status_code == 201, stored.text
    return {
        "folder": f"/browse/{folder}",
        "root": "/browse/",
        "search": f"/browse/{home(live)}?q=table",
        "credentials": "/credentials",
        "error": "/browse/data/customer-999/",
    }


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_console_pages_have_no_wcag_violation(
    browser: Browser, live: LiveConsole, pages: dict[str, str], scheme: str
) -> None:
    # (the console's CSP refuses inline scripts: axe is let in by the test's context alone)
    context = browser.new_context(bypass_csp=True, color_scheme=scheme)  # type: ignore[arg-type]
    page = context.new_page()
    page.goto(live.url + "/")
    found = {"sign-in": violations(page)}
    page.fill('input[name="name"]', "alice")
    page.fill('input[name="password"]', "alice-password")
    page.click('button[type="submit"]')
    page.wait_for_url("**/browse/**")
    try:
        for name, url in pages.items():
            page.goto(live.url + url)
            found[name] = violations(page)
        page.goto(live.url + pages["folder"])
        background = page.evaluate("getComputedStyle(document.body).backgroundColor")
        assert background == {"light": "rgb(246, 247, 249)", "dark": "rgb(20, 24, 31)"}[scheme]
        shot(page, f"folder-{scheme}")
        page.click('tr.entry[data-name="notes.txt"] button.menu-button')  # a row's menu, open
        page.wait_for_selector('tr.entry[data-name="notes.txt"] ul.menu:visible')
        found["row-menu"] = violations(page)
        page.keyboard.press("Escape")
        row_action(page, "table.csv", "preview")
        page.wait_for_selector("#preview-dialog[open]")
        found["preview"] = violations(page)
    finally:
        context.close()
    assert {name: v for name, v in found.items() if v} == {}, json.dumps(found, indent=1)
