"""Does the upstream enforce conditional writes? Asked by trying them.

Table formats (deltalake, pyiceberg) commit by writing the next log entry with
`If-None-Match: *` (or `If-Match`) and rely on exactly one writer winning. Behind lakestow,
the upstream decides; some answer 200 to both writers (`rclone serve s3`, older MinIO and
Ceph releases), and then two commits may both "win". A replica finds out at start, on a
scratch key of its own (`PREFIX/.lakestow/probe/<random>`, beside the bucket registry, where
no lakestow bucket's key can be): a first `If-None-Match: *` PUT, a second one (refused with
412 by an upstream that enforces it), and a PUT with an `If-Match` that names no version of
the key (refused likewise). The scratch key goes afterwards, every version of it on an
upstream that keeps versions.
"""

from __future__ import annotations

import contextlib
import uuid

from lakestow.errors import LakestowError, PreconditionFailed
from lakestow.storage.protocol import ConditionalWrites
from lakestow.storage.s3.layout import Layout
from lakestow.storage.s3.upstream import Upstream

PROBE = ".lakestow/probe/"
STALE_ETAG = '"00000000000000000000000000000000"'  # the MD5 of no bytes the probe writes


async def probe(client: Upstream, layout: Layout) -> ConditionalWrites:
    """Try the conditional writes on a scratch key; what the upstream refused."""
    key = f"{layout.prefix}{PROBE}{uuid.uuid4().hex}"
    bucket = layout.upstream_bucket
    try:
        await client.put_object(Bucket=bucket, Key=key, Body=b"first", IfNoneMatch="*")
        if_none_match = await _refused(client, bucket, key, IfNoneMatch="*")
        if_match = await _refused(client, bucket, key, IfMatch=STALE_ETAG)
    finally:
        await _remove(client, bucket, key)
    return ConditionalWrites(if_none_match, if_match)


async def _refused(client: Upstream, bucket: str, key: str, **condition: str) -> bool:
    """Whether a PUT of `key` on `condition` (which does not hold) is refused with 412."""
    try:
        await client.put_object(Bucket=bucket, Key=key, Body=b"second", **condition)  # type: ignore[arg-type]
    except PreconditionFailed:
        return True
    except LakestowError as exc:  # refused otherwise (501: the header is not understood)
        return exc.status == 412
    return False


async def _remove(client: Upstream, bucket: str, key: str) -> None:
    """The scratch key and, on an upstream that keeps versions, every version of it (and the
    delete marker the plain delete made there)."""
    with contextlib.suppress(LakestowError):
        await client.delete_object(Bucket=bucket, Key=key)
    with contextlib.suppress(LakestowError):  # (an upstream without versions: NotImplemented)
        listed = await client.list_object_versions(Bucket=bucket, Prefix=key)
        for item in [*listed.get("Versions", []), *listed.get("DeleteMarkers", [])]:
            if item.get("Key") == key and item.get("VersionId") not in (None, "null"):
                await client.delete_object(Bucket=bucket, Key=key, VersionId=item["VersionId"])
