"""Sorting a folder by size or modified time in the console: over the whole folder, paged with
a cursor bound to the order, where the store can sort (the local store); else within the page,
and the page says so (the s3 backend, which cannot)."""

from __future__ import annotations

import random
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from console.console_support import As, Console, add_members
from inprocess import in_process
from lakestow import config, datadir
from storage.upstream import Upstream, moto_server

MiB = 1024 * 1024
SMALL = 150
CONSOLE = "http://testserver"


def put(member: As, path: str, data: bytes) -> None:
    response = member.put(f"/api/object?path={path}", content=data)
    assert response.status_code == 201, response.text


def listed(member: As, path: str, **params: str) -> dict[str, Any]:
    response = member.get("/api/list", params={"path": path, **params})
    assert response.status_code == 200, response.text
    page: dict[str, Any] = response.json()
    return page


def every_page(member: As, path: str, **params: str) -> list[dict[str, Any]]:
    """The entries of every page, following the cursors; each page full but the last."""
    entries: list[dict[str, Any]] = []
    cursor = ""
    while True:
        page = listed(member, path, cursor=cursor, **params)
        assert page["sorted"] == "folder" and page["notice"] is None
        entries += page["entries"]
        cursor = page["cursor"]
        if cursor is None:
            return entries
        assert len(page["entries"]) == int(params["limit"])


def fill(member: As, folder: str) -> list[str]:
    """SMALL files of about 1 KiB and one of 5 MiB, written in a shuffled order, and two
    sub-folders; the files' names in the order they were written."""
    names = [f"f{i:03d}.csv" for i in range(SMALL)] + ["m-big.bin"]
    random.Random(20).shuffle(names)
    for name in names:
        size = 5 * MiB if name == "m-big.bin" else 1024 + int(name[1:4]) % 4
        put(member, member.home(folder + name), b"x" * size)
    put(member, member.home(folder + "sub-b/x.txt"), b"x")
    put(member, member.home(folder + "sub-a/x.txt"), b"x")
    return names


def test_size_and_modified_sort_the_whole_folder_page_by_page(alice: As) -> None:
    written = fill(alice, "mixed/")
    folder = alice.home("mixed/")
    first = listed(alice, folder, sort="size", order="desc", limit="50")
    assert [e["name"] for e in first["entries"][:3]] == ["sub-a", "sub-b", "m-big.bin"]
    assert first["sorted"] == "folder" and first["notice"] is None

    by_size = every_page(alice, folder, sort="size", order="desc", limit="40")
    files = [e for e in by_size if e["kind"] == "file"]
    assert [e["name"] for e in by_size[:2]] == ["sub-a", "sub-b"]
    assert [(e["name"], e["size"]) for e in files] == sorted(
        ((e["name"], e["size"]) for e in files), key=lambda pair: (-pair[1], pair[0])
    )
    assert sorted(e["name"] for e in files) == sorted(written)  # each file once

    ascending = every_page(alice, folder, sort="size", order="asc", limit="40")
    assert ascending[-1]["name"] == "m-big.bin"

    by_time = every_page(alice, folder, sort="modified", order="asc", limit="33")
    assert [e["name"] for e in by_time if e["kind"] == "file"] == written
    newest = every_page(alice, folder, sort="modified", order="desc", limit="33")
    assert [e["name"] for e in newest if e["kind"] == "file"] == written[::-1]


def test_the_browse_page_shows_the_largest_file_first(alice: As) -> None:
    fill(alice, "shown/")
    page = alice.get(f"/browse/{alice.home('shown/')}", params={"sort": "size", "order": "desc"})
    assert page.status_code == 200
    files = re.findall(r'data-kind="file" data-name="([^"]+)"', page.text)
    assert files[0] == "m-big.bin" and len(files) == SMALL + 1
    assert 'id="sort-partial"' not in page.text


def test_a_sorted_cursor_serves_only_its_own_order(alice: As) -> None:
    for i in range(5):
        put(alice, alice.home(f"few/f{i}.txt"), b"x" * i)
    folder = alice.home("few/")
    cursor = listed(alice, folder, sort="size", order="desc", limit="2")["cursor"]
    assert cursor
    for sort, order in (("size", "asc"), ("modified", "desc"), ("name", "asc")):
        answer = alice.get(
            "/api/list",
            params={"path": folder, "sort": sort, "order": order, "limit": "2", "cursor": cursor},
        )
        assert answer.status_code == 400, (sort, order, answer.text)
    second = listed(alice, folder, sort="size", order="desc", limit="2", cursor=cursor)
    assert [e["name"] for e in second["entries"]] == ["f2.txt", "f1.txt"]


def test_above_the_member_s_folders_only_folders_show(alice: As) -> None:
    root = listed(alice, "", sort="size", order="desc")
    assert [e["name"] for e in root["entries"]] == ["data", "notebooks", "spark-logs"]
    assert root["sorted"] == "folder" and root["cursor"] is None


@pytest.fixture(scope="module")
def moto() -> Iterator[Upstream]:
    with moto_server(5 * MiB) as upstream:
        yield upstream


@pytest.fixture
def s3_console(tmp_path: Path, moto: Upstream) -> Iterator[Console]:
    environ = {
        "LAKESTOW_STORE_URL": f"s3://{moto.bucket}/sorting-{tmp_path.name}",
        "LAKESTOW_STORE_ENDPOINT_URL": moto.endpoint_url,
        "LAKESTOW_STORE_ACCESS_KEY_ID": moto.access_key_id,
        "LAKESTOW_STORE_SECRET_ACCESS_KEY": moto.secret_access_key,
        "LAKESTOW_STORE_REGION": "us-east-1",
    }
    settings = config.load(tmp_path / "data", environ=environ)
    datadir.initialize(settings)
    with datadir.opened(settings) as opened:
        ids = add_members(opened)
        with in_process(
            opened, s3_url="http://127.0.0.1:9", console_url="http://testserver"
        ) as app:
            yield Console(app.client, opened, ids)


def test_a_store_that_cannot_sort_says_the_page_is_sorted_alone(s3_console: Console) -> None:
    alice = s3_console.as_("alice")
    for i in range(6):
        put(alice, alice.home(f"s3/f{i}.txt"), b"x" * (10 - i))
    folder = alice.home("s3/")
    page = listed(alice, folder, sort="size", order="asc", limit="3")
    assert page["sorted"] == "page" and "this page only" in page["notice"]
    assert "storage backend cannot sort a whole folder" in page["notice"]
    assert [e["name"] for e in page["entries"]] == ["f2.txt", "f1.txt", "f0.txt"]  # by name
    rest = listed(alice, folder, sort="size", order="asc", limit="3", cursor=page["cursor"])
    assert [e["name"] for e in rest["entries"]] == ["f5.txt", "f4.txt", "f3.txt"]
    html = alice.get(f"/browse/{folder}", params={"sort": "size", "limit": "3"}).text
    assert 'id="sort-partial"' in html and "this page only" in html


def test_names_in_natural_order(alice: As) -> None:
    """file2 before file10, on the server, for the page; a folder of several pages says the
    order is natural within each page only (the store pages in key order)."""
    for name in ("file10.csv", "file2.csv", "File3.csv", "file1.csv", "dir10/x", "dir9/x"):
        put(alice, alice.home("natural/" + name), b"x")
    page = listed(alice, alice.home("natural/"))
    assert [e["name"] for e in page["entries"]] == [
        "dir9",
        "dir10",
        "file1.csv",
        "file2.csv",
        "File3.csv",
        "file10.csv",
    ]
    assert page["sorted"] == "folder" and page["notice"] is None
    html = alice.get(f"/browse/{alice.home('natural/')}").text
    assert re.findall(r'data-kind="file" data-name="([^"]+)"', html)[1:] == [
        "file2.csv",
        "File3.csv",
        "file10.csv",
    ]
    for name in ("a10", "a9", "b"):
        put(alice, alice.home("paged/" + name), b"x")
    first = listed(alice, alice.home("paged/"), limit="2")
    assert [e["name"] for e in first["entries"]] == ["a9", "a10"]
    assert first["sorted"] == "page" and "natural order" in first["notice"]
    rest = listed(alice, alice.home("paged/"), limit="2", cursor=first["cursor"])
    assert [e["name"] for e in rest["entries"]] == ["b"] and rest["notice"] is None
