"""Catalog fixtures: every catalog test runs on SQLite and on PostgreSQL."""

from __future__ import annotations

import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from lakestow.auth import keys
from lakestow.catalog.db import Catalog
from lakestow.service import Service

POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/"


def _postgres_up() -> bool:
    engine = sa.create_engine(POSTGRES + "test")
    try:
        with engine.connect():
            return True
    except sa.exc.OperationalError:
        return False
    finally:
        engine.dispose()


def _start_postgres() -> None:
    """The machine's PostgreSQL, started when it is down (as CI needs)."""
    if _postgres_up() or shutil.which("pg_ctlcluster") is None:
        return
    version = sorted(Path("/etc/postgresql").iterdir())[-1].name
    subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "start"], check=False
    )


@pytest.fixture(scope="session")
def postgres_server() -> str:
    _start_postgres()
    if not _postgres_up():
        pytest.fail("PostgreSQL is not reachable on 127.0.0.1:5432")
    return POSTGRES


@pytest.fixture(params=["sqlite", "postgresql"])
def catalog_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'catalog.db'}"
        return
    server = request.getfixturevalue("postgres_server")
    name = f"lakestow_test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(server + "test", isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield server + name
    finally:
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        admin.dispose()


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
def service(catalog: Catalog, keyring: keys.Keyring) -> Service:
    return Service(catalog, keyring, "test:admin")
