"""The upstream S3 client as the s3 backend uses it: every call raises lakestow's errors.

`Upstream` wraps aiobotocore's client; each of its methods is the client's operation of the
same name and arguments, run inside `_call`, the one place where botocore's exceptions become
lakestow's (`errors.lakestow_error` says which) and where each call gets its deadline. No other
code of the backend calls the client, so no call site translates by hand, and none can forget
to. A GET's body is a stream the caller reads later; its errors are not translated here.
The writes that may carry a condition (PUT, Complete, copy, delete) also go through
`conditions`, which decides the condition itself where the upstream does not.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager, nullcontext
from typing import TYPE_CHECKING, Any

import aiohttp
from botocore.exceptions import BotoCoreError, ClientError

from lakestow.errors import Unavailable
from lakestow.storage.s3.errors import lakestow_error

if TYPE_CHECKING:
    from botocore.client import ClientMeta
    from types_aiobotocore_s3 import S3Client
    from types_aiobotocore_s3.type_defs import (
        AbortMultipartUploadOutputTypeDef,
        AbortMultipartUploadRequestTypeDef,
        CompleteMultipartUploadOutputTypeDef,
        CompleteMultipartUploadRequestTypeDef,
        CopyObjectOutputTypeDef,
        CopyObjectRequestTypeDef,
        CreateMultipartUploadOutputTypeDef,
        CreateMultipartUploadRequestTypeDef,
        DeleteObjectOutputTypeDef,
        DeleteObjectRequestTypeDef,
        DeleteObjectsOutputTypeDef,
        DeleteObjectsRequestTypeDef,
        DeleteObjectTaggingOutputTypeDef,
        DeleteObjectTaggingRequestTypeDef,
        GetBucketVersioningOutputTypeDef,
        GetBucketVersioningRequestTypeDef,
        GetObjectAttributesOutputTypeDef,
        GetObjectAttributesRequestTypeDef,
        GetObjectOutputTypeDef,
        GetObjectRequestTypeDef,
        GetObjectTaggingOutputTypeDef,
        GetObjectTaggingRequestTypeDef,
        HeadBucketOutputTypeDef,
        HeadBucketRequestTypeDef,
        HeadObjectOutputTypeDef,
        HeadObjectRequestTypeDef,
        ListMultipartUploadsOutputTypeDef,
        ListMultipartUploadsRequestTypeDef,
        ListObjectsV2OutputTypeDef,
        ListObjectsV2RequestTypeDef,
        ListObjectVersionsOutputTypeDef,
        ListObjectVersionsRequestTypeDef,
        ListPartsOutputTypeDef,
        ListPartsRequestTypeDef,
        PutBucketVersioningRequestTypeDef,
        PutObjectOutputTypeDef,
        PutObjectRequestTypeDef,
        PutObjectTaggingOutputTypeDef,
        PutObjectTaggingRequestTypeDef,
        UploadPartCopyOutputTypeDef,
        UploadPartCopyRequestTypeDef,
        UploadPartOutputTypeDef,
        UploadPartRequestTypeDef,
    )
    from typing_extensions import Unpack

    from lakestow.storage.s3.conditions import Conditions


SLOWEST_UPLOAD = 1024 * 1024
"""Bytes per second an upstream is expected to take a body at, at the least: a PUT or part
upload gets a second more than the deadline per MiB it carries (its body is already here,
in memory or spooled, so only the upstream sets its pace)."""


SMALL_GET = 64 * 1024
"""A GET of at most this many bytes is read whole within its call's deadline: the S3 endpoint
answers such a body in one piece anyway, so its client waits for all of it, and a stalled
upstream gets a 503 in time. Larger bodies stream, each read bounded by the read timeout."""


LOCK_LIMIT = 60.0
"""Seconds a conditional write's key may be held, per step, where calls have no deadline."""


class Upstream:
    """An aiobotocore S3 client whose operations raise lakestow's errors, not botocore's, and
    answer within `deadline` seconds, retries included (a stalled upstream: 503); a request
    with a body, within that plus the body's time at `SLOWEST_UPLOAD`."""

    def __init__(self, client: S3Client, *, deadline: float | None = None) -> None:
        self._client = client
        self._deadline = deadline
        self.conditions: Conditions | None = None
        """How conditional writes are decided, once the probe has said (None: by the
        upstream, as the probe's own are)."""

    def _conditional(
        self, request: Mapping[str, Any], *, sending: int = 0
    ) -> AbstractAsyncContextManager[None]:
        """Around a write that may carry a condition: what `conditions` adds. The key may be
        held across a HEAD and the write, each within its deadline, and no longer."""
        if self.conditions is None:
            return nullcontext()
        longest = 2 * (self._deadline or LOCK_LIMIT) + sending / SLOWEST_UPLOAD + 1
        return self.conditions.write(self, request, longest)

    @asynccontextmanager
    async def _call(self, *, sending: int = 0) -> AsyncIterator[None]:
        """Raise the lakestow error for any botocore error raised inside the block, and
        ServiceUnavailable once the deadline (for a body of `sending` bytes) passes."""
        deadline = None if self._deadline is None else self._deadline + sending / SLOWEST_UPLOAD
        try:
            async with asyncio.timeout(deadline):
                yield
        except (ClientError, BotoCoreError) as exc:
            raise lakestow_error(exc) from exc
        except aiohttp.ClientError as exc:  # a connection lost mid-answer, which botocore lets by
            raise Unavailable(f"The upstream store is unreachable: {exc}") from exc
        except TimeoutError as exc:
            raise Unavailable(f"The upstream store did not answer within {deadline:g} s.") from exc

    @property
    def meta(self) -> ClientMeta:
        """The client's configuration and event hooks (as botocore's `client.meta`)."""
        return self._client.meta

    # Buckets and listings

    async def head_bucket(
        self, **request: Unpack[HeadBucketRequestTypeDef]
    ) -> HeadBucketOutputTypeDef:
        async with self._call():
            return await self._client.head_bucket(**request)

    async def list_objects_v2(
        self, **request: Unpack[ListObjectsV2RequestTypeDef]
    ) -> ListObjectsV2OutputTypeDef:
        async with self._call():
            return await self._client.list_objects_v2(**request)

    async def list_objects_v2_pages(
        self, **request: Unpack[ListObjectsV2RequestTypeDef]
    ) -> AsyncIterator[ListObjectsV2OutputTypeDef]:
        """Every page of a listing, following continuation tokens as botocore's paginator."""
        while True:
            page = await self.list_objects_v2(**request)
            yield page
            token = page.get("NextContinuationToken")
            if not page.get("IsTruncated") or not token:
                return
            request["ContinuationToken"] = token

    async def list_object_versions(
        self, **request: Unpack[ListObjectVersionsRequestTypeDef]
    ) -> ListObjectVersionsOutputTypeDef:
        async with self._call():
            return await self._client.list_object_versions(**request)

    async def get_bucket_versioning(
        self, **request: Unpack[GetBucketVersioningRequestTypeDef]
    ) -> GetBucketVersioningOutputTypeDef:
        async with self._call():
            return await self._client.get_bucket_versioning(**request)

    async def put_bucket_versioning(
        self, **request: Unpack[PutBucketVersioningRequestTypeDef]
    ) -> None:
        async with self._call():
            await self._client.put_bucket_versioning(**request)

    # Objects

    async def head_object(
        self, **request: Unpack[HeadObjectRequestTypeDef]
    ) -> HeadObjectOutputTypeDef:
        async with self._call():
            return await self._client.head_object(**request)

    async def get_object(
        self, **request: Unpack[GetObjectRequestTypeDef]
    ) -> GetObjectOutputTypeDef:
        async with self._call():
            return await self._client.get_object(**request)

    async def get_small_object(
        self, **request: Unpack[GetObjectRequestTypeDef]
    ) -> tuple[GetObjectOutputTypeDef, bytes | None]:
        """get_object, with its body read whole within the same deadline when it holds at
        most `SMALL_GET` bytes (else None: the body is the caller's to stream)."""
        async with self._call():
            response = await self._client.get_object(**request)
            if response["ContentLength"] > SMALL_GET:
                return response, None
            try:
                return response, await response["Body"].read()
            finally:
                response["Body"].close()

    async def put_object(
        self, **request: Unpack[PutObjectRequestTypeDef]
    ) -> PutObjectOutputTypeDef:
        sending = request.get("ContentLength", 0)
        async with self._conditional(request, sending=sending), self._call(sending=sending):
            return await self._client.put_object(**request)

    async def copy_object(
        self, **request: Unpack[CopyObjectRequestTypeDef]
    ) -> CopyObjectOutputTypeDef:
        async with self._conditional(request), self._call():
            return await self._client.copy_object(**request)

    async def delete_object(
        self, **request: Unpack[DeleteObjectRequestTypeDef]
    ) -> DeleteObjectOutputTypeDef:
        async with self._conditional(request), self._call():
            return await self._client.delete_object(**request)

    async def delete_objects(
        self, **request: Unpack[DeleteObjectsRequestTypeDef]
    ) -> DeleteObjectsOutputTypeDef:
        async with self._call():
            return await self._client.delete_objects(**request)

    async def get_object_attributes(
        self, **request: Unpack[GetObjectAttributesRequestTypeDef]
    ) -> GetObjectAttributesOutputTypeDef:
        async with self._call():
            return await self._client.get_object_attributes(**request)

    async def get_object_tagging(
        self, **request: Unpack[GetObjectTaggingRequestTypeDef]
    ) -> GetObjectTaggingOutputTypeDef:
        async with self._call():
            return await self._client.get_object_tagging(**request)

    async def put_object_tagging(
        self, **request: Unpack[PutObjectTaggingRequestTypeDef]
    ) -> PutObjectTaggingOutputTypeDef:
        async with self._call():
            return await self._client.put_object_tagging(**request)

    async def delete_object_tagging(
        self, **request: Unpack[DeleteObjectTaggingRequestTypeDef]
    ) -> DeleteObjectTaggingOutputTypeDef:
        async with self._call():
            return await self._client.delete_object_tagging(**request)

    # Multipart uploads

    async def create_multipart_upload(
        self, **request: Unpack[CreateMultipartUploadRequestTypeDef]
    ) -> CreateMultipartUploadOutputTypeDef:
        async with self._call():
            return await self._client.create_multipart_upload(**request)

    async def upload_part(
        self, **request: Unpack[UploadPartRequestTypeDef]
    ) -> UploadPartOutputTypeDef:
        async with self._call(sending=request.get("ContentLength", 0)):
            return await self._client.upload_part(**request)

    async def upload_part_copy(
        self, **request: Unpack[UploadPartCopyRequestTypeDef]
    ) -> UploadPartCopyOutputTypeDef:
        async with self._call():
            return await self._client.upload_part_copy(**request)

    async def complete_multipart_upload(
        self, **request: Unpack[CompleteMultipartUploadRequestTypeDef]
    ) -> CompleteMultipartUploadOutputTypeDef:
        async with self._conditional(request), self._call():
            return await self._client.complete_multipart_upload(**request)

    async def abort_multipart_upload(
        self, **request: Unpack[AbortMultipartUploadRequestTypeDef]
    ) -> AbortMultipartUploadOutputTypeDef:
        async with self._call():
            return await self._client.abort_multipart_upload(**request)

    async def list_parts(
        self, **request: Unpack[ListPartsRequestTypeDef]
    ) -> ListPartsOutputTypeDef:
        async with self._call():
            return await self._client.list_parts(**request)

    async def list_multipart_uploads(
        self, **request: Unpack[ListMultipartUploadsRequestTypeDef]
    ) -> ListMultipartUploadsOutputTypeDef:
        async with self._call():
            return await self._client.list_multipart_uploads(**request)
