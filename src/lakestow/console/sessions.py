"""Console sessions in the catalog, so that every replica can read them.

The cookie carries a random session id; the catalog keeps only its SHA-256, the member, a CSRF
token and the expiry. Every sign-in attempt is counted by `throttle` (per name and address, per
address, per name) and committed before the password is checked, so racing attempts cannot get
more password checks than the limits allow.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from lakestow.auth import passwords
from lakestow.catalog import audit
from lakestow.catalog.db import Catalog
from lakestow.catalog.models import ConsoleSession, Member
from lakestow.console import throttle
from lakestow.domain import MemberInfo, OrgInfo
from lakestow.errors import LakestowError, SignInRequired, Unauthenticated

COOKIE = "lakestow_session"
LIFETIME = timedelta(hours=12)
MAX_FAILURES = throttle.PAIR.attempts
LockedOut = throttle.LockedOut


def not_signed_in(message: str = "sign in first") -> Unauthenticated:
    return SignInRequired(message)


@dataclass(frozen=True)
class Opened:
    """A session that is valid now: the raw id (for the cookie) only right after sign-in."""

    member_id: int
    csrf_token: str
    session_id: str = ""


def _hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


def sign_in(catalog: Catalog, name: str, password: str, host: str | None) -> Opened:
    """A new session for `name` signing in from `host` (the client's address), or
    Unauthenticated / LockedOut; every attempt is audited.

    The attempt is counted (and committed) first; the password is checked outside any
    transaction; refusals are raised after the transaction that records them commits.
    """
    name, address, now = name[:128], throttle.client_address(host), datetime.now(UTC)
    try:
        counted = throttle.count(catalog, name, address, now)
    except throttle.LockedOut:
        with catalog.session() as session:
            _audit(session, name, address, "locked")
        raise
    with catalog.session() as session:
        member = session.scalar(select(Member).where(Member.name == name))
        member_id, password_hash = (member.id, member.password_hash) if member else (0, None)
    ok = passwords.verify_password(password_hash, password)  # slow: in no transaction
    with catalog.session() as session:
        opened = _open(session, member_id, password_hash) if ok else None
        if opened is None:
            _audit(session, name, address, "denied")
        else:
            throttle.forgive(session, counted)
            _audit(session, name, address, "ok", f"member:{opened.member_id}")
        _purge(session, now)
    if opened is None:
        raise not_signed_in("wrong name or password, or the member is disabled")
    return opened


def _open(session: Session, member_id: int, password_hash: str | None) -> Opened | None:
    """A new session, unless the member was disabled or changed password since the check."""
    member = session.get(Member, member_id)
    if member is None or member.disabled or member.password_hash != password_hash:
        return None
    now = datetime.now(UTC)
    opened = Opened(member.id, secrets.token_urlsafe(32), secrets.token_urlsafe(32))
    session.add(
        ConsoleSession(
            id_hash=_hash(opened.session_id),
            member_id=member.id,
            csrf_token=opened.csrf_token,
            created_at=now,
            expires_at=now + LIFETIME,
        )
    )
    return opened


def _audit(session: Session, name: str, address: str, outcome: str, actor: str = "") -> None:
    actor = actor or f"console:{name[:64]}"
    audit.record(session, actor, "console.sign-in", name, outcome, address=address)


def _purge(session: Session, now: datetime) -> None:
    """Forget expired sessions and counters whose window has ended."""
    session.execute(delete(ConsoleSession).where(ConsoleSession.expires_at <= now))
    throttle.purge(session, now)


def lookup(catalog: Catalog, session_id: str) -> tuple[Opened, MemberInfo]:
    """The live session behind a cookie and its member; Unauthenticated when it is unknown,
    expired or its member is disabled."""
    now = datetime.now(UTC)
    with catalog.session() as session:
        row = session.get(ConsoleSession, _hash(session_id))
        if row is None or row.expires_at <= now:
            raise not_signed_in("your session has ended: sign in again")
        member = session.get(Member, row.member_id)
        if member is None or member.disabled:
            raise not_signed_in("this member is disabled")
        org = member.organization
        info = MemberInfo(
            member.id,
            member.name,
            OrgInfo(org.id, org.name, org.bucket, org.prefix, org.retention_seconds),
            member.admin,
            member.disabled,
            member.password_hash is not None,
        )
        return Opened(row.member_id, row.csrf_token, session_id), info


def sign_out(catalog: Catalog, session_id: str) -> None:
    with catalog.session() as session:
        row = session.get(ConsoleSession, _hash(session_id))
        if row is not None:
            audit.record(session, f"member:{row.member_id}", "console.sign-out", "")
            session.delete(row)


def end_all(catalog: Catalog, member_id: int) -> None:
    """End every session of a member (disabled, or their password reset)."""
    with catalog.session() as session:
        session.execute(delete(ConsoleSession).where(ConsoleSession.member_id == member_id))


def check_csrf(opened: Opened, sent: str | None) -> None:
    if not sent or not secrets.compare_digest(sent.encode(), opened.csrf_token.encode()):
        raise LakestowError(
            "the CSRF token is missing or wrong: reload the page", code="CSRFFailed"
        )
