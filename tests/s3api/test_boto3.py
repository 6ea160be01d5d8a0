"""boto3 against a live lakestow: multipart, copies, deletes, conditions, ranges, paging."""

from __future__ import annotations

import hashlib
import os
from concurrent.futures import ThreadPoolExecutor

import pytest
from botocore.client import BaseClient
from botocore.exceptions import ClientError
from botocore.handlers import set_list_objects_encoding_type_url

from s3api.conftest import BUCKET, LiveServer

MiB = 1024 * 1024


def _code(error: pytest.ExceptionInfo[ClientError]) -> str:
    return str(error.value.response["Error"]["Code"])


@pytest.fixture
def home(live: LiveServer, request: pytest.FixtureRequest) -> str:
    """A fresh folder in alice's private data folder, one per test."""
    return f"{live.private('alice')}{request.node.name}/"


def test_put_get_head_with_metadata(alice: BaseClient, home: str) -> None:
    body = os.urandom(100_000)
    put = alice.put_object(
        Bucket=BUCKET,
        Key=home + "a.bin",
        Body=body,
        ContentType="application/x-test",
        Metadata={"owner": "alice", "purpose": "test"},
        ContentDisposition="attachment",
    )
    assert put["ETag"] == f'"{hashlib.md5(body).hexdigest()}"'
    got = alice.get_object(Bucket=BUCKET, Key=home + "a.bin")
    assert got["Body"].read() == body
    assert got["ContentType"] == "application/x-test"
    assert got["Metadata"] == {"owner": "alice", "purpose": "test"}
    assert got["ContentDisposition"] == "attachment"
    head = alice.head_object(Bucket=BUCKET, Key=home + "a.bin")
    assert head["ContentLength"] == len(body) and head["ETag"] == put["ETag"]
    with pytest.raises(ClientError) as missing:
        alice.get_object(Bucket=BUCKET, Key=home + "missing")
    assert _code(missing) == "NoSuchKey"


def test_ranged_gets(alice: BaseClient, home: str) -> None:
    body = os.urandom(10_000)
    alice.put_object(Bucket=BUCKET, Key=home + "r", Body=body)
    for header, expected in [
        ("bytes=0-99", body[:100]),
        ("bytes=9990-", body[9990:]),
        ("bytes=-10", body[-10:]),
        ("bytes=5000-99999", body[5000:]),
    ]:
        got = alice.get_object(Bucket=BUCKET, Key=home + "r", Range=header)
        assert got["Body"].read() == expected, header
        assert got["ResponseMetadata"]["HTTPStatusCode"] == 206
        assert got["ContentRange"].endswith("/10000")
    with pytest.raises(ClientError) as bad:
        alice.get_object(Bucket=BUCKET, Key=home + "r", Range="bytes=20000-")
    assert _code(bad) == "InvalidRange"


def test_conditional_writes(alice: BaseClient, home: str) -> None:
    first = alice.put_object(Bucket=BUCKET, Key=home + "c", Body=b"one", IfNoneMatch="*")
    with pytest.raises(ClientError) as taken:
        alice.put_object(Bucket=BUCKET, Key=home + "c", Body=b"two", IfNoneMatch="*")
    assert taken.value.response["ResponseMetadata"]["HTTPStatusCode"] == 412
    with pytest.raises(ClientError) as stale:
        alice.put_object(
            Bucket=BUCKET, Key=home + "c", Body=b"two", IfMatch='"0123456789abcdef0123456789abcdef"'
        )
    assert _code(stale) == "PreconditionFailed"
    alice.put_object(Bucket=BUCKET, Key=home + "c", Body=b"three", IfMatch=first["ETag"])
    assert alice.get_object(Bucket=BUCKET, Key=home + "c")["Body"].read() == b"three"


def test_conditional_deletes(alice: BaseClient, home: str) -> None:
    old = alice.put_object(Bucket=BUCKET, Key=home + "d", Body=b"old")["ETag"]
    new = alice.put_object(Bucket=BUCKET, Key=home + "d", Body=b"new")["ETag"]
    with pytest.raises(ClientError) as changed:
        alice.delete_object(Bucket=BUCKET, Key=home + "d", IfMatch=old)
    assert _code(changed) == "PreconditionFailed"
    assert alice.get_object(Bucket=BUCKET, Key=home + "d")["Body"].read() == b"new"
    alice.delete_object(Bucket=BUCKET, Key=home + "d", IfMatch=new)
    with pytest.raises(ClientError) as gone:
        alice.delete_object(Bucket=BUCKET, Key=home + "d", IfMatch="*")
    assert _code(gone) == "NoSuchKey"
    alice.delete_object(Bucket=BUCKET, Key=home + "d")  # without a condition: no error


def test_conditional_reads(alice: BaseClient, home: str) -> None:
    etag = alice.put_object(Bucket=BUCKET, Key=home + "c", Body=b"x")["ETag"]
    with pytest.raises(ClientError) as not_modified:
        alice.get_object(Bucket=BUCKET, Key=home + "c", IfNoneMatch=etag)
    assert not_modified.value.response["ResponseMetadata"]["HTTPStatusCode"] == 304
    with pytest.raises(ClientError) as failed:
        alice.get_object(Bucket=BUCKET, Key=home + "c", IfMatch='"nope"')
    assert failed.value.response["ResponseMetadata"]["HTTPStatusCode"] == 412
    assert alice.get_object(Bucket=BUCKET, Key=home + "c", IfMatch=etag)["Body"].read() == b"x"


def test_response_overrides(alice: BaseClient, home: str) -> None:
    alice.put_object(Bucket=BUCKET, Key=home + "o", Body=b"x")
    got = alice.get_object(
        Bucket=BUCKET,
        Key=home + "o",
        ResponseContentType="text/csv",
        ResponseContentDisposition='attachment; filename="o.csv"',
    )
    assert got["ContentType"] == "text/csv"
    assert got["ContentDisposition"] == 'attachment; filename="o.csv"'


def test_copy_object_keeps_or_replaces_metadata(alice: BaseClient, home: str) -> None:
    alice.put_object(
        Bucket=BUCKET, Key=home + "src", Body=b"data", Metadata={"a": "1"}, ContentType="text/plain"
    )
    alice.copy_object(
        Bucket=BUCKET, Key=home + "kept", CopySource={"Bucket": BUCKET, "Key": home + "src"}
    )
    kept = alice.head_object(Bucket=BUCKET, Key=home + "kept")
    assert kept["Metadata"] == {"a": "1"} and kept["ContentType"] == "text/plain"
    alice.copy_object(
        Bucket=BUCKET,
        Key=home + "replaced",
        CopySource=f"{BUCKET}/{home}src",
        Metadata={"b": "2"},
        MetadataDirective="REPLACE",
        ContentType="text/csv",
    )
    replaced = alice.head_object(Bucket=BUCKET, Key=home + "replaced")
    assert replaced["Metadata"] == {"b": "2"} and replaced["ContentType"] == "text/csv"
    assert alice.get_object(Bucket=BUCKET, Key=home + "replaced")["Body"].read() == b"data"


def test_copy_from_a_folder_one_may_not_read_is_denied(
    live: LiveServer, alice: BaseClient, home: str
) -> None:
    bob = live.client("bob")
    bob.put_object(Bucket=BUCKET, Key=live.private("bob") + "secret", Body=b"bob's")
    with pytest.raises(ClientError) as denied:
        alice.copy_object(
            Bucket=BUCKET,
            Key=home + "stolen",
            CopySource={"Bucket": BUCKET, "Key": live.private("bob") + "secret"},
        )
    assert _code(denied) == "AccessDenied"
    with pytest.raises(ClientError):
        alice.head_object(Bucket=BUCKET, Key=home + "stolen")


def test_multipart_with_upload_part_copy(alice: BaseClient, home: str) -> None:
    part1, part3 = os.urandom(5 * MiB), os.urandom(1234)
    source = os.urandom(6 * MiB)
    alice.put_object(Bucket=BUCKET, Key=home + "source", Body=source)
    upload = alice.create_multipart_upload(
        Bucket=BUCKET, Key=home + "mp", ContentType="application/x-mp"
    )
    uid = upload["UploadId"]
    e1 = alice.upload_part(Bucket=BUCKET, Key=home + "mp", UploadId=uid, PartNumber=1, Body=part1)[
        "ETag"
    ]
    e2 = alice.upload_part_copy(
        Bucket=BUCKET,
        Key=home + "mp",
        UploadId=uid,
        PartNumber=2,
        CopySource={"Bucket": BUCKET, "Key": home + "source"},
        CopySourceRange=f"bytes=0-{5 * MiB - 1}",
    )["CopyPartResult"]["ETag"]
    e3 = alice.upload_part(Bucket=BUCKET, Key=home + "mp", UploadId=uid, PartNumber=3, Body=part3)[
        "ETag"
    ]
    parts = alice.list_parts(Bucket=BUCKET, Key=home + "mp", UploadId=uid)["Parts"]
    assert [p["PartNumber"] for p in parts] == [1, 2, 3]
    uploads = alice.list_multipart_uploads(Bucket=BUCKET, Prefix=home)["Uploads"]
    assert [u["UploadId"] for u in uploads] == [uid]
    done = alice.complete_multipart_upload(
        Bucket=BUCKET,
        Key=home + "mp",
        UploadId=uid,
        MultipartUpload={
            "Parts": [{"PartNumber": n, "ETag": e} for n, e in ((1, e1), (2, e2), (3, e3))]
        },
    )
    digests = b"".join(hashlib.md5(p).digest() for p in (part1, source[: 5 * MiB], part3))
    assert done["ETag"] == f'"{hashlib.md5(digests).hexdigest()}-3"'
    body = alice.get_object(Bucket=BUCKET, Key=home + "mp")["Body"].read()
    assert body == part1 + source[: 5 * MiB] + part3
    assert alice.head_object(Bucket=BUCKET, Key=home + "mp")["ContentType"] == "application/x-mp"


def _multipart(alice: BaseClient, key: str, parts: list[bytes], source: str) -> None:
    """Upload `parts` as one object; the second by UploadPartCopy of `source`'s first bytes."""
    uid = alice.create_multipart_upload(Bucket=BUCKET, Key=key)["UploadId"]
    etags = []
    for number, data in enumerate(parts, start=1):
        if number == 2:
            etags.append(
                alice.upload_part_copy(
                    Bucket=BUCKET,
                    Key=key,
                    UploadId=uid,
                    PartNumber=number,
                    CopySource={"Bucket": BUCKET, "Key": source},
                    CopySourceRange=f"bytes=0-{len(data) - 1}",
                )["CopyPartResult"]["ETag"]
            )
            continue
        done = alice.upload_part(Bucket=BUCKET, Key=key, UploadId=uid, PartNumber=number, Body=data)
        etags.append(done["ETag"])
    alice.complete_multipart_upload(
        Bucket=BUCKET,
        Key=key,
        UploadId=uid,
        MultipartUpload={"Parts": [{"PartNumber": n, "ETag": e} for n, e in enumerate(etags, 1)]},
    )


def test_get_and_head_by_part_number(alice: BaseClient, home: str) -> None:
    source = os.urandom(6 * MiB)
    alice.put_object(Bucket=BUCKET, Key=home + "source", Body=source)
    parts = [os.urandom(5 * MiB), source[: 5 * MiB + 7], os.urandom(1234)]
    _multipart(alice, home + "mp", parts, home + "source")
    alice.copy_object(
        Bucket=BUCKET, Key=home + "copy", CopySource={"Bucket": BUCKET, "Key": home + "mp"}
    )
    size = sum(len(p) for p in parts)
    for key in ("mp", "copy"):
        start = 0
        for number, data in enumerate(parts, start=1):
            end = start + len(data) - 1
            got = alice.get_object(Bucket=BUCKET, Key=home + key, PartNumber=number)
            assert got["ResponseMetadata"]["HTTPStatusCode"] == 206
            assert got["Body"].read() == data
            assert got["ContentRange"] == f"bytes {start}-{end}/{size}"
            assert (got["ContentLength"], got["PartsCount"]) == (len(data), 3)
            head = alice.head_object(Bucket=BUCKET, Key=home + key, PartNumber=number)
            assert head["ResponseMetadata"]["HTTPStatusCode"] == 206
            assert (head["ContentLength"], head["PartsCount"]) == (len(data), 3)
            assert head["ContentRange"] == f"bytes {start}-{end}/{size}"
            start = end + 1
    with pytest.raises(ClientError) as beyond:
        alice.get_object(Bucket=BUCKET, Key=home + "mp", PartNumber=4)
    assert _code(beyond) == "InvalidPartNumber"
    with pytest.raises(ClientError) as beyond_head:
        alice.head_object(Bucket=BUCKET, Key=home + "mp", PartNumber=4)
    assert beyond_head.value.response["ResponseMetadata"]["HTTPStatusCode"] == 416
    with pytest.raises(ClientError) as both:
        alice.get_object(Bucket=BUCKET, Key=home + "mp", PartNumber=1, Range="bytes=0-1")
    assert _code(both) == "InvalidRequest"


def test_part_number_of_a_single_part_object(alice: BaseClient, home: str) -> None:
    alice.put_object(Bucket=BUCKET, Key=home + "plain", Body=b"plain bytes")
    got = alice.get_object(Bucket=BUCKET, Key=home + "plain", PartNumber=1)
    assert got["Body"].read() == b"plain bytes" and "PartsCount" not in got
    with pytest.raises(ClientError) as beyond:
        alice.get_object(Bucket=BUCKET, Key=home + "plain", PartNumber=2)
    assert _code(beyond) == "InvalidPartNumber"
    alice.put_object(Bucket=BUCKET, Key=home + "empty", Body=b"")
    empty = alice.get_object(Bucket=BUCKET, Key=home + "empty", PartNumber=1)
    assert empty["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert empty["Body"].read() == b"" and empty["ContentLength"] == 0


def test_multipart_errors(alice: BaseClient, home: str) -> None:
    uid = alice.create_multipart_upload(Bucket=BUCKET, Key=home + "bad")["UploadId"]
    etag = alice.upload_part(
        Bucket=BUCKET, Key=home + "bad", UploadId=uid, PartNumber=1, Body=b"small"
    )["ETag"]
    with pytest.raises(ClientError) as invalid:
        alice.complete_multipart_upload(
            Bucket=BUCKET,
            Key=home + "bad",
            UploadId=uid,
            MultipartUpload={"Parts": [{"PartNumber": 2, "ETag": etag}]},
        )
    assert _code(invalid) == "InvalidPart"
    alice.abort_multipart_upload(Bucket=BUCKET, Key=home + "bad", UploadId=uid)
    with pytest.raises(ClientError) as gone:
        alice.list_parts(Bucket=BUCKET, Key=home + "bad", UploadId=uid)
    assert _code(gone) == "NoSuchUpload"


def test_delete_objects(live: LiveServer, alice: BaseClient, home: str) -> None:
    for i in range(5):
        alice.put_object(Bucket=BUCKET, Key=f"{home}d{i}", Body=b"x")
    bob_key = live.private("bob") + "keep-me"
    live.client("bob").put_object(Bucket=BUCKET, Key=bob_key, Body=b"bob")
    result = alice.delete_objects(
        Bucket=BUCKET,
        Delete={
            "Objects": [{"Key": f"{home}d{i}"} for i in range(5)]
            + [{"Key": bob_key}, {"Key": f"{home}never"}],
        },
    )
    assert sorted(d["Key"] for d in result["Deleted"]) == sorted(
        [f"{home}d{i}" for i in range(5)] + [f"{home}never"]
    )
    assert [(e["Key"], e["Code"]) for e in result["Errors"]] == [(bob_key, "AccessDenied")]
    assert alice.list_objects_v2(Bucket=BUCKET, Prefix=home)["KeyCount"] == 0
    assert live.client("bob").get_object(Bucket=BUCKET, Key=bob_key)["Body"].read() == b"bob"


def test_a_key_and_a_folder_of_the_same_name_coexist(alice: BaseClient, home: str) -> None:
    alice.put_object(Bucket=BUCKET, Key=home + "a", Body=b"file")
    alice.put_object(Bucket=BUCKET, Key=home + "a/b", Body=b"nested")
    alice.put_object(Bucket=BUCKET, Key=home + "folder/", Body=b"")
    listing = alice.list_objects_v2(Bucket=BUCKET, Prefix=home, Delimiter="/")
    assert [o["Key"] for o in listing["Contents"]] == [home + "a"]
    assert [p["Prefix"] for p in listing["CommonPrefixes"]] == [home + "a/", home + "folder/"]
    assert alice.get_object(Bucket=BUCKET, Key=home + "a")["Body"].read() == b"file"


@pytest.mark.slow
def test_paging_with_a_delimiter_across_thousands_of_keys(alice: BaseClient, home: str) -> None:
    """Folders of more than the 1,000 keys a page holds, so that pages end inside a common
    prefix; the keys are deleted at the end (an upstream such as moto scans its whole bucket
    for every listing, so every later test would pay for them)."""
    keys = [f"{home}dir{d:02d}/file{f:04d}" for d in range(3) for f in range(1100)]
    keys += [f"{home}top{t:03d}" for t in range(150)]

    def put(key: str) -> None:
        alice.put_object(Bucket=BUCKET, Key=key, Body=b"")

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(put, keys))
    try:
        paginator = alice.get_paginator("list_objects_v2")
        flat = [
            o["Key"]
            for page in paginator.paginate(
                Bucket=BUCKET, Prefix=home, PaginationConfig={"PageSize": 1000}
            )
            for o in page.get("Contents", [])
        ]
        assert flat == sorted(keys)
        objects, prefixes = [], []
        for page in paginator.paginate(
            Bucket=BUCKET, Prefix=home, Delimiter="/", PaginationConfig={"PageSize": 7}
        ):
            objects += [o["Key"] for o in page.get("Contents", [])]
            prefixes += [p["Prefix"] for p in page.get("CommonPrefixes", [])]
        assert prefixes == [f"{home}dir{d:02d}/" for d in range(3)]
        assert objects == [f"{home}top{t:03d}" for t in range(150)]
        v1 = alice.get_paginator("list_objects")
        v1_keys = [
            o["Key"]
            for page in v1.paginate(
                Bucket=BUCKET, Prefix=home + "dir01/", PaginationConfig={"PageSize": 100}
            )
            for o in page.get("Contents", [])
        ]
        assert v1_keys == [k for k in keys if k.startswith(home + "dir01/")]
    finally:
        for start in range(0, len(keys), 1000):
            batch = [{"Key": key} for key in keys[start : start + 1000]]
            alice.delete_objects(Bucket=BUCKET, Delete={"Objects": batch, "Quiet": True})


def test_url_encoded_listing_of_awkward_keys(alice: BaseClient, home: str) -> None:
    names = [
        "space here",
        "plus+sign",
        "amp&er",
        "ü日本",
        "percent%20",
        "tab-less~tilde",
        "q?mark",
        "#hash",
    ]
    for name in names:
        alice.put_object(Bucket=BUCKET, Key=home + name, Body=name.encode())
    listed = [o["Key"] for o in alice.list_objects_v2(Bucket=BUCKET, Prefix=home)["Contents"]]
    assert listed == sorted(home + n for n in names)
    for name in names:
        assert alice.get_object(Bucket=BUCKET, Key=home + name)["Body"].read() == name.encode()


def test_listing_escapes_keys_and_prefixes_in_xml(live: LiveServer, home: str) -> None:
    """Without encoding-type=url the keys travel as XML text: markup characters escaped,
    in objects and in common prefixes alike, and plain keys as they are."""
    alice = live.client("alice")  # a client of its own: the session's keeps its handlers
    alice.meta.events.unregister(
        "before-parameter-build.s3.ListObjectsV2", set_list_objects_encoding_type_url
    )
    names = ["amp&er", "lt<gt>", 'quo"te', "plain", "ü日本"]
    for name in names:
        alice.put_object(Bucket=BUCKET, Key=f"{home}{name}", Body=b"x")
        alice.put_object(Bucket=BUCKET, Key=f"{home}dir {name}/x", Body=b"x")
    page = alice.list_objects_v2(Bucket=BUCKET, Prefix=home, Delimiter="/")
    assert [o["Key"] for o in page["Contents"]] == sorted(home + n for n in names)
    assert [o["ETag"] for o in page["Contents"]] == ['"9dd4e461268c8034f5c8564e155c67a6"'] * 5
    assert [p["Prefix"] for p in page["CommonPrefixes"]] == sorted(f"{home}dir {n}/" for n in names)


def test_list_object_versions_lists_the_warehouse_s_versions(alice: BaseClient, home: str) -> None:
    """Every organization's bucket keeps versions (the trash): an overwrite keeps the old."""
    first = alice.put_object(Bucket=BUCKET, Key=home + "v", Body=b"x")["VersionId"]
    second = alice.put_object(Bucket=BUCKET, Key=home + "v", Body=b"y")["VersionId"]
    assert "null" not in (first, second) and first != second
    versions = alice.list_object_versions(Bucket=BUCKET, Prefix=home)["Versions"]
    assert [(v["Key"], v["VersionId"], v["IsLatest"]) for v in versions] == [
        (home + "v", second, True),
        (home + "v", first, False),
    ]
