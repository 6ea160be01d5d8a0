"""Uploads in a real browser: a folder of 200 files, 300 MiB in parts with progress, a resume
after a reload that sends no stored part again, a retried part, cancel, and dropped files."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from playwright.sync_api import Page, Request, Route, expect

from console.browsing import (
    MiB,
    api,
    big_file,
    home,
    listed,
    part_number,
    sha256,
    shot,
)
from console.console_support import LiveConsole

pytestmark = pytest.mark.slow  # Chromium is installed by scripts/test: never skipped


@pytest.fixture
def alice(alice_page: Page) -> Page:
    """alice signed in, in her own browser context (not the in-process `alice`)."""
    return alice_page


def test_upload_a_folder_of_200_files(alice: Page, live: LiveConsole, tmp_path: Path) -> None:
    folder = tmp_path / "batch"
    (folder / "inner").mkdir(parents=True)
    for i in range(200):
        (folder / ("inner" if i % 2 else "") / f"f{i:03}.txt").write_text(f"file {i}")
    alice.goto(live.url + "/browse/" + home(live))
    alice.set_input_files("#pick-folder", str(folder))
    alice.wait_for_selector('tr.entry[data-name="batch"]', timeout=60_000)
    assert len(listed(live, home(live) + "batch/")) == 101
    assert len(listed(live, home(live) + "batch/inner/")) == 100


def test_upload_300_mib_with_progress(alice: Page, live: LiveConsole, tmp_path: Path) -> None:
    source = big_file(tmp_path / "big.bin", 300 * MiB)
    alice.goto(live.url + "/browse/" + home(live))
    alice.set_input_files("#pick-files", str(source))
    alice.wait_for_function(
        "() => { const p = document.getElementById('overall');"
        " return p && p.value > 0 && p.value < p.max; }"
    )
    shot(alice, "upload-progress")
    alice.wait_for_selector('tr.entry[data-name="big.bin"]', timeout=180_000)
    digest = hashlib.sha256()
    url = f"{live.url}/api/download"
    with api(live).get(url, params={"path": home(live) + "big.bin"}, stream=True) as got:
        for chunk in got.iter_content(MiB):
            digest.update(chunk)
    assert digest.hexdigest() == sha256(source)


def test_resume_after_reload(alice: Page, live: LiveConsole, tmp_path: Path) -> None:
    source = big_file(tmp_path / "resume.bin", 120 * MiB)  # 15 parts of 8 MiB
    stored: set[int] = set()
    sent: list[int] = []

    def on_request(request: Request) -> None:
        if (number := part_number(request)) is not None:
            sent.append(number)

    def on_finished(request: Request) -> None:
        response = request.response()
        number = part_number(request)
        if number is not None and response is not None and response.ok:
            stored.add(number)

    def hold_back(route: Route) -> None:
        """Once 4 parts are stored, the first page's other parts fail: with a fast server
        (a worker per core), the whole file could otherwise be stored before the reload."""
        if len(stored) >= 4:
            route.abort()
        else:
            route.continue_()

    alice.on("request", on_request)
    alice.on("requestfinished", on_finished)
    alice.route("**/api/uploads/*/parts/*", hold_back)
    alice.goto(live.url + "/browse/" + home(live))
    alice.set_input_files("#pick-files", str(source))
    while len(stored) < 4:
        alice.wait_for_timeout(50)
    alice.reload()
    alice.unroute("**/api/uploads/*/parts/*", hold_back)
    stored_before = set(stored)
    sent.clear()
    alice.set_input_files("#pick-files", str(source))
    expect(alice.locator("#upload-list .file-status").first).to_contain_text("resuming")
    alice.wait_for_selector('tr.entry[data-name="resume.bin"]', timeout=120_000)
    assert sent and not set(sent) & stored_before, (sorted(sent), sorted(stored_before))
    assert len(sent) < 15
    got = api(live).get(f"{live.url}/api/download", params={"path": home(live) + "resume.bin"})
    assert hashlib.sha256(got.content).hexdigest() == sha256(source)


def test_a_failed_part_is_retried(alice: Page, live: LiveConsole, tmp_path: Path) -> None:
    source = big_file(tmp_path / "flaky.bin", 20 * MiB)  # 3 parts
    tries: list[str] = []

    def flaky(route: Route) -> None:
        tries.append(route.request.url)
        if len(tries) == 1:
            route.fulfill(status=503, json={"error": "SlowDown", "message": "try again"})
        else:
            route.continue_()

    alice.route("**/api/uploads/*/parts/2?*", flaky)
    alice.goto(live.url + "/browse/" + home(live))
    alice.set_input_files("#pick-files", str(source))
    alice.wait_for_selector('tr.entry[data-name="flaky.bin"]', timeout=60_000)
    assert len(tries) == 2
    got = api(live).get(f"{live.url}/api/download", params={"path": home(live) + "flaky.bin"})
    assert got.content == source.read_bytes()


def test_cancel_aborts_the_upload(alice: Page, live: LiveConsole, tmp_path: Path) -> None:
    source = big_file(tmp_path / "cancelled.bin", 200 * MiB)
    alice.route("**/api/uploads/*/parts/*", lambda route: None)  # parts hang until cancelled
    alice.goto(live.url + "/browse/" + home(live))
    alice.set_input_files("#pick-files", str(source))
    item = alice.locator('#upload-list li[data-path$="cancelled.bin"]')
    expect(item.locator(".file-status")).to_have_text("uploading")
    alice.wait_for_function("() => Object.keys(localStorage).length > 0")
    saved = alice.evaluate("JSON.parse(localStorage.getItem(Object.keys(localStorage)[0]))")
    item.locator("button").click()
    expect(item).to_have_attribute("data-state", "cancelled")
    expect(item.locator("button")).to_have_count(0)  # no Cancel left on a finished upload
    # the list stays (no reload as after a clean finish) and says what happened
    expect(alice.locator("#overall-text")).to_have_text("1 cancelled")
    alice.wait_for_function("() => Object.keys(localStorage).length === 0")
    stored = api(live).get(
        f"{live.url}/api/uploads/{saved['upload_id']}",
        params={"path": home(live) + "cancelled.bin"},
    )
    assert stored.status_code == 404


def test_dropped_files_are_uploaded(alice: Page, live: LiveConsole) -> None:
    alice.goto(live.url + "/browse/" + home(live))
    alice.evaluate(
        """() => {
        const data = new DataTransfer();
        data.items.add(new File(["one"], "dropped-1.txt"));
        data.items.add(new File(["two"], "dropped-2.txt"));
        const drop = document.getElementById("drop");
        drop.dispatchEvent(new DragEvent("drop", { dataTransfer: data, bubbles: true }));
    }"""
    )
    alice.wait_for_selector('tr.entry[data-name="dropped-2.txt"]')
    assert {"dropped-1.txt", "dropped-2.txt"} <= set(listed(live, home(live)))
