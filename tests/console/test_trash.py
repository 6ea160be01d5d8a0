"""The trash through the JSON API, in-process over a versioned organization bucket: the
versions of a file, the deleted entries of a folder, restoring a version and a whole folder
as of a time, and what a member may not see or restore."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from console.console_support import As, Console
from console.test_large_folder import KEYS, fill
from lakestow.auth.policy import Action, Decision, Principal
from lakestow.console import restore
from lakestow.errors import AccessDenied
from lakestow.storage.protocol import ENABLED
from lakestow.warehouse import MemberView
from live import BUCKET


@pytest.fixture
def versioned(console: Console) -> Console:
    """The console, whose organizations' bucket keeps versions from the start (the trash)."""
    store = console.client.app.state.console.runtime.store  # type: ignore[attr-defined]
    status = console.client.portal.call(store.get_versioning, BUCKET)  # type: ignore[attr-defined]
    assert status == ENABLED
    return console


def put(member: As, path: str, data: bytes) -> None:
    response = member.put(f"/api/object?path={path}", content=data)
    assert response.status_code == 201, response.text


def delete(member: As, *paths: str) -> None:
    response = member.post("/api/delete", json={"paths": list(paths)})
    assert response.status_code == 200, response.text


def read(member: As, path: str, version_id: str | None = None) -> bytes | int:
    params = {"path": path} | ({"version_id": version_id} if version_id else {})
    got = member.get("/api/download", params=params)
    return got.content if got.status_code == 200 else got.status_code


def versions(member: As, path: str) -> list[dict[str, Any]]:
    response = member.get("/api/versions", params={"path": path})
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()["versions"]
    return found


def deleted(member: As, folder: str, **params: str) -> list[str]:
    response = member.get("/api/deleted", params={"path": folder, **params})
    assert response.status_code == 200, response.text
    return [e["name"] + ("/" if e["kind"] == "folder" else "") for e in response.json()["entries"]]


def instant() -> datetime:
    """Now, strictly between what was written before and what will be written after."""
    time.sleep(0.02)
    moment = datetime.now(UTC)
    time.sleep(0.02)
    return moment


def audited(console: Console, action: str) -> Any:
    """The newest audit entry of `action`, once the audit writer has written it."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        log = console.opened.services("t").audit_log(50)
        found = [e for e in log if e.action == action]
        if found:
            return found[0]
        time.sleep(0.1)
    raise AssertionError(f"no {action} in the audit log")


def restore_folder(member: As, folder: str, moment: datetime, **more: Any) -> Any:
    return member.post(
        "/api/restore-folder", json={"path": folder, "as_of": moment.isoformat(), **more}
    )


def test_the_versions_of_a_file_newest_first(versioned: Console, alice: As) -> None:
    path = alice.home("v.txt")
    for data in (b"one", b"two!", b"three"):
        put(alice, path, data)
    delete(alice, path)
    found = versions(alice, path)
    assert [(v["size"], v["latest"], v["delete_marker"]) for v in found] == [
        (None, True, True),
        (5, False, False),
        (4, False, False),
        (3, False, False),
    ]
    assert found[0]["etag"] is None and len(found[1]["etag"]) == 32
    assert [read(alice, path, v["version_id"]) for v in found[1:]] == [b"three", b"two!", b"one"]
    marker = alice.get("/api/download", params={"path": path, "version_id": found[0]["version_id"]})
    assert marker.status_code == 400 and "delete marker" in marker.json()["message"]
    assert read(alice, path) == 404
    # paged, and the cursor is bound to the file
    first = alice.get("/api/versions", params={"path": path, "limit": "3"}).json()
    assert [v["version_id"] for v in first["versions"]] == [v["version_id"] for v in found[:3]]
    rest = alice.get("/api/versions", params={"path": path, "cursor": first["cursor"]}).json()
    assert rest["versions"] == found[3:] and rest["cursor"] is None
    other = {"path": alice.home("w.txt"), "cursor": first["cursor"]}
    assert alice.get("/api/versions", params=other).status_code == 400


def test_a_key_s_versions_are_its_own(versioned: Console, alice: As) -> None:
    put(alice, alice.home("k"), b"k")
    put(alice, alice.home("k2"), b"k2")
    put(alice, alice.home("k/under"), b"u")
    assert [v["size"] for v in versions(alice, alice.home("k"))] == [1]
    assert versions(alice, alice.home("nothing")) == []
    for bad in (alice.home("k/"), ""):
        assert alice.get("/api/versions", params={"path": bad}).status_code == 400


def test_deleted_entries_of_a_folder(versioned: Console, alice: As) -> None:
    folder = alice.home("f/")
    for name in ("live.txt", "gone.txt", "sub/a", "sub/b", "mixed/x", "mixed/y", "again"):
        put(alice, folder + name, name.encode())
    delete(alice, folder + "gone.txt", folder + "sub/", folder + "mixed/y", folder + "again")
    put(alice, folder + "again", b"back")
    assert deleted(alice, folder) == ["gone.txt", "sub/"]
    entries = alice.get("/api/deleted", params={"path": folder}).json()
    gone = next(e for e in entries["entries"] if e["name"] == "gone.txt")
    assert gone["deleted"] and gone["size"] == 8 and gone["may_write"]
    assert read(alice, folder + "gone.txt", gone["version_id"]) == b"gone.txt"
    assert gone["deleted_at"] > gone["modified"] and entries["versioning"] == "Enabled"
    assert deleted(alice, folder + "mixed/") == ["y"]
    assert deleted(alice, folder + "sub/") == ["a", "b"]
    assert deleted(alice, folder, filter="g") == ["gone.txt"]
    assert deleted(alice, alice.home()) == []  # f/ holds current files
    # paged by name, one at a time
    page = alice.get("/api/deleted", params={"path": folder + "sub/", "limit": "1"}).json()
    assert [e["name"] for e in page["entries"]] == ["a"]
    after = {"path": folder + "sub/", "cursor": page["cursor"]}
    assert [e["name"] for e in alice.get("/api/deleted", params=after).json()["entries"]] == ["b"]


def test_a_deleted_file_with_many_markers_is_found_and_restored(
    versioned: Console, alice: As, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lakestow.console import trash

    monkeypatch.setattr(trash, "SCAN_PAGE", 3)  # the markers run past a page of the scan
    path = alice.home("m/file")
    put(alice, path, b"first")
    for _ in range(4):
        delete(alice, path)
    put(alice, alice.home("m/later"), b"l")
    (entry,) = alice.get("/api/deleted", params={"path": alice.home("m/")}).json()["entries"]
    assert entry["name"] == "file" and entry["size"] == 5
    restored = alice.post("/api/restore", json={"path": path, "version_id": entry["version_id"]})
    assert restored.status_code == 200, restored.text
    assert read(alice, path) == b"first"


def test_restore_a_version_is_a_new_version(
    versioned: Console, console: Console, alice: As
) -> None:
    path = alice.home("r.txt")
    put(alice, path, b"old")
    put(alice, path, b"new")
    old = versions(alice, path)[1]
    answer = alice.post("/api/restore", json={"path": path, "version_id": old["version_id"]})
    assert answer.status_code == 200, answer.text
    assert answer.json()["restored_version_id"] == old["version_id"]
    assert read(alice, path) == b"old"
    after = versions(alice, path)
    assert [read(alice, path, v["version_id"]) for v in after] == [b"old", b"new", b"old"]
    assert after[0]["version_id"] == answer.json()["version_id"]
    entry = audited(console, "console.restore")
    assert entry.target == f"s3://lakestow/acme/{path}" and entry.outcome == "ok"
    assert entry.detail["version_id"] == old["version_id"]
    again = alice.post("/api/restore", json={"path": path, "version_id": after[0]["version_id"]})
    assert again.status_code == 409 and "already the current version" in again.json()["message"]
    assert len(versions(alice, path)) == 3


def test_restore_a_deleted_file(versioned: Console, alice: As) -> None:
    path = alice.home("d/x.bin")
    put(alice, path, b"\x00\x01 bytes")
    delete(alice, path)
    (entry,) = alice.get("/api/deleted", params={"path": alice.home("d/")}).json()["entries"]
    assert alice.post("/api/restore", json={"path": path, "version_id": entry["version_id"]})
    assert read(alice, path) == b"\x00\x01 bytes"
    assert deleted(alice, alice.home("d/")) == []


def test_bad_restores_change_nothing(versioned: Console, console: Console, alice: As) -> None:
    path = alice.home("bad.txt")
    put(alice, path, b"a")
    delete(alice, path)
    marker = versions(alice, path)[0]["version_id"]
    cases = [
        ({"path": path, "version_id": marker}, 400, "delete marker"),
        ({"path": path, "version_id": "0" * 16}, 404, ""),
        ({"path": path, "version_id": "not-a-version"}, 400, ""),
        ({"path": path, "version_id": ""}, 400, "version_id"),
        ({"path": path}, 400, "version_id"),
        ({"path": alice.home(), "version_id": marker}, 400, "folder"),
        ({"path": "../x", "version_id": marker}, 400, ""),
    ]
    for body, status, message in cases:
        answer = alice.post("/api/restore", json=body)
        assert answer.status_code == status, (body, answer.text)
        assert message in answer.json()["message"]
    assert len(versions(alice, path)) == 2 and read(alice, path) == 404
    no_csrf = alice.post("/api/restore", json=cases[0][0], csrf=False)
    assert no_csrf.status_code == 403


def test_restore_a_folder_as_of_a_time(versioned: Console, console: Console, alice: As) -> None:
    folder = alice.home("proj/")
    for name in ("changed", "deleted", "same", "deep/er/file", "deleted-before"):
        put(alice, folder + name, b"then " + name.encode())
    delete(alice, folder + "deleted-before")
    moment = instant()
    put(alice, folder + "changed", b"now")
    put(alice, folder + "made-since", b"new")
    delete(alice, folder + "deleted", folder + "deep/")
    dry = restore_folder(alice, folder, moment, dry_run=True)
    assert dry.status_code == 200, dry.text
    assert dry.json() | {"failures": []} == {
        "path": folder,
        "as_of": moment.isoformat(),
        "dry_run": True,
        "to_restore": 3,
        "unchanged": 1,
        "restored": 0,
        "failed": 0,
        "failures": [],
    }
    assert read(alice, folder + "changed") == b"now"
    done = restore_folder(alice, folder, moment).json()
    assert (done["restored"], done["failed"], done["unchanged"]) == (3, 0, 1)
    for name in ("changed", "deleted", "same", "deep/er/file"):
        assert read(alice, folder + name) == b"then " + name.encode()
    assert read(alice, folder + "made-since") == b"new"
    assert read(alice, folder + "deleted-before") == 404
    assert len(versions(alice, folder + "same")) == 1  # nothing to restore: not copied
    again = restore_folder(alice, folder, moment).json()
    assert (again["restored"], again["unchanged"]) == (0, 4)
    entry = audited(console, "console.restore")
    assert entry.target.endswith(folder) and entry.detail["keys"] == 3  # type: ignore[index]


def test_bad_folder_restores_change_nothing(
    versioned: Console, alice: As, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = alice.home("keep/")
    for name in ("a", "b", "c"):
        put(alice, folder + name, b"then")
    moment = instant()
    delete(alice, folder)
    now = datetime.now(UTC)
    for as_of, message in (
        ("yesterday", "not a date and time"),
        (moment.replace(tzinfo=None).isoformat(), "no offset"),
        ((now + timedelta(hours=1)).isoformat(), "in the future"),
        (12, "as_of must be"),
    ):
        answer = alice.post("/api/restore-folder", json={"path": folder, "as_of": as_of})
        assert answer.status_code == 400 and message in answer.json()["message"], answer.text
    bad_flag = restore_folder(alice, folder, moment, dry_run="yes")
    assert bad_flag.status_code == 400
    monkeypatch.setattr(restore, "MAX_RESTORE", 2)
    too_many = restore_folder(alice, folder, moment)
    assert too_many.status_code == 400 and "more than 2 files" in too_many.json()["message"]
    monkeypatch.setattr(restore, "MAX_RESTORE", 10)
    monkeypatch.setattr(restore, "RESTORE_SCAN", 4)
    too_long = restore_folder(alice, folder, moment)
    assert too_long.status_code == 400 and "more than 4 versions" in too_long.json()["message"]
    assert [read(alice, folder + n) for n in "abc"] == [404, 404, 404]
    refused = restore_folder(alice, "data/", moment)
    assert refused.status_code == 403 and "read-only" in refused.json()["message"]


def test_another_member_s_trash_never_shows(versioned: Console, alice: As, bob: As) -> None:
    mine = alice.home("secret/s.txt")
    put(alice, mine, b"alice's")
    moment = instant()
    delete(alice, alice.home("secret/"))
    put(bob, "data/shared/common.txt", b"shared")
    delete(bob, "data/shared/common.txt")
    put(bob, bob.home("b.txt"), b"bob")
    delete(bob, bob.home("b.txt"))
    assert deleted(alice, alice.home()) == ["secret/"]
    assert deleted(bob, "data/") == [] and deleted(bob, "") == []
    assert deleted(bob, "data/shared/") == ["common.txt"] == deleted(alice, "data/shared/")
    version = versions(alice, mine)[1]["version_id"]
    for answer in (
        bob.get("/api/deleted", params={"path": alice.home()}),
        bob.get("/api/versions", params={"path": mine}),
        bob.get("/api/download", params={"path": mine, "version_id": version}),
        bob.post("/api/restore", json={"path": mine, "version_id": version}),
        restore_folder(bob, alice.home(), moment),
        alice.get("/api/deleted", params={"path": bob.home()}),
    ):
        assert answer.status_code == 403, answer.text
        assert "another member's private folder" in answer.json()["message"]
    assert read(alice, mine) == 404


@pytest.mark.slow
def test_the_trash_of_a_huge_folder_is_read_in_bounded_pages(versioned: Console, alice: As) -> None:
    folder = alice.home("big/")
    fill(versioned, folder)
    put(alice, folder + "zz-deleted", b"last")
    delete(alice, folder + "zz-deleted")
    found: list[str] = []
    cursor, requests = "", 0
    while cursor is not None:  # (bounded work per page: the answer comes in several pages)
        page = alice.get("/api/deleted", params={"path": folder, "cursor": cursor}).json()
        found += [e["name"] for e in page["entries"]]
        cursor, requests = page["cursor"], requests + 1
    assert found == ["zz-deleted"] and requests > 2, requests
    dry = restore_folder(alice, folder, datetime.now(UTC), dry_run=True).json()
    assert (dry["to_restore"], dry["unchanged"]) == (0, KEYS)


def test_every_warehouse_has_a_trash_from_the_start(alice: As) -> None:
    """No set-up: the server versions each organization's bucket when it loads it."""
    put(alice, alice.home("u.txt"), b"u")
    delete(alice, alice.home("u.txt"))
    answer = alice.get("/api/deleted", params={"path": alice.home()}).json()
    assert (answer["versioning"], answer["cursor"]) == ("Enabled", None)
    assert [(e["name"], e["kind"]) for e in answer["entries"]] == [("u.txt", "file")]
    assert read(alice, alice.home("u.txt")) == 404


@dataclass(frozen=True)
class ReadOnly:
    """A caller whose credentials are read-only, as the operations layer sees callers."""

    view: MemberView

    @property
    def actor(self) -> str:
        return f"member:{self.view.principal.member_id}"

    def decide(self, action: Action, bucket: str, key: str) -> Decision:
        path = self.view.path_of(bucket, key)
        assert path is not None
        return self.view.decide(action, path)


def test_read_only_credentials_cannot_restore(versioned: Console, alice: As) -> None:
    path = alice.home("ro.txt")
    put(alice, path, b"old")
    put(alice, path, b"new")
    old = versions(alice, path)[1]["version_id"]
    runtime = versioned.client.app.state.console.runtime  # type: ignore[attr-defined]
    org = runtime.services("t").orgs.get_org("acme")
    caller = ReadOnly(MemberView(Principal(alice.id, org.id, read_only=True), org))
    objects = runtime.objects(caller, "console")
    key = f"acme/{path}"
    portal = versioned.client.portal  # type: ignore[attr-defined]
    for call in (
        lambda: objects.restore(BUCKET, key, old),
        lambda: objects.restore_many(BUCKET, [(key, old)]),
    ):
        with pytest.raises(AccessDenied, match="read-only"):
            portal.call(call)
    assert read(alice, path) == b"new" and len(versions(alice, path)) == 2
