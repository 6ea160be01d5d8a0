"""Issue 12, attack 4: a console body as large as the sender likes, without signing in. Every
JSON and form body is refused with 413 while it streams in (from Content-Length, or from the
bytes counted so far), the server's memory stays flat, and uploads still stream unbounded."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator

import pytest
import requests

from console.console_support import As, Console, LiveConsole, password
from flood import ATTACK, RSS_GROWTH, MiB, Peak, chunked, filler, flood
from lakestow.paths import MAX_KEY_BYTES

SIGN_IN_PREFIX = b'{"name": "'
FORM_PREFIX = b"name=alice&password=x"


def _fields() -> Iterator[bytes]:
    """300 MB of form fields of just under a MiB each: each passes Starlette's own limit on a
    field (1 MiB), so only a cap on the whole body stops them."""
    yield FORM_PREFIX
    field = b"&f=" + b"a" * (MiB - 16)
    for _ in range(ATTACK // len(field)):
        yield field


def _attack(
    live: LiveConsole,
    target: str,
    framing: str,
    content_type: str,
    body: Callable[[], Iterator[bytes]],
) -> str:
    """A 300 MB body with no cookie; the console's answer (status 413 checked) as text."""
    headers = {"host": f"127.0.0.1:{live.console_port}", "content-type": content_type}
    if framing == "content-length":
        headers["content-length"] = str(sum(len(piece) for piece in body()))
        pieces = body()
    else:
        headers["transfer-encoding"] = "chunked"
        pieces = chunked(body())
    assert live.process is not None
    peak = Peak(live.process.pid)
    answer = flood(live.console_port, "POST", target, headers, pieces)
    grown = peak.growth
    assert grown < RSS_GROWTH, f"the server's RSS grew by {grown // MiB} MiB"
    assert answer.status == 413, answer
    assert answer.sent < ATTACK // 2, "the server read the body to the end"
    return answer.body.decode()


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
def test_a_300_mb_sign_in_body_is_refused_as_it_streams(live: LiveConsole, framing: str) -> None:
    answer = _attack(
        live, "/api/session", framing, "application/json", lambda: filler(ATTACK, SIGN_IN_PREFIX)
    )
    error = json.loads(answer)
    assert error["error"] == "BodyTooLarge" and "16 KiB" in error["message"], error
    signed_in = requests.post(
        live.url + "/api/session", json={"name": "bob", "password": password("bob")}, timeout=10
    )
    assert signed_in.status_code == 201, signed_in.text


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
def test_a_300_mb_sign_in_form_is_refused_as_it_streams(live: LiveConsole, framing: str) -> None:
    page = _attack(live, "/signin", framing, "application/x-www-form-urlencoded", _fields)
    assert "<html" in page.lower() and "16 KiB" in page


def test_sign_in_bodies_are_small(console: Console) -> None:
    client = console.client
    client.cookies.clear()
    body = {"name": "alice", "password": "x" * 16 * 1024}
    response = client.post("/api/session", json=body)
    assert response.status_code == 413, response.text
    assert response.json()["error"] == "BodyTooLarge"
    assert response.headers["connection"] == "close"
    form = client.post("/signin", data={"name": "alice", "password": "x" * 16 * 1024})
    assert form.status_code == 413 and "16 KiB" in form.text
    files = {"password": ("p.txt", b"x" * 16 * 1024)}
    multipart = client.post("/signin", data={"name": "alice"}, files=files)
    assert multipart.status_code == 413 and "16 KiB" in multipart.text
    assert console.sign_in("alice").status_code == 201


def test_a_sign_out_form_is_small(alice: As) -> None:
    response = alice.post("/signout", data={"csrf": alice.csrf + "x" * 16 * 1024})
    assert response.status_code == 413 and "16 KiB" in response.text
    assert alice.get("/api/me").status_code == 200  # still signed in: the form was never read


def test_a_json_body_over_the_limit_is_refused(alice: As) -> None:
    response = alice.post("/api/folder", content=b'{"path": "' + b"a" * 4 * MiB + b'"}')
    assert response.status_code == 413, response.text
    assert response.json()["error"] == "BodyTooLarge"


def test_the_longest_legitimate_delete_passes(alice: As) -> None:
    """1,000 paths of nearly 1,024 bytes, written by json.dumps with its default \\u escapes
    (6 bytes for each 2-byte character): about 3 MB."""
    paths = [alice.home(f"{i:04d}").ljust(MAX_KEY_BYTES // 2 - 30, "é") for i in range(1000)]
    body = json.dumps({"paths": paths}).encode()
    assert len(body) > 2 * MiB
    response = alice.post("/api/delete", content=body)
    assert response.status_code == 200, response.text


def test_deeply_nested_json_is_bad_input(alice: As) -> None:
    response = alice.post("/api/folder", content=b"[" * 10_000)
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "InvalidArgument"


def test_uploads_stream_past_the_json_limit(alice: As) -> None:
    data = b"u" * (5 * MiB)
    put = alice.put("/api/object", params={"path": alice.home("big.bin")}, content=data)
    assert put.status_code == 201, put.text
    started = alice.post("/api/uploads", json={"path": alice.home("parts.bin"), "size": len(data)})
    upload_id = started.json()["upload_id"]
    part = alice.put(
        f"/api/uploads/{upload_id}/parts/1", params={"path": alice.home("parts.bin")}, content=data
    )
    assert part.status_code == 200, part.text
    done = alice.post(f"/api/uploads/{upload_id}/complete", json={"path": alice.home("parts.bin")})
    assert done.status_code == 200 and done.json()["size"] == len(data), done.text
