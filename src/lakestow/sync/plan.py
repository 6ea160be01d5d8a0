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

A reconciling pass (`reconcile`) also has the remote listing: the state is first corrected by
it (an entry whose object is gone is dropped, so its file is uploaded again; one whose object
was rewritten by someone else is marked changed, so the local file is sent over it, the other
version kept aside by `apply`), and the objects nobody synced from this home (a console
upload, say) are deleted unless the home has a file there, they are ignored, or they are the
agent's own (its status object, the copies it kept aside).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Literal

from lakestow.sync.ignore import STATE_DIR, STATUS_NAME
from lakestow.sync.scan import LocalFile, is_folder
from lakestow.sync.state import Entry

KEPT_ASIDE = re.compile(r"\.remote-conflict-\d{8}T\d{6}Z$")
"""The name of a remote version the agent kept aside (`apply.conflict_name`)."""

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


def reconcile(
    files: Mapping[str, LocalFile],
    state: Mapping[str, Entry],
    remote: Mapping[str, str],
    ignored: Callable[[str], bool],
) -> tuple[dict[str, Entry], tuple[Entry, ...]]:
    """The state corrected by the remote listing (path -> ETag), and the remote objects to
    delete that the state does not know (see the module docstring)."""
    corrected: dict[str, Entry] = {}
    for path, known in state.items():
        etag = remote.get(path)
        if etag is not None:
            corrected[path] = known if etag == known.etag else known._replace(size=-1)
    strays = tuple(
        Entry(path, 0, 0, etag)
        for path, etag in sorted(remote.items())
        if path not in state and path not in files and not _own(path) and not ignored(path)
    )
    return corrected, strays


def _own(path: str) -> bool:
    """The prefix itself, the agent's status object, its state, the versions it kept aside."""
    return (
        not path
        or path == STATUS_NAME
        or path.startswith(STATE_DIR + "/")
        or KEPT_ASIDE.search(path) is not None
    )


def make_plan(
    files: Mapping[str, LocalFile],
    state: Mapping[str, Entry],
    options: Options = Options(),
    checksums: Mapping[str, str] | None = None,
    strays: tuple[Entry, ...] = (),
) -> Plan:
    """The plan for one pass; `checksums` holds the hashes of `checksum_candidates`, `strays`
    the remote objects a reconciling pass found that the state does not know (`reconcile`)."""
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
    deletes = tuple(state[p] for p in sorted(state) if p not in files) + strays
    remote_files = sum(1 for p in [*state, *(e.path for e in strays)] if not is_folder(p))
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
