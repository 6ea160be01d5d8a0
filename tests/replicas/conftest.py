"""A deployment of two `lakestow serve` replicas on two ports, sharing one PostgreSQL catalog,
one upstream S3 server (moto's, a real third-party process) and one key file, configured by
their environment alone. One deployment serves the whole package.
"""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from botocore.client import BaseClient
from botocore.config import Config

from live import BIN, free_port, serve
from postgres import fresh_database
from storage.upstream import Upstream, moto_server

PASSWORD = "correct horse battery"
MiB = 1024 * 1024


WORKERS = 2
"""Worker processes of each replica, whatever the machine's cores: each logs what it sees
(a catalog outage: once per worker)."""


@dataclass
class Replica:
    """One `lakestow serve` process of the deployment."""

    name: str
    data_dir: Path
    env: dict[str, str] = field(repr=False)  # holds the upstream's secret
    s3_port: int = field(default_factory=free_port)
    console_port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    workers: int = WORKERS

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.s3_port}"

    @property
    def console(self) -> str:
        return f"http://127.0.0.1:{self.console_port}"

    def start(self) -> Replica:
        self.data_dir.mkdir(parents=True, exist_ok=True)  # for server.log only
        self.process = serve(
            self.data_dir, self.s3_port, self.console_port, env=self.env, workers=self.workers
        )
        return self

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(sig)
            self.process.wait(timeout=30)

    def cli(self, *args: str, input: str | None = None) -> str:
        """The admin command line, configured like this replica."""
        result = subprocess.run(
            [str(BIN / "lakestow"), *args],
            input=input,
            capture_output=True,
            text=True,
            env=self.env,
            check=False,
        )
        assert result.returncode == 0, f"lakestow {' '.join(args)}: {result.stderr}"
        return result.stdout

    def client(self, credentials: dict[str, Any], **config: Any) -> BaseClient:
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name="us-east-1",
            aws_access_key_id=credentials["AccessKeyId"],
            aws_secret_access_key=credentials["SecretAccessKey"],
            aws_session_token=credentials["SessionToken"],
            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}, **config),
        )

    def sign_in(self, name: str) -> tuple[httpx.Client, str]:
        """A console session made on this replica, and its CSRF token."""
        http = httpx.Client(base_url=self.console)
        response = http.post("/api/session", json={"name": name, "password": PASSWORD})
        assert response.status_code == 201, response.text
        return http, response.json()["csrf_token"]


@dataclass
class Deployment:
    a: Replica
    b: Replica
    upstream: Upstream
    env: dict[str, str] = field(repr=False)
    alice_folder: str


@pytest.fixture(scope="package")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    root = tmp_path_factory.mktemp("replicas")
    with fresh_database() as catalog_url, moto_server(min_part_size=5 * MiB) as upstream:
        key_file = root / "secrets" / "server.key"
        base = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "LAKESTOW_"))}
        env = {
            **base,
            "LAKESTOW_CATALOG_URL": catalog_url,
            "LAKESTOW_STORE_URL": f"s3://{upstream.bucket}/lake",
            "LAKESTOW_KEY_FILE": str(key_file),
            "LAKESTOW_TRUSTED_PROXIES": "127.0.0.1",  # the nginx of test_nginx.py
            "LAKESTOW_STORE_ENDPOINT_URL": upstream.endpoint_url,
            "LAKESTOW_STORE_ACCESS_KEY_ID": upstream.access_key_id,
            "LAKESTOW_STORE_SECRET_ACCESS_KEY": upstream.secret_access_key,
        }
        a = Replica("a", root / "a", env)
        a.cli("keys", "generate", str(key_file))
        a.cli("init")
        a.cli("org", "create", "acme")
        ids = {}
        for name in ("alice", "bob", "mallory", "eve", "root"):
            admin = ["--admin"] if name == "root" else []
            ids[name] = a.cli(
                "user",
                "create",
                name,
                "--org",
                "acme",
                *admin,
                "--password-stdin",
                input=PASSWORD + "\n",
            ).strip()
        b = Replica("b", root / "b", env)
        a.start()
        b.start()
        try:
            yield Deployment(a, b, upstream, env, f"acme/data/customer-{ids['alice']}/")
        finally:
            a.stop()
            b.stop()


def over_rclone(
    root: Path, upstream: Upstream, catalog_url: str, **settings: str
) -> tuple[dict[str, str], Replica, Replica, str]:
    """Two replicas (not started) over `upstream` (an `rclone serve s3`) and `catalog_url`,
    configured by their environment (plus `settings`, LAKESTOW_* variables), the catalog set
    up with organization acme and member alice: the environment, the replicas, alice's
    folder."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "LAKESTOW_"))}
    env = {
        **base,
        "LAKESTOW_CATALOG_URL": catalog_url,
        "LAKESTOW_STORE_URL": f"s3://{upstream.bucket}/lake",
        "LAKESTOW_STORE_ENDPOINT_URL": upstream.endpoint_url,
        "LAKESTOW_STORE_ACCESS_KEY_ID": upstream.access_key_id,
        "LAKESTOW_STORE_SECRET_ACCESS_KEY": upstream.secret_access_key,
        "LAKESTOW_KEY_FILE": str(root / "secrets" / "server.key"),
        **settings,
    }
    a, b = Replica("a", root / "a", env), Replica("b", root / "b", env)
    a.cli("keys", "generate", env["LAKESTOW_KEY_FILE"])
    a.cli("init")
    a.cli("org", "create", "acme")
    a.cli("user", "create", "alice", "--org", "acme")
    home = a.cli("env", "alice").split("USER_S3_PATH=s3://lakestow/")[1].split()[0]
    return env, a, b, home


def credentials_from(replica: Replica, name: str = "alice") -> dict[str, Any]:
    """Temporary credentials issued through `replica`'s console, as a member gets them."""
    http, csrf = replica.sign_in(name)
    try:
        response = http.post("/api/credentials", json={}, headers={"x-csrf-token": csrf})
    finally:
        http.close()
    assert response.status_code == 200, response.text
    credentials: dict[str, Any] = response.json()["credentials"]
    return credentials
