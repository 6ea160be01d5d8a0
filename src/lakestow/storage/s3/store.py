"""The s3 backend: lakestow's buckets and objects kept in an upstream S3-compatible store.

    store = await open_store("s3://upstream-bucket/some/prefix", endpoint_url="http://minio:9000")

One upstream bucket holds every lakestow bucket, under the URL's prefix (`layout` has the
key mapping and the bucket registry). Endpoint, credentials and region come from the options
(`endpoint_url`, `access_key_id`, `secret_access_key`, `session_token`, `region`) and fall
back to the standard AWS variables (`AWS_ENDPOINT_URL`, `AWS_ACCESS_KEY_ID`, ...) and
configuration files. The client is aiobotocore: the whole S3 API, async, streaming.

Bodies stream both ways: a PUT goes up in one request when it fits in `part_size` bytes, else
as a multipart upload of `part_size` parts (its ETag is then the upstream's `md5-N`, as S3's
own for such uploads); a GET streams the upstream's response. Conditions (`If-Match`,
`If-None-Match: *`) are passed to the upstream, which decides them atomically; a conditional
copy goes through a multipart upload completed under the condition, because upstreams honour
conditions on CompleteMultipartUpload more widely than on CopyObject. Where the upstream lets
them through (the probe at start tells), lakestow decides them, under a lock on the key in the
catalog (`conditions`).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import AsyncExitStack
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote, urlsplit

import anyio

from lakestow.auth.checksums import CRCS, Checksummer
from lakestow.errors import (
    AlreadyExists,
    InvalidInput,
    InvalidRequest,
    LakestowError,
    NotFound,
    PreconditionFailed,
)
from lakestow.storage import names
from lakestow.storage.common import check_md5, clean_metadata, part_unsatisfiable
from lakestow.storage.etags import clean_etag, parts_count, quoted, requoted
from lakestow.storage.protocol import (
    DEFAULT_CONTENT_TYPE,
    NULL_VERSION,
    UPSTREAM,
    Body,
    BodyChecksum,
    BucketInfo,
    Checksum,
    ConditionalWrites,
    Deleted,
    GetResult,
    KeyLocks,
    ListPage,
    ObjectInfo,
    ObjectStore,
    PartRange,
    SearchPage,
)
from lakestow.storage.s3.base import (
    checksum_of,
    checksum_param,
    object_info,
    shown_version,
    tagging_header,
    version_arg,
    with_version,
    write_conditions,
)
from lakestow.storage.s3.conditions import Conditions
from lakestow.storage.s3.connect import open_client
from lakestow.storage.s3.errors import delete_marker, from_code
from lakestow.storage.s3.io import PartReader, Spool, md5_header, stream
from lakestow.storage.s3.layout import Layout, registry_metadata, upstream_metadata
from lakestow.storage.s3.listing import list_page
from lakestow.storage.s3.probe import probe
from lakestow.storage.s3.transfer import (
    copy_in_parts,
    part_span,
    put_in_parts,
    range_header,
    response_span,
)
from lakestow.storage.s3.upstream import Upstream
from lakestow.storage.s3.versions import S3Versioning

DEFAULT_PART_SIZE = 8 * 1024 * 1024
SEARCH_SCAN = 10_000
"""The most objects one search call lists from the upstream (10 listing requests)."""


class S3Store(S3Versioning):
    """An `ObjectStore` in an upstream S3 bucket. Open with `S3Store.open` or `open_store`."""

    def __init__(self, client: Upstream, layout: Layout, stack: AsyncExitStack, **opts: Any):
        super().__init__(client, layout, **opts)
        self._stack = stack

    @classmethod
    async def open(
        cls,
        upstream_bucket: str,
        prefix: str = "",
        *,
        endpoint_url: str | None = None,
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
        session_token: str | None = None,
        region: str | None = None,
        part_size: int = DEFAULT_PART_SIZE,
        bucket_ttl: float = 5.0,
        max_connections: int = 64,
        max_attempts: int = 3,
        request_timeout: float = 60.0,
    ) -> S3Store:
        """Connect to the upstream and check that its bucket is there.

        `part_size`: PUT bodies larger than this go up as multipart uploads of such parts
        (at least the upstream's minimum part size, 5 MiB on S3); also the most of an
        `upload_part` body kept in memory before spilling to a temporary file.
        `bucket_ttl`: how long a bucket found to exist is trusted without asking again.
        `max_attempts`: tries of a request that failed on a connection error or a 5xx.
        `request_timeout`: seconds to wait for a connection, or for the next bytes of an answer.
        """
        stack = AsyncExitStack()
        client = await open_client(
            stack,
            endpoint_url=endpoint_url,
            access_key_id=access_key_id,
            secret_access_key=secret_access_key,
            session_token=session_token,
            region=region,
            max_connections=max_connections,
            max_attempts=max_attempts,
            request_timeout=request_timeout,
        )
        store = cls(
            Upstream(client, deadline=request_timeout),
            Layout.of(upstream_bucket, prefix),
            stack,
            part_size=part_size,
            bucket_ttl=bucket_ttl,
        )
        try:
            await store._check_upstream()
        except BaseException:
            await stack.aclose()
            raise
        return store

    async def _check_upstream(self) -> None:
        try:
            await self._client.head_bucket(Bucket=self._up)
        except NotFound:
            raise LakestowError(f"The upstream bucket {self._up!r} does not exist.") from None

    async def aclose(self) -> None:
        await self._stack.aclose()

    async def __aenter__(self) -> S3Store:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    # Buckets

    async def create_bucket(self, name: str, *, location: str | None = None) -> BucketInfo:
        exists = AlreadyExists(f"Bucket {name!r} already exists.", code="BucketAlreadyOwnedByYou")
        try:
            await self.head_bucket(name)
            raise exists
        except NotFound:
            pass
        created = datetime.now(UTC).replace(microsecond=0)
        entry = {"bucket": name, "created": created.isoformat(), "location": location}
        try:
            await self._client.put_object(
                Bucket=self._up,
                Key=self._layout.registry_key(name),
                Body=json.dumps(entry).encode(),
                ContentType="application/json",
                Metadata=registry_metadata(location, created),  # what a HEAD of it tells
                IfNoneMatch="*",
            )
        except PreconditionFailed:
            raise exists from None
        return BucketInfo(name, created, location)

    async def delete_bucket(self, name: str) -> None:
        _, status = await self._registry_entry(name)
        root = self._layout.bucket_root(name)
        if status is None:
            listed = await self._client.list_objects_v2(Bucket=self._up, Prefix=root, MaxKeys=1)
            empty = not listed.get("Contents")
        else:
            empty = not await self._has_versions(name)
        if not empty:
            raise AlreadyExists(f"Bucket {name!r} is not empty.", code="BucketNotEmpty")
        await self._abort_uploads(name)
        if status is None:  # what a versioned upstream kept of it, out of every request's reach
            await self._purge(root)
        self._known.pop(name, None)
        registry = self._layout.registry_key(name)
        await self._client.delete_object(Bucket=self._up, Key=registry)
        await self._purge(registry, key=registry)  # its versions, on a versioned upstream

    async def list_buckets(self) -> list[BucketInfo]:
        root = self._layout.registry_root
        names: list[str] = []
        async for page in self._client.list_objects_v2_pages(Bucket=self._up, Prefix=root):
            for item in page.get("Contents", []):
                name = item["Key"][len(root) :]
                if name and "/" not in name:
                    names.append(name)
        # A listing does not carry the entries' metadata (their locations): a HEAD each, a
        # few at a time. A deployment holds a handful of buckets.
        found: dict[str, BucketInfo] = {}
        slots = anyio.Semaphore(BUCKET_HEADS)

        async def head(name: str) -> None:
            async with slots:
                with contextlib.suppress(NotFound):  # deleted in the meantime
                    found[name] = await self.head_bucket(name)

        async with anyio.create_task_group() as heads:
            for name in names:
                heads.start_soon(head, name)
        return [found[name] for name in sorted(found)]

    async def ping(self) -> None:
        await self._client.head_bucket(Bucket=self._up)

    async def probe_conditional_writes(self) -> ConditionalWrites:
        """Whether the upstream refuses conditional writes that do not hold (`probe`)."""
        return await probe(self._client, self._layout)

    def decide_conditional_writes(self, how: ConditionalWrites, locks: KeyLocks) -> None:
        # left to the upstream: nothing added to any write's path
        self._client.conditions = None if how.decided == UPSTREAM else Conditions(how, locks)

    # Objects

    async def put(
        self,
        bucket: str,
        key: str,
        body: Body,
        *,
        content_type: str | None = None,
        metadata: dict[str, str] | None = None,
        if_match: str | None = None,
        if_none_match: str | None = None,
        content_md5: bytes | None = None,
        checksum: BodyChecksum | None = None,
        tags: dict[str, str] | None = None,
    ) -> ObjectInfo:
        conditions = write_conditions(if_match, if_none_match)
        status = await self._require_bucket(bucket)
        draft = ObjectInfo(
            bucket,
            key,
            0,
            "",
            datetime.now(UTC).replace(microsecond=0),
            content_type or DEFAULT_CONTENT_TYPE,
            clean_metadata(metadata),
        )
        reader = PartReader(body, self._part_size, whole_md5=content_md5 is not None)
        first = await reader.next_part()
        upstream_key = self._layout.key(bucket, key)
        if reader.more and (checksum is None or checksum.algorithm in CRCS):
            info = await put_in_parts(
                self._client,
                self._up,
                upstream_key,
                draft,
                reader,
                first,
                conditions,
                content_md5,
                checksum,
                tags,
            )
            return with_version(info, status, info.version_id)
        if reader.more:  # a checksum no upstream makes of parts: the body goes up whole
            done, size = await self._put_spooled(
                upstream_key, reader, first, conditions, content_md5, checksum, tags, draft
            )
            return written(draft, size, done, status, checksum, tags)
        digest = (
            reader.md5.digest()
            if reader.md5
            else hashlib.md5(first, usedforsecurity=False).digest()
        )
        check_md5(digest, content_md5)
        done = await self._client.put_object(
            Bucket=self._up,
            Key=upstream_key,
            Body=first,
            ContentLength=len(first),
            ContentMD5=md5_header(digest),
            ContentType=draft.content_type,
            Metadata=upstream_metadata(draft.metadata),
            **conditions,  # type: ignore[arg-type]
            **checksum_args(checksum),
            **tagging_header(tags),
        )
        return written(draft, len(first), done, status, checksum, tags)

    async def _put_spooled(
        self,
        upstream_key: str,
        reader: PartReader,
        first: bytes,
        conditions: dict[str, str],
        content_md5: bytes | None,
        checksum: BodyChecksum | None,
        tags: dict[str, str] | None,
        draft: ObjectInfo,
    ) -> tuple[Mapping[str, Any], int]:
        """A body larger than a part, with a checksum (SHA-1, SHA-256, ...) that upstreams
        make only of a body sent whole (a multipart upload's would be COMPOSITE, of its
        parts): spooled (memory, then a temporary file) and sent in one request, at most
        S3's 5 GiB. The upstream's answer, and the body's size."""

        async def rest() -> AsyncIterator[bytes]:
            yield first
            while reader.more:
                yield await reader.next_part()

        spool = await Spool.fill(rest(), self._part_size, limit=MAX_PUT)
        try:
            spool.check(content_md5)
            done = await self._client.put_object(
                Bucket=self._up,
                Key=upstream_key,
                Body=spool.body(),
                ContentLength=spool.size,
                ContentMD5=md5_header(spool.md5.digest()),
                ContentType=draft.content_type,
                Metadata=upstream_metadata(draft.metadata),
                **conditions,  # type: ignore[arg-type]
                **checksum_args(checksum),
                **tagging_header(tags),
            )
        finally:
            spool.close()
        return done, spool.size

    async def get(
        self,
        bucket: str,
        key: str,
        *,
        byte_range: tuple[int, int | None] | None = None,
        suffix_length: int | None = None,
        version_id: str | None = None,
    ) -> GetResult:
        header = range_header(byte_range, suffix_length)
        extra: dict[str, Any] = {"Range": header} if header else {}
        status = await self._require_bucket(bucket)
        extra.update(version_arg(status, version_id))
        try:  # (the checksum asked for is the whole object's: botocore checks the body)
            response, data = await self._client.get_small_object(
                Bucket=self._up,
                Key=self._layout.key(bucket, key),
                ChecksumMode="ENABLED",
                **extra,
            )
        except NotFound as exc:
            is_marker, _ = delete_marker(exc)
            if status is not None and not is_marker:
                # a GET's miss may be a delete marker that the answer does not tell (moto's
                # does not): a HEAD's does, and raises the error that says so
                await self._head(bucket, key, version_id)
            raise await self._read_failed(bucket, status, version_id, exc) from None
        except LakestowError as exc:
            raise await self._read_failed(bucket, status, version_id, exc) from None
        start, end, size = response_span(response)
        info = object_info(bucket, key, response, size)
        info = with_version(info, status, response.get("VersionId"))
        if data is not None:
            return GetResult.of_bytes(info, start, end, data)
        return GetResult(info, start, end, stream(response["Body"]))

    async def head(self, bucket: str, key: str, *, version_id: str | None = None) -> ObjectInfo:
        return await self._head(bucket, key, version_id)

    async def part_range(self, bucket: str, key: str, part_number: int) -> PartRange:
        """Where the upstream says part `part_number` lies (HEAD ?partNumber=N)."""
        try:
            head = await self._client.head_object(
                Bucket=self._up,
                Key=self._layout.key(bucket, key),
                PartNumber=part_number,
                ChecksumMode="ENABLED",
            )
        except NotFound as exc:
            raise await self._missing(bucket, exc) from None
        except InvalidRequest as exc:
            if exc.status != 416:
                raise
            raise part_unsatisfiable() from None
        return part_span(bucket, key, part_number, head)

    async def delete(
        self,
        bucket: str,
        key: str,
        *,
        if_match: str | None = None,
        version_id: str | None = None,
    ) -> Deleted:
        status = await self._require_bucket(bucket)
        try:
            version = version_arg(status, version_id)
        except NotFound:  # a version that names nothing: deleting it changes nothing
            return Deleted(version_id)
        extra: dict[str, Any] = {} if if_match is None else {"IfMatch": requoted(if_match)}
        done = await self._client.delete_object(
            Bucket=self._up, Key=self._layout.key(bucket, key), **version, **extra
        )
        if status is None or version_id is not None:
            return Deleted(version_id, bool(done.get("DeleteMarker")) and status is not None)
        marker = bool(done.get("DeleteMarker"))
        return Deleted(shown_version(status, done.get("VersionId")) if marker else None, marker)

    async def delete_many(
        self, bucket: str, keys: Sequence[str], *, version_ids: Sequence[str | None] = ()
    ) -> list[Deleted | LakestowError]:
        status = await self._require_bucket(bucket)
        asked = list(version_ids) or [None] * len(keys)
        results: dict[tuple[str, str | None], Deleted | LakestowError] = {}
        objects: list[dict[str, str]] = []
        for key, version_id in zip(keys, asked, strict=True):
            try:
                version = version_arg(status, version_id)
            except NotFound:  # a version that names nothing: deleting it changes nothing
                results[key, version_id] = Deleted(version_id)
                continue
            objects.append({"Key": self._layout.key(bucket, key), **version})
        for at in range(0, len(objects), 1000):
            done = await self._client.delete_objects(
                Bucket=self._up,
                Delete={"Objects": objects[at : at + 1000]},  # type: ignore[typeddict-item]
            )
            results.update(self._deleted(bucket, status, done))
        return [
            results.get((key, version_id), Deleted(version_id))
            for key, version_id in zip(keys, asked, strict=True)
        ]

    def _deleted(
        self, bucket: str, status: str | None, answer: Mapping[str, Any]
    ) -> dict[tuple[str, str | None], Deleted | LakestowError]:
        """What a DeleteObjects answer says of each (key, version id asked for): an entry
        names a version id only when one was asked for (S3's, and "null" for a bucket never
        versioned, whose "null" is asked for as the latest)."""
        results: dict[tuple[str, str | None], Deleted | LakestowError] = {}
        for item in answer.get("Deleted", []):
            key = self._layout.strip(bucket, item.get("Key", ""))
            marker = bool(item.get("DeleteMarker")) and status is not None
            if "VersionId" in item:
                results[key, item["VersionId"]] = Deleted(item["VersionId"], marker)
            elif status is None:
                results[key, None], results[key, NULL_VERSION] = Deleted(), Deleted(NULL_VERSION)
            else:
                made = shown_version(status, item.get("DeleteMarkerVersionId"))
                results[key, None] = Deleted(made if marker else None, marker)
        for error in answer.get("Errors", []):
            key = self._layout.strip(bucket, error.get("Key", ""))
            failed = from_code(error.get("Code", ""), error.get("Message", ""))
            results[key, error.get("VersionId")] = failed
        return results

    async def list(
        self,
        bucket: str,
        *,
        prefix: str = "",
        delimiter: str | None = None,
        start_after: str | None = None,
        max_keys: int = 1000,
    ) -> ListPage:
        page = await list_page(
            self._client, self._layout, bucket, prefix, delimiter, start_after, max_keys
        )
        if not page.objects and not page.common_prefixes:
            self._known.pop(bucket, None)
            await self._require_bucket(bucket)
        return page

    async def search(
        self,
        bucket: str,
        prefix: str,
        text: str,
        *,
        start_after: str | None = None,
        limit: int = 100,
    ) -> SearchPage:
        """A bounded scan of the upstream's listing (`names.scan`): at most `SEARCH_SCAN`
        objects a call, then the page is partial and goes on where it stopped."""
        return await names.scan(
            self, bucket, prefix, text, start_after=start_after, limit=limit, budget=SEARCH_SCAN
        )

    async def copy(
        self,
        src_bucket: str,
        src_key: str,
        dst_bucket: str,
        dst_key: str,
        *,
        metadata: dict[str, str] | None = None,
        content_type: str | None = None,
        replace_metadata: bool = False,
        if_match: str | None = None,
        if_none_match: str | None = None,
        checksum_algorithm: str | None = None,
        tags: dict[str, str] | None = None,
        src_version_id: str | None = None,
    ) -> ObjectInfo:
        conditions = write_conditions(if_match, if_none_match)
        source = await self._copy_source(src_bucket, src_key, src_version_id)
        status = await self._require_bucket(dst_bucket)
        target = ObjectInfo(
            dst_bucket,
            dst_key,
            source.size,
            "",
            source.last_modified,
            (content_type or DEFAULT_CONTENT_TYPE) if replace_metadata else source.content_type,
            clean_metadata(metadata) if replace_metadata else source.metadata,
        )
        src = {"Bucket": self._up, "Key": self._layout.key(src_bucket, src_key)}
        src.update(version_arg(await self._require_bucket(src_bucket), src_version_id))
        dst = self._layout.key(dst_bucket, dst_key)
        extra: dict[str, Any] = {}
        if checksum_algorithm is not None:
            Checksummer(checksum_algorithm)  # InvalidRequest for one lakestow does not know
            extra["ChecksumAlgorithm"] = checksum_algorithm.upper()
        # Upstreams honour conditions on CompleteMultipartUpload more widely than on
        # CopyObject; where lakestow decides them, a CopyObject carries them.
        decided_here = self._client.conditions is not None and self._client.conditions.decides
        if (conditions and not decided_here) or source.size > COPY_LIMIT:
            if tags is None and source.tag_count:  # a new upload has none: the source's
                tags = await self.get_tagging(src_bucket, src_key)
            info = await copy_in_parts(
                self._client,
                src,
                dst,
                source.etag,
                target,
                conditions,
                checksum_algorithm,
                source.checksum,
                tags,
            )
            return with_version(info, status, info.version_id)
        if tags is not None:  # x-amz-tagging-directive REPLACE; S3's default is COPY
            extra["TaggingDirective"] = "REPLACE"
            extra.update(tagging_header(tags))
        done = await self._client.copy_object(
            Bucket=self._up,
            Key=dst,
            CopySource=src,  # type: ignore[arg-type]
            CopySourceIfMatch=quoted(source.etag),
            MetadataDirective="REPLACE",
            ContentType=target.content_type,
            Metadata=upstream_metadata(target.metadata),
            **conditions,  # type: ignore[arg-type]
            **extra,
        )
        result = done.get("CopyObjectResult", {})
        if "ETag" not in result:  # rclone answers without a result: ask what was written
            return await self._head(dst_bucket, dst_key)
        modified = result.get("LastModified") or datetime.now(UTC)
        modified = modified.astimezone(UTC)
        info = _written(target, source.size, result["ETag"], modified, checksum_of(result))
        info = replace(info, tag_count=source.tag_count if tags is None else len(tags))
        return with_version(info, status, done.get("VersionId"))


def checksum_args(checksum: BodyChecksum | None) -> dict[str, Any]:
    """The upstream PUT's arguments that pass a body's checksum on, for it to check and keep
    (ChecksumAlgorithm is sent as x-amz-sdk-checksum-algorithm, which some upstreams, moto
    among them, keep the checksum by)."""
    if checksum is None:
        return {}
    kept = checksum.result()
    return {"ChecksumAlgorithm": kept.algorithm.upper(), checksum_param(kept.algorithm): kept.value}


def kept(answer: Mapping[str, Any], checksum: BodyChecksum | None) -> Checksum | None:
    """The checksum an upstream kept of a PUT: the one passed on, if its answer says so
    (an upstream that keeps none answers without)."""
    if checksum is None:
        return None
    sent = checksum.result()
    return sent if answer.get(checksum_param(sent.algorithm)) == sent.value else None


BUCKET_HEADS = 8
"""Registry entries a bucket listing reads at once."""
COPY_LIMIT = 5 * 1024**3
"""The largest object S3's CopyObject copies; larger ones are copied part by part."""
MAX_PUT = 5 * 1024**3
"""The largest object S3's PutObject takes."""


def written(
    draft: ObjectInfo,
    size: int,
    answer: Mapping[str, Any],
    status: str | None,
    checksum: BodyChecksum | None,
    tags: dict[str, str] | None,
) -> ObjectInfo:
    """What a PUT of `size` bytes made of `draft`, as the upstream answered it."""
    info = _written(draft, size, answer["ETag"], checksum=kept(answer, checksum))
    info = replace(info, tag_count=len(tags or {}))
    return with_version(info, status, answer.get("VersionId"))


def _written(
    draft: ObjectInfo,
    size: int,
    etag: str,
    modified: datetime | None = None,
    checksum: Checksum | None = None,
) -> ObjectInfo:
    """What a write made of `draft`, as the upstream answered it."""
    return ObjectInfo(
        draft.bucket,
        draft.key,
        size,
        clean_etag(etag),
        modified or draft.last_modified,
        draft.content_type,
        draft.metadata,
        parts_count(etag),
        checksum,
    )


_OPTIONS = {
    "endpoint_url",
    "access_key_id",
    "secret_access_key",
    "session_token",
    "region",
    "part_size",
    "bucket_ttl",
    "max_connections",
    "max_attempts",
    "request_timeout",
}


async def open_url(url: str, **options: Any) -> ObjectStore:
    """Open the store an `s3://UPSTREAM_BUCKET/optional/prefix` URL names."""
    parts = urlsplit(url)
    if parts.scheme != "s3" or not parts.netloc:
        raise InvalidInput(f"An s3 store URL looks like s3://bucket/optional/prefix, not {url!r}.")
    unknown = set(options) - _OPTIONS
    if unknown:
        raise InvalidInput(f"Unknown s3 store options: {', '.join(sorted(unknown))}.")
    return await S3Store.open(parts.netloc, unquote(parts.path), **options)
