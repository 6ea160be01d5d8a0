"""Micro-benchmark of the S3 endpoint's own Python, no HTTP: µs per request, in process.

    .venv/bin/python bench/s3_app_micro.py [--rows head,get,put,delete,delimiter] [--count 2000]
    .venv/bin/python bench/s3_app_micro.py --rows hop,delimiter,versions
    .venv/bin/python bench/s3_app_micro.py --rows head --profile [--sort cumulative --top 60]

Requests signed by botocore (as the AWS CLI signs them) go straight to the ASGI application
over a data directory made by the `lakestow` CLI, one at a time (PUT of 4 KiB to new keys and
DELETE: 16 at a time, so that group commit groups them). Each row runs `--repeats` times over
the same requests (PUT: as many new keys) and keeps the fastest, of wall-clock time and of CPU
time (all threads) apart, so a run is steady enough to compare one change with the next, which
the side-by-side HTTP benchmark (s3_bench.py), on a machine shared with its client, is not.
`versions` lists the versions of the same folder as `delimiter` (110 entries); `hop` times a
call of nothing through a worker thread, the price of each hop a request makes.
What this leaves out, uvicorn's share of a request and the network, s3_bench.py measures. Run
by hand; one line per row."""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import os
import pstats
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio.to_thread
import uvloop
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from lakestow import config, datadir
from lakestow.s3api.app import S3App
from lakestow.server import open_runtime, settle_gc

BUCKET = "lakestow"  # the organizations' bucket of a default data directory
PORT = 9000  # only in the signed Host header: nothing listens
Scope = dict[str, Any]


def lakestow(data: Path, *args: str) -> str:
    argv = [str(Path(sys.executable).parent / "lakestow"), "--data-dir", str(data), *args]
    return subprocess.run(argv, check=True, capture_output=True, text=True).stdout


def signed(method: str, path: str, query: str, creds: dict[str, str], body: bytes = b"") -> Scope:
    """The ASGI scope of a request signed as botocore signs it (UNSIGNED-PAYLOAD)."""
    url = f"http://127.0.0.1:{PORT}{path}" + (f"?{query}" if query else "")
    request = AWSRequest(method, url, {"x-amz-content-sha256": "UNSIGNED-PAYLOAD"}, body)
    credentials = Credentials(creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"])
    SigV4Auth(credentials, "s3", "us-east-1").add_auth(request)
    headers = [(k.lower().encode(), str(v).encode()) for k, v in request.headers.items()]
    headers.append((b"host", f"127.0.0.1:{PORT}".encode()))
    if body:
        headers.append((b"content-length", str(len(body)).encode()))
    return {
        "type": "http",
        "method": method,
        "path": path,
        "raw_path": path.encode(),
        "query_string": query.encode(),
        "headers": headers,
        "http_version": "1.1",
        "scheme": "http",
        "server": ("127.0.0.1", PORT),
        "client": ("127.0.0.1", 50000),
        "root_path": "",
    }


class Client:
    """Sends scopes to the application and keeps the last status."""

    def __init__(self, app: S3App) -> None:
        self.app = app
        self.status = 0

    async def send(self, message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]

    async def call(self, scope: Scope, body: bytes = b"") -> int:
        messages = [{"type": "http.request", "body": body, "more_body": False}]

        async def receive() -> dict[str, Any]:
            return messages.pop() if messages else {"type": "http.disconnect"}

        await self.app(scope, receive, self.send)
        return self.status


async def run(args: argparse.Namespace, data: Path) -> None:
    lakestow(data, "init")
    lakestow(data, "org", "create", "acme")
    member = int(lakestow(data, "user", "create", "alice", "--org", "acme").split()[-1])
    creds = json.loads(lakestow(data, "credentials", "issue", "alice", "--duration", "12h"))
    home = f"acme/data/customer-{member}/bench"
    count = args.count
    with datadir.opened(config.load(data)) as opened:
        async with open_runtime(opened) as runtime:
            runtime.verifier.refresh()
            client = Client(S3App(runtime))
            settle_gc()  # as `serve` does
            small = os.urandom(4096)

            async def put(key: str, body: bytes) -> None:
                status = await client.call(
                    signed("PUT", f"/{BUCKET}/{home}/{key}", "", creds, body), body
                )
                if status != 200:
                    raise SystemExit(f"PUT {key}: {status}")

            async def put_small() -> None:
                for i in range(count):
                    await put(f"small/{i:07d}", small)

            await put_small()
            for i in range(100):
                await put(f"tree/d{i:03d}/x", small[:16])
            for i in range(10):
                await put(f"tree/f{i}", small[:16])
            listing = f"delimiter=%2F&list-type=2&prefix={home.replace('/', '%2F')}%2Ftree%2F"
            requests: dict[str, Callable[[int], Scope]] = {
                "head": lambda i: signed("HEAD", f"/{BUCKET}/{home}/small/{i:07d}", "", creds),
                "get": lambda i: signed("GET", f"/{BUCKET}/{home}/small/{i:07d}", "", creds),
                "delete": lambda i: signed("DELETE", f"/{BUCKET}/{home}/small/{i:07d}", "", creds),
                "delimiter": lambda i: signed("GET", f"/{BUCKET}", listing, creds),
                "versions": lambda i: signed("GET", f"/{BUCKET}", f"{listing}&versions=", creds),
            }
            for row in args.rows.split(","):
                if row == "hop":
                    await hop(args)
                    continue
                if row != "put":
                    scopes = [requests[row](i) for i in range(count)]
                best, best_cpu = float("inf"), float("inf")
                for repeat in range(args.repeats):
                    if row == "delete" and repeat:
                        await put_small()
                    if row == "put":  # new keys each time: an overwrite costs otherwise
                        path = f"/{BUCKET}/{home}/new/{repeat}"
                        scopes = [
                            signed("PUT", f"{path}/{i:07d}", "", creds, small) for i in range(count)
                        ]
                    profile = cProfile.Profile() if args.profile else None
                    body = small if row == "put" else b""
                    grouped = row in ("delete", "put")
                    elapsed, cpu = await timed(client, scopes, grouped, profile, body)
                    best, best_cpu = min(best, elapsed), min(best_cpu, cpu)
                    if profile is not None:
                        stats = pstats.Stats(profile).sort_stats(args.sort)
                        stats.print_stats(args.top)
                print(
                    f"{row:<10} {1e6 * best / count:7.1f} µs a request, "
                    f"CPU {1e6 * best_cpu / count:7.1f} µs (status {client.status})"
                )


async def hop(args: argparse.Namespace) -> None:
    """What a request pays to have something done in a worker thread and be told: a call of
    nothing through anyio.to_thread (as the store hands work to its threads)."""
    best, best_cpu = float("inf"), float("inf")
    for _ in range(args.repeats):
        start, cpu = time.perf_counter(), time.process_time()
        for _ in range(args.count):
            await anyio.to_thread.run_sync(int)
        best = min(best, time.perf_counter() - start)
        best_cpu = min(best_cpu, time.process_time() - cpu)
    print(
        f"{'hop':<10} {1e6 * best / args.count:7.1f} µs a call,    "
        f"CPU {1e6 * best_cpu / args.count:7.1f} µs (a thread does nothing)"
    )


async def timed(
    client: Client,
    scopes: list[Scope],
    grouped: bool,
    profile: cProfile.Profile | None,
    body: bytes = b"",
) -> tuple[float, float]:
    """Wall-clock and CPU seconds (all threads: the committing one too) of the requests
    (each with `body`)."""
    calls: list[Awaitable[int]]
    if profile is not None:
        profile.enable()
    start, cpu = time.perf_counter(), time.process_time()
    if grouped:
        for at in range(0, len(scopes), 16):
            calls = [client.call(scope, body) for scope in scopes[at : at + 16]]
            await asyncio.gather(*calls)
    else:
        for scope in scopes:
            await client.call(scope, body)
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    if profile is not None:
        profile.disable()
    return elapsed, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", default="head,get,put,delete,delimiter")
    parser.add_argument("--count", type=int, default=2000, help="requests a row")
    parser.add_argument("--repeats", type=int, default=5, help="runs a row; the fastest counts")
    parser.add_argument("--profile", action="store_true", help="print a cProfile of each run")
    parser.add_argument("--sort", default="tottime", help="the profile's order (pstats keys)")
    parser.add_argument("--top", type=int, default=25, help="the profile's lines")
    parser.add_argument("--dir", default=None, help="where the temporary data directory goes")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.dir) as folder:
        uvloop.run(run(args, Path(folder) / "data"))


if __name__ == "__main__":
    main()
