"""The agent's status object is a heartbeat, not a change people make: its PUTs leave no row
in the audit log, while the files a pass uploads (and anything else written at that key that
is too big to be a status document) are audited as before."""

from __future__ import annotations

import json
import time
from pathlib import Path

from sync.conftest import BUCKET, Home, lakestow, status


def audited_targets(member: Home) -> list[str]:
    rows = json.loads(lakestow(member.server.data_dir, "audit", "--json", "--limit", "100000"))
    return [row["target"] for row in rows if member.prefix in row["target"]]


def test_status_writes_are_not_audited(member: Home, tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("a")
    with member.agent(tmp_path) as agent:
        agent.status_every = 0  # a status object every pass
        for _ in range(3):
            assert agent.sync().ok
    assert status(member)["ok"] is True
    base = f"s3://{BUCKET}/{member.prefix}"
    big = b" " * (64 * 1024 + 1)
    member.client().put_object(
        Bucket=BUCKET, Key=member.prefix + ".lakestow-sync-status.json", Body=big
    )
    # Each worker process of the server writes its audit rows in the background: wait for
    # the two rows expected, then give any row that should not be there time to show up.
    expected = sorted([base + "a.txt", base + ".lakestow-sync-status.json"])
    deadline = time.monotonic() + 10
    while not set(expected) <= set(targets := audited_targets(member)):
        assert time.monotonic() < deadline, targets
        time.sleep(0.05)
    time.sleep(1.0)
    assert sorted(audited_targets(member)) == expected
