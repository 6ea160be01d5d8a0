"""Buckets at the edges, as the AWS S3 API reference describes them (issue 14).

A bucket that does not exist answers 404 NoSuchBucket to every operation, for operators and
members alike. An operator sees buckets as an AWS account does (403 AccessDenied for a bucket
that exists and is another's); a member's world is their organization's bucket, and every
other name answers exactly as a missing bucket, whether it exists or not (see
`lakestow.s3api.request`).
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import httpx
import pytest
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.client import BaseClient
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from s3api.conftest import BUCKET, LiveServer, lakestow

MISSING = "bk-nowhere"
"""A bucket that exists nowhere."""
Call = Callable[[BaseClient, str], Any]
Answer = tuple[int, str, str]
"""An error answer: HTTP status, S3 code, message (with the bucket's name as `<bucket>`)."""


def _operator_keys(live: LiveServer, name: str) -> dict[str, Any]:
    keys: dict[str, Any] = json.loads(
        lakestow(live.data_dir, "operator", "create", name, "--format", "json")
    )
    return keys


def _client(live: LiveServer, keys: dict[str, Any], region: str = "us-east-1") -> BaseClient:
    return boto3.client(
        "s3",
        endpoint_url=live.endpoint,
        region_name=region,
        aws_access_key_id=keys["AccessKeyId"],
        aws_secret_access_key=keys["SecretAccessKey"],
        aws_session_token=keys.get("SessionToken"),
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
    )


def _operator(live: LiveServer, name: str, region: str = "us-east-1") -> BaseClient:
    return _client(live, _operator_keys(live, name), region)


def _signed(
    live: LiveServer, keys: dict[str, Any], method: str, path: str, body: bytes
) -> dict[str, str]:
    """Headers of a request of `body`, signed by botocore's S3 SigV4 signer."""
    request = AWSRequest(
        method=method,
        url=live.endpoint + path,
        data=body,
        headers={"Content-Length": str(len(body))},
    )
    credentials = Credentials(
        keys["AccessKeyId"], keys["SecretAccessKey"], keys.get("SessionToken")
    )
    S3SigV4Auth(credentials, "s3", "us-east-1").add_auth(request)
    return {"host": f"127.0.0.1:{live.port}", **dict(request.headers.items())}


def _answer(call: Callable[[], Any], bucket: str = "") -> Answer:
    """What a call that must fail answered; a HEAD's code is in its x-amz-error-code header."""
    with pytest.raises(ClientError) as caught:
        call()
    response = caught.value.response
    headers = response["ResponseMetadata"]["HTTPHeaders"]
    code = headers.get("x-amz-error-code") or response["Error"]["Code"]
    message = response["Error"].get("Message", "")
    if bucket:
        message = message.replace(bucket, "<bucket>")
    return response["ResponseMetadata"]["HTTPStatusCode"], code, message


@pytest.fixture(scope="module")
def ops_keys(live: LiveServer) -> dict[str, Any]:
    return _operator_keys(live, "buckets-ops")


@pytest.fixture(scope="module")
def ops(live: LiveServer, ops_keys: dict[str, Any]) -> BaseClient:
    """An operator with a bucket of its own, `bk-own`, holding the object `src`."""
    client = _client(live, ops_keys)
    client.create_bucket(Bucket="bk-own")
    client.put_object(Bucket="bk-own", Key="src", Body=b"source")
    return client


@pytest.fixture(scope="module")
def foreign(live: LiveServer, ops: BaseClient) -> list[str]:
    """Buckets that exist and are neither `ops`'s nor acme's: another operator's, and the
    bucket of an organization of its own."""
    _operator(live, "buckets-other").create_bucket(Bucket="bk-theirs")
    lakestow(live.data_dir, "org", "create", "initech", "--bucket", "bk-initech")
    deadline = time.monotonic() + 10  # the server reloads the catalog within seconds
    while _answer(lambda: ops.head_bucket(Bucket="bk-initech"))[0] != 403:
        assert time.monotonic() < deadline, "the server never learnt of bk-initech"
        time.sleep(0.2)
    return ["bk-theirs", "bk-initech"]


@pytest.fixture(scope="module")
def alice_home(live: LiveServer, alice: BaseClient) -> str:
    home = f"{live.private('alice')}buckets/"
    alice.put_object(Bucket=BUCKET, Key=home + "src", Body=b"source")
    return home


def _operations(own: str, home: str, upload: str) -> dict[str, Call]:
    """Every operation on a bucket `b`, by a caller whose own bucket is `own` and whose keys
    may start with `home` (where `src` exists and `upload` is an upload to `mp`)."""
    mine = {"Bucket": own, "Key": home + "src"}
    return {
        "HeadBucket": lambda c, b: c.head_bucket(Bucket=b),
        "GetBucketLocation": lambda c, b: c.get_bucket_location(Bucket=b),
        "GetBucketVersioning": lambda c, b: c.get_bucket_versioning(Bucket=b),
        "GetBucketTagging (not implemented)": lambda c, b: c.get_bucket_tagging(Bucket=b),
        "DeleteBucket": lambda c, b: c.delete_bucket(Bucket=b),
        "ListObjects": lambda c, b: c.list_objects(Bucket=b, Prefix=home),
        "ListObjectsV2": lambda c, b: c.list_objects_v2(Bucket=b, Prefix=home),
        "ListObjectVersions": lambda c, b: c.list_object_versions(Bucket=b, Prefix=home),
        "ListMultipartUploads": lambda c, b: c.list_multipart_uploads(Bucket=b, Prefix=home),
        "GetObject": lambda c, b: c.get_object(Bucket=b, Key=home + "k"),
        "HeadObject": lambda c, b: c.head_object(Bucket=b, Key=home + "k"),
        "PutObject": lambda c, b: c.put_object(Bucket=b, Key=home + "k", Body=b"x"),
        "DeleteObject": lambda c, b: c.delete_object(Bucket=b, Key=home + "k"),
        "DeleteObjects": lambda c, b: c.delete_objects(
            Bucket=b, Delete={"Objects": [{"Key": home + "k"}]}
        ),
        "CreateMultipartUpload": lambda c, b: c.create_multipart_upload(Bucket=b, Key=home + "k"),
        "UploadPart": lambda c, b: c.upload_part(
            Bucket=b, Key=home + "mp", UploadId=upload, PartNumber=1, Body=b"x"
        ),
        "ListParts": lambda c, b: c.list_parts(Bucket=b, Key=home + "mp", UploadId=upload),
        "CopyObject (target)": lambda c, b: c.copy_object(
            Bucket=b, Key=home + "k", CopySource=mine
        ),
        "CopyObject (source)": lambda c, b: c.copy_object(
            Bucket=own, Key=home + "copy", CopySource={"Bucket": b, "Key": home + "src"}
        ),
        "UploadPartCopy (source)": lambda c, b: c.upload_part_copy(
            Bucket=own,
            Key=home + "mp",
            UploadId=upload,
            PartNumber=1,
            CopySource={"Bucket": b, "Key": home + "src"},
        ),
    }


@pytest.fixture(scope="module")
def callers(
    live: LiveServer, ops: BaseClient, alice: BaseClient, alice_home: str
) -> Iterator[dict[str, tuple[BaseClient, dict[str, Call]]]]:
    """The operator and alice, each with every operation from their own bucket's view."""
    ops_upload = ops.create_multipart_upload(Bucket="bk-own", Key="mp")["UploadId"]
    alice_upload = alice.create_multipart_upload(Bucket=BUCKET, Key=alice_home + "mp")["UploadId"]
    yield {
        "operator": (ops, _operations("bk-own", "", ops_upload)),
        "member": (alice, _operations(BUCKET, alice_home, alice_upload)),
    }
    ops.abort_multipart_upload(Bucket="bk-own", Key="mp", UploadId=ops_upload)
    alice.abort_multipart_upload(Bucket=BUCKET, Key=alice_home + "mp", UploadId=alice_upload)


def test_a_missing_bucket_is_no_such_bucket_for_every_operation(
    callers: dict[str, tuple[BaseClient, dict[str, Call]]],
) -> None:
    """AWS, Error responses: "NoSuchBucket: The specified bucket does not exist. 404 Not
    Found", whatever is asked of it, whoever asks (S3 looks the bucket up first)."""
    for who, (client, operations) in callers.items():
        for name, call in operations.items():
            answer = _answer(lambda: call(client, MISSING), MISSING)  # noqa: B023
            assert answer[:2] == (404, "NoSuchBucket"), (who, name, answer)


def test_an_operator_is_refused_another_s_bucket(
    callers: dict[str, tuple[BaseClient, dict[str, Call]]], foreign: list[str]
) -> None:
    """AWS, Error responses: "AccessDenied: Access Denied. 403 Forbidden" for a bucket that
    exists and is not the caller's (another operator's, or one holding organizations)."""
    client, operations = callers["operator"]
    for bucket in foreign:
        for name, call in operations.items():
            answer = _answer(lambda: call(client, bucket), bucket)  # noqa: B023
            assert answer[:2] == (403, "AccessDenied"), (bucket, name, answer)


def test_a_member_learns_nothing_of_buckets_beside_their_organization_s(
    callers: dict[str, tuple[BaseClient, dict[str, Call]]], foreign: list[str]
) -> None:
    """For a member, a bucket that is not their organization's answers exactly as one that
    does not exist: status, code and message, for every operation (the differential rule of
    DESIGN.md section 1, applied to buckets)."""
    client, operations = callers["member"]
    for name, call in operations.items():
        missing = _answer(lambda: call(client, MISSING), MISSING)  # noqa: B023
        for bucket in foreign:
            assert _answer(lambda: call(client, bucket), bucket) == missing, (bucket, name)  # noqa: B023
    listed = [b["Name"] for b in client.list_buckets()["Buckets"]]
    assert listed == [BUCKET]


def test_presigned_and_100_continue_requests_to_a_missing_bucket(
    live: LiveServer, ops: BaseClient, alice: BaseClient, alice_home: str
) -> None:
    """A presigned URL is a request like any other: NoSuchBucket. A PUT sent with `Expect:
    100-continue` is answered 404 at once, before its body is asked for (RFC 9110: a server
    that answers with a final status sends no 100 Continue), and nothing is written."""
    for client in (ops, alice):
        for method in ("get_object", "put_object"):
            url = client.generate_presigned_url(
                method, Params={"Bucket": MISSING, "Key": alice_home + "k"}
            )
            response = httpx.request("GET" if method == "get_object" else "PUT", url, content=b"x")
            assert response.status_code == 404, response.text
            assert "<Code>NoSuchBucket</Code>" in response.text
    path = f"/{MISSING}/{alice_home}big"
    headers = _signed(live, live.credentials("alice"), "PUT", path, b"x" * (1 << 20))
    head = "".join(f"{k}: {v}\r\n" for k, v in {**headers, "Expect": "100-continue"}.items())
    with socket.create_connection(("127.0.0.1", live.port), timeout=10) as sock:
        sock.sendall(f"PUT {path} HTTP/1.1\r\n{head}\r\n".encode())  # and no body
        answer = b""
        while chunk := sock.recv(65536):  # the server closes: the body was never read
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 404 "), answer
    assert b"100 Continue" not in answer and b"<Code>NoSuchBucket</Code>" in answer
