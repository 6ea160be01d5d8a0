"""Security of the console: sessions, CSRF, other members' folders, path tricks, escaping.

Each refused request is checked to have changed nothing.
"""

from __future__ import annotations

import time
from urllib.parse import quote

import pytest

from console.console_support import As, Console
from lakestow.console.sessions import COOKIE, MAX_FAILURES

CHANGES = [
    ("PUT", "/api/object?path=data/shared/x.txt", {"content": b"x"}),
    ("POST", "/api/folder", {"json": {"path": "data/shared/new/"}}),
    ("POST", "/api/delete", {"json": {"paths": ["data/shared/keep.txt"]}}),
    ("POST", "/api/move", {"json": {"src": "data/shared/keep.txt", "dst": "data/shared/y"}}),
    ("POST", "/api/uploads", {"json": {"path": "data/shared/big", "size": 1}}),
    ("POST", "/api/credentials", {"json": {}}),
    ("POST", "/api/admin/members", {"json": {"action": "add", "name": "eve"}}),
]


def shared_names(member: As) -> list[str]:
    listed = member.get("/api/list", params={"path": "data/shared/"}).json()["entries"]
    return [e["name"] for e in listed]


@pytest.fixture
def keep(alice: As) -> As:
    assert alice.put("/api/object?path=data/shared/keep.txt", content=b"k").status_code == 201
    return alice


def test_no_session_is_refused(console: Console, keep: As) -> None:
    console.client.cookies.clear()
    for method, url, kw in [*CHANGES, ("GET", "/api/list?path=data/shared/", {})]:
        response = console.client.request(method, url, **kw)
        assert response.status_code == 401, url
        assert response.json()["error"] == "Unauthenticated"
    forged = console.client.get("/api/me", headers={"cookie": f"{COOKIE}=forged"})
    assert forged.status_code == 401
    assert shared_names(keep) == ["keep.txt"]


def test_missing_or_wrong_csrf_token_is_refused(console: Console, keep: As) -> None:
    root = console.as_("root")
    for method, url, kw in CHANGES:
        for headers in ({}, {"x-csrf-token": keep.csrf + "x"}):
            response = root.request(method, url, csrf=False, headers=headers, **kw)
            assert response.status_code == 403, url
            assert response.json()["error"] == "CSRFFailed"
    assert shared_names(keep) == ["keep.txt"]
    names = [m["name"] for m in root.get("/api/admin/members").json()["members"]]
    assert "eve" not in names


def test_another_members_folder_answers_as_a_missing_one(alice: As, bob: As) -> None:
    assert (
        alice.put(f"/api/object?path={alice.home('secret.txt')}", content=b"s").status_code == 201
    )
    data = bob.get("/api/list", params={"path": "data/"}).json()["entries"]
    assert f"customer-{alice.id}" not in [e["name"] for e in data]
    nobody = "data/customer-999999/"
    for url, theirs, missing in [
        ("/api/list?path=", alice.home(), nobody),
        ("/api/download?path=", alice.home("secret.txt"), nobody + "secret.txt"),
        ("/api/zip?path=", alice.home(), nobody),
    ]:
        a, b = bob.get(url + theirs), bob.get(url + missing)
        assert a.status_code == b.status_code == 403
        assert a.json()["message"].replace(str(alice.id), "N") == b.json()["message"].replace(
            "999999", "N"
        )
    found = bob.get("/api/search", params={"q": "secret"}).json()["results"]
    assert found == []
    stolen = bob.post("/api/move", json={"src": alice.home("secret.txt"), "dst": bob.home("s")})
    assert stolen.status_code == 403
    assert alice.get("/api/download", params={"path": alice.home("secret.txt")}).content == b"s"


def test_a_zip_of_chosen_names_refuses_another_members_as_missing_ones(
    console: Console, alice: As, bob: As
) -> None:
    """A chosen name bob may not read refuses his whole zip before a byte is sent, with the
    answer a name that does not exist gets; each refusal is audited."""
    put_ok = alice.put(f"/api/object?path={alice.home('secret.txt')}", content=b"s")
    assert put_ok.status_code == 201
    bob.put(f"/api/object?path={bob.home('mine.txt')}", content=b"m")
    theirs, nobody = f"customer-{alice.id}", "customer-999999"
    for folder, names in [
        ("data/", ["{who}/"]),
        ("data/", ["{who}/secret.txt"]),
        ("data/", [f"customer-{bob.id}/mine.txt", "{who}/secret.txt"]),  # one refused: all
        ("data/{who}/", ["secret.txt"]),
    ]:
        a, b = (
            bob.post(
                "/api/zip",
                data={"path": folder.format(who=who), "name": [n.format(who=who) for n in names]},
            )
            for who in (theirs, nobody)
        )
        assert a.status_code == b.status_code == 403, (folder, names, a.text)
        assert a.headers["content-type"] == b.headers["content-type"] == "application/json"
        assert a.json()["message"].replace(str(alice.id), "N") == b.json()["message"].replace(
            "999999", "N"
        )
    deadline = time.monotonic() + 10  # the audit log is written in the background
    while not any(
        e.outcome == "denied" and e.target.endswith(theirs + "/secret.txt")
        for e in console.opened.services("t").audit_log(50)
    ):
        assert time.monotonic() < deadline, "the refusal is not in the audit log"
        time.sleep(0.1)
    mine = bob.post("/api/zip", data={"path": bob.home(), "name": ["mine.txt"]})
    assert mine.status_code == 200


def test_other_organizations_are_invisible(console: Console, alice: As) -> None:
    carol = console.as_("carol")
    alice.put("/api/object?path=data/shared/acme.txt", content=b"a")
    assert shared_names(carol) == []
    assert carol.get("/api/me").json()["root"] == "s3://lakestow/globex/"


@pytest.mark.parametrize(
    "path",
    [
        "data/shared/../customer-{other}/x",
        "data/shared/%2e%2e/customer-{other}/x",
        "data/customer-{me}/./x",
        "data/customer-{me}//x",
        "data/customer-{me}/x%00y",
        "data/customer-\uff12/x",  # a fullwidth digit
        "data/\u0441ustomer-{me}/x",  # a Cyrillic es
        "data/customer-{me}\u2215x",  # a division slash
        "/../acme/data/shared/x",
        "data%2Fcustomer-{other}%2Fx",
    ],
)
def test_path_tricks_are_refused(alice: As, bob: As, path: str) -> None:
    path = path.format(me=alice.id, other=bob.id)
    url = "/api/object?path=" + path  # sent as is: the %-escapes reach the server
    response = alice.put(url, content=b"x")
    assert response.status_code in (400, 403), (path, response.text)
    assert response.json()["error"] in ("InvalidArgument", "AccessDenied")
    assert bob.get("/api/list", params={"path": bob.home()}).json()["entries"] == []
    assert alice.get("/api/list", params={"path": alice.home()}).json()["entries"] == []
    assert shared_names(alice) == []


def test_a_hostile_file_name_is_text_and_downloads_as_attachment(alice: As) -> None:
    name = "<img src=x onerror=alert(1)>.html"
    path = alice.home(name)
    body = b"<script>alert(1)</script>"
    assert alice.put("/api/object?path=" + quote(path), content=body).status_code == 201
    page = alice.get("/browse/" + quote(alice.home()))
    assert page.status_code == 200
    assert "<img src=x" not in page.text
    assert "&lt;img src=x onerror=alert(1)&gt;.html" in page.text
    assert "default-src 'self'" in page.headers["content-security-policy"]
    got = alice.get("/api/download", params={"path": path})
    assert got.content == body
    assert got.headers["content-type"] == "application/octet-stream"
    assert got.headers["content-disposition"].startswith("attachment;")
    assert got.headers["x-content-type-options"] == "nosniff"


def test_lock_out_after_repeated_failures(console: Console) -> None:
    for _ in range(MAX_FAILURES):
        assert console.sign_in("bob", "wrong-password").status_code == 401
    locked = console.sign_in("bob")
    assert locked.status_code == 429
    assert "too many failed sign-ins" in locked.json()["message"]
    assert console.sign_in("alice").status_code == 201  # only that name is locked


def test_session_cookie_flags_and_sign_out(console: Console) -> None:
    response = console.sign_in("alice")
    cookie = response.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie and "path=/" in cookie
    alice = console.as_("alice")
    assert alice.delete("/api/session").status_code == 200
    assert alice.get("/api/me").status_code == 401


def test_sign_in_form_never_redirects_elsewhere(console: Console) -> None:
    form = {"name": "alice", "password": "alice-password", "next": "//evil.example/"}
    response = console.client.post("/signin", data=form, follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/browse/"


def test_sign_in_posted_from_another_site_is_refused(console: Console) -> None:
    console.client.cookies.clear()
    form = {"name": "alice", "password": "alice-password"}
    foreign = console.client.post(
        "/signin", data=form, headers={"origin": "https://evil.example"}, follow_redirects=False
    )
    assert foreign.status_code == 403 and COOKIE not in foreign.cookies
    own = console.client.post(
        "/signin", data=form, headers={"origin": "http://testserver"}, follow_redirects=False
    )
    assert own.status_code == 303 and COOKIE in own.cookies
