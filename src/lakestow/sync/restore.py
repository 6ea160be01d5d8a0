"""Replicate the remote copy into the home directory, and record it in the state.

Local work is never overwritten: a local file that differs from what the state says was last
synced (or that the state does not know) is kept; the next pass uploads it, keeping a differing
remote version aside. A download lands beside its target as `.lakestow-partial-*` (0600 while
written; a default ignore rule keeps one a killed restore left from being synced), gets the
mode and mtime its object carries (`meta`), and is renamed into place; a link object becomes
the link (unless it leaves the home), and nothing is written through a link.
A folder marker (`path/`) becomes a directory, recorded in the state like the agent's own
markers of empty folders: the next pass deletes it remotely if the folder is not empty.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import os
import stat
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from lakestow.sync import meta
from lakestow.sync.errors import SyncError
from lakestow.sync.ignore import IGNORE_FILE, STATE_DIR, STATUS_NAME, IgnoreRules
from lakestow.sync.remote import WHOLE, Archived, Downloaded, Remote, RemoteObject
from lakestow.sync.state import Entry, State

if TYPE_CHECKING:
    from concurrent.futures import Future, ThreadPoolExecutor

LANES = 8
"""Threads writing an archive's files, each the files of its share of the folders."""
UNSAFE = "not a path in the home (absolute, or with an empty, . or .. part): not restored"
HELD = 64 << 20
"""The most bytes of an archive's small files read and waiting for a thread to write them."""
Action = Literal["download", "keep", "in-sync", "skip", "unsafe"]
Fill = Callable[[int], Downloaded]
"""Writes an object's bytes to a file descriptor; what a GET of it tells."""
Progress = Callable[[int, int, int], None]
"""Called after each file: (files done, files begun so far, bytes downloaded so far); files
are begun as the listing (or the archive) goes."""


@dataclass
class RestoreResult:
    """What a restore did."""

    downloaded: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    in_sync: int = 0
    errors: dict[str, str] = field(default_factory=dict)
    bytes: int = 0


Local = tuple[int, int]
"""A local file as a restore compares it: (size, mtime in ns)."""


def restore_action(
    obj: RemoteObject, local: Local | None, entry: Entry | None, ignored: bool = False
) -> Action:
    """Pure: what to do with one remote object given the local file and the state.

    Ignored paths are skipped: restored, they would be deleted remotely by the next pass.
    """
    own = obj.path == STATUS_NAME or obj.path.startswith(STATE_DIR + "/")
    if ignored or own or not obj.path or obj.path.endswith("/"):  # markers: `_folders`
        return "skip"
    if unsafe(obj.path):
        return "unsafe"
    if local is None:
        return "download"
    if entry is None or local != (entry.size, entry.mtime_ns):
        return "keep"
    return "in-sync" if entry.etag == obj.etag else "download"


def unsafe(path: str) -> bool:
    """Whether a remote path cannot name a file of the home: absolute, or with an empty, `.`
    or `..` segment, or a NUL (what an endpoint other than lakestow may hold, or a broken
    one send). (A folder marker's one trailing `/` is its own.)"""
    segments = path.removesuffix("/").split("/")
    return "\0" in path or any(segment in ("", ".", "..") for segment in segments)


def restore(
    home: Path,
    remote: Remote,
    state: State,
    workers: int = 16,
    progress: Progress | None = None,
    as_of: datetime | None = None,
) -> RestoreResult:
    """Bring every remote file into `home` (see the module docstring); record the state.
    Downloads begin with the listing's first page (a large folder's listing is many pages).

    `as_of`: every file as it was at that moment instead (its version then, from the
    warehouse's trash), over what the home holds; see `_as_of`."""
    from concurrent.futures import ThreadPoolExecutor

    _umask()
    home.mkdir(parents=True, exist_ok=True)
    if as_of is not None:
        return _as_of(home, remote, state, as_of, workers, progress)
    known = state.entries()
    result = RestoreResult()
    with ThreadPoolExecutor(workers, thread_name_prefix="lakestow-restore") as pool:
        # the remote .lakestowignore first (one HEAD), so that its rules apply to the rest
        etag = remote.head(IGNORE_FILE)
        if etag is not None:
            first = Downloads(home, remote, state, result, pool)
            first.add(RemoteObject(IGNORE_FILE, 0, etag), known, IgnoreRules())
            first.finish()
        rules = IgnoreRules.for_home(home)
        rest = Downloads(home, remote, state, result, pool, progress, _files(home, rules))
        listed, folders = set(), []
        # a home the state knows nothing of (a new instance's) takes everything: in one
        # answer from lakestow (an archive), else by a listing and a GET per file
        archive = remote.archive() if not known else contextlib.nullcontext(None)
        try:
            with archive as members:
                found: Iterable[tuple[RemoteObject, Archived | None]] = (
                    ((obj, None) for obj in remote.list())
                    if members is None
                    else ((member.obj, member) for member in members)
                )
                for obj, member in found:
                    listed.add(obj.path)
                    if obj.path.endswith("/") and not rules.ignored(obj.path):
                        folders.append(obj)
                    elif obj.path != IGNORE_FILE:
                        rest.add(obj, known, rules, member)
        finally:  # a listing cut short: what was downloaded is still recorded
            rest.finish()
        state.put(_folders(home, folders, result))
    state.remove(p for p in known if p not in listed)
    return result


def _as_of(
    home: Path,
    remote: Remote,
    state: State,
    moment: datetime,
    workers: int,
    progress: Progress | None,
) -> RestoreResult:
    """Each file as it was at `moment`, written over the home's copy (files made since are
    left alone). The next pass makes the restored versions current in the warehouse: each
    one's state entry keeps the ETag of what is current there now, with a size no file has,
    so the pass sees it changed and uploads it (over that version, as an upload of a changed
    file does; a file deleted since is new again)."""
    from concurrent.futures import ThreadPoolExecutor

    result = RestoreResult()
    then = []
    for obj in remote.list_as_of(moment):
        action = restore_action(obj, None, None, False)
        if action == "unsafe":
            result.errors[obj.path] = UNSAFE
        elif action != "skip":
            then.append(obj)
    current = {o.path: o.etag for o in remote.list()}
    known = state.entries()
    todo = []
    for obj in then:  # a file the home holds as it was then needs nothing
        entry, local = known.get(obj.path), _stat(home / obj.path)
        if entry is not None and local == (entry.size, entry.mtime_ns) and entry.etag == obj.etag:
            result.in_sync += 1
        else:
            todo.append(obj)
    with ThreadPoolExecutor(workers, thread_name_prefix="lakestow-restore") as pool:
        downloads = Downloads(home, remote, state, result, pool, progress)
        for obj in todo:
            downloads.submit(obj)
        downloads.finish()
    restored = state.entries()
    state.put(
        Entry(path, -1, -1, current[path])
        for path in result.downloaded
        if path in current and current[path] != restored[path].etag
    )
    state.remove(path for path in result.downloaded if path not in current)
    return result


def _folders(home: Path, markers: list[RemoteObject], result: RestoreResult) -> list[Entry]:
    """Make the directory of each folder marker; their state entries."""
    made = []
    for obj in markers:
        if unsafe(obj.path):
            result.errors[obj.path] = UNSAFE
            continue
        try:
            (home / obj.path).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            result.errors[obj.path] = f"cannot make the folder: {exc.strerror}"
            continue
        made.append(Entry(obj.path, 0, 0, obj.etag))
    return made


class Downloads:
    """Files being downloaded into the home by a thread pool, from the moment they are listed:
    `add` triages a listed object and submits it if it is to be downloaded; `finish` waits
    for all of them, recording each file in the state (200 at a time) and calling
    `progress`. An object that comes with its bytes (an archive's member) is read at once: a
    small one handed to a thread (at most `HELD` bytes of them waiting), a large one written
    here."""

    def __init__(
        self,
        home: Path,
        remote: Remote,
        state: State,
        result: RestoreResult,
        pool: ThreadPoolExecutor,
        progress: Progress | None = None,
        files: dict[str, Local] | None = None,
    ) -> None:
        self.home, self.remote, self.state = home, remote, state
        self.result, self.pool, self.progress = result, pool, progress
        self.files = files  # what the home held (`_files`), or None: stat each
        self.futures: dict[Future[Entry], RemoteObject] = {}  # not yet recorded, in order
        self.recorded = 0
        self.made: set[Path] = set()  # the folders made: the threads share it
        self.pending: list[Entry] = []
        self.held = 0
        self.room = threading.Condition()
        self.lanes: list[ThreadPoolExecutor] = []

    def add(
        self,
        obj: RemoteObject,
        known: dict[str, Entry],
        rules: IgnoreRules,
        member: Archived | None = None,
    ) -> None:
        try:
            local = _stat(self.home / obj.path) if self.files is None else self.files.get(obj.path)
        except OSError as exc:
            self.result.errors[obj.path] = f"cannot restore: {exc.strerror}"
            return
        action = restore_action(obj, local, known.get(obj.path), rules.ignored(obj.path))
        if action == "download" and member is not None:
            self.take(member, replace=local is not None)
        elif action == "download":
            self.submit(obj, replace=local is not None)
        elif action == "unsafe":
            self.result.errors[obj.path] = UNSAFE
        elif action == "keep":
            self.result.kept.append(obj.path)
        elif action == "in-sync":
            self.result.in_sync += 1

    def submit(self, obj: RemoteObject, replace: bool = True) -> None:
        """Download `obj` in a thread; `replace`: over the local file (else none may be
        there: one made since it was looked for is kept)."""
        remote = self.remote

        def fill(fd: int) -> Downloaded:
            return remote.download(obj.path, fd, obj.version_id)

        future = self.pool.submit(_fetch, self.home, obj, self.made, fill, replace)
        self._started(future, obj)

    def take(self, member: Archived, replace: bool = True) -> None:
        """Write an archive's member (whose bytes must be read before the next one's), as
        `submit` does."""
        from concurrent.futures import Future

        obj, size = member.obj, member.obj.size
        if size > WHOLE:
            future: Future[Entry] = Future()
            try:
                future.set_result(_fetch(self.home, obj, self.made, member.write, replace))
            except (SyncError, OSError, Appeared) as exc:
                future.set_exception(exc)
        else:
            with self.room:
                self.room.wait_for(lambda: self.held < HELD)
                self.held += size
            lane = self._lane(obj.path)
            future = lane.submit(_fetch, self.home, obj, self.made, member.write, replace)
            future.add_done_callback(lambda _: self._release(size))  # not the member's bytes
        self._started(future, obj)

    def _lane(self, path: str) -> ThreadPoolExecutor:
        """The one thread that writes the files of `path`'s folder. An archive comes in key
        order, a folder's files one after another; creating files in one folder from several
        threads serializes them on its lock, while files made in different folders at once
        are made in parallel (ext4, 5,000 files in 280 folders: 1.6 s with 2 threads taking
        folders apart, 2.9 s with 2 threads taking files in key order, 3.4 s with one)."""
        from concurrent.futures import ThreadPoolExecutor

        if not self.lanes:
            self.lanes = [
                ThreadPoolExecutor(1, thread_name_prefix="lakestow-restore-lane")
                for _ in range(LANES)
            ]
        return self.lanes[hash(path.rpartition("/")[0]) % LANES]

    def _release(self, size: int) -> None:
        with self.room:
            self.held -= size
            self.room.notify()

    def _started(self, future: Future[Entry], obj: RemoteObject) -> None:
        """Count a download begun; record those done, in the order they began."""
        self.futures[future] = obj
        while self.futures and (first := next(iter(self.futures))).done():
            self._record(first)

    def _record(self, future: Future[Entry]) -> None:
        """Record a finished download: in the state (200 at a time), the result, `progress`."""
        obj = self.futures.pop(future)
        try:
            entry = future.result()
        except Appeared:
            self.result.kept.append(obj.path)
        except (SyncError, OSError) as exc:
            self.result.errors[obj.path] = getattr(exc, "message", None) or str(exc)
        else:
            self.pending.append(entry)
            self.result.downloaded.append(obj.path)
            self.result.bytes += entry.size
        self.recorded += 1
        if len(self.pending) >= 200:
            self.state.put(self.pending)
            self.pending.clear()
        if self.progress:
            self.progress(self.recorded, self.recorded + len(self.futures), self.result.bytes)

    def finish(self) -> None:
        from concurrent.futures import as_completed

        for future in as_completed(list(self.futures)):
            self._record(future)
        self.state.put(self.pending)
        self.pending.clear()
        for lane in self.lanes:
            lane.shutdown()


def _files(home: Path, rules: IgnoreRules) -> dict[str, Local]:
    """Every file and link of the home as a pass's walk sees it (`scan.scan_home`: ignored
    folders not walked, links not followed): what a restore compares the remote copy with,
    read in one walk (a new home holds nothing; a stat per listed file would wait on the
    folders being written to). A file the walk leaves out (unreadable, or made after it) is
    never written over (`_fetch`'s `replace`)."""
    from lakestow.sync.scan import scan_home

    return {path: (f.size, f.mtime_ns) for path, f in scan_home(home, rules).files.items()}


def _stat(path: Path) -> Local | None:
    try:
        st = os.stat(path, follow_symlinks=False)
    except FileNotFoundError:
        return None
    return st.st_size, st.st_mtime_ns


_names = itertools.count()


class Appeared(Exception):
    """A local file was made where a download found none: it is kept, the download dropped."""


def _fetch(home: Path, obj: RemoteObject, made: set[Path], fill: Fill, replace: bool) -> Entry:
    """Download `obj` beside its target (`fill` writes its bytes), give it its mode and mtime
    (or make the link it holds), then put it in place: never through a link, never out of
    the home. `replace`: over the local file; else only where none is (`Appeared` if one was
    made since it was looked for, by the user or a program in the home)."""
    target = home / obj.path
    _folder_for(home, obj.path, made)
    # beside its target, not in one folder for all: creating and renaming files in a single
    # directory serializes the threads on its lock (measured: 25-40% slower on ext4)
    partial = target.parent / f".lakestow-partial-{os.getpid()}-{next(_names)}"
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        try:
            got = fill(fd)
            kept = meta.decode(got.meta)
            if not kept.link:
                _keep(fd, kept)
                st = os.fstat(fd)  # what the state records: the file as the next pass sees it
        finally:
            os.close(fd)
        if kept.link:
            _make_link(home, obj.path, partial, kept)
            st = os.stat(partial, follow_symlinks=False)
        if replace:
            os.replace(partial, target)
        else:  # a second name, which link() refuses to put over a file, then the first goes
            try:
                os.link(partial, target, follow_symlinks=False)
            except FileExistsError:
                raise Appeared(obj.path) from None
            partial.unlink()
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    mode = stat.S_IMODE(st.st_mode)
    return Entry(obj.path, st.st_size, st.st_mtime_ns, got.etag, got.md5, mode)


def _keep(fd: int, kept: meta.FileMeta) -> None:
    """The mode and mtime the object carries (an object without them: the umask's, now)."""
    os.fchmod(fd, kept.mode if kept.mode is not None else 0o666 & ~_umask())
    if kept.mtime_ns is not None:
        os.utime(fd, ns=(kept.mtime_ns, kept.mtime_ns))


def _make_link(home: Path, path: str, partial: Path, kept: meta.FileMeta) -> None:
    """Replace the downloaded `partial` by the link it describes (with its mtime)."""
    data = partial.read_bytes()
    target = os.fsdecode(data)
    if not target or not meta.inside(home, path, target):
        raise SyncError(f"a symlink to {target!r} leaves the home: not restored")
    partial.unlink()
    os.symlink(target, partial)
    if kept.mtime_ns is not None:
        os.utime(partial, ns=(kept.mtime_ns, kept.mtime_ns), follow_symlinks=False)


@functools.cache
def _umask() -> int:
    """The process's umask, read once before any download thread starts (reading it means
    setting it, which must not race a thread creating a file)."""
    umask = os.umask(0o022)
    os.umask(umask)
    return umask


def _folder_for(home: Path, path: str, made: set[Path]) -> None:
    """Make the folders on the way to `path`, refusing to write below one that is a symlink
    (it may lead out of the home). `made`: the folders done already, in this download."""
    folder = (home / path).parent
    if folder in made:
        return
    for part in Path(path).parts[:-1]:
        home = home / part
        if home.is_symlink():
            raise SyncError(f"{part} on the way to {path} is a symlink: not written through")
    folder.mkdir(parents=True, exist_ok=True)
    made.add(folder)
