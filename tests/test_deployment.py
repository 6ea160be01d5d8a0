"""Replicas configured by their environment alone: shared key files, joining a catalog.

The catalog here is a fresh PostgreSQL database per test; each "replica" is the real command
line run with its own (empty) data directory and the shared settings as LAKESTOW_* variables.
"""

from __future__ import annotations

import stat
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import sqlalchemy as sa

from conftest import Cli
from lakestow import config, datadir
from lakestow.auth import keys
from lakestow.auth.credentials import unseal
from lakestow.catalog.db import Catalog
from lakestow.errors import InvalidInput
from postgres import fresh_database


@pytest.fixture
def catalog_url() -> Iterator[str]:
    with fresh_database() as url:
        yield url


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    path = tmp_path / "secrets" / "server.key"
    Cli(tmp_path / "unused")("keys", "generate", str(path))
    return path


def replica(tmp_path: Path, name: str, catalog_url: str, key_file: Path) -> Cli:
    """A replica's command line: everything from its environment, nothing on its disk."""
    return Cli(
        tmp_path / name,
        env={
            "LAKESTOW_CATALOG_URL": catalog_url,
            "LAKESTOW_STORE_URL": "s3://upstream/lake",
            "LAKESTOW_KEY_FILE": str(key_file),
        },
    )


def test_keys_generate_writes_a_private_key_file_once(tmp_path: Path) -> None:
    path = tmp_path / "k" / "server.key"
    Cli(tmp_path / "unused")("keys", "generate", str(path))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(keys.load(path).keys) == 1
    before = path.read_bytes()
    result = Cli(tmp_path / "unused")("keys", "generate", str(path), ok=False)
    assert result.exit_code == 1
    assert "never overwrites" in result.stderr
    assert path.read_bytes() == before
    assert not (tmp_path / "unused").exists()


def test_keys_rotate_refuses_what_is_not_a_key_file(tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.key"
    bogus.write_text("not json")
    bogus.chmod(0o600)
    result = Cli(tmp_path / "unused")("keys", "rotate", str(bogus), ok=False)
    assert result.exit_code == 1
    assert "not a lakestow key file" in result.stderr
    assert bogus.read_text() == "not json"
    assert [p.name for p in tmp_path.iterdir()] == ["bogus.key"]


def test_replicas_share_a_catalog_by_environment_alone(
    tmp_path: Path, catalog_url: str, key_file: Path
) -> None:
    first = replica(tmp_path, "one", catalog_url, key_file)
    assert "joined" not in first("init").stderr
    first("org", "create", "acme")
    first("user", "create", "alice", "--org", "acme")

    second = replica(tmp_path, "two", catalog_url, key_file)
    assert "joined the catalog in use at postgresql+psycopg://postgres@" in second("init").stderr
    assert [m["name"] for m in second.json("user", "list", "--json")] == ["alice"]
    # Credentials issued by one replica's keys are the deployment's: the other opens them.
    issued = second.json("credentials", "issue", "alice")
    with datadir.opened(config.load(tmp_path / "one", environ=first.env)) as opened:
        grant = unseal(opened.keyring, issued["AccessKeyId"], issued["SessionToken"])
    assert grant.secret_access_key == issued["SecretAccessKey"]
    # Nothing was written on either replica's disk, and no key was generated.
    assert not (tmp_path / "one").exists() and not (tmp_path / "two").exists()
    assert [p.name for p in key_file.parent.iterdir()] == ["server.key"]


def test_a_missing_key_file_is_never_generated(tmp_path: Path, catalog_url: str) -> None:
    missing = tmp_path / "secrets" / "server.key"
    result = replica(tmp_path, "one", catalog_url, missing)("init", ok=False)
    assert result.exit_code == 1
    assert f"lakestow keys generate {missing}" in result.stderr
    assert not missing.exists() and not missing.parent.exists()


def test_a_replica_with_other_keys_is_refused(
    tmp_path: Path, catalog_url: str, key_file: Path
) -> None:
    replica(tmp_path, "one", catalog_url, key_file)("init")
    other = tmp_path / "other.key"
    keys.generate(other)
    result = replica(tmp_path, "two", catalog_url, other)("org", "list", ok=False)
    assert result.exit_code == 1
    assert "does not hold the keys of the other servers" in result.stderr
    assert "same key file" in result.stderr


def test_a_default_data_dir_does_not_make_its_own_keys_for_a_shared_catalog(
    tmp_path: Path, catalog_url: str, key_file: Path
) -> None:
    replica(tmp_path, "one", catalog_url, key_file)("init")
    stray = Cli(tmp_path / "stray", env={"LAKESTOW_CATALOG_URL": catalog_url})
    result = stray("init", ok=False)
    assert result.exit_code == 1
    assert "already used by servers with a key file of their own" in result.stderr
    assert not (tmp_path / "stray" / "keys").exists()


def test_rotation_is_staged_then_promoted_across_a_rolling_restart(
    tmp_path: Path, catalog_url: str, key_file: Path
) -> None:
    first = replica(tmp_path, "one", catalog_url, key_file)
    first("init")
    first("org", "create", "acme")
    first("user", "create", "alice", "--org", "acme")
    issued = first.json("credentials", "issue", "alice")
    original = key_file.read_bytes()
    before = keys.load(key_file)
    tool = Cli(tmp_path / "unused")

    tool("keys", "rotate", str(key_file))  # staged: opens, does not seal yet
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    staged = keys.load(key_file)
    assert staged.keys[0] == before.keys[0] and len(staged.keys) == 2
    again = tool("keys", "rotate", str(key_file), ok=False)
    assert "staged key already" in again.stderr
    # A replica on the staged file and one still on the original agree on everything.
    old = tmp_path / "secrets" / "old.key"
    old.write_bytes(original)
    old.chmod(0o600)
    replica(tmp_path, "two", catalog_url, old)("org", "list")
    replica(tmp_path, "three", catalog_url, key_file)("org", "list")

    tool("keys", "promote", str(key_file))
    promoted = keys.load(key_file)
    assert promoted.keys == (staged.keys[1], staged.keys[0])
    assert unseal(promoted, issued["AccessKeyId"], issued["SessionToken"])  # still valid
    assert "no staged key" in tool("keys", "promote", str(key_file), ok=False).stderr
    replica(tmp_path, "three", catalog_url, key_file)("org", "list")  # reseals the check
    # A replica that never got the staged key is refused now, rather than mis-serving.
    result = replica(tmp_path, "two", catalog_url, old)("org", "list", ok=False)
    assert "does not hold the keys of the other servers" in result.stderr


def test_a_catalog_from_before_the_key_check_never_meets_new_keys(tmp_path: Path) -> None:
    first = Cli(tmp_path / "first")
    first("init")
    first("operator", "create", "backup")
    url = f"sqlite:///{tmp_path / 'first' / 'catalog.db'}"
    catalog = Catalog(url)
    with catalog.engine.begin() as connection:  # as a catalog made before migration 0004
        connection.execute(sa.text("DELETE FROM deployment"))
    catalog.close()
    # A server with the default key path and no key file must not make keys for it...
    stray = Cli(tmp_path / "stray", env={"LAKESTOW_CATALOG_URL": url})
    assert "already used by servers" in stray("init", ok=False).stderr
    assert not (tmp_path / "stray" / "keys").exists()
    # ...and one given foreign keys must not record them over the operators' sealing keys.
    foreign = tmp_path / "foreign.key"
    keys.generate(foreign)
    other = Cli(
        tmp_path / "other", env={"LAKESTOW_CATALOG_URL": url, "LAKESTOW_KEY_FILE": str(foreign)}
    )
    assert "sealed the operator secrets" in other("org", "list", ok=False).stderr
    first("org", "list")  # the deployment's own keys still work, and record the check


def test_the_config_file_is_private_when_it_holds_secrets(tmp_path: Path) -> None:
    secret = "upstream-secret-value"
    settings = config.load(
        tmp_path / "x",
        environ={
            "LAKESTOW_STORE_SECRET_ACCESS_KEY": secret,
            "LAKESTOW_CATALOG_URL": "postgresql://u:pw@db/x",
        },
    )
    assert secret not in repr(settings) and "pw@" not in repr(settings)
    Cli(tmp_path / "plain")("init")
    assert stat.S_IMODE((tmp_path / "plain" / "lakestow.toml").stat().st_mode) == 0o600


def test_upstream_settings_are_refused_for_a_local_store(tmp_path: Path) -> None:
    from lakestow.server import store_options

    settings = config.load(tmp_path, environ={"LAKESTOW_STORE_ENDPOINT_URL": "http://minio:9000"})
    with pytest.raises(Exception, match="are for an s3:// store"):
        store_options(settings)
    s3 = config.load(
        tmp_path,
        environ={
            "LAKESTOW_STORE_URL": "s3://b/p",
            "LAKESTOW_STORE_ENDPOINT_URL": "http://minio:9000",
            "LAKESTOW_STORE_REGION": "eu-west-1",
        },
    )
    assert store_options(s3) == {
        "endpoint_url": "http://minio:9000",
        "region": "eu-west-1",
        "request_timeout": 30.0,
    }


def test_replicas_starting_together_migrate_one_at_a_time(
    tmp_path: Path, catalog_url: str, key_file: Path
) -> None:
    """Six replicas initialize a fresh PostgreSQL catalog at once: the advisory lock lets one
    migrate while the others wait, and they all agree on one key check."""
    settings = config.load(
        tmp_path,
        environ={
            "LAKESTOW_CATALOG_URL": catalog_url,
            "LAKESTOW_STORE_URL": "s3://upstream/lake",
            "LAKESTOW_KEY_FILE": str(key_file),
        },
    )
    with ThreadPoolExecutor(6) as pool:
        done = list(pool.map(lambda _: datadir.initialize(settings), range(6)))
    assert len(done) == 6
    catalog = Catalog(catalog_url)
    try:
        assert catalog.is_current()
        with catalog.engine.connect() as connection:
            facts = connection.execute(sa.text("SELECT name FROM deployment")).scalars().all()
        assert facts == ["key_check"]
    finally:
        catalog.close()


def test_conditional_writes_is_one_of_three_words(tmp_path: Path) -> None:
    for word in ("auto", "serialize", "refuse"):
        environ = {"LAKESTOW_CONDITIONAL_WRITES": word}
        assert config.load(tmp_path, environ=environ).conditional_writes == word
    with pytest.raises(InvalidInput, match="conditional_writes is one of auto, serialize, refuse"):
        config.load(tmp_path, environ={"LAKESTOW_CONDITIONAL_WRITES": "trust"})
