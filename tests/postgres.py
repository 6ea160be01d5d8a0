"""The machine's PostgreSQL (127.0.0.1:5432, trust auth), started when it is down, and fresh
databases on it that vanish after the test.

    with fresh_database() as url: ...     # postgresql+psycopg://postgres@127.0.0.1:5432/<new>
"""

from __future__ import annotations

import shutil
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa

SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432/"


def _up() -> bool:
    engine = sa.create_engine(SERVER + "test")
    try:
        with engine.connect():
            return True
    except sa.exc.OperationalError:
        return False
    finally:
        engine.dispose()


def require_postgres() -> str:
    """The server's URL (without a database); starts it when it is down (as CI needs)."""
    if not _up() and shutil.which("pg_ctlcluster") is not None:
        version = sorted(Path("/etc/postgresql").iterdir())[-1].name
        subprocess.run(
            ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "start"], check=False
        )
    if not _up():
        pytest.fail("PostgreSQL is not reachable on 127.0.0.1:5432")
    return SERVER


@contextmanager
def fresh_database() -> Iterator[str]:
    """The URL of a new, empty database, dropped (connections and all) on exit."""
    server = require_postgres()
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
