"""Carry out a plan against the remote copy: many files at once, large ones in parts.

A file is committed only when it was the same (size, mtime) before, during and after it was
read; otherwise the upload is dropped (multipart aborted, state untouched) and retried next pass.
An empty folder is uploaded as its zero-byte marker `path/`, and deleted like a file; a
symbolic link as a small object holding its target. Each file carries its mtime and mode
(and a link its marker) as user metadata (`meta`).
Every commit is conditional (If-Match the ETag last synced, or If-None-Match: * for a new file):
on 412 the remote version, when it differs, is first copied aside as
`NAME.remote-conflict-<UTC time>`, then overwritten.
A file whose bytes did not change (a chmod alone; an mtime alone, known by `checksum` or, for a
file above the multipart threshold, by hashing it first) keeps its remote bytes: its metadata
is replaced by a copy of the object onto itself (If-Match the ETag last synced; refused, the
file is sent whole as any changed file).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from lakestow.sync import meta
from lakestow.sync.errors import NotFound, PreconditionFailed, SyncError
from lakestow.sync.outcome import PassResult, ReadHook, Tuning
from lakestow.sync.plan import Plan, Upload
from lakestow.sync.remote import Remote
from lakestow.sync.scan import LocalFile, is_folder
from lakestow.sync.state import Entry, State

if TYPE_CHECKING:
    from concurrent.futures import Future

MAX_PARTS = 10_000
EMPTY_MD5 = "d41d8cd98f00b204e9800998ecf8427e"  # of no bytes


class Changed(Exception):
    """The file changed while it was being read: not committed, retried next pass."""


@dataclass(frozen=True)
class Outcome:
    entry: Entry
    conflict: str | None
    touched: bool = False  # the metadata alone was updated


def conflict_name(path: str, now: datetime | None = None) -> str:
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    return f"{path}.remote-conflict-{stamp}"


def apply_plan(
    plan: Plan,
    home: Path,
    remote: Remote,
    state: State,
    tuning: Tuning = Tuning(),  # noqa: B008 (frozen)
    hook: ReadHook | None = None,
) -> PassResult:
    """Execute `plan`; the state records each commit as soon as it is done."""
    result = PassResult(refused=plan.refused)
    if plan.refused:
        return result
    _uploads(plan, home, remote, state, tuning, hook, result)
    _deletes(plan, remote, state, tuning, result)
    return result


def _uploads(
    plan: Plan,
    home: Path,
    remote: Remote,
    state: State,
    tuning: Tuning,
    hook: ReadHook | None,
    result: PassResult,
) -> None:
    if not plan.uploads:
        return
    from concurrent.futures import ThreadPoolExecutor, as_completed  # a pass with work only

    order = sorted(plan.uploads, key=lambda u: -u.file.size)
    with ThreadPoolExecutor(tuning.workers, thread_name_prefix="lakestow-sync") as pool:
        futures = {pool.submit(upload, remote, home, u, tuning, hook): u for u in order}
        pending: list[Entry] = []
        for future in as_completed(futures):
            entry = _collect(future, futures[future].file.path, result)
            if entry is not None:
                pending.append(entry)
            if len(pending) >= 200:
                state.put(pending)
                pending.clear()
        state.put(pending)


def _collect(future: Future[Outcome], path: str, result: PassResult) -> Entry | None:
    try:
        outcome = future.result()
    except (Changed, FileNotFoundError):
        result.retry.append(path)
        return None
    except SyncError as exc:
        result.errors[path] = exc.message
        return None
    except OSError as exc:
        result.errors[path] = f"cannot read: {exc.strerror or exc}"
        return None
    result.uploaded.append(path)
    if outcome.touched:
        result.touched.append(path)
    if outcome.conflict:
        result.conflicts.append(outcome.conflict)
    return outcome.entry


def _deletes(plan: Plan, remote: Remote, state: State, tuning: Tuning, result: PassResult) -> None:
    """Delete file by file; a remote version changed since the last pass is first kept aside."""
    if not plan.deletes:
        return
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(tuning.workers, thread_name_prefix="lakestow-sync") as pool:
        gone = list(pool.map(lambda e: _delete(remote, e, result), plan.deletes))
    done = [e.path for e, ok in zip(plan.deletes, gone, strict=True) if ok]
    state.remove(done)
    result.deleted.extend(done)


def _delete(remote: Remote, entry: Entry, result: PassResult) -> bool:
    """Whether the remote copy of `entry` is gone (an error keeps it for the next pass).

    One request when nobody else touched it: DELETE with If-Match the ETag last synced. A
    refusal (412: someone rewrote it) is the rare case: the version found (HEAD) is kept
    aside, then deleted with If-Match that version, so a version written in between is
    refused again and checked next pass. lakestow, AWS S3 and moto honour If-Match on
    DeleteObject; an endpoint that ignores it deletes whatever version is there, as a plain
    DELETE would.
    """
    try:
        try:
            remote.delete_one(entry.path, if_match=entry.etag)
            return True
        except PreconditionFailed:
            current = remote.head(entry.path)
        if current is None:
            return True
        aside = conflict_name(entry.path)
        remote.copy(entry.path, aside, if_match=current)
        result.conflicts.append(aside)
        remote.delete_one(entry.path, if_match=current)
        return True
    except NotFound:  # deleted by someone else in between
        return True
    except PreconditionFailed:  # rewritten in between: kept, and checked again next pass
        result.retry.append(entry.path)
        return False
    except SyncError as exc:
        result.errors[entry.path] = exc.message
        return False


def upload(
    remote: Remote, home: Path, item: Upload, tuning: Tuning, hook: ReadHook | None = None
) -> Outcome:
    """Upload one file if it stays the same while read; the state entry to record."""
    f = item.file
    if is_folder(f.path):
        return _marker(remote, item)
    if f.link:
        return _link(remote, home, item)
    if item.reason == "meta" or _same_bytes(home, item, tuning):
        try:
            return _retag(remote, home, item)
        except (PreconditionFailed, NotFound):  # rewritten or gone remotely: sent whole
            pass
    kept = meta.encode(f.mode, f.mtime_ns)
    with (home / f.path).open("rb") as fh:
        _same(os.fstat(fh.fileno()), f)
        if f.size <= tuning.multipart_threshold:
            data = fh.read()
            if hook:
                hook(f.path, len(data))
            _unchanged(home, fh, f)
            return _whole(remote, item, data, kept)
        return _multipart(remote, home, item, fh, tuning, hook)


def _same_bytes(home: Path, item: Upload, tuning: Tuning) -> bool:
    """Whether a large file whose mtime alone moved holds the bytes last synced: hashing it
    costs a read, sending it a read and its whole size over the network."""
    f = item.file
    if item.reason != "changed" or item.checksum is None or f.size <= tuning.multipart_threshold:
        return False
    import hashlib

    with (home / f.path).open("rb") as fh:
        _same(os.fstat(fh.fileno()), f)
        digest = hashlib.file_digest(fh, _md5)
        _unchanged(home, fh, f)
    return digest.hexdigest() == item.checksum


def _retag(remote: Remote, home: Path, item: Upload) -> Outcome:
    """Replace the object's metadata (mode, mtime) in place, its bytes kept."""
    f = item.file
    _same(os.stat(home / f.path, follow_symlinks=False), f)
    if item.etag is None:
        raise NotFound("NoSuchKey", f.path)
    etag = remote.replace_meta(f.path, meta.encode(f.mode, f.mtime_ns), if_match=item.etag)
    entry = Entry(f.path, f.size, f.mtime_ns, etag, item.checksum, f.mode)
    return Outcome(entry, None, touched=True)


def _whole(remote: Remote, item: Upload, data: bytes, kept: dict[str, str]) -> Outcome:
    """One PUT of `data` (a small file's content, a link's target) with its metadata."""
    f = item.file
    md5 = _md5(data).hexdigest()
    put = lambda c: remote.put(f.path, data, meta=kept, **c)  # noqa: E731
    etag, conflict = _commit(remote, item, md5, put)
    return Outcome(Entry(f.path, f.size, f.mtime_ns, etag, md5, f.mode), conflict)


def _link(remote: Remote, home: Path, item: Upload) -> Outcome:
    """A symbolic link, never followed: its target, if the link is still the one scanned."""
    f = item.file
    target = os.readlink(home / f.path)
    _same(os.stat(home / f.path, follow_symlinks=False), f)
    data = os.fsencode(target)
    return _whole(remote, item, data, meta.encode(f.mode, f.mtime_ns, link=True))


def _marker(remote: Remote, item: Upload) -> Outcome:
    """An empty folder's marker. Should the folder fill up or go before it is committed, the
    next pass sees that and deletes the marker."""
    path = item.file.path
    etag, conflict = _commit(remote, item, EMPTY_MD5, lambda c: remote.put(path, b"", **c))
    return Outcome(Entry(path, 0, 0, etag), conflict)


def _multipart(
    remote: Remote,
    home: Path,
    item: Upload,
    fh: BinaryIO,
    tuning: Tuning,
    hook: ReadHook | None,
) -> Outcome:
    f = item.file
    upload_id = remote.start_upload(f.path, meta.encode(f.mode, f.mtime_ns))
    completed = False
    try:
        etags: list[str] = []
        digests: list[bytes] = []
        whole, done = _md5(), 0
        part_size = max(tuning.part_size, -(-f.size // MAX_PARTS))
        while data := fh.read(part_size):
            done += len(data)
            if hook:
                hook(f.path, done)
            _same(os.fstat(fh.fileno()), f)
            whole.update(data)
            digests.append(_md5(data).digest())
            etags.append(remote.put_part(f.path, upload_id, len(etags) + 1, data, digests[-1]))
        _unchanged(home, fh, f)
        local = _md5(b"".join(digests)).hexdigest()
        local += f"-{len(digests)}"

        def send(condition: dict[str, Any]) -> str:
            nonlocal completed
            etag = remote.complete(f.path, upload_id, etags, **condition)
            completed = True
            return etag

        etag, conflict = _commit(remote, item, local, send)
        entry = Entry(f.path, f.size, f.mtime_ns, etag, whole.hexdigest(), f.mode)
        return Outcome(entry, conflict)
    finally:
        if not completed:
            remote.abort(f.path, upload_id)


def _commit(
    remote: Remote, item: Upload, local_etag: str, send: Callable[[dict[str, Any]], str]
) -> tuple[str, str | None]:
    """Send conditionally; on 412 keep the differing remote version aside, then overwrite."""
    path = item.file.path
    try:
        return send({"if_match": item.etag} if item.etag else {"new": True}), None
    except (PreconditionFailed, NotFound):  # S3 answers 404 to If-Match on a deleted key
        current = remote.head(path)
    if current == local_etag:  # already there, e.g. uploaded by a pass that was killed
        return current, None
    if current is None:
        return send({"new": True}), None
    aside = conflict_name(path)
    remote.copy(path, aside, if_match=current)
    return send({"if_match": current}), aside


def _md5(data: bytes = b"") -> Any:
    """A new MD5; hashlib is imported by a pass with work only (its OpenSSL costs 8 ms)."""
    import hashlib

    return hashlib.md5(data, usedforsecurity=False)


def _same(st: os.stat_result, f: LocalFile) -> None:
    if st.st_size != f.size or st.st_mtime_ns != f.mtime_ns:
        raise Changed(f.path)


def _unchanged(home: Path, fh: BinaryIO, f: LocalFile) -> None:
    """Raise Changed unless the open file and the path still show the scanned size and mtime."""
    _same(os.fstat(fh.fileno()), f)
    _same(os.stat(home / f.path, follow_symlinks=False), f)
