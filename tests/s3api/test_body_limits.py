"""Issue 12, attack 3: a signed XML body (DeleteObjects, CompleteMultipartUpload) as large as the
sender likes. The server refuses it while it streams in, from Content-Length or from the bytes
decoded so far, and its memory stays flat; the largest legitimate bodies still pass."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.client import BaseClient
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from flood import ATTACK, RSS_GROWTH, MiB, Peak, chunked, filler, flood
from lakestow.paths import MAX_KEY_BYTES
from s3api.conftest import BUCKET, LiveServer

FRAMINGS = ("content-length", "chunked", "aws-chunked", "aws-chunked-declared")
"""How the body's end is told: Content-Length; HTTP chunks (no length at all); aws-chunked
with Content-Length the encoded length, without x-amz-decoded-content-length or with it."""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A server of the module's own, on the local store: its memory is this module's alone."""
    server = LiveServer.create(tmp_path_factory.mktemp("body-limits")).start()
    yield server
    server.stop()
    assert "Traceback" not in server.log(), server.log()


@pytest.fixture(scope="module")
def credentials(server: LiveServer) -> dict[str, Any]:
    return server.credentials("alice")


@pytest.fixture(scope="module")
def alice(server: LiveServer, credentials: dict[str, Any]) -> BaseClient:
    return server.client(credentials=credentials)


def _signed(
    server: LiveServer, c: dict[str, Any], target: str, mode: str, extra: dict[str, str]
) -> dict[str, str]:
    """Headers of a POST signed by botocore's SigV4 with x-amz-content-sha256 `mode` (its plain
    signer signs the header as given; the S3 one would put the hash of an empty body there)."""
    headers = {"X-Amz-Content-SHA256": mode, **extra}
    request = AWSRequest(method="POST", url=server.endpoint + target, headers=headers)
    credentials = Credentials(c["AccessKeyId"], c["SecretAccessKey"], c["SessionToken"])
    SigV4Auth(credentials, "s3", "us-east-1").add_auth(request)
    return {"host": f"127.0.0.1:{server.port}", **dict(request.headers.items())}


def _attack(
    server: LiveServer, c: dict[str, Any], target: str, framing: str, prefix: bytes
) -> tuple[int, str]:
    """A 300 MB XML body, unsigned payload, framed as `framing`: (status, error code)."""
    aws_chunked = framing.startswith("aws-chunked")
    mode = "STREAMING-UNSIGNED-PAYLOAD-TRAILER" if aws_chunked else "UNSIGNED-PAYLOAD"
    declared = {"x-amz-decoded-content-length": str(ATTACK)}
    headers = _signed(server, c, target, mode, declared if framing.endswith("declared") else {})
    body = filler(ATTACK, prefix)
    if framing == "content-length":
        headers["content-length"] = str(ATTACK)
    elif framing == "chunked":
        headers["transfer-encoding"] = "chunked"
        body = chunked(body)
    else:
        headers["content-encoding"] = "aws-chunked"
        encoded = sum(len(piece) for piece in chunked(filler(ATTACK, prefix)))
        headers["content-length"] = str(encoded)
        body = chunked(body)
    assert server.process is not None
    peak = Peak(server.process.pid)
    answer = flood(server.port, "POST", target, headers, body)
    grown = peak.growth
    assert grown < RSS_GROWTH, f"the server's RSS grew by {grown // MiB} MiB"
    assert answer.status is not None, f"no answer after {answer.sent // MiB} MiB were sent"
    assert answer.sent < ATTACK // 2, "the server read the body to the end"
    code = answer.body.decode().partition("<Code>")[2].partition("</Code>")[0]
    return answer.status, code


@pytest.mark.parametrize("framing", FRAMINGS)
def test_a_300_mb_delete_objects_body_is_refused_as_it_streams(
    server: LiveServer, credentials: dict[str, Any], alice: BaseClient, framing: str
) -> None:
    key = server.private("alice") + "kept"
    alice.put_object(Bucket=BUCKET, Key=key, Body=b"kept")
    prefix = f"<Delete><Object><Key>{key}</Key></Object><Object><Key>".encode()
    assert _attack(server, credentials, f"/{BUCKET}?delete", framing, prefix) == (
        400,
        "MaxMessageLengthExceeded",
    )
    assert alice.get_object(Bucket=BUCKET, Key=key)["Body"].read() == b"kept"


@pytest.mark.parametrize("framing", FRAMINGS)
def test_a_300_mb_complete_multipart_body_is_refused_as_it_streams(
    server: LiveServer, credentials: dict[str, Any], alice: BaseClient, framing: str
) -> None:
    key = server.private("alice") + f"upload-{framing}"
    upload = alice.create_multipart_upload(Bucket=BUCKET, Key=key)["UploadId"]
    etag = alice.upload_part(Bucket=BUCKET, Key=key, UploadId=upload, PartNumber=1, Body=b"x")[
        "ETag"
    ]
    part = f"<Part><PartNumber>1</PartNumber><ETag>{etag}</ETag></Part>"
    prefix = f"<CompleteMultipartUpload>{part}<Part><ETag>".encode()
    target = f"/{BUCKET}/{quote(key)}?uploadId={quote(upload)}"
    assert _attack(server, credentials, target, framing, prefix) == (
        400,
        "MaxMessageLengthExceeded",
    )
    assert len(alice.list_parts(Bucket=BUCKET, Key=key, UploadId=upload)["Parts"]) == 1
    alice.abort_multipart_upload(Bucket=BUCKET, Key=key, UploadId=upload)


def test_a_1000_key_delete_of_the_longest_most_escaped_keys_passes(
    server: LiveServer, alice: BaseClient
) -> None:
    """1,000 keys of 1,024 bytes that are nearly all `&` (`&amp;` in XML): about 5 MB."""
    home = server.private("alice") + "long/"
    keys = [f"{home}{i:04d}".ljust(MAX_KEY_BYTES, "&") for i in range(1000)]
    for key in keys[:3]:
        alice.put_object(Bucket=BUCKET, Key=key, Body=b"x")
    result = alice.delete_objects(
        Bucket=BUCKET, Delete={"Objects": [{"Key": key} for key in keys], "Quiet": True}
    )
    assert result.get("Errors", []) == []
    assert alice.list_objects_v2(Bucket=BUCKET, Prefix=home)["KeyCount"] == 0


def test_a_10000_part_complete_with_checksums_is_read_whole(
    server: LiveServer, alice: BaseClient
) -> None:
    """10,000 parts, each with its ETag and four checksums (about 3 MB of XML), are read and
    judged on their parts (InvalidPart: only part 1 exists), not refused for their size."""
    key = server.private("alice") + "many-parts"
    upload = alice.create_multipart_upload(Bucket=BUCKET, Key=key)["UploadId"]
    alice.upload_part(Bucket=BUCKET, Key=key, UploadId=upload, PartNumber=1, Body=b"x")
    sha256 = base64.b64encode(hashlib.sha256(b"x").digest()).decode()
    sha1 = base64.b64encode(hashlib.sha1(b"x").digest()).decode()
    parts = [
        {
            "PartNumber": n,
            "ETag": f'"{hashlib.md5(str(n).encode()).hexdigest()}"',
            "ChecksumCRC32": "jHNlIQ==",
            "ChecksumCRC32C": "BjJHvw==",
            "ChecksumSHA1": sha1,
            "ChecksumSHA256": sha256,
        }
        for n in range(1, 10_001)
    ]
    with pytest.raises(ClientError) as refused:
        alice.complete_multipart_upload(
            Bucket=BUCKET, Key=key, UploadId=upload, MultipartUpload={"Parts": parts}
        )
    assert refused.value.response["Error"]["Code"] == "InvalidPart"
    alice.abort_multipart_upload(Bucket=BUCKET, Key=key, UploadId=upload)


def test_the_server_still_serves(server: LiveServer, alice: BaseClient) -> None:
    key = server.private("alice") + "after"
    alice.put_object(Bucket=BUCKET, Key=key, Body=b"fine")
    assert alice.get_object(Bucket=BUCKET, Key=key)["Body"].read() == b"fine"
