"""Locks on names, held across every replica of one catalog (`storage.protocol.KeyLocks`).

    locks = key_locks(catalog)
    async with locks.hold("bucket/key", seconds=65):
        ...  # no other replica holds "bucket/key" here

On PostgreSQL, a transaction-scoped advisory lock on a 64-bit hash of the name, taken in a
connection of a small pool of its own (so waiters never starve the catalog's other work): the
transaction sets `lock_timeout` (how long a waiter waits: then 503) and
`idle_in_transaction_session_timeout` (how long a holder may keep it: then PostgreSQL ends the
session, and the lock goes with it, even if the holder's replica was cut off). Two names with
the same hash only wait for each other. On SQLite (the worker processes of one machine), a
record lock on a byte of a file beside the catalog (`FileLocks`). In both, a replica's own
waiters for one name queue in the process first, so a name costs one catalog connection per
replica at most.
"""

from __future__ import annotations

import asyncio
import errno
import fcntl
import hashlib
import logging
import os
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
from sqlalchemy import Connection, Engine, create_engine, text
from sqlalchemy.exc import DBAPIError, OperationalError

from lakestow.catalog.db import Catalog
from lakestow.errors import Unavailable

logger = logging.getLogger("lakestow.catalog")

WAIT = 30.0
"""Seconds a writer waits for a name another replica holds, at most: then 503."""

CONNECTIONS = 8
"""Catalog connections kept for held locks, per replica (more open as needed, then close)."""


class ProcessLocks:
    """Locks on names within this process: one holder per name, the others queue in order."""

    def __init__(self) -> None:
        self._held: dict[str, tuple[asyncio.Lock, int]] = {}

    @asynccontextmanager
    async def hold(self, name: str, *, seconds: float) -> AsyncIterator[None]:
        lock, users = self._held.get(name, (asyncio.Lock(), 0))
        self._held[name] = lock, users + 1
        try:
            async with lock:
                yield
        finally:
            lock, users = self._held[name]
            if users == 1:
                del self._held[name]
            else:
                self._held[name] = lock, users - 1

    def close(self) -> None:
        """Give back what the locks keep open (nothing, in a process)."""


class AdvisoryLocks(ProcessLocks):
    """Locks on names across every replica of one PostgreSQL catalog."""

    def __init__(self, url: str, *, wait: float = WAIT) -> None:
        super().__init__()
        self._engine: Engine = create_engine(
            url,
            pool_size=CONNECTIONS,
            max_overflow=4 * CONNECTIONS,
            # A catalog gone silent (not refusing: unanswering) fails a waiter in seconds,
            # not when the kernel gives up on the connection.
            connect_args={
                "connect_timeout": 5,
                "keepalives": 1,
                "keepalives_idle": 5,
                "keepalives_interval": 2,
                "keepalives_count": 3,
            },
        )
        self._wait = wait
        self._threads = anyio.CapacityLimiter(CONNECTIONS * 5)  # waiters block a thread each

    @asynccontextmanager
    async def hold(self, name: str, *, seconds: float) -> AsyncIterator[None]:
        async with super().hold(name, seconds=seconds):  # one waiter per name in PostgreSQL
            connection = await anyio.to_thread.run_sync(
                self._lock, name, seconds, limiter=self._threads
            )
            try:
                yield
            finally:
                await anyio.to_thread.run_sync(self._release, connection, limiter=self._threads)

    def _lock(self, name: str, seconds: float) -> Connection:
        """A connection whose transaction holds `name` (two round trips: the limits, the lock).
        A pooled connection found dead is replaced once, rather than pinged at every use."""
        for attempt in (1, 2):
            try:
                connection = self._engine.connect()
            except DBAPIError as exc:
                raise _unreachable() from exc
            try:
                connection.execute(LIMITS, {"wait": _ms(self._wait), "hold": _ms(seconds)})
                connection.execute(LOCK, {"name": name})
            except OperationalError as exc:
                connection.close()
                if getattr(exc.orig, "sqlstate", None) == "55P03":  # lock_not_available
                    raise Unavailable(
                        f"Other conditional writes of this key held it for more than "
                        f"{self._wait:g} s; try again."
                    ).with_headers({"Retry-After": "1"}) from exc
                if exc.connection_invalidated and attempt == 1:
                    continue
                raise _unreachable() from exc
            except BaseException:
                connection.close()
                raise
            return connection
        raise AssertionError("unreachable")  # (the loop returns or raises)

    def _release(self, connection: Connection) -> None:
        try:
            connection.commit()
        except DBAPIError as exc:  # ended by PostgreSQL (held too long) or cut off
            logger.warning("a conditional write's lock ended before its write did: %s", exc)
        finally:
            connection.close()

    def close(self) -> None:
        self._engine.dispose()


LIMITS = text(
    "SELECT set_config('lock_timeout', :wait, true), "
    "set_config('idle_in_transaction_session_timeout', :hold, true)"
)
"""How long this transaction waits for the lock, and may then sit holding it."""

LOCK = text("SELECT pg_advisory_xact_lock(hashtextextended(:name, 0))")


def _ms(seconds: float) -> str:
    return f"{max(1, int(seconds * 1000))}ms"


def _unreachable() -> Unavailable:
    return Unavailable(
        "The catalog cannot be reached, and conditional writes (If-None-Match, If-Match) need "
        "it on this store; try again in a few seconds."
    ).with_headers({"Retry-After": "5"})


class FileLocks(ProcessLocks):
    """Locks on names across the processes of one machine that share a SQLite catalog (`serve
    --workers N`): a POSIX record lock on one byte of a file beside the catalog, the byte
    chosen by a hash of the name (two names on one byte only wait for each other).

    Record locks belong to a process, not to a thread (a second lock of the same byte by the
    same process succeeds, and either unlock frees it), so the process's own holders queue per
    byte first, in `ProcessLocks`. The kernel drops the locks of a process that dies. A waiter
    polls, so that it gives up after `wait` seconds (503) as on PostgreSQL."""

    SLOTS = 1 << 20

    def __init__(self, path: str, *, wait: float = WAIT) -> None:
        super().__init__()
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        self._wait = wait

    @asynccontextmanager
    async def hold(self, name: str, *, seconds: float) -> AsyncIterator[None]:
        digest = hashlib.blake2b(name.encode(), digest_size=8).digest()
        slot = int.from_bytes(digest, "big") % self.SLOTS
        async with super().hold(f"slot {slot}", seconds=seconds):
            await anyio.to_thread.run_sync(self._lock, slot)
            try:
                yield
            finally:
                fcntl.lockf(self._fd, fcntl.LOCK_UN, 1, slot)

    def _lock(self, slot: int) -> None:
        deadline = time.monotonic() + self._wait
        while True:
            try:
                fcntl.lockf(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, slot)
                return
            except OSError as exc:
                if exc.errno not in (errno.EACCES, errno.EAGAIN):
                    raise
            if time.monotonic() > deadline:
                raise Unavailable(
                    f"Other conditional writes of this key held it for more than "
                    f"{self._wait:g} s; try again."
                ).with_headers({"Retry-After": "1"})
            time.sleep(0.002)

    def close(self) -> None:
        os.close(self._fd)


def key_locks(catalog: Catalog) -> ProcessLocks:
    """The locks every replica of `catalog` shares: advisory ones on PostgreSQL, record locks
    in a file beside a SQLite catalog's (which only processes of one machine share)."""
    if catalog.engine.dialect.name == "postgresql":
        return AdvisoryLocks(catalog.url)
    database = catalog.engine.url.database
    if database and database != ":memory:":
        return FileLocks(f"{database}.locks")
    return ProcessLocks()
