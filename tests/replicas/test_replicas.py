"""Two replicas sharing a catalog, an upstream and a key file (see conftest.py): what one
replica does, the other sees, and a replica killed with SIGKILL loses nothing acknowledged.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from botocore.client import BaseClient
from botocore.exceptions import BotoCoreError, ClientError

from live import BUCKET
from replicas.conftest import PASSWORD, Deployment, Replica, credentials_from

MiB = 1024 * 1024


def test_credentials_issued_on_one_replica_work_on_the_other(deployment: Deployment) -> None:
    credentials = credentials_from(deployment.a)
    key = deployment.alice_folder + "issued-on-a.txt"
    deployment.b.client(credentials).put_object(Bucket=BUCKET, Key=key, Body=b"hello from b")
    body = deployment.a.client(credentials).get_object(Bucket=BUCKET, Key=key)["Body"].read()
    assert body == b"hello from b"


def test_an_upload_through_one_is_listed_and_read_through_the_other(
    deployment: Deployment,
) -> None:
    credentials = credentials_from(deployment.b)
    a, b = deployment.a.client(credentials), deployment.b.client(credentials)
    folder = deployment.alice_folder + "shared-view/"
    data = os.urandom(3 * MiB + 17)
    etag = a.put_object(Bucket=BUCKET, Key=folder + "blob.bin", Body=data)["ETag"]
    listed = b.list_objects_v2(Bucket=BUCKET, Prefix=folder)["Contents"]
    assert [(o["Key"], o["Size"], o["ETag"]) for o in listed] == [
        (folder + "blob.bin", len(data), etag)
    ]
    assert b.get_object(Bucket=BUCKET, Key=folder + "blob.bin")["Body"].read() == data
    # ...and the upstream holds it under the store's prefix, with lakestow's own credentials.
    upstream_keys = [
        o["Key"]
        for o in deployment.upstream.client()
        .list_objects_v2(Bucket=deployment.upstream.bucket, Prefix="lake/")
        .get("Contents", [])
    ]
    assert any(k.endswith("shared-view/blob.bin") for k in upstream_keys)


def test_a_multipart_upload_started_on_one_completes_on_the_other(
    deployment: Deployment,
) -> None:
    credentials = credentials_from(deployment.a)
    a, b = deployment.a.client(credentials), deployment.b.client(credentials)
    key = deployment.alice_folder + "multipart/across.bin"
    parts_data = [os.urandom(5 * MiB), os.urandom(5 * MiB), os.urandom(1234)]
    upload_id = a.create_multipart_upload(Bucket=BUCKET, Key=key)["UploadId"]
    assert [u["UploadId"] for u in b.list_multipart_uploads(Bucket=BUCKET)["Uploads"]] == [
        upload_id
    ]
    parts = []
    for number, (client, data) in enumerate(zip((a, b, a), parts_data, strict=True), start=1):
        etag = client.upload_part(
            Bucket=BUCKET, Key=key, UploadId=upload_id, PartNumber=number, Body=data
        )["ETag"]
        parts.append({"PartNumber": number, "ETag": etag})
    listed = b.list_parts(Bucket=BUCKET, Key=key, UploadId=upload_id)["Parts"]
    assert [(p["PartNumber"], p["ETag"]) for p in listed] == [
        (p["PartNumber"], p["ETag"]) for p in parts
    ]
    done = b.complete_multipart_upload(
        Bucket=BUCKET, Key=key, UploadId=upload_id, MultipartUpload={"Parts": parts}
    )
    assert done["ETag"].strip('"').endswith("-3")
    assert a.get_object(Bucket=BUCKET, Key=key)["Body"].read() == b"".join(parts_data)


def _refused_within(client: BaseClient, key: str, code: str, seconds: float) -> float:
    """Seconds until `client` is refused with the S3 error `code`, polling; fails after
    `seconds`."""
    start = time.monotonic()
    while time.monotonic() - start < seconds:
        try:
            client.get_object(Bucket=BUCKET, Key=key)
        except ClientError as exc:
            refused = exc.response["Error"]["Code"]
        else:
            time.sleep(0.1)
            continue
        assert refused == code, f"refused with {refused}, not {code}"
        return time.monotonic() - start
    raise AssertionError(f"still accepted {seconds} s after the revocation")


def test_a_revocation_on_one_is_refused_by_the_other_within_seconds(
    deployment: Deployment,
) -> None:
    credentials = credentials_from(deployment.a, "bob")
    on_b = deployment.b.client(credentials)
    key = "acme/data/shared/revocation-probe.txt"
    on_b.put_object(Bucket=BUCKET, Key=key, Body=b"before")
    # The revocation is made through replica a's environment (the admin command line).
    deployment.a.cli("credentials", "revoke", "--access-key-id", credentials["AccessKeyId"])
    # Within the refresh interval (2 s by default) plus one reload, never more than a few s.
    _refused_within(on_b, key, "InvalidToken", seconds=6)


def test_a_member_disabled_in_the_console_of_one_is_refused_by_the_other(
    deployment: Deployment,
) -> None:
    credentials = credentials_from(deployment.b, "mallory")
    on_b = deployment.b.client(credentials)
    key = "acme/data/shared/disable-probe.txt"
    on_b.put_object(Bucket=BUCKET, Key=key, Body=b"before")
    admin, csrf = deployment.a.sign_in("root")
    try:
        response = admin.post(
            "/api/admin/members",
            json={"action": "disable", "name": "mallory"},
            headers={"x-csrf-token": csrf},
        )
    finally:
        admin.close()
    assert response.status_code == 200, response.text
    _refused_within(on_b, key, "AccessDenied", seconds=6)


def test_a_console_session_made_on_one_is_valid_on_the_other(deployment: Deployment) -> None:
    http, csrf = deployment.a.sign_in("alice")
    on_b = httpx.Client(base_url=deployment.b.console, cookies=http.cookies)
    with contextlib.closing(http), on_b:
        assert on_b.get("/api/me").json()["name"] == "alice"
        folder = on_b.post(
            "/api/folder",
            json={"path": "/data/" + deployment.alice_folder.split("/")[2] + "/made-on-b/"},
            headers={"x-csrf-token": csrf},
        )
        assert folder.status_code in (200, 201), folder.text
        # Signing out on b ends the session on a too.
        assert on_b.delete("/api/session", headers={"x-csrf-token": csrf}).status_code == 200
        assert http.get("/api/me").status_code == 401


def test_sign_in_failures_count_across_replicas(deployment: Deployment) -> None:
    for replica in (deployment.a, deployment.b) * 3:  # 6 failures, more than the lock-out's 5
        with httpx.Client(base_url=replica.console) as http:
            wrong = http.post("/api/session", json={"name": "eve", "password": "wrong"})
            assert wrong.status_code in (401, 429), wrong.text
    with httpx.Client(base_url=deployment.a.console) as http:
        locked = http.post("/api/session", json={"name": "eve", "password": PASSWORD})
    assert locked.status_code == 429, locked.text


def _content(key: str) -> bytes:
    seed = hashlib.sha256(key.encode()).digest()
    size = 256 * 1024 + int.from_bytes(seed[:2], "big") % MiB
    return (seed * (size // len(seed) + 1))[:size]


def test_sigkill_of_one_replica_during_uploads(deployment: Deployment, tmp_path: Path) -> None:
    doomed = Replica("c", tmp_path / "c", deployment.env).start()
    credentials = credentials_from(deployment.b)
    clients = {
        "b": deployment.b.client(credentials, max_pool_connections=16),
        "c": doomed.client(credentials, max_pool_connections=16),
    }
    folder = deployment.alice_folder + "kill/"
    acknowledged: dict[str, str] = {}
    failed_on_b: list[BaseException] = []
    lock = threading.Lock()
    enough = threading.Event()

    def upload(worker: int) -> None:
        """Workers on c upload until c is gone; workers on b upload 40 objects each, most of
        them after c was killed."""
        via = "c" if worker % 2 else "b"
        for n in range(40 if via == "b" else 1000):
            key = f"{folder}{via}-w{worker}-{n:03d}"
            try:
                clients[via].put_object(Bucket=BUCKET, Key=key, Body=_content(key))
            except (ClientError, BotoCoreError) as exc:
                if via == "b":
                    with lock:
                        failed_on_b.append(exc)
                return
            with lock:
                acknowledged[key] = via
                if sum(1 for v in acknowledged.values() if v == "c") >= 20:
                    enough.set()
            if via == "b" and not enough.is_set():
                enough.wait(60)  # b's uploads mostly run while c is dead

    with ThreadPoolExecutor(8) as pool:
        futures = [pool.submit(upload, worker) for worker in range(8)]
        assert enough.wait(120), "the uploads did not get going"
        doomed.stop(signal.SIGKILL)
        for future in futures:
            future.result()
    assert failed_on_b == [], "the surviving replica failed requests"
    assert sum(1 for via in acknowledged.values() if via == "b") == 4 * 40
    reader = deployment.b.client(credentials)
    for key in acknowledged:
        assert reader.get_object(Bucket=BUCKET, Key=key)["Body"].read() == _content(key), key
    listed = {
        o["Key"]: o["Size"]
        for page in reader.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=folder)
        for o in page.get("Contents", [])
    }
    assert set(acknowledged) <= set(listed)
    for key, size in listed.items():  # anything else listed is whole, never partial
        assert size == len(_content(key)), key
