"""Helpers of the console tests: members signed in to the in-process console, and a live
`lakestow serve` (S3 endpoint and console on free ports) for the browser and the aws CLI.

Members: acme has `root` (admin), `alice` and `bob`; globex has `carol`. Every password is
`<name>-password`.
"""

from __future__ import annotations

import json
import subprocess
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import httpx
from botocore.client import BaseClient
from botocore.config import Config

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

from lakestow.console.sessions import COOKIE
from lakestow.datadir import Opened
from live import free_port, lakestow, serve

__all__ = ["LiveConsole", "console_client", "free_port", "lakestow", "s3_client"]
MEMBERS: tuple[tuple[str, str, bool], ...] = (
    ("root", "acme", True),
    ("alice", "acme", False),
    ("bob", "acme", False),
    ("carol", "globex", False),
)


def password(name: str) -> str:
    return f"{name}-password"


@dataclass
class As:
    """Requests as one signed-in member: their session cookie and CSRF token on every call."""

    client: TestClient
    name: str
    id: int
    session_id: str
    csrf: str

    def request(self, method: str, url: str, *, csrf: bool = True, **kw: Any) -> httpx.Response:
        headers = {"cookie": f"{COOKIE}={self.session_id}", **kw.pop("headers", {})}
        if csrf:
            headers["x-csrf-token"] = self.csrf
        self.client.cookies.clear()
        return self.client.request(method, url, headers=headers, **kw)

    def get(self, url: str, **kw: Any) -> httpx.Response:
        return self.request("GET", url, **kw)

    def post(self, url: str, **kw: Any) -> httpx.Response:
        return self.request("POST", url, **kw)

    def put(self, url: str, **kw: Any) -> httpx.Response:
        return self.request("PUT", url, **kw)

    def delete(self, url: str, **kw: Any) -> httpx.Response:
        return self.request("DELETE", url, **kw)

    def home(self, rest: str = "") -> str:
        return f"data/customer-{self.id}/{rest}"


@dataclass
class Console:
    """The console app in-process, with its members."""

    client: TestClient
    opened: Opened
    ids: dict[str, int] = field(default_factory=dict)

    def sign_in(self, name: str, secret: str | None = None) -> httpx.Response:
        self.client.cookies.clear()
        body = {"name": name, "password": secret or password(name)}
        return self.client.post("/api/session", json=body)

    def as_(self, name: str) -> As:
        response = self.sign_in(name)
        assert response.status_code == 201, response.text
        session_id = response.cookies[COOKIE]
        self.client.cookies.clear()
        return As(self.client, name, self.ids[name], session_id, response.json()["csrf_token"])


def add_members(opened: Opened) -> dict[str, int]:
    service = opened.services("test")
    service.orgs.create_org("acme")
    service.orgs.create_org("globex")
    ids = {}
    for name, org, admin in MEMBERS:
        ids[name] = service.orgs.create_member(name, org, admin=admin, password=password(name)).id
    return ids


@dataclass
class LiveConsole:
    """One `lakestow serve` with its S3 endpoint and console on free loopback ports."""

    data_dir: Path
    s3_port: int = field(default_factory=free_port)
    console_port: int = field(default_factory=free_port)
    ids: dict[str, int] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.console_port}"

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.s3_port}"

    def create(self) -> LiveConsole:
        lakestow(self.data_dir, "init")
        for org in ("acme", "globex"):
            lakestow(self.data_dir, "org", "create", org)
        for name, org, admin in MEMBERS:
            flags = ["--admin"] if admin else []
            out = lakestow(
                self.data_dir,
                *("user", "create", name, "--org", org, "--password-stdin", *flags),
                input=password(name) + "\n",
            )
            self.ids[name] = int(out.split()[-1])
        return self

    def start(self, workers: int | None = None) -> LiveConsole:
        self.process = serve(self.data_dir, self.s3_port, self.console_port, workers=workers)
        return self

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)
        self.process = None

    def log(self) -> str:
        return (self.data_dir / "server.log").read_text(errors="replace")


def console_client(server: LiveConsole, name: str) -> httpx.Client:
    """An HTTP client of the live console, signed in as `name`, sending the session's cookie
    and CSRF token with every request."""
    client = httpx.Client(base_url=server.url, timeout=120)
    signed = client.post("/api/session", json={"name": name, "password": password(name)})
    assert signed.status_code == 201, signed.text
    client.headers.update(
        {
            "cookie": f"{COOKIE}={signed.cookies[COOKIE]}",
            "x-csrf-token": signed.json()["csrf_token"],
        }
    )
    client.cookies.clear()
    return client


def s3_client(
    server: LiveConsole, name: str, issued: dict[str, Any] | None = None, **config: Any
) -> BaseClient:
    """boto3 on the live S3 endpoint with `name`'s credentials (`issued`, or new ones from
    `lakestow credentials issue`), path-style, no retries; `config` adds botocore settings."""
    if issued is None:
        issued = json.loads(lakestow(server.data_dir, "credentials", "issue", name))
    return boto3.client(
        "s3",
        endpoint_url=server.endpoint,
        region_name="us-east-1",
        aws_access_key_id=issued["AccessKeyId"],
        aws_secret_access_key=issued["SecretAccessKey"],
        aws_session_token=issued["SessionToken"],
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}, **config),
    )
