"""How long each heavy request holds the event loop, with both front doors in one process.

    PYTHONPATH=src .venv/bin/python bench/loop_probe.py [--keys 100000] [--only api-list-1000]
        [--where] [--switch 0.005] [--default-gc]

A data directory in a temporary folder, the embedded default (local store, SQLite catalog);
org `acme`, member `alice`. Her folder `big/` gets KEYS objects written straight into the
store's index (quick; their rows have no bytes, which listings never read), `zip/` 2,000
real 1 KiB objects, `trash/` 1,000 that are then deleted. Both ASGI apps run on this
process's one event loop, called through httpx's ASGI transport, while a task measures the
lateness of `await asyncio.sleep(0.001)` ticks. One line per operation: its time, the longest
turn the loop gave one callback (what holds the loop: DESIGN.md's "a couple of
milliseconds"), and the worst lateness of a tick, which adds the waits for the GIL (held by a
thread of the request) and for a core (on a 2-core machine, the request's own threads).
`archive-2000` is the sync agent's restore (`?lakestow-archive=tar`) of the 2,000;
`complete-10000` a CompleteMultipartUpload of 10,000 parts (S3's most), refused once read.
`--where` names the functions the loop was in while late (a thread samples its stack);
`--switch` sets the GIL switch interval (default: `lakestow serve`'s, server.SWITCH_INTERVAL;
CPython's own is 0.005). Revocations reload in a thread, as `serve` reloads them.
The garbage collector is settled as `serve` settles it (`server.settle_gc`) unless
`--default-gc`: with CPython's defaults a full collection (tens of ms) lands in whichever
request allocates the most.
Compare two versions by running this script alternately over each one's src (PYTHONPATH):
on a shared machine the numbers move with its load.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import re
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from lakestow import config, datadir
from lakestow.console.app import create_console
from lakestow.console.sessions import COOKIE
from lakestow.s3api.app import S3App
from lakestow.server import SWITCH_INTERVAL, open_runtime, refresh_revocations, settle_gc

S3 = "http://s3.probe"
BUCKET = "lakestow"
PASSWORD = "alice-password"  # noqa: S105 (a throwaway data directory)
EMPTY_ROW = ("d41d8cd98f00b204e9800998ecf8427e", "binary/octet-stream", "{}", None, "[]")


class Lateness:
    """A task that sleeps 1 ms again and again and keeps the worst lateness since `reset`."""

    def __init__(self) -> None:
        self.worst = 0.0
        self.beat = time.perf_counter()
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        while True:
            started = self.beat = time.perf_counter()
            await asyncio.sleep(0.001)
            self.worst = max(self.worst, time.perf_counter() - started - 0.001)

    def start(self) -> None:
        self._task = asyncio.ensure_future(self._run())

    def reset(self) -> None:
        self.worst = 0.0


class Turns:
    """The longest turn the loop gave one callback (a task's step, a `call_soon`) since
    `reset`: what holds the loop, DESIGN.md's "a couple of milliseconds". Lateness counts it
    too, and also the waits for the GIL (a thread holding it) and for a core (the machine's
    other threads): what another request sees, not what one callback holds."""

    def __init__(self) -> None:
        self.longest = 0.0
        self.ended = ""  # with --where: where the longest turn's task stopped (its await)
        self.where = False
        run = asyncio.events.Handle._run
        turns = self

        def timed(handle: asyncio.events.Handle) -> None:
            started = time.perf_counter()
            try:
                run(handle)
            finally:
                took = time.perf_counter() - started
                if took > turns.longest:
                    turns.longest = took
                    if turns.where:
                        turns.ended = _ended(handle)

        asyncio.events.Handle._run = timed  # type: ignore[method-assign]

    def reset(self) -> None:
        self.longest, self.ended = 0.0, ""


def _ended(handle: asyncio.events.Handle) -> str:
    """The innermost lakestow frame a task's step left suspended, or the callback's name."""
    task = getattr(handle._callback, "__self__", None)
    if not isinstance(task, asyncio.Task):
        return repr(handle._callback)[:120]
    names = []
    awaiting: Any = task.get_coro()
    while awaiting is not None:  # down the chain of awaits (get_stack gives one frame)
        frame = next(
            (
                getattr(awaiting, a)
                for a in ("cr_frame", "gi_frame", "ag_frame")
                if hasattr(awaiting, a)
            ),
            None,
        )
        if frame is not None:
            code = frame.f_code
            if "lakestow" in code.co_filename and "loop_probe" not in code.co_filename:
                names.append(f"{Path(code.co_filename).stem}.{code.co_name}:{frame.f_lineno}")
        awaiting = next(
            (
                getattr(awaiting, a)
                for a in ("cr_await", "gi_yieldfrom", "ag_await")
                if hasattr(awaiting, a)
            ),
            None,
        )
    return " > ".join(names[-3:]) or "(elsewhere)"


class Where(threading.Thread):
    """With --where: samples the loop thread's stack whenever the loop is 3 ms late, and
    counts the innermost lakestow functions it is in."""

    def __init__(self, lateness: Lateness) -> None:
        super().__init__(daemon=True)
        self.lateness = lateness
        self.loop_thread = threading.get_ident()
        self.counts: Counter[str] = Counter()

    def run(self) -> None:
        while True:
            time.sleep(0.001)
            if time.perf_counter() - self.lateness.beat < 0.003:
                continue
            frame = sys._current_frames().get(self.loop_thread)
            names = []
            if frame is not None and "lakestow" not in frame.f_code.co_filename:
                names.append(f"{Path(frame.f_code.co_filename).stem}.{frame.f_code.co_name}")
            while frame is not None and len(names) < 3:
                code = frame.f_code
                if "lakestow" in code.co_filename and "loop_probe" not in code.co_filename:
                    names.append(f"{Path(code.co_filename).stem}.{code.co_name}:{frame.f_lineno}")
                frame = frame.f_back
            self.counts[" < ".join(names) or "(elsewhere)"] += 1

    def report(self) -> None:
        for name, count in self.counts.most_common(6):
            print(f"    {count:5} x {name}")
        self.counts.clear()


@dataclass
class Doors:
    console: httpx.AsyncClient
    s3: httpx.AsyncClient
    session: dict[str, str]
    signer: Credentials
    home: str  # alice's folder, a warehouse path
    root: str  # her folder's key prefix

    async def call(self, method: str, url: str, **kw: Any) -> httpx.Response:
        response = await self.console.request(method, url, headers=self.session, **kw)
        if response.status_code >= 400:
            raise RuntimeError(f"{method} {url}: {response.status_code} {response.text[:300]}")
        return response

    async def s3_call(
        self,
        method: str,
        key: str,
        query: dict[str, str] | None = None,
        body: bytes = b"",
        extra: dict[str, str] | None = None,
    ) -> httpx.Response:
        pairs = (query or {}).items()
        text = "&".join(f"{quote(k, safe='')}={quote(v, safe='-_.~')}" for k, v in pairs)
        url = f"{S3}/{BUCKET}/{quote(key, safe='/-_.~')}" + (f"?{text}" if text else "")
        fields = {"x-amz-content-sha256": "UNSIGNED-PAYLOAD", **(extra or {})}
        request = AWSRequest(method, url, fields, body)
        SigV4Auth(self.signer, "s3", "us-east-1").add_auth(request)
        headers = {k: str(v) for k, v in request.headers.items()}
        await asyncio.sleep(0)  # the client's signing is a turn of its own, not the server's
        response = await self.s3.request(method, url, headers=headers, content=body)
        if response.status_code >= 400:
            raise RuntimeError(f"S3 {method} {key}: {response.status_code} {response.text[:300]}")
        return response


def fill(index: Path, root: str, keys: int) -> None:
    """`keys` rows under ROOT/big/, written straight into the index (no bytes)."""
    now = time.time()
    rows = (
        (f"{root}big/f{i:06d}.csv", 1000 + i % 5000, EMPTY_ROW[0], now - i, *EMPTY_ROW[1:])
        for i in range(keys)
    )
    with sqlite3.connect(index) as conn:
        conn.executemany(
            "INSERT INTO objects (bucket, key, size, etag, mtime, content_type, metadata, "
            "parts_count, extents) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            ((BUCKET, *row) for row in rows),
        )


async def _body(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def put_many(store: Any, keys: list[str], data: bytes) -> None:
    it = iter(keys)

    async def worker() -> None:
        for key in it:
            await store.put(BUCKET, key, _body(data))

    await asyncio.gather(*(worker() for _ in range(32)))


def delete_xml(keys: list[str]) -> bytes:
    inner = "".join(f"<Object><Key>{k}</Key></Object>" for k in keys)
    return f"<Delete><Quiet>true</Quiet>{inner}</Delete>".encode()


def operations(d: Doors, state: dict[str, Any]) -> dict[str, Callable[[], Awaitable[Any]]]:
    home, root = d.home, d.root
    big, zipped, trash = home + "big/", home + "zip/", home + "trash/"

    async def delete_objects() -> None:
        body = delete_xml([f"{root}trash/t{i:05d}" for i in range(1000)])
        digest = base64.b64encode(hashlib.md5(body).digest()).decode()  # noqa: S324
        await asyncio.sleep(0)  # the body's making is the client's turn
        await d.s3_call("POST", "", {"delete": ""}, body, {"Content-MD5": digest})

    async def complete_10000() -> None:
        # The largest Complete S3 takes: 10,000 parts listed (1.3 MB of XML) of an upload that
        # holds one, refused (InvalidPart) once the list is parsed and read.
        key = f"{root}mp/big"
        created = await d.s3_call("POST", key, {"uploads": ""})
        found = re.search(rb"<UploadId>([^<]+)</UploadId>", created.content)
        assert found is not None, created.content
        upload = {"uploadId": found[1].decode()}
        await d.s3_call("PUT", key, {**upload, "partNumber": "1"}, body=b"part")
        etag = '"' + "0" * 32 + '"'
        parts = "".join(
            f"<Part><PartNumber>{n}</PartNumber><ETag>{etag}</ETag></Part>"
            for n in range(1, 10_001)
        )
        body = f"<CompleteMultipartUpload>{parts}</CompleteMultipartUpload>".encode()
        await asyncio.sleep(0)  # the body's making is the client's turn
        try:
            await d.s3_call("POST", key, upload, body)
        except RuntimeError as exc:
            if "InvalidPart" not in str(exc):
                raise
        else:
            raise RuntimeError("a Complete of parts never uploaded was taken")

    async def restore_folder() -> None:
        body = {"path": trash, "as_of": state["before_delete"], "dry_run": False}
        await d.call("POST", "/api/restore-folder", json=body)

    return {
        "s3-get-small": lambda: d.s3_call("GET", f"{root}zip/z00000"),
        "s3-head-small": lambda: d.s3_call("HEAD", f"{root}zip/z00000"),
        "s3-put-small": lambda: d.s3_call("PUT", f"{root}zip/put", body=b"x" * 1024),
        "s3-list-1000": lambda: d.s3_call(
            "GET", "", {"list-type": "2", "prefix": f"{root}big/", "max-keys": "1000"}
        ),
        "s3-list-delim-1000": lambda: d.s3_call(
            "GET",
            "",
            {"list-type": "2", "prefix": f"{root}big/", "delimiter": "/", "max-keys": "1000"},
        ),
        "api-list-1000": lambda: d.call("GET", "/api/list", params={"path": big, "limit": "1000"}),
        "api-list-size": lambda: d.call(
            "GET",
            "/api/list",
            params={"path": big, "limit": "1000", "sort": "size", "order": "desc"},
        ),
        "search(walk)": lambda: d.call("GET", "/api/search", params={"path": big, "q": "f099999"}),
        "zip-2000": lambda: d.call("GET", "/api/zip", params={"path": zipped}),
        "archive-2000": lambda: d.s3_call(
            "GET", "", {"lakestow-archive": "tar", "prefix": f"{root}zip/"}
        ),
        "delete-objects-1000": delete_objects,
        "api-deleted": lambda: d.call(
            "GET", "/api/deleted", params={"path": trash, "limit": "1000"}
        ),
        "api-versions": lambda: d.call(
            "GET", "/api/versions", params={"path": trash + "t00001", "limit": "1000"}
        ),
        "s3-list-versions-1000": lambda: d.s3_call(
            "GET", "", {"versions": "", "prefix": f"{root}trash/", "max-keys": "1000"}
        ),
        "complete-10000": complete_10000,
        "restore-folder-1000": restore_folder,
    }


async def measure(
    lateness: Lateness,
    turns: Turns,
    name: str,
    op: Callable[[], Awaitable[Any]],
    repeat: int,
    where: Where | None,
) -> None:
    worst, took, ended = 0.0, 0.0, ""
    longest: list[float] = []  # each repeat's longest turn
    for _ in range(repeat):
        await asyncio.sleep(0.02)
        lateness.reset()
        turns.reset()
        started = time.perf_counter()
        await op()
        took = max(took, time.perf_counter() - started)
        await asyncio.sleep(0)  # this step, which ran the request's last part, is counted
        if turns.longest > max(longest, default=0.0):
            ended = turns.ended
        longest.append(turns.longest)
        await asyncio.sleep(0.005)
        worst = max(worst, lateness.worst)
    # On a shared machine a turn can be stretched by the OS running something else: the median
    # of the repeats' longest turns is what the code holds, the worst what a user may meet.
    print(
        f"{name:24} {took * 1000:9.1f} ms   longest turn {statistics.median(longest) * 1000:5.1f}"
        f" ms (worst {max(longest) * 1000:5.1f})   loop late up to {worst * 1000:6.1f} ms",
        flush=True,
    )
    if where is not None:
        print(f"    longest turn ended at {ended}")
        where.report()


async def run(
    base: Path, keys: int, only: set[str], repeat: int, where: bool, settle: bool
) -> None:
    settings = config.load(base / "data", environ={})
    datadir.initialize(settings)
    with datadir.opened(settings) as opened:
        services = opened.services("probe")
        services.orgs.create_org("acme")
        member = services.orgs.create_member("alice", "acme", password=PASSWORD)
        issued = services.credentials.issue_credentials("alice")
        async with open_runtime(opened) as runtime:
            # as `serve` does: revocations reload in a thread, never on a request's turn
            refresher = asyncio.create_task(
                refresh_revocations(runtime.verifier, settings.revocation_refresh)
            )
            home = f"data/customer-{member.id}/"
            root = f"acme/{home}"
            fill(settings.data_dir / "objects" / "index.db", root, keys)
            store = runtime.store
            await put_many(store, [f"{root}zip/z{i:05d}" for i in range(2000)], b"z" * 1024)
            await put_many(store, [f"{root}trash/t{i:05d}" for i in range(1000)], b"t" * 1024)
            await asyncio.sleep(1.1)  # the restore's time sorts after every version made above
            console = httpx.AsyncClient(
                transport=httpx.ASGITransport(app=create_console(runtime, s3_url=S3)),
                base_url="http://console.probe",
                timeout=600,
            )
            s3 = httpx.AsyncClient(transport=httpx.ASGITransport(app=S3App(runtime)), timeout=600)
            signed = await console.post(
                "/api/session", json={"name": "alice", "password": PASSWORD}
            )
            session = {
                "cookie": f"{COOKIE}={signed.cookies[COOKIE]}",
                "x-csrf-token": signed.json()["csrf_token"],
            }
            console.cookies.clear()
            signer = Credentials(
                issued.access_key_id, issued.secret_access_key, issued.session_token
            )
            doors = Doors(console, s3, session, signer, home, root)
            state = {"before_delete": datetime.now(UTC).isoformat()}
            await asyncio.sleep(1.1)
            if settle:
                settle_gc()
            lateness = Lateness()
            lateness.start()
            turns = Turns()
            turns.where = where
            sampler = Where(lateness) if where else None
            if sampler is not None:
                sampler.start()
            for name, op in operations(doors, state).items():
                if only and name not in only:
                    continue
                once = "delete" in name or "restore" in name
                await measure(lateness, turns, name, op, 1 if once else repeat, sampler)
            refresher.cancel()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--keys", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--only", default="", help="comma-separated operation names")
    parser.add_argument(
        "--where", action="store_true", help="name the functions that hold the loop"
    )
    parser.add_argument(
        "--switch", type=float, default=SWITCH_INTERVAL, help="sys.setswitchinterval"
    )
    parser.add_argument("--default-gc", action="store_true", help="do not settle the collector")
    args = parser.parse_args()
    sys.setswitchinterval(args.switch)
    only = {name for name in args.only.split(",") if name}
    with tempfile.TemporaryDirectory(prefix="loop-probe-") as tmp:
        asyncio.run(run(Path(tmp), args.keys, only, args.repeat, args.where, not args.default_gc))


if __name__ == "__main__":
    main()
