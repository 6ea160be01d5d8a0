"""Scan, ignore rules and instance helpers: local only, no server."""

from __future__ import annotations

import os
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from lakestow.sync.ignore import DEFAULT_RULES, DEFAULT_UNION, IgnoreRules, union
from lakestow.sync.instance import (
    ChildSettings,
    aws_config_text,
    child_environment,
    exit_status,
    instance_paths,
)
from lakestow.sync.scan import scan_home


def test_default_ignores() -> None:
    rules = IgnoreRules()
    for path in [
        "__pycache__/",
        "a/__pycache__/",
        "x.pyc",
        "a/b.pyc",
        ".ipynb_checkpoints/",
        "nb/.ipynb_checkpoints/",
        ".cache/",
        ".local/share/jupyter/runtime/",
        ".lakestow/",
        ".lakestow-sync-status.json",
        "web/node_modules/",
        "a/.lakestow-partial-12-3",  # a download a killed restore left
    ]:
        assert rules.ignored(path), path
    for path in ["a.py", "cache/", ".local/share/jupyter/kernels/", "sub/.lakestow/"]:
        assert not rules.ignored(path), path


def test_lakestowignore_adds_and_reincludes(tmp_path: Path) -> None:
    (tmp_path / ".lakestowignore").write_text("# data\n*.parquet\n!node_modules/\n/top.txt\n")
    rules = IgnoreRules.for_home(tmp_path)
    assert rules.ignored("a/b.parquet") and rules.ignored("top.txt")
    assert not rules.ignored("sub/top.txt") and not rules.ignored("node_modules/")


def test_scan_records_files_and_links_in_the_home_only(tmp_path: Path) -> None:
    (tmp_path / "d" / "e").mkdir(parents=True)
    (tmp_path / "d" / "e" / "f.txt").write_bytes(b"12345")
    (tmp_path / "d" / "__pycache__").mkdir()
    (tmp_path / "d" / "__pycache__" / "x.pyc").write_bytes(b"x")
    (tmp_path / "out").symlink_to("/etc")
    (tmp_path / "d" / "up").symlink_to("../../x")
    (tmp_path / "loop").symlink_to(tmp_path)
    (tmp_path / "d" / "near").symlink_to("e/f.txt")
    scan = scan_home(tmp_path)
    assert sorted(scan.files) == ["d/e/f.txt", "d/near", "loop"]
    f = scan.files["d/e/f.txt"]
    assert f.size == 5 and f.mtime_ns == (tmp_path / "d/e/f.txt").stat().st_mtime_ns
    assert not f.link and scan.files["d/near"].link and scan.files["loop"].link
    assert scan.files["d/near"].size == len("e/f.txt")
    outside = "symlink out of the home (not followed)"
    assert scan.skipped == {"out": outside, "d/up": outside}


def test_instance_paths() -> None:
    assert instance_paths("s3://lakestow/acme/notebooks/customer-7/") == {
        "USER_S3_PATH": "s3://lakestow/acme/data/customer-7/",
        "USER_S3_SHARED_PATH": "s3://lakestow/acme/data/shared/",
        "USER_WAREHOUSE_PATH": "s3://lakestow/acme/data/customer-7/warehouse/",
    }
    assert instance_paths("s3://b/notebooks/customer-1/")["USER_S3_PATH"] == (
        "s3://b/data/customer-1/"
    )
    assert instance_paths("s3://b/elsewhere/") == {}


def test_child_environment_and_config(tmp_path: Path) -> None:
    child = ChildSettings("http://127.0.0.1:9000", "eu-west-1", "lakestow aws-credentials")
    base = {"PATH": "/bin", "AWS_ACCESS_KEY_ID": "AKIA", "AWS_PROFILE": "x", "HOME": "/root"}
    config = tmp_path / ".lakestow" / "aws-config"
    env = child_environment(base, tmp_path, "s3://b/p/notebooks/customer-2/", child, config)
    assert "AWS_ACCESS_KEY_ID" not in env and "AWS_PROFILE" not in env
    assert env["HOME"] == str(tmp_path) and env["AWS_CONFIG_FILE"] == str(config)
    assert env["USER_S3_PATH"] == "s3://b/p/data/customer-2/" and env["PATH"] == "/bin"
    assert env["AWS_ENDPOINT_URL"] == "http://127.0.0.1:9000"
    text = aws_config_text(child)
    assert "credential_process = lakestow aws-credentials" in text
    assert "endpoint_url = http://127.0.0.1:9000" in text and "region = eu-west-1" in text


def test_exit_status() -> None:
    assert exit_status(0) == 0 and exit_status(3) == 3 and exit_status(-15) == 143


NAMES = ["a", "b.pyc", "node_modules", ".cache", "x y", ".lakestow", "top", "data", "raw", "tmp"]
NAMES += ["k.parquet", ".local", "share", "jupyter", "runtime", ".Trash-1", "__pycache__"]


@given(
    st.lists(st.sampled_from(NAMES), min_size=1, max_size=4),
    st.booleans(),
)
def test_the_one_regex_decides_as_pathspec_does(parts: list[str], folder: bool) -> None:
    """The rules asked as one regex (no `!` rule) answer as pathspec's loop over them."""
    path = "/".join(parts) + ("/" if folder else "")
    for extra in ([], ["*.parquet", "/top/", "data/raw/", "**/tmp"]):
        rules = IgnoreRules(extra)
        assert rules.union is not None
        assert rules.ignored(path) == rules.spec.match_file(path), path


def test_the_defaults_regex_is_pathspecs() -> None:
    """Written out so that a home without a .lakestowignore never imports pathspec."""
    import pathspec

    defaults = union(pathspec.GitIgnoreSpec.from_lines(DEFAULT_RULES).patterns)
    assert defaults is not None and defaults.pattern == DEFAULT_UNION


def test_a_reinclude_rule_falls_back_to_pathspec() -> None:
    rules = IgnoreRules(["!node_modules/"])
    assert rules.union is None and not rules.ignored("web/node_modules/")


def test_names_no_s3_key_can_hold_are_skipped(tmp_path: Path) -> None:
    (tmp_path / "ok").mkdir()
    (tmp_path / "ok" / "fine.txt").write_text("1")
    (tmp_path / "ok" / "line\nbreak").write_text("2")
    (tmp_path / "bad\tdir").mkdir()
    (tmp_path / "bad\tdir" / "inside.txt").write_text("3")
    os.close(os.open(os.fsencode(tmp_path / "ok") + b"/latin\xe9", os.O_CREAT | os.O_WRONLY))
    scan = scan_home(tmp_path)
    assert set(scan.files) == {"ok/fine.txt"}
    assert scan.skipped == {
        "ok/line\nbreak": "name has control characters",
        "bad\tdir": "name has control characters",
        "ok/latin\udce9": "name is not UTF-8",
    }
