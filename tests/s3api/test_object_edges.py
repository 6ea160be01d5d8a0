"""Objects at the edges: non-ASCII user metadata, the headers of 304 and 412 answers,
Content-Encoding around aws-chunked, and the errors of invalid keys."""

from __future__ import annotations

import base64
from typing import Any

import httpx
import pytest
from botocore.client import BaseClient

from s3api.conftest import BUCKET, LiveServer
from s3api.signing import signed, url_of


@pytest.fixture
def home(live: LiveServer, request: pytest.FixtureRequest) -> str:
    name = "".join(c if c.isalnum() else "-" for c in request.node.name.lower())
    return f"{live.private('alice')}objects-{name}/"


def _raw_header(response: httpx.Response, name: str) -> bytes | None:
    """A response header's value as the bytes on the wire."""
    found = [v for k, v in response.headers.raw if k.lower() == name.encode()]
    return found[0] if found else None


def test_non_ascii_metadata_round_trips_byte_for_byte(
    live: LiveServer, alice: BaseClient, home: str
) -> None:
    """User metadata comes back as it was sent, byte for byte, in every way clients send
    non-ASCII values (the S3 User Guide: "Amazon S3 stores user-defined metadata keys in
    lowercase", and keeps values; it RFC 2047-encodes non-ASCII ones on the way out, which
    lakestow does not need to: it returns the bytes it was given).

    - botocore refuses non-ASCII metadata ("Non ascii characters found in S3 metadata"), so
      boto3 and the aws CLI send it RFC 2047-encoded, as ASCII;
    - SDKs that do not refuse it send the UTF-8 bytes, and sign them;
    - ceph's s3-tests test_object_set_get_unicode_metadata bypasses botocore's check: botocore
      then sends (and signs) the value's UTF-8 bytes, which come back as they went (botocore
      reads response headers as Latin-1, so it shows them as "Hello WorldÃ©")."""
    creds = live.credentials("alice")
    text = "Grüße, 日本 ✓"
    rfc2047 = "=?UTF-8?B?" + base64.b64encode(text.encode()).decode() + "?="
    alice.put_object(Bucket=BUCKET, Key=home + "rfc2047", Body=b"x", Metadata={"note": rfc2047})
    assert alice.head_object(Bucket=BUCKET, Key=home + "rfc2047")["Metadata"] == {"note": rfc2047}

    url = url_of(live.endpoint, BUCKET, home + "utf8")
    with httpx.Client() as http:
        put = http.send(signed(creds, "PUT", url, headers={"x-amz-meta-note": text}, body=b"x"))
        assert put.status_code == 200, put.text
        for method in ("GET", "HEAD"):
            got = http.send(signed(creds, method, url))
            assert _raw_header(got, "x-amz-meta-note") == text.encode(), method

    latin = live.client("alice")

    def unchecked(params: dict[str, Any], **_: Any) -> None:
        params["headers"]["x-amz-meta-meta1"] = "Hello World\xe9"

    latin.meta.events.register("before-call.s3.PutObject", unchecked)
    latin.put_object(Bucket=BUCKET, Key=home + "latin", Body=b"bar")
    with httpx.Client() as http:
        got = http.send(signed(creds, "GET", url_of(live.endpoint, BUCKET, home + "latin")))
        assert _raw_header(got, "x-amz-meta-meta1") == "Hello World\xe9".encode()
    copied = alice.copy_object(
        Bucket=BUCKET, Key=home + "copy", CopySource={"Bucket": BUCKET, "Key": home + "utf8"}
    )
    assert copied["ResponseMetadata"]["HTTPStatusCode"] == 200
    with httpx.Client() as http:
        got = http.send(signed(creds, "HEAD", url_of(live.endpoint, BUCKET, home + "copy")))
        assert _raw_header(got, "x-amz-meta-note") == text.encode()
