"""Search by name in the local store: the conformance suite through each of its ways to answer
(the trigram index; an ordered scan, as for a text under 3 characters or one too common for
the index; a scan cut short by its budget), the name index kept right by every operation that
changes an object's latest version, and an index of schema 5 back-filled at open."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from lakestow.storage.local import LocalStore, index
from lakestow.storage.local import search as local_search
from lakestow.storage.local.index import SCHEMA_VERSION, utc
from lakestow.storage.protocol import ENABLED
from storage.conformance import chunks, new_bucket, put_keys
from storage.search import TestSearch, TestSearchModel, every_hit, model, searcher
from storage.test_local import _back_to

__all__ = ["TestSearch", "TestSearchModel"]


@pytest.fixture(params=["index", "index-each", "scan", "scan-by-3"])
async def store(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[LocalStore]:
    """The store, answering from its index (its new names waiting, as a few hundred do; or
    each name's trigrams indexed at once); by scanning only (as when the index names too
    many keys); by scanning 3 keys a call, so that pages end partial."""
    if request.param == "index-each":
        monkeypatch.setattr(index, "TRIGRAM_BATCH", 1)
    if not request.param.startswith("index"):
        monkeypatch.setattr(local_search, "CANDIDATES", 0)
    if request.param == "scan-by-3":
        monkeypatch.setattr(local_search, "SCAN_BUDGET", 3)
    async with await LocalStore.open(tmp_path / "store", min_part_size=1) as opened:
        yield opened


def index_of(store: LocalStore) -> sqlite3.Connection:
    return sqlite3.connect(store.root / "index.db")


def check_names(store: LocalStore) -> None:
    """The name index holds every object row's key, and no key that has no version left
    (a key whose versions are all noncurrent may keep its name), and FTS5 finds its trigram
    index whole and in agreement with the names."""
    with index_of(store) as conn:
        objects = set(conn.execute("SELECT bucket, key FROM objects"))
        kept = set(conn.execute("SELECT bucket, key FROM versions"))
        named = set(conn.execute("SELECT bucket, key FROM names"))
        assert objects <= named <= objects | kept
        fresh = conn.execute("SELECT count(*) FROM names_fresh").fetchone()[0]
        assert fresh < index.TRIGRAM_BATCH
        # the trigram index holds every name but the fresh ones: with them, it is whole
        conn.execute("BEGIN")
        conn.execute(
            "INSERT INTO names_fts (rowid, key) "
            "SELECT n.id, n.key FROM names_fresh AS f JOIN names AS n ON n.id = f.id"
        )
        conn.execute("INSERT INTO names_fts (names_fts) VALUES ('integrity-check')")
        conn.execute("ROLLBACK")


@pytest.mark.anyio
async def test_a_scan_cut_short_says_so_and_goes_on(store: LocalStore) -> None:
    bucket = await new_bucket(store)
    keys = [f"f/{n:02}{'-hit' if n in (1, 7) else ''}" for n in range(10)]
    await put_keys(store, bucket, keys)
    page = await searcher(store).search(bucket, "f/", "hit")
    if local_search.SCAN_BUDGET == 3:
        assert page.partial and page.scanned == 3 and page.next_start_after == "f/02"
        assert [h.key for h in page.hits] == ["f/01-hit"]
    else:
        assert not page.partial and page.next_start_after is None
        assert [h.key for h in page.hits] == ["f/01-hit", "f/07-hit"]
        assert page.scanned == (10 if local_search.CANDIDATES == 0 else 0)
    assert await every_hit(store, bucket, "f/", "hit") == ["f/01-hit", "f/07-hit"]


@pytest.mark.anyio
async def test_every_change_of_the_latest_version_changes_the_index(tmp_path: Path) -> None:
    async with await LocalStore.open(tmp_path, min_part_size=1) as store:
        bucket = await new_bucket(store)
        await store.put_versioning(bucket, ENABLED)

        async def found() -> list[str]:
            check_names(store)
            return await every_hit(store, bucket, "", "needle")

        first = await store.put(bucket, "a/needle-put", chunks(b"1"))
        second = await store.put(bucket, "a/needle-put", chunks(b"2"))  # an overwrite
        assert await found() == ["a/needle-put"]
        await store.copy(bucket, "a/needle-put", bucket, "b/needle-copy")
        upload_id = await store.create_multipart(bucket, "c/needle-parts")
        part = await store.upload_part(bucket, "c/needle-parts", upload_id, 1, chunks(b"p"))
        await store.complete_multipart(bucket, "c/needle-parts", upload_id, [(1, part.etag)])
        everything = ["a/needle-put", "b/needle-copy", "c/needle-parts"]
        assert await found() == everything
        marker = await store.delete(bucket, "a/needle-put")  # a delete marker hides it
        assert await found() == everything[1:]
        restored = await store.copy(  # a version restored, as the console restores one
            bucket, "a/needle-put", bucket, "a/needle-put", src_version_id=first.version_id
        )
        assert await found() == everything
        await store.delete(bucket, "a/needle-put", version_id=restored.version_id)
        assert await found() == everything[1:]  # the marker is the latest again
        await store.delete(bucket, "a/needle-put", version_id=marker.version_id)
        assert await found() == everything  # the version below it is the latest
        assert names_of(store) == set(everything)
        for version in (second, first):
            await store.delete(bucket, "a/needle-put", version_id=version.version_id)
        assert await found() == everything[1:]
        assert names_of(store) == set(everything[1:])  # its last version went, and its name
        await store.put_versioning(bucket, "Suspended")
        await store.delete(bucket, "b/needle-copy")  # a null delete marker
        assert await found() == everything[2:]
        await store.delete_many(bucket, ["c/needle-parts"])
        assert await found() == []
        assert names_of(store) == set(everything[1:])  # kept with the versions in the trash
        for _ in range(2):  # the versions below the markers, then the markers left alone
            await store.purge_versions(bucket, prefix="", noncurrent_before=utc(time.time() + 1))
        assert names_of(store) == set()
        check_names(store)


def waiting_and_indexed(store: LocalStore) -> tuple[int, int]:
    """How many names wait for the trigram index, and how many it finds ("not" is in all)."""
    with index_of(store) as conn:
        waiting = conn.execute("SELECT count(*) FROM names_fresh").fetchone()[0]
        indexed = conn.execute("SELECT count(*) FROM names_fts('\"not\"')").fetchone()[0]
    return waiting, indexed


def names_of(store: LocalStore) -> set[str]:
    with index_of(store) as conn:
        return {key for (key,) in conn.execute("SELECT key FROM names")}


@pytest.mark.anyio
async def test_a_deleted_object_keeps_its_name_until_its_last_version_goes(
    tmp_path: Path,
) -> None:
    """In a versioned bucket a delete or an overwrite leaves the trigram index alone (the
    name stays with the versions kept); a search finds current objects only."""
    async with await LocalStore.open(tmp_path, min_part_size=1) as store:
        bucket = await new_bucket(store)
        await store.put_versioning(bucket, ENABLED)
        await put_keys(store, bucket, ["x/report-1", "x/report-2"])
        with index_of(store) as conn:
            ids = dict(conn.execute("SELECT key, id FROM names"))
        await put_keys(store, bucket, ["x/report-1"])  # an overwrite
        await store.delete(bucket, "x/report-2")
        assert await every_hit(store, bucket, "x/", "report") == ["x/report-1"]
        with index_of(store) as conn:
            assert dict(conn.execute("SELECT key, id FROM names")) == ids  # not made again
        await put_keys(store, bucket, ["x/report-2"])  # back: the name it had
        assert await every_hit(store, bucket, "x/", "report") == ["x/report-1", "x/report-2"]
        with index_of(store) as conn:
            assert dict(conn.execute("SELECT key, id FROM names")) == ids
        # a folder is found by its current keys only, whatever names its deleted keys keep
        await put_keys(store, bucket, ["x/gone-dir/alpha", "x/kept-dir/alpha", "x/kept-dir/bravo"])
        await store.delete_many(bucket, ["x/gone-dir/alpha", "x/kept-dir/alpha"])
        assert await every_hit(store, bucket, "x/", "gone") == []
        assert await every_hit(store, bucket, "x/", "kept") == ["x/kept-dir/"]
        assert await every_hit(store, bucket, "x/kept-dir/", "dir") == []  # in the prefix
        assert await every_hit(store, bucket, "x/kept-dir/", "alpha") == []
        assert await every_hit(store, bucket, "x/kept-dir/", "bravo") == ["x/kept-dir/bravo"]
        check_names(store)


@pytest.mark.anyio
async def test_an_index_of_schema_5_gains_its_name_index(tmp_path: Path) -> None:
    """An index made before search (schema 5) gets the name index at the next open, filled
    with the objects it holds, and kept from then on."""
    keys = [f"old/dir-{n}/file-{n}.csv" for n in range(30)] + ["old/Dir-7.txt"]
    async with await LocalStore.open(tmp_path, min_part_size=1) as store:
        bucket = await new_bucket(store)
        await put_keys(store, bucket, keys)
    with sqlite3.connect(tmp_path / "index.db") as conn:  # back to schema 5, as it was
        _back_to(conn, 5)
        assert "names" not in {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
    async with await LocalStore.open(tmp_path, min_part_size=1) as store:
        assert await every_hit(store, bucket, "old/", "dir-7") == model(keys, "old/", "dir-7")
        assert await every_hit(store, bucket, "old/", "dir-7") == ["old/Dir-7.txt", "old/dir-7/"]
        await store.put(bucket, "old/dir-77", chunks(b"new"))
        assert "old/dir-77" in await every_hit(store, bucket, "old/", "dir-77")
        check_names(store)
    with sqlite3.connect(tmp_path / "index.db") as conn:
        schema = conn.execute("SELECT value FROM meta WHERE name = 'schema'").fetchone()
        assert schema == (SCHEMA_VERSION,) == ("7",)


@pytest.mark.anyio
async def test_new_names_wait_and_are_indexed_together(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A new name waits in `names_fresh` until TRIGRAM_BATCH do, then all go into the trigram
    index at once; a search finds names waiting and indexed alike, and a name that goes
    leaves the index whole whether it was waiting or not."""
    monkeypatch.setattr(index, "TRIGRAM_BATCH", 4)
    async with await LocalStore.open(tmp_path, min_part_size=1) as store:
        bucket = await new_bucket(store)
        keys = [f"n/note-{k}" for k in range(10)]
        await put_keys(store, bucket, keys[:3])
        assert waiting_and_indexed(store) == (3, 0)
        await put_keys(store, bucket, keys[3:])  # 4 indexed at the 4th, 4 more at the 8th
        assert waiting_and_indexed(store) == (2, 8)
        assert await every_hit(store, bucket, "n/", "note") == keys
        check_names(store)
        await store.delete_many(bucket, ["n/note-1", "n/note-9"])  # one indexed, one waiting
        assert await every_hit(store, bucket, "n/", "note") == keys[:1] + keys[2:9]
        check_names(store)
        await put_keys(store, bucket, ["n/note-9", "n/note-1"])
        assert await every_hit(store, bucket, "n/", "note") == keys
        check_names(store)


@pytest.mark.anyio
async def test_an_index_of_schema_6_keeps_names_with_versions_from_then_on(tmp_path: Path) -> None:
    """Under schema 6 a deleted object's name went with it; at the next open (7) the
    triggers keep a deleted object's name with its versions, and searches stay right."""
    async with await LocalStore.open(tmp_path, min_part_size=1) as store:
        bucket = await new_bucket(store)
        await store.put_versioning(bucket, ENABLED)
        await put_keys(store, bucket, ["d/note-1", "d/note-2", "d/note-3"])
    with sqlite3.connect(tmp_path / "index.db") as conn:
        _back_to(conn, 6)
    async with await LocalStore.open(tmp_path, min_part_size=1) as store:
        assert names_of(store) == {"d/note-1", "d/note-2", "d/note-3"}
        await store.delete(bucket, "d/note-1")
        assert names_of(store) == {"d/note-1", "d/note-2", "d/note-3"}
        assert await every_hit(store, bucket, "d/", "note") == ["d/note-2", "d/note-3"]
        check_names(store)
    with sqlite3.connect(tmp_path / "index.db") as conn:
        schema = conn.execute("SELECT value FROM meta WHERE name = 'schema'").fetchone()
        assert schema == ("7",)


@pytest.mark.anyio
async def test_how_a_search_is_answered_does_not_depend_on_keys_outside_its_prefix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Keys outside the prefix (another member's) that hold the text, however many, change
    nothing of a page: not its hits, not whether it is partial, not how far it searched."""
    monkeypatch.setattr(local_search, "CANDIDATES", 5)
    monkeypatch.setattr(local_search, "SCAN_BUDGET", 4)
    mine = [f"alice/{n:02}{'-report' if n % 4 == 0 else ''}" for n in range(12)]
    pages = []
    for others in (0, 50):
        async with await LocalStore.open(tmp_path / f"with-{others}", min_part_size=1) as store:
            bucket = await new_bucket(store)
            theirs = [f"bob/{n:03}-report" for n in range(others)]
            await put_keys(store, bucket, mine + theirs)
            page = await searcher(store).search(bucket, "alice/", "report")
            pages.append((page.partial, page.next_start_after, [h.key for h in page.hits]))
    assert pages[0] == pages[1] == (False, None, [k for k in mine if k.endswith("report")])
