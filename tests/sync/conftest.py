"""A real `lakestow serve` on a free port for the sync agent, and an empty folder per test.

Members are created before the server starts (it learns of new members within 2 s only).
Each test syncs into its own subfolder of alice's notebooks folder; `bob`'s whole notebooks
carol's and dave's whole notebooks folders are for the instance tests, which need the real
`notebooks/customer-<id>/` layout.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.client import BaseClient
from botocore.config import Config

from lakestow.sync.agent import Agent
from lakestow.sync.credentials import Credentials, parse_process_document
from lakestow.sync.outcome import ReadHook, Tuning
from lakestow.sync.plan import Options
from lakestow.sync.remote import Endpoint, Remote
from live import BIN, BUCKET, free_port, lakestow, serve

__all__ = ["BIN", "BUCKET", "free_port", "lakestow"]
_names = itertools.count(1)


@dataclass
class Server:
    """One `lakestow serve` process with the organization `acme`."""

    data_dir: Path
    port: int
    process: subprocess.Popen[bytes] | None = None
    ids: dict[str, int] = field(default_factory=dict)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Server:
        lakestow(self.data_dir, "init")
        lakestow(self.data_dir, "org", "create", "acme")
        for name in ("alice", "bob", "carol", "dave"):
            self.ids[name] = int(lakestow(self.data_dir, "user", "create", name, "--org", "acme"))
        self.process = serve(self.data_dir, self.port, free_port())
        return self

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=30)

    def log(self) -> str:
        return (self.data_dir / "server.log").read_text(errors="replace")


@dataclass
class Home:
    """A member's (sub)folder of notebooks, its credentials, and ways to reach it."""

    server: Server
    name: str
    id: int
    sub: str = ""
    _credentials: Credentials | None = None

    @property
    def prefix(self) -> str:
        return f"acme/notebooks/customer-{self.id}/{self.sub}"

    @property
    def remote_uri(self) -> str:
        return f"s3://{BUCKET}/{self.prefix}"

    @property
    def credential_process(self) -> str:
        return (
            f"{BIN / 'lakestow'} --data-dir {self.server.data_dir}"
            f" credentials issue {self.name} --format json"
        )

    def credentials(self) -> Credentials:
        if self._credentials is None:
            self._credentials = parse_process_document(
                lakestow(
                    self.server.data_dir, "credentials", "issue", self.name, "--format", "json"
                )
            )
        return self._credentials

    def client(self) -> BaseClient:
        c = self.credentials()
        return boto3.client(
            "s3",
            endpoint_url=self.server.endpoint,
            region_name="us-east-1",
            aws_access_key_id=c.access_key_id,
            aws_secret_access_key=c.secret_access_key,
            aws_session_token=c.session_token,
            config=Config(s3={"addressing_style": "path"}),
        )

    def remote(self) -> Remote:
        """The agent's remote, as `home sync` makes it."""
        creds = self.credentials()
        return Remote(
            Endpoint(self.server.endpoint, "us-east-1", lambda: creds), BUCKET, self.prefix
        )

    def agent(
        self,
        home: Path,
        options: Options = Options(),  # noqa: B008
        tuning: Tuning = Tuning(),  # noqa: B008
        hook: ReadHook | None = None,
    ) -> Agent:
        return Agent(home, self.remote(), options, tuning, hook)

    def objects(self) -> dict[str, bytes]:
        """Every object of the notebooks folder (relative path -> content)."""
        client = self.client()
        found: dict[str, bytes] = {}
        for page in client.get_paginator("list_objects_v2").paginate(
            Bucket=BUCKET, Prefix=self.prefix
        ):
            for item in page.get("Contents", []):
                body = client.get_object(Bucket=BUCKET, Key=item["Key"])["Body"].read()
                found[item["Key"][len(self.prefix) :]] = body
        return found

    def sync_env(self) -> dict[str, str]:
        """Environment for the agent as a subprocess (no AWS credentials of its own)."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env["PYTHONUNBUFFERED"] = "1"
        return env

    def sync_args(self, home: Path) -> list[str]:
        return [
            "--home",
            str(home),
            "--remote",
            self.remote_uri,
            "--endpoint-url",
            self.server.endpoint,
            "--credential-process",
            self.credential_process,
        ]


def tree(home: Path, skip: tuple[str, ...] = (".lakestow/",)) -> dict[str, bytes]:
    """Every regular file under `home` (relative POSIX path -> content)."""
    found = {}
    for path in home.rglob("*"):
        rel = path.relative_to(home).as_posix()
        if path.is_file() and not path.is_symlink() and not rel.startswith(skip):
            found[rel] = path.read_bytes()
    return found


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    running = Server(tmp_path_factory.mktemp("sync-server"), free_port()).start()
    yield running
    running.stop()
    # Clients killed mid-request (the SIGKILL tests) must not make the server log errors.
    assert "Traceback" not in running.log(), running.log()


@pytest.fixture(scope="session")
def alice(server: Server) -> Home:
    return Home(server, "alice", server.ids["alice"])


@pytest.fixture
def member(alice: Home) -> Home:
    """An empty folder of alice's, of its own."""
    return Home(alice.server, alice.name, alice.id, f"t{next(_names)}/", alice.credentials())


@pytest.fixture(scope="session")
def bob(server: Server) -> Home:
    return Home(server, "bob", server.ids["bob"])


def status(member: Home) -> dict[str, Any]:
    body = (
        member.client()
        .get_object(Bucket=BUCKET, Key=member.prefix + ".lakestow-sync-status.json")["Body"]
        .read()
    )
    document: dict[str, Any] = json.loads(body)
    return document


@pytest.fixture(scope="session")
def carol(server: Server) -> Home:
    return Home(server, "carol", server.ids["carol"])


@pytest.fixture(scope="session")
def dave(server: Server) -> Home:
    return Home(server, "dave", server.ids["dave"])
