"""x-amz-storage-class and server-side encryption: what a PUT accepts is honoured, the rest
is refused before anything is written (nothing accepted and then silently dropped).

lakestow keeps every object alike, in the STANDARD storage class, and does not encrypt objects
at rest. S3 answers x-amz-storage-class on GET and HEAD "for all objects except for S3
Standard storage class objects" (the API reference, HeadObject), and lists them as STANDARD;
a STANDARD PUT is then answered exactly as S3 answers it. Any other class is refused with
400 InvalidStorageClass (S3's code for a class a bucket cannot take); an archive class would
make clients restore objects before reading them. Server-side encryption (SSE-S3, SSE-KMS,
DSSE-KMS) and customer-provided keys (SSE-C) are refused with 501 NotImplemented: saying an
object is encrypted when it is not would be false.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import httpx
import pytest
from botocore.client import BaseClient
from botocore.exceptions import ClientError

from s3api.conftest import BUCKET, LiveServer
from s3api.signing import signed, url_of


@pytest.fixture
def home(live: LiveServer, request: pytest.FixtureRequest) -> str:
    name = "".join(c if c.isalnum() else "-" for c in request.node.name.lower())
    return f"{live.private('alice')}classes-{name}/"


def _error(call: Any, **kwargs: Any) -> tuple[int, str, str]:
    with pytest.raises(ClientError) as caught:
        call(**kwargs)
    response = caught.value.response
    error = response["Error"]
    return response["ResponseMetadata"]["HTTPStatusCode"], error["Code"], error.get("Message", "")


def _absent(alice: BaseClient, key: str) -> bool:
    with pytest.raises(ClientError) as missing:
        alice.head_object(Bucket=BUCKET, Key=key)
    return missing.value.response["Error"]["Code"] == "404"


def test_the_standard_storage_class_is_honoured(alice: BaseClient, home: str) -> None:
    """x-amz-storage-class STANDARD on PUT, copy and CreateMultipartUpload is accepted; HEAD
    and GET answer without x-amz-storage-class, as S3 does for STANDARD objects, and listings
    and GetObjectAttributes say STANDARD."""
    key = home + "standard"
    alice.put_object(Bucket=BUCKET, Key=key, Body=b"s", StorageClass="STANDARD")
    assert "StorageClass" not in alice.head_object(Bucket=BUCKET, Key=key)
    assert "StorageClass" not in alice.get_object(Bucket=BUCKET, Key=key)
    listed = alice.list_objects_v2(Bucket=BUCKET, Prefix=key)["Contents"]
    assert [item["StorageClass"] for item in listed] == ["STANDARD"]
    attributes = alice.get_object_attributes(
        Bucket=BUCKET, Key=key, ObjectAttributes=["StorageClass"]
    )
    assert attributes["StorageClass"] == "STANDARD"
    source = {"Bucket": BUCKET, "Key": key}
    alice.copy_object(Bucket=BUCKET, Key=key + "-copy", CopySource=source, StorageClass="STANDARD")
    upload = alice.create_multipart_upload(Bucket=BUCKET, Key=key + "-mp", StorageClass="STANDARD")
    alice.abort_multipart_upload(Bucket=BUCKET, Key=key + "-mp", UploadId=upload["UploadId"])


def test_other_storage_classes_are_refused(live: LiveServer, alice: BaseClient, home: str) -> None:
    """Any storage class but STANDARD is a 400 InvalidStorageClass naming what lakestow
    offers (an unknown one: "The storage class you specified is not valid"), on PUT, copy and
    CreateMultipartUpload, and nothing is written."""
    key = home + "archived"
    for storage_class in ("GLACIER", "STANDARD_IA", "DEEP_ARCHIVE"):
        status, code, message = _error(
            alice.put_object, Bucket=BUCKET, Key=key, Body=b"x", StorageClass=storage_class
        )
        assert (status, code) == (400, "InvalidStorageClass")
        assert "STANDARD" in message and storage_class in message
    assert _absent(alice, key)
    alice.put_object(Bucket=BUCKET, Key=home + "src", Body=b"src")
    source = {"Bucket": BUCKET, "Key": home + "src"}
    assert _error(
        alice.copy_object, Bucket=BUCKET, Key=key, CopySource=source, StorageClass="GLACIER"
    )[:2] == (400, "InvalidStorageClass")
    assert _absent(alice, key)
    assert _error(alice.create_multipart_upload, Bucket=BUCKET, Key=key, StorageClass="ONEZONE_IA")[
        :2
    ] == (400, "InvalidStorageClass")
    assert alice.list_multipart_uploads(Bucket=BUCKET, Prefix=key).get("Uploads", []) == []
    creds = live.credentials("alice")
    with httpx.Client() as http:
        headers = {"x-amz-storage-class": "PLATINUM"}
        answer = http.send(
            signed(creds, "PUT", url_of(live.endpoint, BUCKET, key), headers=headers, body=b"x")
        )
    assert answer.status_code == 400
    assert "<Code>InvalidStorageClass</Code>" in answer.text and "not valid" in answer.text
    assert _absent(alice, key)


def test_server_side_encryption_is_refused(alice: BaseClient, home: str) -> None:
    """x-amz-server-side-encryption (AES256, aws:kms) on PUT, copy and CreateMultipartUpload:
    501 NotImplemented, saying lakestow does not encrypt at rest; nothing is written."""
    key = home + "encrypted"
    for extra in (
        {"ServerSideEncryption": "AES256"},
        {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": "alias/mine"},
    ):
        status, code, message = _error(
            alice.put_object, Bucket=BUCKET, Key=key, Body=b"secret", **extra
        )
        assert (status, code) == (501, "NotImplemented")
        assert "encrypt" in message
    assert _absent(alice, key)
    alice.put_object(Bucket=BUCKET, Key=home + "src", Body=b"src")
    source = {"Bucket": BUCKET, "Key": home + "src"}
    assert _error(
        alice.copy_object,
        Bucket=BUCKET,
        Key=key,
        CopySource=source,
        ServerSideEncryption="AES256",
    )[:2] == (501, "NotImplemented")
    assert _error(
        alice.create_multipart_upload, Bucket=BUCKET, Key=key, ServerSideEncryption="AES256"
    )[:2] == (501, "NotImplemented")
    assert _absent(alice, key)


def test_customer_provided_keys_are_refused(live: LiveServer, alice: BaseClient, home: str) -> None:
    """SSE-C (x-amz-server-side-encryption-customer-algorithm, -key, -key-MD5) on a PUT, a
    GET, a HEAD or as a copy source's: 501 NotImplemented; the PUT writes nothing."""
    key = home + "customer"
    secret = bytes(range(32))
    sse_c = {
        "x-amz-server-side-encryption-customer-algorithm": "AES256",
        "x-amz-server-side-encryption-customer-key": base64.b64encode(secret).decode(),
        "x-amz-server-side-encryption-customer-key-md5": base64.b64encode(
            hashlib.md5(secret).digest()
        ).decode(),
    }
    alice.put_object(Bucket=BUCKET, Key=home + "plain", Body=b"plain")
    creds = live.credentials("alice")
    url = url_of(live.endpoint, BUCKET, key)
    plain = url_of(live.endpoint, BUCKET, home + "plain")
    copy_source = {
        "x-amz-copy-source": f"{BUCKET}/{home}plain",
        **{name.replace("x-amz-", "x-amz-copy-source-", 1): v for name, v in sse_c.items()},
    }
    with httpx.Client() as http:
        for method, target, headers, body in [
            ("PUT", url, sse_c, b"x"),
            ("GET", plain, sse_c, b""),
            ("HEAD", plain, sse_c, b""),
            ("PUT", url, copy_source, b""),
        ]:
            answer = http.send(signed(creds, method, target, headers=headers, body=body))
            assert answer.status_code == 501, (method, answer.text)
            if method != "HEAD":
                assert "<Code>NotImplemented</Code>" in answer.text
                assert "SSE-C" in answer.text
    assert _absent(alice, key)
