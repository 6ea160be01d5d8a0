"""Search by name in the local store (no HTTP): a search with 1 match and one with 5,000, at
100,000 and 1,000,000 objects, beside the first page of a listing of the same folder.

    .venv/bin/python bench/search_bench.py [--sizes 100000,1000000] [--dir /path]

The objects are written through the store (`LocalStore.put`, 64 in flight, 16 bytes each, so
kept in the index): `big/dir-NNNNN/file-NNNNNNN.csv`, 50 to a folder, one in every
`objects / 5,000` named `...-match.csv`. Each row is the median of 9 runs after one warm-up,
on the event loop as the console calls the store. Run by hand; prints one table per size.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import anyio

from lakestow.storage.local import LocalStore

MATCHES = 5000
BUCKET = "bench"


async def _once(data: bytes) -> AsyncIterator[bytes]:
    yield data


def key_of(i: int, every: int) -> str:
    return f"big/dir-{i // 50:05d}/file-{i:07d}{'-match' if i % every == 0 else ''}.csv"


async def build(store: LocalStore, count: int) -> float:
    """Write `count` objects; their rate, per second."""
    every = count // MATCHES
    numbers = iter(range(count))

    async def worker() -> None:
        for i in numbers:
            await store.put(BUCKET, key_of(i, every), _once(b"0123456789abcdef"))

    started = time.perf_counter()
    async with anyio.create_task_group() as tg:
        for _ in range(64):
            tg.start_soon(worker)
    return count / (time.perf_counter() - started)


async def median_ms(call: Callable[[], Awaitable[object]]) -> float:
    await call()
    times = []
    for _ in range(9):
        started = time.perf_counter()
        await call()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


async def every_page(store: LocalStore, text: str, limit: int) -> int:
    found, after = 0, None
    while True:
        page = await store.search(BUCKET, "big/", text, start_after=after, limit=limit)
        found += len(page.hits)
        if page.next_start_after is None:
            return found
        after = page.next_start_after


async def rows(store: LocalStore, count: int) -> list[tuple[str, float]]:
    one = key_of(count // 2 + 1, count // MATCHES).rpartition("/")[2].removesuffix(".csv")
    first = await store.search(BUCKET, "big/", one)
    assert [h.key.rpartition("/")[2] for h in first.hits] == [one + ".csv"], first
    assert await every_page(store, "match", 1000) == MATCHES
    return [
        (
            "list: first page of big/ (100, delimiter /)",
            await median_ms(lambda: store.list(BUCKET, prefix="big/", delimiter="/", max_keys=100)),
        ),
        (
            f"search {one!r}: 1 match",
            await median_ms(lambda: store.search(BUCKET, "big/", one, limit=100)),
        ),
        (
            "search 'match': first 100 of 5,000 matches",
            await median_ms(lambda: store.search(BUCKET, "big/", "match", limit=100)),
        ),
        (
            "search 'match': all 5,000, pages of 1,000",
            await median_ms(lambda: every_page(store, "match", 1000)),
        ),
        (
            "search 'dir-01234': 1 folder of 50 objects",
            await median_ms(lambda: store.search(BUCKET, "big/", "dir-01234", limit=100)),
        ),
    ]


async def main(args: argparse.Namespace) -> None:
    for count in (int(size) for size in args.sizes.split(",")):
        with tempfile.TemporaryDirectory(dir=args.dir) as root:
            async with await LocalStore.open(root) as store:
                await store.create_bucket(BUCKET)
                rate = await build(store, count)
                measured = await rows(store, count)
            size = (Path(root) / "index.db").stat().st_size
            print(f"\n{count:,} objects (written at {rate:,.0f}/s; index.db {size >> 20} MiB)")
            print(f"load average {os.getloadavg()[0]:.2f}")
            for label, ms in measured:
                print(f"| {label} | {ms:.2f} ms |")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--dir", default=None, help="where to create the stores (default: tmp)")
    anyio.run(main, parser.parse_args())
