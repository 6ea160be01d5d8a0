"""`lakestow serve --workers N`: several processes over one data directory keep every promise
of one. Real servers on free ports, boto3 and the console's API; which worker answered is told
by the first 8 characters of `x-amz-request-id`, which each process draws at random."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from botocore.client import BaseClient
from botocore.config import Config
from botocore.exceptions import ClientError

from console.console_support import LiveConsole, console_client, lakestow, s3_client
from live import serving
from s3api.signing import signed, url_of

BUCKET = "lakestow"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveConsole]:
    server = LiveConsole(tmp_path_factory.mktemp("workers")).create().start(workers=2)
    yield server
    server.stop()
    assert "Traceback" not in server.log(), server.log()


def client(server: LiveConsole, name: str, issued: dict[str, Any] | None = None) -> Any:
    """One connection, kept alive: it stays on the worker that accepted it."""
    return s3_client(server, name, issued, max_pool_connections=1)


def worker_of(answer: dict[str, Any]) -> str:
    return str(answer["ResponseMetadata"]["RequestId"][:8])


def on_two_workers(server: LiveConsole, name: str) -> tuple[BaseClient, BaseClient]:
    """Two clients of `name` whose kept-alive connections reached different workers."""
    issued = json.loads(lakestow(server.data_dir, "credentials", "issue", name))
    found: dict[str, BaseClient] = {}
    for _ in range(50):
        s3 = client(server, name, issued)
        found.setdefault(worker_of(s3.list_buckets()), s3)
        if len(found) == 2:
            one, two = found.values()
            return one, two
    raise AssertionError("50 connections all reached one worker")


def home(server: LiveConsole, name: str) -> str:
    return f"acme/data/customer-{server.ids[name]}/"


def test_a_single_worker_is_a_single_process(tmp_path: Path) -> None:
    server = LiveConsole(tmp_path / "one").create().start(workers=1)
    try:
        assert server.process is not None
        assert serving(server.process.pid) == [server.process.pid]
        s3 = client(server, "alice")
        s3.put_object(Bucket=BUCKET, Key=home(server, "alice") + "k", Body=b"one")
        assert (
            s3.get_object(Bucket=BUCKET, Key=home(server, "alice") + "k")["Body"].read() == b"one"
        )
    finally:
        server.stop()


def test_n_workers_are_n_processes_serving_both_doors(server: LiveConsole) -> None:
    assert server.process is not None
    supervisor = server.process.pid
    wait_for(lambda: len(serving(supervisor)) == 3)  # the supervisor and two workers
    for _ in range(4):  # answered once a worker is ready (the supervisor listens before)
        assert httpx.get(f"{server.url}/health/ready", timeout=60).json()["ready"] is True
    assert "2 worker processes" in server.log()
    wait_for(lambda: "conditional writes (If-None-Match, If-Match)" in server.log())
    assert server.log().count("conditional writes (If-None-Match, If-Match)") == 1  # worker 0


def test_a_write_through_one_worker_is_read_and_listed_through_the_other(
    server: LiveConsole,
) -> None:
    one, two = on_two_workers(server, "alice")
    folder = home(server, "alice") + "rw/"
    crossed = 0
    for n in range(30):
        key = f"{folder}{n:03d}"
        put = one.put_object(Bucket=BUCKET, Key=key, Body=b"v%d" % n)
        got = two.get_object(Bucket=BUCKET, Key=key)
        assert got["Body"].read() == b"v%d" % n  # (read: the connection goes back)
        listed = two.list_objects_v2(Bucket=BUCKET, Prefix=folder)
        assert got["ETag"] == put["ETag"]
        assert [o["Key"] for o in listed["Contents"]] == [f"{folder}{i:03d}" for i in range(n + 1)]
        crossed += worker_of(put) != worker_of(got) == worker_of(listed)
        over = two.put_object(Bucket=BUCKET, Key=key, Body=b"w%d" % n)  # and back again
        again = one.get_object(Bucket=BUCKET, Key=key)
        assert (again["Body"].read(), again["ETag"]) == (b"w%d" % n, over["ETag"])
    assert crossed >= 25, crossed  # kept-alive connections stay on their worker
    one.delete_object(Bucket=BUCKET, Key=f"{folder}000")
    with pytest.raises(ClientError) as missing:
        two.head_object(Bucket=BUCKET, Key=f"{folder}000")
    assert missing.value.response["Error"]["Code"] == "404"


def refused_by(s3: BaseClient, prefix: str) -> str | None:
    """The worker that refused a listing with AccessDenied, or None if it was answered."""
    try:
        s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix)
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "AccessDenied":
            raise
        return worker_of(exc.response)
    return None


def test_a_member_disabled_through_one_worker_is_refused_by_every_worker_within_a_second(
    server: LiveConsole,
) -> None:
    one, two = on_two_workers(server, "bob")
    with contextlib.closing(console_client(server, "root")) as admin:
        disabled = admin.post("/api/admin/members", json={"action": "disable", "name": "bob"})
        assert disabled.status_code == 200, disabled.text
        at = time.monotonic()
        refused: dict[str, float] = {}
        try:
            while len(refused) < 2 and time.monotonic() - at < 5:
                for s3 in (one, two):
                    refusal = refused_by(s3, home(server, "bob"))
                    if refusal is not None:
                        refused.setdefault(refusal, time.monotonic() - at)
                time.sleep(0.02)
        finally:
            enabled = admin.post("/api/admin/members", json={"action": "enable", "name": "bob"})
            assert enabled.status_code == 200, enabled.text
    print(f"refused by each worker after {refused} s")
    assert len(refused) == 2 and max(refused.values()) <= 1.0, refused


def test_a_bucket_an_operator_creates_through_one_worker_is_theirs_on_the_other(
    server: LiveConsole,
) -> None:
    made = json.loads(lakestow(server.data_dir, "operator", "create", "ops", "--format", "json"))
    key, secret = made["AccessKeyId"], made["SecretAccessKey"]
    found: dict[str, BaseClient] = {}
    while len(found) < 2:
        ops = boto3.client(
            "s3",
            endpoint_url=server.endpoint,
            region_name="us-east-1",
            aws_access_key_id=key,
            aws_secret_access_key=secret,
            config=Config(s3={"addressing_style": "path"}, max_pool_connections=1),
        )
        found.setdefault(worker_of(ops.list_buckets()), ops)
    one, two = found.values()
    for n in range(5):
        one.create_bucket(Bucket=f"ops-bucket-{n}")
        two.put_object(Bucket=f"ops-bucket-{n}", Key="k", Body=b"at once")
        assert one.get_object(Bucket=f"ops-bucket-{n}", Key="k")["Body"].read() == b"at once"


def alive(pid: int) -> bool:
    """Whether process `pid` runs (a zombie, ended but not yet reaped, does not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


class Writers:
    """Threads writing objects through their own connections until stopped; what was
    acknowledged, with the MD5 of its bytes, and what failed."""

    def __init__(self, server: LiveConsole, name: str, count: int) -> None:
        issued = json.loads(lakestow(server.data_dir, "credentials", "issue", name))
        self.clients = [client(server, name, issued) for _ in range(count)]
        self.folder = home(server, name) + "kill/"
        self.acknowledged: dict[str, str] = {}
        self.failed: list[str] = []
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._write, args=(n,)) for n in range(len(self.clients))
        ]

    def _write(self, n: int) -> None:
        s3 = self.clients[n]
        for round in range(100_000):
            if self._stop.is_set():
                return
            key = f"{self.folder}{n:02d}-{round:05d}"
            body = os.urandom(3 * 1024 * 1024 if round % 4 == 0 else 40 * 1024)
            try:
                s3.put_object(Bucket=BUCKET, Key=key, Body=body)
            except Exception as exc:  # a request in flight on the killed worker
                self.failed.append(f"{key}: {exc!r}")
                continue
            self.acknowledged[key] = hashlib.md5(body).hexdigest()

    def __enter__(self) -> Writers:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=60)

    def check(self, s3: BaseClient) -> None:
        """Every acknowledged object reads back whole."""
        for key, digest in self.acknowledged.items():
            body = s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
            assert hashlib.md5(body).hexdigest() == digest, key


def wait_for(check: Any, seconds: float = 30) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError(f"not within {seconds} s")


@pytest.mark.slow
def test_sigkill_of_a_worker_during_writes_through_both_loses_nothing_acknowledged(
    tmp_path: Path,
) -> None:
    server = LiveConsole(tmp_path / "kill").create().start(workers=2)
    assert server.process is not None
    supervisor = server.process.pid
    try:
        victim = wait_for(lambda: serving(supervisor)[1:])[0]
        with Writers(server, "alice", 8) as writers:
            wait_for(lambda: len(writers.acknowledged) >= 20)
            os.kill(victim, signal.SIGKILL)
            before = len(writers.acknowledged)
            wait_for(lambda: len(writers.acknowledged) >= before + 20)  # the other goes on
            # the supervisor started another in its place
            wait_for(lambda: len(serving(supervisor)) == 3 and victim not in serving(supervisor))
        assert f"(pid {victim}) was killed by SIGKILL; starting another" in server.log()
        assert len(writers.acknowledged) >= 40
        writers.check(client(server, "alice"))
    finally:
        server.stop()
    assert server.log().count("Traceback") == 0, server.log()
    # Started again, one process: the store opens (the killed worker's unfinished blobs are
    # collected, as the close was not marked clean) and every acknowledged write is there.
    server.start(workers=1)
    try:
        writers.check(client(server, "alice"))
    finally:
        server.stop()


@pytest.mark.slow
def test_sigkill_of_the_supervisor_takes_the_workers_with_it(tmp_path: Path) -> None:
    server = LiveConsole(tmp_path / "kill-all").create().start(workers=2)
    assert server.process is not None
    processes = serving(server.process.pid)
    with Writers(server, "alice", 4) as writers:
        wait_for(lambda: len(writers.acknowledged) >= 20)
        server.process.send_signal(signal.SIGKILL)
        server.process.wait(timeout=10)
        wait_for(lambda: not any(alive(pid) for pid in processes), 10)
    server.process = None
    server.start(workers=2)  # the store's lock went with them
    try:
        writers.check(client(server, "alice"))
    finally:
        server.stop()


class SlowPut:
    """A PUT whose body stops halfway until `finish()`: a request in flight on the worker its
    kept-alive connection reached (found by a HEAD first)."""

    def __init__(self, server: LiveConsole, issued: dict[str, Any], key: str) -> None:
        self.key = key
        self.body = os.urandom(2 * 1024 * 1024)
        self.halfway = threading.Event()
        self._go_on = threading.Event()
        self.http = httpx.Client(timeout=120, limits=httpx.Limits(max_connections=1))
        self.url = url_of(server.endpoint, BUCKET, key)
        self.issued = issued
        head = self.http.send(signed(issued, "HEAD", url_of(server.endpoint, BUCKET)))
        self.worker = head.headers["x-amz-request-id"][:8]
        self.answer: httpx.Response | None = None
        self.error: httpx.HTTPError | None = None
        self._thread = threading.Thread(target=self._put)

    def _stream(self) -> Iterator[bytes]:
        half = len(self.body) // 2
        yield self.body[:half]
        self.halfway.set()
        self._go_on.wait(60)
        yield self.body[half:]

    def _put(self) -> None:
        headers = {"Content-Length": str(len(self.body))}
        request = signed(self.issued, "PUT", self.url, headers=headers, stream=self._stream())
        try:
            self.answer = self.http.send(request)
        except httpx.HTTPError as exc:
            self.error = exc

    def start(self) -> SlowPut:
        self._thread.start()
        return self

    def finish(self) -> httpx.Response:
        self._go_on.set()
        self._thread.join(60)
        self.http.close()
        assert self.answer is not None, f"{self.key}: {self.error!r}"
        return self.answer


@pytest.mark.slow
def test_sigterm_lets_the_requests_in_flight_on_every_worker_finish(tmp_path: Path) -> None:
    """SIGTERM to the supervisor: no new connection is taken, but every worker finishes the
    uploads it is receiving (their bodies still coming), answers them, and only then ends; the
    objects are there when the store opens again."""
    server = LiveConsole(tmp_path / "drain").create().start(workers=2)
    assert server.process is not None
    issued = json.loads(lakestow(server.data_dir, "credentials", "issue", "alice"))
    folder = home(server, "alice") + "drain/"
    puts: list[SlowPut] = []
    workers: set[str] = set()
    for n in range(40):  # until each worker has an upload in flight
        put = SlowPut(server, issued, f"{folder}{n:02d}")
        if put.worker in workers and len(puts) >= 2:
            put.http.close()
            continue
        workers.add(put.worker)
        puts.append(put.start())
        if len(workers) == 2 and len(puts) >= 3:
            break
    assert len(workers) == 2, "40 connections all reached one worker"
    for put in puts:
        assert put.halfway.wait(30)
    time.sleep(0.5)  # the bodies' first halves are in the workers
    server.process.send_signal(signal.SIGTERM)
    time.sleep(1.0)
    assert server.process.poll() is None, "the supervisor ended with uploads in flight"
    with pytest.raises(httpx.TransportError):  # the sockets no longer take connections
        httpx.get(server.endpoint, timeout=5)
    answers = [put.finish() for put in puts]
    assert [a.status_code for a in answers] == [200] * len(puts), [a.text for a in answers]
    assert server.process.wait(timeout=30) == 0
    server.process = None
    assert "Traceback" not in server.log(), server.log()
    server.start(workers=1)
    try:
        s3 = client(server, "alice", issued)
        for put in puts:
            got = s3.get_object(Bucket=BUCKET, Key=put.key)["Body"].read()
            assert hashlib.md5(got).digest() == hashlib.md5(put.body).digest(), put.key
    finally:
        server.stop()
