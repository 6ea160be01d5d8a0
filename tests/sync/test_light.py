"""A real `lakestow home sync` and `home restore`, each a new process, import nothing heavy
(issue 16): no SQLAlchemy, Alembic, Starlette, uvicorn, boto3 or botocore on the agent's path,
from the first upload to the restore (`tests/test_cli_imports.py` checks `--help`)."""

from __future__ import annotations

import contextlib
import os
import pty
import subprocess
import sys
from pathlib import Path

from live import heavy, imported_by
from sync.conftest import Home, tree


def test_sync_and_restore_passes_import_nothing_heavy(member: Home, tmp_path: Path) -> None:
    home = tmp_path / "home"
    (home / "empty").mkdir(parents=True)
    (home / "a.txt").write_text("a")
    (home / "big.bin").write_bytes(bytes(range(256)) * 40_000)  # in parts
    env = member.sync_env()
    for args in (["home", "sync"], ["home", "sync"], ["home", "restore"]):
        target = home if args[1] == "sync" else tmp_path / "copy"
        result, modules = imported_by([*args, *member.sync_args(target)], env)
        assert result.returncode == 0, result.stderr[-3000:]
        assert "obstore" in modules or args == ["home", "sync"]
        assert heavy(modules) == set()
        if "0 requests" in result.stderr:  # the second pass: nothing to send, nothing to load
            idle = modules
    assert {"obstore", "lakestow.sync.apply", "lakestow.sync.restore", "tomllib"} & idle == set()
    assert tree(tmp_path / "copy") == tree(home)
    assert (tmp_path / "copy" / "empty").is_dir()
    assert set(member.objects()) == {"a.txt", "big.bin", "empty/", ".lakestow-sync-status.json"}


def test_restore_shows_progress_on_a_terminal_only(member: Home, tmp_path: Path) -> None:
    home = tmp_path / "home"
    for i in range(30):
        (home / f"d{i % 3}").mkdir(parents=True, exist_ok=True)
        (home / f"d{i % 3}" / f"f{i}").write_text(str(i))
    env = member.sync_env()
    assert imported_by(["home", "sync", *member.sync_args(home)], env)[0].returncode == 0
    plain, _ = imported_by(["home", "restore", *member.sync_args(tmp_path / "a")], env)
    assert plain.returncode == 0 and "\rrestore:" not in plain.stderr
    primary, secondary = pty.openpty()
    args = ["home", "restore", *member.sync_args(tmp_path / "b")]
    process = subprocess.run(
        [sys.executable, "-m", "lakestow", *args], stderr=secondary, env=env, check=False
    )
    os.close(secondary)
    shown = b""
    with contextlib.suppress(OSError):  # EIO once everything written was read
        while chunk := os.read(primary, 65536):
            shown += chunk
    os.close(primary)
    assert process.returncode == 0, shown
    assert b"\rrestore: 30/30 files" in shown and b"restored 30 files" in shown
