"""ListObjectsV2, ListObjects (V1) and ListMultipartUploads (ListObjectVersions: `versioning`).

A member's listings are made by `lakestow.warehouse`, of the subtrees the member may see
alone; an operator lists its own buckets as they are. Continuation tokens are sealed
(`auth.cursors`) to the caller and the listing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from urllib.parse import quote

from lakestow import warehouse
from lakestow.auth import cursors
from lakestow.auth.policy import Action
from lakestow.errors import InvalidInput
from lakestow.s3api import xml
from lakestow.s3api.asgi import Response
from lakestow.s3api.request import MemberRequest, S3Request
from lakestow.storage.protocol import ListPage, ObjectInfo, UploadInfo

MAX_KEYS = 1000


async def list_objects(request: S3Request) -> Response:
    q = request.query
    v2 = q.get("list-type") == "2"
    token = q.get("continuation-token") if v2 else None
    prefix, delimiter, max_keys, encode = common_params(request)
    binding = _binding(request, prefix, delimiter)
    start_after = (
        _open_token(request, binding, token)
        if token
        else q.get("start-after" if v2 else "marker") or None
    )
    page = await list_page(request, prefix, delimiter, start_after, max_keys)
    enc = encoder(encode)
    parts = [xml.tag("Name", request.bucket), xml.tag("Prefix", enc(prefix))]
    if v2:
        parts += [xml.tag("KeyCount", len(page.objects) + len(page.common_prefixes))]
        if token is not None:  # "If ContinuationToken was sent with the request", even empty
            parts.append(xml.tag("ContinuationToken", token))
        if page.is_truncated and page.next_start_after:
            sealed = cursors.seal(request.runtime.keyring, binding, page.next_start_after)
            parts.append(xml.tag("NextContinuationToken", sealed))
        if "start-after" in q:
            parts.append(xml.tag("StartAfter", enc(q["start-after"])))
    else:
        parts.append(xml.tag("Marker", enc(q.get("marker", ""))))
        if page.is_truncated and page.next_start_after:
            parts.append(xml.tag("NextMarker", enc(page.next_start_after)))
    parts += tail(page.is_truncated, delimiter, max_keys, encode)
    # ListObjects (V1) names every object's owner; V2 only when asked to (FetchOwner)
    owner = owner_of(request) if not v2 or q.get("fetch-owner", "").lower() == "true" else ""
    parts += await xml.in_pieces(partial(_contents, enc=enc, owner=owner), page.objects)
    parts += common_prefixes(page.common_prefixes, enc)
    return Response(xml.document("ListBucketResult", parts), media_type="application/xml")


async def list_uploads(request: S3Request) -> Response:
    """The uploads in progress that the caller may complete or abort."""
    q = request.query
    prefix, delimiter, max_uploads, encode = common_params(request, "max-uploads")
    key_marker = q.get("key-marker") or None
    id_marker = q.get("upload-id-marker") or None if key_marker else None
    if isinstance(request, MemberRequest):
        reached = warehouse.spans(request.member, Action.WRITE, prefix, delimiter)
    else:
        reached = [warehouse.Span(prefix)]
    page = await warehouse.list_uploads(
        request.runtime.store,
        request.bucket,
        reached,
        prefix,
        delimiter,
        key_marker,
        id_marker,
        max_uploads,
    )
    enc = encoder(encode)
    parts = [
        xml.tag("Bucket", request.bucket),
        xml.tag("KeyMarker", enc(key_marker or "")),
        xml.tag("UploadIdMarker", id_marker or ""),
        xml.tag("Prefix", enc(prefix)),
        xml.tag("MaxUploads", max_uploads),
        xml.tag("IsTruncated", page.truncated),
    ]
    if delimiter:
        parts.insert(4, xml.tag("Delimiter", enc(delimiter)))
    if page.last is not None:
        last = page.last
        parts.append(xml.tag("NextKeyMarker", enc(last if isinstance(last, str) else last.key)))
        parts.append(xml.tag("NextUploadIdMarker", "" if isinstance(last, str) else last.upload_id))
    if encode:
        parts.append(xml.tag("EncodingType", "url"))
    parts += await xml.in_pieces(partial(_uploads, enc=enc), page.uploads)
    parts += common_prefixes(page.prefixes, enc)
    return Response(xml.document("ListMultipartUploadsResult", parts), media_type="application/xml")


async def list_page(
    request: S3Request, prefix: str, delimiter: str | None, start_after: str | None, max_keys: int
) -> ListPage:
    """One page of what the caller may see under `prefix`."""
    if isinstance(request, MemberRequest):
        return await warehouse.list_page(
            request.runtime.store,
            request.member,
            request.authorize,
            prefix,
            delimiter,
            start_after,
            max_keys,
        )
    return await request.runtime.store.list(
        request.bucket,
        prefix=prefix,
        delimiter=delimiter,
        start_after=start_after,
        max_keys=max_keys,
    )


def common_params(
    request: S3Request, max_name: str = "max-keys"
) -> tuple[str, str | None, int, bool]:
    """A listing's prefix, delimiter, page size (`max_name`) and whether it url-encodes."""
    q = request.query
    encoding = q.get("encoding-type")
    if encoding not in (None, "url"):
        raise InvalidInput("Invalid Encoding Method specified in Request")
    raw = q.get(max_name, str(MAX_KEYS))
    if not raw.isascii() or not raw.isdigit():
        raise InvalidInput(f"Provided {max_name} not an integer or within integer range")
    return (
        q.get("prefix", ""),
        q.get("delimiter") or None,
        min(int(raw), MAX_KEYS),
        encoding == "url",
    )


def tail(truncated: bool, delimiter: str | None, max_keys: int, encode: bool) -> list[str]:
    """MaxKeys, IsTruncated, Delimiter and EncodingType of a listing."""
    parts = [xml.tag("MaxKeys", max_keys), xml.tag("IsTruncated", truncated)]
    if delimiter:
        parts.insert(0, xml.tag("Delimiter", encoder(encode)(delimiter)))
    if encode:
        parts.append(xml.tag("EncodingType", "url"))
    return parts


def _contents(objects: Sequence[ObjectInfo], enc: Callable[[str], str], owner: str) -> list[str]:
    """The objects of a listing, one string each: a 1,000-key page builds a thousand of them,
    so their keys are escaped together. An ETag's quotes are written escaped, its hex (or
    hex-N) takes escape's fast path. `owner` is each one's <Owner> element, or ""."""
    keys = xml.escape_all([enc(info.key) for info in objects])
    timestamp = xml.timestamp
    return [
        f"<Contents><Key>{key}</Key><LastModified>{timestamp(info.last_modified)}</LastModified>"
        f"<ETag>&quot;{xml.escape(info.etag)}&quot;</ETag><Size>{info.size}</Size>"
        f"<StorageClass>STANDARD</StorageClass>{owner}</Contents>"
        for key, info in zip(keys, objects, strict=True)
    ]


def common_prefixes(prefixes: list[str], enc: Callable[[str], str]) -> list[str]:
    """A listing's <CommonPrefixes>, in one string (none when there are none): a thousand of
    them take a few hundred microseconds."""
    if not prefixes:
        return []
    escaped = xml.escape_all([enc(prefix) for prefix in prefixes])
    between = "</Prefix></CommonPrefixes><CommonPrefixes><Prefix>"
    return [f"<CommonPrefixes><Prefix>{between.join(escaped)}</Prefix></CommonPrefixes>"]


def _uploads(uploads: Sequence[UploadInfo], enc: Callable[[str], str]) -> list[str]:
    """ListMultipartUploads' <Upload>s, one string each (a page holds up to 1,000)."""
    keys = xml.escape_all([enc(upload.key) for upload in uploads])
    return [
        f"<Upload><Key>{key}</Key><UploadId>{xml.escape(upload.upload_id)}</UploadId>"
        f"<Initiated>{xml.timestamp(upload.initiated)}</Initiated>"
        "<StorageClass>STANDARD</StorageClass></Upload>"
        for key, upload in zip(keys, uploads, strict=True)
    ]


def owner_of(request: S3Request) -> str:
    """The <Owner> of the objects a caller lists: the caller, as ListBuckets names the owner
    of the buckets (lakestow keeps no owner per object; none leaks another member's id)."""
    return xml.group("Owner", [xml.tag("ID", request.actor), xml.tag("DisplayName", request.actor)])


def url_encode(text: str) -> str:
    """A name as S3 writes it for encoding-type=url: UTF-8, percent-encoded but for
    A-Z a-z 0-9 - _ . * and /; a space is %20 (not +), + is %2B, ~ is %7E, and control
    characters, which XML cannot carry, are encoded like any other byte."""
    return quote(text, safe="/*").replace("~", "%7E")


def encoder(encode: bool) -> Callable[[str], str]:
    """What names go through before they are written: `url_encode`, or nothing."""
    return url_encode if encode else (lambda text: text)


def _binding(request: S3Request, prefix: str, delimiter: str | None) -> tuple[object, ...]:
    return ("ListObjectsV2", request.actor, request.bucket, prefix, delimiter)


def _open_token(request: S3Request, binding: tuple[object, ...], token: str) -> str:
    message = "The continuation token provided is incorrect"
    return cursors.open_(request.runtime.keyring, binding, token, message)
