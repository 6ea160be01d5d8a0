"""`LocalStore`: the `ObjectStore` of the local backend, and its `open_url`.

Keys are rows of a SQLite index, never file paths, so `a` and `a/b` coexist and no key can
reach outside the store. Bytes live in immutable blob files (small objects in the index
itself); an object's commit point is the index transaction that references them. See
`core` for the layout, `writer` for group commit, `read` for snapshot reads, `ops` for the
transactions and `listing` for listing.

    store = await LocalStore.open("/var/lib/lakestow/objects")
    await store.create_bucket("lakestow")
    ...
    await store.aclose()
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import anyio

from lakestow.auth.checksums import Checksummer
from lakestow.errors import InvalidInput, LakestowError
from lakestow.storage.common import clean_metadata, no_such_bucket, no_such_key
from lakestow.storage.local import ops, search, versions
from lakestow.storage.local.blobs import CHUNK, BlobWriter
from lakestow.storage.local.core import HEAVY_ITEMS, Core
from lakestow.storage.local.index import read_bucket, read_buckets, read_tags
from lakestow.storage.local.listing import list_page
from lakestow.storage.local.multipart import MultipartOps
from lakestow.storage.local.read import (
    checksum_of,
    load_info,
    load_object,
    open_snapshot,
    part_range_of,
    parts_page,
    read_small,
    snapshot,
)
from lakestow.storage.local.sorting import sorted_page
from lakestow.storage.local.writer import Txn, WriterStats
from lakestow.storage.protocol import (
    DEFAULT_CONTENT_TYPE,
    MIN_PART_SIZE,
    NULL_VERSION,
    SORT_BY,
    Body,
    BodyChecksum,
    BucketInfo,
    Deleted,
    GetResult,
    ListPage,
    ObjectInfo,
    ObjectPartsPage,
    ObjectStore,
    PartRange,
    SearchPage,
    SortedPage,
    SortPosition,
    VersionsPage,
    VersionUsage,
)

_EPOCH = datetime.fromtimestamp(0, UTC)
LIST_ON_LOOP = 256
"""Entries of a listing page read on the event loop (a millisecond at most: 4 µs an
object, 1 µs a common prefix); the rest of a larger page is read in a thread, in the same
read transaction (`Core.read_in_parts`). The hop costs tens of µs of CPU on bare metal and
about 100 in a virtual machine (`bench/s3_app_micro.py --rows hop`), more than reading a
small page, which most pages are (`--rows delimiter`, 110 entries: 434 µs of CPU through a
thread, 243 on the loop)."""
VERSIONS_ON_LOOP = 100
"""The same for a page of ListObjectVersions, whose entries cost about 9 µs each."""


class LocalStore(MultipartOps):
    """An `ObjectStore` in a directory. Open with `LocalStore.open` or `open_store("file://...")`."""

    def __init__(self, core: Core) -> None:
        self._core = core

    @classmethod
    async def open(
        cls,
        root: str | os.PathLike[str],
        *,
        min_part_size: int = MIN_PART_SIZE,
        inline_max: int = 64 * 1024,
        scan_orphans: bool | None = None,
        max_threads: int = 64,
        shared: bool = False,
    ) -> LocalStore:
        """Open (creating if needed) the store at `root`.

        `min_part_size`: the least size of every part but the last (S3: 5 MiB).
        `inline_max`: objects up to this size are kept in the index, not in files.
        `scan_orphans`: look for blob files no row references; by default only when the
        store was not closed cleanly. `max_threads`: worker threads for file and index I/O.
        `shared`: other processes serve the store too; a `Held` of it, made by the process
        that forked this one, did the start-up work (and `scan_orphans` is not for this one).
        """
        core = Core(
            Path(root),
            min_part_size=min_part_size,
            inline_max=inline_max,
            max_threads=max_threads,
            shared=shared,
        )
        await core.run_to_end(partial(core.open, scan_orphans))
        return cls(core)

    @property
    def root(self) -> Path:
        return self._core.root

    @property
    def writer_stats(self) -> WriterStats:
        """Operations and commits so far (group commit makes commits fewer)."""
        return self._core.writer.stats

    @property
    def orphans_removed(self) -> int:
        """Blob files the last open found unreferenced and removed."""
        return self._core.orphans_removed

    async def aclose(self) -> None:
        with anyio.CancelScope(shield=True):  # a close, once begun, finishes
            await self._core.drain()
            await self._core.run_to_end(self._core.close)

    async def __aenter__(self) -> LocalStore:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def create_bucket(self, name: str, *, location: str | None = None) -> BucketInfo:
        info = await self._core.write(partial(ops.create_bucket, name=name, location=location))
        self._core.buckets.add(name)
        return info

    async def delete_bucket(self, name: str) -> None:
        # heavy: it may release the parts of many unfinished uploads
        await self._core.write(partial(ops.delete_bucket, name=name), heavy=True)
        self._core.buckets.discard(name)
        self._core.versioned.discard(name)

    async def get_versioning(self, bucket: str) -> str | None:
        return await self._core.read(partial(versions.bucket_versioning, bucket=bucket), False)

    async def put_versioning(self, bucket: str, status: str) -> None:
        await self._core.write(partial(ops.put_versioning, bucket=bucket, status=status))
        self._core.versioned.add(bucket)

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
        def query(
            key: str | None, version: str | None, limit: int, conn: sqlite3.Connection
        ) -> VersionsPage:
            return versions.versions_page(
                conn, bucket, prefix, delimiter or None, key, version, limit
            )

        def rest(first: VersionsPage) -> Callable[[sqlite3.Connection], VersionsPage] | None:
            if max_keys <= VERSIONS_ON_LOOP or not first.is_truncated:
                return None

            def joined(conn: sqlite3.Connection) -> VersionsPage:
                after = (first.next_key_marker, first.next_version_id_marker)
                more = query(*after, max_keys - VERSIONS_ON_LOOP, conn)
                return VersionsPage(
                    first.versions + more.versions,
                    first.common_prefixes + more.common_prefixes,
                    more.is_truncated,
                    more.next_key_marker,
                    more.next_version_id_marker,
                )

            return joined

        # As `list`: the first entries on the loop, the rest of a larger page in a thread.
        on_loop = min(max_keys, VERSIONS_ON_LOOP)
        first = partial(query, key_marker, version_id_marker, on_loop)
        return await self._core.read_in_parts(first, rest)

    async def search(
        self,
        bucket: str,
        prefix: str,
        text: str,
        *,
        start_after: str | None = None,
        limit: int = 100,
    ) -> SearchPage:
        self._core.check_bucket(bucket)
        query = partial(
            search.search,
            bucket=bucket,
            prefix=prefix,
            text=text,
            start_after=start_after,
            limit=limit,
        )
        # In a thread: the index answers in about a millisecond, a scan in up to 50 ms; one
        # at a time, as large listing pages (`Core.scan`: the GIL runs them one at a time
        # anyway, and each more thread wanting it slows every turn of the event loop).
        return await self._core.scan(query)

    async def purge_versions(
        self, bucket: str, *, prefix: str, noncurrent_before: datetime, limit: int = 1000
    ) -> int:
        op = partial(
            ops.purge_versions,
            bucket=bucket,
            prefix=prefix,
            before=noncurrent_before.timestamp(),
            limit=limit,
        )
        return await self._core.write(op, heavy=True)

    async def version_usage(self, bucket: str, *, prefix: str) -> VersionUsage:
        query = partial(versions.usage, bucket=bucket, prefix=prefix)
        return await self._core.run(partial(self._core.read_sync, query, True))

    def _named(self, info: ObjectInfo) -> ObjectInfo:
        """`info` with its version named as S3 names it: the null version of a bucket whose
        versioning was set is "null"; a bucket never versioned has no version ids."""
        if info.version_id is None and self._core.is_versioned(info.bucket):
            return replace(info, version_id=NULL_VERSION)
        return info

    async def list_buckets(self) -> list[BucketInfo]:
        return await self._core.read(read_buckets)

    async def ping(self) -> None:
        await self._core.read(read_buckets)  # the index answers through the reader pool

    async def head_bucket(self, name: str) -> BucketInfo:
        info = await self._core.read(partial(read_bucket, name=name))
        if info is None:
            raise no_such_bucket(name)
        return info

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
        self._core.check_bucket(bucket)
        draft = ObjectInfo(
            bucket,
            key,
            0,
            "",
            _EPOCH,
            content_type or DEFAULT_CONTENT_TYPE,
            clean_metadata(metadata),
        )
        cond = ops.Conditions(if_match, if_none_match)

        def make_op(blob: BlobWriter) -> Callable[[Txn], ObjectInfo]:
            info = replace(
                draft,
                size=blob.size,
                etag=blob.digest().hex(),
                checksum=None if checksum is None else checksum.result(),
            )
            return partial(
                ops.put_object,
                info=info,
                extents=blob.extents,
                cond=cond,
                inline=blob.inline,
                tags=tags,
            )

        return await self._core.store_blob(body, content_md5, make_op, inline=True)

    async def get(
        self,
        bucket: str,
        key: str,
        *,
        byte_range: tuple[int, int | None] | None = None,
        suffix_length: int | None = None,
        version_id: str | None = None,
    ) -> GetResult:
        snap = snapshot(self._core, bucket, key, byte_range, suffix_length, version_id)
        snap = replace(snap, info=self._named(snap.info))
        if snap.data is None and snap.end - snap.start + 1 <= CHUNK:
            return await read_small(self._core, snap)
        return open_snapshot(self._core, snap)

    async def head(self, bucket: str, key: str, *, version_id: str | None = None) -> ObjectInfo:
        # One statement (a second only for a missing key): no read transaction needed.
        if version_id is None:
            info = await self._core.read(partial(load_info, bucket=bucket, key=key), False)
            return self._named(info)
        query = partial(load_info, bucket=bucket, key=key, version_id=version_id)
        return await self._core.read(query, snapshot=True)

    async def part_range(self, bucket: str, key: str, part_number: int) -> PartRange:
        stored = await self._core.read(partial(load_object, bucket=bucket, key=key), False)
        return part_range_of(stored, part_number)

    async def object_parts(
        self, bucket: str, key: str, *, part_number_marker: int = 0, max_parts: int = 1000
    ) -> ObjectPartsPage:
        stored = await self._core.read(partial(load_object, bucket=bucket, key=key), False)
        return parts_page(stored, part_number_marker, max_parts)

    async def get_tagging(self, bucket: str, key: str) -> dict[str, str]:
        def query(conn: sqlite3.Connection) -> dict[str, str]:
            tags = read_tags(conn, bucket, key)
            if tags is None:
                ops.require_bucket(conn, bucket)
                raise no_such_key(key)
            return tags

        return await self._core.read(query, snapshot=False)

    async def put_tagging(self, bucket: str, key: str, tags: dict[str, str]) -> None:
        await self._core.write(partial(ops.put_tags, bucket=bucket, key=key, tags=tags))

    async def delete(
        self,
        bucket: str,
        key: str,
        *,
        if_match: str | None = None,
        version_id: str | None = None,
    ) -> Deleted:
        if version_id is not None:
            versions.parse_version_id(version_id)  # InvalidArgument before anything is queued
        if if_match is not None and version_id is None:
            condition = partial(ops.delete_object_if, bucket=bucket, key=key, if_match=if_match)
            return await self._core.write(condition)
        op = partial(ops.delete_objects, bucket=bucket, keys=[key], version_ids=[version_id])
        deleted: list[Deleted] = await self._core.write(op)
        return deleted[0]

    async def delete_many(
        self, bucket: str, keys: Sequence[str], *, version_ids: Sequence[str | None] = ()
    ) -> list[Deleted | LakestowError]:
        ids = list(version_ids) or [None] * len(keys)
        results: list[Deleted | LakestowError | None] = [None] * len(keys)
        valid: list[int] = []
        for at, version_id in enumerate(ids):
            try:
                if version_id is not None:
                    versions.parse_version_id(version_id)
                valid.append(at)
            except LakestowError as error:
                results[at] = error
        # In short operations, one commit: the loop keeps its turns short.
        some = [valid[at : at + HEAVY_ITEMS] for at in range(0, len(valid), HEAVY_ITEMS)]
        done = await self._core.write_all(
            [
                partial(
                    ops.delete_objects,
                    bucket=bucket,
                    keys=[keys[n] for n in batch],
                    version_ids=[ids[n] for n in batch],
                )
                for batch in some or [[]]
            ]
        )
        for batch, deleted in zip(some, done, strict=False):
            for n, one in zip(batch, deleted, strict=True):
                results[n] = one
        return [r if r is not None else Deleted() for r in results]

    async def list(
        self,
        bucket: str,
        *,
        prefix: str = "",
        delimiter: str | None = None,
        start_after: str | None = None,
        max_keys: int = 1000,
    ) -> ListPage:
        self._core.check_bucket(bucket)

        def query(after: str | None, limit: int, conn: sqlite3.Connection) -> ListPage:
            return list_page(conn, bucket, prefix, delimiter, after, limit)

        def rest(first: ListPage) -> Callable[[sqlite3.Connection], ListPage] | None:
            if max_keys <= LIST_ON_LOOP or not first.is_truncated:
                return None

            def joined(conn: sqlite3.Connection) -> ListPage:
                more = query(first.next_start_after, max_keys - LIST_ON_LOOP, conn)
                return ListPage(
                    first.objects + more.objects,
                    first.common_prefixes + more.common_prefixes,
                    more.is_truncated,
                    more.next_start_after,
                )

            return joined

        max_keys = max(max_keys, 0)
        on_loop = min(max_keys, LIST_ON_LOOP)
        return await self._core.read_in_parts(partial(query, start_after, on_loop), rest)

    async def list_sorted(
        self,
        bucket: str,
        *,
        prefix: str,
        by: str,
        descending: bool = False,
        after: SortPosition | None = None,
        max_keys: int = 1000,
    ) -> SortedPage | None:
        self._core.check_bucket(bucket)
        if by not in SORT_BY:
            raise InvalidInput(f"a listing is sorted by {' or '.join(SORT_BY)}, not {by!r}")

        def query(conn: sqlite3.Connection) -> SortedPage | None:
            return sorted_page(conn, bucket, prefix, by, descending, after, max(max_keys, 0))

        return await self._core.scan(query)

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
        if checksum_algorithm is not None:
            Checksummer(checksum_algorithm)  # InvalidRequest for one lakestow does not know
        target = ObjectInfo(
            dst_bucket,
            dst_key,
            0,
            "",
            _EPOCH,
            content_type or DEFAULT_CONTENT_TYPE,
            clean_metadata(metadata),
        )
        while True:
            new_checksum = None
            if checksum_algorithm is not None:  # read the source: a file read, in a thread
                computed = await self._core.run(
                    partial(
                        checksum_of,
                        self._core,
                        src_bucket,
                        src_key,
                        checksum_algorithm,
                        src_version_id,
                    )
                )
                new_checksum = ops.NewChecksum(*computed)
            op = partial(
                ops.copy_object,
                src_bucket=src_bucket,
                src_key=src_key,
                target=target,
                replace_meta=replace_metadata,
                cond=ops.Conditions(if_match, if_none_match),
                new_checksum=new_checksum,
                tags=tags,
                src_version_id=src_version_id,
            )
            try:
                return await self._core.write(op)
            except ops.SourceChanged:
                continue  # overwritten while it was read: read the new one


async def open_url(url: str, **options: Any) -> ObjectStore:
    """Open the store a `file:///path` URL names (the registry's entry point)."""
    parts = urlsplit(url)
    if parts.scheme != "file" or parts.netloc not in ("", "localhost") or not parts.path:
        raise InvalidInput(f"A local store URL looks like file:///path/to/objects, not {url!r}.")
    return await LocalStore.open(unquote(parts.path), **options)
