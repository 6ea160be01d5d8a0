"""Sign-in throttling that holds against concurrent guesses, across threads and replicas.

Every sign-in attempt is counted before its password is checked: one catalog transaction bumps
three counters, each with `INSERT ... ON CONFLICT DO UPDATE ... RETURNING`, in primary-key order
(so two transactions never wait on each other crosswise). The database serializes the bumps of
one counter (a row lock on PostgreSQL, the write lock on SQLite), so however many attempts race,
in one process or on replicas sharing the catalog, each sees its own count and at most the limit
of them reach the slow password check. An attempt that would pass any limit rolls its bumps back
and is refused (429, with the time to wait) without a password check. Refused attempts count
toward nothing: hammering a locked door neither locks it longer nor locks any other door.

    counter            limit  window   stops
    (name, address)        5  15 min   guessing one member's password from one place
    address               30  15 min   one place trying passwords on many names (spraying)
    name                  30   5 min   many places guessing one member's password

The tight limit is per (name, address), so a stranger who guesses wrong locks only themselves out
of that name. The per-name limit still caps a distributed attack at 30 guesses in 5 minutes; to
lock the member out with it takes failures from at least 6 addresses, and lasts until 5 minutes
after they stop. A success resets its (name, address) counter and takes its own attempt back from
the other two, so members signing in from one office do not use up its address's budget.

The address is the ASGI client host. uvicorn runs without proxy headers, so X-Forwarded-For is
never believed; behind a load balancer every client has the balancer's address, and the limits
fall back to per name (as before) plus one shared address budget. An IPv6 address counts by its
/64, since one host usually holds a whole /64. Windows are fixed rather than sliding: one row per
counter, and the time to wait is simply the end of the window.
"""

from __future__ import annotations

import ipaddress
import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, case, delete, literal, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from lakestow.catalog.db import Catalog
from lakestow.catalog.models import SignInCounter, UTCDateTime
from lakestow.errors import TooManyAttempts


@dataclass(frozen=True)
class Limit:
    """At most `attempts` counted in a window of `window` (one kind of counter)."""

    kind: str
    attempts: int
    window: timedelta


PAIR = Limit("pair", 5, timedelta(minutes=15))
ADDRESS = Limit("address", 30, timedelta(minutes=15))
NAME = Limit("name", 30, timedelta(minutes=5))
LONGEST = max(PAIR.window, ADDRESS.window, NAME.window)


class LockedOut(TooManyAttempts):
    """Too many failed sign-ins for one name or from one address; `retry_after` in seconds."""

    def __init__(self, until: datetime, now: datetime) -> None:
        self.retry_after = max(1, math.ceil((until - now).total_seconds()))
        super().__init__(
            "too many failed sign-ins for this name or from this address: "
            f"try again in {_spoken(self.retry_after)} (after {until:%H:%M:%S} UTC)"
        )


@dataclass(frozen=True)
class Counted:
    """One counter as an attempt left it."""

    limit: Limit
    name: str
    address: str
    window_start: datetime
    count: int

    @property
    def over(self) -> bool:
        return self.count > self.limit.attempts

    @property
    def ends(self) -> datetime:
        return self.window_start + self.limit.window


class _Over(Exception):
    """Raised inside the counting transaction to roll its bumps back."""

    def __init__(self, until: datetime) -> None:
        self.until = until


def client_address(host: str | None) -> str:
    """What attempts are counted by: the client's IP, an IPv6 one as its /64 network."""
    if not host:
        return "unknown"
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return host[:64]
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((int(ip), 64), strict=False))
    return str(ip)


def count(catalog: Catalog, name: str, address: str, now: datetime) -> list[Counted]:
    """Count one attempt against every limit, committed before this returns; LockedOut (and
    nothing counted) when the attempt would pass any of them."""
    keys = sorted(
        [(ADDRESS, "", address), (NAME, name, ""), (PAIR, name, address)],
        key=lambda key: (key[0].kind, key[1], key[2]),
    )
    try:
        with catalog.session() as session:
            counted = [_bump(session, limit, n, a, now) for limit, n, a in keys]
            over = [c.ends for c in counted if c.over]
            if over:
                raise _Over(max(over))
    except _Over as refused:
        raise LockedOut(refused.until, now) from None
    return counted


def forgive(session: Session, counted: list[Counted]) -> None:
    """After a success: clear the (name, address) counter, take the attempt back elsewhere."""
    for c in counted:
        row = _row(c.limit, c.name, c.address)
        if c.limit is PAIR:
            session.execute(delete(SignInCounter).where(row))
        else:
            session.execute(
                update(SignInCounter)
                .where(row, SignInCounter.window_start == c.window_start, SignInCounter.count > 0)
                .values(count=SignInCounter.count - 1)
            )


def purge(session: Session, now: datetime) -> None:
    """Forget counters whose window has ended."""
    session.execute(delete(SignInCounter).where(SignInCounter.window_start <= now - LONGEST))


def _bump(session: Session, limit: Limit, name: str, address: str, now: datetime) -> Counted:
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    ended = SignInCounter.window_start <= now - limit.window
    statement = (
        insert(SignInCounter)
        .values(kind=limit.kind, name=name, address=address, window_start=now, count=1)
        .on_conflict_do_update(
            index_elements=["kind", "name", "address"],
            set_={
                "count": case((ended, 1), else_=SignInCounter.count + 1),
                "window_start": case(
                    (ended, literal(now, UTCDateTime())), else_=SignInCounter.window_start
                ),
            },
        )
        .returning(SignInCounter.window_start, SignInCounter.count)
    )
    window_start, counted = session.execute(statement).one()
    return Counted(limit, name, address, window_start, counted)


def _row(limit: Limit, name: str, address: str) -> ColumnElement[bool]:
    return (
        (SignInCounter.kind == limit.kind)
        & (SignInCounter.name == name)
        & (SignInCounter.address == address)
    )


def _spoken(seconds: int) -> str:
    if seconds < 60:
        return f"{seconds} second{'s' if seconds != 1 else ''}"
    minutes = math.ceil(seconds / 60)
    return f"{minutes} minute{'s' if minutes != 1 else ''}"
