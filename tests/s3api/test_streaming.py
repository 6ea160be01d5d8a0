"""A large GET streams through the server on every store: it never holds the object in memory."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from live import serving
from s3api.conftest import BUCKET, LiveServer, Store

MiB = 1024 * 1024
SIZE = 96 * MiB


def _peak_rss(server: LiveServer) -> int:
    """The server's peak resident set size so far (VmHWM), in bytes: of the process that
    grew most, with several workers."""
    assert server.process is not None
    return max(_hwm(pid) for pid in serving(server.process.pid))


def _hwm(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    line = next(line for line in status.splitlines() if line.startswith("VmHWM:"))
    return int(line.split()[1]) * 1024


def test_a_large_get_is_streamed(tmp_path: Path, store: Store) -> None:
    server = LiveServer.create(tmp_path / "stream", store).start()  # its own peak RSS
    try:
        client = server.client("alice")
        key = server.private("alice") + "large.bin"
        block = os.urandom(MiB)
        client.put_object(Bucket=BUCKET, Key=key, Body=block * (SIZE // MiB))
        before = _peak_rss(server)
        body = client.get_object(Bucket=BUCKET, Key=key)["Body"]
        got = hashlib.md5()
        while chunk := body.read(MiB):
            got.update(chunk)
        assert got.hexdigest() == hashlib.md5(block * (SIZE // MiB)).hexdigest()
        grown = _peak_rss(server) - before
        assert grown < SIZE // 4, f"the server's peak RSS grew by {grown // MiB} MiB"
    finally:
        server.stop()
    assert "Traceback" not in server.log(), server.log()
