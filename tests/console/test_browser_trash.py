"""The trash in a real browser (Debian's Chromium driven by Playwright) against a live
`lakestow serve` whose organizations' bucket keeps versions, with the real aws CLI: a file
deleted in the console and restored from "Show deleted"; a file overwritten with `aws s3 cp`
and its previous version restored from the versions panel; a folder of 200 files removed with
`aws s3 rm --recursive` and restored as of a time before; another member's deleted files never
shown; and no restore where the member may not write."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from console.browsing import api, home, listed, reply, row_action, shot, sign_in
from console.console_support import LiveConsole, lakestow
from live import BIN, BUCKET

pytestmark = pytest.mark.slow  # Chromium is installed by scripts/test: never skipped


@pytest.fixture(scope="module")
def versioned(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveConsole]:
    """A server of its own, whose organizations' bucket keeps versions as every one does."""
    server = LiveConsole(tmp_path_factory.mktemp("console-trash")).create()
    server.start()
    yield server
    server.stop()
    assert "Traceback" not in server.log(), server.log()


@pytest.fixture
def alice(browser: Browser, versioned: LiveConsole) -> Iterator[Page]:
    page = sign_in(browser, versioned, "alice")
    yield page
    page.context.close()


def aws(live: LiveConsole, tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The real aws CLI as alice, with credentials issued by `lakestow credentials issue`."""
    issued = json.loads(lakestow(live.data_dir, "credentials", "issue", "alice"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        AWS_ACCESS_KEY_ID=issued["AccessKeyId"],
        AWS_SECRET_ACCESS_KEY=issued["SecretAccessKey"],
        AWS_SESSION_TOKEN=issued["SessionToken"],
        AWS_DEFAULT_REGION="us-east-1",
        AWS_ENDPOINT_URL=live.endpoint,
        AWS_CONFIG_FILE=str(tmp / "no-aws-config"),
        AWS_SHARED_CREDENTIALS_FILE=str(tmp / "no-aws-credentials"),
    )
    return subprocess.run(
        [str(BIN / "aws"), *args], env=env, capture_output=True, text=True, check=True, timeout=300
    )


def uri(live: LiveConsole, path: str) -> str:
    return f"s3://{BUCKET}/acme/{path}"


def download(page: Page, selector: str) -> bytes:
    with page.expect_download() as info:
        page.click(selector)
    return Path(info.value.path()).read_bytes()


def show_deleted(page: Page) -> None:
    page.get_by_role("switch", name="Show deleted").check()
    expect(page.locator("#trash-rows")).to_be_visible()


def test_a_file_deleted_in_the_console_is_restored(alice: Page, versioned: LiveConsole) -> None:
    folder = home(versioned) + "trash-a/"
    data = os.urandom(50_000)
    stored = api(versioned).put(
        f"{versioned.url}/api/object", params={"path": folder + "report.bin"}, data=data
    )
    assert stored.status_code == 201
    alice.goto(versioned.url + "/browse/" + folder)
    row_action(alice, "report.bin", "delete")
    reply(alice, True)
    expect(alice.locator('tr.entry[data-name="report.bin"]')).to_have_count(0)
    assert listed(versioned, folder) == []
    show_deleted(alice)
    gone = alice.locator('tr.trash[data-name="report.bin"]')
    expect(gone).to_contain_text("deleted")
    shot(alice, "show-deleted")
    gone.get_by_role("button", name="Restore report.bin").click()
    alice.wait_for_selector('tr.entry[data-name="report.bin"]')
    expect(alice.get_by_role("switch", name="Show deleted")).to_be_checked()  # kept on reload
    expect(alice.locator('tr.trash[data-name="report.bin"]')).to_have_count(0)
    assert download(alice, 'tr.entry[data-name="report.bin"] td.name a') == data


def test_a_version_overwritten_by_the_aws_cli_is_restored(
    alice: Page, versioned: LiveConsole, tmp_path: Path
) -> None:
    folder = home(versioned) + "trash-b/"
    first, second = tmp_path / "first.csv", tmp_path / "second.csv"
    first.write_bytes(b"id,value\n" + os.urandom(20_000).hex().encode())
    second.write_bytes(b"id,value\n1,overwritten\n")
    aws(versioned, tmp_path, "s3", "cp", str(first), uri(versioned, folder + "table.csv"))
    aws(versioned, tmp_path, "s3", "cp", str(second), uri(versioned, folder + "table.csv"))
    alice.goto(versioned.url + "/browse/" + folder)
    row_action(alice, "table.csv", "versions")
    dialog = alice.locator("#versions-dialog")
    expect(dialog).to_be_visible()
    rows = dialog.locator("tr.version")
    expect(rows).to_have_count(2)
    expect(rows.nth(0)).to_contain_text("current")
    shot(alice, "versions-panel")
    assert download(alice, '#versions-dialog tr.version >> nth=1 >> a:text("Download")') == (
        first.read_bytes()
    )
    rows.nth(1).get_by_role("button", name="Restore").click()
    expect(dialog.locator("#versions-status")).to_contain_text("Restored")
    expect(rows).to_have_count(3)
    expect(rows.nth(0).get_by_role("button", name="Restore")).to_have_count(0)
    with alice.expect_navigation():  # closing after a restore reloads the folder
        alice.keyboard.press("Escape")
    expect(alice.locator("#versions-dialog")).to_be_hidden()
    assert download(alice, 'tr.entry[data-name="table.csv"] td.name a') == first.read_bytes()
    back = tmp_path / "back.csv"
    aws(versioned, tmp_path, "s3", "cp", uri(versioned, folder + "table.csv"), str(back))
    assert back.read_bytes() == first.read_bytes()


def test_a_folder_of_200_files_removed_is_restored_as_of_a_time(
    alice: Page, versioned: LiveConsole, tmp_path: Path
) -> None:
    folder = home(versioned) + "trash-c/"
    source = tmp_path / "batch"
    (source / "inner").mkdir(parents=True)
    for i in range(200):
        where = source / ("inner" if i % 4 == 0 else "") / f"part-{i:03}.bin"
        where.write_bytes(os.urandom(100 + 37 * i))
    aws(versioned, tmp_path, "s3", "cp", "--recursive", str(source), uri(versioned, folder))
    time.sleep(1.2)  # the dialog gives seconds: a whole second between the copy, then, the rm
    before = datetime.now(UTC).replace(microsecond=0)
    time.sleep(1.2)
    aws(versioned, tmp_path, "s3", "rm", "--recursive", uri(versioned, folder))
    parent = home(versioned)
    alice.goto(versioned.url + "/browse/" + parent)
    expect(alice.locator('tr.entry[data-name="trash-c"]')).to_have_count(0)
    show_deleted(alice)
    alice.locator('tr.trash[data-name="trash-c"]').get_by_role("button", name="Restore").click()
    dialog = alice.locator("#restore-dialog")
    expect(dialog).to_be_visible()
    local = alice.evaluate("ms => localInputValue(new Date(ms))", before.timestamp() * 1000)
    alice.get_by_label("Date and time").fill(local)
    alice.get_by_role("button", name="Check what changes").click()
    expect(dialog.locator("#restore-summary")).to_contain_text("200 files below")
    shot(alice, "restore-folder")
    confirm = dialog.get_by_role("button", name="Restore 200 files")
    expect(confirm).to_be_focused()
    alice.keyboard.press("Enter")
    expect(dialog.locator("#restore-summary")).to_have_text("Restored 200 files.", timeout=60_000)
    dialog.get_by_role("button", name="Close").click()
    alice.wait_for_selector('tr.entry[data-name="trash-c"]')
    back = tmp_path / "back"
    aws(versioned, tmp_path, "s3", "cp", "--recursive", uri(versioned, folder), str(back))
    restored = sorted(p.relative_to(back) for p in back.rglob("*") if p.is_file())
    assert restored == sorted(p.relative_to(source) for p in source.rglob("*") if p.is_file())
    for name in restored:
        assert (back / name).read_bytes() == (source / name).read_bytes(), name


def test_another_member_s_deleted_files_never_show(
    browser: Browser, versioned: LiveConsole
) -> None:
    mine = home(versioned) + "private-trash/only-alice.txt"
    alice = api(versioned, "alice")
    assert alice.put(f"{versioned.url}/api/object", params={"path": mine}, data=b"a").ok
    assert alice.post(f"{versioned.url}/api/delete", json={"paths": [mine]}).ok
    shared = "data/shared/shared-trash.txt"
    assert alice.put(f"{versioned.url}/api/object", params={"path": shared}, data=b"s").ok
    assert alice.post(f"{versioned.url}/api/delete", json={"paths": [shared]}).ok
    bob = sign_in(browser, versioned, "bob")
    bob.goto(versioned.url + "/browse/data/shared/?deleted=1")
    expect(bob.locator('tr.trash[data-name="shared-trash.txt"]')).to_be_visible()
    for folder in ("", "data/", home(versioned, "bob")):
        bob.goto(f"{versioned.url}/browse/{folder}?deleted=1")
        expect(bob.locator("#trash-rows tr.trash-note, #trash-rows tr.trash").first).to_be_visible()
        rows = bob.locator("#trash-rows tr.trash")
        names = rows.evaluate_all("rs => rs.map(r => r.dataset.path)")
        assert not [n for n in names if n.startswith(home(versioned))], names
    bob.goto(versioned.url + "/browse/" + home(versioned) + "private-trash/?deleted=1")
    expect(bob.locator(".error")).to_contain_text("another member's private folder")
    bob.context.close()


def test_no_restore_where_the_member_may_not_write(alice: Page, versioned: LiveConsole) -> None:
    alice.goto(versioned.url + "/browse/data/")
    expect(alice.locator(".crumbs .badge-read-only").first).to_be_visible()
    expect(alice.locator("#restore-folder")).to_have_count(0)
    as_of = datetime.now(UTC).isoformat()
    answer = alice.evaluate(
        """async (asOf) => {
            try { await api("POST", "/api/restore-folder", { path: "data/", as_of: asOf }); }
            catch (err) { return [err.status, err.message]; }
            return [200, ""];
        }""",
        as_of,
    )
    assert answer[0] == 403 and "read-only" in answer[1]
    bob_file = home(versioned, "bob") + "b.txt"
    refused = alice.evaluate(
        """async (path) => {
            try { await api("POST", "/api/restore", { path, version_id: "null" }); }
            catch (err) { return [err.status, err.message]; }
            return [200, ""];
        }""",
        bob_file,
    )
    assert refused[0] == 403 and "another member's private folder" in refused[1]
