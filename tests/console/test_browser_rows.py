"""The folder listing in a real browser (Debian's Chromium driven by Playwright) against a live
`lakestow serve`: the selection downloaded as one zip (and another member's name refused),
the per-row ⋯ menu (keyboard, Escape, a click elsewhere, the focus given back), keyboard use
of the rows (arrows, Enter, Space, Delete after asking), names in natural order, and the
stylesheet's primary button and quiet table links in light and dark. Screenshots go to
test-artifacts/screenshots/ (folder.png, row-menu.png, keyboard.png)."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Locator, Page, expect

from console.browsing import api, home, listed, reply, shot
from console.console_support import LiveConsole

pytestmark = pytest.mark.slow  # Chromium is installed by scripts/test: never skipped


@pytest.fixture
def alice(alice_page: Page) -> Page:
    return alice_page


def put(live: LiveConsole, path: str, data: bytes = b"x") -> None:
    stored = api(live).put(f"{live.url}/api/object", params={"path": path}, data=data)
    assert stored.status_code == 201, stored.text


def names(page: Page) -> list[str]:
    found: list[str] = page.locator("tr.entry:visible").evaluate_all(
        "rows => rows.map(r => r.dataset.name)"
    )
    return found


def test_the_selection_downloads_as_one_zip(alice: Page, live: LiveConsole) -> None:
    folder = home(live) + "quarterly/"
    files = {
        "report-2.csv": b"q,revenue\n2,120\n",
        "report-10.csv": b"q,revenue\n10,99\n",
        "summary.parquet": b"PAR1",
        "notes.txt": b"kept apart\n",
        "charts/revenue.png": b"\x89PNG",
        "charts/2026/costs.png": b"\x89PNG",
        "raw/ledger.jsonl": b"{}\n",
    }
    for name, data in files.items():
        put(live, folder + name, data)
    alice.goto(live.url + "/browse/" + folder)
    assert names(alice) == [
        "charts",
        "raw",
        "notes.txt",
        "report-2.csv",
        "report-10.csv",
        "summary.parquet",
    ]
    shot(alice, "folder")
    alice.check('tr.entry[data-name="charts"] input.pick')
    alice.check('tr.entry[data-name="report-10.csv"] input.pick')
    expect(alice.locator("#selection-count")).to_have_text("2 selected")
    with alice.expect_download() as info:
        alice.click("#sel-zip")
    download = info.value
    assert download.suggested_filename == "quarterly (2 chosen).zip"
    archive = zipfile.ZipFile(io.BytesIO(Path(download.path()).read_bytes()))
    assert archive.namelist() == ["charts/2026/costs.png", "charts/revenue.png", "report-10.csv"]
    assert archive.read("report-10.csv") == files["report-10.csv"]
    expect(alice).to_have_url(f"{live.url}/browse/{folder}")  # the page stays


def test_a_zip_naming_another_members_folder_is_refused(alice: Page, live: LiveConsole) -> None:
    """The page's own form with a name alice may not read (bob's folder, or one that does
    not exist): refused alike, nothing zipped."""
    alice.goto(live.url + "/browse/data/")
    csrf = alice.locator('#zip-form input[name="csrf"]').input_value()
    answers = [
        alice.request.post(
            live.url + "/api/zip", form={"path": "data/", "name": name, "csrf": csrf}
        )
        for name in (f"customer-{live.ids['bob']}/", "customer-999999/")
    ]
    assert [a.status for a in answers] == [403, 403]
    assert [a.headers["content-type"] for a in answers] == ["application/json"] * 2
    messages = [a.json()["message"] for a in answers]
    assert messages[0].replace(str(live.ids["bob"]), "N") == messages[1].replace("999999", "N")
    mine = alice.request.post(
        live.url + "/api/zip", form={"path": "data/", "name": "shared/", "csrf": csrf}
    )
    assert mine.status == 200 and mine.headers["content-type"] == "application/zip"


def test_a_rows_menu(alice: Page, live: LiveConsole) -> None:
    folder = home(live) + "menu/"
    put(live, folder + "draft.txt", b"draft")
    alice.goto(live.url + "/browse/" + folder)
    row = alice.locator('tr.entry[data-name="draft.txt"]')
    button = row.locator("button.menu-button")
    menu = row.locator("ul.menu")
    expect(button).to_have_attribute("aria-haspopup", "menu")
    expect(row.locator("td.actions button:visible")).to_have_count(1)  # ⋯ only
    button.click()
    expect(button).to_have_attribute("aria-expanded", "true")
    expect(menu.get_by_role("menuitem")).to_have_text(
        ["Preview", "Download", "Share link", "Versions", "Copy S3 path", "Rename/move", "Delete"]
    )
    expect(menu.get_by_role("menuitem").first).to_be_focused()
    shot(alice, "row-menu")
    alice.keyboard.press("ArrowDown")
    expect(menu.get_by_role("menuitem", name="Download")).to_be_focused()
    alice.keyboard.press("ArrowUp")
    alice.keyboard.press("ArrowUp")  # round to the last
    expect(menu.get_by_role("menuitem", name="Delete")).to_be_focused()
    alice.keyboard.press("Escape")
    expect(menu).to_be_hidden()
    expect(button).to_have_attribute("aria-expanded", "false")
    expect(button).to_be_focused()

    button.click()
    expect(menu).to_be_visible()
    alice.click("#keys-hint")  # a click elsewhere
    expect(menu).to_be_hidden()

    button.focus()
    alice.keyboard.press("Enter")  # ⋯ by the keyboard: the menu, focus on its first item
    expect(menu.get_by_role("menuitem", name="Preview")).to_be_focused()
    menu.get_by_role("menuitem", name="Rename/move").focus()
    alice.keyboard.press("Enter")
    assert "Rename or move" in reply(alice, folder + "final.txt")
    alice.wait_for_selector('tr.entry[data-name="final.txt"]')
    assert listed(live, folder) == ["final.txt"]

    alice.goto(live.url + "/browse/")  # a read-only folder's row: only what it allows
    data = alice.locator('tr.entry[data-name="data"]')
    data.locator("button.menu-button").click()
    expect(data.get_by_role("menuitem")).to_have_text(["Download as zip", "Copy S3 path"])


def test_keyboard_use_of_the_rows(alice: Page, live: LiveConsole) -> None:
    folder = home(live) + "keys/"
    for name in ("file10.txt", "file2.txt", "file1.txt", "sub/inside.txt"):
        put(live, folder + name, name.encode())
    alice.goto(live.url + "/browse/" + folder)
    assert names(alice) == ["sub", "file1.txt", "file2.txt", "file10.txt"]  # natural order

    def row(name: str) -> Locator:
        return alice.locator(f'tr.entry[data-name="{name}"]')

    alice.focus("#find")
    alice.keyboard.press("ArrowDown")  # from the search field into the rows
    expect(row("sub")).to_be_focused()
    alice.keyboard.press("ArrowDown")
    expect(row("file1.txt")).to_be_focused()
    assert alice.evaluate("document.activeElement.matches(':focus-visible')")
    outline = alice.evaluate("getComputedStyle(document.activeElement.cells[0]).boxShadow")
    assert "inset" in outline  # the focus is drawn
    alice.keyboard.press(" ")
    expect(row("file1.txt").locator("input.pick")).to_be_checked()
    expect(alice.locator("#selection-count")).to_have_text("1 selected")
    alice.keyboard.press(" ")
    expect(alice.locator("#selection-bar")).to_be_hidden()
    alice.keyboard.press("ArrowDown")
    expect(row("file2.txt")).to_be_focused()
    shot(alice, "keyboard")
    alice.keyboard.press("Enter")  # a file: its preview
    expect(alice.locator("#preview-dialog")).to_be_visible()
    expect(alice.locator("#preview-title")).to_have_text("file2.txt")
    alice.keyboard.press("Escape")
    expect(alice.locator("#preview-dialog")).to_be_hidden()
    expect(row("file2.txt")).to_be_focused()  # the focus comes back

    alice.keyboard.press("Delete")
    assert f"Delete /{folder}file2.txt?" in reply(alice, False)  # cancelled: nothing changes
    expect(row("file2.txt")).to_be_focused()
    alice.keyboard.press("Delete")
    reply(alice, True)
    expect(row("file2.txt")).to_have_count(0)
    expect(row("file10.txt")).to_be_focused()  # the next row
    assert listed(live, folder) == ["sub", "file1.txt", "file10.txt"]
    alice.keyboard.press(" ")
    alice.keyboard.press("ArrowUp")
    alice.keyboard.press(" ")
    expect(alice.locator("#selection-count")).to_have_text("2 selected")
    alice.keyboard.press("Delete")  # a row of a selection of several: the selection
    assert "Delete the 2 selected" in reply(alice, False)
    expect(row("file1.txt")).to_be_focused()

    alice.keyboard.press("Home")
    expect(row("sub")).to_be_focused()
    alice.keyboard.press("Enter")  # a folder: opened
    alice.wait_for_url(f"**/browse/{folder}sub/")
    expect(alice.locator("tr.entry")).to_have_count(1)


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_stylesheet_in_light_and_dark(browser: Browser, live: LiveConsole, scheme: str) -> None:
    """One accent for primary buttons; links in tables in the text's colour, not underlined;
    the page's colours follow the system setting."""
    put(live, home(live) + "styled/a.csv")
    context = browser.new_context(color_scheme=scheme)  # type: ignore[arg-type]
    page = context.new_page()
    try:
        page.goto(live.url + "/")
        style = "e => [getComputedStyle(e).backgroundColor, getComputedStyle(e).color]"
        primary = page.locator("form.signin button.primary").evaluate(style)
        page.fill('input[name="name"]', "alice")
        page.fill('input[name="password"]', "alice-password")
        page.click('button[type="submit"]')
        page.wait_for_url("**/browse/**")
        page.goto(live.url + "/browse/" + home(live) + "styled/")
        link = page.locator("tr.entry td.name a").first
        looks = link.evaluate(
            "a => [getComputedStyle(a).textDecorationLine, getComputedStyle(a).color,"
            " getComputedStyle(a.closest('td')).color]"
        )
        body = page.evaluate("getComputedStyle(document.body).backgroundColor")
    finally:
        context.close()
    accent = {"light": "rgb(31, 90, 160)", "dark": "rgb(53, 112, 184)"}[scheme]
    assert primary == [accent, "rgb(255, 255, 255)"]
    assert looks[0] == "none" and looks[1] == looks[2]
    assert body == {"light": "rgb(246, 247, 249)", "dark": "rgb(20, 24, 31)"}[scheme]
