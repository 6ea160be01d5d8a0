"""SIGKILL of the server in the middle of writes: every acknowledged object survives intact and
no partial object ever becomes visible."""

from __future__ import annotations

import hashlib
import random
import signal
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from botocore.exceptions import BotoCoreError, ClientError

from s3api.conftest import BUCKET, LiveServer, Store

MiB = 1024 * 1024


def _content(key: str) -> bytes:
    """Deterministic bytes of a size that depends on the key (1-6 MiB)."""
    seed = hashlib.sha256(key.encode()).digest()
    size = MiB + int.from_bytes(seed[:2], "big") % (5 * MiB)
    return (seed * (size // len(seed) + 1))[:size]


@pytest.mark.parametrize("workers", [None, 1], ids=["workers-per-core", "one-worker"])
def test_sigkill_during_twenty_concurrent_uploads(
    tmp_path: Path, store: Store, workers: int | None
) -> None:
    if workers == 1 and store.name != "local":
        pytest.skip("one worker or several: the difference is the local store's")
    server = LiveServer.create(tmp_path / "crash", store).start(workers)
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


def test_sigkill_during_versioned_writes_and_deletes_of_the_same_keys(
    tmp_path: Path, store: Store
) -> None:
    """Twenty clients PUT and DELETE five keys of a versioned warehouse (every organization's
    keeps its versions) until SIGKILL: after a restart every acknowledged version and delete
    marker is listed and every acknowledged version reads whole, and each key's history is
    consistent (one latest, which is what a GET answers)."""
    server = LiveServer.create(tmp_path / "crash-versions", store).start()
    try:
        client = server.client("alice", max_pool_connections=20)
        home = server.private("alice") + "versions/"
        keys = [f"{home}k{n}" for n in range(5)]
        acknowledged: dict[tuple[str, str], str | None] = {}  # (key, version) -> MD5 or marker
        for key in keys:  # held before any delete: moto makes no marker for a key it never held
            body = f"{key} first ".encode()
            first = client.put_object(Bucket=BUCKET, Key=key, Body=body)["VersionId"]
            acknowledged[key, first] = hashlib.md5(body).hexdigest()
        lock = threading.Lock()
        enough = threading.Event()

        def work(worker: int) -> None:
            rng = random.Random(worker)
            for round_ in range(100_000):
                key = rng.choice(keys)
                try:
                    if rng.random() < 0.75:
                        body = f"{key} {worker} {round_} ".encode() * rng.choice((3, 30_000))
                        answer = client.put_object(Bucket=BUCKET, Key=key, Body=body)
                        made: str | None = hashlib.md5(body).hexdigest()
                    else:
                        answer = client.delete_object(Bucket=BUCKET, Key=key)
                        made = None
                except (ClientError, BotoCoreError):
                    return  # the server is gone
                with lock:
                    acknowledged[key, answer["VersionId"]] = made
                    if len(acknowledged) >= 150:
                        enough.set()

        with ThreadPoolExecutor(20) as pool:
            futures = [pool.submit(work, n) for n in range(20)]
            assert enough.wait(120), "the writes did not get going"
            server.stop(signal.SIGKILL)
            for future in futures:
                future.result()

        server.start()
        client = server.client("alice")
        listed: dict[tuple[str, str], bool] = {}  # (key, version) -> is a marker
        latest: dict[str, list[tuple[str, bool]]] = {}
        pages = client.get_paginator("list_object_versions").paginate(Bucket=BUCKET, Prefix=home)
        for page in pages:
            for kind, marker in (("Versions", False), ("DeleteMarkers", True)):
                for item in page.get(kind, []):
                    listed[item["Key"], item["VersionId"]] = marker
                    if item["IsLatest"]:
                        latest.setdefault(item["Key"], []).append((item["VersionId"], marker))
        for (key, version), made in acknowledged.items():
            assert (key, version) in listed, f"acknowledged {key} {version} was lost"
            assert listed[key, version] == (made is None), (key, version)
            if made is not None:
                body = client.get_object(Bucket=BUCKET, Key=key, VersionId=version)["Body"].read()
                assert hashlib.md5(body).hexdigest() == made, (key, version)
        assert len(listed) - len(acknowledged) <= 20, "at most the writes in flight may have landed"
        for key in keys:
            (version, marker), *more = latest[key]
            assert not more, f"{key} has more than one latest version"
            if marker:
                with pytest.raises(ClientError) as missing:
                    client.head_object(Bucket=BUCKET, Key=key)
                assert missing.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
            else:
                assert client.head_object(Bucket=BUCKET, Key=key)["VersionId"] == version
    finally:
        server.stop()
    assert "Traceback" not in server.log(), server.log()
