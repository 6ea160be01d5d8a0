"""A real lakestow server on a free loopback port, and real clients for it.

The `live` server is shared by the whole session: organizations `acme` (members alice, bob)
and `globex` (member carol). Tests that kill a server start their own with `LiveServer.start`.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.client import BaseClient
from botocore.config import Config

from live import BIN, BUCKET, free_port, lakestow, serve

__all__ = ["BIN", "BUCKET", "LiveServer", "free_port", "lakestow"]


@dataclass
class LiveServer:
    """One `lakestow serve` process and what it takes to talk to it."""

    data_dir: Path
    port: int
    process: subprocess.Popen[bytes] | None = None
    ids: dict[str, int] = field(default_factory=dict)
    console_port: int = field(default_factory=free_port)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @classmethod
    def create(cls, data_dir: Path) -> LiveServer:
        lakestow(data_dir, "init")
        lakestow(data_dir, "org", "create", "acme")
        lakestow(data_dir, "org", "create", "globex")
        server = cls(data_dir, free_port())
        for name, org in (("alice", "acme"), ("bob", "acme"), ("carol", "globex")):
            server.ids[name] = int(lakestow(data_dir, "user", "create", name, "--org", org))
        return server

    def start(self) -> LiveServer:
        self.process = serve(self.data_dir, self.port, self.console_port)
        return self

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(sig)
            self.process.wait(timeout=30)
        self.process = None

    def log(self) -> str:
        return (self.data_dir / "server.log").read_text(errors="replace")

    def credentials(self, name: str, *args: str) -> dict[str, Any]:
        document: dict[str, Any] = json.loads(
            lakestow(self.data_dir, "credentials", "issue", name, *args)
        )
        return document

    def client(
        self, name: str | None = None, credentials: dict[str, Any] | None = None, **config: Any
    ) -> BaseClient:
        c = credentials or self.credentials(name or "alice")
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name="us-east-1",
            aws_access_key_id=c["AccessKeyId"],
            aws_secret_access_key=c["SecretAccessKey"],
            aws_session_token=c["SessionToken"],
            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}, **config),
        )

    def aws_env(self, name: str, tmp: Path) -> dict[str, str]:
        c = self.credentials(name)
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.update(
            AWS_ACCESS_KEY_ID=c["AccessKeyId"],
            AWS_SECRET_ACCESS_KEY=c["SecretAccessKey"],
            AWS_SESSION_TOKEN=c["SessionToken"],
            AWS_DEFAULT_REGION="us-east-1",
            AWS_ENDPOINT_URL=self.endpoint,
            AWS_CONFIG_FILE=str(tmp / "no-aws-config"),
            AWS_SHARED_CREDENTIALS_FILE=str(tmp / "no-aws-credentials"),
        )
        return env

    def private(self, name: str, top: str = "data") -> str:
        """The S3 key prefix of a member's private folder."""
        org = "globex" if name == "carol" else "acme"
        return f"{org}/{top}/customer-{self.ids[name]}/"


@pytest.fixture(scope="session")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    server = LiveServer.create(tmp_path_factory.mktemp("live")).start()
    yield server
    server.stop()
    assert "Traceback" not in server.log(), server.log()


@pytest.fixture(scope="session")
def alice(live: LiveServer) -> BaseClient:
    return live.client("alice")


@pytest.fixture
def aws(live: LiveServer, tmp_path: Path):  # type: ignore[no-untyped-def]
    """Run the real `aws` CLI as a member: aws("alice", "s3", "ls", ...)."""

    def run(name: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [str(BIN / "aws"), *args],
            env=live.aws_env(name, tmp_path),
            capture_output=True,
            text=True,
            check=False,
            timeout=600,
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"aws {' '.join(args)} failed ({result.returncode}): {result.stderr}"
            )
        return result

    return run
