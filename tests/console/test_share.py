"""Share links (POST /api/share): a presigned GET URL of one file the member may read, up to
7 days, audited, that anyone with the link can download with, and nothing else; revocable."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import requests

from console.browsing import api, home
from console.console_support import As, Console, LiveConsole
from live import lakestow


def put(member: As, path: str, data: bytes) -> None:
    response = member.put("/api/object", params={"path": path}, content=data)
    assert response.status_code == 201, response.text


def test_a_link_is_issued_only_for_a_file_the_member_may_read(
    console: Console, alice: As, bob: As
) -> None:
    path = alice.home("report.csv")
    put(alice, path, b"a,b\n")
    shared = alice.post("/api/share", json={"path": path, "expires_in": "2h"})
    assert shared.status_code == 200, shared.text
    link = shared.json()
    query = parse_qs(urlsplit(link["url"]).query)
    assert query["X-Amz-Expires"] == ["7200"] and query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"]
    assert urlsplit(link["url"]).path == f"/lakestow/acme/{path}"
    expires = datetime.fromisoformat(link["expires"])
    assert abs(expires - (datetime.now(UTC) + timedelta(hours=2))) < timedelta(minutes=1)
    log = console.opened.services("t").audit_log(20)
    issued = next(e for e in log if e.action == "share.issue")
    assert issued.actor == f"member:{alice.id}"
    assert issued.detail["path"] == f"s3://lakestow/acme/{path}"
    assert issued.detail["access_key_id"] == link["access_key_id"]
    refusals = {
        "bob's": (bob, path, 403),
        "a folder": (alice, alice.home(""), 400),
        "a missing file": (alice, alice.home("nothing.csv"), 404),
        "the read-only root": (alice, "data/", 400),
    }
    for what, (member, target, status) in refusals.items():
        answer = member.post("/api/share", json={"path": target})
        assert answer.status_code == status, (what, answer.text)
    too_long = alice.post("/api/share", json={"path": path, "expires_in": "8d"})
    assert too_long.status_code == 400 and "604800 seconds" in too_long.text
    assert [e.action for e in console.opened.services("t").audit_log(20)].count("share.issue") == 1


def test_anyone_with_the_link_downloads_that_file_and_nothing_else(live: LiveConsole) -> None:
    session = api(live)
    path = home(live) + "shared/report.txt"
    session.put(f"{live.url}/api/object", params={"path": path}, data=b"for your eyes")
    answer = session.post(f"{live.url}/api/share", json={"path": path, "expires_in": "7d"})
    assert answer.status_code == 200, answer.text
    link = answer.json()
    assert parse_qs(urlsplit(link["url"]).query)["X-Amz-Expires"] == ["604800"]
    got = requests.get(link["url"], timeout=10)  # no session, no cookie: just the link
    assert (got.status_code, got.content) == (200, b"for your eyes")
    elsewhere = link["url"].replace("report.txt", "other.txt")
    assert requests.get(elsewhere, timeout=10).status_code == 403
    assert requests.put(link["url"], data=b"x", timeout=10).status_code == 403
    lakestow(live.data_dir, "credentials", "revoke", "--access-key-id", link["access_key_id"])
    deadline = time.monotonic() + 10
    while (refused := requests.get(link["url"], timeout=10)).status_code == 200:
        assert time.monotonic() < deadline, "the revoked link still works"
        time.sleep(0.2)
    assert (refused.status_code, "<Code>InvalidToken</Code>" in refused.text) == (400, True)
    time.sleep(1.0)  # every worker has reloaded the revocations: refused wherever it lands
    assert {requests.get(link["url"], timeout=10).status_code for _ in range(6)} == {400}
