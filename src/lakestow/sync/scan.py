"""Walk the home directory: every regular file to sync, every empty folder, and what was
skipped and why.

An empty folder (no file to sync and no folder to walk below it) is synced as its S3 folder
marker, `path/` with no bytes, so that a restore recreates it; a folder with content needs
none. Its `LocalFile` has size 0 and mtime 0: a folder's mtime moves with every change inside
it, and the marker's content never changes.

Iterative (os.scandir and a stack), never following a symlink: a link whose target stays in
the home is synced as a link (its target, see `meta`), one that leaves it is recorded as
skipped, so nothing outside the home directory is ever read.
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from lakestow.sync.ignore import IgnoreRules
from lakestow.sync.meta import inside

CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class LocalFile(NamedTuple):
    """A regular file of the home: relative POSIX path, size, mtime in ns, mode; a symbolic
    link (`link`: its size is its target's length); or an empty folder, whose path ends in
    `/`. (A named tuple, as `state.Entry`: a scan makes one per file, 5x faster than a frozen
    dataclass.)"""

    path: str
    size: int
    mtime_ns: int
    mode: int = 0o644
    link: bool = False


@dataclass
class Scan:
    """The result of a walk: files by path, and skipped paths with the reason."""

    files: dict[str, LocalFile] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)


def scan_home(home: Path, rules: IgnoreRules | None = None) -> Scan:
    """Walk `home` applying `rules` (defaults + its .lakestowignore when None).

    The loop is written out (no call per entry but `stat` and the rules' one regex): it runs
    once a file on every pass, and a pass with nothing to do is mostly this walk."""
    rules = rules if rules is not None else IgnoreRules.for_home(home)
    home = Path(os.path.abspath(home))
    result = Scan()
    files, skipped, ignored = result.files, result.skipped, rules.ignored
    stack = [""]
    while stack:
        folder = stack.pop()
        found, waiting = len(files), len(stack)
        try:
            with os.scandir(home / folder if folder else home) as entries:
                for entry in entries:
                    name = entry.name  # the folders above it were checked on the way
                    path = folder + name
                    problem = None if name.isascii() and name.isprintable() else _bad_name(name)
                    if problem:
                        skipped[path] = problem
                    elif entry.is_dir(follow_symlinks=False):
                        if not ignored(path + "/"):
                            stack.append(path + "/")
                    elif entry.is_symlink():
                        if not ignored(path):
                            _add_link(home, entry, path, result)
                    elif not ignored(path):
                        try:
                            st = entry.stat(follow_symlinks=False)
                        except OSError as exc:  # vanished since listed
                            skipped[path] = f"unreadable: {exc.strerror}"
                            continue
                        if stat.S_ISREG(st.st_mode):
                            mode = stat.S_IMODE(st.st_mode)
                            files[path] = LocalFile(path, st.st_size, st.st_mtime_ns, mode)
                        else:
                            skipped[path] = "not a regular file"
        except OSError as exc:
            skipped[folder or "."] = f"unreadable: {exc.strerror}"
            continue
        if folder and len(files) == found and len(stack) == waiting:
            files[folder] = LocalFile(folder, 0, 0, 0o755)
    return result


def is_folder(path: str) -> bool:
    """Whether a path of the scan (or of the state) is an empty folder's marker."""
    return path.endswith("/")


def _add_link(home: Path, entry: os.DirEntry[str], path: str, result: Scan) -> None:
    try:
        target = os.readlink(entry.path)
        st = entry.stat(follow_symlinks=False)
    except OSError as exc:
        result.skipped[path] = f"unreadable: {exc.strerror}"
        return
    if not inside(home, path, target):
        result.skipped[path] = "symlink out of the home (not followed)"
        return
    result.files[path] = LocalFile(path, st.st_size, st.st_mtime_ns, 0o777, link=True)


def _bad_name(name: str) -> str | None:
    """Why a name cannot be part of an S3 key (not UTF-8, control characters), or None.
    (An ASCII name is checked by `isprintable` first: ASCII is printable but for CONTROL.)"""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return "name is not UTF-8"
    return "name has control characters" if CONTROL.search(name) else None
