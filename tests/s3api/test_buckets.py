"""Buckets at the edges, as the AWS S3 API reference describes them (issue 14).

A bucket that does not exist answers 404 NoSuchBucket to every operation, for operators and
members alike. An operator sees buckets as an AWS account does (403 AccessDenied for a bucket
that exists and is another's); a member's world is their organization's bucket, and every
other name answers exactly as a missing bucket, whether it exists or not (see
`lakestow.s3api.request`). Then CreateBucket (the caller's own bucket, names, the
LocationConstraint), DeleteBucket with unfinished multipart uploads, and ListBuckets' pages.
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

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
from s3api.test_rclone import rclone

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


def test_creating_a_bucket_you_own_answers_as_us_east_1_does(
    ops: BaseClient, alice: BaseClient, foreign: list[str]
) -> None:
    """AWS, BucketAlreadyOwnedByYou: "Amazon S3 returns this error in all Amazon Web Services
    Regions except in the North Virginia Region. For legacy compatibility, if you re-create an
    existing bucket that you already own in the North Virginia Region, Amazon S3 returns 200
    OK". lakestow answers for us-east-1 here. A member owns their organization's bucket in this
    sense (rclone creates the bucket before it uploads), and creates no other."""
    assert ops.create_bucket(Bucket="bk-own")["ResponseMetadata"]["HTTPStatusCode"] == 200
    elsewhere = {"LocationConstraint": "eu-west-1"}  # not where bk-own is: not the same bucket
    assert _answer(lambda: ops.create_bucket(Bucket="bk-own", CreateBucketConfiguration=elsewhere))[
        :2
    ] == (409, "BucketAlreadyOwnedByYou")
    for bucket in [*foreign, BUCKET]:
        assert _answer(lambda: ops.create_bucket(Bucket=bucket))[:2] == (  # noqa: B023
            409,
            "BucketAlreadyExists",
        )
    assert alice.create_bucket(Bucket=BUCKET)["ResponseMetadata"]["HTTPStatusCode"] == 200
    refused = _answer(lambda: alice.create_bucket(Bucket=MISSING), MISSING)
    assert refused[:2] == (403, "AccessDenied")
    for bucket in foreign:  # the same refusal, whether the name is taken or not
        assert _answer(lambda: alice.create_bucket(Bucket=bucket), bucket) == refused  # noqa: B023
    assert [b["Name"] for b in ops.list_buckets()["Buckets"]] == ["bk-own"]


BAD_NAMES = {
    "ab": "too short",
    "a" * 64: "too long",
    "192.168.5.4": "formatted as an IP address",
    "Upper-case": "an upper-case letter",
    "under_score": "an underscore",
    "bad!name": "a character outside a-z 0-9 . -",
    "-leading": "not beginning with a letter or number",
    "trailing.": "not ending with a letter or number",
    "two..dots": "two adjacent periods",
    "xn--punycode": "the prefix xn--",
    "sthree-bucket": "the prefix sthree-",
    "amzn-s3-demo-bucket": "the prefix amzn-s3-demo-",
    "name-s3alias": "the suffix -s3alias",
    "name--ol-s3": "the suffix --ol-s3",
    "name.mrap": "the suffix .mrap",
    "name--x-s3": "the suffix --x-s3",
}


def test_bucket_names_follow_the_aws_naming_rules(
    live: LiveServer, ops: BaseClient, ops_keys: dict[str, Any]
) -> None:
    """AWS, General purpose bucket naming rules: "Bucket names must be between 3 (min) and 63
    (max) characters long. Bucket names can consist only of lowercase letters, numbers,
    periods (.), and hyphens (-). Bucket names must begin and end with a letter or number.
    Bucket names must not contain two adjacent periods. Bucket names must not be formatted as
    an IP address (for example, 192.168.5.4). Bucket names must not start with the prefix
    xn--. [...] sthree-. [...] amzn-s3-demo-. [...] must not end with the suffix -s3alias.
    [...] --ol-s3. [...] .mrap. [...] --x-s3." Each is refused 400 InvalidBucketName, and
    nothing is created; names at the limits are created. (Sent signed by hand: boto3 checks
    some names itself, and signs `--x-s3` ones for S3 Express.)"""
    for name, why in BAD_NAMES.items():
        path = "/" + quote(name)
        response = httpx.put(
            live.endpoint + path, headers=_signed(live, ops_keys, "PUT", path, b"")
        )
        assert response.status_code == 400, (name, why, response.text)
        assert "<Code>InvalidBucketName</Code>" in response.text, (name, why, response.text)
    for name in ("abc", "a" * 63, "dots.and-dashes.1"):
        ops.create_bucket(Bucket=name)
        ops.delete_bucket(Bucket=name)
    assert [b["Name"] for b in ops.list_buckets()["Buckets"]] == ["bk-own"]


def test_a_location_constraint_is_checked_as_aws_checks_it(
    live: LiveServer, ops: BaseClient, ops_keys: dict[str, Any]
) -> None:
    """AWS, CreateBucketConfiguration: "If you are creating a bucket on the US East (N.
    Virginia) Region (us-east-1), you do not need to specify the location"; naming us-east-1
    there is refused, "InvalidLocationConstraint: The specified location-constraint is not
    valid", as is anything that is not a region. A body that is not XML is MalformedXML.
    Nothing is created."""
    for constraint in ("us-east-1", "not a region", "eu-west-1/../x"):
        answer = _answer(
            lambda: ops.create_bucket(
                Bucket="bk-placed",
                CreateBucketConfiguration={"LocationConstraint": constraint},  # noqa: B023
            )
        )
        assert answer[:2] == (400, "InvalidLocationConstraint"), (constraint, answer)
    body = b"<CreateBucketConfiguration><LocationConstraint>eu-west-1"  # cut short
    headers = _signed(live, ops_keys, "PUT", "/bk-placed", body)
    response = httpx.put(f"{live.endpoint}/bk-placed", headers=headers, content=body)
    assert response.status_code == 400 and "<Code>MalformedXML</Code>" in response.text
    assert [b["Name"] for b in ops.list_buckets()["Buckets"]] == ["bk-own"]


def test_list_buckets_pages_and_filters(live: LiveServer) -> None:
    """AWS, ListBuckets: `max-buckets` is the "Maximum number of buckets to be returned in
    response"; "ContinuationToken is included in the response when there are more buckets
    that can be listed with pagination"; `prefix` "Limits the response to bucket names that
    begin with the specified bucket name prefix" ("If Prefix was sent with the request, it is
    included in the response"); `bucket-region` "Limits the response to buckets that are
    located in the specified Amazon Web Services Region". The response has the `Owner`, each
    bucket its `BucketRegion`. GetBucketLocation returns the LocationConstraint given at
    create: "Buckets in Region us-east-1 have a LocationConstraint of null. Buckets with a
    LocationConstraint of EU reside in eu-west-1." HeadBucket names the region."""
    lister = _operator(live, "buckets-lister")
    placed = {
        "bk-page-a": None,
        "bk-page-b": "EU",
        "bk-page-c": "eu-west-1",
        "bk-page-d": "us-west-2",
    }
    regions = {"bk-page-a": "us-east-1", "bk-page-b": "eu-west-1", "bk-page-c": "eu-west-1"}
    regions["bk-page-d"] = "us-west-2"
    for name, constraint in placed.items():
        config = {"LocationConstraint": constraint} if constraint else {}
        lister.create_bucket(
            Bucket=name, **({"CreateBucketConfiguration": config} if config else {})
        )
    try:
        whole = lister.list_buckets()
        assert [(b["Name"], b["BucketRegion"]) for b in whole["Buckets"]] == list(regions.items())
        assert whole["Owner"]["ID"] and "ContinuationToken" not in whole
        for name, constraint in placed.items():
            assert lister.get_bucket_location(Bucket=name).get("LocationConstraint") == constraint
            assert lister.head_bucket(Bucket=name)["BucketRegion"] == regions[name]
        first = lister.list_buckets(MaxBuckets=3)
        assert [b["Name"] for b in first["Buckets"]] == ["bk-page-a", "bk-page-b", "bk-page-c"]
        rest = lister.list_buckets(MaxBuckets=3, ContinuationToken=first["ContinuationToken"])
        assert [b["Name"] for b in rest["Buckets"]] == ["bk-page-d"]
        assert "ContinuationToken" not in rest
        narrowed = lister.list_buckets(Prefix="bk-page-c")
        assert ([b["Name"] for b in narrowed["Buckets"]], narrowed["Prefix"]) == (
            ["bk-page-c"],
            "bk-page-c",
        )
        in_eu = lister.list_buckets(BucketRegion="eu-west-1", MaxBuckets=1)
        assert [b["Name"] for b in in_eu["Buckets"]] == ["bk-page-b"]
        in_eu = lister.list_buckets(
            BucketRegion="eu-west-1", MaxBuckets=1, ContinuationToken=in_eu["ContinuationToken"]
        )
        assert [b["Name"] for b in in_eu["Buckets"]] == ["bk-page-c"]
    finally:
        for name in placed:
            lister.delete_bucket(Bucket=name)
    assert lister.list_buckets()["Buckets"] == []


def test_list_buckets_refuses_bad_parameters(
    live: LiveServer, ops: BaseClient, ops_keys: dict[str, Any]
) -> None:
    """`max-buckets` is 1 to 10,000 (AWS: "If you specify the bucket-region, prefix, or
    continuation-token query parameters without using max-buckets [...] Amazon S3 applies a
    default page size of 10,000"); a continuation token is "obfuscated and is not a real
    bucket": one that was not given out for this listing is refused. 400 InvalidArgument."""
    ops.create_bucket(Bucket="bk-own-2")
    try:
        token = ops.list_buckets(MaxBuckets=1)["ContinuationToken"]
        for query in (
            "max-buckets=0",  # (boto3 would not send it)
            "max-buckets=10001",
            "max-buckets=ten",
            "continuation-token=not-a-token",
            f"continuation-token={quote(token)}&prefix=bk",  # another listing's
        ):
            headers = _signed(live, ops_keys, "GET", f"/?{query}", b"")
            response = httpx.get(f"{live.endpoint}/?{query}", headers=headers)
            assert response.status_code == 400, (query, response.text)
            assert "<Code>InvalidArgument</Code>" in response.text, (query, response.text)
    finally:
        ops.delete_bucket(Bucket="bk-own-2")


def test_deleting_a_bucket_discards_its_unfinished_uploads(live: LiveServer) -> None:
    """A bucket is empty when it holds no object: AWS deletes a bucket whose only content is
    unfinished multipart uploads, and the uploads go with it. One with an object is still
    409 BucketNotEmpty."""
    deleter = _operator(live, "buckets-deleter")
    deleter.create_bucket(Bucket="bk-uploads")
    first = deleter.create_multipart_upload(Bucket="bk-uploads", Key="a/big")["UploadId"]
    deleter.upload_part(Bucket="bk-uploads", Key="a/big", UploadId=first, PartNumber=1, Body=b"p")
    deleter.create_multipart_upload(Bucket="bk-uploads", Key="b")
    deleter.put_object(Bucket="bk-uploads", Key="object", Body=b"x")
    assert _answer(lambda: deleter.delete_bucket(Bucket="bk-uploads"))[:2] == (
        409,
        "BucketNotEmpty",
    )
    deleter.delete_object(Bucket="bk-uploads", Key="object")
    deleted = deleter.delete_bucket(Bucket="bk-uploads")
    assert deleted["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert _answer(lambda: deleter.head_bucket(Bucket="bk-uploads"))[:2] == (404, "NoSuchBucket")
    deleter.create_bucket(Bucket="bk-uploads")  # the name again: empty, uploads and all
    assert deleter.list_multipart_uploads(Bucket="bk-uploads").get("Uploads", []) == []
    deleter.delete_bucket(Bucket="bk-uploads")


@pytest.fixture(scope="module")
def in_eu_west_1(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A server of its own that answers for eu-west-1 (on the local store)."""
    server = LiveServer.create(tmp_path_factory.mktemp("eu-west-1"))
    server.env = {**os.environ, "LAKESTOW_REGION": "eu-west-1"}
    server.start()
    yield server
    server.stop()
    assert "Traceback" not in server.log(), server.log()


def test_another_region_answers_as_its_aws_endpoint(
    in_eu_west_1: LiveServer, tmp_path: Path
) -> None:
    """On an endpoint of a region other than us-east-1, AWS refuses a CreateBucket that names
    no LocationConstraint or another region ("IllegalLocationConstraintException: The
    unspecified location constraint is incompatible for the region specific endpoint this
    request was sent to"), and creating one's own bucket again is 409
    BucketAlreadyOwnedByYou, for an operator as for a member and their organization's
    bucket: rclone, which creates the bucket first, takes that for a yes."""
    server = in_eu_west_1
    ops = _operator(server, "eu-ops", region="eu-west-1")
    for config in ({}, {"CreateBucketConfiguration": {"LocationConstraint": "us-west-2"}}):
        answer = _answer(lambda: ops.create_bucket(Bucket="bk-eu", **config))  # noqa: B023
        assert answer[:2] == (400, "IllegalLocationConstraintException"), (config, answer)
    here = {"LocationConstraint": "eu-west-1"}
    ops.create_bucket(Bucket="bk-eu", CreateBucketConfiguration=here)
    assert _answer(lambda: ops.create_bucket(Bucket="bk-eu", CreateBucketConfiguration=here))[
        :2
    ] == (409, "BucketAlreadyOwnedByYou")
    assert ops.get_bucket_location(Bucket="bk-eu")["LocationConstraint"] == "eu-west-1"
    assert [b["Name"] for b in ops.list_buckets()["Buckets"]] == ["bk-eu"]
    alice = _client(server, server.credentials("alice"), region="eu-west-1")
    assert _answer(lambda: alice.create_bucket(Bucket=BUCKET))[:2] == (
        409,
        "BucketAlreadyOwnedByYou",
    )
    assert alice.get_bucket_location(Bucket=BUCKET)["LocationConstraint"] == "eu-west-1"
    assert alice.head_bucket(Bucket=BUCKET)["BucketRegion"] == "eu-west-1"
    source = tmp_path / "here.txt"
    source.write_bytes(b"in eu-west-1")
    key = f"{server.private('alice')}here.txt"
    credentials = server.credentials("alice")
    rclone(
        server,
        credentials,
        tmp_path,
        "copyto",
        str(source),
        f"lk:{BUCKET}/{key}",
        region="eu-west-1",
    )
    assert alice.get_object(Bucket=BUCKET, Key=key)["Body"].read() == b"in eu-west-1"
