"""What a file keeps besides its bytes (issue 16): mode bits, modification time (as rclone
keeps it, user metadata `mtime` in seconds with fractions) and symbolic links, which are
never followed and never restored out of the home. A restored home is the original by `stat`
(mode, mtime, size) and by content."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

from sync.conftest import BIN, BUCKET, Home, tree
from sync.test_pass import SMALL_PARTS, write

T = 1_700_000_000_123_456_789  # ns: a time with every digit of the fraction used


def files_of(home: Path) -> dict[str, tuple[int, int, int, bytes | str]]:
    """Every file and link under `home` (the agent's state aside): mode, mtime, size and
    content (a link: its target)."""
    found: dict[str, tuple[int, int, int, bytes | str]] = {}
    for path in sorted(home.rglob("*")):
        rel = path.relative_to(home).as_posix()
        st = path.lstat()
        if rel.startswith(".lakestow") or stat.S_ISDIR(st.st_mode):
            continue
        body: bytes | str = os.readlink(path) if path.is_symlink() else path.read_bytes()
        found[rel] = (stat.S_IMODE(st.st_mode), st.st_mtime_ns, st.st_size, body)
    return found


def make_home(home: Path) -> None:
    write(
        home,
        {
            "bin/run.sh": b"#!/bin/sh\necho ok\n",
            ".local/share/jupyter/runtime-not/notebook_secret": b"s3cr3t",
            "nb/analysis.ipynb": b'{"cells": []}',
            "data/big.bin": os.urandom(6 * 2**20),  # in parts
            "data/empty": b"",
        },
    )
    modes = {
        "bin/run.sh": 0o755,
        ".local/share/jupyter/runtime-not/notebook_secret": 0o600,
        "nb/analysis.ipynb": 0o644,
        "data/big.bin": 0o640,
        "data/empty": 0o444,
    }
    (home / "nb" / "latest").symlink_to("analysis.ipynb")
    (home / "data-link").symlink_to("data")
    for i, (path, mode) in enumerate(modes.items()):
        os.chmod(home / path, mode)
        os.utime(home / path, ns=(T + i, T + i * 1_000_001))
    os.utime(home / "nb" / "latest", ns=(T, T + 7), follow_symlinks=False)


def test_a_restored_home_is_the_original_by_stat(member: Home, tmp_path: Path) -> None:
    source, target = tmp_path / "source", tmp_path / "target"
    make_home(source)
    assert member.agent(source, tuning=SMALL_PARTS).sync().ok
    restored = member.agent(target).restore()
    assert not restored.errors
    assert files_of(target) == files_of(source)
    assert stat.S_IMODE((target / "bin/run.sh").stat().st_mode) == 0o755
    secret = target / ".local/share/jupyter/runtime-not/notebook_secret"
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    assert os.readlink(target / "data-link") == "data" and (target / "data-link").is_symlink()
    assert subprocess.run([str(target / "bin/run.sh")], capture_output=True).stdout == b"ok\n"
    idle = member.agent(target).sync()  # what was restored is what the state says
    assert idle.ok and idle.requests == 0


def test_mtime_and_mode_are_user_metadata_as_rclone_keeps_them(
    member: Home, tmp_path: Path
) -> None:
    write(tmp_path, {"run.sh": b"#!/bin/sh\n"})
    os.chmod(tmp_path / "run.sh", 0o750)  # noqa: S103 (the point of the test)
    os.utime(tmp_path / "run.sh", ns=(T, T))
    assert member.agent(tmp_path).sync().ok
    head = member.client().head_object(Bucket=BUCKET, Key=member.prefix + "run.sh")
    assert head["Metadata"] == {"mtime": "1700000000.123456789", "mode": "100750"}


def test_rclone_reads_the_mtime(member: Home, tmp_path: Path) -> None:
    write(tmp_path / "home", {"a.txt": b"a"})
    os.utime(tmp_path / "home" / "a.txt", ns=(T, T))
    assert member.agent(tmp_path / "home").sync().ok
    c = member.credentials()
    env = {
        "RCLONE_CONFIG_LS_TYPE": "s3",
        "RCLONE_CONFIG_LS_PROVIDER": "Other",
        "RCLONE_CONFIG_LS_ENDPOINT": member.server.endpoint,
        "RCLONE_CONFIG_LS_ACCESS_KEY_ID": c.access_key_id,
        "RCLONE_CONFIG_LS_SECRET_ACCESS_KEY": c.secret_access_key,
        "RCLONE_CONFIG_LS_SESSION_TOKEN": c.session_token or "",
        "RCLONE_CONFIG_LS_REGION": "us-east-1",
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
    }
    copy = [str(BIN / "rclone"), "copy", f"ls:{BUCKET}/{member.prefix}a.txt", str(tmp_path / "r")]
    subprocess.run(copy, env=env, check=True, capture_output=True)
    # rclone keeps nanoseconds where the file system does
    assert (tmp_path / "r" / "a.txt").stat().st_mtime_ns == T


def test_a_chmod_alone_is_synced(member: Home, tmp_path: Path) -> None:
    write(tmp_path, {"tool": b"#!/bin/sh\n"})
    os.chmod(tmp_path / "tool", 0o644)
    with member.agent(tmp_path) as agent:
        assert agent.sync().ok
        os.chmod(tmp_path / "tool", 0o755)  # noqa: S103 (the point of the test)
        again = agent.sync()
    assert again.uploaded == ["tool"] and again.touched == ["tool"]  # the bytes not sent again
    assert again.requests == 2  # a copy onto itself with the new metadata; the status object
    head = member.client().head_object(Bucket=BUCKET, Key=member.prefix + "tool")
    assert head["Metadata"]["mode"] == "100755"
    assert member.objects()["tool"] == b"#!/bin/sh\n"


def test_a_large_file_touched_keeps_its_remote_bytes(member: Home, tmp_path: Path) -> None:
    """`touch` of a large file (its mtime alone): hashed, found the same, its metadata alone
    updated; the same size with other bytes is sent whole."""
    data = os.urandom(6 * 2**20)
    write(tmp_path, {"big.bin": data})
    key = member.prefix + "big.bin"
    with member.agent(tmp_path, tuning=SMALL_PARTS) as agent:
        assert agent.sync().ok
        os.utime(tmp_path / "big.bin", ns=(T, T))
        touched = agent.sync()
        assert touched.ok and touched.touched == ["big.bin"] and touched.requests == 2
        assert member.client().head_object(Bucket=BUCKET, Key=key)["Metadata"]["mtime"] == (
            "1700000000.123456789"
        )
        assert agent.sync().requests == 0
        other = os.urandom(len(data))
        (tmp_path / "big.bin").write_bytes(other)
        os.utime(tmp_path / "big.bin", ns=(T + 10**9, T + 10**9))
        edited = agent.sync()
    assert edited.ok and edited.uploaded == ["big.bin"] and edited.touched == []
    assert member.objects()["big.bin"] == other


def test_links_out_of_the_home_are_neither_followed_nor_restored(
    member: Home, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    write(outside, {"secret.txt": b"secret"})
    home = tmp_path / "home"
    write(home, {"real.txt": b"real", "sub/x": b"x"})
    (home / "rel").symlink_to("real.txt")
    (home / "abs-in").symlink_to(home / "sub")
    (home / "abs-out").symlink_to(outside / "secret.txt")
    (home / "dir-out").symlink_to(outside)
    (home / "sub" / "dotdot-out").symlink_to("../../outside/secret.txt")
    result = member.agent(home).sync()
    assert result.ok
    objects = member.objects()
    assert set(objects) == {"real.txt", "sub/x", "rel", "abs-in", ".lakestow-sync-status.json"}
    assert b"secret" not in b"".join(objects.values())
    target = tmp_path / "target"  # elsewhere: `abs-in` points into the first home, out of it
    restored = member.agent(target).restore()
    assert set(restored.errors) == {"abs-in"} and "leaves the home" in restored.errors["abs-in"]
    assert os.readlink(target / "rel") == "real.txt"
    assert not os.path.lexists(target / "abs-in")
    assert tree(target) == {"real.txt": b"real", "sub/x": b"x"}


def test_a_restore_never_writes_through_or_makes_an_escaping_link(
    member: Home, tmp_path: Path
) -> None:
    client = member.client()
    put = lambda key, body, **meta: client.put_object(  # noqa: E731
        Bucket=BUCKET, Key=member.prefix + key, Body=body, Metadata=meta
    )
    put("evil-link", b"/etc/passwd", symlink="true")
    put("deep/evil", b"../../../../../tmp", symlink="true")
    put("through/planted.txt", b"planted")
    outside = tmp_path / "outside"
    outside.mkdir()
    home = tmp_path / "home"
    home.mkdir()
    (home / "through").symlink_to(outside)  # a link of the user's own, to somewhere else
    restored = member.agent(home).restore()
    assert set(restored.errors) == {"evil-link", "deep/evil", "through/planted.txt"}
    assert list(outside.iterdir()) == []
    assert not os.path.lexists(home / "evil-link") and not os.path.lexists(home / "deep/evil")
    assert [p for p in home.rglob("*") if "lakestow-partial" in p.name] == []  # none left


def test_an_object_without_metadata_gets_the_usual_mode(member: Home, tmp_path: Path) -> None:
    """Not the 0600 of the download in progress: what any new file would get."""
    member.client().put_object(Bucket=BUCKET, Key=member.prefix + "plain.txt", Body=b"p")
    restored = member.agent(tmp_path).restore()
    assert not restored.errors
    umask = os.umask(0o022)
    os.umask(umask)
    assert stat.S_IMODE((tmp_path / "plain.txt").stat().st_mode) == 0o666 & ~umask
