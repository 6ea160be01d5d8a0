"""The data directory: config file, server keys, catalog and local object store, and the
record of the server running on it (`serving.json`).

Creating it is idempotent: each missing piece is made, nothing that exists is overwritten.
A replica configured entirely by its environment (a shared catalog, an upstream store and a
shared key file at an absolute path) has no data directory at all.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from lakestow import config
from lakestow.auth import keys
from lakestow.auth.keys import Keyring, Unsealable
from lakestow.catalog.db import Catalog
from lakestow.catalog.models import DeploymentFact, Operator
from lakestow.config import DEFAULT_KEY_FILE, Settings
from lakestow.errors import InvalidInput, NotInitialized
from lakestow.services import Services

KEY_CHECK = "key_check"
KEY_CHECK_PURPOSE = b"lakestow catalog key check"
SERVING_FILE = "serving.json"


@dataclass
class Opened:
    """A data directory ready for work."""

    settings: Settings
    catalog: Catalog
    keyring: Keyring

    def services(self, actor: str) -> Services:
        """The service layer over this catalog, acting for `actor`."""
        return Services.open(
            self.catalog, self.keyring, actor, max_duration=self.settings.credential_max_duration
        )


@dataclass(frozen=True)
class Initialized:
    """What `initialize` did: the paths it created, and whether the catalog was in use."""

    created: list[str]
    joined: bool


def initialize(settings: Settings) -> Initialized:
    """Create what is missing: config file, server keys, local object store, catalog schema.

    Against a catalog other servers already use (replicas over PostgreSQL), this joins it: the
    schema is brought to head, nothing is re-created, and the server's keys must be the ones
    the catalog was set up with. A key file is generated only for the embedded default (the
    default path, a catalog no server has used): never when `key_file` names one.
    """
    created = []
    new_keys = not settings.resolved_key_file.exists()
    if new_keys and settings.key_file != DEFAULT_KEY_FILE:
        raise NotInitialized(
            f"no server key file at {settings.resolved_key_file}: make one with `lakestow keys "
            f"generate {settings.resolved_key_file}` and give every server of the deployment "
            f"the same file"
        )
    if settings.uses_data_dir:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    catalog = Catalog(settings.resolved_catalog_url)
    try:
        joined = catalog.in_use()
        if new_keys and joined:  # new keys would open nothing the catalog's servers sealed
            raise NotInitialized(
                f"the catalog {catalog.display_url} is already used by servers with a key file "
                f"of their own: give this one the same file (LAKESTOW_KEY_FILE) rather than "
                f"new keys"
            )
        if not new_keys and catalog.fact(KEY_CHECK) is not None:
            check_keys(catalog, keys.load(settings.resolved_key_file))  # before migrating
        if settings.uses_data_dir and not settings.config_path.exists():
            # 0600: the file may hold the catalog URL's password or the upstream's secret.
            _write_new(settings.config_path, config.render_config(settings), 0o600)
            created.append(str(settings.config_path))
        if not settings.store_url:
            objects = settings.data_dir / "objects"
            if not objects.exists():
                objects.mkdir(mode=0o700)
                created.append(str(objects))
        catalog.upgrade()
        if new_keys:
            keys.generate(settings.resolved_key_file)
            created.append(str(settings.resolved_key_file))
        check_keys(catalog, keys.load(settings.resolved_key_file))
    finally:
        catalog.close()
    return Initialized(created, joined)


@contextmanager
def opened(settings: Settings) -> Iterator[Opened]:
    """The catalog and keys of an initialized data directory (or shared catalog)."""
    if not settings.config_path.exists() and not settings.catalog_url:
        raise NotInitialized(
            f"{settings.data_dir} is not a lakestow data directory: run `lakestow init` first"
        )
    keyring = keys.load(settings.resolved_key_file)
    catalog = Catalog(settings.resolved_catalog_url)
    try:
        catalog.require_current()
        check_keys(catalog, keyring)
        yield Opened(settings, catalog, keyring)
    finally:
        catalog.close()


def check_keys(catalog: Catalog, keyring: Keyring) -> None:
    """Refuse keys other than those the catalog's servers share; the first server sets them.

    The catalog holds `key_check`, a value sealed by the server keys: a replica given another
    key file (or none, so that it made its own) would issue credentials that no other replica
    accepts, and accept none of theirs. It stops at start instead. When the keys have been
    rotated (a new key promoted first), the value is sealed again with the new first key.
    """
    try:
        with catalog.session() as session:
            if session.get(DeploymentFact, KEY_CHECK) is None:
                _check_older_seals(catalog, session, keyring)
                session.add(DeploymentFact(name=KEY_CHECK, value=_seal_check(keyring)))
                return
    except IntegrityError:  # another server set it at the same moment: check against theirs
        pass
    with catalog.session() as session:
        fact = session.get(DeploymentFact, KEY_CHECK)
        assert fact is not None, "the key check is never deleted"
        box = base64.b64decode(fact.value)
        try:
            keyring.open(box, KEY_CHECK_PURPOSE)
        except Unsealable as exc:
            raise InvalidInput(
                f"this server's key file does not hold the keys of the other servers of the "
                f"catalog {catalog.display_url}: give every server the same key file "
                f"(LAKESTOW_KEY_FILE)"
            ) from exc
        if not keyring.seals_with(box):
            fact.value = _seal_check(keyring)


def _check_older_seals(catalog: Catalog, session: Session, keyring: Keyring) -> None:
    """A catalog from before the key check may hold operator secrets sealed by the
    deployment's keys: refuse to record the check with keys that did not seal them."""
    sealed = session.scalars(select(Operator.sealed_secret).limit(1)).first()
    if sealed is not None and not keyring.knows(base64.b64decode(sealed)):
        raise InvalidInput(
            f"this server's key file does not hold the keys that sealed the operator secrets "
            f"in the catalog {catalog.display_url}: give it the deployment's key file"
        )


def _seal_check(keyring: Keyring) -> str:
    return base64.b64encode(keyring.seal(secrets.token_bytes(16), KEY_CHECK_PURPOSE)).decode()


def _write_new(path: Path, text: str, mode: int) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(text)


class ServingRecord:
    """`serving.json`: the URLs a running server listens on, for the commands that print
    them (`lakestow env`), which may not know the address `serve --s3-address` was given.

    The server holds an exclusive lock on the file while it runs, so a record left behind by
    a server that died (kill -9) is known stale: its lock went with the process.
    """

    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / SERVING_FILE
        self._fd: int | None = None

    def write(self, s3_url: str, console_url: str) -> None:
        """Record the URLs (written aside, locked, then renamed into place)."""
        staged = self.path.with_name(f".{SERVING_FILE}.{os.getpid()}")
        fd = os.open(staged, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        fcntl.flock(fd, fcntl.LOCK_EX)
        document = {"s3_url": s3_url, "console_url": console_url, "pid": os.getpid()}
        os.write(fd, json.dumps(document).encode())
        os.replace(staged, self.path)
        self.close()
        self._fd = fd

    def close(self) -> None:
        """Remove the record, if it is still this server's, and release it."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        with contextlib.suppress(OSError):
            if os.stat(self.path).st_ino == os.fstat(fd).st_ino:
                self.path.unlink()
        os.close(fd)


def served_urls(data_dir: Path) -> dict[str, str] | None:
    """The URLs recorded by the server running on `data_dir` now, or None (no server runs,
    or it has not started listening yet)."""
    try:
        fd = os.open(data_dir / SERVING_FILE, os.O_RDONLY)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:  # locked: its server is running
            document = json.loads(os.read(fd, 65536) or b"null")
            return document if isinstance(document, dict) else None
        return None  # left behind by a server that is gone
    except ValueError:
        return None
    finally:
        os.close(fd)
