"""The service layer over the catalog: organizations, members and their credentials.

Both front doors (the CLI now, the console's API later) call these; every change is written to
the audit log in the same transaction as the change itself.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from lakestow import paths
from lakestow.auth import credentials, passwords
from lakestow.auth.keys import Keyring
from lakestow.auth.policy import Action, Principal, Target, decide
from lakestow.catalog import audit
from lakestow.catalog.db import Catalog
from lakestow.catalog.models import (
    ConsoleSession,
    InstanceToken,
    IssuedCredential,
    Member,
    Operator,
    OperatorBucket,
    Organization,
)
from lakestow.errors import AlreadyExists, InvalidInput, NotFound, Unauthenticated

MAX_DURATION = 12 * 3600
TOKEN_PREFIX = "lkt_"  # noqa: S105 (a marker, not a secret)
_DURATION = re.compile(r"(\d+)([smhd]?)", re.ASCII)
_UNIT = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


@dataclass(frozen=True)
class OrgInfo:
    id: int
    name: str
    bucket: str
    prefix: str

    @property
    def root_uri(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}/" if self.prefix else f"s3://{self.bucket}/"

    def uri(self, path: str) -> str:
        return self.root_uri + path


@dataclass(frozen=True)
class MemberInfo:
    id: int
    name: str
    org: OrgInfo
    admin: bool
    disabled: bool
    has_password: bool

    @property
    def principal(self) -> Principal:
        return Principal(self.id, self.org.id, admin=self.admin, disabled=self.disabled)

    @property
    def folder(self) -> str:
        return f"customer-{self.id}"

    @property
    def paths(self) -> dict[str, str]:
        """A notebook instance's paths (DESIGN.md section 1): s3:// URIs ending in /."""
        return {
            "USER_S3_PATH": self.org.uri(f"data/{self.folder}/"),
            "USER_S3_SHARED_PATH": self.org.uri("data/shared/"),
            "USER_WAREHOUSE_PATH": self.org.uri(f"data/{self.folder}/warehouse/"),
            "USER_NOTEBOOKS_PATH": self.org.uri(f"notebooks/{self.folder}/"),
        }


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


class Service:
    """Operations on organizations, members and credentials, done on behalf of `actor`."""

    def __init__(
        self, catalog: Catalog, keyring: Keyring, actor: str, *, max_duration: int = MAX_DURATION
    ) -> None:
        self.catalog = catalog
        self.keyring = keyring
        self.actor = actor
        self.max_duration = min(max_duration, MAX_DURATION)

    # organizations

    def create_org(self, name: str, bucket: str = "lakestow", prefix: str | None = None) -> OrgInfo:
        paths.check_name("organization", name)
        paths.check_name("bucket", bucket)
        prefix = _clean_prefix(name if prefix is None else prefix)
        with self.catalog.session() as session:
            if session.scalar(select(Organization).where(Organization.name == name)):
                raise AlreadyExists(f"the organization {name!r} already exists")
            _check_overlap(session, bucket, prefix)
            org = Organization(name=name, bucket=bucket, prefix=prefix)
            session.add(org)
            session.flush()
            audit.record(session, self.actor, "org.create", _org_info(org).root_uri, name=name)
            return _org_info(org)

    def list_orgs(self) -> list[OrgInfo]:
        with self.catalog.session() as session:
            return [
                _org_info(o)
                for o in session.scalars(select(Organization).order_by(Organization.name))
            ]

    def get_org(self, name: str) -> OrgInfo:
        with self.catalog.session() as session:
            return _org_info(_org(session, name))

    # members

    def create_member(
        self, name: str, org: str, *, admin: bool = False, password: str | None = None
    ) -> MemberInfo:
        paths.check_name("member", name)
        password_hash = passwords.hash_password(password) if password is not None else None
        with self.catalog.session() as session:
            organization = _org(session, org)
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
            return _member_info(member)

    def list_members(self, org: str | None = None) -> list[MemberInfo]:
        with self.catalog.session() as session:
            query = select(Member).order_by(Member.id)
            if org is not None:
                query = query.where(Member.org_id == _org(session, org).id)
            return [_member_info(m) for m in session.scalars(query)]

    def get_member(self, name: str) -> MemberInfo:
        with self.catalog.session() as session:
            return _member_info(_member(session, name))

    def set_disabled(self, name: str, disabled: bool = True) -> MemberInfo:
        """Disable or enable a member. Either change also ends everything issued before it:
        temporary credentials (by issue time, as `revoke_member`), instance tokens and console
        sessions; so an enabled member signs in anew and gets new credentials and tokens.
        (At the enable too, for anything a concurrent issue slipped past the disable.)"""
        with self.catalog.session() as session:
            member = _member(session, name)
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
            return _member_info(member)

    def set_password(self, name: str, password: str) -> None:
        password_hash = passwords.hash_password(password)
        with self.catalog.session() as session:
            _member(session, name).password_hash = password_hash
            audit.record(session, self.actor, "member.passwd", name)

    # credentials

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
            member = _member_info(_member(session, name))
            if member.disabled:
                raise InvalidInput(f"the member {name!r} is disabled")
            folders = tuple(_scope(member, text) for text in scopes)
            issued, grant = credentials.mint(
                self.keyring,
                member_id=member.id,
                org_id=member.org.id,
                seconds=seconds,
                scopes=folders,
                read_only=read_only,
            )
            session.add(
                IssuedCredential(
                    access_key_id=grant.access_key_id,
                    member_id=member.id,
                    issued_at=_at(grant.issued_ms),
                    expires_at=_at(grant.expires_ms),
                    scopes=list(folders),
                    read_only=read_only,
                )
            )
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
            member = _member(session, name)
            member.credentials_not_before = int(time.time() * 1000)
            audit.record(session, self.actor, "credentials.revoke", name, all=True)

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
            return credentials.CatalogSnapshot(members, frozenset(revoked), operators, buckets)

    # instance tokens

    def issue_token(self, name: str, *, seconds: int | None = 30 * 86400, label: str = "") -> str:
        """A long-lived, revocable token for a notebook instance; only its hash is stored."""
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        now = datetime.now(UTC)
        expires = now + timedelta(seconds=seconds) if seconds else None
        with self.catalog.session() as session:
            member = _member(session, name)
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
            member = _member(session, name)
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

    def list_tokens(self, name: str) -> list[dict[str, object]]:
        with self.catalog.session() as session:
            member = _member(session, name)
            rows = session.scalars(
                select(InstanceToken).where(InstanceToken.member_id == member.id)
            )
            return [
                {
                    "id": r.id,
                    "label": r.label,
                    "created": r.created_at.isoformat(),
                    "expires": r.expires_at.isoformat() if r.expires_at else None,
                    "revoked": r.revoked_at is not None,
                }
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
        return self.get_member(name), issued

    # operators

    def create_operator(self, name: str) -> tuple[str, str]:
        """A new operator; (access key id, secret): the secret is shown this once."""
        paths.check_name("member", name)
        access_key_id, secret, sealed = credentials.mint_operator(self.keyring)
        with self.catalog.session() as session:
            if session.scalar(select(Operator).where(Operator.name == name)):
                raise AlreadyExists(f"the operator {name!r} already exists")
            session.add(Operator(name=name, access_key_id=access_key_id, sealed_secret=sealed))
            audit.record(session, self.actor, "operator.create", name, access_key_id=access_key_id)
        return access_key_id, secret

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

    def list_operators(self) -> list[dict[str, object]]:
        with self.catalog.session() as session:
            return [
                {"name": o.name, "access_key_id": o.access_key_id, "disabled": o.disabled}
                for o in session.scalars(select(Operator).order_by(Operator.name))
            ]

    def set_operator_disabled(self, name: str, disabled: bool = True) -> None:
        with self.catalog.session() as session:
            operator = session.scalar(select(Operator).where(Operator.name == name))
            if operator is None:
                raise NotFound(f"no operator named {name!r}")
            operator.disabled = disabled
            audit.record(
                session, self.actor, "operator.disable" if disabled else "operator.enable", name
            )

    def claim_bucket(self, operator_id: int, bucket: str) -> None:
        """Record that an operator created `bucket`; refuse names that are taken."""
        paths.check_name("bucket", bucket)
        with self.catalog.session() as session:
            if session.scalar(select(Organization).where(Organization.bucket == bucket)):
                raise AlreadyExists(
                    f"the bucket {bucket!r} holds organizations", code="BucketAlreadyExists"
                )
            owner = session.get(OperatorBucket, bucket)
            if owner is not None:
                code = (
                    "BucketAlreadyOwnedByYou"
                    if owner.operator_id == operator_id
                    else "BucketAlreadyExists"
                )
                raise AlreadyExists(f"the bucket {bucket!r} already exists", code=code)
            session.add(OperatorBucket(name=bucket, operator_id=operator_id))
            audit.record(session, self.actor, "bucket.create", bucket)

    def release_bucket(self, bucket: str) -> None:
        with self.catalog.session() as session:
            owned = session.get(OperatorBucket, bucket)
            if owned is not None:
                session.delete(owned)
                audit.record(session, self.actor, "bucket.delete", bucket)

    def audit_log(self, limit: int = 100) -> list[audit.Entry]:
        with self.catalog.session() as session:
            return audit.recent(session, limit)


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


def _org(session: Session, name: str) -> Organization:
    org = session.scalar(select(Organization).where(Organization.name == name))
    if org is None:
        raise NotFound(f"no organization named {name!r}")
    return org


def _member(session: Session, name: str) -> Member:
    member = session.scalar(select(Member).where(Member.name == name))
    if member is None:
        raise NotFound(f"no member named {name!r}")
    return member


def _org_info(org: Organization) -> OrgInfo:
    return OrgInfo(org.id, org.name, org.bucket, org.prefix)


def _member_info(member: Member) -> MemberInfo:
    return MemberInfo(
        member.id,
        member.name,
        _org_info(member.organization),
        member.admin,
        member.disabled,
        member.password_hash is not None,
    )


def _at(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)
