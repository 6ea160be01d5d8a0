"""GetObjectAttributes, as the AWS S3 API reference describes it, with real boto3.

"GetObjectAttributes combines the functionality of HeadObject and ListParts. All of the data
returned with both of those individual calls can be returned with a single call";
x-amz-object-attributes "Specifies the fields at the root level that you want returned in the
response. Fields that you do not specify are not returned."
"""

from __future__ import annotations

import base64
import hashlib
import os
from typing import Any

import httpx
import pytest
from botocore.client import BaseClient
from botocore.exceptions import ClientError

from s3api.conftest import BUCKET, LiveServer
from s3api.signing import signed, url_of

MiB = 1024 * 1024
EVERYTHING = ["ETag", "Checksum", "ObjectParts", "StorageClass", "ObjectSize"]


@pytest.fixture
def home(live: LiveServer, request: pytest.FixtureRequest) -> str:
    name = "".join(c if c.isalnum() else "-" for c in request.node.name.lower())
    return f"{live.private('alice')}attributes-{name}/"


def sha256(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def test_the_attributes_of_a_single_part_object(alice: BaseClient, home: str) -> None:
    """ETag (without quotes, as S3 writes it there), the checksum with its type, the storage
    class, the size; no ObjectParts for an object not uploaded in parts; only the attributes
    asked for."""
    key = home + "single"
    put = alice.put_object(Bucket=BUCKET, Key=key, Body=b"attributes", ChecksumAlgorithm="SHA256")
    got = alice.get_object_attributes(Bucket=BUCKET, Key=key, ObjectAttributes=EVERYTHING)
    assert got["ETag"] == put["ETag"].strip('"')
    assert got["Checksum"] == {
        "ChecksumSHA256": sha256(b"attributes"),
        "ChecksumType": "FULL_OBJECT",
    }
    assert (got["StorageClass"], got["ObjectSize"]) == ("STANDARD", 10)
    assert "ObjectParts" not in got
    assert got["LastModified"] == alice.head_object(Bucket=BUCKET, Key=key)["LastModified"]
    some = alice.get_object_attributes(Bucket=BUCKET, Key=key, ObjectAttributes=["ObjectSize"])
    assert [name for name in ("ETag", "Checksum", "StorageClass") if name in some] == []
    assert some["ObjectSize"] == 10


def test_the_attributes_of_a_multipart_object(alice: BaseClient, home: str) -> None:
    """A COMPOSITE checksum as stored (no "-N", which GET and HEAD add); ObjectParts with
    PartsCount and each part's size and checksum, paged by x-amz-max-parts and
    x-amz-part-number-marker."""
    key = home + "multipart"
    parts = [os.urandom(5 * MiB), b"tail"]
    uid = alice.create_multipart_upload(Bucket=BUCKET, Key=key, ChecksumAlgorithm="SHA256")[
        "UploadId"
    ]
    listed: list[dict[str, Any]] = []
    for number, data in enumerate(parts, 1):
        part = alice.upload_part(
            Bucket=BUCKET,
            Key=key,
            UploadId=uid,
            PartNumber=number,
            Body=data,
            ChecksumAlgorithm="SHA256",
        )
        listed.append(
            {"PartNumber": number, "ETag": part["ETag"], "ChecksumSHA256": part["ChecksumSHA256"]}
        )
    done = alice.complete_multipart_upload(
        Bucket=BUCKET, Key=key, UploadId=uid, MultipartUpload={"Parts": listed}
    )
    got = alice.get_object_attributes(Bucket=BUCKET, Key=key, ObjectAttributes=EVERYTHING)
    assert got["ETag"] == done["ETag"].strip('"')
    assert got["Checksum"]["ChecksumSHA256"] + "-2" == done["ChecksumSHA256"]
    assert got["Checksum"]["ChecksumType"] == "COMPOSITE"
    assert got["ObjectSize"] == 5 * MiB + 4
    object_parts = got["ObjectParts"]
    assert (object_parts["TotalPartsCount"], object_parts["IsTruncated"]) == (2, False)
    assert [(p["PartNumber"], p["Size"], p["ChecksumSHA256"]) for p in object_parts["Parts"]] == [
        (1, 5 * MiB, sha256(parts[0])),
        (2, 4, sha256(b"tail")),
    ]
    first = alice.get_object_attributes(
        Bucket=BUCKET, Key=key, ObjectAttributes=["ObjectParts"], MaxParts=1
    )["ObjectParts"]
    assert ([p["PartNumber"] for p in first["Parts"]], first["IsTruncated"]) == ([1], True)
    rest = alice.get_object_attributes(
        Bucket=BUCKET,
        Key=key,
        ObjectAttributes=["ObjectParts"],
        PartNumberMarker=first["NextPartNumberMarker"],
    )["ObjectParts"]
    assert [p["PartNumber"] for p in rest["Parts"]] == [2]


def test_attributes_are_read_as_the_object(live: LiveServer, home: str) -> None:
    """Permissions: "you must have READ access to the object"; another member's object
    answers 403 AccessDenied, a missing one 404 NoSuchKey. Conditional headers are those of
    a GET. The attributes header is required and holds only the five names; a bad one is a
    400."""
    alice, bob = live.client("alice"), live.client("bob")
    key = home + "private"
    put = alice.put_object(Bucket=BUCKET, Key=key, Body=b"x")
    with pytest.raises(ClientError) as denied:
        bob.get_object_attributes(Bucket=BUCKET, Key=key, ObjectAttributes=["ETag"])
    assert denied.value.response["Error"]["Code"] == "AccessDenied"
    with pytest.raises(ClientError) as missing:
        alice.get_object_attributes(Bucket=BUCKET, Key=key + "-no", ObjectAttributes=["ETag"])
    assert missing.value.response["Error"]["Code"] == "NoSuchKey"
    creds = live.credentials("alice")
    url = url_of(live.endpoint, BUCKET, key, "attributes")
    with httpx.Client() as http:
        for headers in ({}, {"x-amz-object-attributes": "ETag,Color"}):
            answer = http.send(signed(creds, "GET", url, headers=headers))
            assert (answer.status_code, "<Code>InvalidArgument</Code>" in answer.text) == (
                400,
                True,
            ), answer.text
        stale = {"x-amz-object-attributes": "ETag", "if-match": '"0123"'}
        assert http.send(signed(creds, "GET", url, headers=stale)).status_code == 412
        fresh = {"x-amz-object-attributes": "ETag", "if-match": put["ETag"]}
        assert http.send(signed(creds, "GET", url, headers=fresh)).status_code == 200
