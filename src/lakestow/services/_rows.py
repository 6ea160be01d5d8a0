"""What every service shares: its catalog and actor, and the rows they look up by name."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from lakestow.auth.keys import Keyring
from lakestow.catalog.db import Catalog
from lakestow.catalog.models import Member, Organization
from lakestow.domain import MemberInfo, OrgInfo
from lakestow.errors import NotFound

MAX_DURATION = 12 * 3600
"""The longest temporary credentials may live (DESIGN.md section 2)."""


@dataclass(frozen=True)
class Base:
    """A service's catalog and keys, and the actor its changes are audited as."""

    catalog: Catalog
    keyring: Keyring
    actor: str
    max_duration: int = MAX_DURATION


def org_row(session: Session, name: str) -> Organization:
    org = session.scalar(select(Organization).where(Organization.name == name))
    if org is None:
        raise NotFound(f"no organization named {name!r}")
    return org


def member_row(session: Session, name: str) -> Member:
    member = session.scalar(select(Member).where(Member.name == name))
    if member is None:
        raise NotFound(f"no member named {name!r}")
    return member


def org_info(org: Organization) -> OrgInfo:
    return OrgInfo(org.id, org.name, org.bucket, org.prefix, org.retention_seconds)


def member_info(member: Member) -> MemberInfo:
    return MemberInfo(
        member.id,
        member.name,
        org_info(member.organization),
        member.admin,
        member.disabled,
        member.password_hash is not None,
    )
