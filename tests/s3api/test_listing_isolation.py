"""The listing attacks of issue 12, over HTTP with boto3: what alice's listings show is the
same before and after bob (her colleague) and carol (another organization in the same
bucket) write objects and open multipart uploads, and holds no trace of their keys."""

from __future__ import annotations

import base64
import itertools
from typing import Any

import pytest
from botocore.client import BaseClient
from botocore.exceptions import ClientError

from s3api.conftest import BUCKET, LiveServer, Store

_run = itertools.count()


def _pages(client: BaseClient, operation: str, **params: Any) -> list[Any]:
    """Every page of a listing, tokens followed, without what differs from call to call (or
    the error's code and message)."""
    try:
        return _all(client, operation, **params)
    except ClientError as error:
        return [error.response["Error"]["Code"], error.response["Error"]["Message"]]


def _all(client: BaseClient, operation: str, **params: Any) -> list[Any]:
    pages = []
    for found in client.get_paginator(operation).paginate(Bucket=BUCKET, **params):
        page = dict(found)  # the paginator reads its next token after the page is handled
        page.pop("ResponseMetadata")
        for name in ("NextContinuationToken", "ContinuationToken"):
            page.pop(name, None)
        for name in ("Contents", "Versions", "Uploads"):
            page[name] = [_timeless(entry) for entry in page.get(name, [])]
        pages.append(page)
    return pages


def _timeless(entry: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in entry.items() if k not in ("LastModified", "Initiated")}


def _attacks(live: LiveServer) -> list[tuple[str, dict[str, Any]]]:
    """The requests of the attack: around bob's folder, carol's organization, and the
    prefixes a member id shares with others (customer-1 and customer-10)."""
    bob = f"acme/data/customer-{live.ids['bob']}"
    shapes: list[dict[str, Any]] = []
    # a page of one: beside alice's folders, where the old answers leaked (alice's own keys
    # would take a request each, over a whole session's worth of them)
    for prefix in (bob, bob + "/", bob + "0", "globex/", "g"):
        for extra in ({}, {"Delimiter": "/"}, {"Delimiter": "2"}, {"EncodingType": "url"}):
            shapes += [{"Prefix": prefix, "MaxKeys": 1, **extra}]
    shapes += [{"Prefix": "acme/data/customer-", "MaxKeys": 1, "Delimiter": "/"}]
    for prefix in ("acme/data/customer-", "acme/data/", "acme/", ""):
        for extra in ({}, {"Delimiter": "/"}, {"Delimiter": "-"}, {"Delimiter": "2"}):
            shapes += [{"Prefix": prefix, "MaxKeys": 1000, **extra}]
    shapes += [
        {"Prefix": "acme/data/", "Delimiter": "/", "MaxKeys": 1, "StartAfter": bob},
        {"Prefix": "acme/", "MaxKeys": 100, "StartAfter": bob + "/"},
    ]
    requests: list[tuple[str, dict[str, Any]]] = []
    for shape in shapes:
        size, start = shape.pop("MaxKeys"), shape.pop("StartAfter", None)
        requests.append(("list_objects_v2", {**shape, "MaxKeys": size}))
        requests.append(("list_objects", {**shape, "MaxKeys": size}))
        requests.append(("list_object_versions", {**shape, "MaxKeys": size}))
        requests.append(("list_multipart_uploads", {**shape, "MaxUploads": size}))
        if start is not None:
            requests.append(("list_objects_v2", {**shape, "MaxKeys": size, "StartAfter": start}))
            requests.append(("list_objects", {**shape, "MaxKeys": size, "Marker": start}))
            requests.append(
                ("list_object_versions", {**shape, "MaxKeys": size, "KeyMarker": start})
            )
            requests.append(
                ("list_multipart_uploads", {**shape, "MaxUploads": size, "KeyMarker": start})
            )
    return requests


def test_others_writes_change_nothing_in_alices_listings(live: LiveServer, store: Store) -> None:
    alice, bob, carol = (live.client(name) for name in ("alice", "bob", "carol"))
    scoped = live.client(credentials=live.credentials("alice", "--scope", "/data/shared/"))
    attacks = _attacks(live)
    if store.upstream is not None:
        # The merge is the same over every store; an upstream (moto scans its whole bucket
        # for each listing) gets the pages of one beside alice's folders, where leaks were.
        attacks = [(op, p) for op, p in attacks if p.get("MaxKeys", p.get("MaxUploads")) == 1]
    before = [_pages(who, op, **params) for who in (alice, scoped) for op, params in attacks]
    n = next(_run)
    for client, folder in ((bob, live.private("bob")), (carol, live.private("carol"))):
        for name in ("a", "b/c", "b/d", "2/x", "10"):
            client.put_object(Bucket=BUCKET, Key=f"{folder}iso{n}/{name}", Body=b"secret")
        client.create_multipart_upload(Bucket=BUCKET, Key=f"{folder}iso{n}/upload")
    carol.put_object(Bucket=BUCKET, Key=f"globex/data/shared/iso{n}", Body=b"secret")
    after = [_pages(who, op, **params) for who in (alice, scoped) for op, params in attacks]
    for (op, params), was, now in zip(attacks * 2, before, after, strict=True):
        assert now == was, (op, params)
    text = repr(after)
    assert f"iso{n}" not in text


def test_a_token_reveals_no_key_and_cannot_be_forged(live: LiveServer) -> None:
    alice = live.client("alice")
    home = live.private("alice")
    for name in ("t1", "t2", "t3"):
        alice.put_object(Bucket=BUCKET, Key=f"{home}tokens/{name}", Body=b"x")
    page = alice.list_objects_v2(Bucket=BUCKET, Prefix=f"{home}tokens/", MaxKeys=1)
    token = page["NextContinuationToken"]
    padded = token + "=" * (-len(token) % 4)
    assert b"tokens/t1" not in base64.urlsafe_b64decode(padded)
    forged = base64.urlsafe_b64encode(f"{live.private('bob')}x".encode()).decode()
    for bad in (forged, token[:-4] + "AAAA"):
        with pytest.raises(ClientError) as error:
            alice.list_objects_v2(Bucket=BUCKET, Prefix=f"{home}tokens/", ContinuationToken=bad)
        assert error.value.response["Error"]["Code"] == "InvalidArgument"
    with pytest.raises(ClientError):  # a token of another listing
        alice.list_objects_v2(Bucket=BUCKET, Prefix=home, ContinuationToken=token)
    rest = alice.list_objects_v2(Bucket=BUCKET, Prefix=f"{home}tokens/", ContinuationToken=token)
    assert [o["Key"] for o in rest["Contents"]] == [f"{home}tokens/t2", f"{home}tokens/t3"]


def test_uploads_of_another_organization_stay_hidden(live: LiveServer) -> None:
    carol = live.client("carol")
    key = f"{live.private('carol')}hidden-upload"
    upload_id = carol.create_multipart_upload(Bucket=BUCKET, Key=key)["UploadId"]
    try:
        alice = live.client("alice")
        page = alice.list_multipart_uploads(Bucket=BUCKET, Prefix="globex/", MaxUploads=1)
        assert "Uploads" not in page and not page["IsTruncated"]
        assert "NextKeyMarker" not in page and "NextUploadIdMarker" not in page
        everything = alice.list_multipart_uploads(Bucket=BUCKET)
        assert upload_id not in repr(everything) and "globex" not in repr(everything)
    finally:
        carol.abort_multipart_upload(Bucket=BUCKET, Key=key, UploadId=upload_id)


def test_uploads_list_with_a_delimiter(live: LiveServer) -> None:
    alice = live.client("alice")
    home = live.private("alice")
    keys = [f"{home}mpu/a/1", f"{home}mpu/a/2", f"{home}mpu/b", f"{home}mpu/c/3"]
    ids = {k: alice.create_multipart_upload(Bucket=BUCKET, Key=k)["UploadId"] for k in keys}
    try:
        page = alice.list_multipart_uploads(Bucket=BUCKET, Prefix=f"{home}mpu/", Delimiter="/")
        assert [u["Key"] for u in page["Uploads"]] == [f"{home}mpu/b"]
        assert [p["Prefix"] for p in page["CommonPrefixes"]] == [f"{home}mpu/a/", f"{home}mpu/c/"]
        first = alice.list_multipart_uploads(
            Bucket=BUCKET, Prefix=f"{home}mpu/", Delimiter="/", MaxUploads=1
        )
        assert first["IsTruncated"] and first["NextKeyMarker"] == f"{home}mpu/a/"
        rest = alice.list_multipart_uploads(
            Bucket=BUCKET, Prefix=f"{home}mpu/", Delimiter="/", KeyMarker=first["NextKeyMarker"]
        )
        assert [u["Key"] for u in rest["Uploads"]] == [f"{home}mpu/b"]
        assert [p["Prefix"] for p in rest["CommonPrefixes"]] == [f"{home}mpu/c/"]
    finally:
        for key, upload_id in ids.items():
            alice.abort_multipart_upload(Bucket=BUCKET, Key=key, UploadId=upload_id)


def test_a_delimiter_beginning_in_a_folders_name_rolls_up_below_it(
    live: LiveServer, store: Store
) -> None:
    """`/x` begins at the end of `customer-<id>/`: the keys below it that start with `x` roll
    up into one common prefix, found by skipping past them in the store."""
    alice = live.client("alice")
    home = live.private("alice")
    for name in ("xa", "xb/c", "y", "x"):
        alice.put_object(Bucket=BUCKET, Key=f"{home}{name}", Body=b"1")
    # Pages of one over all of alice's keys: a request each, and moto scans its whole bucket
    # for every one; an upstream gets pages of a thousand (the roll-up is the same merge).
    size = 1 if store.upstream is None else 1000
    pages = _all(alice, "list_objects_v2", Prefix="acme/data/", Delimiter="/x", MaxKeys=size)
    keys = [o["Key"] for page in pages for o in page.get("Contents", [])]
    prefixes = [p["Prefix"] for page in pages for p in page.get("CommonPrefixes", [])]
    assert f"{home}x" not in keys and f"{home}y" in keys
    assert prefixes.count(f"{home}x") == 1
