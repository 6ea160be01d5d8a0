"""A folder of 100,000 objects: every listing page, search and browse page stays fast, because
nothing lists the whole folder for one page."""

from __future__ import annotations

import sqlite3
import time

import pytest

from console.console_support import As, Console

KEYS = 100_000
EMPTY = (
    "d41d8cd98f00b204e9800998ecf8427e",
    0.0,
    "binary/octet-stream",
    "{}",
    None,
    "[]",
    None,
    None,
)


def fill(console: Console, folder: str) -> None:
    """Index rows written straight into the local store's catalog: quick to make."""
    index = console.opened.settings.data_dir / "objects" / "index.db"
    rows = ((f"acme/{folder}f{i:06d}.csv", 1000 + i, *EMPTY) for i in range(KEYS))
    with sqlite3.connect(index) as conn:
        conn.executemany(
            "INSERT INTO objects (bucket, key, size, etag, mtime, content_type, metadata, "
            "parts_count, extents, checksum, tags) "
            "VALUES ('lakestow', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )


def timed(member: As, url: str, **params: str) -> tuple[float, dict[str, object]]:
    started = time.perf_counter()
    response = member.get(url, params=params)
    assert response.status_code == 200, response.text
    return time.perf_counter() - started, response.json()


@pytest.mark.slow
def test_pages_of_a_huge_folder_are_fast(console: Console, alice: As) -> None:
    folder = alice.home("big/")
    fill(console, folder)
    cursor = ""
    slowest = 0.0
    for expected in (0, 1000, 2000):
        elapsed, page = timed(alice, "/api/list", path=folder, limit="1000", cursor=cursor)
        entries = page["entries"]
        assert isinstance(entries, list) and entries[0]["name"] == f"f{expected:06d}.csv"
        cursor = str(page["cursor"])
        slowest = max(slowest, elapsed)
    elapsed, page = timed(alice, "/api/list", path=folder, filter="f0999", limit="1000")
    assert len(page["entries"]) == 100  # type: ignore[arg-type]
    assert max(slowest, elapsed) < 1.0, slowest
    started = time.perf_counter()
    assert alice.get(f"/browse/{folder}").status_code == 200
    assert time.perf_counter() - started < 1.0
    elapsed, found = timed(alice, "/api/search", path=folder, q="f099999")
    assert [e["name"] for e in found["results"]] == ["f099999.csv"]  # type: ignore[attr-defined]
    print(f"search of {KEYS} names: {elapsed:.2f} s")
    assert elapsed < 10.0 and found["complete"] is True
