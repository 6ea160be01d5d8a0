"""The warehouse trash: organizations' buckets keep versions from the server's start, and the
server's purge step removes what went noncurrent longer ago than each organization's
retention (driven here with a given `now` over the real local store), never a current object.
A live `lakestow serve` and the real `lakestow org purge` do the same for users."""

from __future__ import annotations

import json
import logging
import subprocess
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import anyio
import boto3
import pytest

from lakestow import config, trash
from lakestow.datadir import Opened
from lakestow.errors import Unsupported
from lakestow.runtime import OrgCache, Runtime
from lakestow.server import purge_trash
from lakestow.storage.protocol import ENABLED, ObjectStore
from lakestow.storage.registry import open_store
from live import BIN, free_port, lakestow, serve

HOUR = timedelta(hours=1)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def runtime(opened: Opened) -> AsyncIterator[Runtime]:
    """A server's runtime over three organizations: acme (1 hour) and globex (0: none) share
    the bucket `lakestow`, initech (30 days, the default) has a bucket of its own."""
    from lakestow.server import open_runtime

    orgs = opened.services("test").orgs
    orgs.create_org("acme", retention=3600)
    orgs.create_org("globex", retention=0)
    orgs.create_org("initech", bucket="initech")
    async with open_runtime(opened) as started:
        yield started


async def put(store: ObjectStore, key: str, body: bytes, bucket: str = "lakestow") -> str:
    async def chunks() -> AsyncIterator[bytes]:
        yield body

    info = await store.put(bucket, key, chunks())
    assert info.version_id
    return info.version_id


async def versions(store: ObjectStore, bucket: str, prefix: str) -> list[tuple[str, bool, bool]]:
    """(key, is latest, is a delete marker) of every version under `prefix`, in order."""
    page = await store.list_versions(bucket, prefix=prefix)
    assert not page.is_truncated
    return [(v.info.key, v.is_latest, v.delete_marker) for v in page.versions]


async def read(store: ObjectStore, key: str, bucket: str = "lakestow") -> bytes:
    got = await store.get(bucket, key)
    return b"".join([chunk async for chunk in got.body])


@pytest.mark.anyio
async def test_org_buckets_keep_versions_from_the_start(runtime: Runtime) -> None:
    for bucket in ("lakestow", "initech"):
        assert await runtime.store.get_versioning(bucket) == ENABLED
    assert runtime.orgs.buckets == {"lakestow", "initech"}


@pytest.mark.anyio
async def test_the_purge_step_removes_only_what_retention_lets_go(runtime: Runtime) -> None:
    store = runtime.store
    await put(store, "acme/data/shared/k", b"1")
    await put(store, "acme/data/shared/k", b"22")  # "1" noncurrent from here
    await put(store, "acme/data/shared/gone", b"gone")
    await store.delete("lakestow", "acme/data/shared/gone")  # a delete marker on top
    await put(store, "globex/data/shared/k", b"g1")
    await put(store, "globex/data/shared/k", b"g2")
    await put(store, "initech/data/shared/k", b"i1", bucket="initech")
    await put(store, "initech/data/shared/k", b"i2", bucket="initech")
    await anyio.sleep(0.05)
    cut = datetime.now(UTC)
    await anyio.sleep(0.05)
    await put(store, "acme/data/shared/k", b"333")  # "22" noncurrent after the cut

    # An hour after the cut: acme loses what went noncurrent before it, globex (retention 0)
    # all it kept, initech (30 days) nothing. Twice, as two replicas would: no harm.
    first = await purge_trash(runtime, cut + HOUR)
    second = await purge_trash(runtime, cut + HOUR)
    assert first["globex"] == 1 and first["initech"] == 0
    assert first["acme"] + second["acme"] == 3  # "1", "gone" and then its lone marker
    assert await purge_trash(runtime, cut + HOUR) == {"acme": 0, "globex": 0, "initech": 0}
    assert await versions(store, "lakestow", "acme/") == [
        ("acme/data/shared/k", True, False),
        ("acme/data/shared/k", False, False),  # "22": within the hour still
    ]
    assert await versions(store, "lakestow", "globex/") == [("globex/data/shared/k", True, False)]
    assert len(await versions(store, "initech", "initech/")) == 2

    # Ten years on, every noncurrent version is gone; no current object ever is.
    removed = await purge_trash(runtime, cut + timedelta(days=3650))
    assert removed == {"acme": 1, "globex": 0, "initech": 1}
    assert await read(store, "acme/data/shared/k") == b"333"
    assert await read(store, "globex/data/shared/k") == b"g2"
    assert await read(store, "initech/data/shared/k", bucket="initech") == b"i2"
    usage = await trash.usage(store, runtime.orgs.orgs[1])
    assert usage is not None and (usage.retained_versions, usage.current_objects) == (0, 1)
    entries = runtime.services("test").audit_log(50)  # the audit writer is a thread: wait
    with anyio.fail_after(5):
        while not any(e.action == "org.purge" for e in entries):
            await anyio.sleep(0.05)
            entries = runtime.services("test").audit_log(50)
    purged = [e for e in entries if e.action == "org.purge"]
    assert {e.actor for e in purged} == {"lakestow:trash"}


@dataclass
class Counting:
    """A store whose purges are counted, batch by batch."""

    store: ObjectStore
    batches: list[int] = field(default_factory=list)

    async def purge_versions(self, bucket: str, **options: Any) -> int:
        count = await self.store.purge_versions(bucket, **options)
        self.batches.append(count)
        return count


@pytest.mark.anyio
async def test_a_backlog_is_purged_in_bounded_batches(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(trash, "BATCH", 2)
    for i in range(6):
        await put(runtime.store, "acme/data/shared/many", str(i).encode())
    counting = Counting(runtime.store)
    acme = runtime.orgs.orgs[1]
    far = datetime.now(UTC) + timedelta(days=1)
    assert await trash.purge_org(cast(ObjectStore, counting), acme, far) == 5
    assert counting.batches == [2, 2, 1]
    assert await read(runtime.store, "acme/data/shared/many") == b"5"


@dataclass
class CannotVersion:
    """A store in front of an upstream that cannot keep versions (as the s3 backend may be)."""

    store: ObjectStore

    async def create_bucket(self, name: str) -> None:
        await self.store.create_bucket(name)

    async def get_versioning(self, bucket: str) -> str | None:
        return None

    async def put_versioning(self, bucket: str, status: str) -> None:
        raise Unsupported("the upstream does not keep versions")

    async def purge_versions(self, bucket: str, **options: Any) -> int:
        raise Unsupported("the upstream does not keep versions")


@pytest.mark.anyio
async def test_a_store_that_cannot_keep_versions_is_one_warning_not_a_failed_start(
    runtime: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    store = cast(ObjectStore, CannotVersion(runtime.store))
    cache = OrgCache(runtime.services("test"), store)
    with caplog.at_level(logging.WARNING, logger="lakestow"):
        await cache.load()
    assert len(cache.orgs) == 3
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2  # one per bucket, not per organization
    assert all("cannot keep versions" in w and "no trash" in w for w in warnings)
    orgs = list(cache.orgs.values())
    assert await trash.purge_step(store, orgs, datetime.now(UTC)) == {}


def test_a_live_server_keeps_versions_and_an_admin_purges_them(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    lakestow(data_dir, "init")
    lakestow(data_dir, "org", "create", "acme", "--retention", "7d")
    lakestow(data_dir, "user", "create", "alice", "--org", "acme")
    home = f"acme/data/{json.loads(lakestow(data_dir, 'user', 'list', '--json'))[0]['folder']}/"
    s3_port = free_port()
    server = serve(data_dir, s3_port, free_port())
    try:
        issued = json.loads(lakestow(data_dir, "credentials", "issue", "alice"))
        s3 = boto3.client(
            "s3",
            endpoint_url=f"http://127.0.0.1:{s3_port}",
            region_name="us-east-1",
            aws_access_key_id=issued["AccessKeyId"],
            aws_secret_access_key=issued["SecretAccessKey"],
            aws_session_token=issued["SessionToken"],
        )
        for body in (b"first", b"second", b"third"):
            s3.put_object(Bucket="lakestow", Key=home + "notes.txt", Body=body)
        # The server holds the local store: an admin is told to stop it, nothing changes.
        refused = subprocess.run(
            [str(BIN / "lakestow"), "--data-dir", str(data_dir), "org", "purge", "acme"],
            capture_output=True,
            text=True,
            check=False,
        )
        assert refused.returncode == 1 and refused.stdout == ""
        assert len(refused.stderr.splitlines()) == 1 and "stop it first" in refused.stderr
    finally:
        server.terminate()
        server.wait(10)
    # Within the 7 days: nothing goes; at --older-than 0, both older versions.
    purged = lakestow(data_dir, "org", "purge", "acme")
    assert purged == "purged 0 version(s) from the trash of acme\n"
    purged = lakestow(data_dir, "org", "purge", "acme", "--older-than", "0")
    assert purged == "purged 2 version(s) from the trash of acme\n"

    async def check() -> None:
        settings = config.load(data_dir, environ={})
        store = await open_store(settings.resolved_store_url)
        try:
            assert await store.get_versioning("lakestow") == ENABLED
            assert await versions(store, "lakestow", "") == [(home + "notes.txt", True, False)]
        finally:
            await store.aclose()

    anyio.run(check)
    log = (data_dir / "server.log").read_text()
    assert "Traceback" not in log and "cannot keep versions" not in log
