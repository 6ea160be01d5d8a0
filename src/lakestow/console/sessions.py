"""Console sessions in the catalog, so that every replica can read them.

The cookie carries a random session id; the catalog keeps only its SHA-256, the member, a CSRF
token and the expiry. Failed sign-ins are counted per name: after `MAX_FAILURES` within
`LOCKOUT_WINDOW`, the name is refused until the window has passed, even with the right password.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from lakestow.auth import passwords
from lakestow.catalog import audit
from lakestow.catalog.db import Catalog
from lakestow.catalog.models import ConsoleSession, Member, SignInFailure
from lakestow.errors import LakestowError, Unauthenticated
from lakestow.service import MemberInfo, OrgInfo

COOKIE = "lakestow_session"
LIFETIME = timedelta(hours=12)
MAX_FAILURES = 5
LOCKOUT_WINDOW = timedelta(minutes=15)


class LockedOut(LakestowError):
    """Too many failed sign-ins for one name."""

    code = "TooManyAttempts"
    status = 429


def not_signed_in(message: str = "sign in first") -> Unauthenticated:
    return Unauthenticated(message, code="Unauthenticated", status=401)


@dataclass(frozen=True)
class Opened:
    """A session that is valid now: the raw id (for the cookie) only right after sign-in."""

    member_id: int
    csrf_token: str
    session_id: str = ""


def _hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


def sign_in(catalog: Catalog, name: str, password: str) -> Opened:
    """A new session for `name`, or Unauthenticated / LockedOut; every attempt is audited.

    Refusals are raised after the transaction commits, so the failure and its audit line stay.
    """
    name = name[:128]
    with catalog.session() as session:
        outcome = _attempt(session, name, password)  # reads, then the slow hash, then writes
    with catalog.session() as session:
        _purge(session)
    if outcome == "locked":
        minutes = int(LOCKOUT_WINDOW.total_seconds() // 60)
        raise LockedOut(f"too many failed sign-ins for this name: try again in {minutes} minutes")
    if isinstance(outcome, str):
        raise not_signed_in("wrong name or password, or the member is disabled")
    return outcome


def _purge(session: Session) -> None:
    """Forget expired sessions and failures older than the lock-out window."""
    now = datetime.now(UTC)
    session.execute(delete(ConsoleSession).where(ConsoleSession.expires_at <= now))
    session.execute(delete(SignInFailure).where(SignInFailure.at <= now - LOCKOUT_WINDOW))


def _attempt(session: Session, name: str, password: str) -> Opened | str:
    now = datetime.now(UTC)
    actor = f"console:{name[:64]}"
    failures = session.scalar(
        select(func.count())
        .select_from(SignInFailure)
        .where(SignInFailure.name == name, SignInFailure.at > now - LOCKOUT_WINDOW)
    )
    if (failures or 0) >= MAX_FAILURES:
        audit.record(session, actor, "console.sign-in", name, "locked")
        return "locked"
    member = session.scalar(select(Member).where(Member.name == name))
    ok = passwords.verify_password(member.password_hash if member else None, password)
    if member is None or not ok or member.disabled:
        session.add(SignInFailure(name=name, at=now))
        audit.record(session, actor, "console.sign-in", name, "denied")
        return "denied"
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
    session.execute(delete(SignInFailure).where(SignInFailure.name == name))
    audit.record(session, f"member:{member.id}", "console.sign-in", name)
    return opened


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
            OrgInfo(org.id, org.name, org.bucket, org.prefix),
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
            "the CSRF token is missing or wrong: reload the page", code="CSRFFailed", status=403
        )
