"""Opening the catalog: one engine per process, schema kept at head by Alembic."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event, inspect, make_url, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from lakestow.errors import NotInitialized, Unavailable

MIGRATIONS = Path(__file__).parent / "migrations"
UPGRADE_LOCK = 0x6C616B6573746F77  # "lakestow": the advisory lock held while migrating


class Catalog:
    """The catalog database: sessions for the service layer, migrations for `init`."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = _engine(url)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A unit of work: committed when the block ends, rolled back if it raises."""
        with self._sessions.begin() as session:
            yield session

    def upgrade(self) -> None:
        """Create the schema or bring it to the newest revision (idempotent).

        Replicas starting together on one PostgreSQL catalog take turns: the first migrates,
        the others then find the schema at head. (SQLite serializes writers by itself.)
        """
        with self.engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                connection.execute(
                    text("SELECT pg_advisory_xact_lock(:key)"), {"key": UPGRADE_LOCK}
                )
            config = _alembic_config(self.url)
            config.attributes["connection"] = connection
            command.upgrade(config, "head")

    @property
    def display_url(self) -> str:
        """The URL without its password, fit for messages and logs."""
        return display_url(self.url)

    def in_use(self) -> bool:
        """Whether a schema exists already (another server or an earlier `init` made it)."""
        with self.engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision() is not None

    def fact(self, name: str) -> str | None:
        """A deployment fact (see `models.DeploymentFact`); None also before the table exists."""
        with self.engine.connect() as connection:
            if not inspect(connection).has_table("deployment"):
                return None
            row = connection.execute(
                text("SELECT value FROM deployment WHERE name = :name"), {"name": name}
            ).first()
        return None if row is None else str(row[0])

    def is_current(self) -> bool:
        with self.engine.connect() as connection:
            current = MigrationContext.configure(connection).get_current_revision()
        head = ScriptDirectory.from_config(_alembic_config(self.url)).get_current_head()
        return current == head

    def require_current(self) -> None:
        """Refuse to work on a catalog that `lakestow init` has not set up."""
        with self.engine.connect() as connection:
            current = MigrationContext.configure(connection).get_current_revision()
        if current is None:
            raise NotInitialized("the catalog is empty: run `lakestow init` first")
        if not self.is_current():
            self.upgrade()

    def close(self) -> None:
        self.engine.dispose()


def display_url(url: str) -> str:
    """A database URL without its password."""
    return make_url(url).render_as_string(hide_password=True)


def _alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def _engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


CATALOG_UNREACHABLE = OperationalError
"""What the catalog's driver raises when it cannot be reached (refused, lost, timed out)."""


def unreachable(exc: BaseException) -> Unavailable | None:
    """The 503 (with Retry-After) a front door answers when `exc` is the catalog out of reach
    (a connection refused, lost or timed out); None for any other error."""
    if not isinstance(exc, OperationalError):
        return None
    return Unavailable(
        "The catalog cannot be reached; this needs it (sign-in, credentials, administration). "
        "Try again in a few seconds."
    ).with_headers({"Retry-After": "5"})
