"""`lakestow serve` runs the console beside the S3 endpoint, in one process."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest
import requests
from console_support import LiveConsole

pytestmark = pytest.mark.slow


def test_serve_prints_and_serves_the_console(live: LiveConsole) -> None:
    assert f"lakestow console: {live.url}/" in live.log()
    page = requests.get(live.url + "/", timeout=10)
    assert page.status_code == 200 and 'action="/signin"' in page.text
    s3 = requests.get(live.endpoint + "/", timeout=10)
    assert s3.status_code == 403 and "<Code>AccessDenied</Code>" in s3.text


def test_a_busy_console_port_leaves_the_s3_endpoint_serving(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        server = LiveConsole(tmp_path, console_port=busy.getsockname()[1])
        server.start(wait_for=server.s3_port)
        try:
            answer = requests.get(server.endpoint + "/", timeout=10)
            assert answer.status_code == 403
            deadline = time.monotonic() + 10
            while "the console could not listen" not in server.log():
                assert time.monotonic() < deadline, server.log()
                time.sleep(0.05)
        finally:
            server.stop()
