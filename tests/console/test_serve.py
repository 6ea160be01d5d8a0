"""`lakestow serve` runs the console beside the S3 endpoint, in one process."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from console.console_support import LiveConsole

pytestmark = pytest.mark.slow


def test_serve_prints_and_serves_the_console(live: LiveConsole) -> None:
    assert f"lakestow console: {live.url}/" in live.log()
    page = requests.get(live.url + "/", timeout=10)
    assert page.status_code == 200 and 'action="/signin"' in page.text
    s3 = requests.get(live.endpoint + "/", timeout=10)
    assert s3.status_code == 403 and "<Code>AccessDenied</Code>" in s3.text


def test_a_busy_port_stops_serve_with_a_clear_error(tmp_path: Path) -> None:
    """A server that cannot listen where it was told to must say so and exit, not limp on."""
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        server = LiveConsole(tmp_path, console_port=busy.getsockname()[1])
        command = [
            sys.executable,
            "-m",
            "lakestow",
            "--data-dir",
            str(server.data_dir),
            "serve",
            "--s3-address",
            f"127.0.0.1:{server.s3_port}",
            "--console-address",
            f"127.0.0.1:{server.console_port}",
        ]
        result = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 1
    assert f"could not listen on 127.0.0.1:{server.console_port}" in result.stderr + result.stdout
