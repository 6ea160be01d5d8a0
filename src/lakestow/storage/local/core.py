"""The parts of a local store and how async code reaches them.

`Core` owns the directory lock, the index connections (one writer, a pool of readers), the
blob tree and the pins. Async callers use `read` (a query, on the loop), `write` (an
operation committed by the group-commit writer, awaited without holding a thread) and
`store_blob` (stream a body into a new blob, or keep a small one for the index, then commit
an operation that references it). File I/O runs in worker threads, 1 MiB at a time.

On-disk layout of a store root:

    lock          flock()ed while a process has the store open (or a `Held` and its workers)
    writer        flock()ed by a worker's writer around each transaction (shared stores)
    index.db      the SQLite index (+ index.db-wal, index.db-shm)
    blobs/ab/cd/abcd...   immutable blob files named by 32 random hex digits
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import sqlite3
import threading
from collections.abc import AsyncIterable, Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import TypeVar

import anyio
import anyio.to_thread

from lakestow.errors import Unavailable
from lakestow.storage.common import check_md5, no_such_bucket
from lakestow.storage.local.blobs import CHUNK, BlobDir, BlobPins, BlobWriter, fsync_dir
from lakestow.storage.local.index import (
    connect,
    get_meta,
    init_memory,
    init_schema,
    read_buckets,
    set_meta,
)
from lakestow.storage.local.writer import CommitUncertain, GroupCommitWriter, Outcome, Txn

T = TypeVar("T")
log = logging.getLogger(__name__)

HEAVY_ITEMS = 16  # keys or parts an operation may take on the event loop; more go elsewhere


class _Readers:
    """A pool of read-only connections, one per concurrent reader thread.

    `take` and `give` are a list's pop and append (atomic under the GIL): on the event loop,
    where most reads run, a context manager around them would cost more than the query.
    """

    def __init__(self, path: str) -> None:
        self._path = path
        self._free: list[sqlite3.Connection] = []
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()

    def take(self) -> sqlite3.Connection:
        try:
            return self._free.pop()
        except IndexError:
            conn = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA query_only = 1")
            with self._lock:
                self._all.append(conn)
            return conn

    def give(self, conn: sqlite3.Connection) -> None:
        self._free.append(conn)

    def close(self) -> None:
        with self._lock:
            for conn in self._all:
                conn.close()
            self._all.clear()


class Core:
    """A local store's resources; see the module docstring."""

    def __init__(
        self,
        root: Path,
        *,
        min_part_size: int,
        inline_max: int,
        max_threads: int,
        shared: bool = False,
    ) -> None:
        root = self.root = Path(os.path.abspath(root))
        self.shared = shared  # other processes serve the store too (see `hold`)
        self.min_part_size = min_part_size
        self.inline_max = inline_max
        self.blobs = BlobDir(root / "blobs")
        self.pins = BlobPins(self.blobs)
        self.buckets: set[str] = set()
        self.versioned: set[str] = set()  # buckets whose versioning was ever set
        self.orphans_removed = 0
        self.limiter = anyio.CapacityLimiter(max_threads)
        self.scan_limiter = anyio.CapacityLimiter(1)
        self._readers = _Readers(str(root / "index.db"))
        self._writer: GroupCommitWriter | None = None
        self._reaper = ThreadPoolExecutor(1, thread_name_prefix="lakestow-reaper")
        self._lock_fd = -1
        self._gate_fd = -1  # shared: the writers' gate (see `GroupCommitWriter`)
        self._inflight = 0
        self._inflight_lock = threading.Lock()
        self.uncertain = False  # a write's outcome is unknown: do not mark the close clean

    @property
    def writer(self) -> GroupCommitWriter:
        if self._writer is None:
            raise RuntimeError("the object store is closed")
        return self._writer

    def open(self, scan_orphans: bool | None) -> None:
        """Lock the root, open the index, collect orphans if needed, start the writer. A
        `shared` store was locked and prepared by the process that forked this one (`hold`):
        it only opens the index."""
        _make_durable_dirs(self.root / "blobs")
        index = str(self.root / "index.db")
        if self.shared:
            conn = connect(index)
            self._load_buckets(conn)
            self._gate_fd = os.open(self.root / "writer", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC)
            self._writer = GroupCommitWriter(conn, self._release, gate=self._gate_fd)
            return
        self._lock_fd = _lock(self.root)
        try:
            conn = connect(index)
            self.orphans_removed = _prepare(conn, self.root, self.blobs, scan_orphans)
            self._load_buckets(conn)
        except BaseException:
            os.close(self._lock_fd)
            raise
        self._writer = GroupCommitWriter(conn, self._release)

    def _load_buckets(self, conn: sqlite3.Connection) -> None:
        self.buckets = {bucket.name for bucket in read_buckets(conn)}
        rows = conn.execute("SELECT name FROM buckets WHERE versioning IS NOT NULL")
        self.versioned = {name for (name,) in rows}

    def is_versioned(self, bucket: str) -> bool:
        """Whether `bucket`'s versioning was ever set; in a shared store another process may
        have set it since this one last looked (a point query on a table of a few rows)."""
        if bucket not in self.versioned and self.shared:
            self.read_sync(self._load_buckets)
        return bucket in self.versioned

    def _release(self, dead: list[str]) -> None:
        """After a commit: unlink blobs in the background (a big unlink can take a while)."""
        self._reaper.submit(self.pins.release, dead)

    async def drain(self) -> None:
        """Refuse new writes and wait for those queued (on the loop, before `close`)."""
        if self._writer is not None:
            await self._writer.drain()

    def close(self) -> None:
        """Stop the writer, unlink released blobs, and mark the shutdown clean."""
        writer, self._writer = self._writer, None
        if writer is None:
            return
        writer.stop()
        self._reaper.shutdown(wait=True)
        self.pins.release_all()
        conn = writer.connection
        if self.shared:  # the clean mark and the lock are the holder's (`Held`)
            conn.close()
            self._readers.close()
            os.close(self._gate_fd)
            return
        if self._inflight == 0 and not self.uncertain and not writer.failed:
            set_meta(conn, "clean", "1")
        conn.close()
        self._readers.close()
        os.close(self._lock_fd)

    def check_bucket(self, bucket: str) -> None:
        """Fail fast on a bucket that does not exist (the commit checks again); in a shared
        store, one another process created since this one looked is found."""
        if bucket not in self.buckets:
            if self.shared:
                self.read_sync(self._load_buckets)
            if bucket not in self.buckets:
                raise no_such_bucket(bucket)

    def read_sync(self, query: Callable[[sqlite3.Connection], T], snapshot: bool = False) -> T:
        """Run `query` on a reader connection, in one read transaction if `snapshot` (a
        query of one statement is consistent without)."""
        readers = self._readers
        conn = readers.take()
        try:
            if not snapshot:
                return query(conn)
            conn.execute("BEGIN")
            try:
                return query(conn)
            finally:
                conn.execute("COMMIT")
        finally:
            readers.give(conn)

    async def read(self, query: Callable[[sqlite3.Connection], T], snapshot: bool = True) -> T:
        """Run an index query right on the event loop: point lookups and one listing page
        take tens of microseconds in WAL mode, less than handing them to a thread costs."""
        return self.read_sync(query, snapshot)

    async def read_in_parts(
        self,
        first: Callable[[sqlite3.Connection], T],
        rest: Callable[[T], Callable[[sqlite3.Connection], T] | None],
    ) -> T:
        """`first` on the event loop, then, if `rest(first's result)` names a query, that
        query in a worker thread (as `scan`), both in one read transaction: a large listing
        page starts on the loop, where most pages end, and is one snapshot however it ends.
        The connection is given back only once the thread is done with it: a cancellation,
        anyio's or asyncio's, waits for the thread (a page: milliseconds)."""
        readers = self._readers
        conn = readers.take()
        try:
            conn.execute("BEGIN")
            try:
                result = first(conn)
                more = rest(result)
                if more is not None:
                    result = await wait(self.start(partial(more, conn), self.scan_limiter))
                return result
            finally:
                conn.execute("COMMIT")
        finally:
            readers.give(conn)

    async def write(self, op: Callable[[Txn], T], *, heavy: bool = False) -> T:
        """Commit `op` through the writer (`heavy`: milliseconds of work, run off the loop).

        Once queued an operation cannot be withdrawn: a cancellation is delivered once it is
        settled (see `wait`)."""
        return await wait(self.writer.submit(op, heavy=heavy))

    async def write_all(self, ops: list[Callable[[Txn], T]]) -> list[T]:
        """Commit `ops` together (one group, unless it fills up), each in its own savepoint:
        a long write cut into short operations keeps the loop's turns short, on the loop."""
        futures = [self.writer.submit(op) for op in ops]
        with anyio.CancelScope(shield=True):
            results = await asyncio.gather(*futures)
        return list(results)

    def start(
        self, func: Callable[[], T], limiter: anyio.CapacityLimiter | None = None
    ) -> Outcome[T]:
        """Start `func` in a worker thread; `wait` for its future, which refuses cancellation."""
        threads = limiter or self.limiter
        task = asyncio.ensure_future(anyio.to_thread.run_sync(func, limiter=threads))
        outcome: Outcome[T] = Outcome(loop=task.get_loop())
        task.add_done_callback(partial(_settle, outcome))
        return outcome

    async def run(self, func: Callable[[], T]) -> T:
        """`func` in a worker thread, for reads. anyio's cancellation waits for a thread that
        has started; asyncio's abandons it (a read ends on its own), and either may come before
        the thread starts, so `func` never runs (a read that pinned blobs on the loop then
        leaves them pinned until the close: a known gap). Writes go through `run_to_end`."""
        return await anyio.to_thread.run_sync(func, limiter=self.limiter)

    async def scan(self, query: Callable[[sqlite3.Connection], T]) -> T:
        """`query` (a large page: milliseconds of Python) in a read transaction, in a worker
        thread, one such query at a time: the GIL runs them one at a time anyway, and each
        more thread that wants it makes the event loop wait longer for it at every turn (four
        at once made a 2 ms GET take 10)."""
        return await anyio.to_thread.run_sync(
            partial(self.read_sync, query, True), limiter=self.scan_limiter
        )

    async def run_to_end(self, func: Callable[[], T]) -> T:
        """`func` in a worker thread, to its end. A thread cannot be stopped, so a cancellation
        is delivered once `func` returns: abandoned, a write would race what the caller does
        next (the discard of the blob it is writing, say). Costs a task more than `run`."""
        return await wait(self.start(func))

    async def store_blob(
        self,
        body: AsyncIterable[bytes],
        content_md5: bytes | None,
        make_op: Callable[[BlobWriter], Callable[[Txn], T]],
        *,
        inline: bool = False,
    ) -> T:
        """Stream `body` into a new blob and commit `make_op(blob)`; nothing remains if
        either fails. With `inline`, a small body may be kept for the index (`blob.inline`)."""
        blob = BlobWriter(self.blobs, self.inline_max if inline else 0)
        with self._inflight_lock:
            self._inflight += 1
        try:
            try:
                tail = await self._receive(body, blob)
                if blob.fits_inline(tail):
                    blob.complete(tail)  # small: hashing it here costs less than a thread hop
                    check_md5(blob.digest(), content_md5)
                else:
                    await self.run_to_end(partial(_seal, blob, tail, content_md5))
            except BaseException:
                await self._discard(blob)
                raise
            try:
                return await self.write(make_op(blob))
            except (CommitUncertain, asyncio.CancelledError):
                # The operation may have committed (a cancellation comes once it is settled,
                # but hides how): keep the blob. If it did not, the blob is an orphan, which
                # the next open collects (this close is not marked clean).
                self.uncertain = True
                raise
            except BaseException:  # the operation failed: nothing references the blob
                await self._discard(blob)
                raise
        finally:
            with self._inflight_lock:
                self._inflight -= 1

    async def _discard(self, blob: BlobWriter) -> None:
        await self.run_to_end(blob.discard)

    async def _receive(self, body: AsyncIterable[bytes], blob: BlobWriter) -> list[bytes]:
        """Write the body in ~1 MiB batches; return the last batch, not yet written.

        A batch is written in one thread and hashed (MD5) in another while the next one is
        received: receiving, writing and hashing overlap, so a large PUT goes at the pace of
        the slower of the disk and the hash, not of their sum. One batch in flight each (so
        the blob's bytes and the hash stay in order, and at most three batches are held)."""
        pending: list[bytes] = []
        size = 0
        writing: Outcome[None] | None = None
        hashing: Outcome[None] | None = None
        try:
            async for chunk in body:
                pending.append(chunk)
                size += len(chunk)
                if size >= CHUNK:
                    batch, pending, size = pending, [], 0
                    if writing is not None:
                        await wait(writing)
                    if hashing is not None:
                        await wait(hashing)
                    writing = self.start(partial(blob.write_unhashed, batch))
                    hashing = self.start(partial(blob.hash, batch))
        except BaseException:
            for running in (writing, hashing):  # the threads are done before the blob is
                if running is not None:  # discarded, and the error told is the body's
                    with contextlib.suppress(Exception):
                        await wait(running)
            raise
        for running in (writing, hashing):
            if running is not None:
                await wait(running)
        return pending


async def wait(future: Outcome[T]) -> T:
    """The result of a future that refuses asyncio's cancellation, shielded from anyio's too:
    a cancellation is delivered once the future is done (anyio would otherwise try again at
    every turn of the loop until then)."""
    with anyio.CancelScope(shield=True):
        result = await future
    return result


def _settle(outcome: Outcome[T], task: asyncio.Task[T]) -> None:
    """Hand a finished task's result or error on to `outcome`."""
    if task.cancelled():  # nothing cancels these tasks but the end of the loop
        outcome.set_exception(asyncio.CancelledError())
    elif (error := task.exception()) is not None:
        outcome.set_exception(error)
    else:
        outcome.set_result(task.result())


def _seal(blob: BlobWriter, tail: list[bytes], content_md5: bytes | None) -> None:
    blob.complete(tail)
    check_md5(blob.digest(), content_md5)
    blob.seal()


def _make_durable_dirs(path: Path) -> None:
    """`mkdir -p`, making each directory it creates durable in its parent."""
    if path.is_dir():
        return
    _make_durable_dirs(path.parent)
    with contextlib.suppress(FileExistsError):
        path.mkdir()
        fsync_dir(str(path.parent))


def _prepare(
    conn: sqlite3.Connection, root: Path, blobs: BlobDir, scan_orphans: bool | None
) -> int:
    """The start-up work of whoever opens the store first: the index's schema brought up to
    date, orphan blobs collected (by default only after a close that was not clean), and the
    store marked open (not clean) until a clean close. Returns the orphans removed."""
    init_schema(conn)
    init_memory(conn)
    removed = 0
    if scan_orphans or (scan_orphans is None and get_meta(conn, "clean") == "0"):
        removed = _collect_orphans(conn, root, blobs)
    set_meta(conn, "clean", "0")
    fsync_dir(str(root))  # the index and its WAL are there for good
    return removed


def _collect_orphans(conn: sqlite3.Connection, root: Path, blobs: BlobDir) -> int:
    """Unlink blob files no row references: left by a crash between write and commit, or
    between a commit and the unlink it allowed."""
    referenced = {row[0] for row in conn.execute("SELECT id FROM blobs")}
    orphans = [blob_id for blob_id in blobs.scan() if blob_id not in referenced]
    blobs.unlink(orphans)
    if orphans:
        log.info("removed %d orphan blobs from %s", len(orphans), root)
    return len(orphans)


class Held:
    """A store held for several processes (`serve --workers N`): locked by the process that
    forks them, which does the start-up work once, before any of them opens it `shared`.

    The lock is an flock() on `lock`; forked workers inherit the descriptor, so the store stays
    locked while any of them lives, and no second server (or `org purge`) opens it. Only the
    holder may collect orphans (a worker's blob being written is not yet referenced by any
    row), so a worker that dies leaves its partial blob until the next start; the holder marks
    the close clean only when every worker ended cleanly."""

    def __init__(self, root: str | os.PathLike[str], scan_orphans: bool | None = None) -> None:
        self.root = Path(os.path.abspath(root))
        _make_durable_dirs(self.root / "blobs")
        self.fd = _lock(self.root)
        try:
            with contextlib.closing(connect(str(self.root / "index.db"))) as conn:
                self.orphans_removed = _prepare(
                    conn, self.root, BlobDir(self.root / "blobs"), scan_orphans
                )
        except BaseException:
            os.close(self.fd)
            raise

    def release(self, clean: bool) -> None:
        """Once every worker has ended: mark the store closed cleanly if `clean`, unlock."""
        try:
            if clean:
                with contextlib.closing(connect(str(self.root / "index.db"))) as conn:
                    set_meta(conn, "clean", "1")
        finally:
            os.close(self.fd)


def _lock(root: Path) -> int:
    fd = os.open(root / "lock", os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise Unavailable(
            f"The object store at {root} is in use by another process.", code="StoreInUse"
        ) from None
    return fd
