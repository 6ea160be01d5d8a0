"""Blob files: immutable, named by random ids under `blobs/xx/yy/<id>`, never by keys.

Small bodies are not files: their bytes go into the index (`inline_blobs`) in the same
transaction as the object row, so a small PUT costs no file creation and no fsync of its own.

A blob is written once by `BlobWriter` (hashing as it goes), made durable (fdatasync of the
file, fsync of its directory) and only then referenced by an index commit. A blob no longer
referenced is unlinked after the commit that released it, unless a read has it pinned
(`BlobPins`), in which case it is unlinked when the last such read ends. A pinned blob is also
held open, and read through that descriptor: another process serving the same store (`serve
--workers N`) knows nothing of this one's pins and may unlink it, and an unlinked file stays
readable through a descriptor opened before. Everything here is blocking and runs in worker
threads, but for `pin`, a few opens, and `read_cached` with `unpin_kept`, which never wait
for the disk, on the loop.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import secrets
import threading
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

CHUNK = 1 << 20
INLINE_PREFIX = "~"
_OPEN_NEW = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
_OPEN_READ = os.O_RDONLY | getattr(os, "O_CLOEXEC", 0)
_NOWAIT = getattr(os, "RWF_NOWAIT", 0)  # Linux 4.14 and later


def is_inline(blob_id: str) -> bool:
    """Whether a blob id names bytes kept in the index rather than a file."""
    return blob_id.startswith(INLINE_PREFIX)


def fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class BlobDir:
    """The `blobs/` tree: where a blob id lives, creating directories durably."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._known: set[str] = set()
        self._lock = threading.Lock()

    def path(self, blob_id: str) -> str:
        return f"{self.root}/{blob_id[:2]}/{blob_id[2:4]}/{blob_id}"

    def prepare(self, blob_id: str) -> str:
        """The blob's path, its directory created (and made durable) if it was missing."""
        parent = f"{self.root}/{blob_id[:2]}/{blob_id[2:4]}"
        if parent not in self._known:
            self._make_dirs(blob_id[:2], parent)
        return f"{parent}/{blob_id}"

    def _make_dirs(self, top: str, parent: str) -> None:
        with self._lock:
            for path, container in ((f"{self.root}/{top}", str(self.root)), (parent, None)):
                try:
                    os.mkdir(path)
                except FileExistsError:
                    continue
                fsync_dir(container or f"{self.root}/{top}")
            self._known.add(parent)

    def unlink(self, blob_ids: Iterable[str]) -> None:
        for blob_id in blob_ids:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path(blob_id))

    def scan(self) -> Iterator[str]:
        """Every blob id on disk."""
        for top in os.scandir(self.root):
            if not top.is_dir():
                continue
            for sub in os.scandir(top.path):
                if sub.is_dir():
                    yield from (entry.name for entry in os.scandir(sub.path))

    def read(self, blob_id: str, offset: int, length: int) -> bytes:
        """Exactly `length` bytes at `offset` of a blob."""
        fd = os.open(self.path(blob_id), _OPEN_READ)
        try:
            return _read_exactly(fd, blob_id, offset, length)
        finally:
            os.close(fd)


def _read_exactly(fd: int, blob_id: str, offset: int, length: int) -> bytes:
    data = os.pread(fd, length, offset)
    while len(data) < length:
        more = os.pread(fd, length - len(data), offset + len(data))
        if not more:
            raise OSError(f"blob {blob_id} is shorter than its index says")
        data += more
    return data


class BlobWriter:
    """One new blob: `write` chunks, `complete` with the last ones, `seal`; or `discard`.

    A body that ends before anything was written and has at most `inline_max` bytes gets no
    file: `inline` holds it, for the index to store (an id starting with `~`).
    """

    def __init__(self, blobs: BlobDir, inline_max: int = 0) -> None:
        self.blobs = blobs
        self.id = secrets.token_hex(16)
        self.size = 0
        self.inline: bytes | None = None
        self._inline_max = inline_max
        self._md5 = hashlib.md5(usedforsecurity=False)
        self._fd: int | None = None
        self._path: str | None = None

    def write(self, chunks: Sequence[bytes]) -> None:
        self.hash(chunks)
        self.write_unhashed(chunks)

    def hash(self, chunks: Sequence[bytes]) -> None:
        """Hash chunks (in order; may run in a thread beside `write_unhashed` of the same
        chunks: hashlib lets go of the GIL on large buffers)."""
        for chunk in chunks:
            self._md5.update(chunk)

    def write_unhashed(self, chunks: Sequence[bytes]) -> None:
        """Write chunks whose hashing is `hash`'s business."""
        if self._fd is None:
            self._path = self.blobs.prepare(self.id)
            self._fd = os.open(self._path, _OPEN_NEW, 0o644)
        for chunk in chunks:
            view = memoryview(chunk)
            while view:
                view = view[os.write(self._fd, view) :]
            self.size += len(chunk)

    def fits_inline(self, tail: list[bytes]) -> bool:
        """Whether the body, ending with `tail`, is to be kept in the index."""
        return self._fd is None and sum(map(len, tail)) <= self._inline_max

    def complete(self, tail: list[bytes]) -> None:
        """Take the end of the body: keep it inline if it is all there is and small."""
        if not self.fits_inline(tail):
            self.write(tail)
            return
        data = b"".join(tail)
        self._md5.update(data)
        self.size = len(data)
        if data:
            self.inline = data
            self.id = INLINE_PREFIX + self.id

    def digest(self) -> bytes:
        return self._md5.digest()

    def seal(self) -> None:
        """Make a blob file durable: its bytes, then its directory entry."""
        if self._fd is None:
            return
        os.fdatasync(self._fd)
        os.close(self._fd)
        self._fd = None
        assert self._path is not None
        fsync_dir(os.path.dirname(self._path))

    def discard(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        if self._path is not None:
            self.blobs.unlink([self.id])
            self._path = None

    @property
    def extents(self) -> list[tuple[str, int, int]]:
        """The blob as an object's extents (none for an empty body)."""
        return [(self.id, 0, self.size)] if self.size else []


def _unlinked(fd: int | None) -> bool:
    """Whether an open file has no name left (or cannot be told to have one)."""
    if fd is None:  # closed already (the store's close)
        return False
    try:
        return os.fstat(fd).st_nlink == 0
    except OSError:
        return True


class BlobPins:
    """Keeps released blobs on disk, and open, while reads that started before the release
    use them."""

    def __init__(self, blobs: BlobDir) -> None:
        self._blobs = blobs
        self._lock = threading.Lock()
        self._pins: Counter[str] = Counter()
        self._fds: dict[str, int] = {}
        self._deferred: set[str] = set()
        self._dying: set[str] = set()
        self._probe = bytearray(CHUNK)  # what `read_cached` reads to learn, then drops
        self._nowait = bool(_NOWAIT)  # whether reads can refuse to wait for the disk here

    def pin(self, blob_ids: Iterable[str]) -> bool:
        """Pin and open blobs that still exist; False (nothing pinned) if any was released,
        here or by another process."""
        ids = list(blob_ids)
        with self._lock:
            if any(b in self._dying for b in ids):
                return False
            self._pins.update(ids)
            closed = [b for b in dict.fromkeys(ids) if b not in self._fds]
        opened: dict[str, int] = {}
        try:
            for blob_id in closed:
                opened[blob_id] = os.open(self._blobs.path(blob_id), _OPEN_READ)
        except FileNotFoundError:
            for fd in opened.values():
                os.close(fd)
            self.unpin(ids)
            return False
        with self._lock:
            for blob_id, fd in opened.items():
                if blob_id in self._fds:  # another read opened it meanwhile
                    os.close(fd)
                else:
                    self._fds[blob_id] = fd
        return True

    def read(self, blob_id: str, offset: int, length: int) -> bytes:
        """Exactly `length` bytes at `offset` of a pinned blob, through its descriptor."""
        return _read_exactly(self._fds[blob_id], blob_id, offset, length)

    def read_cached(self, blob_id: str, offset: int, length: int) -> bytes | None:
        """`read`, if the page cache holds every byte of it; None rather than wait for the
        disk (`RWF_NOWAIT`: the read fails with EAGAIN where it would wait), or where the
        system or the file system cannot tell."""
        if not self._nowait or length > len(self._probe):
            return None
        fd = self._fds[blob_id]
        # Read into a scratch buffer to learn whether it is all cached, then again with
        # pread, straight into the bytes returned: a copy of the buffer would cost more (a
        # new 1 MiB is fresh pages, each a fault: 350 µs against pread's 47 in this VM).
        try:
            done = os.preadv(fd, [memoryview(self._probe)[:length]], offset, _NOWAIT)
            data = os.pread(fd, length, offset) if done == length else b""
        except BlockingIOError:  # some of it is on the disk alone
            return None
        except OSError as error:  # the thread's read tells an error of the disk's
            if error.errno in (errno.EOPNOTSUPP, errno.EINVAL):  # tmpfs, say: never again
                self._nowait = False
            return None
        return data if len(data) == length else None

    def unpin_kept(self, blob_ids: Sequence[str]) -> bool:
        """`unpin`, unless that would remove a file (then False, and nothing done): unlinking a
        blob, or closing the last descriptor of one that another process unlinked, frees its
        blocks, which is work for the disk; closing any other descriptor is not."""
        with self._lock:
            last = [b for b, n in Counter(blob_ids).items() if self._pins[b] <= n]
            if any(b in self._deferred or _unlinked(self._fds.get(b)) for b in last):
                return False
            self._unpin_locked(blob_ids)
        return True

    def unpin(self, blob_ids: Iterable[str]) -> None:
        with self._lock:
            free = self._unpin_locked(blob_ids)
            self._dying |= free
        self._unlink(free)

    def _unpin_locked(self, blob_ids: Iterable[str]) -> set[str]:
        """Unpin; close what no read holds; the blobs now free to unlink."""
        free: set[str] = set()
        for blob_id in blob_ids:
            self._pins[blob_id] -= 1
            if self._pins[blob_id] > 0:
                continue
            del self._pins[blob_id]
            fd = self._fds.pop(blob_id, None)
            if fd is not None:
                os.close(fd)
            if blob_id in self._deferred:
                self._deferred.discard(blob_id)
                free.add(blob_id)
        return free

    def release(self, blob_ids: Iterable[str]) -> None:
        """Called after a commit dropped the last references: unlink now or when unpinned."""
        with self._lock:
            ids = set(blob_ids)
            pinned = {b for b in ids if self._pins[b] > 0}
            self._deferred |= pinned
            free = ids - pinned
            self._dying |= free
        self._unlink(free)

    def release_all(self) -> None:
        """At close: unlink everything deferred, pinned or not, and close what is open."""
        with self._lock:
            free, self._deferred = self._deferred, set()
            fds, self._fds = self._fds, {}
        for fd in fds.values():
            os.close(fd)
        self._blobs.unlink(free)

    def _unlink(self, free: set[str]) -> None:
        if not free:
            return
        try:
            self._blobs.unlink(free)
        finally:
            with self._lock:
                self._dying -= free
