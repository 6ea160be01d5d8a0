"""The service layer over the catalog, by concern; the CLI, the console and the S3 endpoint
call it, and every change is audited in the same transaction as the change itself.

    orgs.py         OrgService: organizations and members
    credentials.py  CredentialService: temporary credentials and instance tokens
    operators.py    OperatorService: operators and the buckets they own
    snapshot.py     CatalogReadModel: the verifier's read model (snapshot, one member, one key)

It may import `domain`, `auth`, `catalog`, `paths` and `errors`; never the front doors
(`console`, `s3api`), the store or the server.
"""

from __future__ import annotations

from dataclasses import dataclass

from lakestow.auth.keys import Keyring
from lakestow.catalog import audit
from lakestow.catalog.db import Catalog
from lakestow.services._rows import MAX_DURATION
from lakestow.services.credentials import CredentialService, parse_duration
from lakestow.services.operators import OperatorService
from lakestow.services.orgs import MAX_RETENTION, OrgService, parse_retention
from lakestow.services.snapshot import CatalogReadModel

__all__ = [
    "MAX_DURATION",
    "MAX_RETENTION",
    "CatalogReadModel",
    "CredentialService",
    "OperatorService",
    "OrgService",
    "Services",
    "parse_duration",
    "parse_retention",
]


@dataclass(frozen=True)
class Services:
    """Every service over one catalog, acting for one actor (`member:3`, `cli:root`, ...)."""

    orgs: OrgService
    credentials: CredentialService
    operators: OperatorService
    snapshot: CatalogReadModel

    @classmethod
    def open(
        cls, catalog: Catalog, keyring: Keyring, actor: str, *, max_duration: int = MAX_DURATION
    ) -> Services:
        longest = min(max_duration, MAX_DURATION)
        return cls(
            OrgService(catalog, keyring, actor, longest),
            CredentialService(catalog, keyring, actor, longest),
            OperatorService(catalog, keyring, actor, longest),
            CatalogReadModel(catalog),
        )

    def audit_log(self, limit: int = 100) -> list[audit.Entry]:
        """The latest `limit` entries of the audit log, newest first."""
        with self.orgs.catalog.session() as session:
            return audit.recent(session, limit)
