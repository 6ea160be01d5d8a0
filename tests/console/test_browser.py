"""The console in a real browser (Debian's Chromium driven by Playwright) against a live
`lakestow serve`: sign in, browse, copy S3 path, download, delete, new folder, preview,
credentials used by the aws CLI, the /spark-logs/ warning, the admin page, and another
member's folder never shown. Screenshots of each main page go to test-artifacts/screenshots/.
"""

from __future__ import annotations

import io
import os
import shlex
import subprocess
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import requests
from playwright.sync_api import Browser, Page, expect

from console.browsing import (
    api,
    home,
    listed,
    reply,
    row_action,
    shot,
    sign_in,
)
from console.console_support import LiveConsole
from live import BIN

pytestmark = pytest.mark.slow  # Chromium is installed by scripts/test: never skipped


@pytest.fixture
def alice(alice_page: Page) -> Page:
    """alice signed in, in her own browser context (not the in-process `alice`)."""
    return alice_page


def test_sign_in_page(browser: Browser, live: LiveConsole) -> None:
    page = browser.new_page()
    page.goto(live.url + "/")
    expect(page.locator('form[action="/signin"]')).to_be_visible()
    shot(page, "sign-in")
    page.fill('input[name="name"]', "alice")
    page.fill('input[name="password"]', "wrong-password")
    page.click('button[type="submit"]')
    expect(page.locator(".error")).to_contain_text("wrong name or password")
    page.close()


def test_browse_and_copy_s3_path(alice: Page, live: LiveConsole) -> None:
    rows = alice.locator("tr.entry")
    expect(rows).to_have_count(3)
    alice.click("text=data/")
    alice.wait_for_url("**/browse/data/")
    expect(alice.locator("tr.entry")).to_have_count(2)
    expect(alice.locator(".crumbs")).to_contain_text("data")
    shot(alice, "browse-data")
    row = alice.locator(f'tr.entry[data-name="customer-{live.ids["alice"]}"]')
    expect(row.locator(".badge")).to_have_text("private")
    row_action(alice, f"customer-{live.ids['alice']}", "copy")
    expect(alice.locator("#toast")).to_contain_text("Copied s3://")
    copied = alice.evaluate("navigator.clipboard.readText()")
    assert copied == f"s3://lakestow/acme/{home(live)}"


def test_another_members_folder_is_never_shown(browser: Browser, live: LiveConsole) -> None:
    bob = sign_in(browser, live, "bob")
    bob.goto(live.url + "/browse/data/")
    names = bob.locator("tr.entry").evaluate_all("rows => rows.map(r => r.dataset.name)")
    assert names == [f"customer-{live.ids['bob']}", "shared"]
    bob.goto(live.url + "/browse/" + home(live))
    expect(bob.locator(".error")).to_contain_text("another member's private folder")
    bob.context.close()


def test_spark_logs_warns_before_a_change(alice: Page, live: LiveConsole) -> None:
    alice.goto(live.url + "/browse/spark-logs/")
    expect(alice.locator("#folder-warning")).to_contain_text("/spark-logs/ is shared")
    shot(alice, "spark-logs")
    alice.click("#new-folder")
    assert "New folder" in reply(alice, "job-1")
    assert "/spark-logs/ is shared" in reply(alice, False)
    expect(alice.locator("#ask-dialog")).to_be_hidden()
    expect(alice.locator("#toast")).to_be_hidden()
    assert listed(live, "spark-logs/") == []


def test_upload_download_new_folder_delete(alice: Page, live: LiveConsole, tmp_path: Path) -> None:
    alice.goto(live.url + "/browse/" + home(live))
    alice.click("#new-folder")
    reply(alice, "reports")
    alice.wait_for_selector('tr.entry[data-name="reports"]')
    alice.click('tr.entry[data-name="reports"] a')
    source = tmp_path / "hello world.csv"
    source.write_bytes(os.urandom(100_000))
    alice.set_input_files("#pick-files", str(source))
    alice.wait_for_selector('tr.entry[data-name="hello world.csv"]')
    shot(alice, "browse-home")
    with alice.expect_download() as info:
        alice.click('tr.entry[data-name="hello world.csv"] td.name a')
    assert Path(info.value.path()).read_bytes() == source.read_bytes()
    row_action(alice, "hello world.csv", "delete")
    assert "Delete /data/" in reply(alice, True)
    expect(alice.locator('tr.entry[data-name="hello world.csv"]')).to_have_count(0)
    assert listed(live, home(live) + "reports/") == []


def test_credentials_work_with_the_aws_cli(alice: Page, live: LiveConsole, tmp_path: Path) -> None:
    alice.goto(f"{live.url}/credentials?folder={home(live)}cli/")
    alice.click('#credentials-form button[type="submit"]')
    expect(alice.locator("#c-key")).to_contain_text("ASIA")
    shot(alice, "credentials")
    alice.click('button.copy-snippet[data-target="s-cp"]')
    command = alice.evaluate("navigator.clipboard.readText()")
    (tmp_path / "credentials").write_text(alice.locator("#s-profile").text_content() or "")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env["AWS_CONFIG_FILE"] = str(tmp_path / "no-config")
    env["AWS_SHARED_CREDENTIALS_FILE"] = str(tmp_path / "credentials")
    (tmp_path / "dir").mkdir()
    (tmp_path / "dir" / "a.txt").write_text("from the aws cli")
    argv = shlex.split(command)  # exactly what was copied: aws --profile ... s3 cp ./dir s3://...
    assert argv[0] == "aws" and f"--endpoint-url {live.endpoint}" in command
    subprocess.run([str(BIN / "aws"), *argv[1:]], env=env, cwd=tmp_path, check=True, timeout=120)
    assert listed(live, home(live) + "cli/") == ["a.txt"]
    exports = alice.locator("#s-env").text_content() or ""
    for line in exports.splitlines():
        name, _, value = line.removeprefix("export ").partition("=")
        env[name] = shlex.split(value)[0]
    env["AWS_SHARED_CREDENTIALS_FILE"] = str(tmp_path / "none")
    outside = f"s3://lakestow/acme/{home(live, 'bob')}x"
    refused = subprocess.run(
        [str(BIN / "aws"), "s3", "cp", str(tmp_path / "dir" / "a.txt"), outside],
        env=env,
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert refused.returncode != 0 and b"AccessDenied" in refused.stderr


def test_admin_page(browser: Browser, live: LiveConsole) -> None:
    stored = api(live).put(
        f"{live.url}/api/object", params={"path": "data/shared/usage.txt"}, data=b"used"
    )
    assert stored.status_code == 201
    root = sign_in(browser, live, "root")
    root.goto(live.url + "/admin")
    expect(root.locator('#members tr[data-name="alice"]')).to_be_visible()
    expect(root.locator("#usage tbody tr").first).to_be_visible()
    root.fill('#add-member input[name="name"]', "dave")
    root.click('#add-member button[type="submit"]')
    expect(root.locator("#admin-result")).to_contain_text("Password for dave (shown once): ")
    password = (root.locator("#admin-result").text_content() or "").rsplit(" ", 1)[-1]
    shot(root, "admin")
    root.click('#members tr[data-name="dave"] button[data-action="disable"]')
    reply(root, True)
    expect(root.locator('#members tr[data-name="dave"]')).to_contain_text("disabled")
    refused = requests.post(
        f"{live.url}/api/session", json={"name": "dave", "password": password}, timeout=10
    )
    assert refused.status_code == 401
    root.context.close()


def test_preview_of_a_csv(alice: Page, live: LiveConsole) -> None:
    path = home(live) + "preview.csv"
    api(live).put(f"{live.url}/api/object", params={"path": path}, data=b"a,b\n<b>1</b>,2\n")
    alice.goto(live.url + "/browse/" + home(live))
    row_action(alice, "preview.csv", "preview")
    table = alice.locator("#preview-body table.preview-table")
    expect(table.locator("th")).to_have_text(["a", "b"])
    expect(table.locator("tbody td")).to_have_text(["<b>1</b>", "2"])
    assert alice.locator("#preview-body b").count() == 0  # shown as text, never as HTML
    shot(alice, "preview")


def test_preview_of_a_parquet_file(alice: Page, live: LiveConsole) -> None:
    path = home(live) + "cities.parquet"
    sink = io.BytesIO()
    cities = {
        "city": ["Zürich", "Oslo", "Lima", "Nairobi", "Hanoi", "Montréal", "Perth", "Quito"],
        "country": ["CH", "NO", "PE", "KE", "VN", "CA", "AU", "EC"],
        "population": [
            421_878,
            709_037,
            9_751_000,
            4_397_073,
            8_435_700,
            1_762_949,
            2_192_229,
            2_800_388,
        ],
        "area_km2": [87.88, 454.0, 2672.3, 696.0, 3358.6, 431.5, 6418.0, 372.4],
        "capital": [False, True, True, True, True, False, False, True],
    }
    pq.write_table(pa.table(cities), sink)
    api(live).put(f"{live.url}/api/object", params={"path": path}, data=sink.getvalue())
    alice.goto(live.url + "/browse/" + home(live))
    row_action(alice, "cities.parquet", "preview")
    table = alice.locator("#preview-body table.preview-table")
    expect(table.locator("th")).to_have_text(
        ["citystring", "countrystring", "populationint64", "area_km2double", "capitalbool"]
    )
    first = table.locator("tbody tr").first.locator("td")
    expect(first).to_have_text(["Zürich", "CH", "421878", "87.88", "false"])
    expect(alice.locator("#preview-body p.rows")).to_have_text("8 rows of 8")
    shot(alice, "parquet-preview")


def test_share_link_of_a_file(alice: Page, live: LiveConsole) -> None:
    path = home(live) + "to-share.txt"
    api(live).put(f"{live.url}/api/object", params={"path": path}, data=b"shared bytes")
    alice.goto(live.url + "/browse/" + home(live))
    row_action(alice, "to-share.txt", "share")
    expect(alice.locator("#share-name")).to_have_text("to-share.txt")
    alice.select_option("#share-expiry", "7d")
    alice.click("#share-make")
    expect(alice.locator("#share-expires")).to_contain_text("Expires ")
    url = alice.locator("#share-url").input_value()
    assert "X-Amz-Expires=604800" in url
    assert requests.get(url, timeout=10).content == b"shared bytes"
    shot(alice, "share-link")
    alice.click("#share-close")
    expect(alice.locator("#share-dialog")).to_be_hidden()


def test_phone_width_never_scrolls_sideways(browser: Browser, live: LiveConsole) -> None:
    """At 375 px wide (a phone), the pages fit: no horizontal scrolling."""
    long_name = "a-rather-long-file-name-of-a-quarterly-report-2026.csv"
    api(live).put(
        f"{live.url}/api/object", params={"path": home(live) + "phone/" + long_name}, data=b"x"
    )
    page = sign_in(browser, live, "alice")
    page.set_viewport_size({"width": 375, "height": 800})
    try:
        for url in (f"/browse/{home(live)}phone/", "/browse/", "/credentials"):
            page.goto(live.url + url)
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= 375, (url, width)
        page.goto(live.url + f"/browse/{home(live)}phone/")
        page.click(f'tr.entry[data-name="{long_name}"] button.menu-button')  # its menu, open
        expect(page.locator("ul.menu:visible")).to_have_count(1)
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 375, ("the row menu", width)
        shot(page, "phone")
    finally:
        page.context.close()


def test_selection_toolbar_copies_moves_and_deletes(alice: Page, live: LiveConsole) -> None:
    folder = home(live) + "picked/"
    for name in ("a.csv", "b.csv", "c.csv"):
        api(live).put(f"{live.url}/api/object", params={"path": folder + name}, data=b"x")
    alice.goto(live.url + "/browse/" + folder)
    bar = alice.locator("#selection-bar")
    expect(bar).to_be_hidden()
    alice.check('tr.entry[data-name="a.csv"] input.pick')
    alice.check('tr.entry[data-name="b.csv"] input.pick')
    expect(alice.locator("#selection-count")).to_have_text("2 selected")
    shot(alice, "selection-toolbar")
    alice.click("#sel-copy")
    copied = alice.evaluate("navigator.clipboard.readText()")
    assert copied.splitlines() == [f"s3://lakestow/acme/{folder}{n}" for n in ("a.csv", "b.csv")]
    alice.click("#sel-move")
    reply(alice, folder + "moved")
    alice.wait_for_selector('tr.entry[data-name="moved"]')
    assert listed(live, folder + "moved/") == ["a.csv", "b.csv"]
    alice.check("#select-all")
    expect(alice.locator("#selection-count")).to_have_text("2 selected")  # moved/ and c.csv
    alice.click("#sel-delete")
    assert "2 selected" in reply(alice, True)
    expect(alice.locator("tr.entry")).to_have_count(0)
    assert listed(live, folder) == []


def test_one_field_filters_as_you_type_and_searches_below_on_enter(
    alice: Page, live: LiveConsole
) -> None:
    folder = home(live) + "find/"
    for path in ("alpha.txt", "beta.txt", "deep/alphabet.txt"):
        api(live).put(f"{live.url}/api/object", params={"path": folder + path}, data=b"x")
    alice.goto(live.url + "/browse/" + folder)
    alice.fill("#find", "ALP")
    expect(alice.locator("tr.entry:visible")).to_have_count(1)
    expect(alice.locator("tr.entry:visible")).to_have_attribute("data-name", "alpha.txt")
    alice.check("#select-all")  # only what is shown is selected
    expect(alice.locator("#selection-count")).to_have_text("1 selected")
    alice.press("#find", "Enter")
    alice.wait_for_url("**?q=ALP")
    found = alice.locator("tr.entry")
    expect(found).to_have_count(2)
    expect(found.nth(1)).to_have_attribute("data-path", folder + "deep/alphabet.txt")
