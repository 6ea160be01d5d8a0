"""The data directory: config file, server keys, catalog and local object store.

Creating it is idempotent: each missing piece is made, nothing that exists is overwritten.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from lakestow import config
from lakestow.auth import keys
from lakestow.auth.keys import Keyring
from lakestow.catalog.db import Catalog
from lakestow.config import Settings
from lakestow.errors import NotInitialized
from lakestow.service import Service


@dataclass
class Opened:
    """A data directory ready for work."""

    settings: Settings
    catalog: Catalog
    keyring: Keyring

    def service(self, actor: str) -> Service:
        return Service(
            self.catalog, self.keyring, actor, max_duration=self.settings.credential_max_duration
        )


def initialize(settings: Settings) -> list[str]:
    """Create what is missing of the data directory; the names of what was created."""
    created = []
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    if not settings.config_path.exists():
        _write_new(settings.config_path, config.render_config(settings), 0o644)
        created.append(str(settings.config_path))
    if not settings.resolved_key_file.exists():
        keys.generate(settings.resolved_key_file)
        created.append(str(settings.resolved_key_file))
    if not settings.store_url:
        objects = settings.data_dir / "objects"
        if not objects.exists():
            objects.mkdir(mode=0o700)
            created.append(str(objects))
    catalog = Catalog(settings.resolved_catalog_url)
    try:
        catalog.upgrade()
    finally:
        catalog.close()
    return created


@contextmanager
def opened(settings: Settings) -> Iterator[Opened]:
    """The catalog and keys of an initialized data directory."""
    if not settings.config_path.exists() and not settings.catalog_url:
        raise NotInitialized(
            f"{settings.data_dir} is not a lakestow data directory: run `lakestow init` first"
        )
    keyring = keys.load(settings.resolved_key_file)
    catalog = Catalog(settings.resolved_catalog_url)
    try:
        catalog.require_current()
        yield Opened(settings, catalog, keyring)
    finally:
        catalog.close()


def _write_new(path: Path, text: str, mode: int) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(text)
