"""Checksums kept and returned as S3 keeps them, verified end to end by real clients.

The S3 User Guide, "Checking object integrity": "S3 stores both the checksum value as object
metadata and the object itself. To verify object integrity, you can request the checksum
value during downloads." boto3 (botocore >= 1.36) sends a CRC32 with every upload by default
(`request_checksum_calculation="when_supported"`) and checks the checksum a download answers
with (`response_checksum_validation="when_supported"`); the clients here keep those defaults.
"""

from __future__ import annotations

import base64
import hashlib
import os
import zlib
from pathlib import Path
from typing import Any

import httpx
import pytest
from boto3.s3.transfer import TransferConfig
from botocore import httpchecksum
from botocore.client import BaseClient
from botocore.exceptions import ClientError

from s3api.conftest import BUCKET, LiveServer
from s3api.signing import chunked_put, signed, url_of

MiB = 1024 * 1024
ALGORITHMS = ("CRC32", "CRC32C", "CRC64NVME", "SHA1", "SHA256")


@pytest.fixture
def home(live: LiveServer, request: pytest.FixtureRequest) -> str:
    name = "".join(c if c.isalnum() else "-" for c in request.node.name.lower())
    return f"{live.private('alice')}checksums-{name}/"


def b64sum(algorithm: str, data: bytes) -> str:
    """`data`'s checksum as botocore computes it."""
    running = httpchecksum._CHECKSUM_CLS[algorithm.lower()]()
    running.update(data)
    return base64.b64encode(running.digest()).decode()


def composite(algorithm: str, parts: list[bytes]) -> str:
    """A COMPOSITE checksum as the S3 User Guide defines it: the checksum of the parts'
    checksums, followed by the number of parts."""
    digests = b"".join(base64.b64decode(b64sum(algorithm, part)) for part in parts)
    return f"{b64sum(algorithm, digests)}-{len(parts)}"


def validated(answer: dict[str, Any]) -> str | None:
    """The algorithm botocore checked a GetObject answer's body against (it notes it in the
    answer's ResponseMetadata), None when it checked none."""
    algorithm: str | None = answer["ResponseMetadata"].get("ChecksumAlgorithm")
    return algorithm


def _error(call: Any, **kwargs: Any) -> tuple[int, str]:
    with pytest.raises(ClientError) as caught:
        call(**kwargs)
    response = caught.value.response
    return response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Code"]


def test_boto3_defaults_verify_uploads_and_downloads_end_to_end(
    live: LiveServer, home: str, tmp_path: Path
) -> None:
    """boto3 with its default checksum settings: a PUT sends a CRC32, which S3 keeps and
    answers with ("x-amz-checksum-type ... For PutObject uploads, the checksum type is always
    FULL_OBJECT"); a GET sent with x-amz-checksum-mode ENABLED (boto3's default) gets it back
    and botocore checks the body against it; a ranged GET gets none (it is of the whole).
    upload_file with a small multipart threshold gives each part a CRC32 (a COMPOSITE
    checksum, `-<parts>`, which clients do not check bytes against), and a GET of one part
    answers with that part's own checksum, which botocore checks."""
    alice = live.client("alice")
    data = os.urandom(300_000)
    put = alice.put_object(Bucket=BUCKET, Key=home + "one", Body=data)
    assert (put["ChecksumCRC32"], put["ChecksumType"]) == (b64sum("CRC32", data), "FULL_OBJECT")
    got = alice.get_object(Bucket=BUCKET, Key=home + "one")
    assert got["Body"].read() == data
    assert (got["ChecksumCRC32"], got["ChecksumType"]) == (put["ChecksumCRC32"], "FULL_OBJECT")
    assert validated(got) == "crc32"
    ranged = alice.get_object(Bucket=BUCKET, Key=home + "one", Range="bytes=10-99")
    assert ranged["Body"].read() == data[10:100]
    assert ("ChecksumCRC32" in ranged, validated(ranged)) == (False, None)
    plain = alice.head_object(Bucket=BUCKET, Key=home + "one")  # not asked for: not told
    assert "ChecksumCRC32" not in plain

    big = tmp_path / "big"
    parts = [os.urandom(5 * MiB), os.urandom(1000)]
    big.write_bytes(b"".join(parts))
    config = TransferConfig(multipart_threshold=5 * MiB, multipart_chunksize=5 * MiB)
    alice.upload_file(str(big), BUCKET, home + "big", Config=config)
    head = alice.head_object(Bucket=BUCKET, Key=home + "big", ChecksumMode="ENABLED")
    assert (head["ChecksumCRC32"], head["ChecksumType"]) == (
        composite("CRC32", parts),
        "COMPOSITE",
    )
    alice.download_file(BUCKET, home + "big", str(tmp_path / "back"))
    assert (tmp_path / "back").read_bytes() == big.read_bytes()


def test_a_part_is_read_with_its_own_checksum(live: LiveServer, home: str) -> None:
    """GET ?partNumber=N of a multipart object answers with the part's checksum (the S3 User
    Guide: "you can retrieve the checksum value for individual parts by using GetObject or
    HeadObject"), which botocore checks the part's bytes against; of a single-part object,
    part 1 is all of it, with the object's checksum."""
    alice = live.client("alice")
    key = home + "parts"
    parts = [os.urandom(5 * MiB), b"the second part"]
    uid, listed = _upload(alice, key, parts, "CRC32")
    alice.complete_multipart_upload(
        Bucket=BUCKET, Key=key, UploadId=uid, MultipartUpload={"Parts": listed}
    )
    second = alice.get_object(Bucket=BUCKET, Key=key, PartNumber=2)
    assert second["Body"].read() == parts[1]
    assert (second["ChecksumCRC32"], validated(second)) == (b64sum("CRC32", parts[1]), "crc32")
    assert second["ChecksumType"] == "COMPOSITE"
    head = alice.head_object(Bucket=BUCKET, Key=key, PartNumber=1, ChecksumMode="ENABLED")
    assert head["ChecksumCRC32"] == b64sum("CRC32", parts[0])
    alice.put_object(Bucket=BUCKET, Key=key + "-single", Body=b"single")
    whole = alice.get_object(Bucket=BUCKET, Key=key + "-single", PartNumber=1)
    assert (whole["ChecksumCRC32"], validated(whole)) == (b64sum("CRC32", b"single"), "crc32")


def test_a_checksum_sent_as_a_trailer_is_kept(live: LiveServer, home: str) -> None:
    """What SDKs send by default over TLS: an aws-chunked body whose CRC32 comes after it, in
    a trailer (x-amz-trailer), known only once the body has arrived. It is checked, then kept
    as if it had come in a header, and the PUT answers with it."""
    creds = live.credentials("alice")
    alice = live.client("alice")
    data = os.urandom(200_000)
    url = url_of(live.endpoint, BUCKET, home + "trailed")
    with httpx.Client() as http:
        put = http.send(chunked_put(creds, url, data, {"Content-Encoding": "aws-chunked"}))
        assert put.status_code == 200, put.text
        assert put.headers["x-amz-checksum-crc32"] == b64sum("CRC32", data)
    head = alice.head_object(Bucket=BUCKET, Key=home + "trailed", ChecksumMode="ENABLED")
    assert (head["ChecksumCRC32"], head["ChecksumType"]) == (b64sum("CRC32", data), "FULL_OBJECT")


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_every_algorithm_is_kept_and_returned(alice: BaseClient, home: str, algorithm: str) -> None:
    """Each of the algorithms of "Checking object integrity" (CRC32, CRC32C, CRC64NVME,
    SHA-1, SHA-256): the PUT answers with the checksum, HEAD and GET with x-amz-checksum-mode
    ENABLED return it, a copy keeps it ("if the source object has a checksum, that checksum
    value will be copied to the new object by default"), and a copy with
    x-amz-checksum-algorithm gets one of that algorithm."""
    data = os.urandom(70_000)
    key = home + algorithm
    put = alice.put_object(Bucket=BUCKET, Key=key, Body=data, ChecksumAlgorithm=algorithm)
    expected = b64sum(algorithm, data)
    assert put[f"Checksum{algorithm}"] == expected
    head = alice.head_object(Bucket=BUCKET, Key=key, ChecksumMode="ENABLED")
    assert (head[f"Checksum{algorithm}"], head["ChecksumType"]) == (expected, "FULL_OBJECT")
    got = alice.get_object(Bucket=BUCKET, Key=key, ChecksumMode="ENABLED")
    assert got["Body"].read() == data
    assert got[f"Checksum{algorithm}"] == expected
    source = {"Bucket": BUCKET, "Key": key}
    copied = alice.copy_object(Bucket=BUCKET, Key=key + "-copy", CopySource=source)
    assert copied["CopyObjectResult"][f"Checksum{algorithm}"] == expected
    head = alice.head_object(Bucket=BUCKET, Key=key + "-copy", ChecksumMode="ENABLED")
    assert head[f"Checksum{algorithm}"] == expected
    other = "SHA256" if algorithm != "SHA256" else "CRC64NVME"
    changed = alice.copy_object(
        Bucket=BUCKET, Key=key + "-other", CopySource=source, ChecksumAlgorithm=other
    )
    assert changed["CopyObjectResult"][f"Checksum{other}"] == b64sum(other, data)
    head = alice.head_object(Bucket=BUCKET, Key=key + "-other", ChecksumMode="ENABLED")
    assert head[f"Checksum{other}"] == b64sum(other, data)
    assert f"Checksum{algorithm}" not in head


def test_a_copy_onto_itself_may_change_the_checksum(alice: BaseClient, home: str) -> None:
    """The S3 User Guide: "To change the checksum algorithm for an upload, you can copy an
    individual object": a copy onto itself with x-amz-checksum-algorithm is a change, where
    one without any change is refused (InvalidRequest)."""
    key = home + "self"
    alice.put_object(Bucket=BUCKET, Key=key, Body=b"same bytes")
    source = {"Bucket": BUCKET, "Key": key}
    assert _error(alice.copy_object, Bucket=BUCKET, Key=key, CopySource=source) == (
        400,
        "InvalidRequest",
    )
    alice.copy_object(Bucket=BUCKET, Key=key, CopySource=source, ChecksumAlgorithm="CRC64NVME")
    head = alice.head_object(Bucket=BUCKET, Key=key, ChecksumMode="ENABLED")
    assert head["ChecksumCRC64NVME"] == b64sum("CRC64NVME", b"same bytes")
    assert alice.get_object(Bucket=BUCKET, Key=key)["Body"].read() == b"same bytes"


def _upload(
    alice: BaseClient, key: str, parts: list[bytes], algorithm: str, kind: str | None = None
) -> tuple[str, list[dict[str, Any]]]:
    extra = {"ChecksumType": kind} if kind else {}
    created = alice.create_multipart_upload(
        Bucket=BUCKET, Key=key, ChecksumAlgorithm=algorithm, **extra
    )
    assert created["ChecksumAlgorithm"] == algorithm
    assert created["ChecksumType"] == kind or (kind is None and created["ChecksumType"])
    uid = created["UploadId"]
    listed = []
    for number, data in enumerate(parts, 1):
        part = alice.upload_part(
            Bucket=BUCKET,
            Key=key,
            UploadId=uid,
            PartNumber=number,
            Body=data,
            ChecksumAlgorithm=algorithm,
        )
        value = part[f"Checksum{algorithm}"]
        assert value == b64sum(algorithm, data)
        listed.append({"PartNumber": number, "ETag": part["ETag"], f"Checksum{algorithm}": value})
    return uid, listed


def test_list_parts_shows_the_checksums(alice: BaseClient, home: str) -> None:
    """ListParts: each part's checksum, and the upload's ChecksumAlgorithm and ChecksumType
    ("the checksum type that was specified in CreateMultipartUpload request")."""
    key = home + "listed"
    uid, listed = _upload(alice, key, [b"one", b"two"], "CRC32C", "FULL_OBJECT")
    page = alice.list_parts(Bucket=BUCKET, Key=key, UploadId=uid)
    assert (page["ChecksumAlgorithm"], page["ChecksumType"]) == ("CRC32C", "FULL_OBJECT")
    assert [p["ChecksumCRC32C"] for p in page["Parts"]] == [p["ChecksumCRC32C"] for p in listed]
    alice.abort_multipart_upload(Bucket=BUCKET, Key=key, UploadId=uid)


def test_a_composite_multipart_checksum(alice: BaseClient, home: str) -> None:
    """CreateMultipartUpload with x-amz-checksum-algorithm SHA256 (COMPOSITE, the only type
    SHA-256 has): the object's checksum is the checksum of the parts' checksums, "-2" in the
    Complete answer, GET and HEAD."""
    key = home + "composite"
    parts = [os.urandom(5 * MiB), b"tail"]
    uid, listed = _upload(alice, key, parts, "SHA256")
    done = alice.complete_multipart_upload(
        Bucket=BUCKET, Key=key, UploadId=uid, MultipartUpload={"Parts": listed}
    )
    assert (done["ChecksumSHA256"], done["ChecksumType"]) == (
        composite("SHA256", parts),
        "COMPOSITE",
    )
    head = alice.head_object(Bucket=BUCKET, Key=key, ChecksumMode="ENABLED")
    assert head["ChecksumSHA256"] == done["ChecksumSHA256"]
    assert alice.get_object(Bucket=BUCKET, Key=key)["Body"].read() == b"".join(parts)


def test_a_full_object_multipart_checksum(alice: BaseClient, home: str) -> None:
    """ChecksumType FULL_OBJECT (CRC64NVME's only type): the object's checksum is the CRC of
    all its bytes, made of the parts' CRCs; the Complete may assert it (x-amz-checksum-
    crc64nvme) and its type, and a GET answers with it, which botocore checks the body
    against."""
    key = home + "full"
    parts = [os.urandom(5 * MiB), os.urandom(10)]
    whole = b64sum("CRC64NVME", b"".join(parts))
    uid, listed = _upload(alice, key, parts, "CRC64NVME", "FULL_OBJECT")
    done = alice.complete_multipart_upload(
        Bucket=BUCKET,
        Key=key,
        UploadId=uid,
        MultipartUpload={"Parts": listed},
        ChecksumCRC64NVME=whole,
        ChecksumType="FULL_OBJECT",
    )
    assert (done["ChecksumCRC64NVME"], done["ChecksumType"]) == (whole, "FULL_OBJECT")
    got = alice.get_object(Bucket=BUCKET, Key=key)
    assert got["Body"].read() == b"".join(parts)
    assert (got["ChecksumCRC64NVME"], validated(got)) == (whole, "crc64nvme")


def test_a_complete_whose_checksums_do_not_hold_is_refused(alice: BaseClient, home: str) -> None:
    """CompleteMultipartUpload: a COMPOSITE upload's Complete must name each part's checksum
    (S3: "The complete request must include the checksum for each part"); a wrong one is an
    InvalidPart; a wrong object checksum is a BadDigest, and so is another checksum type
    ("If the checksum type doesn't match the checksum type that was specified for the object
    during the CreateMultipartUpload request, it'll result in a BadDigest error"); a wrong
    x-amz-mp-object-size is "an HTTP 400 InvalidRequest error". None completes anything."""
    key = home + "refused"
    parts = [os.urandom(5 * MiB), b"end"]
    uid, listed = _upload(alice, key, parts, "CRC32")
    call = {"Bucket": BUCKET, "Key": key, "UploadId": uid}
    bare = [{"PartNumber": p["PartNumber"], "ETag": p["ETag"]} for p in listed]
    wrong = [listed[0], {**listed[1], "ChecksumCRC32": b64sum("CRC32", b"other")}]
    for extra, expected in [
        ({"MultipartUpload": {"Parts": bare}}, (400, "InvalidRequest")),
        ({"MultipartUpload": {"Parts": wrong}}, (400, "InvalidPart")),
        (
            {"MultipartUpload": {"Parts": listed}, "ChecksumCRC32": b64sum("CRC32", b"x")},
            (400, "BadDigest"),
        ),
        ({"MultipartUpload": {"Parts": listed}, "ChecksumType": "FULL_OBJECT"}, (400, "BadDigest")),
        ({"MultipartUpload": {"Parts": listed}, "MpuObjectSize": 7}, (400, "InvalidRequest")),
    ]:
        assert _error(alice.complete_multipart_upload, **call, **extra) == expected, extra
    assert _error(alice.head_object, Bucket=BUCKET, Key=key) == (404, "404")
    done = alice.complete_multipart_upload(
        **call, MultipartUpload={"Parts": listed}, MpuObjectSize=5 * MiB + 3
    )
    assert done["ChecksumCRC32"] == composite("CRC32", parts)


def test_a_part_must_fit_its_upload(alice: BaseClient, home: str) -> None:
    """UploadPart: the checksum algorithm "must be the same for all parts and it match the
    checksum value supplied in the CreateMultipartUpload request" (S3: "Checksum Type
    mismatch occurred, expected checksum Type: crc32, actual checksum Type: sha1"), and a
    COMPOSITE upload's part must come with one. Nothing is stored."""
    key = home + "mismatch"
    uid = alice.create_multipart_upload(Bucket=BUCKET, Key=key, ChecksumAlgorithm="CRC32")[
        "UploadId"
    ]
    call = {"Bucket": BUCKET, "Key": key, "UploadId": uid, "PartNumber": 1, "Body": b"x"}
    assert _error(alice.upload_part, **call, ChecksumAlgorithm="SHA1") == (400, "InvalidRequest")
    assert alice.list_parts(Bucket=BUCKET, Key=key, UploadId=uid).get("Parts", []) == []
    alice.abort_multipart_upload(Bucket=BUCKET, Key=key, UploadId=uid)


def test_the_aws_cli_uploads_and_downloads_with_checksums(
    live: LiveServer, aws: Any, home: str, tmp_path: Path
) -> None:
    """The aws CLI (botocore's defaults): `aws s3 cp` up and down, then
    `s3api head-object --checksum-mode ENABLED` shows the CRC32 it sent."""
    data = os.urandom(100_000)
    (tmp_path / "up").write_bytes(data)
    url = f"s3://{BUCKET}/{home}cli"
    aws("alice", "s3", "cp", str(tmp_path / "up"), url)
    aws("alice", "s3", "cp", url, str(tmp_path / "down"))
    assert (tmp_path / "down").read_bytes() == data
    head = aws(
        "alice",
        "s3api",
        "head-object",
        "--bucket",
        BUCKET,
        "--key",
        home + "cli",
        "--checksum-mode",
        "ENABLED",
    )
    assert f'"ChecksumCRC32": "{b64sum("CRC32", data)}"' in head.stdout


def test_checksum_headers_s3_refuses(live: LiveServer, home: str) -> None:
    """What S3 refuses of a PUT's checksum headers, with nothing written: several checksums
    ("Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed."),
    x-amz-sdk-checksum-algorithm with no checksum ("there must be a corresponding
    x-amz-checksum or x-amz-trailer header sent. Otherwise, Amazon S3 fails the request with
    the HTTP status code 400 Bad Request") or naming another algorithm (BadDigest), a value
    that is not the body's (BadDigest), and a PUT's checksum type other than FULL_OBJECT."""
    creds = live.credentials("alice")
    url = url_of(live.endpoint, BUCKET, home + "refused")
    body = b"payload"
    crc = base64.b64encode(zlib.crc32(body).to_bytes(4, "big")).decode()
    sha = base64.b64encode(hashlib.sha1(body).digest()).decode()
    cases = [
        ({"x-amz-checksum-crc32": crc, "x-amz-checksum-sha1": sha}, "InvalidRequest"),
        ({"x-amz-sdk-checksum-algorithm": "CRC32"}, "InvalidRequest"),
        ({"x-amz-checksum-crc32": crc, "x-amz-sdk-checksum-algorithm": "SHA1"}, "BadDigest"),
        ({"x-amz-checksum-sha1": crc}, "InvalidRequest"),  # not even a SHA-1's length
        ({"x-amz-checksum-crc32": "AAAAAA=="}, "BadDigest"),
        ({"x-amz-checksum-crc32": crc, "x-amz-checksum-type": "COMPOSITE"}, "InvalidRequest"),
        ({"x-amz-checksum-md6": crc}, "InvalidRequest"),
    ]
    with httpx.Client() as http:
        for headers, code in cases:
            answer = http.send(signed(creds, "PUT", url, headers=headers, body=body))
            assert (answer.status_code, f"<Code>{code}</Code>" in answer.text) == (400, True), (
                headers,
                answer.text,
            )
        assert http.send(signed(creds, "HEAD", url)).status_code == 404


def test_create_multipart_upload_checks_algorithm_and_type(alice: BaseClient, home: str) -> None:
    """CreateMultipartUpload: FULL_OBJECT is for CRC32, CRC32C and CRC64NVME, COMPOSITE for
    all but CRC64NVME (the S3 User Guide's table of checksum types); without
    x-amz-checksum-type, CRC64NVME is FULL_OBJECT and the others COMPOSITE; a type needs an
    algorithm; an unknown algorithm is a 400."""
    key = home + "create"
    for algorithm, kind in [("SHA256", "FULL_OBJECT"), ("CRC64NVME", "COMPOSITE")]:
        assert _error(
            alice.create_multipart_upload,
            Bucket=BUCKET,
            Key=key,
            ChecksumAlgorithm=algorithm,
            ChecksumType=kind,
        ) == (400, "InvalidRequest")
    assert _error(
        alice.create_multipart_upload, Bucket=BUCKET, Key=key, ChecksumType="COMPOSITE"
    ) == (400, "InvalidRequest")
    defaults = {}
    for algorithm in ("CRC32", "CRC64NVME"):
        created = alice.create_multipart_upload(Bucket=BUCKET, Key=key, ChecksumAlgorithm=algorithm)
        defaults[algorithm] = created["ChecksumType"]
        alice.abort_multipart_upload(Bucket=BUCKET, Key=key, UploadId=created["UploadId"])
    assert defaults == {"CRC32": "COMPOSITE", "CRC64NVME": "FULL_OBJECT"}
    assert alice.list_multipart_uploads(Bucket=BUCKET, Prefix=key).get("Uploads", []) == []
