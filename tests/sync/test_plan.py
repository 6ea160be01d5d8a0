"""The plan is pure: unit tests and properties, no server, no files."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from lakestow.sync.plan import Options, checksum_candidates, make_plan, reconcile
from lakestow.sync.remote import RemoteObject
from lakestow.sync.restore import restore_action
from lakestow.sync.scan import LocalFile
from lakestow.sync.state import Entry


def local(path: str, size: int = 1, mtime: int = 1, mode: int = 0o644) -> LocalFile:
    return LocalFile(path, size, mtime, mode)


def entry(
    path: str, size: int = 1, mtime: int = 1, checksum: str | None = None, mode: int | None = None
) -> Entry:
    return Entry(path, size, mtime, f"etag-{path}", checksum, mode)


def test_new_changed_unchanged_deleted() -> None:
    files = {f.path: f for f in [local("new"), local("same"), local("size", 2), local("mt", 1, 9)]}
    state = {e.path: e for e in [entry("same"), entry("size"), entry("mt"), entry("gone")]}
    plan = make_plan(files, state)
    assert [(u.file.path, u.reason, u.etag) for u in plan.uploads] == [
        ("mt", "changed", "etag-mt"),
        ("new", "new", None),
        ("size", "changed", "etag-size"),
    ]
    assert [e.path for e in plan.deletes] == ["gone"]
    assert plan.refused is None and plan.remote_count == 4 and not plan.empty


def test_nothing_changed_is_empty() -> None:
    plan = make_plan({"a": local("a")}, {"a": entry("a")})
    assert plan.empty and plan.refused is None


def test_guard_refuses_more_than_half() -> None:
    state = {f"f{i}": entry(f"f{i}") for i in range(10)}
    keep = {f"f{i}": local(f"f{i}") for i in range(5)}
    assert make_plan(keep, state).refused is None  # exactly half
    fewer = dict(list(keep.items())[:4])
    refused = make_plan(fewer, state)
    assert refused.refused and "6 of the 10" in refused.refused
    assert make_plan(fewer, state, Options(force=True)).refused is None


def test_wiped_home_is_refused() -> None:
    assert make_plan({}, {"a": entry("a")}).refused
    assert make_plan({}, {}).refused is None


def test_checksum_mode_uploads_same_size_different_content_and_retags_an_mtime() -> None:
    files = {"a": local("a", 1, 5), "b": local("b", 1, 5), "c": local("c", 2, 5)}
    state = {p: entry(p, 1, 1, checksum=f"sum-{p}") for p in files}
    options = Options(checksum=True)
    assert checksum_candidates(files, state, options) == ["a", "b"]
    assert checksum_candidates(files, state, Options()) == []
    plan = make_plan(files, state, options, {"a": "sum-a", "b": "other"})
    assert [(u.file.path, u.reason) for u in plan.uploads] == [
        ("a", "meta"),  # same content, new mtime: the remote metadata follows
        ("b", "changed"),
        ("c", "changed"),
    ]


def test_a_chmod_alone_is_a_metadata_update_and_an_mtime_alone_may_be() -> None:
    files = {"x": local("x", 1, 1, mode=0o755), "y": local("y", 1, 9), "z": local("z", 2, 9)}
    state = {p: entry(p, 1, 1, checksum=f"sum-{p}", mode=0o644) for p in files}
    plan = make_plan(files, state)
    assert [(u.file.path, u.reason, u.checksum) for u in plan.uploads] == [
        ("x", "meta", "sum-x"),
        ("y", "changed", "sum-y"),  # same size: apply may find the same bytes
        ("z", "changed", None),
    ]


paths = st.text(alphabet="abc/", min_size=1, max_size=4)
files_st = st.dictionaries(paths, st.tuples(st.integers(0, 3), st.integers(0, 3)), max_size=12)


@given(files_st, files_st, st.booleans())
def test_plan_properties(local_files: dict, known: dict, force: bool) -> None:  # type: ignore[type-arg]
    files = {p: local(p, s, m) for p, (s, m) in local_files.items()}
    state = {p: entry(p, s, m) for p, (s, m) in known.items()}
    plan = make_plan(files, state, Options(force=force))
    uploaded = {u.file.path for u in plan.uploads}
    deleted = {e.path for e in plan.deletes}
    assert uploaded <= set(files) and deleted == set(state) - set(files)
    assert not uploaded & deleted
    for path in set(files) - uploaded:  # what is not uploaded is exactly what is in sync
        assert (state[path].size, state[path].mtime_ns) == (files[path].size, files[path].mtime_ns)
    assert all((u.etag is None) == (u.file.path not in state) for u in plan.uploads)
    deleted_files = [p for p in deleted if not p.endswith("/")]  # markers of empty folders
    state_files = [p for p in state if not p.endswith("/")]  # are not counted by the guard
    assert (plan.refused is not None) == (not force and 2 * len(deleted_files) > len(state_files))
    # applying the plan to the state makes the next plan empty
    after = {p: e for p, e in state.items() if p not in deleted}
    after.update({p: entry(p, files[p].size, files[p].mtime_ns) for p in uploaded})
    assert make_plan(files, after).empty


def stat(size: int, mtime: int) -> tuple[int, int]:
    """A local file as a restore compares it (`restore.Local`)."""
    return size, mtime


def test_restore_actions() -> None:
    obj = RemoteObject("a", 1, "e1")
    assert restore_action(obj, None, None) == "download"
    assert restore_action(obj, stat(1, 1), None) == "keep"  # unknown local file: local wins
    assert restore_action(obj, stat(1, 1), Entry("a", 1, 1, "e1")) == "in-sync"
    assert restore_action(obj, stat(1, 1), Entry("a", 1, 1, "e0")) == "download"  # remote newer
    assert restore_action(obj, stat(1, 2), Entry("a", 1, 1, "e0")) == "keep"  # local edit
    for path in ("dir/", ".lakestow-sync-status.json", ".lakestow/state.db"):
        assert restore_action(RemoteObject(path, 0, "e"), None, None) == "skip"
    assert restore_action(obj, None, None, ignored=True) == "skip"


def test_guard_counts_files_not_folder_markers() -> None:
    state = {e.path: e for e in [entry("a"), entry("b"), entry("x/", 0, 0), entry("y/", 0, 0)]}
    files = {"a": local("a"), "b": local("b"), "x/new": local("x/new")}  # x/ filled, y/ gone
    plan = make_plan(files, state)
    assert plan.refused is None and plan.remote_count == 2
    assert [e.path for e in plan.deletes] == ["x/", "y/"]
    wiped = make_plan({}, state)
    assert wiped.refused is not None and "delete 2 of the 2 files" in wiped.refused


def test_reconcile_corrects_the_state_and_finds_strays() -> None:
    files = {p: local(p) for p in ["same", "gone", "rewritten", "local-only"]}
    state = {p: entry(p) for p in ["same", "gone", "rewritten", "deleted-here"]}
    remote = {
        "same": "etag-same",
        "rewritten": "theirs",
        "deleted-here": "etag-deleted-here",
        "stray": "s",
        "local-only": "l",  # a new local file there: uploaded over it, not deleted
        "x.pyc": "i",
        "a.remote-conflict-20261203T101010Z": "k",
        ".lakestow-sync-status.json": "j",
        "": "prefix",
    }
    corrected, strays = reconcile(files, state, remote, lambda p: p.endswith(".pyc"))
    assert corrected == {
        "same": state["same"],
        "rewritten": state["rewritten"]._replace(size=-1),
        "deleted-here": state["deleted-here"],
    }
    assert strays == (Entry("stray", 0, 0, "s"),)
    plan = make_plan(files, corrected, Options(), None, strays)
    assert [(u.file.path, u.reason, u.etag) for u in plan.uploads] == [
        ("gone", "new", None),
        ("local-only", "new", None),
        ("rewritten", "changed", "etag-rewritten"),
    ]
    assert [e.path for e in plan.deletes] == ["deleted-here", "stray"]
    assert plan.remote_count == 4


def test_strays_count_for_the_delete_guard() -> None:
    strays = tuple(Entry(f"f{i}", 1, 1, "e") for i in range(4))
    assert make_plan({}, {}, Options(), None, strays).refused
