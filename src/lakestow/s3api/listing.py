"""ListObjectsV2, ListObjects (V1) and ListObjectVersions.

A member's listings go through `lakestow.warehouse.list_page`, which filters them by the
policy; an operator lists its own buckets as they are.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from urllib.parse import quote_plus

from lakestow import warehouse
from lakestow.errors import InvalidInput
from lakestow.s3api import xml
from lakestow.s3api.asgi import Response
from lakestow.s3api.headers import quoted
from lakestow.s3api.request import MemberRequest, S3Request
from lakestow.storage.protocol import ObjectInfo
from lakestow.warehouse import Page

MAX_KEYS = 1000


async def list_objects(request: S3Request) -> Response:
    q = request.query
    v2 = q.get("list-type") == "2"
    token = q.get("continuation-token") if v2 else None
    start_after = (
        _decode_token(token) if token else q.get("start-after" if v2 else "marker") or None
    )
    prefix, delimiter, max_keys, encode = _common_params(request)
    page = await list_page(request, prefix, delimiter, start_after, max_keys)
    enc = _encoder(encode)
    parts = [xml.tag("Name", request.bucket), xml.tag("Prefix", enc(prefix))]
    if v2:
        parts += [xml.tag("KeyCount", len(page.objects) + len(page.prefixes))]
        if token:
            parts.append(xml.tag("ContinuationToken", token))
        if page.truncated and page.next_start_after:
            parts.append(xml.tag("NextContinuationToken", _encode_token(page.next_start_after)))
        if q.get("start-after"):
            parts.append(xml.tag("StartAfter", enc(q["start-after"])))
    else:
        parts.append(xml.tag("Marker", enc(q.get("marker", ""))))
        if page.truncated and page.next_start_after:
            parts.append(xml.tag("NextMarker", enc(page.next_start_after)))
    parts += _tail(page, delimiter, max_keys, encode)
    parts += _contents(page.objects, enc)
    if page.prefixes:
        prefixes = xml.escape_all([enc(p) for p in page.prefixes] if encode else page.prefixes)
        between = "</Prefix></CommonPrefixes><CommonPrefixes><Prefix>"
        parts.append(f"<CommonPrefixes><Prefix>{between.join(prefixes)}</Prefix></CommonPrefixes>")
    return Response(xml.document("ListBucketResult", parts), media_type="application/xml")


async def list_object_versions(request: S3Request) -> Response:
    """Unversioned buckets: every object is its single `null` version."""
    prefix, delimiter, max_keys, encode = _common_params(request)
    key_marker = request.query.get("key-marker") or None
    page = await list_page(request, prefix, delimiter, key_marker, max_keys)
    enc = _encoder(encode)
    parts = [
        xml.tag("Name", request.bucket),
        xml.tag("Prefix", enc(prefix)),
        xml.tag("KeyMarker", enc(key_marker or "")),
        xml.tag("VersionIdMarker", ""),
    ]
    if page.truncated and page.next_start_after:
        parts += [
            xml.tag("NextKeyMarker", enc(page.next_start_after)),
            xml.tag("NextVersionIdMarker", "null"),
        ]
    parts += _tail(page, delimiter, max_keys, encode)
    for info in page.objects:
        parts.append(
            xml.group(
                "Version",
                [
                    xml.tag("Key", enc(info.key)),
                    xml.tag("VersionId", "null"),
                    xml.tag("IsLatest", True),
                    xml.tag("LastModified", info.last_modified),
                    xml.tag("ETag", quoted(info.etag)),
                    xml.tag("Size", info.size),
                    xml.tag("StorageClass", "STANDARD"),
                ],
            )
        )
    parts += [xml.group("CommonPrefixes", [xml.tag("Prefix", enc(p))]) for p in page.prefixes]
    return Response(xml.document("ListVersionsResult", parts), media_type="application/xml")


async def list_page(
    request: S3Request, prefix: str, delimiter: str | None, start_after: str | None, max_keys: int
) -> Page:
    """One page of what the caller may see under `prefix`."""
    request.require_bucket()
    if isinstance(request, MemberRequest):
        return await warehouse.list_page(
            request.server.store,
            request.member,
            request.authorize,
            prefix,
            delimiter,
            start_after,
            max_keys,
        )
    return await _store_page(request, prefix, delimiter, start_after, max_keys)


async def _store_page(
    request: S3Request, prefix: str, delimiter: str | None, start_after: str | None, max_keys: int
) -> Page:
    page = await request.server.store.list(
        request.bucket,
        prefix=prefix,
        delimiter=delimiter,
        start_after=start_after,
        max_keys=max_keys,
    )
    return Page(page.objects, page.common_prefixes, page.is_truncated, page.next_start_after)


def _common_params(request: S3Request) -> tuple[str, str | None, int, bool]:
    q = request.query
    encoding = q.get("encoding-type")
    if encoding not in (None, "url"):
        raise InvalidInput("Invalid Encoding Method specified in Request")
    raw = q.get("max-keys", str(MAX_KEYS))
    if not raw.isdigit():
        raise InvalidInput("Provided max-keys not an integer or within integer range")
    return (
        q.get("prefix", ""),
        q.get("delimiter") or None,
        min(int(raw), MAX_KEYS),
        encoding == "url",
    )


def _tail(page: Page, delimiter: str | None, max_keys: int, encode: bool) -> list[str]:
    parts = [xml.tag("MaxKeys", max_keys), xml.tag("IsTruncated", page.truncated)]
    if delimiter:
        parts.insert(0, xml.tag("Delimiter", _encoder(encode)(delimiter)))
    if encode:
        parts.append(xml.tag("EncodingType", "url"))
    return parts


def _contents(objects: list[ObjectInfo], enc: Callable[[str], str]) -> list[str]:
    """The objects of a listing, one string each: a 1,000-key page builds a thousand of them,
    so their keys are escaped together. An ETag's quotes are written escaped, its hex (or
    hex-N) takes escape's fast path."""
    keys = xml.escape_all([enc(info.key) for info in objects])
    timestamp = xml.timestamp
    return [
        f"<Contents><Key>{key}</Key><LastModified>{timestamp(info.last_modified)}</LastModified>"
        f"<ETag>&quot;{xml.escape(info.etag)}&quot;</ETag><Size>{info.size}</Size>"
        "<StorageClass>STANDARD</StorageClass></Contents>"
        for key, info in zip(keys, objects, strict=True)
    ]


def _encoder(encode: bool) -> Callable[[str], str]:
    return (lambda text: quote_plus(text, safe="/")) if encode else (lambda text: text)


def _encode_token(start_after: str) -> str:
    return base64.urlsafe_b64encode(start_after.encode()).decode()


def _decode_token(token: str) -> str:
    try:
        return base64.urlsafe_b64decode(token.encode()).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise InvalidInput("The continuation token provided is incorrect") from exc
