"""What every s3 backend operation shares: the upstream, the layout, the bucket registry.

Lakestow buckets are registry objects (see `layout`), whose metadata holds the bucket's
versioning status too. Every operation on a bucket reads its entry first (a write, to know the
bucket is there; any, to know whether version ids are shown); what it says is remembered for
`bucket_ttl` seconds, so that a run of requests costs one extra HEAD, not one each. Another
replica's change of a bucket's versioning is therefore seen within `bucket_ttl` seconds.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from lakestow.auth.checksums import ALGORITHMS
from lakestow.errors import InvalidRequest, LakestowError, NotFound, Unsupported
from lakestow.storage.common import check_if_none_match, no_such_bucket
from lakestow.storage.etags import clean_etag, parts_count, requoted
from lakestow.storage.protocol import (
    COMPOSITE,
    DEFAULT_CONTENT_TYPE,
    FULL_OBJECT,
    NULL_VERSION,
    BucketInfo,
    Checksum,
    ObjectInfo,
    ObjectPart,
    ObjectPartsPage,
)
from lakestow.storage.s3.errors import delete_marker
from lakestow.storage.s3.layout import (
    Layout,
    lakestow_metadata,
    registry_created,
    registry_location,
    registry_versioning,
)
from lakestow.storage.s3.upstream import Upstream

if TYPE_CHECKING:
    from types_aiobotocore_s3.type_defs import TagTypeDef


def write_conditions(if_match: str | None, if_none_match: str | None) -> dict[str, str]:
    """A write's `If-Match` / `If-None-Match` as upstream request parameters."""
    conditions: dict[str, str] = {}
    if if_none_match is not None:
        check_if_none_match(if_none_match)
        conditions["IfNoneMatch"] = "*"
    if if_match is not None:
        conditions["IfMatch"] = requoted(if_match)
    return conditions


def object_info(bucket: str, key: str, response: Mapping[str, Any], size: int) -> ObjectInfo:
    """An `ObjectInfo` from a HEAD / GET / listing response (with its checksum when it was
    asked for with ChecksumMode ENABLED and the upstream keeps one)."""
    etag = clean_etag(str(response["ETag"]))
    modified = response.get("LastModified") or datetime.now(UTC)
    return ObjectInfo(
        bucket,
        key,
        size,
        etag,
        modified.astimezone(UTC),
        response.get("ContentType") or DEFAULT_CONTENT_TYPE,
        lakestow_metadata(response.get("Metadata")),
        parts_count(etag),
        checksum_of(response),
        int(response.get("TagCount") or 0),
    )


def shown_version(status: str | None, upstream_id: str | None) -> str | None:
    """The version id lakestow shows for an upstream's: none in a bucket whose versioning was
    never set (whatever the upstream keeps), "null" for the upstream's null version (written
    before the upstream bucket was versioned: it answers "null" or no id at all)."""
    if status is None:
        return None
    return upstream_id or NULL_VERSION


def with_version(info: ObjectInfo, status: str | None, upstream_id: str | None) -> ObjectInfo:
    """`info` with the version id lakestow shows for `upstream_id` (see `shown_version`)."""
    return replace(info, version_id=shown_version(status, upstream_id))


def tagging_header(tags: dict[str, str] | None) -> dict[str, Any]:
    """The Tagging argument (x-amz-tagging, "encoded as URL Query parameters") of a write
    that gives its object `tags`; none for none."""
    return {"Tagging": urlencode(tags)} if tags else {}


def checksum_param(algorithm: str) -> str:
    """The request and response member of a checksum: ChecksumCRC32, ChecksumSHA256, ..."""
    return "Checksum" + algorithm.upper()


def checksum_of(response: Mapping[str, Any]) -> Checksum | None:
    """The checksum an upstream answer carries (Checksum<ALGORITHM>, ChecksumType), if any;
    a COMPOSITE one is shown `value-N` on GET and HEAD, kept here as its value alone."""
    for algorithm in ALGORITHMS:
        shown = response.get(checksum_param(algorithm))
        if shown:
            value, dash, _ = str(shown).partition("-")
            kind = response.get("ChecksumType") or (COMPOSITE if dash else FULL_OBJECT)
            return Checksum(algorithm, value, str(kind))
    return None


def copied_etag(result: Mapping[str, Any]) -> str:
    """The ETag of an UploadPartCopy result; an upstream without the operation answers none."""
    if "ETag" not in result:
        raise Unsupported("The upstream store does not support UploadPartCopy.")
    return clean_etag(str(result["ETag"]))


class S3Base:
    """The state and helpers the s3 backend's operations share."""

    def __init__(
        self, client: Upstream, layout: Layout, *, part_size: int, bucket_ttl: float
    ) -> None:
        self._client = client
        self._layout = layout
        self._up = layout.upstream_bucket
        self._part_size = part_size
        self._bucket_ttl = bucket_ttl
        self._known: dict[str, tuple[float, str | None]] = {}
        """Bucket name -> (until when it is trusted, its versioning status)."""

    @property
    def layout(self) -> Layout:
        return self._layout

    @property
    def part_size(self) -> int:
        """The part size of streamed PUTs: bodies up to this size go in one request."""
        return self._part_size

    async def head_bucket(self, name: str) -> BucketInfo:
        info, _ = await self._registry_entry(name)
        return info

    async def _registry_entry(self, name: str) -> tuple[BucketInfo, str | None]:
        """The bucket and its versioning status, as its registry entry says (remembered)."""
        try:
            head = await self._client.head_object(
                Bucket=self._up, Key=self._layout.registry_key(name)
            )
        except NotFound:
            self._known.pop(name, None)
            raise no_such_bucket(name) from None
        metadata = head.get("Metadata")
        status = registry_versioning(metadata)
        self._known[name] = (time.monotonic() + self._bucket_ttl, status)
        created = registry_created(metadata) or head["LastModified"].astimezone(UTC)
        return BucketInfo(name, created, registry_location(metadata)), status

    async def _require_bucket(self, name: str) -> str | None:
        """The bucket's versioning status; NoSuchBucket unless `name` is a bucket (trusting
        a recent answer)."""
        until, status = self._known.get(name, (0.0, None))
        if until > time.monotonic():
            return status
        _, status = await self._registry_entry(name)
        return status

    async def _missing(self, bucket: str, error: NotFound) -> NotFound:
        """The error for a miss: NoSuchBucket if the bucket is gone, else `error`."""
        self._known.pop(bucket, None)
        await self._require_bucket(bucket)
        return error

    async def object_parts(
        self, bucket: str, key: str, *, part_number_marker: int = 0, max_parts: int = 1000
    ) -> ObjectPartsPage:
        """The upstream's GetObjectAttributes ObjectParts, for a multipart object; an
        upstream that does not list them (moto) gives the count alone."""
        info = await self._head(bucket, key)
        if not info.parts_count or max_parts <= 0:
            return ObjectPartsPage(info, [], False, None)
        try:
            answer = await self._client.get_object_attributes(
                Bucket=self._up,
                Key=self._layout.key(bucket, key),
                ObjectAttributes=["ObjectParts"],
                MaxParts=max_parts,
                PartNumberMarker=part_number_marker,
            )
        except NotFound as exc:
            raise await self._missing(bucket, exc) from None
        listed = answer.get("ObjectParts", {})
        kind = info.checksum.type if info.checksum else FULL_OBJECT
        parts = []
        for part in listed.get("Parts", []):
            checksum = checksum_of(part)
            if checksum is not None:
                checksum = Checksum(checksum.algorithm, checksum.value, kind)
            parts.append(ObjectPart(int(part["PartNumber"]), int(part["Size"]), checksum))
        truncated = bool(listed.get("IsTruncated"))
        marker = listed.get("NextPartNumberMarker") if truncated else None
        return ObjectPartsPage(info, parts, truncated, int(marker) if marker else None)

    async def get_tagging(self, bucket: str, key: str) -> dict[str, str]:
        try:
            answer = await self._client.get_object_tagging(
                Bucket=self._up, Key=self._layout.key(bucket, key)
            )
        except NotFound as exc:
            raise await self._missing(bucket, exc) from None
        return {tag["Key"]: tag["Value"] for tag in answer.get("TagSet", [])}

    async def put_tagging(self, bucket: str, key: str, tags: dict[str, str]) -> None:
        upstream_key = self._layout.key(bucket, key)
        try:
            if tags:
                tag_set: list[TagTypeDef] = [
                    {"Key": name, "Value": value} for name, value in tags.items()
                ]
                await self._client.put_object_tagging(
                    Bucket=self._up, Key=upstream_key, Tagging={"TagSet": tag_set}
                )
            else:
                await self._client.delete_object_tagging(Bucket=self._up, Key=upstream_key)
        except NotFound as exc:
            raise await self._missing(bucket, exc) from None

    async def _head(self, bucket: str, key: str, version_id: str | None = None) -> ObjectInfo:
        """The latest version of `key`, or `version_id`, with the version id shown."""
        status = await self._require_bucket(bucket)
        version = version_arg(status, version_id)
        try:
            head = await self._client.head_object(
                Bucket=self._up,
                Key=self._layout.key(bucket, key),
                ChecksumMode="ENABLED",
                **version,
            )
        except LakestowError as exc:
            raise await self._read_failed(bucket, status, version_id, exc) from None
        info = object_info(bucket, key, head, head["ContentLength"])
        return with_version(info, status, head.get("VersionId"))

    async def _copy_source(
        self, bucket: str, key: str, version_id: str | None = None
    ) -> ObjectInfo:
        """The object a copy reads; a delete marker's version is no object to copy."""
        try:
            return await self._head(bucket, key, version_id)
        except Unsupported as exc:
            if exc.code != "MethodNotAllowed":
                raise
            raise InvalidRequest(
                "The source of a copy request may not specifically refer to a delete marker "
                "by version id."
            ) from None

    async def _read_failed(
        self, bucket: str, status: str | None, version_id: str | None, error: LakestowError
    ) -> LakestowError:
        """The error for a read of `version_id` (or the latest) that the upstream refused:
        NoSuchBucket if the bucket is gone; NoSuchVersion for a version that names nothing;
        for a delete marker, with the headers that say so in a versioned bucket (only
        there: a bucket never versioned has none to show)."""
        is_marker, marker_id = delete_marker(error)
        if isinstance(error, Unsupported) and error.code == "MethodNotAllowed":
            return error.with_headers({"x-amz-delete-marker": "true"})
        if not isinstance(error, NotFound):
            return error
        error = await self._missing(bucket, error)
        if version_id is not None:
            return NotFound("The specified version does not exist.", code="NoSuchVersion")
        if is_marker and status is not None:
            shown = shown_version(status, marker_id) or NULL_VERSION
            return error.with_headers({"x-amz-delete-marker": "true", "x-amz-version-id": shown})
        return error


def version_arg(status: str | None, version_id: str | None) -> dict[str, Any]:
    """The upstream VersionId that names `version_id` of a bucket with versioning `status`.
    A bucket never versioned has one version of each object, "null", which is the latest
    (the upstream may keep others, which no id of this bucket reaches)."""
    if version_id is None or (status is None and version_id == NULL_VERSION):
        return {}
    if status is None:
        raise NotFound("The specified version does not exist.", code="NoSuchVersion")
    return {"VersionId": version_id}
