"""Objects at the edges: non-ASCII user metadata, the headers of 304 and 412 answers,
Content-Encoding around aws-chunked, and the errors of invalid keys."""

from __future__ import annotations

import base64
from typing import Any

import httpx
import pytest
from botocore.client import BaseClient
from botocore.exceptions import ClientError

from s3api.conftest import BUCKET, LiveServer
from s3api.signing import chunked_put, signed, url_of


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


def test_304_and_412_name_the_etag_and_last_modified(alice: BaseClient, home: str) -> None:
    """A conditional GET or HEAD that is answered 304 Not Modified or 412 Precondition Failed
    still says which object it compared: RFC 9110 15.4.5, "The server generating a 304
    response MUST generate any of the following header fields that would have been sent in
    a 200 (OK) response to the same request: ... ETag", and S3 sends Last-Modified with it;
    its 412 answers carry both as well."""
    key = home + "conditional"
    alice.put_object(Bucket=BUCKET, Key=key, Body=b"x")
    head = alice.head_object(Bucket=BUCKET, Key=key)
    expected = (head["ETag"], head["ResponseMetadata"]["HTTPHeaders"]["last-modified"])
    later = "Fri, 01 Jan 2100 00:00:00 GMT"
    earlier = "Thu, 01 Jan 1970 00:00:00 GMT"
    for method in (alice.get_object, alice.head_object):
        for conditions, status in (
            ({"IfNoneMatch": head["ETag"]}, 304),
            ({"IfModifiedSince": later}, 304),
            ({"IfMatch": '"0123456789abcdef0123456789abcdef"'}, 412),
            ({"IfUnmodifiedSince": earlier}, 412),
        ):
            with pytest.raises(ClientError) as caught:
                method(Bucket=BUCKET, Key=key, **conditions)
            answer = caught.value.response["ResponseMetadata"]
            assert answer["HTTPStatusCode"] == status, conditions
            sent = answer["HTTPHeaders"]
            assert (sent.get("etag"), sent.get("last-modified")) == expected, conditions


def test_content_encoding_without_aws_chunked(
    live: LiveServer, alice: BaseClient, home: str
) -> None:
    """AWS S3 API reference, "Signature Calculations for the Authorization Header:
    Transferring Payload in Multiple Chunks": "Amazon S3 supports multiple content encodings.
    For example: Content-Encoding : aws-chunked,gzip" — aws-chunked is how the body
    traveled, not how the object is encoded: the object keeps the rest ("aws-chunked, gzip"
    keeps "gzip"; botocore's "deflate, gzip,aws-chunked" keeps "deflate, gzip"), and an
    encoding sent without aws-chunked stays as it was sent, spaces and all."""
    creds = live.credentials("alice")
    with httpx.Client() as http:
        for name, sent, kept in (
            ("first", "aws-chunked, gzip", "gzip"),
            ("last", "deflate, gzip,aws-chunked", "deflate, gzip"),
            ("alone", "aws-chunked", None),
        ):
            url = url_of(live.endpoint, BUCKET, home + name)
            put = http.send(chunked_put(creds, url, b"payload", {"Content-Encoding": sent}))
            assert put.status_code == 200, put.text
            head = alice.head_object(Bucket=BUCKET, Key=home + name)
            assert head.get("ContentEncoding") == kept, sent
            assert alice.get_object(Bucket=BUCKET, Key=home + name)["Body"].read() == b"payload"
    alice.put_object(Bucket=BUCKET, Key=home + "plain", Body=b"x", ContentEncoding="deflate, gzip")
    head = alice.head_object(Bucket=BUCKET, Key=home + "plain")
    assert head["ContentEncoding"] == "deflate, gzip"


def test_invalid_keys_get_the_s3_error(live: LiveServer, alice: BaseClient, home: str) -> None:
    """S3's codes and messages for keys it refuses: a key over 1,024 bytes is 400
    KeyTooLongError, "Your key is too long"; a path that is not percent-encoded UTF-8 is 400
    InvalidURI, "Couldn't parse the specified URI." Keys lakestow refuses where S3 would not
    (DESIGN.md: no control character, no empty, '.' or '..' segment) are 400
    InvalidArgument, saying why. None of them writes anything."""
    with pytest.raises(ClientError) as long:
        alice.put_object(Bucket=BUCKET, Key=home + "k" * 1100, Body=b"x")
    error = long.value.response["Error"]
    assert error["Code"] == "KeyTooLongError"
    assert error["Message"].startswith("Your key is too long")
    creds = live.credentials("alice")
    raw = f"{live.endpoint}/{BUCKET}/{home}bad-%FF-utf8"
    with httpx.Client() as http:
        answer = http.send(signed(creds, "PUT", raw, body=b"x"))
    assert answer.status_code == 400
    assert "<Code>InvalidURI</Code>" in answer.text
    assert "<Message>Couldn't parse the specified URI.</Message>" in answer.text
    for name, says in (("a/../b", "segment"), ("ctl\x01char", "control characters")):
        with pytest.raises(ClientError) as refused:
            alice.put_object(Bucket=BUCKET, Key=home + name, Body=b"x")
        error = refused.value.response["Error"]
        assert (error["Code"], refused.value.response["ResponseMetadata"]["HTTPStatusCode"]) == (
            "InvalidArgument",
            400,
        )
        assert says in error["Message"], error["Message"]
    assert alice.list_objects_v2(Bucket=BUCKET, Prefix=home)["KeyCount"] == 0
