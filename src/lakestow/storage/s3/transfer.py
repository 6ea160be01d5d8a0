"""The s3 backend's transfers that take more than one upstream request.

`put_in_parts` streams a large PUT as a multipart upload, `PARALLEL_PARTS` parts in flight
at a time; `copy_in_parts` copies server-side through UploadPartCopy. Both complete under
the write's conditions, so the upstream decides them atomically, and both abort the upload
if anything fails, cancellation included: a failed write leaves no object and no upload
behind. `range_header`, `response_span` and `part_span` map byte ranges to and from HTTP.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import anyio
import anyio.to_thread

from lakestow.auth.checksums import CRCS, Checksummer
from lakestow.errors import Unsupported
from lakestow.storage.common import check_md5, check_range, part_unsatisfiable
from lakestow.storage.etags import clean_etag, parts_count, quoted
from lakestow.storage.protocol import (
    COMPOSITE,
    FULL_OBJECT,
    BodyChecksum,
    Checksum,
    ObjectInfo,
    PartRange,
)
from lakestow.storage.s3.base import (
    checksum_of,
    checksum_param,
    copied_etag,
    object_info,
    tagging_header,
)
from lakestow.storage.s3.io import PartReader, md5_header
from lakestow.storage.s3.layout import upstream_metadata
from lakestow.storage.s3.upstream import Upstream

if TYPE_CHECKING:
    from anyio.abc import TaskGroup

PARALLEL_PARTS = 4
"""How many parts of one PUT go up at once; also the most part buffers a PUT holds."""

COPY_PART = 5 * 1024**3
"""The largest range one UploadPartCopy copies."""

_THREAD_HASH = 1024 * 1024
"""Bodies from this size are hashed in a worker thread (hashlib lets go of the GIL)."""

_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+)")


def _digests(data: bytes, algorithm: str | None) -> tuple[bytes, str | None]:
    """The MD5 of `data`, and its `algorithm` checksum (base64) if one is asked for."""
    md5 = hashlib.md5(data, usedforsecurity=False).digest()
    if algorithm is None:
        return md5, None
    checksum = Checksummer(algorithm)
    checksum.update(data)
    return md5, checksum.b64digest()


async def digests_of(data: bytes, algorithm: str | None = None) -> tuple[bytes, str | None]:
    """`_digests`, off the event loop when large, so that parts hash in parallel."""
    if len(data) < _THREAD_HASH:
        return _digests(data, algorithm)
    return await anyio.to_thread.run_sync(_digests, data, algorithm)


class _Upload:
    """One upstream multipart upload, aborted unless completed. With `algorithm`, the upload
    has a checksum of that algorithm and `checksum_type`, and every part carries its own."""

    def __init__(
        self,
        client: Upstream,
        bucket: str,
        key: str,
        info: ObjectInfo,
        algorithm: str | None = None,
        checksum_type: str | None = None,
        tags: dict[str, str] | None = None,
    ) -> None:
        self.client, self.bucket, self.key, self.info = client, bucket, key, info
        self.algorithm, self.checksum_type = algorithm, checksum_type
        self.tags = tags
        self.upload_id = ""
        self.parts: list[dict[str, Any]] = []
        self.keeps_checksum = False

    async def __aenter__(self) -> _Upload:
        extra: dict[str, Any] = {}
        if self.algorithm is not None:
            extra = {
                "ChecksumAlgorithm": self.algorithm.upper(),
                "ChecksumType": self.checksum_type,
            }
        created = await self.client.create_multipart_upload(
            Bucket=self.bucket,
            Key=self.key,
            ContentType=self.info.content_type,
            Metadata=upstream_metadata(self.info.metadata),
            **extra,
            **tagging_header(self.tags),
        )
        self.upload_id = created["UploadId"]
        # an upstream that keeps checksums says which it will make (moto: only here)
        self.keeps_checksum = bool(self.algorithm) and bool(created.get("ChecksumAlgorithm"))
        return self

    async def __aexit__(self, exc_type: object, *_: object) -> None:
        if exc_type is not None:
            with anyio.CancelScope(shield=True):
                await self.client.abort_multipart_upload(
                    Bucket=self.bucket, Key=self.key, UploadId=self.upload_id
                )

    async def put_part(self, number: int, data: bytes) -> None:
        digest, checksum = await digests_of(data, self.algorithm)
        extra: dict[str, Any] = {}
        sent: dict[str, Any] = {}
        if self.algorithm is not None:
            extra = {checksum_param(self.algorithm): checksum}
            sent = {**extra, "ChecksumAlgorithm": self.algorithm.upper()}
        done = await self.client.upload_part(
            Bucket=self.bucket,
            Key=self.key,
            UploadId=self.upload_id,
            PartNumber=number,
            Body=data,
            ContentLength=len(data),
            ContentMD5=md5_header(digest),
            **sent,
        )
        self.parts.append({"PartNumber": number, "ETag": done["ETag"], **extra})

    async def copy_part(self, source: dict[str, str], etag: str, first: int, last: int) -> None:
        number = len(self.parts) + 1
        done = await self.client.upload_part_copy(
            Bucket=self.bucket,
            Key=self.key,
            UploadId=self.upload_id,
            PartNumber=number,
            CopySource=source,  # type: ignore[arg-type]
            CopySourceIfMatch=quoted(etag),
            CopySourceRange=f"bytes={first}-{last}",
        )
        result = done.get("CopyPartResult", {})
        etag = copied_etag(result)
        part = {"PartNumber": number, "ETag": quoted(etag)}
        checksum = checksum_of(result)
        if checksum is not None:
            part[checksum_param(checksum.algorithm)] = checksum.value
        self.parts.append(part)

    async def complete(
        self, conditions: dict[str, str], size: int, whole: str | None = None
    ) -> ObjectInfo:
        """The object the parts make, on `conditions`; `whole`: its checksum, if known. Its
        version id is the upstream's, for the store to show as the bucket does."""
        self.parts.sort(key=lambda part: int(part["PartNumber"]))  # they finish in any order
        extra: dict[str, Any] = {}
        if self.algorithm is not None:
            extra["ChecksumType"] = self.checksum_type
            if whole is not None:
                extra[checksum_param(self.algorithm)] = whole
        done = await self.client.complete_multipart_upload(
            Bucket=self.bucket,
            Key=self.key,
            UploadId=self.upload_id,
            MultipartUpload={"Parts": self.parts},  # type: ignore[typeddict-item]
            **conditions,  # type: ignore[arg-type]
            **extra,
        )
        etag = clean_etag(done["ETag"])
        checksum = checksum_of(done)
        if checksum is None and self.keeps_checksum and whole is not None and self.algorithm:
            checksum = Checksum(self.algorithm, whole, self.checksum_type or FULL_OBJECT)
        i = self.info
        return ObjectInfo(
            i.bucket,
            i.key,
            size,
            etag,
            i.last_modified,
            i.content_type,
            i.metadata,
            parts_count(etag),
            checksum,
            len(self.tags or {}),
            done.get("VersionId"),
        )


async def put_in_parts(
    client: Upstream,
    bucket: str,
    key: str,
    draft: ObjectInfo,
    reader: PartReader,
    first: bytes,
    conditions: dict[str, str],
    content_md5: bytes | None,
    checksum: BodyChecksum | None = None,
    tags: dict[str, str] | None = None,
) -> ObjectInfo:
    """Upload `first` and the rest of `reader` as parts, then complete on `conditions`. A
    `checksum` (a CRC: `CRCS`) is the whole body's: the upload is made FULL_OBJECT of its
    algorithm, so that the upstream combines the parts' CRCs into it and keeps it."""
    algorithm = None if checksum is None else checksum.algorithm
    kind = None if checksum is None else FULL_OBJECT
    async with _Upload(client, bucket, key, draft, algorithm, kind, tags) as upload:
        try:
            async with anyio.create_task_group() as parts:
                await _send_parts(parts, upload, reader, first)
        except BaseExceptionGroup as group:
            raise _sole(group) from None
        if reader.md5 is not None:  # tracked whenever the client sent a Content-MD5
            check_md5(reader.md5.digest(), content_md5)
        whole = None if checksum is None else checksum.result().value
        return await upload.complete(conditions, reader.size, whole)


async def _send_parts(parts: TaskGroup, upload: _Upload, reader: PartReader, first: bytes) -> None:
    """Start a task per part; a slot is taken before a part is read, so memory is bounded."""
    slots = anyio.Semaphore(PARALLEL_PARTS)
    number, part = 1, first
    await slots.acquire()
    while part:
        parts.start_soon(_put_part, upload, number, part, slots)
        if not reader.more:
            return
        await slots.acquire()
        number, part = number + 1, await reader.next_part()


async def _put_part(upload: _Upload, number: int, part: bytes, slots: anyio.Semaphore) -> None:
    try:
        await upload.put_part(number, part)
    finally:
        slots.release()


def _sole(group: BaseExceptionGroup) -> BaseException:
    """The first error of a task group's, unwrapped so that callers see the typed error."""
    first = group.exceptions[0]
    return _sole(first) if isinstance(first, BaseExceptionGroup) else first


async def copy_in_parts(
    client: Upstream,
    source: dict[str, str],
    key: str,
    etag: str,
    target: ObjectInfo,
    conditions: dict[str, str],
    checksum_algorithm: str | None = None,
    source_checksum: Checksum | None = None,
    tags: dict[str, str] | None = None,
) -> ObjectInfo:
    """Copy `source` (of ETag `etag`, `target.size` bytes) to `key` with UploadPartCopy.

    The copy gets a checksum of `checksum_algorithm`, else of its source's algorithm when it
    is of the whole object: a CRC is made FULL_OBJECT (the source's value then carries over),
    another algorithm COMPOSITE of the copy's own parts. A source's COMPOSITE checksum is of
    its parts, which a copy does not keep: such a copy gets none."""
    algorithm = checksum_algorithm
    if algorithm is None and source_checksum is not None and source_checksum.type == FULL_OBJECT:
        algorithm = source_checksum.algorithm
    kind = None if algorithm is None else FULL_OBJECT if algorithm in CRCS else COMPOSITE
    whole = None
    if source_checksum is not None and (source_checksum.algorithm, kind) == (
        algorithm,
        FULL_OBJECT,
    ):
        whole = source_checksum.value if source_checksum.type == FULL_OBJECT else None
    async with _Upload(client, source["Bucket"], key, target, algorithm, kind, tags) as upload:
        if target.size == 0:
            await upload.put_part(1, b"")
        for first in range(0, target.size, COPY_PART):
            await upload.copy_part(source, etag, first, min(first + COPY_PART, target.size) - 1)
        return await upload.complete(conditions, target.size, whole)


def range_header(byte_range: tuple[int, int | None] | None, suffix_length: int | None) -> str:
    """The `Range` header of a read ("" for the whole object); the upstream, which knows the
    size, answers InvalidRange for what it cannot satisfy."""
    check_range(byte_range, suffix_length)
    if suffix_length is not None:
        return f"bytes=-{suffix_length}"
    if byte_range is None:
        return ""
    first, last = byte_range
    return f"bytes={first}-{'' if last is None else last}"


def part_span(bucket: str, key: str, number: int, head: Mapping[str, Any]) -> PartRange:
    """The `PartRange` of a HEAD ?partNumber=N answer; 501 when the upstream did not say.

    Upstreams that keep parts answer with a Content-Range (206); the only part of an object
    that has no parts is all of it. An answer about a multipart object without a range
    (moto's) cannot be trusted: it is refused rather than guessed.
    """
    match = _CONTENT_RANGE.fullmatch(str(head.get("ContentRange") or ""))
    if match:
        start, end, size = (int(g) for g in match.groups())
        info = object_info(bucket, key, head, size)
        # a part's answer carries the part's checksum (with the object's type), not the object's
        whole = start == 0 and end == size - 1 and not info.parts_count
        part = replace(info, checksum=None) if not whole else info
        return PartRange(part, number, start, end, info.checksum)
    info = object_info(bucket, key, head, int(head["ContentLength"]))
    if info.parts_count or head.get("PartsCount"):
        raise Unsupported("The upstream store does not tell where the parts of an object lie.")
    if number != 1:  # an upstream that ignored the part number of a single-part object
        raise part_unsatisfiable()
    return PartRange(info, number, 0, info.size - 1, info.checksum)


def response_span(response: Mapping[str, Any]) -> tuple[int, int, int]:
    """(start, end, object size) of a GET response, from its Content-Range if any."""
    match = _CONTENT_RANGE.fullmatch(str(response.get("ContentRange") or ""))
    if match:
        start, end, size = (int(g) for g in match.groups())
        return start, end, size
    size = int(response["ContentLength"])
    return 0, size - 1, size
