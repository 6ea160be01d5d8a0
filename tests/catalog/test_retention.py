"""Organizations' retention (the warehouse trash), on SQLite and on PostgreSQL: migration 0006
on a catalog that has organizations, the default, changes audited, bad values refused."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config

from lakestow.auth import keys
from lakestow.catalog.db import MIGRATIONS, Catalog
from lakestow.domain import DEFAULT_RETENTION
from lakestow.errors import InvalidInput, NotFound
from lakestow.services import MAX_RETENTION, Services, parse_retention


def _migrate(catalog: Catalog, revision: str, *, down: bool = False) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with catalog.engine.begin() as connection:
        config.attributes["connection"] = connection
        (command.downgrade if down else command.upgrade)(config, revision)


@pytest.fixture
def old_catalog(catalog_url: str) -> Iterator[Catalog]:
    """A catalog at revision 0005 (before retention) holding two organizations."""
    catalog = Catalog(catalog_url)
    _migrate(catalog, "0005")
    with catalog.engine.begin() as connection:
        for name in ("acme", "globex"):
            connection.execute(
                sa.text(
                    "INSERT INTO organizations (name, bucket, prefix, created_at) "
                    "VALUES (:name, 'lakestow', :name, CURRENT_TIMESTAMP)"
                ),
                {"name": name},
            )
    yield catalog
    catalog.close()


def test_the_migration_keeps_organizations_with_the_default_retention(
    old_catalog: Catalog, keyring: keys.Keyring
) -> None:
    assert not old_catalog.is_current()
    old_catalog.upgrade()
    assert old_catalog.is_current()
    service = Services.open(old_catalog, keyring, "test:admin")
    orgs = service.orgs.list_orgs()
    assert [(o.name, o.root_uri, o.retention) for o in orgs] == [
        ("acme", "s3://lakestow/acme/", DEFAULT_RETENTION),
        ("globex", "s3://lakestow/globex/", DEFAULT_RETENTION),
    ]
    service.orgs.set_retention("globex", 0)
    service.orgs.create_org("initech", retention=3600)  # a new row after the migration
    # ...and back down: the organizations stay, without their retention.
    _migrate(old_catalog, "0005", down=True)
    with old_catalog.engine.connect() as connection:
        names = connection.execute(sa.text("SELECT name FROM organizations ORDER BY name"))
        assert [row[0] for row in names] == ["acme", "globex", "initech"]
        columns = {c["name"] for c in sa.inspect(connection).get_columns("organizations")}
    assert "retention_seconds" not in columns


def test_retention_defaults_to_30_days_and_changes_are_audited(service: Services) -> None:
    assert service.orgs.create_org("acme").retention == 30 * 86400
    assert service.orgs.create_org("globex", retention=0).retention == 0
    changed = service.orgs.set_retention("acme", 7 * 86400)
    assert (changed.retention, changed.retention_text) == (7 * 86400, "7d")
    assert [o.retention for o in service.orgs.list_orgs()] == [7 * 86400, 0]
    assert service.orgs.get_org("globex").retention_text == "0"
    entry = service.audit_log()[0]
    assert (entry.action, entry.target) == ("org.retention", "acme")
    assert entry.detail == {"retention": 7 * 86400, "was": 30 * 86400}


@pytest.mark.parametrize("seconds", [-1, MAX_RETENTION + 1])
def test_a_retention_out_of_range_changes_nothing(service: Services, seconds: int) -> None:
    service.orgs.create_org("acme")
    before = service.audit_log()
    with pytest.raises(InvalidInput):
        service.orgs.set_retention("acme", seconds)
    with pytest.raises(InvalidInput):
        service.orgs.create_org("globex", retention=seconds)
    with pytest.raises(NotFound):
        service.orgs.set_retention("nobody", 60)
    assert [o.name for o in service.orgs.list_orgs()] == ["acme"]
    assert service.orgs.get_org("acme").retention == DEFAULT_RETENTION
    assert service.audit_log() == before


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("0", 0), ("0d", 0), ("30d", 30 * 86400), ("12h", 43200), ("90m", 5400), ("3600", 3600)],
)
def test_parse_retention(text: str, seconds: int) -> None:
    assert parse_retention(text) == seconds


@pytest.mark.parametrize("text", ["", "-1", "1w", "30 days", "3651d", "1.5h", "x"])
def test_parse_retention_refuses(text: str) -> None:
    with pytest.raises(InvalidInput, match="invalid retention"):
        parse_retention(text)
