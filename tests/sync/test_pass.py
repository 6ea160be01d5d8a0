"""Sync passes against a real lakestow server."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from lakestow.sync.errors import SyncError
from lakestow.sync.outcome import Tuning
from lakestow.sync.plan import Options
from sync.conftest import BUCKET, Home, status, tree

SMALL_PARTS = Tuning(part_size=5 * 2**20, multipart_threshold=5 * 2**20, workers=4)


def write(home: Path, files: dict[str, bytes]) -> None:
    for rel, data in files.items():
        (home / rel).parent.mkdir(parents=True, exist_ok=True)
        (home / rel).write_bytes(data)


def bump(path: Path, data: bytes) -> None:
    """Rewrite with a different mtime even on coarse clocks."""
    before = path.stat().st_mtime_ns
    path.write_bytes(data)
    os.utime(path, ns=(before + 10**9, before + 10**9))


def test_pass_uploads_edits_deletes_then_nothing(member: Home, tmp_path: Path) -> None:
    write(tmp_path, {"a.txt": b"a", "nb/one.ipynb": b"{}", "nb/deep/two.py": b"print(2)\n"})
    agent = member.agent(tmp_path)
    first = agent.sync()
    assert first.ok and sorted(first.uploaded) == ["a.txt", "nb/deep/two.py", "nb/one.ipynb"]
    assert member.objects() | {} == {
        "a.txt": b"a",
        "nb/one.ipynb": b"{}",
        "nb/deep/two.py": b"print(2)\n",
        ".lakestow-sync-status.json": member.objects()[".lakestow-sync-status.json"],
    }

    changes = agent.state.db.total_changes
    idle = agent.sync()
    assert idle.ok and idle.requests == 0 and not idle.uploaded
    assert agent.state.db.total_changes == changes  # nor a write to the state database
    last = agent.state.last_success()  # recorded by a utime of a file
    assert last is not None and abs(last - time.time()) < 5

    bump(tmp_path / "a.txt", b"edited")
    (tmp_path / "nb/one.ipynb").unlink()
    write(tmp_path, {"new.csv": b"x,y\n"})
    third = agent.sync()
    assert third.ok and sorted(third.uploaded) == ["a.txt", "new.csv"]
    assert third.deleted == ["nb/one.ipynb"]
    remote = member.objects()
    remote.pop(".lakestow-sync-status.json")
    assert remote == tree(tmp_path)
    assert agent.sync().requests == 0


def test_a_delete_is_one_request(member: Home, tmp_path: Path) -> None:
    """DELETE with If-Match the ETag last synced, no HEAD first (issue 16: a few changes, a
    few round trips); the other request is the status object."""
    write(tmp_path, {f"f{i}": b"x" for i in range(4)} | {"empty/.keep": b""})
    with member.agent(tmp_path) as agent:
        assert agent.sync().ok
        (tmp_path / "f0").unlink()
        result = agent.sync()
    assert result.ok and result.deleted == ["f0"] and result.requests == 2
    assert "f0" not in member.objects()


def test_status_object(member: Home, tmp_path: Path) -> None:
    write(tmp_path, {"a": b"1"})
    member.agent(tmp_path).sync()
    doc = status(member)
    assert doc["ok"] and doc["counts"]["uploaded"] == 1 and doc["counts"]["files"] == 1
    assert doc["last_success_at"].endswith("Z") and doc["errors"] == []


def test_ignore_rules(member: Home, tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "keep.py": b"1",
            "__pycache__/keep.cpython-311.pyc": b"x",
            "pkg/mod.pyc": b"x",
            "nb/.ipynb_checkpoints/a-checkpoint.ipynb": b"x",
            ".cache/pip/blob": b"x",
            ".local/share/jupyter/runtime/kernel-1.json": b"x",
            ".local/share/jupyter/kernels/k.json": b"kept",
            "data/big.parquet": b"x",
            "data/small.json": b"kept",
            ".lakestowignore": b"*.parquet\n",
        },
    )
    agent = member.agent(tmp_path)
    assert agent.sync().ok
    remote = set(member.objects()) - {".lakestow-sync-status.json"}
    assert remote == {
        "keep.py",
        ".local/share/jupyter/kernels/k.json",
        "data/small.json",
        ".lakestowignore",
        "nb/",  # folders left empty by the rules: their markers, so that a restore makes them
        "pkg/",
    }
    assert not any(p.startswith(".lakestow/") for p in remote)  # the agent's own state


def test_newly_ignored_file_is_deleted_remotely(member: Home, tmp_path: Path) -> None:
    write(tmp_path, {"a.log": b"1", "b": b"2", "c": b"3"})
    agent = member.agent(tmp_path)
    agent.sync()
    write(tmp_path, {".lakestowignore": b"*.log\n"})
    result = agent.sync()
    assert result.deleted == ["a.log"] and result.uploaded == [".lakestowignore"]


def test_delete_guard_refuses_then_forced(member: Home, tmp_path: Path) -> None:
    write(tmp_path, {f"f{i}": b"x" for i in range(10)})
    member.agent(tmp_path).sync()
    for i in range(6):
        (tmp_path / f"f{i}").unlink()
    refused = member.agent(tmp_path).sync()
    assert refused.refused and not refused.ok and refused.deleted == []
    assert len(member.objects()) == 11  # 10 files and the status object
    assert "refused" in str(status(member)["refused"])
    forced = member.agent(tmp_path, Options(force=True)).sync()
    assert forced.ok and len(forced.deleted) == 6
    assert set(member.objects()) == {f"f{i}" for i in range(6, 10)} | {".lakestow-sync-status.json"}


def test_file_changing_during_upload_is_retried(member: Home, tmp_path: Path) -> None:
    write(tmp_path, {"small.txt": b"v1", "big.bin": os.urandom(11 * 2**20)})
    touched: set[str] = set()

    def writer(path: str, done: int) -> None:
        if path not in touched:  # the first read of each file: the user saves it again
            touched.add(path)
            with (tmp_path / path).open("ab") as out:
                out.write(b"more")

    agent = member.agent(tmp_path, tuning=SMALL_PARTS, hook=writer)
    first = agent.sync()
    assert sorted(first.retry) == ["big.bin", "small.txt"] and not first.uploaded
    assert set(member.objects()) <= {".lakestow-sync-status.json"}
    assert (
        member.client()
        .list_multipart_uploads(Bucket=BUCKET, Prefix=member.prefix)
        .get("Uploads", [])
        == []
    )
    agent.hook = None
    second = agent.sync()
    assert second.ok and sorted(second.uploaded) == ["big.bin", "small.txt"]
    remote = member.objects()
    assert remote["small.txt"] == b"v1more"
    assert remote["big.bin"] == (tmp_path / "big.bin").read_bytes()


def test_remote_change_is_kept_aside(member: Home, tmp_path: Path) -> None:
    write(tmp_path, {"notes.md": b"mine v1", "other.md": b"same"})
    agent = member.agent(tmp_path)
    agent.sync()
    member.client().put_object(Bucket=BUCKET, Key=member.prefix + "notes.md", Body=b"console")
    bump(tmp_path / "notes.md", b"mine v2")
    result = agent.sync()
    assert result.ok and result.uploaded == ["notes.md"]
    [aside] = result.conflicts
    assert aside.startswith("notes.md.remote-conflict-") and aside.endswith("Z")
    remote = member.objects()
    assert remote["notes.md"] == b"mine v2" and remote[aside] == b"console"


def test_large_file_remote_change_is_kept_aside(member: Home, tmp_path: Path) -> None:
    write(tmp_path, {"big.bin": os.urandom(6 * 2**20)})
    agent = member.agent(tmp_path, tuning=SMALL_PARTS)
    agent.sync()
    member.client().put_object(Bucket=BUCKET, Key=member.prefix + "big.bin", Body=b"theirs")
    bump(tmp_path / "big.bin", os.urandom(7 * 2**20))
    result = agent.sync()
    assert result.ok and len(result.conflicts) == 1
    remote = member.objects()
    assert remote["big.bin"] == (tmp_path / "big.bin").read_bytes()
    assert remote[result.conflicts[0]] == b"theirs"


def test_lost_state_converges_without_conflicts(member: Home, tmp_path: Path) -> None:
    write(tmp_path, {"a": b"1", "big.bin": os.urandom(6 * 2**20)})
    member.agent(tmp_path, tuning=SMALL_PARTS).sync()
    for leftover in (tmp_path / ".lakestow").iterdir():
        leftover.unlink()  # as if the pass had been killed before recording anything
    again = member.agent(tmp_path, tuning=SMALL_PARTS).sync()
    assert again.ok and again.conflicts == [] and sorted(again.uploaded) == ["a", "big.bin"]
    assert set(member.objects()) == {"a", "big.bin", ".lakestow-sync-status.json"}


def test_symlinks_are_not_followed(member: Home, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    write(outside, {"secret.txt": b"secret"})
    home = tmp_path / "home"
    write(home, {"real.txt": b"real"})
    (home / "link-dir").symlink_to(outside)
    (home / "link-file").symlink_to(outside / "secret.txt")
    (home / "inner-link").symlink_to(
        home / "real.txt"
    )  # kept as a link: tests/sync/test_metadata.py
    result = member.agent(home).sync()
    assert result.ok
    objects = member.objects()
    assert set(objects) == {"real.txt", "inner-link", ".lakestow-sync-status.json"}
    assert objects["inner-link"] == str(home / "real.txt").encode()


def test_restore_into_empty_dir_byte_for_byte(member: Home, tmp_path: Path) -> None:
    source = tmp_path / "source"
    files = {
        "a.txt": b"a",
        "nb/x.ipynb": b'{"cells": []}',
        "nb/deep/er/y.bin": os.urandom(70_000),
        "big.bin": os.urandom(6 * 2**20),
        "empty": b"",
    }
    write(source, files)
    member.agent(source, tuning=SMALL_PARTS).sync()
    target = tmp_path / "target"
    agent = member.agent(target)
    restored = agent.restore()
    assert not restored.errors and len(restored.downloaded) == len(files)
    assert tree(target) == files  # the status object is not restored
    idle = agent.sync()
    assert idle.ok and idle.requests == 0 and not idle.uploaded


def test_restore_keeps_local_edits(member: Home, tmp_path: Path) -> None:
    write(tmp_path, {"a": b"synced", "b": b"synced"})
    with member.agent(tmp_path) as agent:
        agent.sync()
    bump(tmp_path / "a", b"local edit")
    (tmp_path / "b").unlink()
    result = member.agent(tmp_path).restore()
    assert result.kept == ["a"] and result.downloaded == ["b"]
    assert (tmp_path / "a").read_bytes() == b"local edit"
    assert (tmp_path / "b").read_bytes() == b"synced"


def test_remote_change_of_a_deleted_file_is_kept_aside(member: Home, tmp_path: Path) -> None:
    write(tmp_path, {"a": b"1", "b": b"2", "c": b"3"})
    agent = member.agent(tmp_path)
    agent.sync()
    member.client().put_object(Bucket=BUCKET, Key=member.prefix + "a", Body=b"theirs")
    (tmp_path / "a").unlink()
    result = agent.sync()
    assert result.ok and result.deleted == ["a"]
    [aside] = result.conflicts
    remote = member.objects()
    assert "a" not in remote and remote[aside] == b"theirs"


def test_one_agent_per_home(member: Home, tmp_path: Path) -> None:
    agent = member.agent(tmp_path)
    with pytest.raises(SyncError, match="another sync agent"):
        member.agent(tmp_path)
    agent.close()
    member.agent(tmp_path).close()


def test_checksum_mode_skips_touched_files(member: Home, tmp_path: Path) -> None:
    write(tmp_path, {"same": b"content", "edited": b"v1"})
    with member.agent(tmp_path) as agent:
        agent.sync()
    bump(tmp_path / "same", b"content")  # new mtime, same bytes
    bump(tmp_path / "edited", b"v2")  # same size, new bytes
    with member.agent(tmp_path, Options(checksum=True)) as agent:
        result = agent.sync()
        assert sorted(result.uploaded) == ["edited", "same"] and result.touched == ["same"]
        assert agent.sync().requests == 0  # the touched file's new mtime was recorded
    assert member.objects()["edited"] == b"v2"
    head = member.client().head_object(Bucket=BUCKET, Key=member.prefix + "same")
    mtime = (tmp_path / "same").stat().st_mtime_ns  # kept remotely, for a restore
    assert head["Metadata"]["mtime"] == f"{mtime // 10**9}.{mtime % 10**9:09d}"


def test_restore_skips_ignored_remote_files(member: Home, tmp_path: Path) -> None:
    client = member.client()
    for key, body in {
        "keep.py": b"1",
        "__pycache__/m.pyc": b"x",
        "data/raw.parquet": b"x",
        ".lakestowignore": b"*.parquet\n",
        "folder/": b"",
    }.items():
        client.put_object(Bucket=BUCKET, Key=member.prefix + key, Body=body)
    with member.agent(tmp_path) as agent:
        result = agent.restore()
        assert sorted(result.downloaded) == [".lakestowignore", "keep.py"]
        assert (tmp_path / "folder").is_dir()
        assert agent.sync().deleted == []  # ignored remote files are left alone
    assert tree(tmp_path) == {"keep.py": b"1", ".lakestowignore": b"*.parquet\n"}
    assert {"__pycache__/m.pyc", "data/raw.parquet"} <= set(member.objects())


def test_names_are_kept_exactly(member: Home, tmp_path: Path) -> None:
    """Small files go through obstore, whose paths must not be re-encoded on the way."""
    names = ["a#b.txt", "p%20q.txt", "t~x", "s*?.txt", "sp ace.txt", "ünï😀.txt", 'q"<>|`^\\.txt']
    write(tmp_path, {f"dir [1]/{name}": name.encode() for name in names})
    assert member.agent(tmp_path).sync().ok
    remote = member.objects()
    remote.pop(".lakestow-sync-status.json")
    assert remote == tree(tmp_path)
