"""The local store's sorted listing (`SortedListing`): a folder's direct children, folders
first by key, then files by size or modified time over the whole folder, paged; checked
against a brute-force model, and at 100,000 files for time."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lakestow.errors import InvalidInput
from lakestow.storage.local import LocalStore
from lakestow.storage.protocol import SORT_BY, SortedListing, SortPosition
from storage.conformance import ALPHABET, chunks, new_bucket

pytestmark = pytest.mark.anyio

Entry = tuple[str, int]  # a key and its size


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[LocalStore]:
    store = await LocalStore.open(tmp_path / "store")
    yield store
    await store.aclose()


async def put_sized(store: LocalStore, bucket: str, entries: list[Entry]) -> None:
    for key, size in entries:
        await store.put(bucket, key, chunks(b"x" * size))


def model(entries: list[Entry], prefix: str, by: str, descending: bool) -> list[str]:
    """Brute force: the common prefixes by key, then the direct objects by (value, key),
    the value reversed when descending, the key never. Modified times follow the order the
    entries were written in."""
    folders: set[str] = set()
    files: list[tuple[int, str]] = []
    for at, (key, size) in enumerate(entries):
        if not key.startswith(prefix):
            continue
        slash = key.find("/", len(prefix))
        if slash >= 0:
            folders.add(key[: slash + 1])
        else:
            value = size if by == "size" else at
            files.append((-value if descending else value, key))
    return sorted(folders) + [key for _, key in sorted(files)]


async def walk(
    store: LocalStore, bucket: str, prefix: str, by: str, descending: bool, max_keys: int
) -> list[str]:
    """Every entry of the sorted listing, page by page; each page full but the last."""
    found: list[str] = []
    after: SortPosition | None = None
    while True:
        page = await store.list_sorted(
            bucket, prefix=prefix, by=by, descending=descending, after=after, max_keys=max_keys
        )
        assert page is not None
        names = page.common_prefixes + [o.key for o in page.objects]
        found += names
        if page.next is None:
            return found
        assert len(names) == max_keys, (names, page.next)
        after = page.next


@st.composite
def cases(draw: st.DrawFn) -> tuple[list[Entry], str, int]:
    keys = draw(st.lists(st.text(ALPHABET, min_size=1, max_size=5), max_size=20, unique=True))
    sizes = draw(st.lists(st.integers(0, 3), min_size=len(keys), max_size=len(keys)))
    prefix = draw(st.sampled_from(["", *[k[: k.find("/") + 1] for k in keys if "/" in k]]))
    return list(zip(keys, sizes, strict=True)), prefix, draw(st.integers(1, 4))


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(case=cases())
async def test_sorted_listing_matches_the_model(
    store: LocalStore, case: tuple[list[Entry], str, int]
) -> None:
    entries, prefix, max_keys = case
    bucket = await new_bucket(store)
    for entry in entries:  # one at a time: each modified later than the one before
        await put_sized(store, bucket, [entry])
        await anyio.sleep(0.001)
    for by in SORT_BY:
        for descending in (False, True):
            got = await walk(store, bucket, prefix, by, descending, max_keys)
            assert got == model(entries, prefix, by, descending), (by, descending)


async def test_the_largest_file_comes_first_and_ties_go_by_key(store: LocalStore) -> None:
    bucket = await new_bucket(store)
    small = [(f"d/f{i:03d}", 1024 + i % 3) for i in range(120)]
    await put_sized(store, bucket, [*small, ("d/m-big", 5 * 1024 * 1024), ("d/sub/x", 1)])
    page = await store.list_sorted(bucket, prefix="d/", by="size", descending=True, max_keys=10)
    assert page is not None and page.common_prefixes == ["d/sub/"]
    assert [o.key for o in page.objects][:4] == ["d/m-big", "d/f002", "d/f005", "d/f008"]
    whole = await walk(store, bucket, "d/", "size", True, 7)
    assert whole == model([*small, ("d/m-big", 5 << 20), ("d/sub/x", 1)], "d/", "size", True)


async def test_a_page_of_folders_exactly_then_the_files(store: LocalStore) -> None:
    bucket = await new_bucket(store)
    await put_sized(store, bucket, [("p/a/1", 1), ("p/b/1", 1), ("p/c", 3), ("p/d", 2)])
    first = await store.list_sorted(bucket, prefix="p/", by="size", max_keys=2)
    assert first is not None and first.common_prefixes == ["p/a/", "p/b/"] and not first.objects
    assert first.next == SortPosition("p/b/")
    second = await store.list_sorted(bucket, prefix="p/", by="size", after=first.next)
    assert second is not None and second.common_prefixes == []
    assert [o.key for o in second.objects] == ["p/d", "p/c"] and second.next is None


async def test_an_unknown_order_is_refused_and_the_capability_is_there(
    store: LocalStore,
) -> None:
    bucket = await new_bucket(store)
    assert isinstance(store, SortedListing)
    with pytest.raises(InvalidInput):
        await store.list_sorted(bucket, prefix="", by="name")


@pytest.mark.slow
async def test_a_folder_of_100000_files_sorts_by_size_in_well_under_a_second(
    store: LocalStore,
) -> None:
    bucket = await new_bucket(store)
    await put_sized(store, bucket, [("big/only-real", 10)])
    rows = (
        (bucket, f"big/f{i:06d}", (i * 7919) % 100_000, "e", 0.0, "b", "{}", None, "[]")
        for i in range(100_000)
    )
    with sqlite3.connect(store.root / "index.db") as conn:  # straight into the index: quick
        conn.executemany(
            "INSERT INTO objects (bucket, key, size, etag, mtime, content_type, metadata, "
            "parts_count, extents) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
    started = time.perf_counter()
    page = await store.list_sorted(bucket, prefix="big/", by="size", descending=True)
    took = time.perf_counter() - started
    assert page is not None and len(page.objects) == 1000
    assert [o.size for o in page.objects[:2]] == [99_999, 99_998]
    print(f"100,000 files sorted by size: first page in {took * 1000:.0f} ms")
    assert took < 0.5, took
