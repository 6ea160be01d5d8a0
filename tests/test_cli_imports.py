"""The `lakestow` command imports only what the chosen subcommand needs (issue 16): help and
the sync agent's commands load neither the server's catalog (SQLAlchemy, Alembic), nor its web
framework (Starlette, uvicorn), nor boto3. A real pass is checked in tests/sync/test_light.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from live import heavy, imported_by


@pytest.mark.parametrize(
    "args",
    [
        ["--help"],
        ["home", "--help"],
        ["home", "sync", "--help"],
        ["home", "restore", "--help"],
        ["instance", "run", "--help"],
        ["aws-credentials", "--help"],
        ["token", "--help"],
    ],
)
def test_help_imports_nothing_heavy(args: list[str]) -> None:
    result, modules = imported_by(args)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "click" in modules  # the report was parsed
    assert heavy(modules) == set()


def test_help_still_lists_every_command() -> None:
    result, _ = imported_by(["--help"])
    listed = {line.split()[0] for line in result.stdout.split("Commands:")[1].splitlines() if line}
    expected = {"audit", "aws-credentials", "credentials", "env", "home", "init", "instance"}
    expected |= {"keys", "operator", "org", "serve", "token", "user"}
    assert listed == expected


def test_an_admin_command_loads_the_catalog_when_it_runs(tmp_path: Path) -> None:
    """The counterpart: the lazy imports are really where the work is."""
    result, modules = imported_by(["--data-dir", str(tmp_path), "init"])
    assert result.returncode == 0, result.stderr[-2000:]
    assert "sqlalchemy" in modules
