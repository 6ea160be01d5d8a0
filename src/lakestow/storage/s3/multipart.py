"""Multipart uploads passed through to the upstream, part by part.

The upload id is the upstream's, so any replica can continue an upload another started.
Parts stream through a `Spool` (memory, then a temporary file) because S3 wants each part's
length up front. The part list is checked here (empty, out of order) because upstreams
disagree on those codes; everything else (InvalidPart, EntityTooSmall, conditions) is the
upstream's answer.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from lakestow.errors import NotFound
from lakestow.storage.checksums import upload_type
from lakestow.storage.common import (
    check_copy_range,
    check_part_list,
    check_part_number,
    clean_metadata,
    resolve_range,
)
from lakestow.storage.etags import clean_etag, completed_etag, quoted, requoted
from lakestow.storage.protocol import (
    DEFAULT_CONTENT_TYPE,
    Body,
    BodyChecksum,
    CompleteChecks,
    ObjectInfo,
    PartInfo,
    PartsPage,
    UploadInfo,
    UploadsPage,
)
from lakestow.storage.s3.base import (
    S3Base,
    checksum_of,
    checksum_param,
    copied_etag,
    tagging_header,
    version_arg,
    with_version,
    write_conditions,
)
from lakestow.storage.s3.io import Spool, md5_header
from lakestow.storage.s3.layout import upstream_metadata


def complete_args(checks: CompleteChecks) -> dict[str, Any]:
    """The upstream Complete's arguments that pass what a client's Complete asserts on (the
    object's checksum, its type, its size), for the upstream to check."""
    args: dict[str, Any] = {}
    if checks.checksum is not None:
        args[checksum_param(checks.checksum.algorithm)] = checks.checksum.value
    if checks.checksum_type is not None:
        args["ChecksumType"] = checks.checksum_type
    if checks.object_size is not None:
        args["MpuObjectSize"] = checks.object_size
    return args


class S3Multipart(S3Base):
    """The `Multipart` protocol over an upstream S3 store."""

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
        await self._require_bucket(bucket)
        extra: dict[str, Any] = {}
        if checksum_algorithm is not None:
            extra = {"ChecksumAlgorithm": checksum_algorithm.upper(), "ChecksumType": checksum_type}
        created = await self._client.create_multipart_upload(
            Bucket=self._up,
            Key=self._layout.key(bucket, key),
            ContentType=content_type or DEFAULT_CONTENT_TYPE,
            Metadata=upstream_metadata(clean_metadata(metadata)),
            **extra,
            **tagging_header(tags),
        )
        return created["UploadId"]

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
        spool = await Spool.fill(body, self._part_size)
        extra: dict[str, Any] = {}
        if checksum is not None:  # the upstream checks it against its upload's algorithm
            extra[checksum_param(checksum.algorithm)] = checksum.result().value
            extra["ChecksumAlgorithm"] = checksum.algorithm.upper()
        try:
            spool.check(content_md5)
            done = await self._client.upload_part(
                Bucket=self._up,
                Key=self._layout.key(bucket, key),
                UploadId=upload_id,
                PartNumber=part_number,
                Body=spool.body(),
                ContentLength=spool.size,
                ContentMD5=md5_header(spool.md5.digest()),
                **extra,
            )
        finally:
            spool.close()
        return PartInfo(
            part_number,
            clean_etag(done["ETag"]),
            spool.size,
            datetime.now(UTC),
            checksum_of(done) or (checksum.result() if checksum is not None else None),
        )

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
        source = await self._copy_source(src_bucket, src_key, src_version_id)
        src_status = await self._require_bucket(src_bucket)
        check_copy_range(source.size, byte_range)
        first, last = resolve_range(source.size, byte_range, None)
        extra: dict[str, Any] = {}
        if byte_range is not None:
            extra["CopySourceRange"] = f"bytes={first}-{last}"
        done = await self._client.upload_part_copy(
            Bucket=self._up,
            Key=self._layout.key(bucket, key),
            UploadId=upload_id,
            PartNumber=part_number,
            CopySource={  # type: ignore[arg-type]
                "Bucket": self._up,
                "Key": self._layout.key(src_bucket, src_key),
                **version_arg(src_status, src_version_id),
            },
            CopySourceIfMatch=quoted(source.etag),
            **extra,
        )
        result = done.get("CopyPartResult", {})
        modified = result.get("LastModified") or datetime.now(UTC)
        return PartInfo(
            part_number,
            copied_etag(result),
            last - first + 1,
            modified.astimezone(UTC),
            checksum_of(result),
        )

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
        checks = checks or CompleteChecks()
        status = await self._require_bucket(bucket)
        listed = [
            {
                "PartNumber": number,
                "ETag": requoted(etag),
                **{
                    checksum_param(algorithm): value
                    for algorithm, value in checks.parts.get(number, {}).items()
                },
            }
            for number, etag in parts
        ]
        try:
            done = await self._client.complete_multipart_upload(
                Bucket=self._up,
                Key=self._layout.key(bucket, key),
                UploadId=upload_id,
                MultipartUpload={"Parts": listed},  # type: ignore[typeddict-item]
                **write_conditions(if_match, if_none_match),  # type: ignore[arg-type]
                **complete_args(checks),
            )
        except NotFound as exc:
            if exc.code == "NoSuchUpload":
                return await self._completed(bucket, key, parts, exc)
            raise
        info = await self._head(bucket, key)
        etag = clean_etag(done["ETag"])
        if info.etag != etag:  # overwritten since; report what this upload made
            info = ObjectInfo(
                bucket,
                key,
                info.size,
                etag,
                info.last_modified,
                parts_count=len(parts),
                checksum=checksum_of(done),
            )
        return with_version(info, status, done.get("VersionId"))

    async def _completed(
        self, bucket: str, key: str, parts: Sequence[tuple[int, str]], missing: NotFound
    ) -> ObjectInfo:
        """A Complete the upstream no longer knows the upload of: a retry whose first answer
        was lost (S3 answers it with 200 and the same ETag; some upstreams forget the upload)
        if the object there is the one these parts make, else `missing` (NoSuchUpload)."""
        expected = completed_etag(parts)
        try:
            current = await self._head(bucket, key)
        except NotFound:
            raise missing from None
        if expected is None or current.etag != expected:
            raise missing
        return current

    async def abort_multipart(self, bucket: str, key: str, upload_id: str) -> None:
        await self._client.abort_multipart_upload(
            Bucket=self._up, Key=self._layout.key(bucket, key), UploadId=upload_id
        )

    async def list_parts(
        self,
        bucket: str,
        key: str,
        upload_id: str,
        *,
        part_number_marker: int = 0,
        max_parts: int = 1000,
    ) -> PartsPage:
        page = await self._client.list_parts(
            Bucket=self._up,
            Key=self._layout.key(bucket, key),
            UploadId=upload_id,
            PartNumberMarker=part_number_marker,
            MaxParts=max_parts,
        )
        parts = [
            PartInfo(
                p["PartNumber"],
                clean_etag(p["ETag"]),
                p["Size"],
                p["LastModified"].astimezone(UTC),
                checksum_of(p),
            )
            for p in page.get("Parts", [])
        ]
        truncated = bool(page.get("IsTruncated"))
        marker = int(page.get("NextPartNumberMarker") or 0) if truncated else None
        algorithm = page.get("ChecksumAlgorithm")
        return PartsPage(
            parts,
            truncated,
            marker or (parts[-1].part_number if truncated else None),
            algorithm.lower() if algorithm else None,
            page.get("ChecksumType") if algorithm else None,
        )

    async def list_multipart_uploads(
        self,
        bucket: str,
        *,
        prefix: str = "",
        key_marker: str | None = None,
        upload_id_marker: str | None = None,
        max_uploads: int = 1000,
    ) -> UploadsPage:
        markers: dict[str, str] = {}
        if key_marker is not None:
            markers["KeyMarker"] = self._layout.key(bucket, key_marker)
            if upload_id_marker is not None:
                markers["UploadIdMarker"] = upload_id_marker
        page = await self._list_uploads(
            Prefix=self._layout.key(bucket, prefix), MaxUploads=max_uploads, **markers
        )
        uploads = [
            UploadInfo(
                self._layout.strip(bucket, u["Key"]),
                u["UploadId"],
                u["Initiated"].astimezone(UTC),
            )
            for u in page.get("Uploads", [])
        ]
        # S3's order and marker, for upstreams that ignore them (moto); a no-op on the others
        uploads.sort(key=lambda u: u.key)
        if key_marker is not None and upload_id_marker is None:
            uploads = [u for u in uploads if u.key > key_marker]
        if not uploads:
            await self._require_bucket(bucket)
        truncated = bool(page.get("IsTruncated"))
        next_key = page.get("NextKeyMarker") if truncated else None
        return UploadsPage(
            uploads,
            truncated,
            self._layout.strip(bucket, next_key) if next_key else None,
            page.get("NextUploadIdMarker") if truncated else None,
        )

    async def _abort_uploads(self, bucket: str) -> None:
        """Abort every unfinished upload of `bucket` (it is being deleted)."""
        prefix = self._layout.bucket_root(bucket)
        aborted: set[str] = set()
        while True:  # from the start again: what was aborted is gone (a page is 1,000)
            listed = (await self._list_uploads(Prefix=prefix)).get("Uploads", [])
            uploads = [u for u in listed if u["UploadId"] not in aborted]
            if not uploads:
                return
            for upload in uploads:
                aborted.add(upload["UploadId"])
                with contextlib.suppress(NotFound):  # completed or aborted meanwhile
                    await self._client.abort_multipart_upload(
                        Bucket=self._up, Key=upload["Key"], UploadId=upload["UploadId"]
                    )

    async def _list_uploads(self, **request: Any) -> Mapping[str, Any]:
        try:
            return await self._client.list_multipart_uploads(Bucket=self._up, **request)
        except NotFound as exc:  # rclone's answer when there are none
            if exc.code != "NoSuchUpload":
                raise
            return {}
