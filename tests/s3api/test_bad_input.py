"""Bad input gets its S3 error and writes nothing."""

from __future__ import annotations

import datetime
import hashlib
import hmac
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from botocore.client import BaseClient
from botocore.exceptions import ClientError

from s3api.conftest import BUCKET, LiveServer


@pytest.fixture
def home(live: LiveServer, request: pytest.FixtureRequest) -> str:
    name = "".join(c if c.isalnum() else "-" for c in request.node.name)
    return f"{live.private('alice')}bad-{name}/"


def _error(call: Any, *args: Any, **kwargs: Any) -> tuple[str, int]:
    with pytest.raises(ClientError) as caught:
        call(*args, **kwargs)
    response = caught.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"]


def _assert_nothing_at(alice: BaseClient, prefix: str) -> None:
    assert alice.list_objects_v2(Bucket=BUCKET, Prefix=prefix)["KeyCount"] == 0


def test_wrong_secret(live: LiveServer, alice: BaseClient, home: str) -> None:
    creds = {**live.credentials("alice"), "SecretAccessKey": "not-the-secret"}
    assert _error(
        live.client(credentials=creds).put_object, Bucket=BUCKET, Key=home + "x", Body=b"x"
    ) == ("SignatureDoesNotMatch", 403)
    _assert_nothing_at(alice, home)


def test_tampered_token(live: LiveServer, alice: BaseClient, home: str) -> None:
    creds = live.credentials("alice")
    token = creds["SessionToken"]
    creds["SessionToken"] = token[:30] + ("A" if token[30] != "A" else "B") + token[31:]
    assert _error(
        live.client(credentials=creds).put_object, Bucket=BUCKET, Key=home + "x", Body=b"x"
    ) == ("InvalidToken", 400)
    _assert_nothing_at(alice, home)


def test_unknown_access_key(live: LiveServer) -> None:
    creds = {**live.credentials("alice"), "AccessKeyId": "ASIAUNKNOWNKEY000000"}
    code, _ = _error(live.client(credentials=creds).list_objects_v2, Bucket=BUCKET)
    assert code == "InvalidToken"  # the token was sealed for another access key
    creds = {**live.credentials("alice"), "AccessKeyId": "AKIAIOSFODNN7EXAMPLE"}
    assert _error(live.client(credentials=creds).list_objects_v2, Bucket=BUCKET) == (
        "InvalidAccessKeyId",
        403,
    )


def test_expired_credentials(live: LiveServer, alice: BaseClient, home: str) -> None:
    client = live.client(credentials=live.credentials("alice", "--duration", "1"))
    time.sleep(1.2)
    assert _error(client.put_object, Bucket=BUCKET, Key=home + "x", Body=b"x") == (
        "ExpiredToken",
        400,
    )
    _assert_nothing_at(alice, home)


def test_revoked_credentials(live: LiveServer, alice: BaseClient, home: str) -> None:
    from s3api.conftest import lakestow

    creds = live.credentials("alice")
    client = live.client(credentials=creds)
    client.list_objects_v2(Bucket=BUCKET, Prefix=home)
    lakestow(live.data_dir, "credentials", "revoke", "--access-key-id", creds["AccessKeyId"])
    deadline = time.monotonic() + 10
    refused: ClientError | None = None
    while refused is None and time.monotonic() < deadline:
        try:
            client.list_objects_v2(Bucket=BUCKET, Prefix=home)
            time.sleep(0.2)
        except ClientError as error:
            refused = error
    assert refused is not None, "a revoked credential still worked after 10 s"
    assert refused.response["Error"]["Code"] == "InvalidToken"


def test_skewed_clock(live: LiveServer, alice: BaseClient, home: str) -> None:
    skewed = datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=16)
    signer = HandSigner(live.credentials("alice"), live.endpoint, now=skewed)
    path = f"/{BUCKET}/{quote(home + 'x')}"
    headers = signer.headers("PUT", path, "", hashlib.sha256(b"x").hexdigest(), {})
    response = httpx.put(live.endpoint + path, headers=headers, content=b"x")
    assert response.status_code == 403 and "<Code>RequestTimeTooSkewed</Code>" in response.text
    _assert_nothing_at(alice, home)


def test_wrong_content_md5_and_checksum(alice: BaseClient, home: str) -> None:
    wrong_md5 = "1B2M2Y8AsgTpgAmY7PhCfg=="  # the MD5 of b""
    assert (
        _error(alice.put_object, Bucket=BUCKET, Key=home + "x", Body=b"data", ContentMD5=wrong_md5)[
            0
        ]
        == "BadDigest"
    )
    assert (
        _error(
            alice.put_object, Bucket=BUCKET, Key=home + "y", Body=b"data", ChecksumCRC32="AAAAAA=="
        )[0]
        == "BadDigest"
    )
    assert _error(
        alice.put_object, Bucket=BUCKET, Key=home + "z", Body=b"data", ChecksumSHA256="bm9wZQ=="
    )[0] in ("InvalidRequest", "BadDigest")
    _assert_nothing_at(alice, home)


@pytest.mark.parametrize("name", ["a/../b", "./x", "a//b", "ctl\x01char", "del\x7f", "x/./y"])
def test_invalid_keys(alice: BaseClient, home: str, name: str) -> None:
    code, status = _error(alice.put_object, Bucket=BUCKET, Key=home + name, Body=b"x")
    assert status == 400 and code == "InvalidArgument", code
    _assert_nothing_at(alice, home)


def test_a_key_over_1024_bytes(alice: BaseClient, home: str) -> None:
    assert _error(alice.put_object, Bucket=BUCKET, Key=home + "k" * 1100, Body=b"x") == (
        "KeyTooLongError",
        400,
    )


def test_oversized_header(alice: BaseClient, home: str) -> None:
    code, status = _error(
        alice.put_object, Bucket=BUCKET, Key=home + "x", Body=b"x", Metadata={"big": "v" * 9000}
    )
    assert status == 400 and code in ("RequestHeaderSectionTooLarge", "MetadataTooLarge")
    _assert_nothing_at(alice, home)


# Requests signed here by hand, after the SigV4 specification, to send what SDKs never would.


class HandSigner:
    """A minimal SigV4 signer for plain paths: header auth, optional streaming chunks."""

    def __init__(
        self, creds: dict[str, str], endpoint: str, now: datetime.datetime | None = None
    ) -> None:
        self.creds, self.endpoint = creds, endpoint
        self.now = now or datetime.datetime.now(datetime.UTC)
        self.stamp = self.now.strftime("%Y%m%dT%H%M%SZ")
        self.scope = f"{self.now:%Y%m%d}/us-east-1/s3/aws4_request"
        key = ("AWS4" + creds["SecretAccessKey"]).encode()
        for part in (f"{self.now:%Y%m%d}", "us-east-1", "s3", "aws4_request"):
            key = hmac.new(key, part.encode(), hashlib.sha256).digest()
        self.key = key

    def _hmac(self, text: str) -> str:
        return hmac.new(self.key, text.encode(), hashlib.sha256).hexdigest()

    def headers(
        self, method: str, path: str, query: str, payload_hash: str, extra: dict[str, str]
    ) -> dict[str, str]:
        host = self.endpoint.removeprefix("http://")
        headers = {
            "host": host,
            "x-amz-content-sha256": payload_hash,
            "x-amz-date": self.stamp,
            "x-amz-security-token": self.creds["SessionToken"],
            **extra,
        }
        names = sorted(headers)
        canonical = "\n".join(
            [
                method,
                path,
                query,
                "".join(f"{n}:{headers[n]}\n" for n in names),
                ";".join(names),
                payload_hash,
            ]
        )
        to_sign = "\n".join(
            [
                "AWS4-HMAC-SHA256",
                self.stamp,
                self.scope,
                hashlib.sha256(canonical.encode()).hexdigest(),
            ]
        )
        self.seed = self._hmac(to_sign)
        headers["authorization"] = (
            f"AWS4-HMAC-SHA256 Credential={self.creds['AccessKeyId']}/{self.scope}, "
            f"SignedHeaders={';'.join(names)}, Signature={self.seed}"
        )
        return headers

    def chunks(self, pieces: list[bytes], corrupt: int | None = None) -> Iterator[bytes]:
        previous = self.seed
        for i, piece in enumerate([*pieces, b""]):
            to_sign = "\n".join(
                [
                    "AWS4-HMAC-SHA256-PAYLOAD",
                    self.stamp,
                    self.scope,
                    previous,
                    hashlib.sha256(b"").hexdigest(),
                    hashlib.sha256(piece).hexdigest(),
                ]
            )
            signature = self._hmac(to_sign)
            previous = signature
            if i == corrupt:
                signature = "0" * 64
            yield f"{len(piece):x};chunk-signature={signature}\r\n".encode() + piece + b"\r\n"


def _send(
    live: LiveServer,
    method: str,
    key: str,
    query: str,
    body: bytes,
    mode: str | None = None,
    extra: dict[str, str] | None = None,
) -> httpx.Response:
    signer = HandSigner(live.credentials("alice"), live.endpoint)
    path = "/" + BUCKET + ("/" + quote(key) if key else "")
    payload_hash = mode or hashlib.sha256(body).hexdigest()
    headers = signer.headers(method, path, query, payload_hash, extra or {})
    return httpx.request(
        method, live.endpoint + path + ("?" + query if query else ""), headers=headers, content=body
    )


def test_hand_signed_put_works(live: LiveServer, alice: BaseClient, home: str) -> None:
    """The hand signer is right: so the refusals below are for the reason they test."""
    response = _send(live, "PUT", home + "ok", "", b"signed by hand")
    assert response.status_code == 200, response.text
    assert alice.get_object(Bucket=BUCKET, Key=home + "ok")["Body"].read() == b"signed by hand"


@pytest.mark.parametrize("corrupt", [None, 0, 1, 2])
def test_streaming_chunk_signatures(
    live: LiveServer, alice: BaseClient, home: str, corrupt: int | None
) -> None:
    pieces = [b"a" * 65536, b"b" * 1024]
    signer = HandSigner(live.credentials("alice"), live.endpoint)
    path = f"/{BUCKET}/{quote(home + 'chunked')}"
    headers = signer.headers(
        "PUT",
        path,
        "",
        "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
        {
            "content-encoding": "aws-chunked",
            "x-amz-decoded-content-length": str(sum(map(len, pieces))),
        },
    )
    body = b"".join(signer.chunks(pieces, corrupt))
    response = httpx.put(live.endpoint + path, headers=headers, content=body)
    if corrupt is None:
        assert response.status_code == 200, response.text
        assert alice.get_object(Bucket=BUCKET, Key=home + "chunked")["Body"].read() == b"".join(
            pieces
        )
    else:
        assert response.status_code == 403 and "<Code>SignatureDoesNotMatch</Code>" in response.text
        _assert_nothing_at(alice, home)


def test_payload_hash_mismatch(live: LiveServer, alice: BaseClient, home: str) -> None:
    signer = HandSigner(live.credentials("alice"), live.endpoint)
    path = f"/{BUCKET}/{quote(home + 'x')}"
    headers = signer.headers("PUT", path, "", hashlib.sha256(b"what was signed").hexdigest(), {})
    response = httpx.put(live.endpoint + path, headers=headers, content=b"what was sent")
    assert response.status_code == 400 and "XAmzContentSHA256Mismatch" in response.text
    _assert_nothing_at(alice, home)


@pytest.mark.parametrize(
    "body",
    [
        b"<Delete><Object><Key>x",
        b"not xml at all",
        b'<!DOCTYPE x [<!ENTITY a "aaaa">]><Delete>&a;</Delete>',
        b"<Other/>",
        b"<Delete><Object/></Delete>",
    ],
)
def test_malformed_delete_objects_xml(
    live: LiveServer, alice: BaseClient, home: str, body: bytes
) -> None:
    alice.put_object(Bucket=BUCKET, Key=home + "x", Body=b"keep")
    response = _send(live, "POST", "", "delete=", body)
    assert response.status_code == 400 and "<Code>MalformedXML</Code>" in response.text, (
        response.text
    )
    assert alice.get_object(Bucket=BUCKET, Key=home + "x")["Body"].read() == b"keep"


def test_malformed_complete_multipart_xml(live: LiveServer, alice: BaseClient, home: str) -> None:
    upload = alice.create_multipart_upload(Bucket=BUCKET, Key=home + "mp")["UploadId"]
    alice.upload_part(Bucket=BUCKET, Key=home + "mp", UploadId=upload, PartNumber=1, Body=b"x")
    response = _send(
        live, "POST", home + "mp", f"uploadId={upload}", b"<CompleteMultipartUpload><Part>"
    )
    assert response.status_code == 400 and "<Code>MalformedXML</Code>" in response.text
    _assert_nothing_at(alice, home + "mp")
    assert len(alice.list_parts(Bucket=BUCKET, Key=home + "mp", UploadId=upload)["Parts"]) == 1


def test_anonymous_requests_are_refused(live: LiveServer) -> None:
    response = httpx.get(f"{live.endpoint}/{BUCKET}/{live.private('alice')}")
    assert response.status_code == 403 and "<Code>AccessDenied</Code>" in response.text
