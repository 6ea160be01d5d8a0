"""Catalog fixtures: every catalog test runs on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from lakestow.auth import keys
from lakestow.catalog.db import Catalog
from lakestow.services import Services
from postgres import fresh_database


@pytest.fixture(params=["sqlite", "postgresql"])
def catalog_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'catalog.db'}"
        return
    with fresh_database() as url:
        yield url


@pytest.fixture
def catalog(catalog_url: str) -> Iterator[Catalog]:
    catalog = Catalog(catalog_url)
    catalog.upgrade()
    yield catalog
    catalog.close()


@pytest.fixture
def keyring(tmp_path: Path) -> keys.Keyring:
    keys.generate(tmp_path / "keys" / "server.key")
    return keys.load(tmp_path / "keys" / "server.key")


@pytest.fixture
def service(catalog: Catalog, keyring: keys.Keyring) -> Services:
    return Services.open(catalog, keyring, "test:admin")
