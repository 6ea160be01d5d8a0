"""The JSON API in-process, over a real data directory and the local store."""

from __future__ import annotations

import io
import time
import zipfile
from datetime import UTC, datetime

from console.console_support import As, Console
from lakestow.console.api import zip_time

MiB = 1024 * 1024


def put(member: As, path: str, data: bytes) -> None:
    response = member.put(f"/api/object?path={path}", content=data)
    assert response.status_code == 201, response.text


def names(member: As, path: str, **params: str) -> list[str]:
    response = member.get("/api/list", params={"path": path, **params})
    assert response.status_code == 200, response.text
    return [e["name"] for e in response.json()["entries"]]


def test_me(alice: As) -> None:
    me = alice.get("/api/me").json()
    assert me["name"] == "alice" and me["org"] == "acme" and not me["admin"]
    assert me["root"] == "s3://lakestow/acme/"
    assert me["paths"]["USER_S3_PATH"] == f"s3://lakestow/acme/data/customer-{alice.id}/"
    assert me["s3_endpoint"] == "http://127.0.0.1:9"


def test_root_and_data_show_the_layout(alice: As) -> None:
    root = alice.get("/api/list").json()
    assert [e["name"] for e in root["entries"]] == ["data", "notebooks", "spark-logs"]
    assert not root["folder"]["may_write"]
    spark = root["entries"][2]
    assert spark["badge"] == "shared" and "spark" in spark["warning"]
    data = alice.get("/api/list", params={"path": "data/"}).json()["entries"]
    assert [(e["name"], e["badge"]) for e in data] == [
        (f"customer-{alice.id}", "private"),
        ("shared", "shared"),
    ]
    assert data[0]["s3_uri"] == f"s3://lakestow/acme/data/customer-{alice.id}/"
    assert not data[0]["may_delete"] and data[0]["may_write"]


def test_upload_list_download(alice: As) -> None:
    put(alice, alice.home("a b/x.csv"), b"a,b\n1,2\n")
    entries = alice.get("/api/list", params={"path": alice.home("a b/")}).json()["entries"]
    assert entries[0]["name"] == "x.csv" and entries[0]["size"] == 8
    assert entries[0]["may_write"] and entries[0]["may_delete"]
    got = alice.get("/api/download", params={"path": alice.home("a b/x.csv")})
    assert got.content == b"a,b\n1,2\n"
    assert got.headers["content-disposition"].startswith('attachment; filename="x.csv"')
    assert got.headers["content-type"] == "application/octet-stream"


def test_paging_sort_and_filter(alice: As) -> None:
    for i in range(25):
        put(alice, alice.home(f"many/f{i:02}.txt"), b"x" * i)
    seen: list[str] = []
    cursor = ""
    for _ in range(3):
        page = alice.get(
            "/api/list", params={"path": alice.home("many/"), "limit": "10", "cursor": cursor}
        ).json()
        seen += [e["name"] for e in page["entries"]]
        cursor = page["cursor"]
    assert seen == [f"f{i:02}.txt" for i in range(25)] and cursor is None
    by_size = names(alice, alice.home("many/"), sort="size", order="desc", limit="5")
    assert by_size == ["f24.txt", "f23.txt", "f22.txt", "f21.txt", "f20.txt"]  # whole folder
    assert names(alice, alice.home("many/"), filter="f1") == [f"f1{i}.txt" for i in range(10)]


def test_search_finds_names_below_a_folder(alice: As, bob: As) -> None:
    put(alice, alice.home("deep/er/report-2024.csv"), b"1")
    put(alice, "data/shared/Report-shared.csv", b"2")
    put(bob, bob.home("report-bob.csv"), b"3")
    found = alice.get("/api/search", params={"q": "report"}).json()["results"]
    assert sorted(e["path"] for e in found) == [
        alice.home("deep/er/report-2024.csv"),
        "data/shared/Report-shared.csv",
    ]


def test_search_pages_keep_to_what_the_member_may_list(alice: As, bob: As) -> None:
    for path in (alice.home("x/needle-a.csv"), alice.home("needle-b.csv")):
        put(alice, path, b"a")
    put(alice, "data/shared/needle-c.csv", b"c")
    put(bob, bob.home("needle-bob.csv"), b"b")
    put(bob, bob.home("needle-dir/f.csv"), b"b")

    def every(q: str, path: str = "data/", limit: str = "1") -> list[str]:
        found, cursor = [], None
        for _ in range(10):
            params = {
                "path": path,
                "q": q,
                "limit": limit,
                **({"cursor": cursor} if cursor else {}),
            }
            page = alice.get("/api/search", params=params)
            assert page.status_code == 200, page.text
            body = page.json()
            found += [e["path"] for e in body["results"]]
            cursor = body["cursor"]
            assert body["complete"] is (cursor is None) and body["partial"] is False
            if cursor is None:
                return found
        raise AssertionError("the pages never ended")

    mine = [alice.home("needle-b.csv"), alice.home("x/needle-a.csv"), "data/shared/needle-c.csv"]
    assert every("needle") == every("NEEDLE", "", "1000") == mine
    assert every("customer") == [alice.home()]  # her folder, once, as the listing shows it
    assert every(f"customer-{bob.id}") == every("needle-dir") == every("bob") == []
    assert every("x") == [alice.home("x/")]
    first = alice.get("/api/search", params={"path": "data/", "q": "needle", "limit": "1"})
    cursor = first.json()["cursor"]
    for other in ({"q": "needl"}, {"path": "data/shared/"}):
        asked = {"path": "data/", "q": "needle", "cursor": cursor, **other}
        assert alice.get("/api/search", params=asked).status_code == 400
    assert bob.get("/api/search", params={"q": "needle", "cursor": cursor}).status_code == 400
    assert alice.get("/api/search", params={"q": "a/b"}).status_code == 400
    assert bob.get("/api/search", params={"path": alice.home(), "q": "x"}).status_code == 403


def test_folder_move_delete(alice: As) -> None:
    assert alice.post("/api/folder", json={"path": alice.home("new")}).status_code == 201
    assert alice.post("/api/folder", json={"path": alice.home("new")}).status_code == 409
    put(alice, alice.home("new/a.txt"), b"a")
    moved = alice.post("/api/move", json={"src": alice.home("new/"), "dst": alice.home("old/")})
    assert moved.json()["moved"] == 2
    assert names(alice, alice.home()) == ["old"]
    assert names(alice, alice.home("old/")) == ["a.txt"]
    renamed = alice.post(
        "/api/move", json={"src": alice.home("old/a.txt"), "dst": alice.home("old/b.txt")}
    )
    assert renamed.status_code == 200
    deleted = alice.post("/api/delete", json={"paths": [alice.home("old/")]})
    assert deleted.json()["deleted"] == 2
    assert names(alice, alice.home()) == []


def test_fixed_folders_cannot_be_deleted_or_written(alice: As) -> None:
    for path in ("data/shared/", alice.home(), "data/"):
        refused = alice.post("/api/delete", json={"paths": [path]})
        assert refused.status_code == 403, path
        assert refused.json()["error"] == "AccessDenied"
    refused = alice.put("/api/object?path=data/x.txt", content=b"x")
    assert refused.status_code == 403 and "read-only" in refused.json()["message"]


def test_multipart_upload_with_resume(alice: As) -> None:
    path = alice.home("big.bin")
    data = bytes(range(256)) * (40 * 1024 + 7)  # a bit over 10 MiB
    made = alice.post("/api/uploads", json={"path": path, "size": len(data)}).json()
    size, upload = made["part_size"], made["upload_id"]
    assert size == 8 * MiB
    url = f"/api/uploads/{upload}"
    assert alice.put(f"{url}/parts/2?path={path}", content=data[size:]).status_code == 200
    stored = alice.get(url, params={"path": path}).json()["parts"]
    assert [(p["part_number"], p["size"]) for p in stored] == [(2, len(data) - size)]
    assert alice.put(f"{url}/parts/1?path={path}", content=data[:size]).status_code == 200
    done = alice.post(f"{url}/complete", json={"path": path})
    assert done.status_code == 200 and done.json()["size"] == len(data)
    assert alice.get("/api/download", params={"path": path}).content == data


def test_multipart_abort_and_other_members(alice: As, bob: As) -> None:
    path = alice.home("x.bin")
    upload = alice.post("/api/uploads", json={"path": path, "size": 10}).json()["upload_id"]
    refused = bob.put(f"/api/uploads/{upload}/parts/1?path={path}", content=b"x")
    assert refused.status_code == 403
    assert alice.delete(f"/api/uploads/{upload}?path={path}").status_code == 200
    assert alice.get(f"/api/uploads/{upload}", params={"path": path}).status_code == 404


def test_zip_of_a_folder(alice: As) -> None:
    put(alice, alice.home("z/a.txt"), b"A")
    put(alice, alice.home("z/sub/b.txt"), b"B" * 100_000)
    response = alice.get("/api/zip", params={"path": alice.home("z/")})
    assert response.headers["content-disposition"].startswith('attachment; filename="z.zip"')
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    assert sorted(archive.namelist()) == ["z/a.txt", "z/sub/b.txt"]
    assert archive.read("z/sub/b.txt") == b"B" * 100_000


def test_zip_of_chosen_files_and_folders(alice: As) -> None:
    for path, data in (
        ("a.txt", b"A"),
        ("b.txt", b"B"),
        ("sub/c.txt", b"C"),
        ("sub/d/e.txt", b"E"),
    ):
        put(alice, alice.home("pick/" + path), data)
    chosen = ["a.txt", "sub/", "sub/c.txt", "missing.txt", "a.txt"]  # sub/c.txt is in sub/
    response = alice.post("/api/zip", data={"path": alice.home("pick/"), "name": chosen})
    assert response.status_code == 200, response.text
    assert response.headers["content-disposition"].startswith(
        'attachment; filename="pick (3 chosen).zip"'
    )
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    assert archive.namelist() == ["a.txt", "sub/c.txt", "sub/d/e.txt"]  # missing.txt left out
    assert archive.read("sub/d/e.txt") == b"E"
    below = alice.post("/api/zip", data={"path": alice.home(), "name": ["pick/sub/d/e.txt"]})
    assert zipfile.ZipFile(io.BytesIO(below.content)).namelist() == ["pick/sub/d/e.txt"]
    form = {"path": alice.home("pick/"), "name": ["b.txt"], "csrf": alice.csrf}
    by_form = alice.post("/api/zip", data=form, csrf=False)  # as the page's form posts it
    assert zipfile.ZipFile(io.BytesIO(by_form.content)).read("b.txt") == b"B"


def test_zip_of_chosen_names_is_bounded_and_needs_the_csrf_token(alice: As) -> None:
    folder = alice.home()
    refused = alice.post("/api/zip", data={"path": folder, "name": ["a.txt"]}, csrf=False)
    assert refused.status_code == 403 and refused.json()["error"] == "CSRFFailed"
    for chosen in ([], [f"f{i}" for i in range(1001)], ["/abs"], ["x/../y"], [""]):
        answer = alice.post("/api/zip", data={"path": folder, "name": chosen})
        assert answer.status_code == 400, (chosen[:2], answer.text)


def test_credentials_are_issued_with_snippets_and_audited(console: Console, alice: As) -> None:
    body = {"scopes": [alice.home("proj")], "read_only": True, "duration": "30m"}
    issued = alice.post("/api/credentials", json=body)
    assert issued.status_code == 200, issued.text
    document = issued.json()
    key = document["credentials"]["AccessKeyId"]
    assert key.startswith("ASIA")
    snippets = document["snippets"]
    assert f"aws_access_key_id = {key}" in snippets["aws_credentials"]
    target = f"s3://lakestow/acme/{alice.home('proj/')}"
    assert snippets["aws_cp"].endswith(f"s3 cp --recursive ./dir {target}")
    assert "export AWS_ENDPOINT_URL=http://127.0.0.1:9" in snippets["env"]
    log = console.opened.services("t").audit_log(20)
    issue = next(e for e in log if e.action == "credentials.issue")
    assert issue.actor == f"member:{alice.id}" and document["credentials"][
        "SecretAccessKey"
    ] not in str(issue.detail)
    outside = alice.post("/api/credentials", json={"scopes": ["data/customer-999/"]})
    assert outside.status_code == 400


def test_admin_members_and_usage(console: Console, alice: As) -> None:
    root = console.as_("root")
    listed = root.get("/api/admin/members").json()["members"]
    assert [m["name"] for m in listed] == ["root", "alice", "bob"]
    added = root.post("/api/admin/members", json={"action": "add", "name": "dave"}).json()
    assert console.sign_in("dave", added["password"]).status_code == 201
    reset = root.post("/api/admin/members", json={"action": "reset_password", "name": "dave"})
    assert console.sign_in("dave", added["password"]).status_code == 401
    assert console.sign_in("dave", reset.json()["password"]).status_code == 201
    assert alice.get("/api/admin/members").status_code == 403
    carol = root.post("/api/admin/members", json={"action": "disable", "name": "carol"})
    assert carol.status_code == 404  # another organization's member
    put(alice, alice.home("u.bin"), b"x" * 1000)
    usage = root.get("/api/admin/usage").json()
    assert {"folder": "data/", "bytes": 1000, "objects": 1} in usage["folders"]


def test_disabling_ends_sessions(console: Console, alice: As) -> None:
    root = console.as_("root")
    assert alice.get("/api/me").status_code == 200
    root.post("/api/admin/members", json={"action": "disable", "name": "alice"})
    assert alice.get("/api/me").status_code == 401
    assert console.sign_in("alice").status_code == 401


def test_changes_are_audited(console: Console, alice: As, bob: As) -> None:
    put(alice, alice.home("audited.txt"), b"a")
    alice.post("/api/delete", json={"paths": [alice.home("audited.txt")]})
    bob.get("/api/download", params={"path": alice.home("audited.txt")})
    wanted = {("console.put", "ok"), ("console.delete", "ok"), ("console.read", "denied")}
    deadline = time.monotonic() + 5
    while True:
        log = console.opened.services("t").audit_log(50)
        seen = {(e.action, e.outcome) for e in log if e.target.endswith("audited.txt")}
        if wanted <= seen or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert wanted <= seen, seen
    sign_ins = [e for e in log if e.action == "console.sign-in"]
    assert sign_ins and all("password" not in str(e.detail) for e in sign_ins)


def test_an_instance_token_is_exchanged_for_credentials(console: Console, alice: As) -> None:
    token = console.opened.services("t").credentials.issue_token("alice", label="notebook")
    console.client.cookies.clear()
    answer = console.client.post(
        "/api/token/credentials", headers={"authorization": f"Bearer {token}"}
    )
    assert answer.status_code == 200, answer.text
    document = answer.json()
    assert document["credentials"]["AccessKeyId"].startswith("ASIA")
    assert document["paths"]["USER_S3_PATH"].endswith(f"/data/customer-{alice.id}/")
    refused = console.client.post("/api/token/credentials", headers={"authorization": "Bearer x"})
    assert refused.status_code == 401


def test_a_zip_entry_time_stays_in_the_range_zip_can_hold() -> None:
    """MS-DOS dates run from 1980 to 2107: zipfile refuses any other, which would cut a
    zip download short at an object dated outside them (an upstream store's, say)."""
    assert zip_time(datetime(1970, 1, 1, tzinfo=UTC)) == (1980, 1, 1, 0, 0, 0)
    assert zip_time(datetime(1999, 12, 31, 8, 30, 5)) == (1999, 12, 31, 8, 30, 5)  # naive: UTC
    assert zip_time(datetime(2200, 1, 1, tzinfo=UTC)) == (2107, 12, 31, 23, 59, 58)
    for moment in (datetime(1970, 1, 1, tzinfo=UTC), datetime(2200, 1, 1, tzinfo=UTC)):
        zipfile.ZipInfo("a.txt", zip_time(moment))  # accepted
