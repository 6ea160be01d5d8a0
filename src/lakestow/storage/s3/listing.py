"""Listing a lakestow bucket through the upstream's ListObjectsV2.

Prefix, delimiter and start_after map one to one onto the upstream key space (the bucket's
root is prepended, then stripped). One difference is bridged here: S3's StartAfter compares
keys, so a `start_after` inside a common prefix (`a/07` with delimiter `/`) would bring that
prefix back, while lakestow skips a common prefix that sorts at or before `start_after`. Such
entries are dropped and the upstream pages are followed until `max_keys` entries are found;
the upstream rolls the prefix up into one entry, so this costs one entry, not a scan.
"""

from __future__ import annotations

from typing import Any

from lakestow.storage.protocol import ListPage, ObjectInfo
from lakestow.storage.s3.base import object_info
from lakestow.storage.s3.layout import Layout
from lakestow.storage.s3.upstream import Upstream

Entry = tuple[str, ObjectInfo | None]
"""A listed key with its object, or a common prefix with None."""


async def list_page(
    client: Upstream,
    layout: Layout,
    bucket: str,
    prefix: str,
    delimiter: str | None,
    start_after: str | None,
    max_keys: int,
) -> ListPage:
    """One page of `bucket`'s listing, as `List.list` defines it."""
    if max_keys <= 0:
        return ListPage([], [], False, None)
    request: dict[str, Any] = {
        "Bucket": layout.upstream_bucket,
        "Prefix": layout.key(bucket, prefix),
        "MaxKeys": min(max_keys + 1, 1000),
    }
    if delimiter:
        request["Delimiter"] = delimiter
    if start_after:
        request["StartAfter"] = layout.key(bucket, start_after)
    entries: list[Entry] = []
    while True:
        response = await client.list_objects_v2(**request)
        entries += _entries(layout, bucket, response, start_after or "")
        token = response.get("NextContinuationToken")
        if len(entries) > max_keys or not response.get("IsTruncated") or not token:
            break
        request["ContinuationToken"] = token
        request.pop("StartAfter", None)
    truncated = len(entries) > max_keys or bool(response.get("IsTruncated"))
    kept = entries[:max_keys]
    return ListPage(
        [info for _, info in kept if info is not None],
        [name for name, info in kept if info is None],
        truncated,
        kept[-1][0] if truncated and kept else None,
    )


def _entries(layout: Layout, bucket: str, response: Any, after: str) -> list[Entry]:
    """The objects and common prefixes of one upstream page, merged in key order."""
    entries: list[Entry] = []
    for item in response.get("Contents", []):
        key = layout.strip(bucket, item["Key"])
        entries.append((key, object_info(bucket, key, item, int(item["Size"]))))
    for item in response.get("CommonPrefixes", []):
        entries.append((layout.strip(bucket, item["Prefix"]), None))
    return sorted((e for e in entries if e[0] > after), key=lambda e: e[0])
