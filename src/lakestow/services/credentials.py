"""Temporary credentials and instance tokens: issue, exchange, list and revoke.

Every issue and revocation is written to the audit log in the same transaction.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import time
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from lakestow import paths
from lakestow.auth import credentials
from lakestow.auth.policy import Action, Target, decide
from lakestow.catalog import audit
from lakestow.catalog.models import InstanceToken, IssuedCredential, Member
from lakestow.domain import MemberInfo, TokenInfo
from lakestow.errors import AccessDenied, InvalidInput, NotFound, Unauthenticated
from lakestow.services._rows import MAX_DURATION, Base, member_info, member_row

SHARE_MAX = 7 * 86400
"""The longest a share link lasts: S3's limit for a presigned URL."""
TOKEN_PREFIX = "lkt_"  # noqa: S105 (a marker, not a secret)
_DURATION = re.compile(r"(\d+)([smhd]?)", re.ASCII)
_UNIT = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str | int, longest: int = MAX_DURATION) -> int:
    """Seconds from `3600`, `90s`, `30m`, `1h`, `30d`; at most `longest` (12 hours)."""
    match = _DURATION.fullmatch(str(text).strip().lower())
    if not match:
        raise InvalidInput(f"invalid duration {text!r}: use seconds or a number with s, m or h")
    seconds = int(match[1]) * _UNIT[match[2]]
    if not 0 < seconds <= longest:
        limit = "12 hours" if longest == MAX_DURATION else f"{longest} seconds"
        raise InvalidInput(f"invalid duration {text!r}: it must be between 1 second and {limit}")
    return seconds


class CredentialService(Base):
    """Members' temporary credentials and notebook instances' tokens, on behalf of `actor`."""

    def issue_credentials(
        self,
        name: str,
        *,
        seconds: int = 3600,
        scopes: tuple[str, ...] = (),
        read_only: bool = False,
    ) -> credentials.TemporaryCredentials:
        if not 0 < seconds <= self.max_duration:
            raise InvalidInput(f"the duration must be between 1 and {self.max_duration} seconds")
        with self.catalog.session() as session:
            member = member_info(member_row(session, name))
            if member.disabled:
                raise InvalidInput(f"the member {name!r} is disabled")
            folders = tuple(_scope(member, text) for text in scopes)
            issued, grant = self._mint(session, member, seconds, folders, read_only)
            audit.record(
                session,
                self.actor,
                "credentials.issue",
                name,
                access_key_id=grant.access_key_id,
                expires=issued.expiration.isoformat(),
                scopes=[member.org.uri(f) for f in folders],
                read_only=read_only,
            )
            return issued

    def issue_share(
        self, name: str, path: str, *, seconds: int
    ) -> credentials.TemporaryCredentials:
        """Read-only credentials for one file (`path`, under the organization's root) that a
        share link (a presigned GET URL) is signed with, for at most SHARE_MAX seconds; only
        for a file the member may read. Revocable by their access key id, as any credentials,
        and void once the member is disabled."""
        if not 0 < seconds <= SHARE_MAX:
            raise InvalidInput(f"a share link lasts between 1 second and 7 days ({SHARE_MAX} s)")
        with self.catalog.session() as session:
            member = member_info(member_row(session, name))
            if member.disabled:
                raise InvalidInput(f"the member {name!r} is disabled")
            decision = decide(member.principal, Action.READ, Target(member.org.id, path))
            if not decision or paths.is_folder(path):
                raise AccessDenied(f"{name} may not share /{path}: {decision.reason}")
            # scoped to its own key only, should the secret ever leak
            issued, grant = self._mint(session, member, seconds, (path,), read_only=True)
            audit.record(
                session,
                self.actor,
                "share.issue",
                name,
                access_key_id=grant.access_key_id,
                expires=issued.expiration.isoformat(),
                path=member.org.uri(path),
            )
            return issued

    def _mint(
        self,
        session: Session,
        member: MemberInfo,
        seconds: int,
        scopes: tuple[str, ...],
        read_only: bool,
    ) -> tuple[credentials.TemporaryCredentials, credentials.Grant]:
        """Credentials of `member`, recorded (by access key id, for revocation) in `session`."""
        issued, grant = credentials.mint(
            self.keyring,
            member_id=member.id,
            org_id=member.org.id,
            seconds=seconds,
            scopes=scopes,
            read_only=read_only,
        )
        session.add(
            IssuedCredential(
                access_key_id=grant.access_key_id,
                member_id=member.id,
                issued_at=_at(grant.issued_ms),
                expires_at=_at(grant.expires_ms),
                scopes=list(scopes),
                read_only=read_only,
            )
        )
        return issued, grant

    def revoke_key(self, access_key_id: str) -> None:
        with self.catalog.session() as session:
            row = session.get(IssuedCredential, access_key_id)
            if row is None:
                raise NotFound(f"no credentials with access key id {access_key_id!r} were issued")
            row.revoked_at = row.revoked_at or datetime.now(UTC)
            audit.record(session, self.actor, "credentials.revoke", access_key_id)

    def revoke_member(self, name: str) -> None:
        """Revoke every credential the member holds now; new ones can still be issued."""
        with self.catalog.session() as session:
            member = member_row(session, name)
            member.credentials_not_before = int(time.time() * 1000)
            audit.record(session, self.actor, "credentials.revoke", name, all=True)

    def issue_token(self, name: str, *, seconds: int | None = 30 * 86400, label: str = "") -> str:
        """A long-lived, revocable token for a notebook instance; only its hash is stored."""
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        now = datetime.now(UTC)
        expires = now + timedelta(seconds=seconds) if seconds else None
        with self.catalog.session() as session:
            member = member_row(session, name)
            if member.disabled:
                raise InvalidInput(f"the member {name!r} is disabled")
            row = InstanceToken(
                member_id=member.id,
                token_hash=_token_hash(token),
                label=label,
                created_at=now,
                expires_at=expires,
            )
            session.add(row)
            session.flush()
            audit.record(
                session,
                self.actor,
                "token.issue",
                name,
                id=row.id,
                expires=expires.isoformat() if expires else None,
            )
        return token

    def revoke_tokens(self, name: str, token_id: int | None = None) -> int:
        """Revoke one token of a member (by id) or all of them; how many were revoked."""
        with self.catalog.session() as session:
            member = member_row(session, name)
            query = select(InstanceToken).where(
                InstanceToken.member_id == member.id, InstanceToken.revoked_at.is_(None)
            )
            if token_id is not None:
                query = query.where(InstanceToken.id == token_id)
            rows = list(session.scalars(query))
            if token_id is not None and not rows:
                raise NotFound(f"{name} has no live token with id {token_id}")
            for row in rows:
                row.revoked_at = datetime.now(UTC)
            audit.record(session, self.actor, "token.revoke", name, count=len(rows))
            return len(rows)

    def list_tokens(self, name: str) -> list[TokenInfo]:
        with self.catalog.session() as session:
            member = member_row(session, name)
            rows = session.scalars(
                select(InstanceToken).where(InstanceToken.member_id == member.id)
            )
            return [
                TokenInfo(r.id, r.label, r.created_at, r.expires_at, r.revoked_at is not None)
                for r in rows
            ]

    def exchange_token(
        self, token: str, seconds: int = 3600
    ) -> tuple[MemberInfo, credentials.TemporaryCredentials]:
        """Temporary credentials for the member holding a live instance token."""
        with self.catalog.session() as session:
            row = session.scalar(
                select(InstanceToken).where(InstanceToken.token_hash == _token_hash(token))
            )
            member = session.get(Member, row.member_id) if row is not None else None
            if member is not None and member.disabled:  # said before its tokens' revocation
                raise InvalidInput(f"the member {member.name!r} is disabled")
            now = datetime.now(UTC)
            if (
                row is None
                or member is None
                or row.revoked_at is not None
                or (row.expires_at and row.expires_at <= now)
            ):
                raise Unauthenticated(
                    "the instance token is unknown, expired or revoked", code="InvalidToken"
                )
            name = member.name
        issued = self.issue_credentials(name, seconds=seconds)
        with self.catalog.session() as session:
            return member_info(member_row(session, name)), issued


def _token_hash(token: str) -> str:
    """Tokens carry 256 random bits, so a plain SHA-256 is a safe one-way store."""
    return hashlib.sha256(token.encode()).hexdigest()


def _scope(member: MemberInfo, text: str) -> str:
    folder = paths.normalize_folder(text, bucket=member.org.bucket, prefix=member.org.prefix)
    decision = decide(member.principal, Action.LIST, Target(member.org.id, folder))
    if not decision:
        raise InvalidInput(
            f"the scope {text!r} is outside {member.name}'s folders: {decision.reason}"
        )
    return folder


def _at(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)
