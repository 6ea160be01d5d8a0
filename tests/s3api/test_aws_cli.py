"""The real `aws` CLI (default settings) against a live lakestow."""

from __future__ import annotations

import filecmp
import os
import time
import urllib.request
from pathlib import Path

import pytest

from s3api.conftest import BUCKET, LiveServer

MiB = 1024 * 1024


def _tree(root: Path) -> None:
    (root / "nested" / "deeper").mkdir(parents=True)
    (root / "small.txt").write_text("hello lakestow\n")
    (root / "nested" / "a b+c&d.csv").write_text("x,y\n1,2\n")
    (root / "nested" / "deeper" / "été 日本.json").write_text('{"k": "v"}')
    with open(root / "big.bin", "wb") as out:  # 200 MiB: multipart with the CLI's defaults
        block = os.urandom(MiB)
        for i in range(200):
            out.write(block[i:] + block[:i])
    # Made a while before they are uploaded, as files usually are: `aws s3 sync` uploads a
    # file newer than its object, and an upstream keeping times to the second (moto) dates an
    # object uploaded in the second its file was written before the file.
    before = time.time() - 10
    for path in root.rglob("*"):
        os.utime(path, (before, before))


@pytest.mark.slow
def test_cp_recursive_ls_sync_rm_presign(live: LiveServer, aws, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    source = tmp_path / "source"
    _tree(source)
    user_path = f"s3://{BUCKET}/{live.private('alice')}"
    aws("alice", "s3", "cp", "--recursive", str(source), user_path + "upload/")

    listing = aws("alice", "s3", "ls", "--recursive", user_path + "upload/").stdout
    assert "big.bin" in listing and "été 日本.json" in listing and "a b+c&d.csv" in listing
    assert str(200 * MiB) in listing

    back = tmp_path / "back"
    aws("alice", "s3", "cp", "--recursive", user_path + "upload/", str(back))
    assert not filecmp.dircmp(source, back).diff_files
    for path in source.rglob("*"):
        if path.is_file():
            assert filecmp.cmp(path, back / path.relative_to(source), shallow=False), path

    synced = aws("alice", "s3", "sync", str(source), user_path + "upload/").stdout
    assert synced.strip() == "", "a second sync has nothing to do"
    (source / "new.txt").write_text("new")
    synced = aws("alice", "s3", "sync", str(source), user_path + "upload/").stdout
    assert "new.txt" in synced and "big.bin" not in synced

    url = aws(
        "alice", "s3", "presign", user_path + "upload/small.txt", "--expires-in", "300"
    ).stdout.strip()
    with urllib.request.urlopen(url) as response:  # noqa: S310 (our own loopback server)
        assert response.read() == b"hello lakestow\n"

    aws("alice", "s3", "rm", "--recursive", user_path + "upload/")
    assert aws("alice", "s3", "ls", "--recursive", user_path + "upload/", check=False).stdout == ""


def test_ls_shows_only_what_the_member_may_see(live: LiveServer, aws) -> None:  # type: ignore[no-untyped-def]
    top = aws("alice", "s3", "ls", f"s3://{BUCKET}/acme/").stdout
    assert sorted(line.split()[-1] for line in top.splitlines()) == [
        "data/",
        "notebooks/",
        "spark-logs/",
    ]
    data = aws("alice", "s3", "ls", f"s3://{BUCKET}/acme/data/").stdout
    names = sorted(line.split()[-1] for line in data.splitlines())
    assert names == [f"customer-{live.ids['alice']}/", "shared/"]
    bucket = aws("alice", "s3", "ls", f"s3://{BUCKET}/").stdout
    assert [line.split()[-1] for line in bucket.splitlines()] == ["acme/"]


def test_writing_elsewhere_fails_and_leaves_nothing(live: LiveServer, aws, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "f.txt").write_text("nope")
    for target in (live.private("bob"), "acme/data/", "acme/", "globex/data/shared/"):
        result = aws(
            "alice",
            "s3",
            "cp",
            str(tmp_path / "f.txt"),
            f"s3://{BUCKET}/{target}f.txt",
            check=False,
        )
        assert result.returncode != 0 and "AccessDenied" in result.stderr, target
    listing = aws(
        "bob", "s3", "ls", "--recursive", f"s3://{BUCKET}/{live.private('bob')}", check=False
    )
    assert "f.txt" not in listing.stdout
