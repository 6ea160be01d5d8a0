"""Group commit: operations run on the event loop, their shared COMMIT in a thread.

Callers hand an operation (a function of a `Txn`) to `GroupCommitWriter.submit`, on the event
loop, and get a future that resolves once it is durable. The writer takes every operation
waiting, runs each inside its own SAVEPOINT (so one that raises is rolled back alone) and
commits them all in one SQLite transaction: one fsync for the whole group instead of one per
operation. While that COMMIT waits on the disk, in a thread of its own, new operations queue
up for the next group. Blob ids that operations released are handed to `on_commit` only once
the commit is durable.

Why most operations run on the loop rather than in the committing thread: a PUT or a DELETE is
a few SQLite statements, tens of microseconds, and every statement hands the GIL over and
back. A thread of its own had to win the GIL back from the busy event loop at each statement,
so a 40 µs delete took ~300 µs of wall time and groups stayed small. On the loop the hand-over
is free, and the thread is left what is worth a thread: waiting for the fsync, and operations
submitted as `heavy` (a DeleteObjects of many keys, a Complete of many parts), which would
hold the loop for milliseconds. The loop also takes its turn back every `SLICE` seconds of
operations. Asyncio only, like the server.

A COMMIT that fails leaves the outcome unknown (SQLite may replay a commit whose fsync
failed): its operations fail with `CommitUncertain`, and the writer refuses all further
writes, so the process must be restarted and the next open collects any orphaned blob.
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import sqlite3
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

from lakestow.errors import LakestowError, Unavailable

T = TypeVar("T")
log = logging.getLogger(__name__)

SLICE = 0.001  # seconds of operations the loop runs before it takes its turn back
BUSY_WAIT_MS = 60_000  # how long a write waits for other processes' writes before it fails


class CommitUncertain(Unavailable):
    """The index could not commit: the write may or may not have landed."""

    def __init__(self) -> None:
        super().__init__(
            "The object index could not commit this write; the server must be restarted."
        )


@dataclass
class Txn:
    """What an operation sees: the connection, and a list to put blob ids it released."""

    conn: sqlite3.Connection
    dead: list[str] = field(default_factory=list)


class Outcome(asyncio.Future[T]):
    """The future of a queued operation, which cannot be withdrawn: it refuses to be
    cancelled, so cancelling a task that awaits it takes effect once the operation is settled
    (asyncio then raises CancelledError in the task, as anyio does). Cheaper than
    asyncio.shield, which wrapped every write in a second future for the rare cancellation."""

    def cancel(self, msg: Any = None) -> bool:
        return False


@dataclass
class _Job:
    op: Callable[[Txn], Any]
    heavy: bool
    future: Outcome[Any]


@dataclass
class _Group:
    jobs: list[_Job]
    outcomes: list[tuple[Any, BaseException | None]] = field(default_factory=list)
    dead: list[str] = field(default_factory=list)


@dataclass
class WriterStats:
    """Counters to check that commits are grouped."""

    operations: int = 0
    commits: int = 0


class GroupCommitWriter:
    """Runs write operations on one connection, batching them into shared transactions.

    `submit` and `drain` are for the event loop the writer serves; `stop` for after `drain`.
    Between BEGIN and the end of COMMIT the connection belongs to the group: the loop's
    callbacks and the committing thread take turns with it, never both at once.
    """

    def __init__(
        self,
        conn: sqlite3.Connection,
        on_commit: Callable[[list[str]], None],
        *,
        max_batch: int = 512,
        gate: int | None = None,
    ) -> None:
        self._conn = conn
        # Other processes write the index too (`serve --workers N`): a group first takes
        # `gate`, an flock() on a file beside the index that every writer takes around its
        # transaction. It is tried on the loop without waiting, and waited for in the
        # committing thread while another process commits: the loop never sleeps, and a
        # waiter wakes the moment the lock is let go (SQLite's busy handler would poll, sleeping
        # 1, 2, 5, 10... ms between tries). SQLite's own lock stays the guarantee.
        self._gate = gate
        self._gated = False  # this writer holds the gate (from BEGIN to the end of COMMIT)
        if gate is not None:
            conn.execute("PRAGMA busy_timeout = 0")
        self._on_commit = on_commit
        self._max_batch = max_batch
        self._pending: deque[_Job] = deque()
        self._committing = False  # a group is between BEGIN and the end of its COMMIT
        self._idle: asyncio.Event | None = None  # set by `drain` to learn when the last ends
        self._closed = False
        self.failed = False  # a COMMIT failed: nothing more is written
        self.committer = ThreadPoolExecutor(1, thread_name_prefix="lakestow-commit")
        self.stats = WriterStats()

    @property
    def connection(self) -> sqlite3.Connection:
        """The write connection (only for use once the writer is stopped)."""
        return self._conn

    def submit(self, op: Callable[[Txn], T], *, heavy: bool = False) -> Outcome[T]:
        """Queue `op` for the next group; the future resolves once it is committed (and a
        task awaiting it is cancelled only then). A `heavy` operation (milliseconds of work)
        runs in the committing thread, off the loop."""
        if self.failed:
            raise _refused()
        if self._closed:
            raise RuntimeError("the object store is closed")
        loop = asyncio.get_running_loop()
        job = _Job(op, heavy, Outcome(loop=loop))
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

    # -- one group: BEGIN, operations in slices, COMMIT in the thread, answers ---------------

    def _begin(self, loop: asyncio.AbstractEventLoop) -> None:
        count = min(len(self._pending), self._max_batch)
        group = _Group([self._pending.popleft() for _ in range(count)])
        if not group.jobs:
            self._committing = False
            if self._idle is not None:
                self._idle.set()
            return
        if self.failed:
            self._fail(group, _refused, None)
            loop.call_soon(self._begin, loop)
            return
        try:
            if self._gate is not None and not self._take_gate(wait=False):
                waited = loop.run_in_executor(self.committer, self._begin_waiting)
                waited.add_done_callback(lambda done: self._began(loop, group, done))
                return
            self._conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            if not (self._gate is not None and exc.sqlite_errorcode == sqlite3.SQLITE_BUSY):
                self._not_begun(loop, group, exc)
                return
            waited = loop.run_in_executor(self.committer, self._begin_waiting)
            waited.add_done_callback(lambda done: self._began(loop, group, done))
            return
        except BaseException as exc:
            self._not_begun(loop, group, exc)
            return
        self._continue(loop, group)

    def _take_gate(self, *, wait: bool) -> bool:
        if self._gated:
            return True
        assert self._gate is not None
        try:
            fcntl.flock(self._gate, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            return False
        self._gated = True
        return True

    def _open_gate(self) -> None:
        """Let the next process's group begin (after this one's COMMIT or ROLLBACK)."""
        if self._gated and self._gate is not None:
            self._gated = False
            fcntl.flock(self._gate, fcntl.LOCK_UN)

    def _begin_waiting(self) -> None:
        """The gate and BEGIN IMMEDIATE, waited for (in the committing thread) while another
        process writes; SQLite's busy handler waits for a writer that takes no gate."""
        self._take_gate(wait=True)
        conn = self._conn
        conn.execute(f"PRAGMA busy_timeout = {BUSY_WAIT_MS}")
        try:
            conn.execute("BEGIN IMMEDIATE")
        finally:
            conn.execute("PRAGMA busy_timeout = 0")

    def _began(
        self, loop: asyncio.AbstractEventLoop, group: _Group, done: asyncio.Future[None]
    ) -> None:
        error = asyncio.CancelledError() if done.cancelled() else done.exception()
        if error is not None:
            self._not_begun(loop, group, error)
            return
        # What was submitted while another process committed joins this group: its own
        # group would wait for the gate again, and commit, fsync and all, on its own.
        while self._pending and len(group.jobs) < self._max_batch:
            group.jobs.append(self._pending.popleft())
        self._continue(loop, group)

    def _not_begun(
        self, loop: asyncio.AbstractEventLoop, group: _Group, error: BaseException
    ) -> None:
        log.error("could not begin an index transaction", exc_info=error)
        self._open_gate()
        self._fail(group, _failed_group, error)
        loop.call_soon(self._begin, loop)

    def _continue(self, loop: asyncio.AbstractEventLoop, group: _Group) -> None:
        """Run the group's next operations for up to SLICE, then COMMIT in the thread."""
        deadline = time.perf_counter() + SLICE
        try:
            while len(group.outcomes) < len(group.jobs):
                job = group.jobs[len(group.outcomes)]
                if job.heavy:
                    applied = loop.run_in_executor(self.committer, self._apply, job, group.dead)
                    applied.add_done_callback(lambda done: self._applied(loop, group, done))
                    return
                group.outcomes.append(self._apply(job, group.dead))
                if time.perf_counter() > deadline:
                    loop.call_soon(self._continue, loop, group)
                    return
            committed = loop.run_in_executor(self.committer, self._commit)
            committed.add_done_callback(lambda done: self._end(loop, group, done))
        except BaseException as exc:
            self._abort(loop, group, exc)

    def _applied(
        self, loop: asyncio.AbstractEventLoop, group: _Group, done: asyncio.Future[Any]
    ) -> None:
        """A heavy operation came back from the thread."""
        try:
            group.outcomes.append(done.result())
        except BaseException as exc:
            self._abort(loop, group, exc)
            return
        self._continue(loop, group)

    def _apply(self, job: _Job, dead: list[str]) -> tuple[Any, BaseException | None]:
        conn = self._conn
        txn = Txn(conn)
        conn.execute("SAVEPOINT op")
        try:
            result = job.op(txn)
        except Exception as exc:
            conn.execute("ROLLBACK TO op")
            conn.execute("RELEASE op")
            return None, exc
        conn.execute("RELEASE op")
        dead.extend(txn.dead)
        return result, None

    def _commit(self) -> None:
        """COMMIT (in the committing thread: it waits for the fsync); ROLLBACK if it fails."""
        conn = self._conn
        try:
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        finally:
            self._open_gate()

    def _end(
        self, loop: asyncio.AbstractEventLoop, group: _Group, committed: asyncio.Future[None]
    ) -> None:
        """Back on the loop once the COMMIT returned: answer the group, then the next."""
        error = asyncio.CancelledError() if committed.cancelled() else committed.exception()
        if error is not None:
            log.error("index commit failed; refusing further writes", exc_info=error)
            self.failed = True
            self._fail(group, CommitUncertain, None)
        else:
            self.stats.commits += 1
            self.stats.operations += len(group.jobs)
            for job, (result, failure) in zip(group.jobs, group.outcomes, strict=True):
                if job.future.done():
                    continue
                if failure is None:
                    job.future.set_result(result)
                else:
                    job.future.set_exception(failure)
            self._release(group.dead)
        loop.call_soon(self._begin, loop)  # after the tasks just answered had their turn

    def _abort(self, loop: asyncio.AbstractEventLoop, group: _Group, error: BaseException) -> None:
        """Something other than an operation's own error broke the group: undo it all."""
        log.error("index transaction failed", exc_info=error)
        try:
            if self._conn.in_transaction:
                self._conn.execute("ROLLBACK")
        except BaseException:
            log.exception("could not roll the index transaction back; refusing further writes")
            self.failed = True
        finally:
            self._open_gate()
        self._fail(group, _failed_group, error)
        loop.call_soon(self._begin, loop)

    @staticmethod
    def _fail(
        group: _Group, make: Callable[[], BaseException], cause: BaseException | None
    ) -> None:
        for job in group.jobs:
            if not job.future.done():
                error = make()
                error.__cause__ = cause
                job.future.set_exception(error)

    def _release(self, dead: list[str]) -> None:
        if not dead:
            return
        try:
            self._on_commit(dead)
        except Exception:  # an orphan blob is collected at the next unclean open
            log.exception("could not remove released blobs")


def _failed_group() -> LakestowError:
    return LakestowError("The object index could not run this write. Please try again.")


def _refused() -> LakestowError:
    return Unavailable(
        "The object index failed to commit a write: no more writes until the server restarts."
    )
