"""The local store served by several processes at once (`serve --workers N`), in one process:
two `LocalStore`s opened `shared` over one `Held` directory, each with its own writer, reader
connections and pins, as two workers have. Every conformance test runs with its calls spread
over both, so a write through one is read, listed, copied and overwritten through the other;
then what only sharing has: a read of a blob the other instance unlinks, buckets and
versioning made through the other, and writers contending for the index."""

from __future__ import annotations

import fcntl
import itertools
import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import anyio
import pytest

from lakestow.storage.local import LocalStore
from lakestow.storage.local.core import Held
from lakestow.storage.protocol import ENABLED, NULL_VERSION
from storage.conformance import (
    TestBuckets,
    TestChecksums,
    TestConditional,
    TestCopy,
    TestListing,
    TestListingModel,
    TestMultipart,
    TestObjects,
    TestRanges,
    TestSnapshot,
    TestTagging,
    blob,
    chunks,
    fetch,
    new_bucket,
)
from storage.versioning import TestVersioning

PART_SIZE = 5 * 1024

__all__ = [
    "TestBuckets",
    "TestChecksums",
    "TestConditional",
    "TestCopy",
    "TestListing",
    "TestListingModel",
    "TestMultipart",
    "TestObjects",
    "TestRanges",
    "TestSnapshot",
    "TestTagging",
    "TestVersioning",
]


class Alternating:
    """Two stores over one directory, as two workers behind one socket: each call goes to
    the next of them."""

    def __init__(self, *stores: LocalStore) -> None:
        self.stores = stores
        self._next = itertools.cycle(stores)

    def __getattr__(self, name: str) -> Any:
        return getattr(next(self._next), name)


async def open_shared(root: Path, count: int, inline_max: int = 0) -> list[LocalStore]:
    return [
        await LocalStore.open(root, min_part_size=PART_SIZE, inline_max=inline_max, shared=True)
        for _ in range(count)
    ]


@pytest.fixture
async def workers(tmp_path: Path) -> AsyncIterator[list[LocalStore]]:
    held = Held(tmp_path / "store")
    stores = await open_shared(held.root, 2)
    yield stores
    for store in stores:
        await store.aclose()
    held.release(clean=True)


@pytest.fixture
def store(workers: list[LocalStore]) -> Alternating:
    return Alternating(*workers)


@pytest.fixture
def part_size() -> int:
    return PART_SIZE


@pytest.mark.anyio
async def test_a_read_outlives_an_unlink_by_the_other_worker(workers: list[LocalStore]) -> None:
    """A GET streaming a large object keeps its bytes when the other worker overwrites the
    key and unlinks the blob (the first worker's pins are unknown to the second)."""
    one, two = workers
    bucket = await new_bucket(one)
    first, second = blob(3 * 1024 * 1024, seed=1), blob(3 * 1024 * 1024, seed=2)
    await one.put(bucket, "k", chunks(first))
    got = await one.get(bucket, "k")
    await two.put(bucket, "k", chunks(second))  # the old blob is released, and unlinked, by `two`
    await two.delete(bucket, "k")
    for _ in range(500):  # unlinked by `two`'s reaper thread, after its commit
        if not any((two.root / "blobs").glob("*/*/*")):
            break
        await anyio.sleep(0.01)
    assert not any((two.root / "blobs").glob("*/*/*"))
    assert b"".join([piece async for piece in got.body]) == first


@pytest.mark.anyio
async def test_a_get_that_loses_the_race_with_an_overwrite_reads_the_new_object(
    workers: list[LocalStore],
) -> None:
    one, two = workers
    bucket = await new_bucket(one)
    for n in range(20):
        await two.put(bucket, "k", chunks(blob(200_000, seed=n)))
        assert await fetch(one, bucket, "k") == blob(200_000, seed=n)


@pytest.mark.anyio
async def test_buckets_and_versioning_made_through_one_are_seen_by_the_other(
    workers: list[LocalStore],
) -> None:
    one, two = workers
    await one.create_bucket("made-by-one")
    await two.put("made-by-one", "k", chunks(b"x"))  # two had not seen the bucket until now
    assert (await two.head("made-by-one", "k")).version_id is None  # never versioned
    await one.put_versioning("made-by-one", ENABLED)
    assert (await two.head("made-by-one", "k")).version_id == NULL_VERSION  # as S3 names it
    latest = await one.put("made-by-one", "k", chunks(b"y"))
    assert (await two.head("made-by-one", "k")).version_id == latest.version_id


@pytest.mark.anyio
async def test_writers_of_both_contend_and_every_write_lands(workers: list[LocalStore]) -> None:
    """Hundreds of small writes through both at once: each waits for the other's commits
    (off the event loop) and none fails with "database is locked"."""
    bucket = await new_bucket(workers[0])
    keys = [f"k{n:04d}" for n in range(400)]

    async def put(store: LocalStore, key: str) -> None:
        await store.put(bucket, key, chunks(key.encode()))

    async with anyio.create_task_group() as tasks:
        for n, key in enumerate(keys):
            tasks.start_soon(put, workers[n % 2], key)
    for store in workers:
        listed = await store.list(bucket, max_keys=1000)
        assert [o.key for o in listed.objects] == keys
    assert await fetch(workers[1], bucket, keys[0]) == keys[0].encode()
    stats = [store.writer_stats for store in workers]
    assert [s.operations for s in stats] == [201, 200], stats  # and the bucket


@pytest.mark.anyio
async def test_writes_queued_while_the_other_commits_join_the_waiting_group(
    workers: list[LocalStore],
) -> None:
    """A group that waits for the other worker's commit (its gate) takes in what was submitted
    meanwhile: one commit for all, not one for the first write and another for the rest."""
    bucket = await new_bucket(workers[0])
    before = workers[0].writer_stats
    commits, operations = before.commits, before.operations
    writer = workers[0]._core.writer

    async def until(done: Callable[[], bool]) -> None:
        for _ in range(1000):
            if done():
                return
            await anyio.sleep(0.01)
        raise AssertionError("the writer never got there")

    gate = os.open(workers[0].root / "writer", os.O_RDWR)
    try:
        fcntl.flock(gate, fcntl.LOCK_EX)  # the other worker, committing
        async with anyio.create_task_group() as tasks:
            try:  # the gate is let go whatever happens: the writes wait for it
                await until(lambda: not writer._committing)  # the bucket's group is over
                tasks.start_soon(workers[0].put, bucket, "k00", chunks(b"x"))
                await until(lambda: writer._committing and not writer._pending)  # waiting
                for n in range(1, 21):
                    tasks.start_soon(workers[0].put, bucket, f"k{n:02d}", chunks(b"x"))
                await until(lambda: len(writer._pending) == 20)
            finally:
                fcntl.flock(gate, fcntl.LOCK_UN)
    finally:
        os.close(gate)
    stats = workers[0].writer_stats
    assert (stats.commits - commits, stats.operations - operations) == (1, 21)
    listed = await workers[1].list(bucket)
    assert [o.key for o in listed.objects] == [f"k{n:02d}" for n in range(21)]


@pytest.mark.anyio
async def test_only_the_holder_locks_and_marks_the_store_clean(tmp_path: Path) -> None:
    held = Held(tmp_path / "store")
    stores = await open_shared(held.root, 2)
    with pytest.raises(Exception, match="in use by another process"):
        await LocalStore.open(held.root)  # a second server, or `org purge`
    for store in stores:
        await store.aclose()
    held.release(clean=False)  # a worker died: the next open looks for orphans
    orphan = tmp_path / "store" / "blobs" / "ab" / "cd" / ("abcd" + "0" * 28)
    orphan.parent.mkdir(parents=True)
    orphan.write_bytes(b"left by a killed worker")
    again = Held(tmp_path / "store")
    assert again.orphans_removed == 1 and not orphan.exists()
    again.release(clean=True)
    reopened = await LocalStore.open(tmp_path / "store")
    assert reopened.orphans_removed == 0  # clean: no scan
    await reopened.aclose()
