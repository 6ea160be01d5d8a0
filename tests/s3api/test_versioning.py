"""S3 versioning through the real endpoint, with boto3 and the aws CLI: Get/PutBucketVersioning,
versionId on GET, HEAD and DELETE, delete markers, suspended buckets and the null version,
ListObjectVersions paged against a model, DeleteObjects with version ids, copies and part
copies from a version, and what a member may do with the versions of the warehouse.

Operators own plain buckets and set their versioning. Members cannot change their
organization's bucket, which the server versions when it loads the organization (the trash):
a server of its own shows a member's versions of a warehouse that holds only this module's.

Over the s3 backend, two things are as its design says and not as S3 does
(`storage/s3/versions.py`): Suspended is refused (501), and an object written before its
bucket's versioning was set, on an upstream bucket already versioned (as every upstream is
once an organization's bucket is), keeps the upstream's version id rather than "null". The
tests of S3's behaviour there are expected failures (`conftest.S3_BACKEND_LIMITS`); others
check what the s3 backend does instead.
"""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from botocore.client import BaseClient
from botocore.config import Config
from botocore.exceptions import ClientError
from defusedxml import ElementTree as ET

from s3api.conftest import BIN, BUCKET, LiveServer, Store, lakestow
from s3api.signing import signed, url_of

NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"
MiB = 1024 * 1024
Model = dict[str, list[tuple[str, bool]]]
"""What a bucket holds, from what the server answered: per key, its versions newest first,
each (version id, is a delete marker)."""


@pytest.fixture(scope="module")
def operator(live: LiveServer) -> dict[str, Any]:
    """The keys of an operator, as credentials documents name them."""
    keys = json.loads(
        lakestow(live.data_dir, "operator", "create", "versions-tool", "--format", "json")
    )
    return {**keys, "SessionToken": None}


@pytest.fixture(scope="module")
def ops(live: LiveServer, operator: dict[str, Any]) -> BaseClient:
    return boto3.client(
        "s3",
        endpoint_url=live.endpoint,
        region_name="us-east-1",
        aws_access_key_id=operator["AccessKeyId"],
        aws_secret_access_key=operator["SecretAccessKey"],
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
    )


@pytest.fixture
def plain(ops: BaseClient) -> str:
    """A new bucket of the operator's, its versioning never set."""
    name = f"v-{uuid.uuid4().hex[:12]}"
    ops.create_bucket(Bucket=name)
    return name


@pytest.fixture
def bucket(ops: BaseClient, plain: str) -> str:
    """A new bucket of the operator's, versioning enabled."""
    ops.put_bucket_versioning(Bucket=plain, VersioningConfiguration={"Status": "Enabled"})
    return plain


def _error(call: Any, **params: Any) -> tuple[int, str, dict[str, str]]:
    """The status, code and headers of the error a call gets."""
    with pytest.raises(ClientError) as caught:
        call(**params)
    response = caught.value.response
    meta = response["ResponseMetadata"]
    return meta["HTTPStatusCode"], response["Error"]["Code"], meta["HTTPHeaders"]


def _raw(
    live: LiveServer,
    creds: dict[str, Any],
    method: str,
    bucket: str,
    key: str,
    query: str,
    body: bytes = b"",
) -> httpx.Response:
    request = signed(creds, method, url_of(live.endpoint, bucket, key, query), body=body)
    with httpx.Client() as client:
        return client.send(request)


def _code(response: httpx.Response) -> str:
    return ET.fromstring(response.content).findtext("Code") or ""


# Get/PutBucketVersioning


def test_versioning_is_never_set_then_enabled_then_suspended(ops: BaseClient, plain: str) -> None:
    got = ops.get_bucket_versioning(Bucket=plain)
    assert "Status" not in got and "MFADelete" not in got
    for status in ("Enabled", "Suspended", "Enabled"):
        ops.put_bucket_versioning(Bucket=plain, VersioningConfiguration={"Status": status})
        assert ops.get_bucket_versioning(Bucket=plain)["Status"] == status


def test_a_bad_versioning_configuration_changes_nothing(
    live: LiveServer, operator: dict[str, Any], ops: BaseClient, bucket: str
) -> None:
    for body in (
        b"not xml",
        b"<VersioningConfiguration><Status>Disabled</Status></VersioningConfiguration>",
        b"<VersioningConfiguration><Status>enabled</Status></VersioningConfiguration>",
        b"<Versioning><Status>Suspended</Status></Versioning>",
        b"<VersioningConfiguration><Status>Suspended</Status><MfaDelete>Maybe</MfaDelete>"
        b"</VersioningConfiguration>",
    ):
        answer = _raw(live, operator, "PUT", bucket, "", "versioning", body)
        assert (answer.status_code, _code(answer)) == (400, "MalformedXML"), body
    mfa = {"Status": "Suspended", "MFADelete": "Enabled"}
    status, code, _ = _error(
        ops.put_bucket_versioning, Bucket=bucket, VersioningConfiguration=mfa, MFA="serial 123456"
    )
    assert (status, code) == (501, "NotImplemented")
    assert ops.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    # without a Status, nothing changes (MfaDelete Disabled is what there is)
    ops.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"MFADelete": "Disabled"})
    assert ops.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"


def test_a_member_reads_and_cannot_change_the_organization_s_versioning(
    alice: BaseClient,
) -> None:
    assert alice.get_bucket_versioning(Bucket=BUCKET)["Status"] == "Enabled"  # the trash
    for status in ("Suspended", "Enabled"):
        configuration = {"Status": status}
        refused = _error(
            alice.put_bucket_versioning, Bucket=BUCKET, VersioningConfiguration=configuration
        )
        assert refused[:2] == (403, "AccessDenied")
    assert alice.get_bucket_versioning(Bucket=BUCKET)["Status"] == "Enabled"


# versionId on PUT, GET, HEAD and DELETE


def test_each_write_is_a_version_read_by_its_id(ops: BaseClient, bucket: str) -> None:
    first = ops.put_object(Bucket=bucket, Key="k", Body=b"first")["VersionId"]
    second = ops.put_object(Bucket=bucket, Key="k", Body=b"second!")["VersionId"]
    assert first and second and "null" not in (first, second) and first != second
    got = ops.get_object(Bucket=bucket, Key="k", VersionId=first)
    assert (got["Body"].read(), got["VersionId"]) == (b"first", first)
    latest = ops.get_object(Bucket=bucket, Key="k")
    assert (latest["Body"].read(), latest["VersionId"]) == (b"second!", second)
    head = ops.head_object(Bucket=bucket, Key="k", VersionId=first)
    assert (head["ContentLength"], head["VersionId"]) == (5, first)
    ranged = ops.get_object(Bucket=bucket, Key="k", VersionId=first, Range="bytes=1-2")
    assert ranged["Body"].read() == b"ir"
    # a version that names nothing, and one that cannot be a version id
    assert _error(ops.get_object, Bucket=bucket, Key="k", VersionId="null")[:2] == (
        404,
        "NoSuchVersion",
    )
    assert _error(ops.head_object, Bucket=bucket, Key="other", VersionId=first)[0] == 404


def test_an_empty_version_id_is_refused(
    live: LiveServer, operator: dict[str, Any], ops: BaseClient, bucket: str
) -> None:
    ops.put_object(Bucket=bucket, Key="k", Body=b"kept")
    for method in ("GET", "DELETE"):
        answer = _raw(live, operator, method, bucket, "k", "versionId=")
        assert (answer.status_code, _code(answer)) == (400, "InvalidArgument")
    assert ops.get_object(Bucket=bucket, Key="k")["Body"].read() == b"kept"


def test_delete_markers(ops: BaseClient, bucket: str) -> None:
    kept = ops.put_object(Bucket=bucket, Key="k", Body=b"kept")["VersionId"]
    deleted = ops.delete_object(Bucket=bucket, Key="k")
    marker = deleted["VersionId"]
    assert deleted["DeleteMarker"] is True and marker not in (None, kept)
    # the latest is a marker: 404, which says so
    for call in (ops.get_object, ops.head_object):
        status, code, headers = _error(call, Bucket=bucket, Key="k")
        assert status == 404 and code in ("NoSuchKey", "404")
        assert headers["x-amz-delete-marker"] == "true"
        assert headers["x-amz-version-id"] == marker
    # a marker's version cannot be read: 405
    for call in (ops.get_object, ops.head_object):
        status, _, headers = _error(call, Bucket=bucket, Key="k", VersionId=marker)
        assert status == 405 and headers["x-amz-delete-marker"] == "true"
    assert ops.get_object(Bucket=bucket, Key="k", VersionId=kept)["Body"].read() == b"kept"
    assert "Contents" not in ops.list_objects_v2(Bucket=bucket)
    # removing the marker brings the object back
    removed = ops.delete_object(Bucket=bucket, Key="k", VersionId=marker)
    assert (removed["DeleteMarker"], removed["VersionId"]) == (True, marker)
    assert ops.get_object(Bucket=bucket, Key="k")["Body"].read() == b"kept"
    # removing a version for good: no marker
    gone = ops.delete_object(Bucket=bucket, Key="k", VersionId=kept)
    assert gone["VersionId"] == kept and "DeleteMarker" not in gone
    assert _error(ops.head_object, Bucket=bucket, Key="k")[0] == 404
    assert "Versions" not in ops.list_object_versions(Bucket=bucket)


def test_a_bucket_never_versioned_names_no_versions(ops: BaseClient, plain: str) -> None:
    put = ops.put_object(Bucket=plain, Key="k", Body=b"one")
    assert "VersionId" not in put
    assert "VersionId" not in ops.get_object(Bucket=plain, Key="k")
    assert "VersionId" not in ops.head_object(Bucket=plain, Key="k")
    listed = ops.list_object_versions(Bucket=plain)["Versions"]
    assert [(v["Key"], v["VersionId"], v["IsLatest"]) for v in listed] == [("k", "null", True)]
    deleted = ops.delete_object(Bucket=plain, Key="k")
    assert "VersionId" not in deleted and "DeleteMarker" not in deleted
    assert _error(ops.head_object, Bucket=plain, Key="k")[0] == 404
    assert "Versions" not in ops.list_object_versions(Bucket=plain)


def test_an_object_from_before_versioning_is_the_null_version(ops: BaseClient, plain: str) -> None:
    ops.put_object(Bucket=plain, Key="k", Body=b"before")
    ops.put_bucket_versioning(Bucket=plain, VersioningConfiguration={"Status": "Enabled"})
    assert ops.head_object(Bucket=plain, Key="k")["VersionId"] == "null"
    after = ops.put_object(Bucket=plain, Key="k", Body=b"after")["VersionId"]
    before = ops.get_object(Bucket=plain, Key="k", VersionId="null")
    assert (before["Body"].read(), before["VersionId"]) == (b"before", "null")
    assert _shape(ops.list_object_versions(Bucket=plain)) == [
        ("k", after, True, False),
        ("k", "null", False, False),
    ]


def test_a_suspended_bucket_writes_the_null_version(ops: BaseClient, bucket: str) -> None:
    kept = ops.put_object(Bucket=bucket, Key="k", Body=b"kept")["VersionId"]
    ops.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Suspended"})
    assert ops.put_object(Bucket=bucket, Key="k", Body=b"one")["VersionId"] == "null"
    assert ops.put_object(Bucket=bucket, Key="k", Body=b"two")["VersionId"] == "null"
    assert _shape(ops.list_object_versions(Bucket=bucket)) == [
        ("k", "null", True, False),
        ("k", kept, False, False),
    ]
    deleted = ops.delete_object(Bucket=bucket, Key="k")  # a null marker over the null version
    assert (deleted["DeleteMarker"], deleted["VersionId"]) == (True, "null")
    assert _shape(ops.list_object_versions(Bucket=bucket)) == [
        ("k", kept, False, False),
        ("k", "null", True, True),
    ]
    ops.delete_object(Bucket=bucket, Key="k", VersionId="null")
    assert ops.get_object(Bucket=bucket, Key="k")["Body"].read() == b"kept"


def test_the_s3_backend_refuses_to_suspend_and_changes_nothing(
    store: Store, ops: BaseClient, bucket: str
) -> None:
    """What the s3 backend does instead of suspending (the local store suspends: above)."""
    if store.upstream is None:
        pytest.skip("the local store suspends a bucket's versioning")
    plain = f"v-{uuid.uuid4().hex[:12]}"
    ops.create_bucket(Bucket=plain)
    kept = ops.put_object(Bucket=bucket, Key="k", Body=b"kept")["VersionId"]
    suspend = {"Status": "Suspended"}
    for name, status in ((bucket, "Enabled"), (plain, None)):
        refused = _error(ops.put_bucket_versioning, Bucket=name, VersioningConfiguration=suspend)
        assert refused[:2] == (501, "NotImplemented")
        assert ops.get_bucket_versioning(Bucket=name).get("Status") == status
    written = ops.put_object(Bucket=bucket, Key="k", Body=b"new")["VersionId"]
    assert written not in (None, "null", kept)
    assert _shape(ops.list_object_versions(Bucket=bucket)) == [
        ("k", written, True, False),
        ("k", kept, False, False),
    ]
    assert "VersionId" not in ops.put_object(Bucket=plain, Key="k", Body=b"plain")


def test_on_the_s3_backend_an_object_from_before_versioning_keeps_the_upstream_s_id(
    store: Store, ops: BaseClient, plain: str
) -> None:
    """The s3 backend's limit: the object is a version with the upstream's id, not "null"."""
    if store.upstream is None:
        pytest.skip("the local store makes it the null version (above)")
    assert "VersionId" not in ops.put_object(Bucket=plain, Key="k", Body=b"before")
    ops.put_bucket_versioning(Bucket=plain, VersioningConfiguration={"Status": "Enabled"})
    before = ops.head_object(Bucket=plain, Key="k")["VersionId"]
    assert before not in (None, "null")
    after = ops.put_object(Bucket=plain, Key="k", Body=b"after")["VersionId"]
    got = ops.get_object(Bucket=plain, Key="k", VersionId=before)
    assert (got["Body"].read(), got["VersionId"]) == (b"before", before)
    assert _error(ops.get_object, Bucket=plain, Key="k", VersionId="null")[:2] == (
        404,
        "NoSuchVersion",
    )
    assert _shape(ops.list_object_versions(Bucket=plain)) == [
        ("k", after, True, False),
        ("k", before, False, False),
    ]


# ListObjectVersions


Entry = tuple[str, str, bool, bool]
"""A version or a delete marker of a listing: (key, version id, is latest, is a marker)."""
Split = tuple[list[Entry], list[Entry], list[str]]
"""A listing's versions, delete markers and common prefixes, each in the listing's order."""


def _shape(page: dict[str, Any]) -> list[Entry]:
    """A page's versions, then its delete markers: botocore parses them into two lists
    (`_in_order` reads how they are interleaved)."""
    return [(v["Key"], v["VersionId"], v["IsLatest"], False) for v in page.get("Versions", [])] + [
        (m["Key"], m["VersionId"], m["IsLatest"], True) for m in page.get("DeleteMarkers", [])
    ]


def _split(entries: list[Any]) -> Split:
    return (
        [e for e in entries if not isinstance(e, str) and not e[3]],
        [e for e in entries if not isinstance(e, str) and e[3]],
        [e for e in entries if isinstance(e, str)],
    )


def _write(ops: BaseClient, bucket: str, key: str, steps: int) -> list[tuple[str, bool]]:
    """Write `key` `steps` times (puts, a delete marker now and then, an old version
    removed), newest first as a model of what the server answered."""
    versions: list[tuple[str, bool]] = []
    for step in range(steps):
        if step % 7 == 3:
            deleted = ops.delete_object(Bucket=bucket, Key=key)
            versions.insert(0, (deleted["VersionId"], True))
        elif step % 11 == 5 and len(versions) > 2:
            version_id, _ = versions.pop(len(versions) // 2)
            ops.delete_object(Bucket=bucket, Key=key, VersionId=version_id)
        else:
            put = ops.put_object(Bucket=bucket, Key=key, Body=f"{key} {step}".encode())
            versions.insert(0, (put["VersionId"], False))
    return versions


def _listing(model: Model, prefix: str, delimiter: str | None) -> list[Any]:
    """What a versions listing shows of `model`: (key, version, latest, marker) entries and
    common prefixes, in key order."""
    entries: list[Any] = []
    for key in sorted(model, key=str.encode):
        if not key.startswith(prefix):
            continue
        at = key.find(delimiter, len(prefix)) if delimiter else -1
        if delimiter and at >= 0:
            rolled = key[: at + len(delimiter)]
            if rolled not in entries:
                entries.append(rolled)
            continue
        for n, (version_id, marker) in enumerate(model[key]):
            entries.append((key, version_id, n == 0, marker))
    return entries


def _pages(client: BaseClient, bucket: str, **params: Any) -> Split:
    """Every entry of a versions listing, its markers followed page by page."""
    versions: list[Entry] = []
    markers: list[Entry] = []
    prefixes: list[str] = []
    following: dict[str, str] = {}
    while True:
        page = client.list_object_versions(Bucket=bucket, **params, **following)
        found = _split(_shape(page))
        versions += found[0]
        markers += found[1]
        prefixes += [p["Prefix"] for p in page.get("CommonPrefixes", [])]
        assert len(_shape(page)) + len(page.get("CommonPrefixes", [])) <= params.get(
            "MaxKeys", 1000
        )
        if not page["IsTruncated"]:
            assert "NextKeyMarker" not in page
            return versions, markers, prefixes
        following = {"KeyMarker": page["NextKeyMarker"]}
        if page.get("NextVersionIdMarker"):
            following["VersionIdMarker"] = page["NextVersionIdMarker"]


def _in_order(live: LiveServer, creds: dict[str, Any], bucket: str, query: str) -> list[Any]:
    """A versions listing's entries in the order of its XML: (key, version id, is latest,
    is a marker), and common prefixes."""
    answer = _raw(live, creds, "GET", bucket, "", f"versions&{query}")
    assert answer.status_code == 200, answer.text
    entries: list[Any] = []
    for child in ET.fromstring(answer.content):
        tag = child.tag.removeprefix(NS)
        if tag in ("Version", "DeleteMarker"):
            latest = child.findtext(f"{NS}IsLatest") == "true"
            key, version_id = child.findtext(f"{NS}Key"), child.findtext(f"{NS}VersionId")
            entries.append((key, version_id, latest, tag == "DeleteMarker"))
        elif tag == "CommonPrefixes":
            entries.append(child.findtext(f"{NS}Prefix"))
    return entries


def test_listing_thousands_of_versions_page_by_page(
    live: LiveServer, operator: dict[str, Any], ops: BaseClient, bucket: str
) -> None:
    keys = [f"k{n:02}" for n in range(24)] + [f"d/{n:02}/x" for n in range(8)] + ["d/y", "e"]
    with ThreadPoolExecutor(8) as pool:  # a key's versions one after another, keys at once
        written = pool.map(lambda key: _write(ops, bucket, key, 76), keys)
        model: Model = dict(zip(keys, written, strict=True))
    assert sum(len(v) for v in model.values()) > 2000
    everything = _listing(model, "", None)
    assert _pages(ops, bucket) == _split(everything)
    # versions and markers interleaved, by key and newest first
    assert _in_order(live, operator, bucket, "max-keys=1000") == everything[:1000]
    for prefix, delimiter, size in (
        ("", None, 7),
        ("", None, 250),
        ("k1", None, 33),
        ("d/", "/", 2),
        ("", "/", 5),
        ("d", "/", 1),
        ("k0", "0", 3),
    ):
        params: dict[str, Any] = {"Prefix": prefix, "MaxKeys": size}
        if delimiter:
            params["Delimiter"] = delimiter
        assert _pages(ops, bucket, **params) == _split(_listing(model, prefix, delimiter)), params
    # A page may begin after any version: the rest of its key, then the keys after it.
    key, under = "k03", _listing(model, "k0", None)
    for n, (version_id, marker) in enumerate(model[key]):
        if n % 9 == 0:
            rest = _pages(ops, bucket, KeyMarker=key, VersionIdMarker=version_id, Prefix="k0")
            assert rest == _split(under[under.index((key, version_id, n == 0, marker)) + 1 :])
    skipped = _pages(ops, bucket, KeyMarker=key, Prefix="k0")
    assert skipped == _split([e for e in under if e[0] > key])
    # botocore's paginator follows the same markers
    pages = ops.get_paginator("list_object_versions").paginate(
        Bucket=bucket, PaginationConfig={"PageSize": 100}
    )
    split = [_split(_shape(page)) for page in pages]
    assert ([e for s in split for e in s[0]], [e for s in split for e in s[1]]) == _split(
        everything
    )[:2]


def test_a_version_id_marker_needs_a_key_marker(
    live: LiveServer, operator: dict[str, Any], bucket: str
) -> None:
    answer = _raw(live, operator, "GET", bucket, "", "versions&version-id-marker=abc")
    assert (answer.status_code, _code(answer)) == (400, "InvalidArgument")


def test_a_versions_listing_as_xml_with_encoding_type_url(
    live: LiveServer, operator: dict[str, Any], ops: BaseClient, bucket: str
) -> None:
    odd = "a b+ç~&x"
    first = ops.put_object(Bucket=bucket, Key=odd, Body=b"1")["VersionId"]
    marker = ops.delete_object(Bucket=bucket, Key=odd)["VersionId"]
    ops.put_object(Bucket=bucket, Key="d d/x", Body=b"x")
    ops.put_object(Bucket=bucket, Key="z z", Body=b"z")
    query = "versions&encoding-type=url&delimiter=%2F&max-keys=2&prefix=&key-marker=%20"
    answer = _raw(live, operator, "GET", bucket, "", query)
    assert answer.status_code == 200, answer.text
    root = ET.fromstring(answer.content)
    assert root.findtext(f"{NS}EncodingType") == "url"
    assert root.findtext(f"{NS}KeyMarker") == "%20"
    assert root.findtext(f"{NS}Delimiter") == "/"
    entries = [child.tag.removeprefix(NS) for child in root]
    assert entries.count("DeleteMarker") == 1 and entries.count("Version") == 1
    # interleaved as listed: the marker (newest) before the version it hides
    assert entries.index("DeleteMarker") < entries.index("Version")
    dm = root.find(f"{NS}DeleteMarker")
    assert dm is not None and dm.findtext(f"{NS}Key") == "a%20b%2B%C3%A7%7E%26x"
    assert dm.findtext(f"{NS}VersionId") == marker and dm.findtext(f"{NS}IsLatest") == "true"
    version = root.find(f"{NS}Version")
    assert version is not None and version.findtext(f"{NS}VersionId") == first
    assert version.findtext(f"{NS}ETag") == '"c4ca4238a0b923820dcc509a6f75849b"'
    assert version.findtext(f"{NS}Size") == "1"
    assert version.findtext(f"{NS}StorageClass") == "STANDARD"
    assert version.findtext(f"{NS}Owner/{NS}ID")
    assert root.findtext(f"{NS}IsTruncated") == "true"
    assert root.findtext(f"{NS}NextKeyMarker") == "a%20b%2B%C3%A7%7E%26x"
    assert root.findtext(f"{NS}NextVersionIdMarker") == first
    # boto3 asks for url encoding itself, and decodes
    listed = ops.list_object_versions(Bucket=bucket, Delimiter="/")
    assert [p["Prefix"] for p in listed["CommonPrefixes"]] == ["d d/"]
    assert [v["Key"] for v in listed["Versions"]] == [odd, "z z"]
    assert [m["Key"] for m in listed["DeleteMarkers"]] == [odd]


# DeleteObjects, copies


def test_delete_objects_with_version_ids(ops: BaseClient, bucket: str) -> None:
    a1 = ops.put_object(Bucket=bucket, Key="a", Body=b"1")["VersionId"]
    ops.put_object(Bucket=bucket, Key="a", Body=b"2")
    ops.put_object(Bucket=bucket, Key="b", Body=b"b")
    objects = [{"Key": "a", "VersionId": a1}, {"Key": "b"}, {"Key": "c"}, {"Key": "a/../x"}]
    result = ops.delete_objects(Bucket=bucket, Delete={"Objects": objects})
    deleted = {d["Key"]: d for d in result["Deleted"]}
    assert deleted["a"] == {"Key": "a", "VersionId": a1}
    for key in ("b", "c"):
        assert deleted[key]["DeleteMarker"] is True and "VersionId" not in deleted[key]
        assert deleted[key]["DeleteMarkerVersionId"]
    assert [e["Key"] for e in result["Errors"]] == ["a/../x"]
    assert ops.get_object(Bucket=bucket, Key="a")["Body"].read() == b"2"
    assert _error(ops.head_object, Bucket=bucket, Key="b")[0] == 404
    # the markers removed by version: the object is back
    marker = deleted["b"]["DeleteMarkerVersionId"]
    again = ops.delete_objects(
        Bucket=bucket, Delete={"Objects": [{"Key": "b", "VersionId": marker}, {"Key": "k"}]}
    )
    assert again["Deleted"][0] == {
        "Key": "b",
        "VersionId": marker,
        "DeleteMarker": True,
        "DeleteMarkerVersionId": marker,
    }
    assert ops.get_object(Bucket=bucket, Key="b")["Body"].read() == b"b"
    # an empty version id is that key's error, with its version id
    bad = ops.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "a", "VersionId": ""}]})
    assert [(e["Key"], e["Code"]) for e in bad["Errors"]] == [("a", "InvalidArgument")]
    quiet = ops.delete_objects(
        Bucket=bucket, Delete={"Objects": [{"Key": "a", "VersionId": a1}], "Quiet": True}
    )
    assert "Deleted" not in quiet and "Errors" not in quiet


def test_a_copy_from_a_version_and_a_restore(ops: BaseClient, bucket: str) -> None:
    old = ops.put_object(Bucket=bucket, Key="src", Body=b"old")["VersionId"]
    new = ops.put_object(Bucket=bucket, Key="src", Body=b"new")["VersionId"]
    source = {"Bucket": bucket, "Key": "src", "VersionId": old}
    copied = ops.copy_object(Bucket=bucket, Key="dst", CopySource=source)
    assert copied["CopySourceVersionId"] == old and copied["VersionId"] not in (old, new)
    assert ops.get_object(Bucket=bucket, Key="dst")["Body"].read() == b"old"
    latest = ops.copy_object(Bucket=bucket, Key="dst2", CopySource=f"{bucket}/src")
    assert latest["CopySourceVersionId"] == new
    # a version copied over its own key is the latest again
    restored = ops.copy_object(Bucket=bucket, Key="src", CopySource=source)
    assert ops.get_object(Bucket=bucket, Key="src")["Body"].read() == b"old"
    assert _shape(ops.list_object_versions(Bucket=bucket, Prefix="src")) == [
        ("src", restored["VersionId"], True, False),
        ("src", new, False, False),
        ("src", old, False, False),
    ]
    # a delete marker cannot be copied, neither by its version nor as the latest
    marker = ops.delete_object(Bucket=bucket, Key="src")["VersionId"]
    by_version = {"Bucket": bucket, "Key": "src", "VersionId": marker}
    assert _error(ops.copy_object, Bucket=bucket, Key="x", CopySource=by_version)[:2] == (
        400,
        "InvalidRequest",
    )
    status, code, _ = _error(ops.copy_object, Bucket=bucket, Key="x", CopySource=f"{bucket}/src")
    assert (status, code) == (404, "NoSuchKey")
    assert _error(ops.head_object, Bucket=bucket, Key="x")[0] == 404


def test_an_upload_part_copy_from_a_version(ops: BaseClient, bucket: str) -> None:
    old_body = bytes(range(256)) * (5 * MiB // 256)
    old = ops.put_object(Bucket=bucket, Key="src", Body=old_body)["VersionId"]
    ops.put_object(Bucket=bucket, Key="src", Body=b"new")
    upload = ops.create_multipart_upload(Bucket=bucket, Key="parts")["UploadId"]
    source = {"Bucket": bucket, "Key": "src", "VersionId": old}
    first = ops.upload_part_copy(
        Bucket=bucket, Key="parts", UploadId=upload, PartNumber=1, CopySource=source
    )
    assert first["CopySourceVersionId"] == old
    second = ops.upload_part_copy(
        Bucket=bucket,
        Key="parts",
        UploadId=upload,
        PartNumber=2,
        CopySource=source,
        CopySourceRange="bytes=0-9",
    )
    parts = [
        {"PartNumber": 1, "ETag": first["CopyPartResult"]["ETag"]},
        {"PartNumber": 2, "ETag": second["CopyPartResult"]["ETag"]},
    ]
    done = ops.complete_multipart_upload(
        Bucket=bucket, Key="parts", UploadId=upload, MultipartUpload={"Parts": parts}
    )
    assert done["VersionId"] not in (None, "null", old)
    got = ops.get_object(Bucket=bucket, Key="parts", VersionId=done["VersionId"])
    assert got["Body"].read() == old_body + old_body[:10]


def test_what_lakestow_does_not_keep_per_version_is_refused(ops: BaseClient, bucket: str) -> None:
    version = ops.put_object(Bucket=bucket, Key="k", Body=b"x")["VersionId"]
    tags = {"TagSet": [{"Key": "a", "Value": "b"}]}
    for call, params in (
        (ops.get_object_tagging, {}),
        (ops.put_object_tagging, {"Tagging": tags}),
        (ops.delete_object_tagging, {}),
        (ops.get_object_attributes, {"ObjectAttributes": ["ETag"]}),
        (ops.get_object, {"PartNumber": 1}),
    ):
        status, code, _ = _error(call, Bucket=bucket, Key="k", VersionId=version, **params)
        assert (status, code) == (501, "NotImplemented"), call
    assert ops.get_object_tagging(Bucket=bucket, Key="k")["TagSet"] == []
    acl = ops.get_object_acl(Bucket=bucket, Key="k", VersionId=version)
    assert acl["Grants"][0]["Permission"] == "FULL_CONTROL"


def test_the_aws_cli_lists_versions(
    live: LiveServer, operator: dict[str, Any], ops: BaseClient, bucket: str, tmp_path: Path
) -> None:
    first = ops.put_object(Bucket=bucket, Key="cli/k", Body=b"1")["VersionId"]
    marker = ops.delete_object(Bucket=bucket, Key="cli/k")["VersionId"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        AWS_ACCESS_KEY_ID=operator["AccessKeyId"],
        AWS_SECRET_ACCESS_KEY=operator["SecretAccessKey"],
        AWS_DEFAULT_REGION="us-east-1",
        AWS_ENDPOINT_URL=live.endpoint,
        AWS_CONFIG_FILE=str(tmp_path / "none"),
        AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "none"),
    )
    args = ["s3api", "list-object-versions", "--bucket", bucket, "--prefix", "cli/"]
    result = subprocess.run(
        [str(BIN / "aws"), *args], env=env, capture_output=True, text=True, check=True, timeout=120
    )
    listed = json.loads(result.stdout)
    assert [(v["Key"], v["VersionId"], v["IsLatest"]) for v in listed["Versions"]] == [
        ("cli/k", first, False)
    ]
    assert [(m["Key"], m["VersionId"]) for m in listed["DeleteMarkers"]] == [("cli/k", marker)]


# Members, in a versioned organization bucket


@pytest.fixture(scope="module")
def warehouse(store: Store, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A server of its own, its organizations' bucket versioned as every server's is: the
    acme warehouse holds what this module's members write, and nothing else."""
    server = LiveServer.create(tmp_path_factory.mktemp("versioned"), store).start()
    yield server
    server.stop()
    assert "Traceback" not in server.log(), server.log()


def test_a_member_s_versions_are_those_they_may_see(warehouse: LiveServer) -> None:
    alice, bob = warehouse.client("alice"), warehouse.client("bob")
    mine, theirs = warehouse.private("alice") + "k", warehouse.private("bob") + "k"
    shared = "acme/data/shared/v"
    model: Model = {}
    for client, key in ((alice, mine), (bob, theirs), (alice, shared), (bob, shared)):
        model[key] = _write(client, BUCKET, key, 5) + model.get(key, [])
    assert alice.get_bucket_versioning(Bucket=BUCKET)["Status"] == "Enabled"
    seen = {k: v for k, v in model.items() if k != theirs}
    assert _pages(alice, BUCKET, Prefix="acme/data/") == _split(_listing(seen, "acme/data/", None))
    assert _pages(alice, BUCKET, Prefix="acme/", MaxKeys=2) == _split(_listing(seen, "acme/", None))
    folders = _pages(alice, BUCKET, Prefix="acme/data/", Delimiter="/")
    assert folders == ([], [], [warehouse.private("alice"), "acme/data/shared/"])
    # bob's versions answer as his keys do: AccessDenied, with a version id or without
    bob_version = model[theirs][-1][0]
    for call in (alice.get_object, alice.head_object, alice.delete_object):
        assert _error(call, Bucket=BUCKET, Key=theirs, VersionId=bob_version)[0] == 403
        assert _error(call, Bucket=BUCKET, Key=theirs)[0] == 403
    assert _error(alice.list_object_versions, Bucket=BUCKET, Prefix=theirs)[1] == "AccessDenied"


def test_a_read_only_member_reads_versions_and_changes_none(warehouse: LiveServer) -> None:
    alice = warehouse.client("alice")
    key = warehouse.private("alice") + "ro"
    old = alice.put_object(Bucket=BUCKET, Key=key, Body=b"old")["VersionId"]
    alice.put_object(Bucket=BUCKET, Key=key, Body=b"new")
    reader = warehouse.client(credentials=warehouse.credentials("alice", "--read-only"))
    assert reader.get_object(Bucket=BUCKET, Key=key, VersionId=old)["Body"].read() == b"old"
    listed = reader.list_object_versions(Bucket=BUCKET, Prefix=key)["Versions"]
    assert [v["VersionId"] for v in listed][1:] == [old]
    assert _error(reader.delete_object, Bucket=BUCKET, Key=key, VersionId=old)[1] == "AccessDenied"
    restore = {"Bucket": BUCKET, "Key": key, "VersionId": old}
    assert _error(reader.copy_object, Bucket=BUCKET, Key=key, CopySource=restore)[0] == 403
    result = reader.delete_objects(
        Bucket=BUCKET, Delete={"Objects": [{"Key": key, "VersionId": old}]}
    )
    assert [(e["Key"], e["VersionId"], e["Code"]) for e in result["Errors"]] == [
        (key, old, "AccessDenied")
    ]
    # alice herself restores it
    alice.copy_object(Bucket=BUCKET, Key=key, CopySource=restore)
    assert alice.get_object(Bucket=BUCKET, Key=key)["Body"].read() == b"old"
