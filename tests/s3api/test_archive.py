"""GET /bucket?lakestow-archive=tar&prefix=P (`s3api.archive`), over every store: one tar of
every object under a prefix, holding exactly what a listing of the prefix and a GET of each
listed key show the caller: the same names, bytes, ETags and user metadata, and nothing of
another member or organization."""

from __future__ import annotations

import io
import json
import os
import subprocess
import tarfile
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from botocore.client import BaseClient

from s3api.conftest import BUCKET, LiveServer, Store, lakestow
from s3api.signing import signed, url_of

END = ".lakestow-archive-end"


def _archive(live: LiveServer, creds: dict[str, Any], prefix: str, kind: str = "tar") -> Any:
    query = urlencode({"lakestow-archive": kind, "prefix": prefix})
    with httpx.Client(timeout=120) as http:
        return http.send(signed(creds, "GET", url_of(live.endpoint, BUCKET, query=query)))


def _members(body: bytes) -> tuple[dict[str, tuple[bytes | None, dict[str, str]]], str]:
    """Each member by name: its bytes (None for a folder) and pax records; and the count the
    end member gives."""
    members: dict[str, tuple[bytes | None, dict[str, str]]] = {}
    end = ""
    with tarfile.open(fileobj=io.BytesIO(body), mode="r|") as tar:
        for member in tar:
            if member.name == END:
                end = member.pax_headers["LAKESTOW.end"]
                continue
            assert not end, "a member after the end"
            data = tar.extractfile(member)
            name = member.name + ("/" if member.isdir() and not member.name.endswith("/") else "")
            members[name] = (data.read() if data else None, dict(member.pax_headers))
    return members, end


def _listed(client: BaseClient, prefix: str) -> list[str]:
    keys = []
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix):
        keys += [item["Key"] for item in page.get("Contents", [])]
    return keys


def _listing(client: BaseClient, prefix: str) -> list[str] | tuple[int, str]:
    """The listing's keys, or its refusal's status and code."""
    try:
        return _listed(client, prefix)
    except client.exceptions.ClientError as error:
        return error.response["ResponseMetadata"]["HTTPStatusCode"], error.response["Error"]["Code"]


def test_an_archive_holds_each_object_as_a_get_shows_it(live: LiveServer) -> None:
    creds = live.credentials("alice")
    client = live.client(credentials=creds)
    prefix = live.private("alice", "notebooks") + f"archive-{uuid.uuid4().hex[:8]}/"
    objects = {
        "run.sh": (b"#!/bin/sh\necho hi\n", {"mtime": "1700000000.123456789", "mode": "100755"}),
        "sub/medium.bin": (bytes(range(256)) * 800, {}),  # 200 KiB: streamed, not one piece
        "sub/large.bin": (b"L" * (5 * 1024 * 1024 + 7), {"note": "big"}),
        "ünï code & <name>.txt": (b"text", {}),
        "empty.txt": (b"", {}),
        "folder/": (b"", {}),
    }
    for name, (data, meta) in objects.items():
        client.put_object(Bucket=BUCKET, Key=prefix + name, Body=data, Metadata=meta)

    answer = _archive(live, creds, prefix)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/x-tar"
    members, end = _members(answer.content)
    assert list(members) == [key[len(prefix) :] for key in _listed(client, prefix)]
    assert end == str(len(objects))
    tar = subprocess.run(  # and GNU tar reads the same archive
        ["tar", "-t", "--quoting-style=literal", "--pax-option=delete=LAKESTOW.*"],
        input=answer.content,
        capture_output=True,
        check=True,
    )
    assert tar.stdout.decode().splitlines() == [*members, END] and not tar.stderr
    for name, (data, records) in members.items():
        got = client.get_object(Bucket=BUCKET, Key=prefix + name)
        assert (data or b"") == got["Body"].read() == objects[name][0]
        assert data is None if name.endswith("/") else data is not None
        assert records["LAKESTOW.etag"] == got["ETag"].strip('"')
        meta = {k.removeprefix("LAKESTOW.meta."): v for k, v in records.items() if ".meta." in k}
        assert meta == got["Metadata"] == objects[name][1]


def test_an_archive_shows_a_member_only_what_their_listing_shows(live: LiveServer) -> None:
    """bob's archives across the members' private folders (one prefix spans them all) and of
    the organization's root hold his listing's keys and nothing of alice's or carol's, whose
    objects sit right beside his."""
    run = uuid.uuid4().hex[:8]
    alice, bob, carol = (live.client(name) for name in ("alice", "bob", "carol"))
    for client, name in ((alice, "alice"), (bob, "bob"), (carol, "carol")):
        client.put_object(Bucket=BUCKET, Key=live.private(name) + f"iso-{run}", Body=name.encode())
    bob_creds = live.credentials("bob")
    for prefix in ("acme/data/customer-", "acme/data/", live.private("bob")):
        answer = _archive(live, bob_creds, prefix)
        assert answer.status_code == 200, answer.text
        members, end = _members(answer.content)
        expected = [key[len(prefix) :] for key in _listed(bob, prefix)]
        assert list(members) == expected and end == str(len(expected))
        assert any(f"iso-{run}" in name for name in members)
        for data, _ in members.values():
            assert data not in (b"alice", b"carol")


def test_an_archive_is_refused_as_the_listing_is_and_before_any_byte(live: LiveServer) -> None:
    """Another member's private folder and another organization's prefixes: the archive's
    answer is the listing's (a refusal, or nothing), never a member."""
    alice_creds = live.credentials("alice")
    alice = live.client(credentials=alice_creds)
    for prefix in (live.private("bob"), live.private("bob") + "x", "globex/", "globex/data/"):
        answer = _archive(live, alice_creds, prefix)
        listing = _listing(alice, prefix)
        if isinstance(listing, tuple):  # refused: the same status and code
            assert answer.status_code == listing[0]
            assert f"<Code>{listing[1]}</Code>".encode() in answer.content
        else:
            assert answer.status_code == 200
            assert _members(answer.content) == ({}, "0") and listing == []
    answer = _archive(live, alice_creds, live.private("alice"), kind="zip")
    assert answer.status_code == 400 and b"takes one format: tar" in answer.content


def _open_files(live: LiveServer) -> int:
    """Files the server's processes (the supervisor and its workers) hold open."""
    assert live.process is not None
    pid = live.process.pid
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return sum(len(os.listdir(f"/proc/{p}/fd")) for p in [str(pid), *children])


def test_an_archive_cut_short_releases_what_it_opened(live: LiveServer, store: Store) -> None:
    """Clients that go away in the middle of archives of large objects (read from blob files,
    streamed) leave nothing open on the server."""
    if store.name != "local":
        pytest.skip("an upstream's connections are pooled: counted on the local store")
    creds = live.credentials("alice")
    client = live.client(credentials=creds)
    prefix = live.private("alice") + f"cut-{uuid.uuid4().hex[:8]}/"
    for i in range(24):
        client.put_object(Bucket=BUCKET, Key=f"{prefix}{i:02d}", Body=os.urandom(300_000))
    query = urlencode({"lakestow-archive": "tar", "prefix": prefix})
    url = url_of(live.endpoint, BUCKET, query=query)
    whole = _archive(live, creds, prefix)  # first a whole one: pools grown, caches filled
    assert whole.status_code == 200 and _members(whole.content)[1] == "24"
    before = _open_files(live)
    for cut in range(12):
        with (
            httpx.Client(timeout=60) as http,
            http.stream("GET", url, headers=dict(signed(creds, "GET", url).headers)) as answer,
        ):
            assert answer.status_code == 200
            taken = 0
            for chunk in answer.iter_raw():
                taken += len(chunk)
                if taken > cut * 500_000:
                    break  # and the connection closes
    deadline = time.monotonic() + 10
    while _open_files(live) > before and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _open_files(live) <= before


def test_an_operator_archives_its_own_buckets_and_no_organizations(live: LiveServer) -> None:
    keys = json.loads(lakestow(live.data_dir, "operator", "create", "archiver", "--format", "json"))
    creds = {**keys, "SessionToken": None}
    ops = live.client(credentials=creds)
    bucket = f"ops-archive-{uuid.uuid4().hex[:8]}"
    ops.create_bucket(Bucket=bucket)
    for name in ("a", "b/c", "d/"):
        ops.put_object(Bucket=bucket, Key=name, Body=name.encode() if name != "d/" else b"")
    query = urlencode({"lakestow-archive": "tar", "prefix": ""})
    with httpx.Client(timeout=60) as http:
        own = http.send(signed(creds, "GET", url_of(live.endpoint, bucket, query=query)))
        org = http.send(signed(creds, "GET", url_of(live.endpoint, BUCKET, query=query)))
    members, end = _members(own.content)
    assert own.status_code == 200 and end == "3"
    assert {name: data for name, (data, _) in members.items()} == {
        "a": b"a",
        "b/c": b"b/c",
        "d/": None,
    }
    assert org.status_code == 403 and b"<Code>AccessDenied</Code>" in org.content
