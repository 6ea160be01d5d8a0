"""Multipart uploads at the edges, as the AWS S3 API reference and real S3 answer them.

Where the reference is silent, the expected answers are those of a suite written to run
against AWS itself (OpenStack Swift's test/s3api, "test_mpu.py"), quoted below.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from botocore.client import BaseClient
from botocore.exceptions import ClientError

from s3api.conftest import BUCKET, LiveServer, Store
from s3api.signing import signed, url_of

MiB = 1024 * 1024


@pytest.fixture
def home(live: LiveServer, request: pytest.FixtureRequest) -> str:
    name = "".join(c if c.isalnum() else "-" for c in request.node.name)
    return f"{live.private('alice')}mp-{name}/"


def _error(call: Any, **kwargs: Any) -> tuple[int, str, str]:
    with pytest.raises(ClientError) as caught:
        call(**kwargs)
    response = caught.value.response
    error = response["Error"]
    return response["ResponseMetadata"]["HTTPStatusCode"], error["Code"], error.get("Message", "")


def _parts(*etags: str) -> dict[str, Any]:
    return {"Parts": [{"PartNumber": n, "ETag": e} for n, e in enumerate(etags, 1)]}


def _completed(alice: BaseClient, key: str) -> tuple[str, dict[str, Any], str, str]:
    """An upload of two parts, completed: its id, its part list, its ETag, its first part's."""
    uid = alice.create_multipart_upload(Bucket=BUCKET, Key=key)["UploadId"]
    one = alice.upload_part(Bucket=BUCKET, Key=key, UploadId=uid, PartNumber=1, Body=b"a" * 5 * MiB)
    two = alice.upload_part(Bucket=BUCKET, Key=key, UploadId=uid, PartNumber=2, Body=b"tail")
    parts = _parts(one["ETag"], two["ETag"])
    done = alice.complete_multipart_upload(
        Bucket=BUCKET, Key=key, UploadId=uid, MultipartUpload=parts
    )
    return uid, parts, done["ETag"], one["ETag"]


def test_a_retried_complete_answers_as_the_first(
    store: Store, alice: BaseClient, home: str
) -> None:
    """AWS S3 API reference, CompleteMultipartUpload: "Note that if CompleteMultipartUpload
    fails, applications should be prepared to retry any failed requests (including 500 error
    responses)." A retry of a Complete that did succeed (its answer lost on the way) must then
    succeed too, with the same ETag: Swift's AWS-verified test_create_upload_complete_complete
    ("repeat complete gets 200")."""
    key = home + "retried"
    uid, parts, etag, first_part = _completed(alice, key)
    again = alice.complete_multipart_upload(
        Bucket=BUCKET, Key=key, UploadId=uid, MultipartUpload=parts
    )
    assert again["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert (again["ETag"], again["Bucket"], again["Key"]) == (etag, BUCKET, key)
    assert alice.head_object(Bucket=BUCKET, Key=key)["ETag"] == etag
    assert _error(alice.list_parts, Bucket=BUCKET, Key=key, UploadId=uid)[:2] == (
        404,
        "NoSuchUpload",
    )
    # other parts are not a retry of this Complete, and change nothing: lakestow answers
    # that the upload no longer exists (moto, as an upstream, with the object it made)
    other = {"Bucket": BUCKET, "Key": key, "UploadId": uid, "MultipartUpload": _parts(first_part)}
    if store.name == "moto":
        assert alice.complete_multipart_upload(**other)["ETag"] == etag
    else:
        assert _error(alice.complete_multipart_upload, **other)[:2] == (404, "NoSuchUpload")
    assert alice.head_object(Bucket=BUCKET, Key=key)["ETag"] == etag


def test_a_complete_retried_after_a_delete_finds_no_upload(alice: BaseClient, home: str) -> None:
    """Once the object a Complete made is deleted, the upload is gone for good: Swift's
    AWS-verified test_create_upload_complete_delete_complete ("repeat complete gets 404",
    NoSuchUpload), and nothing is written."""
    key = home + "deleted"
    uid, parts, _, _ = _completed(alice, key)
    alice.delete_object(Bucket=BUCKET, Key=key)
    assert _error(
        alice.complete_multipart_upload, Bucket=BUCKET, Key=key, UploadId=uid, MultipartUpload=parts
    )[:2] == (404, "NoSuchUpload")
    assert _error(alice.head_object, Bucket=BUCKET, Key=key)[0] == 404


def test_a_part_uploaded_twice_keeps_the_last_to_finish(
    live: LiveServer, alice: BaseClient, home: str
) -> None:
    """AWS S3 API reference, UploadPart: "If you upload a new part using the same part number
    that was used with a previous part, the previously uploaded part is overwritten." Two
    uploads of one part number at once: the one that finishes last is the part, though it
    started first."""
    key = home + "twice"
    uid = alice.create_multipart_upload(Bucket=BUCKET, Key=key)["UploadId"]
    slow, fast = b"s" * 300_000, b"fast part"
    halfway, fast_done = threading.Event(), threading.Event()

    def late_body() -> Iterator[bytes]:
        yield slow[:100_000]
        halfway.set()
        assert fast_done.wait(30)
        yield slow[100_000:]

    url = url_of(live.endpoint, BUCKET, key, f"partNumber=1&uploadId={uid}")
    creds = live.credentials("alice")
    request = signed(
        creds, "PUT", url, headers={"Content-Length": str(len(slow))}, stream=late_body()
    )
    answers: list[httpx.Response] = []
    with httpx.Client(timeout=60) as client:
        thread = threading.Thread(target=lambda: answers.append(client.send(request)))
        thread.start()
        assert halfway.wait(30)
        quick = alice.upload_part(Bucket=BUCKET, Key=key, UploadId=uid, PartNumber=1, Body=fast)
        fast_done.set()
        thread.join(60)
    assert answers and answers[0].status_code == 200, answers and answers[0].text
    slow_etag = answers[0].headers["etag"]
    assert slow_etag == f'"{hashlib.md5(slow).hexdigest()}"'
    listed = alice.list_parts(Bucket=BUCKET, Key=key, UploadId=uid)["Parts"]
    assert [(p["PartNumber"], p["ETag"], p["Size"]) for p in listed] == [(1, slow_etag, len(slow))]
    assert _error(
        alice.complete_multipart_upload,
        Bucket=BUCKET,
        Key=key,
        UploadId=uid,
        MultipartUpload=_parts(quick["ETag"]),
    )[:2] == (400, "InvalidPart")
    alice.complete_multipart_upload(
        Bucket=BUCKET, Key=key, UploadId=uid, MultipartUpload=_parts(slow_etag)
    )
    assert alice.get_object(Bucket=BUCKET, Key=key)["Body"].read() == slow


def test_part_numbers_a_get_cannot_serve(alice: BaseClient, home: str) -> None:
    """GET/HEAD ?partNumber=N. Out of 1..10000 is 400 InvalidArgument ("Part number must be
    an integer between 1 and 10000, inclusive"); beyond the object's parts, real S3 answers
    416 InvalidPartNumber, "The requested partnumber is not satisfiable" (Swift's
    AWS-verified test_get_object_partNumber_errors, test_part_number_non_mpu), a HEAD the
    same status without a body; with a Range too, 400 InvalidRequest, whatever the number
    (test_get_object_partNumber_and_range: "partNumber + Range error trumps bad partNumber")."""
    key = home + "plain"
    alice.put_object(Bucket=BUCKET, Key=key, Body=b"non-mpu-object")
    for number in (0, 10_001):
        assert _error(alice.get_object, Bucket=BUCKET, Key=key, PartNumber=number) == (
            400,
            "InvalidArgument",
            "Part number must be an integer between 1 and 10000, inclusive",
        )
        assert _error(alice.head_object, Bucket=BUCKET, Key=key, PartNumber=number)[0] == 400
    assert _error(alice.get_object, Bucket=BUCKET, Key=key, PartNumber=4) == (
        416,
        "InvalidPartNumber",
        "The requested partnumber is not satisfiable",
    )
    assert _error(alice.head_object, Bucket=BUCKET, Key=key, PartNumber=4)[0] == 416
    assert _error(alice.get_object, Bucket=BUCKET, Key=key, PartNumber=0, Range="bytes=1-2") == (
        400,
        "InvalidRequest",
        "Cannot specify both Range header and partNumber query parameter",
    )
    got = alice.get_object(Bucket=BUCKET, Key=key, PartNumber=1)
    assert (got["ResponseMetadata"]["HTTPStatusCode"], got["ContentRange"]) == (
        206,
        "bytes 0-13/14",
    )


def test_upload_part_copy_ranges_of_the_wrong_form(alice: BaseClient, home: str) -> None:
    """x-amz-copy-source-range must be `bytes=first-last`; S3 answers anything else with 400
    InvalidArgument, "The x-amz-copy-source-range value must be of the form bytes=first-last
    where first and last are the zero-based offsets of the first and last bytes to copy"
    (the ranges are those of ceph's s3-tests test_multipart_copy_improper_range)."""
    alice.put_object(Bucket=BUCKET, Key=home + "source", Body=b"12345")
    uid = alice.create_multipart_upload(Bucket=BUCKET, Key=home + "dest")["UploadId"]
    for value in (
        "0-2",
        "bytes=0",
        "bytes=hello-world",
        "bytes=0-bar",
        "bytes=hello-",
        "bytes=0-2,3-5",
        "bytes=3-1",
    ):
        status, code, message = _error(
            alice.upload_part_copy,
            Bucket=BUCKET,
            Key=home + "dest",
            UploadId=uid,
            PartNumber=1,
            CopySource={"Bucket": BUCKET, "Key": home + "source"},
            CopySourceRange=value,
        )
        assert (status, code) == (400, "InvalidArgument"), value
        assert message.startswith("The x-amz-copy-source-range value must be of the form "), value
    assert alice.list_parts(Bucket=BUCKET, Key=home + "dest", UploadId=uid).get("Parts", []) == []


def test_upload_part_copy_range_beyond_the_source(alice: BaseClient, home: str) -> None:
    """A copy range not inside the source is not clamped as a GET's Range is: S3 answers 400
    InvalidArgument, "Range specified is not valid for source object of size: N" (what AWS
    answers, as reported against versitygw, issue 610), and no part is stored."""
    alice.put_object(Bucket=BUCKET, Key=home + "source", Body=b"12345")
    uid = alice.create_multipart_upload(Bucket=BUCKET, Key=home + "dest")["UploadId"]
    for value in ("bytes=0-21", "bytes=0-5", "bytes=5-5"):
        assert _error(
            alice.upload_part_copy,
            Bucket=BUCKET,
            Key=home + "dest",
            UploadId=uid,
            PartNumber=1,
            CopySource={"Bucket": BUCKET, "Key": home + "source"},
            CopySourceRange=value,
        ) == (400, "InvalidArgument", "Range specified is not valid for source object of size: 5")
    assert alice.list_parts(Bucket=BUCKET, Key=home + "dest", UploadId=uid).get("Parts", []) == []
    done = alice.upload_part_copy(
        Bucket=BUCKET,
        Key=home + "dest",
        UploadId=uid,
        PartNumber=1,
        CopySource={"Bucket": BUCKET, "Key": home + "source"},
        CopySourceRange="bytes=1-4",
    )
    assert done["CopyPartResult"]["ETag"] == f'"{hashlib.md5(b"2345").hexdigest()}"'


def test_hundreds_of_parts_and_uploads_list_whole(alice: BaseClient, home: str) -> None:
    """ListParts and ListMultipartUploads of more entries than the server renders in one turn
    (250): every one, in order, as boto3 reads them; a key with markup among them."""
    key = home + "many"
    uid = alice.create_multipart_upload(Bucket=BUCKET, Key=key)["UploadId"]
    bodies = {n: f"part {n}".encode() for n in range(1, 262)}

    def upload(n: int) -> tuple[int, str]:
        answer = alice.upload_part(
            Bucket=BUCKET, Key=key, UploadId=uid, PartNumber=n, Body=bodies[n]
        )
        return n, answer["ETag"]

    with ThreadPoolExecutor(8) as pool:
        etags = dict(pool.map(upload, bodies))
    assert all(etags[n] == f'"{hashlib.md5(bodies[n]).hexdigest()}"' for n in bodies)
    listed = alice.list_parts(Bucket=BUCKET, Key=key, UploadId=uid)
    assert not listed["IsTruncated"]
    assert [(p["PartNumber"], p["ETag"], p["Size"]) for p in listed["Parts"]] == [
        (n, etags[n], len(bodies[n])) for n in sorted(bodies)
    ]
    alice.abort_multipart_upload(Bucket=BUCKET, Key=key, UploadId=uid)

    names = [f"{home}u/{n:03d}" + (" & <x>" if n == 7 else "") for n in range(261)]
    with ThreadPoolExecutor(8) as pool:
        ids = list(
            pool.map(
                lambda k: alice.create_multipart_upload(Bucket=BUCKET, Key=k)["UploadId"], names
            )
        )
    try:
        page = alice.list_multipart_uploads(Bucket=BUCKET, Prefix=home + "u/")
        assert not page["IsTruncated"]
        assert [(u["Key"], u["UploadId"]) for u in page["Uploads"]] == sorted(
            zip(names, ids, strict=True)
        )
    finally:
        for name, upload_id in zip(names, ids, strict=True):
            alice.abort_multipart_upload(Bucket=BUCKET, Key=name, UploadId=upload_id)
