"""Fixtures shared by every test: a fresh data directory, the CLI run in-process."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from lakestow import config, datadir
from lakestow.cli import cli
from lakestow.datadir import Opened


@dataclass
class Cli:
    """The `lakestow` command run in-process against one data directory."""

    data_dir: Path
    env: dict[str, str] = field(default_factory=dict)

    def __call__(self, *args: str, input: str | None = None, ok: bool = True) -> Result:
        result = CliRunner().invoke(
            cli, list(args), input=input, env={config.DATA_DIR_ENV: str(self.data_dir), **self.env}
        )
        if ok and result.exit_code != 0:
            raise AssertionError(
                f"lakestow {' '.join(args)} failed: {result.stderr}{result.exception!r}"
            )
        return result

    def json(self, *args: str) -> Any:
        return json.loads(self(*args).stdout)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    path = tmp_path / "data"
    datadir.initialize(config.load(path, environ={}))
    return path


@pytest.fixture
def lakestow(data_dir: Path) -> Cli:
    return Cli(data_dir)


@pytest.fixture
def opened(data_dir: Path) -> Iterator[Opened]:
    with datadir.opened(config.load(data_dir, environ={})) as value:
        yield value
