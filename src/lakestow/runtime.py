"""The runtime: what both front doors share, assembled once by `server.open_runtime`.

    Runtime: settings, catalog and keys, the object store, the verifier, the audit writer,
             the organizations' roots (`OrgCache`); `services(actor)`: the service layer

The S3 endpoint (`S3App(runtime)`) and the console (`create_console(runtime, ...)`) take it
explicitly; neither imports the other. It may import `services`, `operations`, `trash`,
`domain`, `auth`, `catalog`, `config`, `storage.protocol` and `errors`; never `console`,
`s3api` or `server`.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field

import anyio

from lakestow import trash
from lakestow.auth.credentials import Verifier
from lakestow.auth.keys import Keyring
from lakestow.catalog.audit import AuditWriter
from lakestow.catalog.db import Catalog
from lakestow.config import Settings
from lakestow.domain import OrgInfo
from lakestow.errors import AccessDenied, AlreadyExists
from lakestow.operations import Caller, ObjectOperations
from lakestow.services import Services
from lakestow.storage.protocol import ConditionalWrites, ObjectStore


@dataclass
class OrgCache:
    """The organizations' roots by id (they never move), loaded when an unknown id shows up;
    loading one makes sure its bucket exists in the store and keeps versions (the trash).
    (Their retention may change: what needs it reads the catalog, not this.)"""

    services: Services
    store: ObjectStore
    orgs: dict[int, OrgInfo] = field(default_factory=dict)
    buckets: set[str] = field(default_factory=set)  # made ready: several orgs may share one

    async def load(self) -> None:
        for org in await anyio.to_thread.run_sync(self.services.orgs.list_orgs):
            if org.id not in self.orgs:
                await self._ready(org.bucket)
                self.orgs[org.id] = org

    async def _ready(self, bucket: str) -> None:
        """The bucket exists, with versioning on when the store can keep versions."""
        if bucket in self.buckets:
            return
        with contextlib.suppress(AlreadyExists):
            await self.store.create_bucket(bucket)
        await trash.keep_versions(self.store, bucket)
        self.buckets.add(bucket)

    async def get(self, org_id: int) -> OrgInfo:
        """The organization `org_id`; AccessDenied when it is gone."""
        if org_id not in self.orgs:
            await self.load()
        if org_id not in self.orgs:
            raise AccessDenied("Access Denied: the organization of these credentials is gone")
        return self.orgs[org_id]


@dataclass(frozen=True)
class Runtime:
    """What a running server holds, for both front doors."""

    settings: Settings
    catalog: Catalog
    keyring: Keyring
    store: ObjectStore
    verifier: Verifier
    audit: AuditWriter
    orgs: OrgCache
    conditional_writes: ConditionalWrites | None = None
    """What the store's upstream does with conditional writes (None: the local store, which
    decides them itself, in the transaction of the write)."""

    @property
    def region(self) -> str:
        return self.settings.region

    def objects(self, caller: Caller, door: str) -> ObjectOperations:
        """The object changes both doors offer, for `caller` through `door` (`s3`, `console`)."""
        return ObjectOperations(self.store, self.audit, caller, door)

    def services(self, actor: str) -> Services:
        """The service layer acting for `actor` (`member:3`, `lakestow:s3`), audited as them."""
        return Services.open(
            self.catalog, self.keyring, actor, max_duration=self.settings.credential_max_duration
        )
