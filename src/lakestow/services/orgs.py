"""Organizations and their members: create, list, disable and enable, passwords; how long an
organization keeps overwritten and deleted objects (its retention).

Every change is written to the audit log in the same transaction as the change itself.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import CursorResult, delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from lakestow import paths
from lakestow.auth import passwords
from lakestow.catalog import audit
from lakestow.catalog.models import ConsoleSession, InstanceToken, Member, Organization
from lakestow.domain import DEFAULT_RETENTION, MemberInfo, OrgInfo
from lakestow.errors import AlreadyExists, InvalidInput
from lakestow.services._rows import Base, member_info, member_row, org_info, org_row
from lakestow.services.credentials import parse_duration

MAX_RETENTION = 3650 * 86400
"""The longest retention: ten years."""


def parse_retention(text: str | int, what: str = "retention") -> int:
    """Seconds from `0` (keep nothing), `3600`, `90s`, `12h`, `30d`; at most ten years.
    `what` names the value in the error."""
    if re.fullmatch(r"0+[smhd]?", str(text).strip().lower(), re.ASCII):
        return 0
    try:
        return parse_duration(text, longest=MAX_RETENTION)
    except InvalidInput:
        raise InvalidInput(
            f"invalid {what} {text!r}: use 0, seconds, or a number with s, m, h or d "
            f"(12h, 30d), at most 3650d"
        ) from None


def _check_retention(seconds: int) -> int:
    if not 0 <= seconds <= MAX_RETENTION:
        raise InvalidInput(f"the retention must be between 0 and {MAX_RETENTION} seconds")
    return seconds


class OrgService(Base):
    """Organizations and members, changed on behalf of `actor`."""

    def create_org(
        self,
        name: str,
        bucket: str = "lakestow",
        prefix: str | None = None,
        *,
        retention: int = DEFAULT_RETENTION,
    ) -> OrgInfo:
        paths.check_name("organization", name)
        paths.check_name("bucket", bucket)
        prefix = _clean_prefix(name if prefix is None else prefix)
        _check_retention(retention)
        with self.catalog.session() as session:
            if session.scalar(select(Organization).where(Organization.name == name)):
                raise AlreadyExists(f"the organization {name!r} already exists")
            _check_overlap(session, bucket, prefix)
            org = Organization(name=name, bucket=bucket, prefix=prefix, retention_seconds=retention)
            session.add(org)
            session.flush()
            root = org_info(org).root_uri
            audit.record(session, self.actor, "org.create", root, name=name, retention=retention)
            return org_info(org)

    def set_retention(self, name: str, retention: int) -> OrgInfo:
        """Keep the organization's overwritten and deleted objects `retention` seconds (0:
        not at all) from now on; the next purge applies it to what is kept already."""
        _check_retention(retention)
        with self.catalog.session() as session:
            org = org_row(session, name)
            was, org.retention_seconds = org.retention_seconds, retention
            audit.record(session, self.actor, "org.retention", name, retention=retention, was=was)
            return org_info(org)

    def list_orgs(self) -> list[OrgInfo]:
        with self.catalog.session() as session:
            return [
                org_info(o)
                for o in session.scalars(select(Organization).order_by(Organization.name))
            ]

    def get_org(self, name: str) -> OrgInfo:
        with self.catalog.session() as session:
            return org_info(org_row(session, name))

    def record_purge(self, org: OrgInfo, versions: int, older_than: int) -> None:
        """Audit a purge of `org`'s trash done by hand: `versions` went, all older than
        `older_than` seconds."""
        with self.catalog.session() as session:
            audit.record(
                session,
                self.actor,
                "org.purge",
                org.root_uri,
                versions=versions,
                older_than=older_than,
            )

    def create_member(
        self, name: str, org: str, *, admin: bool = False, password: str | None = None
    ) -> MemberInfo:
        paths.check_name("member", name)
        password_hash = passwords.hash_password(password) if password is not None else None
        with self.catalog.session() as session:
            organization = org_row(session, org)
            if session.scalar(select(Member).where(Member.name == name)):
                raise AlreadyExists(f"the member name {name!r} is already taken")
            member = Member(
                name=name, organization=organization, admin=admin, password_hash=password_hash
            )
            session.add(member)
            try:
                session.flush()
            except IntegrityError as exc:  # a concurrent create of the same name
                raise AlreadyExists(f"the member name {name!r} is already taken") from exc
            audit.record(
                session, self.actor, "member.create", name, org=org, id=member.id, admin=admin
            )
            return member_info(member)

    def list_members(self, org: str | None = None) -> list[MemberInfo]:
        with self.catalog.session() as session:
            query = select(Member).order_by(Member.id)
            if org is not None:
                query = query.where(Member.org_id == org_row(session, org).id)
            return [member_info(m) for m in session.scalars(query)]

    def get_member(self, name: str) -> MemberInfo:
        with self.catalog.session() as session:
            return member_info(member_row(session, name))

    def set_disabled(self, name: str, disabled: bool = True) -> MemberInfo:
        """Disable or enable a member. Either change also ends everything issued before it:
        temporary credentials (by issue time, as `revoke_member`), instance tokens and console
        sessions; so an enabled member signs in anew and gets new credentials and tokens.
        (At the enable too, for anything a concurrent issue slipped past the disable.)"""
        with self.catalog.session() as session:
            member = member_row(session, name)
            grants = ended = 0
            if member.disabled != disabled:
                member.disabled = disabled
                grants, ended = _end_all_issued(session, member)
            audit.record(
                session,
                self.actor,
                "member.disable" if disabled else "member.enable",
                name,
                instance_grants_revoked=grants,
                console_sessions_ended=ended,
            )
            return member_info(member)

    def set_password(self, name: str, password: str) -> None:
        password_hash = passwords.hash_password(password)
        with self.catalog.session() as session:
            member_row(session, name).password_hash = password_hash
            audit.record(session, self.actor, "member.passwd", name)


def _end_all_issued(session: Session, member: Member) -> tuple[int, int]:
    """Revoke what `member` holds now: credentials, instance tokens, console sessions; how
    many tokens were revoked and sessions ended."""
    now = datetime.now(UTC)
    member.credentials_not_before = max(member.credentials_not_before, int(now.timestamp() * 1000))
    tokens = session.execute(
        update(InstanceToken)
        .where(InstanceToken.member_id == member.id, InstanceToken.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    ended = session.execute(delete(ConsoleSession).where(ConsoleSession.member_id == member.id))
    return cast(CursorResult[Any], tokens).rowcount, cast(CursorResult[Any], ended).rowcount


def _clean_prefix(prefix: str) -> str:
    prefix = prefix.strip("/")
    if prefix:
        paths.validate_key(prefix + "/")
    return prefix


def _check_overlap(session: Session, bucket: str, prefix: str) -> None:
    for other in session.scalars(select(Organization).where(Organization.bucket == bucket)):
        a, b = prefix + "/", other.prefix + "/"
        if not prefix or not other.prefix or a.startswith(b) or b.startswith(a):
            raise AlreadyExists(
                f"s3://{bucket}/{prefix} overlaps the root of organization {other.name!r}"
            )
