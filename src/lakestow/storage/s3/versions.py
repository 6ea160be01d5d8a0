"""Versioning on the s3 backend: a lakestow bucket's versions are the upstream's own.

Versions live in the upstream bucket's versioning, so their ids are the upstream's: a write,
a delete marker and a versions listing answer with the ids the upstream gave. The upstream's
null version (written before the upstream bucket was versioned: it answers "null" or no id)
is shown as "null". Keys map through `Layout` as elsewhere: ListObjectVersions is asked for
the bucket's root plus the prefix, and only what lies under that root is ever shown.

The upstream bucket has one versioning status for every lakestow bucket in it; a lakestow
bucket's own status is kept in its registry entry (`layout`), read with the entry (`base`):

- Never set: the bucket behaves as an unversioned S3 bucket, whatever the upstream does. No
  version ids are shown, a versions listing shows each object once as its null version (from
  the upstream's current listing), and only "null" names a version (the object itself). On an
  upstream bucket that is versioned (because another lakestow bucket is), an overwrite or a
  delete still leaves the upstream a noncurrent version or a delete marker, which no lakestow
  request can reach. That is accepted, not fixed: removing them on every write would cost a
  listing and a delete per write, and race with concurrent writes; the upstream's lifecycle
  rules (NoncurrentVersionExpiration, expired delete markers) bound what it keeps, as they
  should for the retention period of a versioned warehouse anyway. They are removed for good
  when the bucket is deleted (so a bucket made again under the name starts empty) and when
  its versioning is first set (so its versions start as S3's would: the current objects).
- Enabled: `put_versioning` turns the upstream bucket's versioning on first, if it is not;
  an upstream that cannot or will not (rclone answers NotImplemented) is a 501 naming its
  refusal, and nothing is changed. From then on every request passes its version ids through.
- Suspended: refused (501). Under S3's Suspended, writes replace one null version; on an
  upstream bucket that stays versioned for other buckets, writes get new ids and delete
  markers cannot be told apart, so a suspended bucket cannot be made to behave as S3's.

Two limits follow from sharing the upstream's versioning. An object written while its
bucket's versioning was never set, on an upstream bucket already versioned, keeps the id the
upstream gave it rather than "null" once versioning is set (reachable by that id, not by
"null"). And another replica's `put_versioning` is seen within `bucket_ttl` seconds (`base`):
until then, this replica shows no version ids for the bucket; what the upstream keeps is the
same either way.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from lakestow.errors import (
    InvalidRequest,
    LakestowError,
    NotFound,
    PreconditionFailed,
    Unavailable,
    Unsupported,
)
from lakestow.storage.common import no_such_bucket
from lakestow.storage.protocol import (
    ENABLED,
    NULL_VERSION,
    SUSPENDED,
    ObjectInfo,
    VersionInfo,
    VersionsPage,
    VersionUsage,
)
from lakestow.storage.s3.base import object_info, shown_version
from lakestow.storage.s3.connect import ENTRY_ORDER
from lakestow.storage.s3.layout import (
    Layout,
    registry_created,
    registry_location,
    registry_metadata,
)
from lakestow.storage.s3.listing import list_page
from lakestow.storage.s3.multipart import S3Multipart
from lakestow.storage.s3.upstream import Upstream

Entry = tuple[str, VersionInfo | None]
"""A listed version with its key, or a common prefix with None."""


class S3Versioning(S3Multipart):
    """The `Versioning` protocol over an upstream S3 store."""

    async def get_versioning(self, bucket: str) -> str | None:
        _, status = await self._registry_entry(bucket)  # fresh: another replica may have set it
        return status

    async def put_versioning(self, bucket: str, status: str) -> None:
        if status not in (ENABLED, SUSPENDED):
            raise InvalidRequest(
                f"A bucket's versioning is Enabled or Suspended, not {status!r}.",
                code="MalformedXML",
            )
        _, current = await self._registry_entry(bucket)
        if status == SUSPENDED:
            raise Unsupported(
                "The s3 backend cannot suspend a bucket's versioning: its versions are the "
                "upstream bucket's, whose versioning is one for every bucket in it."
            )
        if current == status:
            return
        await self._version_upstream()
        if current is None:  # what the upstream kept behind the bucket's back goes
            await self._purge(self._layout.bucket_root(bucket), keep_latest=True)
        await self._set_status(bucket, status)

    async def _version_upstream(self) -> None:
        """Turn the upstream bucket's versioning on, unless it is; Unsupported (501) when
        the upstream refuses (a fault of the connection stays a 503)."""
        try:
            answer = await self._client.get_bucket_versioning(Bucket=self._up)
            if answer.get("Status") != ENABLED:
                await self._client.put_bucket_versioning(
                    Bucket=self._up, VersioningConfiguration={"Status": "Enabled"}
                )
        except Unavailable:
            raise
        except LakestowError as exc:
            raise Unsupported(
                f"The upstream store cannot keep versions: it refused to turn on the "
                f"versioning of its bucket {self._up!r} ({exc.code}: {exc.message})."
            ) from exc

    async def _set_status(self, bucket: str, status: str) -> None:
        """Rewrite the bucket's registry entry with `status`, on the condition that it did
        not change meanwhile (else read it again), and remove the version it replaced."""
        key = self._layout.registry_key(bucket)
        while True:
            try:
                head = await self._client.head_object(Bucket=self._up, Key=key)
            except NotFound:
                raise no_such_bucket(bucket) from None
            metadata = head.get("Metadata")
            created = registry_created(metadata) or head["LastModified"].astimezone(UTC)
            location = registry_location(metadata)
            entry = {"bucket": bucket, "created": created.isoformat(), "location": location}
            try:
                done = await self._client.put_object(
                    Bucket=self._up,
                    Key=key,
                    Body=json.dumps({**entry, "versioning": status}).encode(),
                    ContentType="application/json",
                    Metadata=registry_metadata(location, created, status),
                    IfMatch=head["ETag"],
                )
                break
            except PreconditionFailed:
                continue
        self._known[bucket] = (time.monotonic() + self._bucket_ttl, status)
        replaced = head.get("VersionId")
        if replaced and replaced != done.get("VersionId"):
            await self._client.delete_object(Bucket=self._up, Key=key, VersionId=replaced)

    async def _purge(self, prefix: str, *, keep_latest: bool = False, key: str = "") -> None:
        """Remove for good every version and delete marker under `prefix` (of `key` alone,
        when given), but, with `keep_latest`, the objects that are current. An upstream that
        keeps no versions (rclone: ListObjectVersions is NotImplemented) has none to remove.

        Paged by key alone: the last key of a truncated page may go on in the next one, so
        the listing goes on from the key before it (what was removed is gone)."""
        request: dict[str, Any] = {"Bucket": self._up, "Prefix": key or prefix, "MaxKeys": 1000}
        while True:
            try:
                page = await self._client.list_object_versions(**request)
            except Unsupported:
                return
            listed: list[tuple[Mapping[str, Any], bool]] = [
                (item, True) for item in page.get("Versions", [])
            ]
            listed += [(item, False) for item in page.get("DeleteMarkers", [])]
            doomed = [
                {"Key": item["Key"], "VersionId": item["VersionId"]}
                for item, is_object in listed
                if (not key or item["Key"] == key)
                and not (keep_latest and is_object and item.get("IsLatest"))
            ]
            if doomed:
                await self._client.delete_objects(
                    Bucket=self._up,
                    Delete={"Objects": doomed, "Quiet": True},  # type: ignore[typeddict-item]
                )
            keys = sorted({item["Key"] for item, _ in listed})
            if not page.get("IsTruncated") or (key and keys and keys[0] > key):
                return
            if len(keys) > 1:
                request["KeyMarker"] = keys[-2]
            elif not doomed:  # one key, nothing removed: its versions are all kept
                request["KeyMarker"] = keys[-1] if keys else ""

    async def _has_versions(self, bucket: str) -> bool:
        """Whether a versioned bucket holds any version or delete marker."""
        page = await self._client.list_object_versions(
            Bucket=self._up, Prefix=self._layout.bucket_root(bucket), MaxKeys=1
        )
        return bool(page.get("Versions") or page.get("DeleteMarkers"))

    async def list_versions(
        self,
        bucket: str,
        *,
        prefix: str = "",
        delimiter: str | None = None,
        key_marker: str | None = None,
        version_id_marker: str | None = None,
        max_keys: int = 1000,
    ) -> VersionsPage:
        status = await self._require_bucket(bucket)
        if max_keys <= 0:
            return VersionsPage([], [], False)
        if status is None:
            return await self._null_versions(bucket, prefix, delimiter, key_marker, max_keys)
        return await versions_page(
            self._client,
            self._layout,
            bucket,
            status,
            Request(prefix, delimiter, key_marker, version_id_marker, max_keys),
        )

    async def _null_versions(
        self,
        bucket: str,
        prefix: str,
        delimiter: str | None,
        key_marker: str | None,
        max_keys: int,
    ) -> VersionsPage:
        """The versions of a bucket never versioned: each current object, as its null
        version (after `key_marker`: its only version is the null one)."""
        page = await list_page(
            self._client, self._layout, bucket, prefix, delimiter, key_marker, max_keys
        )
        last = page.next_start_after
        return VersionsPage(
            [VersionInfo(replace(info, version_id=NULL_VERSION), True) for info in page.objects],
            page.common_prefixes,
            page.is_truncated,
            last,
            None if last is None or last in page.common_prefixes else NULL_VERSION,
        )

    async def purge_versions(
        self, bucket: str, *, prefix: str, noncurrent_before: datetime, limit: int = 1000
    ) -> int:
        """Walk the bucket's versions under `prefix` in listing order (by key, newest first):
        a version went noncurrent when the next newer one of its key was made (S3's rule for
        NoncurrentVersionExpiration), so each is removed if that was before
        `noncurrent_before`; a latest delete marker alone on its key, if it was made before
        it. Removed with DeleteObjects and version ids, a thousand to a request."""
        if await self._require_bucket(bucket) is None:
            return 0  # never versioned: no version of it can be reached, nor purged
        doomed: list[dict[str, str]] = []
        newer: tuple[str, datetime] | None = None  # the key and time of the entry before
        alone: VersionInfo | None = None  # a latest marker, alone until its key shows more
        key_marker = version_marker = None
        while len(doomed) < limit:
            page = await self.list_versions(
                bucket, prefix=prefix, key_marker=key_marker, version_id_marker=version_marker
            )
            for version in page.versions:
                info = version.info
                if alone is not None and alone.info.key != info.key:
                    doomed.append(_named_version(self._layout, bucket, alone))
                alone = None
                if version.is_latest:
                    if version.delete_marker and info.last_modified < noncurrent_before:
                        alone = version
                elif newer is not None and newer[0] == info.key and newer[1] < noncurrent_before:
                    doomed.append(_named_version(self._layout, bucket, version))
                newer = (info.key, info.last_modified)
            if not page.is_truncated:
                if alone is not None:
                    doomed.append(_named_version(self._layout, bucket, alone))
                break
            key_marker, version_marker = page.next_key_marker, page.next_version_id_marker
        doomed = doomed[:limit]
        for at in range(0, len(doomed), 1000):
            await self._client.delete_objects(
                Bucket=self._up,
                Delete={"Objects": doomed[at : at + 1000], "Quiet": True},  # type: ignore[typeddict-item]
            )
        return len(doomed)

    async def version_usage(self, bucket: str, *, prefix: str) -> VersionUsage:
        """Every version under `prefix`, counted: a walk of the bucket's versions."""
        counts = [0, 0, 0, 0]  # current bytes, objects; retained bytes, versions
        key_marker = version_marker = None
        while True:
            page = await self.list_versions(
                bucket, prefix=prefix, key_marker=key_marker, version_id_marker=version_marker
            )
            for version in page.versions:
                if not version.delete_marker:
                    at = 0 if version.is_latest else 2
                    counts[at] += version.info.size
                    counts[at + 1] += 1
            if not page.is_truncated:
                return VersionUsage(*counts)
            key_marker, version_marker = page.next_key_marker, page.next_version_id_marker


def _named_version(layout: Layout, bucket: str, version: VersionInfo) -> dict[str, str]:
    """A version as DeleteObjects names it upstream (the null version by the upstream's
    "null")."""
    return {
        "Key": layout.key(bucket, version.info.key),
        "VersionId": version.info.version_id or NULL_VERSION,
    }


class Request:
    """What a versions listing asks for."""

    def __init__(
        self,
        prefix: str,
        delimiter: str | None,
        key_marker: str | None,
        version_id_marker: str | None,
        max_keys: int,
    ) -> None:
        self.prefix, self.delimiter, self.max_keys = prefix, delimiter, max_keys
        self.key_marker = key_marker
        self.version_id_marker = version_id_marker if key_marker is not None else None

    def after_markers(self, name: str, version_id: str | None) -> bool:
        """Whether an entry comes after the markers: S3 skips every version of `key_marker`
        without a version id marker, those up to it with one (which the upstream did)."""
        if self.key_marker is None:
            return True
        if self.version_id_marker is None:
            return name > self.key_marker
        return name > self.key_marker or (
            name == self.key_marker and version_id != self.version_id_marker
        )


async def versions_page(
    client: Upstream, layout: Layout, bucket: str, status: str, request: Request
) -> VersionsPage:
    """One page of a versioned bucket's versions, from the upstream's ListObjectVersions.

    Entries at or before the markers are dropped (an upstream may bring back the key marker's
    versions, or a common prefix the listing went past) and the upstream's pages are followed
    until `max_keys` entries are found; the next markers are those of the last one shown."""
    asked: dict[str, Any] = {
        "Bucket": layout.upstream_bucket,
        "Prefix": layout.key(bucket, request.prefix),
        "MaxKeys": min(request.max_keys, 1000),
    }
    if request.delimiter:
        asked["Delimiter"] = request.delimiter
    after: tuple[str | None, str | None] = (request.key_marker, request.version_id_marker)
    entries: list[Entry] = []
    while True:
        if after[0] is not None:
            asked["KeyMarker"] = layout.key(bucket, after[0])
            asked.pop("VersionIdMarker", None)
            if after[1] is not None:
                asked["VersionIdMarker"] = after[1]
        response = await client.list_object_versions(**asked)
        page = _entries(layout, bucket, status, response)
        entries += [e for e in page if request.after_markers(e[0], _version_id(e))]
        more = bool(response.get("IsTruncated")) and bool(page)
        if len(entries) >= request.max_keys or not more:
            break
        last = (page[-1][0], _version_id(page[-1]))
        if last == after:  # an upstream that does not go on: stop rather than loop
            break
        after = last
    kept = entries[: request.max_keys]
    truncated = len(entries) > request.max_keys or more
    return VersionsPage(
        [info for _, info in kept if info is not None],
        [name for name, info in kept if info is None],
        truncated,
        kept[-1][0] if truncated and kept else None,
        _version_id(kept[-1]) if truncated and kept else None,
    )


def _version_id(entry: Entry) -> str | None:
    return entry[1].info.version_id if entry[1] is not None else None


def _entries(layout: Layout, bucket: str, status: str, response: Mapping[str, Any]) -> list[Entry]:
    """The versions, delete markers and common prefixes of one upstream page under the
    bucket's root (nothing else is ever shown), in S3's order: by key, newest first.

    Within a key the upstream's own order is kept (`connect.ENTRY_ORDER`); an upstream that
    lists versions and markers apart (moto) is put in order by latest first, then time."""
    root = layout.bucket_root(bucket)
    versions = list(response.get("Versions", []))
    markers = list(response.get("DeleteMarkers", []))
    order = str(response.get(ENTRY_ORDER) or "")
    if (order.count("V"), order.count("M")) != (len(versions), len(markers)):
        order = "V" * len(versions) + "M" * len(markers)
    items = iter(versions), iter(markers)
    ranked: list[tuple[tuple[str, bool, float, int], Entry]] = []
    for at, kind in enumerate(order):
        item = next(items[kind == "M"])
        if not str(item["Key"]).startswith(root):
            continue
        key = layout.strip(bucket, item["Key"])
        info = _version_info(bucket, key, status, item, marker=kind == "M")
        rank = (key, not info.is_latest, -info.info.last_modified.timestamp(), at)
        ranked.append((rank, (key, info)))
    for at, item in enumerate(response.get("CommonPrefixes", [])):
        if str(item["Prefix"]).startswith(root):
            name = layout.strip(bucket, item["Prefix"])
            ranked.append(((name, False, 0.0, at), (name, None)))
    ranked.sort(key=lambda pair: pair[0])
    return [entry for _, entry in ranked]


def _version_info(
    bucket: str, key: str, status: str, item: Mapping[str, Any], *, marker: bool
) -> VersionInfo:
    """A listed version (`marker`: a delete marker, size 0 and no ETag)."""
    modified = (item.get("LastModified") or datetime.now(UTC)).astimezone(UTC)
    if marker:
        info = ObjectInfo(bucket, key, 0, "", modified)
    else:
        info = object_info(bucket, key, item, int(item.get("Size") or 0))
    shown = shown_version(status, item.get("VersionId"))
    return VersionInfo(replace(info, version_id=shown), bool(item.get("IsLatest")), marker)
