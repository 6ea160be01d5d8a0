"""When the agent reads the remote copy (issue 16): a pass trusts its state and makes no
request when nothing changed locally; a reconciling pass lists the prefix, puts back what
others deleted or rewrote and removes what they added. It is the first pass of a home, any
pass once the last one is older than `reconcile_every` (an hour; `--reconcile-every`), a pass
asked to (`home sync --reconcile`) and the final pass of `instance run` (see `agent`)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from sync.conftest import BUCKET, Home, tree
from sync.test_pass import write

STATUS = ".lakestow-sync-status.json"


def remote_files(member: Home) -> dict[str, bytes]:
    found = member.objects()
    found.pop(STATUS, None)
    return found


def test_others_changes_wait_for_a_reconciliation(member: Home, tmp_path: Path) -> None:
    home = tmp_path / "home"
    write(home, {"a": b"1", "b": b"2", "c": b"3"})
    client, prefix = member.client(), member.prefix
    with member.agent(home) as agent:
        first = agent.sync()
        assert first.ok and first.requests == 5  # the listing, three files, the status
        client.put_object(Bucket=BUCKET, Key=prefix + "console.txt", Body=b"dropped in")
        client.delete_object(Bucket=BUCKET, Key=prefix + "a")
        client.put_object(Bucket=BUCKET, Key=prefix + "b", Body=b"theirs")
        idle = agent.sync()
        assert idle.ok and idle.requests == 0  # trusted the state: nothing read
        full = agent.sync(reconcile=True)
        assert full.ok and full.deleted == ["console.txt"]
        assert sorted(full.uploaded) == ["a", "b"]  # nothing lost: the home's versions back
        [aside] = full.conflicts  # the version someone else wrote is kept aside
        assert agent.sync().requests == 0
    remote = remote_files(member)
    assert remote.pop(aside) == b"theirs" and aside.startswith("b.remote-conflict-")
    assert remote == tree(home)


def test_a_reconciliation_is_due_after_reconcile_every(member: Home, tmp_path: Path) -> None:
    write(tmp_path, {"a": b"1"})
    with member.agent(tmp_path) as agent:
        assert agent.sync().ok and not agent.reconcile_due()
        agent.reconcile_every = 0
        assert agent.reconcile_due()
        member.client().put_object(Bucket=BUCKET, Key=member.prefix + "x", Body=b"x")
        result = agent.sync()
        assert result.deleted == ["x"] and result.requests == 3  # list, delete, status
    with member.agent(tmp_path) as agent:  # recorded in the state: a new process knows it
        assert not agent.reconcile_due() and agent.sync().requests == 0


def test_what_a_reconciliation_leaves_alone(member: Home, tmp_path: Path) -> None:
    """Ignored paths (as a restore skips them), the copies kept aside, the status object."""
    write(tmp_path, {"notes.md": b"mine"})
    kept = ["m.pyc", "notes.md.remote-conflict-20261203T101010Z", "cache/.ipynb_checkpoints/x"]
    for key in kept:
        member.client().put_object(Bucket=BUCKET, Key=member.prefix + key, Body=b"x")
    with member.agent(tmp_path) as agent:
        assert agent.sync(reconcile=True).deleted == []
    assert set(remote_files(member)) == {"notes.md", *kept}


def test_an_empty_state_never_empties_the_remote_copy(member: Home, tmp_path: Path) -> None:
    """A new (or unmounted) home with no state: the remote files it does not have are
    strays, and the delete guard counts them."""
    write(tmp_path / "home", {f"f{i}": b"x" for i in range(4)})
    with member.agent(tmp_path / "home") as agent:
        assert agent.sync().ok
    (tmp_path / "new").mkdir()
    with member.agent(tmp_path / "new") as agent:
        refused = agent.sync()
    assert refused.refused and "4 of the 4" in refused.refused
    assert set(remote_files(member)) == {f"f{i}" for i in range(4)}


def test_home_sync_reconcile_from_the_command_line(member: Home, tmp_path: Path) -> None:
    write(tmp_path, {"a": b"1"})
    env = member.sync_env()
    run = [sys.executable, "-m", "lakestow", "home", "sync", *member.sync_args(tmp_path)]
    assert subprocess.run(run, env=env, capture_output=True, check=False).returncode == 0
    member.client().put_object(Bucket=BUCKET, Key=member.prefix + "stray", Body=b"x")
    plain = subprocess.run(run, env=env, capture_output=True, text=True, check=False)
    assert plain.returncode == 0 and "0 deleted" in plain.stderr
    full = subprocess.run([*run, "--reconcile"], env=env, capture_output=True, text=True)
    assert full.returncode == 0 and "1 deleted" in full.stderr, full.stderr
    assert set(remote_files(member)) == {"a"}
