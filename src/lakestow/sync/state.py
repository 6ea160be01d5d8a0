"""The agent's memory: what it last synced, in `HOME/.lakestow/state.db` (SQLite, WAL).

One row per file in the remote copy as the agent left it: size, mtime_ns and permission bits
of the local file it uploaded or restored, an optional checksum, and the remote ETag. (`mode`
came later: a state from before has none, and a pass then compares size and mtime only.)

The time of the last successful pass is the mtime of an empty file beside the database
(`state.db.success`), set by one utime call: a pass with nothing to do writes nothing to the
database (a write there costs a WAL append, and a checkpoint with its fsyncs at close).
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterable
from pathlib import Path
from typing import NamedTuple

from lakestow.sync.ignore import STATE_DIR

SCHEMA = """
CREATE TABLE IF NOT EXISTS files (
    path TEXT PRIMARY KEY, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL,
    checksum TEXT, etag TEXT NOT NULL, mode INTEGER
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


class Entry(NamedTuple):
    """What the agent knows of one synced file. (A named tuple: a pass reads one per file
    of the home, and a frozen dataclass costs 5x as much to make.)"""

    path: str
    size: int
    mtime_ns: int
    etag: str
    checksum: str | None = None
    mode: int | None = None


class State:
    """The state database of one home directory, tied to one remote URI."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.success = path.with_name(path.name + ".success")
        self.db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(SCHEMA)
        columns = {row[1] for row in self.db.execute("PRAGMA table_info(files)")}
        if "mode" not in columns:  # a state written before modes were kept
            self.db.execute("ALTER TABLE files ADD COLUMN mode INTEGER")

    @classmethod
    def for_home(cls, home: Path, remote_uri: str) -> State:
        """Open the home's state; forget it when it described another remote copy."""
        state = cls(home / STATE_DIR / "state.db")
        if state.get_meta("remote") != remote_uri:
            state.clear()
            state.set_meta("remote", remote_uri)
        return state

    def close(self) -> None:
        self.db.close()

    def entries(self) -> dict[str, Entry]:
        rows = self.db.execute("SELECT path, size, mtime_ns, etag, checksum, mode FROM files")
        make = Entry._make  # tuple.__new__ in C, where Entry(*row) runs a Python __new__
        return {row[0]: make(row) for row in rows}

    def count(self) -> int:
        """How many files the state knows."""
        return int(self.db.execute("SELECT count(*) FROM files").fetchone()[0])

    def put(self, entries: Iterable[Entry]) -> None:
        rows = [(e.path, e.size, e.mtime_ns, e.checksum, e.etag, e.mode) for e in entries]
        with self.db:
            self.db.execute("BEGIN")
            self.db.executemany(
                "INSERT OR REPLACE INTO files (path, size, mtime_ns, checksum, etag, mode)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                rows,
            )

    def remove(self, paths: Iterable[str]) -> None:
        with self.db:
            self.db.execute("BEGIN")
            self.db.executemany("DELETE FROM files WHERE path = ?", [(p,) for p in paths])

    def clear(self) -> None:
        self.db.execute("DELETE FROM files")
        self.success.unlink(missing_ok=True)

    def succeeded(self, at: float) -> None:
        """Record a successful pass at `at` (seconds since the epoch)."""
        try:
            os.utime(self.success, (at, at))
        except FileNotFoundError:
            self.success.touch(mode=0o600)
            os.utime(self.success, (at, at))

    def last_success(self) -> float | None:
        """When the last successful pass was (None: never, or never recorded)."""
        try:
            return os.stat(self.success).st_mtime
        except FileNotFoundError:
            return None

    def get_meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        self.db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))
