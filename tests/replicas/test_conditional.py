"""Conditional writes that hold on an upstream that does not enforce them (issue 21).

Two `lakestow serve` replicas over one PostgreSQL catalog and an `rclone serve s3` upstream,
which answers 200 to a second `If-None-Match: *` PUT of a key (the probe at start finds it
out). Concurrent conditional writers of one key, spread over both replicas, must see exactly
one of them win, as on S3: PUTs, Completes, copies, with If-None-Match and with If-Match; and
three deltalake writers appending to one table through both replicas lose no commit. A third
replica set to `conditional_writes = refuse` answers them 501 instead.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import boto3
import httpx
import pyarrow as pa
import pytest
from botocore.client import BaseClient
from botocore.config import Config
from botocore.exceptions import ClientError
from deltalake import DeltaTable, write_deltalake

from live import BUCKET
from postgres import fresh_database
from replicas.conftest import Replica, over_rclone
from storage.upstream import Rclone

WRITERS = 16
SERIALIZED = (
    "not enforced (If-None-Match and If-Match not refused) by the upstream; "
    "serialized per key through the catalog"
)

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("conditional")]


@dataclass
class Lake:
    a: Replica
    b: Replica
    env: dict[str, str] = field(repr=False)
    home: str  # alice's folder
    issued: dict[str, str] = field(repr=False)  # alice's credentials

    def client(self, replica: Replica) -> BaseClient:
        return boto3.client(
            "s3",
            endpoint_url=replica.endpoint,
            region_name="us-east-1",
            aws_access_key_id=self.issued["AccessKeyId"],
            aws_secret_access_key=self.issued["SecretAccessKey"],
            aws_session_token=self.issued["SessionToken"],
            config=Config(
                s3={"addressing_style": "path"},
                retries={"total_max_attempts": 1},
                max_pool_connections=WRITERS,
            ),
        )

    def writers(self) -> list[BaseClient]:
        """WRITERS clients, every other one on each replica."""
        a, b = self.client(self.a), self.client(self.b)
        return [(a, b)[n % 2] for n in range(WRITERS)]


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lake]:
    root = tmp_path_factory.mktemp("conditional")
    rclone = Rclone(root / "upstream")
    upstream = rclone.start()
    upstream.client().create_bucket(Bucket=upstream.bucket)
    try:
        with fresh_database() as catalog_url:
            env, a, b, home = over_rclone(root, upstream, catalog_url)
            a.start()
            b.start()
            try:
                issued = json.loads(a.cli("credentials", "issue", "alice"))
                yield Lake(a, b, env, home, issued)
            finally:
                a.stop()
                b.stop()
    finally:
        rclone.stop()


def race(calls: list[Callable[[], Any]]) -> Counter[int]:
    """Run `calls` at once (released together by a barrier); each one's HTTP status."""
    start = threading.Barrier(len(calls))

    def run(call: Callable[[], Any]) -> int:
        start.wait()
        try:
            call()
        except ClientError as error:
            return int(error.response["ResponseMetadata"]["HTTPStatusCode"])
        return 200

    with ThreadPoolExecutor(len(calls)) as pool:
        return Counter(pool.map(run, calls))


def put(client: BaseClient, key: str, body: bytes, **condition: str) -> Callable[[], Any]:
    return lambda: client.put_object(Bucket=BUCKET, Key=key, Body=body, **condition)


def test_each_replica_says_it_serializes_conditional_writes(lake: Lake) -> None:
    for replica in (lake.a, lake.b):
        health = httpx.get(f"{replica.console}/health/ready", timeout=10).json()
        assert health["conditional_writes"] == SERIALIZED, health
        log = (replica.data_dir / "server.log").read_text()
        assert f"conditional writes (If-None-Match, If-Match): {SERIALIZED}" in log


def test_one_of_concurrent_if_none_match_puts_wins(lake: Lake) -> None:
    """16 writers, 8 on each replica, create one key with If-None-Match: *: one 200, fifteen
    412, and the object is the winner's (rclone alone would answer 200 to all 16)."""
    key = f"{lake.home}race/create"
    bodies = [f"writer {n}".encode() for n in range(WRITERS)]
    writers = lake.writers()
    outcome = race(
        [put(c, key, body, IfNoneMatch="*") for c, body in zip(writers, bodies, strict=True)]
    )
    assert outcome == Counter({200: 1, 412: WRITERS - 1}), outcome
    kept = writers[0].get_object(Bucket=BUCKET, Key=key)["Body"].read()
    assert kept in bodies
    # ... and a later one is refused too, whichever replica it reaches.
    assert race([put(writers[1], key, b"late", IfNoneMatch="*")]) == Counter({412: 1})


def test_one_of_concurrent_if_match_puts_wins(lake: Lake) -> None:
    """16 writers replace one object with If-Match on its current ETag: one wins; the others,
    whose ETag is stale from then on, get 412; the object is the winner's."""
    key = f"{lake.home}race/replace"
    writers = lake.writers()
    etag = writers[0].put_object(Bucket=BUCKET, Key=key, Body=b"version 0")["ETag"]
    bodies = [f"version 1 by writer {n}".encode() for n in range(WRITERS)]
    outcome = race(
        [put(c, key, body, IfMatch=etag) for c, body in zip(writers, bodies, strict=True)]
    )
    assert outcome == Counter({200: 1, 412: WRITERS - 1}), outcome
    got = writers[1].get_object(Bucket=BUCKET, Key=key)
    assert got["Body"].read() in bodies and got["ETag"] != etag
    # If-Match on a key with no object: 404 NoSuchKey, as S3 answers.
    with pytest.raises(ClientError) as missing:
        writers[0].put_object(Bucket=BUCKET, Key=f"{key}-none", Body=b"x", IfMatch=etag)
    assert missing.value.response["Error"]["Code"] == "NoSuchKey"


def test_one_of_concurrent_completes_and_copies_wins(lake: Lake) -> None:
    """Multipart uploads completed with If-None-Match: * and copies made with it, all racing
    for one key over both replicas: one of them wins."""
    key = f"{lake.home}race/completed"
    writers = lake.writers()[:8]
    source = f"{lake.home}race/source"
    writers[0].put_object(Bucket=BUCKET, Key=source, Body=b"copied")
    uploads = []
    for n, client in enumerate(writers[:4]):
        upload = client.create_multipart_upload(Bucket=BUCKET, Key=key)["UploadId"]
        part = client.upload_part(
            Bucket=BUCKET, Key=key, UploadId=upload, PartNumber=1, Body=f"part {n}".encode()
        )
        uploads.append((client, upload, part["ETag"]))

    def complete(client: BaseClient, upload: str, etag: str) -> Callable[[], Any]:
        return lambda: client.complete_multipart_upload(
            Bucket=BUCKET,
            Key=key,
            UploadId=upload,
            MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag}]},
            IfNoneMatch="*",
        )

    def copy(client: BaseClient) -> Callable[[], Any]:
        return lambda: client.copy_object(
            Bucket=BUCKET, Key=key, CopySource={"Bucket": BUCKET, "Key": source}, IfNoneMatch="*"
        )

    outcome = race([complete(*upload) for upload in uploads] + [copy(c) for c in writers[4:]])
    assert outcome == Counter({200: 1, 412: 7}), outcome
    kept = writers[1].get_object(Bucket=BUCKET, Key=key)["Body"].read()
    assert kept in {b"copied", *(f"part {n}".encode() for n in range(4))}


def test_conditional_deletes_are_decided_too(lake: Lake) -> None:
    key = f"{lake.home}race/deleted"
    client = lake.client(lake.a)
    etag = client.put_object(Bucket=BUCKET, Key=key, Body=b"keep me")["ETag"]
    with pytest.raises(ClientError) as stale:
        lake.client(lake.b).delete_object(Bucket=BUCKET, Key=key, IfMatch=f'"{"0" * 32}"')
    assert stale.value.response["Error"]["Code"] == "PreconditionFailed"
    assert client.get_object(Bucket=BUCKET, Key=key)["Body"].read() == b"keep me"
    lake.client(lake.b).delete_object(Bucket=BUCKET, Key=key, IfMatch=etag)
    with pytest.raises(ClientError) as gone:
        client.head_object(Bucket=BUCKET, Key=key)
    assert gone.value.response["Error"]["Code"] == "404"


def test_three_deltalake_writers_through_two_replicas_lose_no_commit(lake: Lake) -> None:
    """Three writers append 4 times each, concurrently, two through one replica and one
    through the other: every commit is in the table's history, every row in the table."""
    appends = 4

    def options(replica: Replica) -> dict[str, str]:
        return {
            "AWS_ACCESS_KEY_ID": lake.issued["AccessKeyId"],
            "AWS_SECRET_ACCESS_KEY": lake.issued["SecretAccessKey"],
            "AWS_SESSION_TOKEN": lake.issued["SessionToken"],
            "AWS_ENDPOINT_URL": replica.endpoint,
            "AWS_REGION": "us-east-1",
            "AWS_ALLOW_HTTP": "true",
            "conditional_put": "etag",  # commits with If-None-Match: *
        }

    def rows(writer: int, n: int) -> pa.Table:
        return pa.table({"writer": [writer] * 10, "append": [n] * 10, "i": list(range(10))})

    uri = f"s3://{BUCKET}/{lake.home}tables/events"
    write_deltalake(uri, rows(-1, 0), storage_options=options(lake.a))
    start = threading.Barrier(3)

    def append(writer: int) -> None:
        replica = (lake.a, lake.b)[writer % 2]
        start.wait()
        for n in range(appends):
            write_deltalake(uri, rows(writer, n), mode="append", storage_options=options(replica))

    with ThreadPoolExecutor(3) as pool:
        list(pool.map(append, range(3)))
    table = DeltaTable(uri, storage_options=options(lake.b))
    assert table.version() == 3 * appends
    history = table.history()
    assert len(history) == 3 * appends + 1, history
    assert Counter(c["operation"] for c in history) == {"WRITE": 3 * appends + 1}
    data = table.to_pyarrow_table()
    written = Counter(zip(data["writer"].to_pylist(), data["append"].to_pylist(), strict=True))
    expected = {(w, n): 10 for w in range(3) for n in range(appends)} | {(-1, 0): 10}
    assert written == expected


def test_a_replica_set_to_refuse_answers_501(lake: Lake, tmp_path: Any) -> None:
    c = Replica("c", tmp_path / "c", {**lake.env, "LAKESTOW_CONDITIONAL_WRITES": "refuse"})
    c.start()
    try:
        health = httpx.get(f"{c.console}/health/ready", timeout=10).json()
        assert health["conditional_writes"] == (
            "not enforced (If-None-Match and If-Match not refused) by the upstream; "
            "If-None-Match and If-Match refused (501)"
        )
        client = lake.client(c)
        key = f"{lake.home}refused"
        with pytest.raises(ClientError) as refused:
            client.put_object(Bucket=BUCKET, Key=key, Body=b"x", IfNoneMatch="*")
        error = refused.value.response["Error"]
        assert (error["Code"], refused.value.response["ResponseMetadata"]["HTTPStatusCode"]) == (
            "NotImplemented",
            501,
        )
        assert "conditional_writes = refuse" in error["Message"]
        with pytest.raises(ClientError):
            client.head_object(Bucket=BUCKET, Key=key)  # refused: nothing was written
        client.put_object(Bucket=BUCKET, Key=key, Body=b"unconditional")  # unaffected
        assert client.get_object(Bucket=BUCKET, Key=key)["Body"].read() == b"unconditional"
    finally:
        c.stop()
