"""Bucket versioning: GetBucketVersioning, PutBucketVersioning and ListObjectVersions.

A bucket's versioning is never set, Enabled or Suspended (`storage.protocol`): GET answers an
empty VersioningConfiguration while it was never set, as S3 does. Setting it is the bucket
owner's (an operator's own bucket; never a member, who cannot change the organization's
bucket), as for every bucket configuration. MFA delete is refused (501): lakestow has no MFA
devices, and would not accept a setting it cannot honour.

A member's versions listing is made by `lakestow.warehouse` of the subtrees the member may
list alone, so it shows exactly what it would if others' objects and versions did not exist;
an operator lists its own buckets as they are.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from xml.etree.ElementTree import Element

from lakestow import warehouse
from lakestow.auth.policy import Action
from lakestow.errors import InvalidInput, InvalidRequest, Unsupported
from lakestow.s3api import xml
from lakestow.s3api.asgi import Response
from lakestow.s3api.listing import common_params, common_prefixes, encoder, owner_of, tail
from lakestow.s3api.request import MemberRequest, S3Request
from lakestow.storage.protocol import ENABLED, NULL_VERSION, SUSPENDED, VersionInfo, VersionsPage


async def get_versioning(request: S3Request) -> Response:
    status = await request.runtime.store.get_versioning(request.bucket)
    parts = [] if status is None else [xml.tag("Status", status)]
    return Response(xml.document("VersioningConfiguration", parts), media_type="application/xml")


async def put_versioning(request: S3Request) -> Response:
    """Enable or suspend versioning; a configuration without a Status changes nothing."""
    request.authorize(Action.WRITE, "")  # the bucket's owner: an operator, never a member
    root = await xml.parse(await request.read_body(xml.MAX_BODY), "VersioningConfiguration")
    status = _one_of(root, "Status", (ENABLED, SUSPENDED))
    if _one_of(root, "MfaDelete", ("Enabled", "Disabled")) == "Enabled":
        raise Unsupported("lakestow does not implement MFA delete: versioning was not changed")
    if status is not None:
        await request.runtime.store.put_versioning(request.bucket, status)
        request.audit("s3.put_versioning", "", status=status)
    return Response(status_code=200)


def _one_of(root: Element, name: str, valid: tuple[str, ...]) -> str | None:
    """The text of `name`, which must be one of `valid` when present (MalformedXML)."""
    value = root.findtext(name)
    if value is not None and value not in valid:
        raise InvalidRequest(
            f"<{name}> must be {' or '.join(valid)}, not {value!r}", code="MalformedXML"
        )
    return value


async def list_object_versions(request: S3Request) -> Response:
    """Every version and delete marker the caller may list, by key and newest first."""
    q = request.query
    prefix, delimiter, max_keys, encode = common_params(request)
    key_marker = q.get("key-marker") or None
    version_id_marker = q.get("version-id-marker") or None
    if version_id_marker is not None and key_marker is None:
        raise InvalidInput("A version-id marker cannot be specified without a key marker.")
    page = await _page(request, prefix, delimiter, (key_marker, version_id_marker), max_keys)
    enc = encoder(encode)
    parts = [
        xml.tag("Name", request.bucket),
        xml.tag("Prefix", enc(prefix)),
        xml.tag("KeyMarker", enc(key_marker or "")),
        xml.tag("VersionIdMarker", version_id_marker or ""),
    ]
    if page.is_truncated and page.next_key_marker is not None:
        parts.append(xml.tag("NextKeyMarker", enc(page.next_key_marker)))
        if page.next_version_id_marker is not None:
            parts.append(xml.tag("NextVersionIdMarker", page.next_version_id_marker))
    parts += tail(page.is_truncated, delimiter, max_keys, encode)
    owner = owner_of(request)
    parts += await xml.in_pieces(partial(_entries, enc=enc, owner=owner), page.versions)
    parts += common_prefixes(page.common_prefixes, enc)
    return Response(xml.document("ListVersionsResult", parts), media_type="application/xml")


async def _page(
    request: S3Request,
    prefix: str,
    delimiter: str | None,
    markers: warehouse.Markers,
    max_keys: int,
) -> VersionsPage:
    store = request.runtime.store
    if isinstance(request, MemberRequest):
        return await warehouse.list_versions(
            store, request.member, request.authorize, prefix, delimiter, markers, max_keys
        )
    return await store.list_versions(
        request.bucket,
        prefix=prefix,
        delimiter=delimiter,
        key_marker=markers[0],
        version_id_marker=markers[1],
        max_keys=max_keys,
    )


def _entries(versions: Sequence[VersionInfo], enc: Callable[[str], str], owner: str) -> list[str]:
    """Each a <Version> or a <DeleteMarker>, one string each, their keys escaped together (as
    `listing._contents` does); in a bucket never versioned, every object is its one `null`
    version."""
    keys = xml.escape_all([enc(version.info.key) for version in versions])
    escape, timestamp = xml.escape, xml.timestamp
    rendered = []
    for key, version in zip(keys, versions, strict=True):
        info = version.info
        fields = (
            f"<Key>{key}</Key><VersionId>{escape(info.version_id or NULL_VERSION)}</VersionId>"
            f"<IsLatest>{'true' if version.is_latest else 'false'}</IsLatest>"
            f"<LastModified>{timestamp(info.last_modified)}</LastModified>"
        )
        if version.delete_marker:
            rendered.append(f"<DeleteMarker>{fields}{owner}</DeleteMarker>")
        else:
            rendered.append(
                f"<Version>{fields}<ETag>&quot;{escape(info.etag)}&quot;</ETag>"
                f"<Size>{info.size}</Size><StorageClass>STANDARD</StorageClass>{owner}</Version>"
            )
    return rendered
