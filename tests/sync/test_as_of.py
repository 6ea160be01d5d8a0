"""`lakestow home restore --as-of TIME`: a home brought back as it was at a moment, from the
warehouse's versions (its trash), and made current again by the next pass. Run as users run
it: the real command, as a new process, against the real server."""

from __future__ import annotations

import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path

from sync.conftest import BIN, Home, tree


def files(member: Home) -> dict[str, bytes]:
    """The remote copy's files, without the agent's status object."""
    return {k: v for k, v in member.objects().items() if not k.startswith(".lakestow")}


def lakestow_home(member: Home, *args: str) -> str:
    result = subprocess.run(
        [str(BIN / "lakestow"), "home", *args],
        env=member.sync_env(),
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stderr


def test_a_home_is_restored_as_it_was_and_the_next_pass_makes_it_current(
    member: Home, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    (home / "sub").mkdir(parents=True)
    (home / "a.txt").write_text("one")
    (home / "b.txt").write_text("bee")
    (home / "sub" / "c.txt").write_text("sea")
    lakestow_home(member, "sync", *member.sync_args(home))
    time.sleep(1.1)
    moment = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S")  # to the second: still after
    time.sleep(1.1)

    (home / "a.txt").write_text("two")  # overwritten, deleted, made since: then synced
    (home / "b.txt").unlink()
    (home / "d.txt").write_text("new")
    lakestow_home(member, "sync", *member.sync_args(home))
    assert files(member) == {"a.txt": b"two", "sub/c.txt": b"sea", "d.txt": b"new"}

    said = lakestow_home(member, "restore", "--as-of", moment, *member.sync_args(home))
    assert "restored 2 files" in said, said  # a.txt and b.txt; c.txt is what it was
    assert tree(home) == {"a.txt": b"one", "b.txt": b"bee", "sub/c.txt": b"sea", "d.txt": b"new"}

    lakestow_home(member, "sync", *member.sync_args(home))  # what was restored is current
    assert files(member) == {
        "a.txt": b"one",
        "b.txt": b"bee",
        "sub/c.txt": b"sea",
        "d.txt": b"new",
    }
    # Before the home existed: nothing to restore, nothing touched.
    said = lakestow_home(member, "restore", "--as-of", "2020-01-01", *member.sync_args(home))
    assert "restored 0 files" in said, said
    assert tree(home)["a.txt"] == b"one"
