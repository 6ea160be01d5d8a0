"""Raw requests to a live server, signed with botocore's own SigV4 signers: for what an SDK
would never send as it is (odd headers, a body that arrives late, a presigned URL of another
time or lifetime), while the signature stays exactly what AWS clients compute."""

from __future__ import annotations

import datetime
import io
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from types import SimpleNamespace
from typing import Any
from urllib.parse import quote

import botocore.auth
import httpx
from botocore.auth import S3SigV4Auth, S3SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.httpchecksum import AwsChunkedWrapper, Crc32Checksum

REGION = "us-east-1"


def _credentials(creds: Mapping[str, Any]) -> Credentials:
    return Credentials(creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"])


def url_of(endpoint: str, bucket: str, key: str = "", query: str = "") -> str:
    path = f"/{bucket}" + (f"/{quote(key, safe='/')}" if key else "")
    return endpoint + path + (f"?{query}" if query else "")


def signed(
    creds: Mapping[str, Any],
    method: str,
    url: str,
    *,
    headers: Mapping[str, str] | None = None,
    body: bytes = b"",
    stream: Iterator[bytes] | None = None,
) -> httpx.Request:
    """`method url` signed in its headers as botocore signs it: with the SHA-256 of `body`,
    or UNSIGNED-PAYLOAD for a `stream` (whose Content-Length the caller gives in `headers`).
    Header values may be any str: botocore signs their UTF-8, and they are sent as UTF-8."""
    request = AWSRequest(method=method, url=url, data=body, headers=dict(headers or {}))
    if stream is not None:
        request.context["client_config"] = SimpleNamespace(s3={"payload_signing_enabled": False})
    S3SigV4Auth(_credentials(creds), "s3", REGION).add_auth(request)
    sent = {name: value.encode() for name, value in request.headers.items()}
    return httpx.Request(method, url, headers=sent, content=body if stream is None else stream)


def chunked_put(
    creds: Mapping[str, Any], url: str, body: bytes, headers: Mapping[str, str]
) -> httpx.Request:
    """A PUT of `body` as current SDKs send one over TLS: aws-chunked with a CRC32 trailer
    (botocore's AwsChunkedWrapper), signed STREAMING-UNSIGNED-PAYLOAD-TRAILER. `headers`
    should give Content-Encoding, which must include aws-chunked."""
    encoded = AwsChunkedWrapper(
        io.BytesIO(body), Crc32Checksum, "x-amz-checksum-crc32", chunk_size=64 * 1024
    ).read()
    request = AWSRequest(
        method="PUT",
        url=url,
        headers={
            **headers,
            "Content-Length": str(len(encoded)),
            "X-Amz-Decoded-Content-Length": str(len(body)),
            "X-Amz-Trailer": "x-amz-checksum-crc32",
        },
    )
    request.context["checksum"] = {"request_algorithm": {"in": "trailer"}}
    S3SigV4Auth(_credentials(creds), "s3", REGION).add_auth(request)
    return httpx.Request("PUT", url, headers=dict(request.headers.items()), content=encoded)


def presigned(
    creds: Mapping[str, Any],
    method: str,
    url: str,
    *,
    expires: int = 3600,
    signed_at: datetime.datetime | None = None,
) -> str:
    """A presigned URL of `method url`, as botocore makes it, valid for `expires` seconds
    from `signed_at` (default: now)."""
    request = AWSRequest(method=method, url=url)
    with _clock(signed_at):
        S3SigV4QueryAuth(_credentials(creds), "s3", REGION, expires=expires).add_auth(request)
    return str(request.url)


@contextmanager
def _clock(moment: datetime.datetime | None) -> Iterator[None]:
    """botocore's signers read the time through `botocore.auth.get_current_datetime`: the
    client's clock, set here to `moment` (naive UTC, as botocore keeps it)."""
    if moment is None:
        yield
        return
    original = botocore.auth.get_current_datetime
    botocore.auth.get_current_datetime = lambda *_, **__: moment.replace(tzinfo=None)
    try:
        yield
    finally:
        botocore.auth.get_current_datetime = original
