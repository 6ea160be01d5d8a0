"""Multipart uploads on a local store.

A part is a blob (or, for UploadPartCopy, extents shared with the source object); completing
an upload writes one row whose extents are its parts' extents, in order: no bytes are copied.
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import UTC, datetime
from functools import partial

from lakestow.storage.checksums import body_with, upload_type
from lakestow.storage.common import (
    check_part_list,
    check_part_number,
    clean_metadata,
)
from lakestow.storage.local import ops
from lakestow.storage.local.blobs import BlobWriter
from lakestow.storage.local.core import HEAVY_ITEMS, Core
from lakestow.storage.local.index import StoredPart, read_parts, read_upload, read_uploads
from lakestow.storage.local.read import hash_range
from lakestow.storage.local.writer import Txn
from lakestow.storage.protocol import (
    DEFAULT_CONTENT_TYPE,
    Body,
    BodyChecksum,
    CompleteChecks,
    ObjectInfo,
    PartInfo,
    PartsPage,
    UploadsPage,
)

_EPOCH = datetime.fromtimestamp(0, UTC)


class MultipartOps:
    """The `Multipart` protocol over a `Core`."""

    _core: Core

    async def create_multipart(
        self,
        bucket: str,
        key: str,
        *,
        content_type: str | None = None,
        metadata: dict[str, str] | None = None,
        checksum_algorithm: str | None = None,
        checksum_type: str | None = None,
        tags: dict[str, str] | None = None,
    ) -> str:
        checksum_type = upload_type(checksum_algorithm, checksum_type)
        return await self._core.write(
            partial(
                ops.create_upload,
                bucket=bucket,
                key=key,
                content_type=content_type or DEFAULT_CONTENT_TYPE,
                metadata=clean_metadata(metadata),
                checksum_algorithm=checksum_algorithm,
                checksum_type=checksum_type,
                tags=tags,
            )
        )

    async def upload_part(
        self,
        bucket: str,
        key: str,
        upload_id: str,
        part_number: int,
        body: Body,
        *,
        content_md5: bytes | None = None,
        checksum: BodyChecksum | None = None,
    ) -> PartInfo:
        check_part_number(part_number)
        upload = await self._core.read(
            partial(ops.require_upload, bucket=bucket, key=key, upload_id=upload_id)
        )
        body, checksum = body_with(body, upload.checksum_algorithm, upload.checksum_type, checksum)

        def make_op(blob: BlobWriter) -> Callable[[Txn], PartInfo]:
            info = PartInfo(
                part_number,
                blob.digest().hex(),
                blob.size,
                _EPOCH,
                None if checksum is None else checksum.result(),
            )
            part = StoredPart(info, tuple(blob.extents))
            return partial(_put_part, bucket, key, upload_id, part, False)

        return await self._core.store_blob(body, content_md5, make_op)

    async def upload_part_copy(
        self,
        bucket: str,
        key: str,
        upload_id: str,
        part_number: int,
        src_bucket: str,
        src_key: str,
        byte_range: tuple[int, int] | None = None,
        src_version_id: str | None = None,
    ) -> PartInfo:
        check_part_number(part_number)
        # (a missing upload is found missing when the part is stored, after the source)
        upload = await self._core.read(partial(read_upload, upload_id=upload_id))
        algorithm = upload.checksum_algorithm if upload else None  # computed, as on S3
        while True:
            source = await self._core.run(
                partial(
                    hash_range,
                    self._core,
                    src_bucket,
                    src_key,
                    byte_range,
                    algorithm,
                    version_id=src_version_id,
                )
            )
            checksum = source.checksum
            if source.data is not None:  # parts are always files: write the bytes out
                sent = None if checksum is None else BodyChecksum(algorithm or "", checksum.value)
                return await self.upload_part(
                    bucket, key, upload_id, part_number, _body(source.data), checksum=sent
                )
            info = PartInfo(part_number, source.etag, source.size, _EPOCH, checksum)
            op = partial(
                _put_part, bucket, key, upload_id, StoredPart(info, tuple(source.pieces)), True
            )
            try:
                return await self._core.write(op)
            except ops.SourceChanged:
                continue

    async def complete_multipart(
        self,
        bucket: str,
        key: str,
        upload_id: str,
        parts: Sequence[tuple[int, str]],
        *,
        if_match: str | None = None,
        if_none_match: str | None = None,
        checks: CompleteChecks | None = None,
    ) -> ObjectInfo:
        check_part_list(parts)
        return await self._core.write(
            partial(
                ops.complete_upload,
                bucket=bucket,
                key=key,
                upload_id=upload_id,
                parts=list(parts),
                min_part_size=self._core.min_part_size,
                cond=ops.Conditions(if_match, if_none_match),
                checks=checks,
            ),
            heavy=len(parts) > HEAVY_ITEMS,
        )

    async def abort_multipart(self, bucket: str, key: str, upload_id: str) -> None:
        op = partial(ops.abort_upload, bucket=bucket, key=key, upload_id=upload_id)
        await self._core.write(op, heavy=True)  # any number of parts to release

    async def list_parts(
        self,
        bucket: str,
        key: str,
        upload_id: str,
        *,
        part_number_marker: int = 0,
        max_parts: int = 1000,
    ) -> PartsPage:
        def query(conn: sqlite3.Connection) -> PartsPage:
            upload = ops.require_upload(conn, bucket, key, upload_id)
            found = read_parts(conn, upload_id, part_number_marker, max(max_parts, 0) + 1)
            parts = [p.info for p in found[:max_parts]]
            algorithm, checksum_type = upload.checksum_algorithm, upload.checksum_type
            if len(found) <= max_parts or not parts:
                return PartsPage(parts, False, None, algorithm, checksum_type)
            return PartsPage(parts, True, parts[-1].part_number, algorithm, checksum_type)

        return await self._core.read(query)

    async def list_multipart_uploads(
        self,
        bucket: str,
        *,
        prefix: str = "",
        key_marker: str | None = None,
        upload_id_marker: str | None = None,
        max_uploads: int = 1000,
    ) -> UploadsPage:
        def query(conn: sqlite3.Connection) -> UploadsPage:
            ops.require_bucket(conn, bucket)
            limit = max(max_uploads, 0) + 1
            found = read_uploads(conn, bucket, prefix, key_marker, upload_id_marker, limit)
            uploads = found[:max_uploads]
            if len(found) <= max_uploads or not uploads:
                return UploadsPage(uploads, False, None, None)
            return UploadsPage(uploads, True, uploads[-1].key, uploads[-1].upload_id)

        return await self._core.read(query)


async def _body(data: bytes) -> AsyncIterator[bytes]:
    yield data


def _put_part(
    bucket: str, key: str, upload_id: str, part: StoredPart, shared: bool, txn: Txn
) -> PartInfo:
    return ops.put_part(txn, bucket, key, upload_id, part, shared)
