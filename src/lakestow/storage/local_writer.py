"""Group commit: operations run on the event loop, their shared COMMIT in a thread.

Callers hand an operation (a function of a `Txn`) to `GroupCommitWriter.submit`, on the event
loop, and get a future that resolves once it is durable. The writer takes every operation
waiting, runs each inside its own SAVEPOINT (so one that raises is rolled back alone) and
commits them all in one SQLite transaction: one fsync for the whole group instead of one per
operation. While that COMMIT waits on the disk, in a thread of its own, new operations queue
up for the next group. Blob ids that operations released are handed to `on_commit` only once
the commit is durable.

Why the operations run on the loop rather than in the committing thread: an operation is a few
SQLite statements, tens of microseconds of work, and every statement hands the GIL over and
back. A thread of its own had to win the GIL back from the busy event loop at each statement,
so a 40 µs delete took ~300 µs of wall time and groups stayed small. On the loop the hand-over
is free, and the thread is left the one thing worth a thread: waiting for the fsync.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

T = TypeVar("T")
log = logging.getLogger(__name__)


@dataclass
class Txn:
    """What an operation sees: the connection, and a list to put blob ids it released."""

    conn: sqlite3.Connection
    dead: list[str] = field(default_factory=list)


@dataclass
class _Job:
    op: Callable[[Txn], Any]
    future: asyncio.Future[Any]


@dataclass
class WriterStats:
    """Counters to check that commits are grouped."""

    operations: int = 0
    commits: int = 0


class GroupCommitWriter:
    """Runs write operations on one connection, batching them into shared transactions.

    `submit` and `drain` are for the event loop the writer serves; `stop` for after `drain`.
    """

    def __init__(
        self,
        conn: sqlite3.Connection,
        on_commit: Callable[[list[str]], None],
        *,
        max_batch: int = 512,
    ) -> None:
        self._conn = conn
        self._on_commit = on_commit
        self._max_batch = max_batch
        self._pending: deque[_Job] = deque()
        self._committing = False  # a group is between BEGIN and the end of its COMMIT
        self._idle: asyncio.Event | None = None  # set by `drain` to learn when the last ends
        self._closed = False
        self.committer = ThreadPoolExecutor(1, thread_name_prefix="lakestow-commit")
        self.stats = WriterStats()

    @property
    def connection(self) -> sqlite3.Connection:
        """The write connection (only for use once the writer is stopped)."""
        return self._conn

    def submit(self, op: Callable[[Txn], T]) -> asyncio.Future[T]:
        """Queue `op` for the next group; the future resolves once it is committed."""
        if self._closed:
            raise RuntimeError("the object store is closed")
        loop = asyncio.get_running_loop()
        job = _Job(op, loop.create_future())
        self._pending.append(job)
        if not self._committing:
            self._committing = True
            # Next turn of the loop: what else is submitted in this one joins the group.
            loop.call_soon(self._begin, loop)
        return job.future

    async def drain(self) -> None:
        """Refuse new operations, and wait until those queued are committed."""
        self._closed = True
        if self._committing:
            if self._idle is None:
                self._idle = asyncio.Event()
            await self._idle.wait()

    def stop(self) -> None:
        """Release the committing thread (after `drain`)."""
        self._closed = True
        self.committer.shutdown(wait=True)

    def _begin(self, loop: asyncio.AbstractEventLoop) -> None:
        """Run the waiting operations in one transaction and send it to commit."""
        batch = [self._pending.popleft() for _ in range(min(len(self._pending), self._max_batch))]
        if not batch:
            self._committing = False
            if self._idle is not None:
                self._idle.set()
            return
        conn = self._conn
        dead: list[str] = []
        try:
            conn.execute("BEGIN IMMEDIATE")
            outcomes = [self._apply(job, dead) for job in batch]
        except Exception as exc:  # the group failed as a whole: nothing is durable
            log.exception("index transaction failed")
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            self._fail(batch, exc)
            loop.call_soon(self._begin, loop)
            return
        committed = loop.run_in_executor(self.committer, self._commit)
        committed.add_done_callback(lambda done: self._end(loop, outcomes, dead, done))

    def _commit(self) -> None:
        """COMMIT (in the committing thread: it waits for the fsync); ROLLBACK if it fails."""
        conn = self._conn
        try:
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    def _end(
        self,
        loop: asyncio.AbstractEventLoop,
        outcomes: list[tuple[_Job, Any, BaseException | None]],
        dead: list[str],
        committed: asyncio.Future[None],
    ) -> None:
        """Back on the loop once the COMMIT returned: answer the group, start the next."""
        error = committed.exception()
        if error is not None:
            log.error("index commit failed", exc_info=error)
            self._fail([job for job, _, _ in outcomes], error)
        else:
            self.stats.commits += 1
            self.stats.operations += len(outcomes)
            for job, result, failure in outcomes:
                if job.future.done():
                    continue
                if failure is None:
                    job.future.set_result(result)
                else:
                    job.future.set_exception(failure)
            self._release(dead)
        self._begin(loop)

    def _apply(self, job: _Job, dead: list[str]) -> tuple[_Job, Any, BaseException | None]:
        conn = self._conn
        txn = Txn(conn)
        conn.execute("SAVEPOINT op")
        try:
            result = job.op(txn)
        except Exception as exc:
            conn.execute("ROLLBACK TO op")
            conn.execute("RELEASE op")
            return job, None, exc
        conn.execute("RELEASE op")
        dead.extend(txn.dead)
        return job, result, None

    @staticmethod
    def _fail(batch: list[_Job], error: BaseException) -> None:
        for job in batch:
            if not job.future.done():
                job.future.set_exception(error)

    def _release(self, dead: list[str]) -> None:
        if not dead:
            return
        try:
            self._on_commit(dead)
        except Exception:  # an orphan blob is collected at the next unclean open
            log.exception("could not remove released blobs")
