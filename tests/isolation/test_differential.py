"""Differential isolation: a member's listings are the same whether or not others' keys exist.

Two data directories get the same organizations, members and the attacker's keys (alice,
customer-1, whose folder name is a prefix of customer-10..13's). One of them, `crowded`,
also gets the keys and open multipart uploads of alice's colleagues, of members that do not
exist, of neighbours whose names share alice's folders' first letters, and of other
organizations in the same bucket (`beta`, and `acme-2` whose root starts like acme's).
The bucket is versioned: every key has a few versions, some a delete marker (a few as their
latest). Thousands of generated listing requests (ListObjects v1 and v2, ListObjectVersions
with its key and version id markers, ListMultipartUploads, the console's list and search API
(searching for the names of others' folders too), every parameter) must get the same answers
from both, once what differs by nature is set aside: timestamps, request ids, upload and
version ids (named by the key they belong to), and sealed continuation tokens and versions
markers, which are replaced by the pages they lead to. So must reads and deletes by version
id, of alice's versions and of others'.
"""

from __future__ import annotations

import io
import random
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
from defusedxml import ElementTree as ET
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from inprocess import InProcess, in_process
from lakestow import config, datadir
from lakestow.auth.policy import Action, Principal, Target, decide
from lakestow.storage.protocol import ENABLED
from storage.conformance import model

BUCKET = "lakestow"
PASSWORD = "alice-password-1"
NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"
FOLLOW = 4  # continuation tokens followed per request
SEGMENTS = (
    "a",
    "b",
    "c",
    "s",
    "z",
    "1",
    "12",
    "-",
    "x-1",
    "é",
    "中",
    "\U0001f600",
    "!",
    "a.b",
    "~",
    "s p",
)


def _keys(rng: random.Random, top: str, count: int) -> list[str]:
    keys = {top} if rng.random() < 0.3 else set()  # a folder marker of the top itself
    while len(keys) < count:
        depth = rng.choice((1, 1, 2, 2, 3))
        key = top + "/".join(rng.choice(SEGMENTS) for _ in range(depth))
        keys.add(key + ("/" if rng.random() < 0.15 else ""))
    return sorted(keys)


def _layout(ids: dict[str, int]) -> tuple[list[str], list[str]]:
    """(alice's keys, everybody else's): alice is customer-1 of acme."""
    rng = random.Random(1)
    me = ids["alice"]
    mine = [
        *_keys(rng, f"acme/data/customer-{me}/", 14),
        *_keys(rng, f"acme/notebooks/customer-{me}/", 6),
        *_keys(rng, "acme/data/shared/", 10),
        *_keys(rng, "acme/notebooks/shared/", 4),
        *_keys(rng, "acme/spark-logs/", 5),
        # each the end of a delimiter that begins in its folder's name (`/s`, `/c`)
        f"acme/data/customer-{me}/s",
        "acme/data/shared/c",
        "acme/spark-logs/s",
    ]
    others_tops = [
        *(f"acme/data/customer-{ids[n]}/" for n in ids if n != "alice"),
        *(f"acme/notebooks/customer-{ids[n]}/" for n in ids if n != "alice"),
        f"acme/data/customer-{me}0/",  # nobody's yet: a member id that does not exist
        f"acme/data/customer-{me}-x/",
        f"acme/data/customer-{me}!/",
        "acme/data/shared-old/",
        "acme/spark-logs2/",
        "acme/data/other/",
        "beta/data/shared/",
        f"beta/data/customer-{ids['carol']}/",
        "beta/spark-logs/",
        "acme-2/data/shared/",
        f"acme-2/data/customer-{ids['dave']}/",
        "acmf/",
        "ab/",
    ]
    others = [key for top in others_tops for key in _keys(rng, top, rng.choice((1, 3, 8)))]
    others += [f"acme/data/customer-{me}", f"acme/data/customer-{me}0", "acme/spark-logs"]
    return mine, others


def _build(path: Path, crowded: bool) -> Iterator[tuple[InProcess, dict[str, Any]]]:
    settings_ = config.load(path, environ={})
    datadir.initialize(settings_)
    with datadir.opened(settings_) as opened:
        service = opened.services("test")
        for org in ("acme", "beta", "acme-2"):
            service.orgs.create_org(org)
        ids = {"alice": service.orgs.create_member("alice", "acme", password=PASSWORD).id}
        for n in range(2, 14):
            ids[f"m{n}"] = service.orgs.create_member(f"m{n}", "acme").id
        ids["carol"] = service.orgs.create_member("carol", "beta").id
        ids["dave"] = service.orgs.create_member("dave", "acme-2").id
        assert ids["alice"] == 1 and ids["m13"] == 13
        mine, others = _layout(ids)
        with in_process(opened) as app:
            store = app.runtime.store

            async def seed() -> tuple[dict[str, str], dict[str, str], set[str]]:
                await store.put_versioning(BUCKET, ENABLED)
                uploads: dict[str, str] = {}  # upload id -> a name the same in both
                versions: dict[str, str] = {}  # version id -> a name the same in both
                gone: set[str] = set()  # keys whose latest is a delete marker
                for n, key in enumerate(mine + (others if crowded else [])):
                    for step in range(1 + n % 3):
                        info = await store.put(BUCKET, key, _body(f"{key} {step}".encode()))
                        versions[info.version_id or ""] = f"{key}@{step}"
                    if n % 4 == 1:  # a delete marker: the latest, or below a new version
                        deleted = await store.delete(BUCKET, key)
                        versions[deleted.version_id or ""] = f"{key}@marker"
                        if n % 8 == 1:
                            gone.add(key)
                        else:
                            info = await store.put(BUCKET, key, _body(b"again"))
                            versions[info.version_id or ""] = f"{key}@again"
                for n, key in enumerate(mine[::7] + (others[::9] if crowded else [])):
                    for copy in range(1 + n % 2):
                        upload_id = await store.create_multipart(BUCKET, key)
                        uploads[upload_id] = f"{key}#{copy}"
                return uploads, versions, gone

            uploads, versions, gone = app.call(seed)
            creds = {
                "plain": service.credentials.issue_credentials("alice", seconds=43200),
                "scoped": service.credentials.issue_credentials(
                    "alice", seconds=43200, scopes=("/data/customer-1/a/", "/data/shared/")
                ),
                "read-only": service.credentials.issue_credentials(
                    "alice", seconds=43200, read_only=True
                ),
            }
            world = {
                "creds": {k: v.credential_process() for k, v in creds.items()},
                "uploads": uploads,
                "names": {v: k for k, v in uploads.items()},
                "versions": versions,
                "version_names": {v: k for k, v in versions.items()},
                "my_versions": {
                    v: name for v, name in versions.items() if name.rpartition("@")[0] in mine
                },
                "session": app.sign_in("alice", PASSWORD),
                "keys": [k for k in mine + others if k not in gone],
                "mine": set(mine) - gone,
                "all_keys": mine + others,
            }
            yield app, world


async def _body(data: bytes) -> Any:
    yield data


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[tuple[InProcess, Any]]]:
    alone = _build(tmp_path_factory.mktemp("alone") / "data", crowded=False)
    crowded = _build(tmp_path_factory.mktemp("crowded") / "data", crowded=True)
    both = [next(alone), next(crowded)]
    yield both
    for gen in (alone, crowded):
        next(gen, None)


JUNK_VERSIONS = ["null", "0", "zz", ""]
"""Version ids of nothing (or of no form a store makes)."""


# What is asked: prefixes and markers near the folder boundaries, and cut from every key.
PLACES = [
    "",
    "a",
    "acme",
    "acme/",
    "acme-",
    "acme/d",
    "acme/data/",
    "acme/data/c",
    "acme/data/customer-",
    "acme/data/customer-1",
    "acme/data/customer-1/",
    "acme/data/customer-10",
    "acme/data/customer-1/a",
    "acme/data/customer-12/",
    "acme/data/s",
    "acme/data/shared",
    "acme/data/shared/",
    "acme/notebooks/",
    "acme/spark-logs",
    "acme/spark-logs/",
    "b",
    "beta/",
    "beta/data/",
    "\U0010ffff",
]
DELIMITERS = [
    None,
    "/",
    "/",
    "-",
    "1",
    "a",
    "e",
    "s",
    "/c",
    "a/",
    "-1",
    "/s",
    "0/",
    "é",
    "\U0001f600",
]


def drawn(examples: int) -> Any:
    """A test drawing from `data` `examples` times, against the module's shared servers."""

    def decorate(test: Any) -> Any:
        return settings(
            max_examples=examples,
            deadline=None,
            suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
        )(given(data=st.data())(test))

    return decorate


@st.composite
def places(draw: st.DrawFn, keys: list[str]) -> str:
    if draw(st.booleans()):
        return draw(st.sampled_from(PLACES))
    key = draw(st.sampled_from(keys))
    return key[: draw(st.integers(0, len(key)))] + draw(st.sampled_from(["", "", "/", "0", "~"]))


@st.composite
def requests(
    draw: st.DrawFn, keys: list[str], upload_names: list[str], versions: list[tuple[str, Any]]
) -> dict[str, Any]:
    op = draw(st.sampled_from(["v2", "v1", "versions", "uploads"]))
    query: dict[str, Any] = {}
    if op == "v2":
        query["list-type"] = "2"
    if op == "versions":
        query["versions"] = ""
    if op == "uploads":
        query["uploads"] = ""
    if draw(st.booleans()):
        query["prefix"] = draw(places(keys))
    delimiter = draw(st.sampled_from(DELIMITERS))
    if delimiter is not None:
        query["delimiter"] = delimiter
    size = draw(st.one_of(st.sampled_from([0, 1, 2, 3, 5, 1000]), st.integers(0, 1000)))
    if draw(st.integers(0, 3)):
        query["max-uploads" if op == "uploads" else "max-keys"] = str(size)
    if draw(st.booleans()):
        query["encoding-type"] = "url"
    marker = {
        "v2": "start-after",
        "v1": "marker",
        "versions": "key-marker",
        "uploads": "key-marker",
    }
    if draw(st.booleans()):
        query[marker[op]] = draw(places(keys))
        if op == "uploads" and draw(st.booleans()):  # one of alice's uploads, or any text
            named = st.sampled_from(upload_names).map(lambda name: ("@", name))
            query["upload-id-marker"] = draw(st.one_of(named, st.sampled_from(["0", "z", ""])))
        if op == "versions" and draw(st.booleans()):
            query["version-id-marker"] = draw(st.sampled_from(JUNK_VERSIONS))
    elif op == "versions" and draw(st.booleans()):  # after a version, alice's or another's
        query["key-marker"], query["version-id-marker"] = draw(st.sampled_from(versions))
    return {
        "creds": draw(st.sampled_from(["plain", "plain", "scoped", "read-only"])),
        "query": query,
    }


def _ask(app: InProcess, world: dict[str, Any], request: dict[str, Any]) -> Any:
    query = {}
    for name, value in request["query"].items():
        query[name] = _named(world, value)
    return _follow(app, world, request["creds"], query, FOLLOW)


def _named(world: dict[str, Any], value: Any) -> str:
    """An upload id marker or a version id, by the name of its upload or version; or text,
    sent as it is (an id of another's version in `crowded` is just text in `alone`)."""
    if isinstance(value, tuple):
        names = world["names"] if value[0] == "@" else world["version_names"]
        return str(names.get(value[1], "0"))
    return str(value)


def _follow(
    app: InProcess, world: dict[str, Any], creds: str, query: dict[str, str], depth: int
) -> Any:
    response = app.s3(world["creds"][creds], "GET", f"/{BUCKET}", query)
    raw = ET.fromstring(response.content)
    tree = _normal(raw, world)
    next_key = raw.findtext(f"{NS}NextKeyMarker")
    if "versions" in query and next_key is not None:  # the markers, followed as SDKs do
        if query.get("encoding-type") == "url":
            next_key = unquote(next_key)
        after = {**query, "key-marker": next_key}
        after.pop("version-id-marker", None)
        if next_version := raw.findtext(f"{NS}NextVersionIdMarker"):
            after["version-id-marker"] = next_version
        tree[1].append(
            ("NextPage", _follow(app, world, creds, after, depth - 1) if depth else "...")
        )
    token = _find(tree, "NextContinuationToken")
    if token is not None:
        index, _ = token
        tree[1][index] = (
            "NextPage",
            _follow(
                app, world, creds, {**query, "continuation-token": tree[1][index][1]}, depth - 1
            )
            if depth
            else "...",
        )
    return response.status_code, tree


def _normal(element: ET.Element, world: dict[str, Any]) -> Any:
    tag = element.tag.rpartition("}")[2]
    if tag in ("LastModified", "Initiated", "RequestId", "HostId", "ContinuationToken"):
        return (tag, None)
    if tag in ("UploadId", "NextUploadIdMarker", "UploadIdMarker") and element.text:
        return (tag, world["uploads"].get(element.text, element.text))
    if tag in ("VersionId", "NextVersionIdMarker", "VersionIdMarker") and element.text:
        return (tag, world["my_versions"].get(element.text, element.text))
    children = [_normal(child, world) for child in element]
    return (tag, children if children else element.text)


def _find(tree: Any, tag: str) -> tuple[int, Any] | None:
    if isinstance(tree[1], list):
        for index, child in enumerate(tree[1]):
            if child[0] == tag:
                return index, child
    return None


@drawn(2500)
def test_s3_listings_are_the_same_as_if_others_keys_did_not_exist(
    servers: list[tuple[InProcess, Any]], data: st.DataObject
) -> None:
    (alone, alone_world), (crowded, crowded_world) = servers
    keys = crowded_world["keys"]
    request = data.draw(requests(keys, sorted(alone_world["names"]), _versions(crowded_world)))
    seen = _ask(alone, alone_world, request)
    assert _ask(crowded, crowded_world, request) == seen, request


def _versions(world: dict[str, Any]) -> list[tuple[str, Any]]:
    """(key, version) of every version of `crowded`: alice's by name, so that each world
    gets its own id; others' as the text of their ids in `crowded`, sent as it is to both."""
    found = []
    for version_id, name in sorted(world["versions"].items(), key=lambda item: item[1]):
        key = name.rpartition("@")[0]
        found.append((key, ("@v", name) if version_id in world["my_versions"] else version_id))
    return found


@st.composite
def version_requests(draw: st.DrawFn, versions: list[tuple[str, Any]]) -> dict[str, Any]:
    """A GET, HEAD or DELETE of a version: of alice's keys, of others', of junk. Nothing of
    alice's is ever deleted (both worlds would change alike, but the listings tests count on
    them): a DELETE names another's version, or a version of nothing."""
    key, version = draw(st.sampled_from(versions))
    mine = isinstance(version, tuple)
    method = draw(st.sampled_from(["GET", "HEAD"] if mine else ["GET", "HEAD", "DELETE"]))
    if draw(st.integers(0, 3)) == 0:
        version = draw(st.sampled_from(JUNK_VERSIONS))
        method = draw(st.sampled_from(["GET", "HEAD", "DELETE"]))
    elif draw(st.integers(0, 4)) == 0:  # a version named on another key
        other, _ = draw(st.sampled_from(versions))
        key = other if method != "DELETE" or not mine else key
    return {
        "creds": draw(st.sampled_from(["plain", "plain", "scoped", "read-only"])),
        "method": method,
        "key": key,
        "version": version,
    }


def _read_version(app: InProcess, world: dict[str, Any], request: dict[str, Any]) -> Any:
    creds = world["creds"][request["creds"]]
    query = {"versionId": _named(world, request["version"])}
    response = app.s3(creds, request["method"], f"/{BUCKET}/{request['key']}", query)
    headers = {
        name: response.headers[name]
        for name in ("etag", "content-length", "x-amz-delete-marker", "x-amz-error-code")
        if name in response.headers
    }
    if "x-amz-version-id" in response.headers:
        version_id = response.headers["x-amz-version-id"]
        headers["version"] = world["my_versions"].get(version_id, version_id)
    body: Any = response.content
    if response.status_code >= 300 and body:
        body = ET.fromstring(body).findtext("Code")
    return response.status_code, headers, body


@drawn(600)
def test_versions_are_read_and_deleted_as_if_others_did_not_exist(
    servers: list[tuple[InProcess, Any]], data: st.DataObject
) -> None:
    (alone, alone_world), (crowded, crowded_world) = servers
    request = data.draw(version_requests(_versions(crowded_world)))
    seen = _read_version(alone, alone_world, request)
    assert _read_version(crowded, crowded_world, request) == seen, request


@drawn(400)
def test_archives_are_the_same_as_if_others_keys_did_not_exist(
    servers: list[tuple[InProcess, Any]], data: st.DataObject
) -> None:
    """lakestow's archive of any prefix (`?lakestow-archive=tar`): the same members, bytes,
    ETags and records, or the same refusal, with or without the others' keys."""
    (alone, alone_world), (crowded, crowded_world) = servers
    prefix = data.draw(places(crowded_world["keys"]))
    creds = data.draw(st.sampled_from(["plain", "plain", "scoped", "read-only"]))
    query = {"lakestow-archive": "tar", "prefix": prefix}
    answer = alone.s3(alone_world["creds"][creds], "GET", f"/{BUCKET}", query)
    seen = _archive(answer, alone_world)
    got = crowded.s3(crowded_world["creds"][creds], "GET", f"/{BUCKET}", query)
    assert _archive(got, crowded_world) == seen, (creds, prefix)
    # and what a listing of the prefix and a GET of each listed key show
    shown = _listed_and_read(alone, alone_world["creds"][creds], prefix)
    if seen[0] != 200:
        assert shown == seen[0], (creds, prefix)
    else:
        members = [
            (pax["path"], data or b"", pax["LAKESTOW.etag"]) for *_, data, pax in seen[1][:-1]
        ]
        assert members == shown, (creds, prefix)  # (the end member left out)
    event(f"{seen[0]} with {len(seen[1]) if seen[0] == 200 else 0} members")


def _listed_and_read(app: InProcess, creds: Any, prefix: str) -> Any:
    """(name below the prefix, bytes, ETag) of each key a ListObjectsV2 of `prefix` shows
    (every page), read by a GET; or the listing's refusal status."""
    keys: list[str] = []
    query = {"list-type": "2", "prefix": prefix}
    while True:
        answer = app.s3(creds, "GET", f"/{BUCKET}", query)
        if answer.status_code != 200:
            return answer.status_code
        root = ET.fromstring(answer.content)
        keys += [item.findtext(f"{NS}Key") or "" for item in root.findall(f"{NS}Contents")]
        if not (token := root.findtext(f"{NS}NextContinuationToken")):
            break
        query = {**query, "continuation-token": token}
    shown = []
    for key in keys:
        if key != prefix:  # the prefix's own marker: no member
            got = app.s3(creds, "GET", f"/{BUCKET}/{key}")
            assert got.status_code == 200, (key, got.text)
            shown.append((key[len(prefix) :], got.content, got.headers["etag"].strip('"')))
    return shown


def _archive(response: Any, world: dict[str, Any]) -> Any:
    """An archive's members (name, bytes, pax records but the date), or the refusal."""
    if response.headers.get("content-type") != "application/x-tar":
        return response.status_code, _normal(ET.fromstring(response.content), world)
    members = []
    with tarfile.open(fileobj=io.BytesIO(response.content), mode="r|") as tar:
        for member in tar:
            data = tar.extractfile(member)
            content = data.read() if data else None
            members.append((member.name, member.type, content, member.pax_headers))
    return response.status_code, members


@drawn(600)
def test_console_listings_and_search_are_the_same_as_if_others_keys_did_not_exist(
    servers: list[tuple[InProcess, Any]], data: st.DataObject
) -> None:
    (alone, alone_world), (crowded, crowded_world) = servers
    keys = crowded_world["keys"]
    folder = data.draw(places(keys)).removeprefix("acme/")
    folder = folder.rpartition("/")[0] + "/" if "/" in folder else ""
    if data.draw(st.booleans()):
        query = {"path": folder, "q": data.draw(st.sampled_from(SEARCHES))}
        if data.draw(st.booleans()):
            query["limit"] = str(data.draw(st.sampled_from([1, 2, 3, 7, 100])))
        asked = ("/api/search", query)
    else:
        query = {"path": folder, "limit": str(data.draw(st.sampled_from([1, 2, 3, 7, 100])))}
        if data.draw(st.booleans()):
            query["filter"] = data.draw(st.sampled_from(["a", "c", "customer-1", "s", "é", "z"]))
        asked = ("/api/list", query)
    assert _console(crowded, crowded_world, *asked) == _console(alone, alone_world, *asked), asked


SEARCHES = [
    *("a", "1", "é", "-", "b/", "a.b", "s p", "x-1", "\U0001f600", "A", "É"),  # short, or none
    *("customer", "customer-1", "customer-10", "customer-12", "customer-1!", "customer-1-x"),
    *("shared", "shared-old", "spark-logs", "spark-logs2", "other", "data", "acme", "beta"),
]
"""What the console's search looks for: texts under 3 characters (read in key order) and
longer ones (from the name index, which holds every key of the bucket, others' too), among
them the names of others' folders and of alice's own, and of the folders around them."""


def _console(
    app: InProcess, world: dict[str, Any], url: str, query: dict[str, str], depth: int = FOLLOW
) -> Any:
    response = app.console(world["session"], "GET", url, params=query)
    body = response.json()
    for entry in body.get("entries", []) + body.get("results", []):
        entry.pop("modified", None)
    if body.get("cursor"):
        body["cursor"] = (
            _console(app, world, url, {**query, "cursor": body["cursor"]}, depth - 1)
            if depth
            else "..."
        )
    return response.status_code, body


SCOPES = {"plain": (), "read-only": (), "scoped": ("data/customer-1/a/", "data/shared/")}
TOPS = (
    "data/customer-1/",
    "data/shared/",
    "notebooks/customer-1/",
    "notebooks/shared/",
    "spark-logs/",
)


def _expected(world: dict[str, Any], creds: str, query: dict[str, str]) -> list[str] | None:
    """What alice may see (None: AccessDenied), by brute force over her keys: her subtrees
    narrowed by the scopes, the fixed folders rolled up even when empty."""
    prefix, delimiter = query.get("prefix", ""), query.get("delimiter")
    start_after = query.get("start-after", "")
    if prefix.startswith("acme/"):
        path = prefix.removeprefix("acme/")
        folder = path.rpartition("/")[0] + "/" if "/" in path else ""
        principal = Principal(member_id=1, org_id=1, scopes=SCOPES[creds])
        if not decide(principal, Action.LIST, Target(1, folder)):
            return None
    elif not "acme/".startswith(prefix):
        return None
    tops = [f"acme/{t}" for t in TOPS]
    if SCOPES[creds]:
        tops = [f"acme/{s}" for s in SCOPES[creds]]
    visible = [k for k in world["keys"] if k.startswith(tuple(tops)) and k in world["mine"]]
    entries = set(model(visible, prefix, delimiter, start_after))
    for top in tops:
        at = top.find(delimiter, len(prefix)) if delimiter and top.startswith(prefix) else -1
        if at >= 0 and top[: at + len(delimiter or "")] > start_after:
            entries.add(top[: at + len(delimiter or "")])
    return sorted(entries)


@drawn(800)
def test_s3_listings_show_exactly_what_alice_may_see(
    servers: list[tuple[InProcess, Any]], data: st.DataObject
) -> None:
    alone, world = servers[0]
    creds = data.draw(st.sampled_from(sorted(SCOPES)))
    query = {"list-type": "2", "max-keys": str(data.draw(st.integers(1, 40)))}
    if data.draw(st.booleans()):
        query["prefix"] = data.draw(places(world["keys"]))
    if (delimiter := data.draw(st.sampled_from(DELIMITERS))) is not None:
        query["delimiter"] = delimiter
    if data.draw(st.booleans()):
        query["start-after"] = data.draw(places(world["keys"]))
    expected = _expected(world, creds, query)
    got: list[str] = []
    token = None
    while True:
        asked = {**query, "continuation-token": token} if token else query
        response = alone.s3(world["creds"][creds], "GET", f"/{BUCKET}", asked)
        if expected is None:
            assert response.status_code == 403 and b"AccessDenied" in response.content
            return
        assert response.status_code == 200, response.text
        page = ET.fromstring(response.content)
        found = sorted(
            e.text or ""
            for e in page.findall(f"{NS}Contents/{NS}Key")
            + page.findall(f"{NS}CommonPrefixes/{NS}Prefix")
        )
        got += found
        token = page.findtext(f"{NS}NextContinuationToken")
        if page.findtext(f"{NS}IsTruncated") != "true":
            assert token is None
            break
        assert token and len(found) == int(query["max-keys"])
    assert got == expected, query
