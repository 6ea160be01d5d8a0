"""Micro-benchmark of the local object store alone (no HTTP): small PUT/GET ops/s, large MiB/s.

    .venv/bin/python bench/store_micro.py [--dir /path] [--count 5000] [--inflight 16] [--mib 512]

Run by hand; prints one line per measurement.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import AsyncIterator

import anyio

from lakestow.storage.local import LocalStore

CHUNK = 1 << 20


async def _once(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def _stream(total: int) -> AsyncIterator[bytes]:
    block = os.urandom(CHUNK)
    for _ in range(total // CHUNK):
        yield block


async def _small(store: LocalStore, count: int, inflight: int, size: int) -> None:
    data = os.urandom(size)
    keys = iter(range(count))

    async def worker() -> None:
        for i in keys:
            await store.put("bench", f"small/{i:08d}", _once(data))

    start = time.perf_counter()
    async with anyio.create_task_group() as tg:
        for _ in range(inflight):
            tg.start_soon(worker)
    elapsed = time.perf_counter() - start
    stats = store.writer_stats
    print(
        f"PUT {size} B x {count}, {inflight} in flight: {count / elapsed:,.0f} ops/s "
        f"({stats.operations / max(stats.commits, 1):.1f} ops per commit)"
    )
    keys = iter(range(count))

    async def reader() -> None:
        for i in keys:
            result = await store.get("bench", f"small/{i:08d}")
            async for _ in result.body:
                pass

    start = time.perf_counter()
    async with anyio.create_task_group() as tg:
        for _ in range(inflight):
            tg.start_soon(reader)
    elapsed = time.perf_counter() - start
    print(f"GET {size} B x {count}, {inflight} in flight: {count / elapsed:,.0f} ops/s")


async def _large(store: LocalStore, mib: int) -> None:
    total = mib * CHUNK
    start = time.perf_counter()
    await store.put("bench", "large", _stream(total))
    elapsed = time.perf_counter() - start
    print(f"PUT {mib} MiB: {mib / elapsed:,.0f} MiB/s")
    start = time.perf_counter()
    result = await store.get("bench", "large")
    async for _ in result.body:
        pass
    elapsed = time.perf_counter() - start
    print(f"GET {mib} MiB: {mib / elapsed:,.0f} MiB/s")


async def main(args: argparse.Namespace) -> None:
    for label, inline_max in (("small objects in the index", 64 * 1024), ("all in files", 0)):
        print(f"-- {label} (inline_max={inline_max})")
        with tempfile.TemporaryDirectory(dir=args.dir) as root:
            store = await LocalStore.open(root, inline_max=inline_max)
            await store.create_bucket("bench")
            await _small(store, args.count, args.inflight, args.size)
            if inline_max:
                await _large(store, args.mib)
            await store.aclose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dir", default=None, help="where to create the store (default: tmp)")
    parser.add_argument("--count", type=int, default=5000)
    parser.add_argument("--inflight", type=int, default=16)
    parser.add_argument("--size", type=int, default=4096)
    parser.add_argument("--mib", type=int, default=512)
    anyio.run(main, parser.parse_args())
