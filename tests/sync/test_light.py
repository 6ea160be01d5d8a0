"""A real `lakestow home sync` and `home restore`, each a new process, import nothing heavy
(issue 16): no SQLAlchemy, Alembic, Starlette, uvicorn, boto3 or botocore on the agent's path,
from the first upload to the restore (`tests/test_cli_imports.py` checks `--help`)."""

from __future__ import annotations

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
    assert tree(tmp_path / "copy") == tree(home)
    assert (tmp_path / "copy" / "empty").is_dir()
    assert set(member.objects()) == {"a.txt", "big.bin", "empty/", ".lakestow-sync-status.json"}
