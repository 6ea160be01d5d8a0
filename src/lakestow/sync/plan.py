"""What a pass must do, decided without any I/O (STYLE convention 9).

From the local scan and the state (the remote copy as the agent left it):
- uploads: files that are new, or changed by size, mtime or permission bits (or, with
  `checksum`, by content). A change of the permission bits alone (same size and mtime), or
  with `checksum` of the mtime alone (same content), is a `meta` upload: the remote object's
  metadata is replaced in place (a copy onto itself), its bytes are not sent again. A file of
  the same size whose mtime moved may also turn out to be unchanged (`apply` hashes a large
  one before sending it: `Upload.checksum`);
- deletes: files in the state that are gone locally (or now ignored);
- refused: why the delete guard refused the plan (more than half of the remote copy deleted).

Empty folders (paths ending in `/`, see `scan`) are planned like files, but the delete guard
counts files only: a folder marker holds no data, and goes whenever its folder fills up.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Literal

from lakestow.sync.scan import LocalFile, is_folder
from lakestow.sync.state import Entry

Reason = Literal["new", "changed", "meta"]


@dataclass(frozen=True)
class Options:
    """How a pass decides: `force` overrides the delete guard; `checksum` compares content."""

    force: bool = False
    checksum: bool = False


@dataclass(frozen=True)
class Upload:
    """A file to upload; `etag` is the remote version it replaces (None: a new file);
    `checksum` the MD5 of the content last synced when the size is the same (a file whose
    mtime alone moved may hold the same bytes)."""

    file: LocalFile
    etag: str | None
    reason: Reason
    checksum: str | None = None


@dataclass(frozen=True)
class Plan:
    """Everything one pass would change, and whether the guard refused it."""

    uploads: tuple[Upload, ...] = ()
    deletes: tuple[Entry, ...] = ()
    remote_count: int = 0  # files in the remote copy (folder markers not counted)
    refused: str | None = None
    checksums: Mapping[str, str] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        """True when the pass needs no remote request at all."""
        return not self.uploads and not self.deletes

    def summary(self) -> str:
        new = sum(1 for u in self.uploads if u.reason == "new")
        return (
            f"{new} new, {len(self.uploads) - new} changed, {len(self.deletes)} deleted"
            f" (remote copy: {self.remote_count} files)"
        )


def checksum_candidates(
    files: Mapping[str, LocalFile], state: Mapping[str, Entry], options: Options
) -> list[str]:
    """Files whose content must be hashed before planning (same size as last synced)."""
    if not options.checksum:
        return []
    return sorted(
        path
        for path, f in files.items()
        if path in state and state[path].size == f.size and state[path].checksum is not None
    )


def make_plan(
    files: Mapping[str, LocalFile],
    state: Mapping[str, Entry],
    options: Options = Options(),
    checksums: Mapping[str, str] | None = None,
) -> Plan:
    """The plan for one pass; `checksums` holds the hashes of `checksum_candidates`."""
    checksums = checksums or {}
    uploads: list[Upload] = []
    for path in sorted(files):
        f, known = files[path], state.get(path)
        if known is None:
            uploads.append(Upload(f, None, "new"))
        elif path in checksums and options.checksum:
            if checksums[path] != known.checksum:
                uploads.append(Upload(f, known.etag, "changed"))
            elif known.mtime_ns != f.mtime_ns or _chmod(known, f):
                uploads.append(Upload(f, known.etag, "meta", known.checksum))
        elif known.size != f.size:
            uploads.append(Upload(f, known.etag, "changed"))
        elif known.mtime_ns != f.mtime_ns:
            uploads.append(Upload(f, known.etag, "changed", known.checksum))
        elif _chmod(known, f):
            uploads.append(Upload(f, known.etag, "meta", known.checksum))
    deletes = tuple(state[p] for p in sorted(state) if p not in files)
    remote_files = sum(1 for p in state if not is_folder(p))
    plan = Plan(tuple(uploads), deletes, remote_files, None, dict(checksums))
    return replace(plan, refused=guard(plan, options))


def _chmod(known: Entry, f: LocalFile) -> bool:
    """Whether the permission bits changed since the last sync (a folder has none to keep)."""
    return known.mode is not None and not is_folder(f.path) and known.mode != f.mode


def guard(plan: Plan, options: Options) -> str | None:
    """Why the plan is refused: it deletes more than half of the remote files, unforced."""
    deleted = sum(1 for e in plan.deletes if not is_folder(e.path))
    if options.force or 2 * deleted <= plan.remote_count:
        return None
    return (
        f"refused: the pass would delete {deleted} of the {plan.remote_count} files"
        " of the remote copy (is the home directory mounted?); use --force to allow it"
    )
