"""SIGKILL of the server in the middle of writes: every acknowledged object survives intact and
no partial object ever becomes visible."""

from __future__ import annotations

import hashlib
import signal
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from botocore.exceptions import BotoCoreError, ClientError

from s3api.conftest import BUCKET, LiveServer, Store

MiB = 1024 * 1024


def _content(key: str) -> bytes:
    """Deterministic bytes of a size that depends on the key (1-6 MiB)."""
    seed = hashlib.sha256(key.encode()).digest()
    size = MiB + int.from_bytes(seed[:2], "big") % (5 * MiB)
    return (seed * (size // len(seed) + 1))[:size]


def test_sigkill_during_twenty_concurrent_uploads(tmp_path: Path, store: Store) -> None:
    server = LiveServer.create(tmp_path / "crash", store).start()
    try:
        client = server.client("alice", max_pool_connections=20)
        home = server.private("alice") + "crash/"
        acknowledged: set[str] = set()
        lock = threading.Lock()
        enough = threading.Event()

        def upload(i: int) -> None:
            for round_ in range(1000):
                key = f"{home}w{i:02d}-r{round_:03d}"
                try:
                    client.put_object(Bucket=BUCKET, Key=key, Body=_content(key))
                except (ClientError, BotoCoreError):
                    return  # the server is gone
                with lock:
                    acknowledged.add(key)
                    if len(acknowledged) >= 60:
                        enough.set()

        with ThreadPoolExecutor(20) as pool:
            futures = [pool.submit(upload, i) for i in range(20)]
            assert enough.wait(120), "the uploads did not get going"
            server.stop(signal.SIGKILL)
            for future in futures:
                future.result()
        assert len(acknowledged) >= 60

        server.start()
        client = server.client("alice")
        listed = [
            o["Key"]
            for page in client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=home)
            for o in page.get("Contents", [])
        ]
        assert acknowledged <= set(listed), "an acknowledged upload was lost"
        for key in listed:  # every visible object is whole: acknowledged or not
            assert client.get_object(Bucket=BUCKET, Key=key)["Body"].read() == _content(key), key
        assert len(listed) - len(acknowledged) <= 20, (
            "at most the in-flight uploads may have landed"
        )
    finally:
        server.stop()
    assert "Traceback" not in server.log(), server.log()
    store.check_used(server)
