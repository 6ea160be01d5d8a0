"""One home directory and its remote copy: a sync pass, a restore, the status object.

A pass with nothing to do makes no remote request at all: a stat scan against the state.
The status object (`.lakestow-sync-status.json` at the remote prefix) is written after a restore,
after a pass that changed something or failed, and otherwise every `status_every` seconds (an
instance makes that at most two intervals, so a console can warn after three).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import socket
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from lakestow.sync.apply import PassResult, ReadHook, Tuning, apply_plan
from lakestow.sync.errors import SyncError
from lakestow.sync.ignore import STATE_DIR, STATUS_NAME
from lakestow.sync.plan import Options, Plan, checksum_candidates, make_plan
from lakestow.sync.remote import Remote
from lakestow.sync.restore import Progress, RestoreResult, restore
from lakestow.sync.scan import scan_home
from lakestow.sync.state import State

log = logging.getLogger("lakestow.sync")


@dataclass
class Agent:
    """Syncs `home` one way into `remote`, remembering what it did in the home's state."""

    home: Path
    remote: Remote
    options: Options = Options()  # noqa: RUF009 (frozen)
    tuning: Tuning = Tuning()  # noqa: RUF009 (frozen)
    hook: ReadHook | None = None
    status_every: float = 300.0
    interval: float | None = None

    def __post_init__(self) -> None:
        self.home = self.home.absolute()
        self.lock = _lock(self.home)
        self.state = State.for_home(self.home, self.remote.uri)

    def close(self) -> None:
        """Close the state and release the home's lock."""
        self.state.close()
        self.lock.close()

    def __enter__(self) -> Agent:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def plan(self) -> tuple[Plan, int]:
        """The plan of the next pass, and the number of files scanned."""
        scan = scan_home(self.home)
        if "." in scan.skipped:  # the home itself: never read as "everything was deleted"
            raise SyncError(f"cannot read the home directory {self.home}: {scan.skipped['.']}")
        entries = self.state.entries()
        candidates = checksum_candidates(scan.files, entries, self.options)
        checksums = {p: _md5(self.home / p) for p in candidates}
        return make_plan(scan.files, entries, self.options, checksums), len(scan.files)

    def sync(self) -> PassResult:
        """One pass: scan, plan, apply, status; logs one line."""
        started, before = time.monotonic(), self.remote.requests
        try:
            plan, files = self.plan()
            result = apply_plan(plan, self.home, self.remote, self.state, self.tuning, self.hook)
        except (SyncError, OSError) as exc:
            plan, files, result = Plan(), 0, PassResult(errors={"": str(exc)})
        result.files = files
        self._status(plan, result)
        result.requests = self.remote.requests - before
        result.seconds = time.monotonic() - started
        (log.info if result.ok else log.warning)(result.line())
        return result

    def restore(
        self, progress: Progress | None = None, as_of: datetime | None = None
    ) -> RestoreResult:
        """Replicate the remote copy into the home (as it was at `as_of`, if given); the
        status object then says so."""
        started = datetime.now(UTC)
        result = restore(
            self.home, self.remote, self.state, self.tuning.workers, progress, as_of=as_of
        )
        try:  # uploads a killed agent left open; this home has one agent at a time (the lock)
            self.remote.abort_uploads(started)
        except SyncError as exc:
            result.errors["multipart uploads"] = exc.message
        files = len(self.state.entries())
        self._status(Plan(), PassResult(errors=result.errors, files=files), force=True)
        return result

    def _status(self, plan: Plan, result: PassResult, force: bool = False) -> None:
        now = time.time()
        if result.ok:
            self.state.set_meta("last_success", _iso(now))
        last = float(self.state.get_meta("status_at") or 0)
        if plan.empty and result.ok and now - last < self.status_every and not force:
            return
        try:
            self.remote.put_json(STATUS_NAME, json.dumps(self._document(now, result)).encode())
            self.state.set_meta("status_at", str(now))
        except SyncError as exc:
            result.errors["status"] = exc.message

    def _document(self, now: float, result: PassResult) -> dict[str, Any]:
        return {
            "agent": "lakestow-sync",
            "host": socket.gethostname(),
            "home": str(self.home),
            "last_pass_at": _iso(now),
            "last_success_at": self.state.get_meta("last_success"),
            "ok": result.ok,
            "counts": {
                "files": result.files,
                "uploaded": len(result.uploaded),
                "deleted": len(result.deleted),
                "kept_aside": len(result.conflicts),
                "retry": len(result.retry),
                "errors": len(result.errors),
            },
            "errors": [f"{p}: {e}" if p else e for p, e in list(result.errors.items())[:20]],
            "refused": result.refused,
            "interval_seconds": self.interval,
        }


def _lock(home: Path) -> IO[bytes]:
    """Hold an exclusive lock on the home's state for the agent's lifetime."""
    folder = home / STATE_DIR
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    handle = (folder / "lock").open("ab")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise SyncError(f"another sync agent is running on {home}") from None
    return handle


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _md5(path: Path) -> str:
    with path.open("rb") as fh:
        return hashlib.file_digest(fh, lambda: hashlib.md5(usedforsecurity=False)).hexdigest()
