"""`lakestow env NAME` (and `credentials issue --format env`) print the S3 endpoint the server
actually serves, each run as a new process (issue 14).

The server records the addresses it listens on in the data directory (`serving.json`, locked
while it runs); a command prints `public_s3_url` when one is configured, else the address of
the server running now, else the configured `s3_address`.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from s3api.conftest import LiveServer, free_port, lakestow

CONFIGURED = "http://127.0.0.1:9000"
"""The config file's `s3_address` (the default); the server is started on another port."""


def _start(server: LiveServer) -> LiveServer:
    server.start()
    return _recorded(server)


def _recorded(server: LiveServer) -> LiveServer:
    """`server`, once it has recorded its addresses (just after both ports listen)."""
    deadline = time.monotonic() + 10
    while not (server.data_dir / "serving.json").exists():
        assert time.monotonic() < deadline, "the server recorded no address"
        time.sleep(0.02)
    return server


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LiveServer]:
    """A server of the test's own, with one member: alice."""
    lakestow(tmp_path, "init")
    lakestow(tmp_path, "org", "create", "acme")
    lakestow(tmp_path, "user", "create", "alice", "--org", "acme")
    server = _start(LiveServer(tmp_path, free_port()))
    yield server
    server.stop()
    assert "Traceback" not in server.log(), server.log()


def _endpoint(server: LiveServer, *args: str) -> str:
    exports = lakestow(server.data_dir, *args).splitlines()
    return next(line.split("=", 1)[1] for line in exports if "AWS_ENDPOINT_URL=" in line)


def test_env_prints_the_address_serve_listens_on(live: LiveServer) -> None:
    assert 's3_address = "127.0.0.1:9000"' in (live.data_dir / "lakestow.toml").read_text()
    assert live.endpoint != CONFIGURED
    assert _endpoint(_recorded(live), "env", "alice") == live.endpoint
    assert _endpoint(live, "credentials", "issue", "alice", "--format", "env") == live.endpoint


def test_a_configured_public_url_wins(live: LiveServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """Behind a load balancer the address clients use is not the one the server binds."""
    monkeypatch.setenv("LAKESTOW_PUBLIC_S3_URL", "https://s3.example.test")
    assert _endpoint(live, "env", "alice") == "https://s3.example.test"


def test_once_the_server_is_gone_the_configured_address(server: LiveServer) -> None:
    """A server killed outright leaves its record behind, but not its lock: the record is
    known stale. A server stopped in order removes its record. A new one records its own."""
    server.stop(signal.SIGKILL)
    assert (server.data_dir / "serving.json").exists()
    assert _endpoint(server, "env", "alice") == CONFIGURED
    server.port = free_port()
    _start(server)
    assert _endpoint(server, "env", "alice") == server.endpoint
    server.stop()
    assert not (server.data_dir / "serving.json").exists()
    assert _endpoint(server, "env", "alice") == CONFIGURED
