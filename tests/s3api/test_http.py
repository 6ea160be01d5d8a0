"""The HTTP layer under the S3 API (s3api/asgi.py), over raw connections: a body the server
refused is never read as the next request, a client gone mid-body leaves nothing, and HEAD
answers headers only on a connection that stays usable."""

from __future__ import annotations

import hashlib
import http.client
import socket
import time

import pytest
from botocore.client import BaseClient
from botocore.exceptions import ClientError

from s3api.conftest import BUCKET, LiveServer
from s3api.test_bad_input import HandSigner

EMPTY = hashlib.sha256(b"").hexdigest()


def _connect(live: LiveServer) -> socket.socket:
    return socket.create_connection(("127.0.0.1", live.port), timeout=10)


def _read_all(sock: socket.socket) -> bytes:
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def test_a_refused_body_is_never_read_as_a_request(live: LiveServer) -> None:
    smuggled = f"DELETE /{BUCKET}/{live.private('alice')}x HTTP/1.1\r\nHost: a\r\n\r\n".encode()
    request = (
        f"PUT /{BUCKET}/{live.private('alice')}anonymous HTTP/1.1\r\n"
        f"Host: 127.0.0.1:{live.port}\r\nContent-Length: {len(smuggled)}\r\n\r\n"
    ).encode()
    with _connect(live) as sock:
        sock.sendall(request + smuggled)
        answer = _read_all(sock)  # the server closes: EOF, not a second response
    head, _, _ = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 403 "), answer
    assert answer.count(b"HTTP/1.1 ") == 1, answer
    assert b"connection: close" in head.lower()


def test_a_put_cut_off_mid_body_leaves_nothing(live: LiveServer, alice: BaseClient) -> None:
    key = live.private("alice") + "http/cut-off.bin"
    path = f"/{BUCKET}/{key}"
    size = 4 * 1024 * 1024
    signer = HandSigner(live.credentials("alice"), live.endpoint)
    headers = signer.headers("PUT", path, "", "UNSIGNED-PAYLOAD", {"content-length": str(size)})
    lines = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    with _connect(live) as sock:
        sock.sendall(f"PUT {path} HTTP/1.1\r\n{lines}\r\n".encode() + b"x" * (size // 2))
        time.sleep(0.2)
    for _ in range(5):  # the server notices the disconnect: nothing appears, ever
        with pytest.raises(ClientError) as missing:
            alice.head_object(Bucket=BUCKET, Key=key)
        assert missing.value.response["Error"]["Code"] == "404"
        time.sleep(0.4)
    # ...and it keeps serving.
    alice.put_object(Bucket=BUCKET, Key=key, Body=b"whole")
    assert alice.get_object(Bucket=BUCKET, Key=key)["Body"].read() == b"whole"


def test_head_answers_headers_only_and_the_connection_stays_usable(
    live: LiveServer, alice: BaseClient
) -> None:
    key = live.private("alice") + "http/head.bin"
    data = b"0123456789" * 1000
    alice.put_object(Bucket=BUCKET, Key=key, Body=data)
    path = f"/{BUCKET}/{key}"
    signer = HandSigner(live.credentials("alice"), live.endpoint)
    connection = http.client.HTTPConnection("127.0.0.1", live.port, timeout=10)
    try:
        connection.request("HEAD", path, headers=signer.headers("HEAD", path, "", EMPTY, {}))
        head = connection.getresponse()
        assert head.status == 200
        assert head.getheader("content-length") == str(len(data))
        assert head.read() == b""
        # The same connection: a HEAD that sent a body would garble this answer.
        connection.request("GET", path, headers=signer.headers("GET", path, "", EMPTY, {}))
        got = connection.getresponse()
        assert got.status == 200 and got.read() == data
    finally:
        connection.close()


def test_a_repeated_header_is_signed_and_kept_as_its_values_joined(
    live: LiveServer, alice: BaseClient
) -> None:
    """As SigV4 and S3 take them: `x-amz-meta-tag: a` and `x-amz-meta-tag: b` are `a,b`."""
    key = live.private("alice") + "http/repeated.txt"
    path = f"/{BUCKET}/{key}"
    signer = HandSigner(live.credentials("alice"), live.endpoint)
    extra = {"content-length": "2", "x-amz-meta-tag": "a,b"}
    headers = signer.headers("PUT", path, "", hashlib.sha256(b"hi").hexdigest(), extra)
    lines = "".join(
        f"{name}: {value}\r\n" for name, value in headers.items() if name != "x-amz-meta-tag"
    )
    request = f"PUT {path} HTTP/1.1\r\n{lines}x-amz-meta-tag: a\r\nx-amz-meta-tag: b\r\n\r\nhi"
    connection = http.client.HTTPConnection("127.0.0.1", live.port, timeout=10)
    try:
        connection.connect()
        assert connection.sock is not None
        connection.sock.sendall(request.encode())
        answer = http.client.HTTPResponse(connection.sock, method="PUT")
        answer.begin()
        assert answer.status == 200, answer.read()
    finally:
        connection.close()
    head = alice.head_object(Bucket=BUCKET, Key=key)
    assert head["Metadata"] == {"tag": "a,b"}
