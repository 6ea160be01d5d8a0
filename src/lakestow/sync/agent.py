"""One home directory and its remote copy: a sync pass, a restore, the status object.

A pass trusts the state: it compares a stat scan of the home with what the agent last synced,
and sends only the differences (the agent is the only writer of its prefix). A pass with
nothing to do makes no remote request at all.

The remote copy is read (listed) only by a reconciling pass, which corrects the state by the
listing and removes what others put in the prefix (`plan.reconcile`): the first pass of a
home, a pass when the last reconciliation is older than `reconcile_every` seconds (an hour by
default; recorded in the state, so this holds across `home sync` processes), and a pass asked
to (`home sync --reconcile`, the final pass of `instance run`). A restore leaves the state
reconciled. Between two reconciliations, a file deleted or rewritten remotely by someone else
is put back when it next changes locally, or by the reconciliation.

The status object (`.lakestow-sync-status.json` at the remote prefix) is written after a restore,
after a pass that changed something or failed, and otherwise every `status_every` seconds (an
instance makes that at most two intervals, so a console can warn after three).
"""

from __future__ import annotations

import fcntl
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from lakestow.sync.errors import SyncError
from lakestow.sync.ignore import STATE_DIR, STATUS_NAME, IgnoreRules
from lakestow.sync.outcome import PassResult, ReadHook, Tuning
from lakestow.sync.plan import Options, Plan, checksum_candidates, make_plan, reconcile
from lakestow.sync.scan import scan_home
from lakestow.sync.state import Entry, State

if TYPE_CHECKING:  # `apply`, `remote` and `restore` load when a pass has work; most have none
    from lakestow.sync.remote import Remote
    from lakestow.sync.restore import Progress, RestoreResult

log = logging.getLogger("lakestow.sync")
RECONCILE_EVERY = 3600.0
"""Seconds between two passes that list the remote copy (see the module docstring)."""


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
    reconcile_every: float = RECONCILE_EVERY

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

    def plan(self, reconciling: bool = False, record: bool = False) -> tuple[Plan, int]:
        """The plan of the next pass, and the number of files scanned. `reconciling`: list
        the remote copy too (`plan.reconcile`); `record`: write the state's corrections."""
        rules = IgnoreRules.for_home(self.home)
        scan = scan_home(self.home, rules)
        if "." in scan.skipped:  # the home itself: never read as "everything was deleted"
            raise SyncError(f"cannot read the home directory {self.home}: {scan.skipped['.']}")
        entries = self.state.entries()
        strays: tuple[Entry, ...] = ()
        if reconciling:
            listed = {o.path: o.etag for o in self.remote.list()}
            corrected, strays = reconcile(scan.files, entries, listed, rules.ignored)
            if record:  # before anything is sent: a pass killed midway starts from the truth
                self.state.remove(p for p in entries if p not in corrected)
                self.state.put(e for p, e in corrected.items() if e != entries[p])
            entries = corrected
        candidates = checksum_candidates(scan.files, entries, self.options)
        checksums = {p: _md5(self.home / p) for p in candidates}
        plan = make_plan(scan.files, entries, self.options, checksums, strays)
        return plan, len(scan.files)

    def reconcile_due(self) -> bool:
        """Whether the next pass must list the remote copy (see the module docstring)."""
        last = self.state.get_meta("reconciled_at")
        return last is None or time.time() - float(last) >= self.reconcile_every

    def sync(self, reconcile: bool = False) -> PassResult:
        """One pass: scan, plan, apply, status; logs one line. `reconcile`: list the remote
        copy whether or not it is due."""
        started, before = time.monotonic(), self.remote.requests
        now = time.time()
        reconciling = reconcile or self.reconcile_due()
        try:
            plan, files = self.plan(reconciling, record=True)
            result = PassResult() if plan.empty else self._apply(plan)
        except (SyncError, OSError) as exc:
            plan, files, result = Plan(), 0, PassResult(errors={"": str(exc)})
        if reconciling and result.ok:
            self.state.set_meta("reconciled_at", str(now))
        result.files = files
        self._status(plan, result)
        result.requests = self.remote.requests - before
        result.seconds = time.monotonic() - started
        (log.info if result.ok else log.warning)(result.line())
        return result

    def _apply(self, plan: Plan) -> PassResult:
        from lakestow.sync.apply import apply_plan

        return apply_plan(plan, self.home, self.remote, self.state, self.tuning, self.hook)

    def restore(
        self, progress: Progress | None = None, as_of: datetime | None = None
    ) -> RestoreResult:
        """Replicate the remote copy into the home (as it was at `as_of`, if given); the
        status object then says so."""
        from lakestow.sync.restore import restore

        started = datetime.now(UTC)
        result = restore(
            self.home, self.remote, self.state, self.tuning.workers, progress, as_of=as_of
        )
        if as_of is None and not result.errors:  # the state is the listing, less local edits
            self.state.set_meta("reconciled_at", str(started.timestamp()))
        try:  # uploads a killed agent left open; this home has one agent at a time (the lock)
            self.remote.abort_uploads(started)
        except SyncError as exc:
            result.errors["multipart uploads"] = exc.message
        files = self.state.count()
        self._status(Plan(), PassResult(errors=result.errors, files=files), force=True)
        return result

    def _status(self, plan: Plan, result: PassResult, force: bool = False) -> None:
        now = time.time()
        if result.ok:
            self.state.succeeded(now)
        last = float(self.state.get_meta("status_at") or 0)
        if plan.empty and result.ok and now - last < self.status_every and not force:
            return
        import json

        try:
            self.remote.put_json(STATUS_NAME, json.dumps(self._document(now, result)).encode())
            self.state.set_meta("status_at", str(now))
        except SyncError as exc:
            result.errors["status"] = exc.message

    def _document(self, now: float, result: PassResult) -> dict[str, Any]:
        import socket

        return {
            "agent": "lakestow-sync",
            "host": socket.gethostname(),
            "home": str(self.home),
            "last_pass_at": _iso(now),
            "last_success_at": _iso_or_none(self.state.last_success())
            or self.state.get_meta("last_success"),  # as a state before 2026-12 kept it
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


def _iso_or_none(t: float | None) -> str | None:
    return None if t is None else _iso(t)


def _md5(path: Path) -> str:
    import hashlib

    with path.open("rb") as fh:
        return hashlib.file_digest(fh, lambda: hashlib.md5(usedforsecurity=False)).hexdigest()
