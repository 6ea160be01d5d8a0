"""`instance run` and `home sync` as real processes against a real server."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from lakestow.sync.ignore import IgnoreRules
from sync.conftest import BUCKET, Home, status, tree

AGENT = [sys.executable, "-m", "lakestow.sync"]

CHILD = r"""
import json, os, pathlib, signal, sys, time
import boto3

signal.signal(signal.SIGTERM, lambda *_: sys.exit(3))
home = pathlib.Path.cwd()
(home / "env.json").write_text(json.dumps({k: v for k, v in os.environ.items()
                                           if k.startswith(("USER_", "AWS_", "HOME"))}))
bucket, _, key = os.environ["USER_S3_PATH"][5:].partition("/")
boto3.client("s3").put_object(Bucket=bucket, Key=key + "from-child.txt", Body=b"hi")
(home / "nb").mkdir()
for i in range(5):
    (home / "nb" / f"n{i}.ipynb").write_text(f"version 1 of {i}")
(home / "nb" / ".ipynb_checkpoints").mkdir()
(home / "nb" / ".ipynb_checkpoints" / "n0-checkpoint.ipynb").write_text("ignored")
(home / "__pycache__").mkdir()
(home / "__pycache__" / "m.cpython-311.pyc").write_bytes(b"ignored")
time.sleep(1.5)
(home / "nb" / "n1.ipynb").write_text("version 2 of 1, longer")
(home / "nb" / "n2.ipynb").unlink()
(home / "big.bin").write_bytes(os.urandom(9 * 2**20))
time.sleep(1.5)
(home / "nb" / "n3.ipynb").unlink()
(home / "nb" / "n4.ipynb").write_text("version 3 of 4")
(home / "late.txt").write_text("written just before the stop")
(home / "ready").write_text("")
while True:
    time.sleep(0.1)
"""


def visible(home: Path) -> dict[str, bytes]:
    rules = IgnoreRules.for_home(home)
    return {
        p: b
        for p, b in tree(home).items()
        if not any(rules.ignored(p[: i + 1]) for i, c in enumerate(p) if c == "/")
        and not rules.ignored(p)
    }


def remote_files(member: Home) -> dict[str, bytes]:
    found = member.objects()
    found.pop(".lakestow-sync-status.json", None)
    return found


def wait_for(path: Path, process: subprocess.Popen[bytes], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not path.exists():
        assert process.poll() is None, "the agent exited early"
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.05)


def test_instance_run_syncs_until_sigterm_then_restores(bob: Home, tmp_path: Path) -> None:
    home = tmp_path / "home"
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    agent = subprocess.Popen(
        [
            *AGENT,
            "instance",
            "run",
            *bob.sync_args(home),
            "--interval",
            "1",
            "--",
            sys.executable,
            str(script),
        ],
        env=bob.sync_env(),
    )
    try:
        wait_for(home / "ready", agent)
        agent.send_signal(signal.SIGTERM)
        assert agent.wait(timeout=60) == 3  # the child's own exit status
    finally:
        if agent.poll() is None:
            agent.kill()
    env = json.loads((home / "env.json").read_text())
    assert env["USER_S3_PATH"] == f"s3://{BUCKET}/acme/data/customer-{bob.id}/"
    assert env["HOME"] == str(home) and env["AWS_CONFIG_FILE"].startswith(str(home))
    assert "AWS_SECRET_ACCESS_KEY" not in env
    data = bob.client().get_object(Bucket=BUCKET, Key=f"acme/data/customer-{bob.id}/from-child.txt")
    assert data["Body"].read() == b"hi"

    expected = visible(home)
    assert "nb/.ipynb_checkpoints/n0-checkpoint.ipynb" not in expected
    assert {"late.txt", "big.bin", "nb/n1.ipynb", "nb/n4.ipynb"} <= set(expected)
    assert "nb/n2.ipynb" not in expected and "nb/n3.ipynb" not in expected
    assert remote_files(bob) == expected
    doc = status(bob)
    assert doc["ok"] and doc["interval_seconds"] == 1 and doc["counts"]["files"] == len(expected)

    fresh = tmp_path / "fresh"
    restored = subprocess.run(
        [
            *AGENT,
            "instance",
            "run",
            *bob.sync_args(fresh),
            "--interval",
            "60",
            "--",
            sys.executable,
            "-c",
            "pass",
        ],
        env=bob.sync_env(),
        timeout=60,
        check=False,
    )
    assert restored.returncode == 0
    assert tree(fresh) == expected
    assert remote_files(bob) == expected


def test_sigkill_mid_pass_then_restart_converges(member: Home, tmp_path: Path) -> None:
    home = tmp_path / "home"
    for i in range(400):
        (home / f"d{i % 7}").mkdir(parents=True, exist_ok=True)
        (home / f"d{i % 7}" / f"f{i}.txt").write_bytes(os.urandom(1000 + i))
    for i in range(3):
        (home / f"big{i}.bin").write_bytes(os.urandom(20 * 2**20))
    sync = [*AGENT, "home", "sync", *member.sync_args(home), "--workers", "2"]
    client = member.client()
    first = subprocess.Popen(sync, env=member.sync_env())
    deadline = time.monotonic() + 60
    while not client.list_objects_v2(Bucket=BUCKET, Prefix=member.prefix).get("KeyCount"):
        assert first.poll() is None, "the pass ended before it could be killed"
        assert time.monotonic() < deadline
        time.sleep(0.02)
    first.send_signal(signal.SIGKILL)
    first.wait()
    partial = remote_files(member)
    assert 0 < len(partial) < 403
    assert all(data == (home / path).read_bytes() for path, data in partial.items())

    again = subprocess.run(sync, env=member.sync_env(), timeout=120, check=False)
    assert again.returncode == 0
    assert remote_files(member) == visible(home)  # no conflict copies, nothing partial
    agent = member.agent(home)  # a restore (what `instance run` starts with) cleans up
    assert agent.restore().errors == {}
    assert client.list_multipart_uploads(Bucket=BUCKET, Prefix=member.prefix).get("Uploads") in (
        None,
        [],
    )


EXPIRING_CHILD = r"""
import os, subprocess, sys, time
import boto3

time.sleep(6.5)  # the credentials the instance started with have expired by now
target = os.environ["USER_S3_PATH"] + "expiry/"
open("note.txt", "w").write("from the notebook")
subprocess.run([os.path.join(os.path.dirname(sys.executable), "aws"), "s3", "cp", "note.txt",
                target + "by-aws-cli.txt"], check=True, capture_output=True)
bucket, _, key = target[5:].partition("/")
boto3.client("s3").put_object(Bucket=bucket, Key=key + "by-boto3.txt", Body=b"boto3")
"""


def test_child_credentials_refresh_after_expiry(carol: Home, tmp_path: Path) -> None:
    member, home = carol, tmp_path / "home"
    args = member.sync_args(home)
    # 5 s, not less: botocore refuses credentials that expire before they reach it, and on a
    # loaded 2-core machine the credential process alone can take a few seconds.
    args[args.index("--credential-process") + 1] += " --duration 5"
    result = subprocess.run(
        [
            *AGENT,
            "instance",
            "run",
            *args,
            "--interval",
            "60",
            "--",
            sys.executable,
            "-c",
            EXPIRING_CHILD,
        ],
        env=member.sync_env(),
        timeout=120,
        check=False,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    client = member.client()
    data = f"acme/data/customer-{member.id}/expiry/"
    assert client.get_object(Bucket=BUCKET, Key=data + "by-boto3.txt")["Body"].read() == b"boto3"
    got = client.get_object(Bucket=BUCKET, Key=data + "by-aws-cli.txt")["Body"].read()
    assert got == b"from the notebook"


def test_sigint_is_forwarded_and_the_last_changes_synced(member: Home, tmp_path: Path) -> None:
    home = tmp_path / "home"
    child = (
        "import pathlib, signal, sys, time\n"
        "def stop(*_):\n"
        "    pathlib.Path('saved-on-stop.txt').write_text('bye')\n"
        "    sys.exit(5)\n"
        "signal.signal(signal.SIGINT, stop)\n"
        "pathlib.Path('ready').write_text('')\n"
        "time.sleep(60)\n"
    )
    agent = subprocess.Popen(
        [*AGENT, "instance", "run", *member.sync_args(home), "--", sys.executable, "-c", child],
        env=member.sync_env(),
    )
    try:
        wait_for(home / "ready", agent)
        agent.send_signal(signal.SIGINT)
        assert agent.wait(timeout=60) == 5
    finally:
        if agent.poll() is None:
            agent.kill()
    assert remote_files(member) == {"ready": b"", "saved-on-stop.txt": b"bye"}


def test_a_command_that_exits_at_once_is_reported(member: Home, tmp_path: Path) -> None:
    """As Jupyter refusing to run as root: its start, its early exit and status, and the
    final pass are in the instance's output, and its status is the instance's."""
    (tmp_path / "notes.txt").write_text("kept")
    refuse = "import sys; print('Running as root is not recommended', file=sys.stderr); sys.exit(3)"
    result = subprocess.run(
        [
            *AGENT,
            "instance",
            "run",
            *member.sync_args(tmp_path),
            "--",
            sys.executable,
            "-c",
            refuse,
        ],
        env=member.sync_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 3, result.stderr
    lines = result.stderr.splitlines()
    started = next(i for i, line in enumerate(lines) if "started CMD (pid" in line)
    early = next(i for i, line in enumerate(lines) if "CMD exited early" in line)
    final = next(i for i, line in enumerate(lines) if "final sync pass: ok" in line)
    assert started < early < final
    assert "with status 3" in lines[early] and "Running as root" in result.stderr
    assert remote_files(member) == {"notes.txt": b"kept"}


def test_a_command_that_cannot_start_is_reported(member: Home, tmp_path: Path) -> None:
    result = subprocess.run(
        [*AGENT, "instance", "run", *member.sync_args(tmp_path), "--", "no-such-command-xyz"],
        env=member.sync_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 127
    assert "cannot start CMD no-such-command-xyz" in result.stderr
    assert "final sync pass: ok" in result.stderr
