"""The verifier's read model of the catalog: who may still sign, read without an actor.

`auth.credentials.Verifier` loads `catalog_snapshot` now and then (off the event loop), and
asks `member_state` or `operator_state` for one member or key newer than its snapshot.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select

from lakestow.auth import credentials
from lakestow.catalog.db import Catalog
from lakestow.catalog.models import (
    IssuedCredential,
    Member,
    Operator,
    OperatorBucket,
    Organization,
)


@dataclass(frozen=True)
class CatalogReadModel:
    """Reads of the catalog for the verifier; changes nothing, so it audits nothing."""

    catalog: Catalog

    def catalog_snapshot(self) -> credentials.CatalogSnapshot:
        now = datetime.now(UTC)
        with self.catalog.session() as session:
            members = {
                m.id: credentials.MemberState(
                    m.org_id, m.admin, m.disabled, m.credentials_not_before
                )
                for m in session.scalars(select(Member))
            }
            revoked = session.scalars(
                select(IssuedCredential.access_key_id).where(
                    IssuedCredential.revoked_at.is_not(None), IssuedCredential.expires_at > now
                )
            )
            operators = {
                o.access_key_id: credentials.OperatorState(
                    o.id, o.name, o.sealed_secret, o.disabled
                )
                for o in session.scalars(select(Operator))
            }
            buckets = {b.name: b.operator_id for b in session.scalars(select(OperatorBucket))}
            org_buckets = frozenset(session.scalars(select(Organization.bucket)))
            return credentials.CatalogSnapshot(
                members, frozenset(revoked), operators, buckets, org_buckets
            )

    def member_state(self, member_id: int) -> credentials.MemberState | None:
        """One member's state (one primary-key query), for members newer than a snapshot."""
        with self.catalog.session() as session:
            m = session.get(Member, member_id)
            if m is None:
                return None
            return credentials.MemberState(m.org_id, m.admin, m.disabled, m.credentials_not_before)

    def operator_state(self, access_key_id: str) -> credentials.OperatorState | None:
        """One operator by access key id (one indexed query), for keys newer than a snapshot."""
        with self.catalog.session() as session:
            o = session.scalar(select(Operator).where(Operator.access_key_id == access_key_id))
            return (
                None
                if o is None
                else credentials.OperatorState(o.id, o.name, o.sealed_secret, o.disabled)
            )
