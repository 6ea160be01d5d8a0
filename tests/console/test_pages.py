"""The HTML pages in-process: sign-in, the browser, credentials and admin pages."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime

import pytest

from console.console_support import As, Console
from lakestow.auth.policy import SPARK_LOGS_WARNING
from lakestow.console.pages import when
from lakestow.storage.local import search as local_search


def test_root_shows_the_sign_in_form(console: Console) -> None:
    console.client.cookies.clear()
    page = console.client.get("/")
    assert page.status_code == 200
    assert 'action="/signin"' in page.text and 'name="password"' in page.text


def test_pages_need_a_session(console: Console) -> None:
    console.client.cookies.clear()
    for url in ("/browse/", "/credentials", "/admin"):
        response = console.client.get(url, follow_redirects=False)
        assert response.status_code == 303
        assert response.headers["location"].startswith("/?next=")


def test_sign_in_form_then_browse_and_sign_out(console: Console) -> None:
    console.client.cookies.clear()
    form = {"name": "alice", "password": "alice-password", "next": "/browse/data/"}
    page = console.client.post("/signin", data=form)
    assert page.status_code == 200 and str(page.url).endswith("/browse/data/")
    assert f"customer-{console.ids['alice']}/" in page.text and "Copy S3 path" in page.text
    csrf = page.text.split('name="csrf-token" content="')[1].split('"')[0]
    out = console.client.post("/signout", data={"csrf": csrf}, follow_redirects=False)
    assert out.status_code == 303
    assert console.client.get("/browse/", follow_redirects=False).status_code == 303


def test_wrong_password_shows_a_message_and_keeps_the_name(console: Console) -> None:
    console.client.cookies.clear()
    form = {"name": "alice", "password": "nope-nope", "next": "/browse/data/"}
    page = console.client.post("/signin", data=form)
    assert page.status_code == 401 and "wrong name or password" in page.text
    assert 'name="name" autocomplete="username" required value="alice"' in page.text
    assert 'value="/browse/data/"' in page.text and "nope-nope" not in page.text
    odd = console.client.post("/signin", data={"name": '"><script>x</script>', "password": "p"})
    assert "<script>x" not in odd.text and "&#34;&gt;&lt;script&gt;" in odd.text


def test_the_error_page_keeps_the_navigation(alice: As) -> None:
    refused = alice.get("/browse/data/customer-999/")
    assert refused.status_code == 403 and "another member" in refused.text
    assert "My folders" in refused.text and "Sign out" in refused.text
    assert f'href="/browse/data/customer-{alice.id}/">My data' in refused.text


def test_favicon(console: Console) -> None:
    icon = console.client.get("/favicon.ico")
    assert icon.status_code == 200 and icon.headers["content-type"] == "image/svg+xml"
    assert icon.text.startswith("<svg")


def test_my_folders_one_badge_and_the_notebooks_mirror_notice(alice: As) -> None:
    root = alice.get("/browse/").text
    for page in (root, alice.get("/browse/data/").text):
        crumbs = page.split('class="crumbs"')[1].split("</nav>")[0]
        assert crumbs.count(">read-only<") == 1, crumbs
    links = [f"data/customer-{alice.id}/", f"notebooks/customer-{alice.id}/", "data/shared/"]
    assert all(f'href="/browse/{link}"' in root for link in links)
    mirrored = alice.get(f"/browse/notebooks/customer-{alice.id}/").text
    assert 'id="mirror-notice"' in mirrored and "one way" in mirrored
    assert 'id="mirror-notice"' not in alice.get(f"/browse/{alice.home()}").text


def test_browse_offers_only_allowed_actions(alice: As) -> None:
    root = alice.get("/browse/").text
    assert 'id="pick-files"' not in root and "read-only" in root
    alice.put(f"/api/object?path={alice.home('f.txt')}", content=b"x")
    home = alice.get(f"/browse/{alice.home()}").text
    assert 'id="pick-files"' in home and "webkitdirectory" in home
    assert (
        'class="delete"' in home and f'data-s3="s3://lakestow/acme/{alice.home("f.txt")}"' in home
    )


def test_spark_logs_shows_its_warning(alice: As) -> None:
    page = alice.get("/browse/spark-logs/").text
    assert 'id="folder-warning"' in page
    assert SPARK_LOGS_WARNING.split(":")[0] in page and "data-warning=" in page


def test_search_and_paging_links(alice: As) -> None:
    for i in range(5):
        alice.put(f"/api/object?path={alice.home(f'r{i}.csv')}", content=b"x")
    page = alice.get(f"/browse/{alice.home()}?limit=2").text
    assert 'id="next-page"' in page and page.count('class="entry"') == 2
    found = alice.get("/browse/data/?q=r3").text
    assert found.count('class="entry"') == 1 and "r3.csv" in found


def test_search_results_page_by_page_and_say_when_partial(
    alice: As, monkeypatch: pytest.MonkeyPatch
) -> None:
    for i in range(5):
        alice.put(f"/api/object?path={alice.home(f'needle-{i}.csv')}", content=b"x")
    alice.put(f"/api/object?path={alice.home('hay.csv')}", content=b"x")
    seen: list[str] = []
    url = "/browse/data/?q=NEEDLE&limit=2"
    for _ in range(5):
        page = alice.get(url).text
        seen += re.findall(r'data-name="([^"]+)"', page)
        assert 'id="search-partial"' not in page
        more = re.search(r'id="next-page" href="([^"]+)"', page)
        if more is None:
            break
        url = "/browse/data/" + html.unescape(more.group(1))
    assert seen == [f"needle-{i}.csv" for i in range(5)]
    monkeypatch.setattr(local_search, "CANDIDATES", 0)  # a scan, as of a too common text
    monkeypatch.setattr(local_search, "SCAN_BUDGET", 2)  # of 2 objects a call
    page = alice.get(f"/browse/{alice.home()}?q=needle").text
    assert 'id="search-partial"' in page and f"up to /{alice.home('needle-0.csv')}" in page
    assert re.findall(r'data-name="([^"]+)"', page) == ["needle-0.csv"]
    further = re.search(r'id="search-further" href="([^"]+)"', page)
    assert further is not None
    page = alice.get(f"/browse/{alice.home()}" + html.unescape(further.group(1))).text
    assert re.findall(r'data-name="([^"]+)"', page) == ["needle-1.csv", "needle-2.csv"]


def test_credentials_and_admin_pages(console: Console, alice: As) -> None:
    assert 'id="credentials-form"' in alice.get("/credentials").text
    assert alice.get("/admin").status_code == 403
    root = console.as_("root")
    assert 'id="members"' in root.get("/admin").text


def test_the_admin_page_shows_the_warehouse_and_its_trash(console: Console, alice: As) -> None:
    for body in (b"a" * 3000, b"b" * 2048):  # the first is kept in the trash
        assert alice.put(f"/api/object?path={alice.home('t.bin')}", content=body).is_success
    alice.put(f"/api/object?path={alice.home('small.txt')}", content=b"12345")
    root = console.as_("root")
    page = root.get("/admin").text
    current = page.split('id="usage-current"', 1)[1].split("</tr>", 1)[0]
    kept = page.split('id="usage-trash"', 1)[1].split("</tr>", 1)[0]
    assert "<td>2</td><td>2.0 KiB</td>" in current
    assert "kept 30d</td><td>1</td><td>2.9 KiB</td>" in kept
    usage = root.get("/api/admin/usage").json()["warehouse"]
    assert usage == {
        "current_bytes": 2048 + 5,
        "current_objects": 2,
        "retained_bytes": 3000,
        "retained_versions": 1,
        "trash": True,
        "retention_seconds": 30 * 86400,
        "retention": "30d",
    }
    console.opened.services("test").orgs.set_retention("acme", 0)
    assert "Retention is 0" in root.get("/admin").text


def test_unknown_api_route_is_json(alice: As) -> None:
    response = alice.get("/api/nothing-here")
    assert response.status_code == 404 and response.json()["error"] == "NotFound"


def test_sizes_and_times_in_human_units_with_the_exact_values_on_hover(alice: As) -> None:
    alice.put(f"/api/object?path={alice.home('units/big.bin')}", content=b"x" * 1_500_000)
    page = alice.get(f"/browse/{alice.home('units/')}").text
    row = page.split('data-name="big.bin"')[1].split("</tr>")[0]
    assert '<td class="size" title="1,500,000 bytes">1.4 MiB</td>' in row
    assert ">just now</time>" in row and 'title="20' in row


def test_when_says_times_as_people_do() -> None:
    now = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
    said = {
        "2026-12-03T11:59:30+00:00": "just now",
        "2026-12-03T11:55:00+00:00": "5 min ago",
        "2026-12-03T09:00:00+00:00": "3 h ago",
        "2026-12-02T09:00:00+00:00": "yesterday",
        "2026-03-12T09:00:00+00:00": "12 Mar",
        "2025-03-12T09:00:00+00:00": "12 Mar 2025",
    }
    assert {moment: when(moment, now) for moment in said} == said
