"""Reading a local store: pin the blobs an object's row names, then stream them.

A read looks the row up, then pins the blobs of the range it wants. Pinning fails if one of
them was released meanwhile (an overwrite or delete committed); the read then looks the row
up again. Once pinned, blobs stay on disk until the read ends, so the bytes a GET streams are
those of the object when `get` returned, whatever is committed afterwards. An object kept in
the index is read with its row, in one read transaction.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass
from functools import partial

import anyio

from lakestow.auth.checksums import Checksummer
from lakestow.errors import LakestowError, Unsupported
from lakestow.storage.common import (
    check_copy_range,
    part_unsatisfiable,
    resolve_range,
)
from lakestow.storage.local import versions
from lakestow.storage.local.blobs import CHUNK, is_inline
from lakestow.storage.local.core import Core
from lakestow.storage.local.index import (
    OBJECT_COLUMNS,
    ROW_WIDTH,
    Extent,
    StoredObject,
    load_layout,
    object_info,
    read_info,
    read_inline,
    read_object,
    slice_extents,
)
from lakestow.storage.protocol import (
    FULL_OBJECT,
    Checksum,
    GetResult,
    ObjectInfo,
    ObjectPart,
    ObjectPartsPage,
    PartRange,
)


def load_info(
    conn: sqlite3.Connection, bucket: str, key: str, version_id: str | None = None
) -> ObjectInfo:
    """The metadata of the key's latest version or of `version_id`, or NoSuchKey /
    NoSuchVersion / NoSuchBucket."""
    if version_id is not None:
        return versions.find_version(conn, bucket, key, version_id).info
    info = read_info(conn, bucket, key)
    if info is None:
        raise versions.missing(conn, bucket, key)
    return info


def load_object(
    conn: sqlite3.Connection, bucket: str, key: str, version_id: str | None = None
) -> StoredObject:
    """The row of the key's latest version or of `version_id`, or NoSuchKey / NoSuchVersion
    / NoSuchBucket."""
    if version_id is not None:
        return versions.find_version(conn, bucket, key, version_id)
    stored = read_object(conn, bucket, key)
    if stored is None:
        raise versions.missing(conn, bucket, key)
    return stored


def part_range_of(stored: StoredObject, part_number: int) -> PartRange:
    """Where part `part_number` of `stored` lies (any object's part 1 is all of it)."""
    info = stored.info
    sizes = stored.part_sizes if info.parts_count else (info.size,)
    if sizes is None:
        raise Unsupported(
            "This object was completed before lakestow kept the sizes of its parts: "
            "it cannot be read by part number."
        )
    if not 1 <= part_number <= len(sizes):
        raise part_unsatisfiable()
    start = sum(sizes[: part_number - 1])
    end = start + sizes[part_number - 1] - 1
    checksum = info.checksum if not info.parts_count else None
    if info.checksum is not None and stored.part_checksums is not None:
        value = stored.part_checksums[part_number - 1]
        checksum = Checksum(info.checksum.algorithm, value, info.checksum.type)
    return PartRange(info, part_number, start, end, checksum)


def parts_page(stored: StoredObject, marker: int, max_parts: int) -> ObjectPartsPage:
    """The parts of `stored` numbered above `marker`, at most `max_parts` (none for an object
    not made of parts, or completed before lakestow kept its parts' sizes)."""
    info = stored.info
    sizes = stored.part_sizes if info.parts_count else None
    if sizes is None:
        return ObjectPartsPage(info, [], False, None)
    sums = stored.part_checksums if info.checksum is not None else None
    algorithm = info.checksum.algorithm if info.checksum is not None else ""
    numbers = range(max(marker, 0) + 1, len(sizes) + 1)
    shown = list(numbers)[: max(max_parts, 0)]
    parts = [
        ObjectPart(
            number,
            sizes[number - 1],
            None if sums is None else Checksum(algorithm, sums[number - 1]),
        )
        for number in shown
    ]
    truncated = len(shown) < len(numbers)
    return ObjectPartsPage(info, parts, truncated, shown[-1] if truncated and shown else None)


class BlobStream(AsyncIterator[bytes]):
    """Pinned extents read in chunks of at most 1 MiB (on the loop when the page cache holds
    them, as `read_small`); unpinned when done or closed."""

    def __init__(self, core: Core, pieces: list[Extent]) -> None:
        self._core = core
        self._pieces = deque(pieces)
        self._pinned: list[str] | None = [blob_id for blob_id, _, _ in pieces]

    async def __anext__(self) -> bytes:
        if not self._pieces:
            await self.aclose()
            raise StopAsyncIteration
        blob_id, offset, length = self._pieces[0]
        take = min(CHUNK, length)
        pins = self._core.pins
        data = pins.read_cached(blob_id, offset, take)  # on the loop, as `read_small`
        if data is None:
            data = await self._core.run(partial(pins.read, blob_id, offset, take))
        if take == length:
            self._pieces.popleft()
        else:
            self._pieces[0] = (blob_id, offset + take, length - take)
        return data

    async def aclose(self) -> None:
        pinned, self._pinned = self._pinned, None
        self._pieces.clear()
        if pinned and not self._core.pins.unpin_kept(pinned):
            with anyio.CancelScope(shield=True):
                await self._core.run(partial(self._core.pins.unpin, pinned))

    def __del__(self) -> None:
        if self._pinned:  # abandoned without aclose(): do not keep released blobs forever
            self._core.pins.unpin(self._pinned)


@dataclass(frozen=True)
class _Snapshot:
    """A range of an object, pinned on disk (`pieces`) or read from the index (`data`)."""

    info: ObjectInfo
    start: int
    end: int
    pieces: list[Extent]
    data: bytes | None


# The row and, when its first extent is kept in the index, that extent's bytes: one statement.
_ROW_AND_BYTES = f"""
SELECT {", ".join(f"o.{c.strip()}" for c in OBJECT_COLUMNS.split(","))}, o.extents, i.data
FROM objects o LEFT JOIN inline_blobs i ON i.id = json_extract(o.extents, '$[0][0]')
WHERE o.bucket = ? AND o.key = ?
"""  # noqa: S608


_Loaded = tuple[ObjectInfo, tuple[Extent, ...], bytes | None]
"""An object's metadata, and where its bytes are: in extents, or (kept in the index) here."""


def _load(conn: sqlite3.Connection, bucket: str, key: str) -> _Loaded | None:
    """The row and, for an object kept in the index, its bytes, in one statement (a small
    GET's whole index read); None for a layout that statement does not cover."""
    row = conn.execute(_ROW_AND_BYTES, (bucket, key)).fetchone()
    if row is None:
        raise versions.missing(conn, bucket, key)
    info = object_info(bucket, row)
    if row[ROW_WIDTH + 1] is not None:  # kept in the index: one extent, the whole object
        return info, (), bytes(row[ROW_WIDTH + 1])
    extents = load_layout(row[ROW_WIDTH])[0]
    if any(is_inline(blob_id) for blob_id, _, _ in extents):
        return None
    return info, extents, None


def _load_in_transaction(
    conn: sqlite3.Connection, bucket: str, key: str, version_id: str | None = None
) -> _Loaded:
    """`_load` for any layout, and for any version: the row, then the bytes, in one read
    transaction."""
    stored = load_object(conn, bucket, key, version_id)
    inline = [blob_id for blob_id, _, _ in stored.extents if is_inline(blob_id)]
    if inline:
        return stored.info, (), read_inline(conn, inline[0])
    return stored.info, stored.extents, None


def _snapshot(
    core: Core,
    bucket: str,
    key: str,
    byte_range: tuple[int, int | None] | None,
    suffix_length: int | None,
    *,
    exact: bool = False,
    version_id: str | None = None,
) -> _Snapshot:
    """Look the object up and pin the blobs holding the range, retrying after a release.
    An `exact` range (UploadPartCopy's) must lie inside the object; a GET's is clamped.

    A blob is released only by a commit that changed the row, so failing twice on the same
    pieces means a blob file is missing: the store is damaged.
    """
    failed: list[Extent] | None = None
    in_transaction = partial(_load_in_transaction, bucket=bucket, key=key, version_id=version_id)
    while True:
        loaded = None
        if version_id is None:  # the latest: one statement for most objects
            loaded = core.read_sync(partial(_load, bucket=bucket, key=key))
        if loaded is None:
            loaded = core.read_sync(in_transaction, True)
        info, extents, data = loaded
        if exact:
            check_copy_range(info.size, byte_range)
        start, end = resolve_range(info.size, byte_range, suffix_length)
        if data is not None:
            return _Snapshot(info, start, end, [], data[start : end + 1])
        pieces = slice_extents(extents, start, end)
        if core.pins.pin(blob_id for blob_id, _, _ in pieces):
            return _Snapshot(info, start, end, pieces, None)
        if pieces == failed:
            raise LakestowError(f"A blob file of {bucket}/{key} is missing from the store.")
        failed = pieces


def snapshot(
    core: Core,
    bucket: str,
    key: str,
    byte_range: tuple[int, int | None] | None,
    suffix_length: int | None,
    version_id: str | None = None,
) -> _Snapshot:
    """The range of a GET, looked up and pinned (an index read: cheap, done on the loop)."""
    return _snapshot(core, bucket, key, byte_range, suffix_length, version_id=version_id)


def open_snapshot(core: Core, snap: _Snapshot) -> GetResult:
    """A GET of bytes already in memory, or a large range streamed from pinned blobs."""
    if snap.data is not None:
        return GetResult.of_bytes(snap.info, snap.start, snap.end, snap.data)
    return GetResult(snap.info, snap.start, snap.end, BlobStream(core, snap.pieces))


async def read_small(core: Core, snap: _Snapshot) -> GetResult:
    """A range of at most CHUNK bytes of blob files: read on the loop where the page cache
    holds it (a copy of up to 1 MiB, about as long as a hop to a thread and back, which costs
    100 µs of CPU in a virtual machine), else in a thread."""
    pins = core.pins
    pieces = [pins.read_cached(*piece) for piece in snap.pieces]
    if None in pieces:
        return await core.run(partial(read_pinned, core, snap))
    data = b"".join(piece for piece in pieces if piece is not None)
    ids = [blob_id for blob_id, _, _ in snap.pieces]
    if not pins.unpin_kept(ids):
        with anyio.CancelScope(shield=True):
            await core.run(partial(pins.unpin, ids))
    return GetResult.of_bytes(snap.info, snap.start, snap.end, data)


def read_pinned(core: Core, snap: _Snapshot) -> GetResult:
    """A small range of blob files read at once (file I/O: run it in a thread)."""
    try:
        data = b"".join(core.pins.read(*piece) for piece in snap.pieces)
    finally:
        core.pins.unpin(blob_id for blob_id, _, _ in snap.pieces)
    return GetResult.of_bytes(snap.info, snap.start, snap.end, data)


@dataclass(frozen=True)
class SourceRange:
    """What UploadPartCopy needs of its source: extents to share (or bytes, for a source
    kept in the index), their MD5, their size and, if asked for, their checksum."""

    pieces: list[Extent]
    data: bytes | None
    etag: str
    size: int
    info: ObjectInfo
    checksum: Checksum | None = None


def hash_range(
    core: Core,
    bucket: str,
    key: str,
    byte_range: tuple[int, int] | None,
    algorithm: str | None = None,
    *,
    with_md5: bool = True,
    version_id: str | None = None,
) -> SourceRange:
    """The extents (or bytes), MD5 (unless not `with_md5`: the ETag then), size and
    `algorithm` checksum of a range of an object (the whole object without `byte_range`);
    bytes are read only for what is not known already (a whole single-part object's MD5 is
    its ETag, and it may have the checksum)."""
    snap = _snapshot(core, bucket, key, byte_range, None, exact=True, version_id=version_id)
    info = snap.info
    size = snap.end - snap.start + 1
    whole = size == info.size
    known = info.checksum if whole and info.checksum is not None else None
    if known is not None and (known.algorithm != algorithm or known.type != FULL_OBJECT):
        known = None
    need_sum = algorithm is not None and known is None
    checksum = Checksummer(algorithm) if need_sum and algorithm is not None else None
    if snap.data is not None:
        if checksum is not None:
            checksum.update(snap.data)
        etag = hashlib.md5(snap.data, usedforsecurity=False).hexdigest()
        return SourceRange([], snap.data, etag, size, info, _result(checksum, known, algorithm))
    try:
        need_md5 = with_md5 and not (whole and info.parts_count is None)
        md5 = hashlib.md5(usedforsecurity=False) if need_md5 else None
        if md5 is not None or checksum is not None:
            for blob_id, offset, length in snap.pieces:
                for at in range(0, length, CHUNK):
                    data = core.pins.read(blob_id, offset + at, min(CHUNK, length - at))
                    if md5 is not None:
                        md5.update(data)
                    if checksum is not None:
                        checksum.update(data)
        etag = info.etag if md5 is None else md5.hexdigest()
        return SourceRange(snap.pieces, None, etag, size, info, _result(checksum, known, algorithm))
    finally:
        core.pins.unpin(blob_id for blob_id, _, _ in snap.pieces)


def _result(
    running: Checksummer | None, known: Checksum | None, algorithm: str | None
) -> Checksum | None:
    if running is not None and algorithm is not None:
        return Checksum(algorithm, running.b64digest())
    return known


def checksum_of(
    core: Core, bucket: str, key: str, algorithm: str, version_id: str | None = None
) -> tuple[Checksum, ObjectInfo]:
    """A FULL_OBJECT `algorithm` checksum of an object (its own if it has one, else computed
    from its bytes), and the object it is of."""
    source = hash_range(core, bucket, key, None, algorithm, with_md5=False, version_id=version_id)
    if source.checksum is None:
        raise RuntimeError("hash_range computes the checksum it is asked for")
    return source.checksum, source.info
