"""Empty folders against a real lakestow server: synced as zero-byte folder markers, restored
as directories, and the marker deleted once the folder fills up or goes."""

from __future__ import annotations

import shutil
from pathlib import Path

from lakestow.sync.scan import scan_home
from sync.conftest import BUCKET, Home
from sync.test_pass import write

STATUS = ".lakestow-sync-status.json"


def remote_tree(member: Home) -> dict[str, bytes]:
    found = member.objects()
    found.pop(STATUS, None)
    return found


def folders(home: Path) -> set[str]:
    """Every directory below `home` but the agent's own, as `path/`."""
    found = {p.relative_to(home).as_posix() + "/" for p in home.rglob("*") if p.is_dir()}
    return {p for p in found if not p.startswith(".lakestow/")}


def test_scan_lists_only_empty_folders(tmp_path: Path) -> None:
    write(tmp_path, {"full/a.txt": b"a", "cache-only/__pycache__/m.pyc": b"x"})
    for folder in ("empty", "nested/deeper", "full/inner"):
        (tmp_path / folder).mkdir(parents=True)
    scan = scan_home(tmp_path)
    markers = {p: (f.size, f.mtime_ns) for p, f in scan.files.items() if p.endswith("/")}
    assert markers == {
        "empty/": (0, 0),
        "nested/deeper/": (0, 0),  # nested/ holds a folder: no marker of its own
        "full/inner/": (0, 0),
        "cache-only/": (0, 0),  # only ignored content: empty as far as the warehouse goes
    }


def test_empty_folders_are_mirrored_and_restored(member: Home, tmp_path: Path) -> None:
    home = tmp_path / "home"
    write(home, {"full/a.txt": b"a", "cache-only/__pycache__/m.pyc": b"x"})
    for folder in ("empty", "nested/deeper"):
        (home / folder).mkdir(parents=True)
    with member.agent(home) as agent:
        first = agent.sync()
        assert first.ok and sorted(first.uploaded) == [
            "cache-only/",
            "empty/",
            "full/a.txt",
            "nested/deeper/",
        ]
        assert agent.sync().requests == 0
    assert remote_tree(member) == {
        "full/a.txt": b"a",
        "empty/": b"",
        "nested/deeper/": b"",
        "cache-only/": b"",
    }

    target = tmp_path / "target"
    with member.agent(target) as restoring:
        restored = restoring.restore()
        assert not restored.errors and restored.downloaded == ["full/a.txt"]
        expected = {"full/", "empty/", "nested/", "nested/deeper/", "cache-only/"}
        assert folders(target) == expected
        idle = restoring.sync()  # the markers were recorded: nothing to do
        assert idle.ok and idle.requests == 0


def test_marker_goes_when_the_folder_fills_up_or_goes(member: Home, tmp_path: Path) -> None:
    for folder in ("fills", "goes", "empties"):
        (tmp_path / folder).mkdir()
    write(tmp_path, {"empties/only.txt": b"1", "stays.txt": b"2"})
    with member.agent(tmp_path) as agent:
        assert agent.sync().ok
        assert set(remote_tree(member)) == {"fills/", "goes/", "empties/only.txt", "stays.txt"}

        write(tmp_path, {"fills/new.txt": b"new"})
        shutil.rmtree(tmp_path / "goes")
        (tmp_path / "empties" / "only.txt").unlink()
        result = agent.sync()
        assert result.ok and sorted(result.uploaded) == ["empties/", "fills/new.txt"]
        assert sorted(result.deleted) == ["empties/only.txt", "fills/", "goes/"]
        assert remote_tree(member) == {
            "fills/new.txt": b"new",
            "empties/": b"",
            "stays.txt": b"2",
        }
        assert agent.sync().requests == 0


def test_marker_made_elsewhere_is_adopted(member: Home, tmp_path: Path) -> None:
    """A marker the console made for the same empty folder is not a conflict."""
    member.client().put_object(Bucket=BUCKET, Key=member.prefix + "made/", Body=b"")
    (tmp_path / "made").mkdir()
    with member.agent(tmp_path) as agent:
        result = agent.sync()
        assert result.ok and result.uploaded == ["made/"] and not result.conflicts
    assert remote_tree(member) == {"made/": b""}
