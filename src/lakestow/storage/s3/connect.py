"""The upstream client: aiobotocore, configured for an S3-compatible store lakestow owns a
bucket in (path-style addressing, bounded retries and timeouts, a connection pool)."""

from __future__ import annotations

import os
import re
from contextlib import AsyncExitStack
from typing import TYPE_CHECKING, Any, cast

from aiobotocore.config import AioConfig
from aiobotocore.session import get_session

if TYPE_CHECKING:
    from types_aiobotocore_s3 import S3Client


async def open_client(
    stack: AsyncExitStack,
    *,
    endpoint_url: str | None,
    access_key_id: str | None,
    secret_access_key: str | None,
    session_token: str | None,
    region: str | None,
    max_connections: int,
    max_attempts: int,
    request_timeout: float,
) -> S3Client:
    """A client of the upstream, closed with `stack`. Endpoint, credentials and region fall
    back to the standard AWS variables (`AWS_ENDPOINT_URL`, `AWS_ACCESS_KEY_ID`, ...) and
    configuration files."""
    config = AioConfig(
        s3={"addressing_style": "path"},
        signature_version="s3v4",
        retries={"max_attempts": max_attempts, "mode": "standard"},
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
        max_pool_connections=max_connections,
        connect_timeout=request_timeout,
        read_timeout=request_timeout,
    )
    env = os.environ.get
    creator = get_session().create_client(
        "s3",
        endpoint_url=endpoint_url or env("AWS_ENDPOINT_URL_S3") or env("AWS_ENDPOINT_URL"),
        aws_access_key_id=access_key_id,
        aws_secret_access_key=secret_access_key,
        aws_session_token=session_token,
        region_name=region or env("AWS_REGION") or env("AWS_DEFAULT_REGION") or "us-east-1",
        config=config,
    )
    client = cast("S3Client", await stack.enter_async_context(creator))
    _sign_without_payload(client)
    _keep_version_order(client)
    return client


ENTRY_ORDER = "EntryOrder"
"""The member `_keep_version_order` adds to a ListObjectVersions answer."""

_ENTRY = re.compile(rb"<(Version|DeleteMarker)>")


def _keep_version_order(client: S3Client) -> None:
    """Keep the order of a ListObjectVersions answer's versions and delete markers.

    S3 lists them interleaved, newest first within a key; botocore parses them into two
    lists (Versions, DeleteMarkers), and their times, to the second, cannot put them back
    in order. Before parsing, the order of the elements is recorded as `ENTRY_ORDER`, a string
    of "V" (the next of Versions) and "M" (the next of DeleteMarkers). A key's text cannot
    hold an element's tag: XML escapes its "<".
    """

    def record(response_dict: Any, customized_response_dict: Any, **_: Any) -> None:
        if response_dict.get("status_code", 500) < 300:
            tags = _ENTRY.findall(response_dict.get("body") or b"")
            order = "".join("V" if tag == b"Version" else "M" for tag in tags)
            customized_response_dict[ENTRY_ORDER] = order

    client.meta.events.register("before-parse.s3.ListObjectVersions", record)


_BODY_WRITES = ("PutObject", "UploadPart")
"""The operations whose bodies this backend always sends with a Content-MD5."""


def _sign_without_payload(client: S3Client) -> None:
    """Sign PUT and part bodies as UNSIGNED-PAYLOAD when they carry a Content-MD5.

    Over plain http botocore hashes every body with SHA-256 for the SigV4 signature (over
    https it already skips that for such bodies): a third pass over each byte, on the event
    loop. It is not needed for integrity when the request carries a Content-MD5: that header
    is signed, and the upstream refuses a body that does not match it (BadDigest), so a man
    in the middle can alter neither the body nor the digest (that would take an MD5 second
    preimage, not a collision). Every PutObject and UploadPart of this backend sends one, and
    only requests that do are affected, whatever the scheme; other bodies (the part list of
    CompleteMultipartUpload, DeleteObjects) stay signed. `payload_signing_enabled` is a
    client-wide setting, so it is swapped into the request's context just before signing.
    """
    config = client.meta.config
    s3_options = {**(getattr(config, "s3", None) or {}), "payload_signing_enabled": False}
    unsigned = config.merge(AioConfig(s3=s3_options))

    def unsigned_if_digested(request: Any, **_: Any) -> None:
        if "Content-MD5" in request.headers:
            request.context["client_config"] = unsigned

    for operation in _BODY_WRITES:
        client.meta.events.register(f"before-sign.s3.{operation}", unsigned_if_digested)
