"""The sync status of a notebooks folder, in-process: the JSON API and the folder's page read
the same summary of the agent's status object; fresh, stale, with errors, and missing.

The status documents are written by the real agent (on an empty home, into a recording
remote), then aged or broken the way a stopped or failing agent leaves them.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from console.console_support import As
from lakestow.console import syncstatus
from lakestow.console.openapi import DOCUMENT
from lakestow.sync.agent import Agent
from lakestow.sync.ignore import STATUS_NAME

INTERVAL = 120.0


class RecordingRemote:
    """Where the agent writes its status object, without an S3 endpoint."""

    uri = "s3://lakestow/acme/notebooks/customer-0/"
    requests = 0

    def __init__(self) -> None:
        self.written: dict[str, bytes] = {}

    def put_json(self, path: str, data: bytes) -> None:
        self.written[path] = data

    def list(self) -> Iterator[Any]:
        """The remote folder, empty (a first pass reads it before it trusts its state)."""
        return iter(())


def agent_document(home: Path, interval: float | None = INTERVAL) -> dict[str, Any]:
    """The status document a real agent writes after one pass over `home`."""
    remote = RecordingRemote()
    home = home / "home"  # empty: the pass changes nothing, and writes its status
    with Agent(home, remote, interval=interval) as agent:  # type: ignore[arg-type]
        assert agent.sync().ok
    document: dict[str, Any] = json.loads(remote.written[STATUS_NAME])
    return document


def iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def notebooks(member: As) -> str:
    return f"notebooks/customer-{member.id}/"


def put_status(member: As, document: dict[str, Any]) -> None:
    path = notebooks(member) + STATUS_NAME
    stored = member.put(f"/api/object?path={path}", content=json.dumps(document).encode())
    assert stored.status_code == 201, stored.text


def read(member: As) -> tuple[dict[str, Any], str]:
    """The API's summary (default path: the member's notebooks folder) and the folder page."""
    answer = member.get("/api/sync-status")
    assert answer.status_code == 200, answer.text
    page = member.get(f"/browse/{notebooks(member)}")
    assert page.status_code == 200
    return answer.json(), page.text


def test_fresh_status_shows_its_pass(alice: As, tmp_path: Path) -> None:
    document = agent_document(tmp_path)
    assert document["interval_seconds"] == INTERVAL
    put_status(alice, document)
    summary, page = read(alice)
    assert summary["found"] and summary["ok"] and not summary["stale"]
    assert summary["warning"] is None and summary["interval_seconds"] == INTERVAL
    assert summary["last_success_at"] == document["last_success_at"]
    assert 0 <= summary["age_seconds"] < 60
    assert summary["counts"] == document["counts"] and summary["errors"] == []
    assert 'id="sync-status"' in page and 'data-stale="no"' in page
    assert 'id="sync-warning"' not in page and 'id="sync-errors"' not in page
    assert document["last_success_at"] in page and "every 2 min" in page
    assert "0 uploaded, 0 deleted, 0 kept aside, 0 to retry, 0 errors" in page


def test_stale_when_the_last_success_is_older_than_three_intervals(
    alice: As, tmp_path: Path
) -> None:
    document = agent_document(tmp_path)
    document["last_success_at"] = iso(time.time() - 3 * INTERVAL - 60)  # passes fail since
    put_status(alice, document)
    summary, page = read(alice)
    assert summary["stale"] and summary["age_seconds"] > 3 * INTERVAL
    assert "more than 3 intervals of 2 min" in summary["warning"]
    assert 'id="sync-warning"' in page and 'role="alert"' in page and 'data-stale="yes"' in page
    assert "The last successful sync was 7 min ago" in page

    document["last_success_at"] = iso(time.time() - 3 * INTERVAL + 60)  # just within
    put_status(alice, document)
    summary, page = read(alice)
    assert not summary["stale"] and 'id="sync-warning"' not in page


def test_stale_when_the_agent_stopped_writing(
    alice: As, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A dead agent leaves a fresh-looking document: its age runs on the server's clock."""
    put_status(alice, agent_document(tmp_path))
    assert not read(alice)[0]["stale"]
    later = time.time() + 3 * INTERVAL + 5
    monkeypatch.setattr(syncstatus, "clock", lambda: later)
    summary, page = read(alice)
    assert summary["stale"] and summary["age_seconds"] > 3 * INTERVAL
    assert 'id="sync-warning"' in page


def test_errors_of_the_last_pass_are_listed(alice: As, tmp_path: Path) -> None:
    document = agent_document(tmp_path)
    document.update(
        ok=False,
        errors=["big.bin: AccessDenied: <denied>", "status: InternalError: try again"],
    )
    document["counts"].update(uploaded=3, errors=2)
    put_status(alice, document)
    summary, page = read(alice)
    assert summary["ok"] is False and not summary["stale"]
    assert summary["errors"] == document["errors"] and summary["counts"]["errors"] == 2
    assert 'id="sync-errors"' in page and "failed" in page
    assert "big.bin: AccessDenied: &lt;denied&gt;" in page  # text, never HTML
    assert "3 uploaded, 0 deleted, 0 kept aside, 0 to retry, 2 errors" in page


def test_missing_status(alice: As) -> None:
    summary, page = read(alice)
    assert not summary["found"] and summary["ok"] is None and not summary["stale"]
    assert summary["warning"] is None and summary["last_success_at"] is None
    assert 'id="sync-missing"' in page and 'id="sync-warning"' not in page
    assert 'id="sync-status"' not in alice.get(f"/browse/{alice.home()}").text


def test_not_a_status_document(alice: As) -> None:
    path = notebooks(alice) + STATUS_NAME
    assert alice.put(f"/api/object?path={path}", content=b"[1, 2").status_code == 201
    summary, page = read(alice)
    assert summary["found"] and summary["ok"] is False
    assert "not a status document" in summary["errors"][0] and 'id="sync-errors"' in page


def test_another_members_status_is_refused(alice: As, bob: As, tmp_path: Path) -> None:
    put_status(alice, agent_document(tmp_path))
    answer = bob.get("/api/sync-status", params={"path": notebooks(alice)})
    assert answer.status_code == 403
    assert "another member's private folder" in answer.json()["message"]


def test_summary_of_a_one_off_sync_and_a_skewed_clock() -> None:
    now = 1_800_000_000.0
    ahead = {"ok": True, "last_success_at": iso(now + 86400), "last_pass_at": iso(now + 86400)}
    skewed = syncstatus.summarize(
        "notebooks/customer-1/", {**ahead, "interval_seconds": 60}, now - 10, now
    )
    assert skewed["age_seconds"] == 10 and not skewed["stale"]
    old = {"ok": True, "last_success_at": iso(now - 86400), "last_pass_at": iso(now - 86400)}
    one_off = syncstatus.summarize("notebooks/customer-1/", old, now - 86400, now)
    assert one_off["interval_seconds"] is None and not one_off["stale"]
    failing = {"ok": False, "last_success_at": None, "interval_seconds": 60}
    never = syncstatus.summarize("notebooks/customer-1/", failing, now, now)
    assert never["stale"] and "No sync pass has succeeded yet" in never["warning"]


def test_the_api_is_documented() -> None:
    operation = DOCUMENT["paths"]["/api/sync-status"]["get"]
    assert [p["name"] for p in operation["parameters"]] == ["path"]
    schema = DOCUMENT["components"]["schemas"]["SyncStatus"]
    assert {"stale", "warning", "last_success_at", "counts", "errors"} <= set(schema["properties"])
