"""Group commit: one thread owns the write connection and commits many operations at once.

Callers hand an operation (a function of a `Txn`) to `GroupCommitWriter.submit` and get a
future that resolves once it is durable. The writer takes every operation waiting in its queue,
runs each inside its own SAVEPOINT (so one that raises is rolled back alone) and commits them
all in one SQLite transaction: one fsync for the whole group instead of one per operation.
Blob ids that operations released are handed to `on_commit` only once the commit is durable.
"""

from __future__ import annotations

import logging
import queue
import sqlite3
import threading
from collections.abc import Callable
from concurrent.futures import Future
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
    future: Future[Any] = field(default_factory=Future)


@dataclass
class WriterStats:
    """Counters to check that commits are grouped."""

    operations: int = 0
    commits: int = 0


class GroupCommitWriter:
    """Runs write operations on one connection, batching them into shared transactions."""

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
        self._queue: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="lakestow-writer", daemon=True)
        self._state = threading.Lock()
        self._stopped = False
        self.stats = WriterStats()

    @property
    def connection(self) -> sqlite3.Connection:
        """The write connection (only for use once the writer is stopped)."""
        return self._conn

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Finish the operations already queued, then stop the thread."""
        with self._state:
            if self._stopped:
                return
            self._stopped = True
            self._queue.put(None)
        self._thread.join()

    def submit(self, op: Callable[[Txn], T]) -> Future[T]:
        """Queue `op` for the next group; the future resolves once it is committed."""
        job = _Job(op)
        with self._state:
            if self._stopped:
                raise RuntimeError("the object store is closed")
            self._queue.put(job)
        return job.future

    def call(self, op: Callable[[Txn], T]) -> T:
        """Run `op` in the next group and wait until it is committed (blocking)."""
        return self.submit(op).result()

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch, stop = self._drain(first)
            self._commit(batch)
            if stop:
                return

    def _drain(self, first: _Job) -> tuple[list[_Job], bool]:
        batch = [first]
        while len(batch) < self._max_batch:
            try:
                job = self._queue.get_nowait()
            except queue.Empty:
                break
            if job is None:
                return batch, True
            batch.append(job)
        return batch, False

    def _commit(self, batch: list[_Job]) -> None:
        conn = self._conn
        outcomes: list[tuple[_Job, Any, BaseException | None]] = []
        dead: list[str] = []
        try:
            conn.execute("BEGIN IMMEDIATE")
            for job in batch:
                outcomes.append(self._apply(job, dead))
            conn.execute("COMMIT")
        except Exception as exc:  # the group failed as a whole: nothing is durable
            log.exception("index commit failed")
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            for job in batch:
                job.future.set_exception(exc)
            return
        self.stats.commits += 1
        self.stats.operations += len(batch)
        for job, result, error in outcomes:
            if error is None:
                job.future.set_result(result)
            else:
                job.future.set_exception(error)
        self._release(dead)

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

    def _release(self, dead: list[str]) -> None:
        if not dead:
            return
        try:
            self._on_commit(dead)
        except Exception:  # an orphan blob is collected at the next unclean open
            log.exception("could not remove released blobs")
