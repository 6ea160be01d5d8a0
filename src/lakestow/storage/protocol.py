"""The storage interface: object semantics as small async protocols, in the obspec style.

Callers depend on the operations they use (`Get`, `Put`, `List`, ...); a backend implements
`ObjectStore`, which combines them. Results are frozen dataclasses. Errors come from
`lakestow.errors`, each carrying its S3 code:

    NotFound            NoSuchBucket, NoSuchKey, NoSuchUpload
    AlreadyExists       BucketAlreadyOwnedByYou, BucketNotEmpty
    PreconditionFailed  If-Match / If-None-Match did not hold
    InvalidRequest      BadDigest, InvalidPart, InvalidPartOrder, EntityTooSmall,
                        InvalidRange (416), MalformedXML
    InvalidInput        InvalidArgument (a part number outside 1..10000, a part copy's
                        range not inside its source)

Versions (S3 versioning, "Retaining multiple versions of objects" in the S3 User Guide): a
bucket's versioning is never set (None), "Enabled" or "Suspended" (`Versioning`). Once set,
every object and delete marker has a version id: a new one for each write while Enabled,
"null" (`NULL_VERSION`) for what was written while never set or Suspended. An overwrite or a
delete keeps what it replaces as a noncurrent version; a delete without a version id makes a
delete marker, with one removes that version for good. Reads without a version id see the
latest version; when that is a delete marker, NoSuchKey carries `x-amz-delete-marker` and
`x-amz-version-id` headers. `ObjectInfo.version_id` is None only in a bucket whose
versioning was never set.

    NotFound            NoSuchVersion (a version id that names nothing)
    Unsupported         MethodNotAllowed (405: a GET or HEAD of a delete marker's version)

Keys are opaque strings validated at the edge; a backend never maps them to file paths.
ETags are stored and returned without quotes: the S3 layer adds them.

Checksums (S3's x-amz-checksum-*, "Checking object integrity" in the S3 User Guide) are kept
with what they check: an object's (`ObjectInfo.checksum`), a part's (`PartInfo.checksum`),
an upload's algorithm and type. The S3 layer checks a body's checksum as it streams in and
hands the store a `BodyChecksum` whose value is set once the body has been read; a store
keeps it, and a multipart object's checksum is made of its parts' at Complete, as S3 makes
it (`storage.checksums`).
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol, runtime_checkable

from lakestow.errors import LakestowError

DEFAULT_CONTENT_TYPE = "binary/octet-stream"
NULL_VERSION = "null"
"""The version id of what was written while a bucket's versioning was never set or Suspended."""
ENABLED, SUSPENDED = "Enabled", "Suspended"
"""A bucket's versioning status (S3's VersioningConfiguration Status)."""
MIN_PART_SIZE = 5 * 1024 * 1024
MAX_PART_NUMBER = 10_000

Body = AsyncIterable[bytes]

FULL_OBJECT = "FULL_OBJECT"
COMPOSITE = "COMPOSITE"


@dataclass(frozen=True)
class Checksum:
    """A checksum S3 keeps: `algorithm` as in x-amz-checksum-<algorithm> (lower case: crc32,
    crc32c, crc64nvme, sha1, sha256, ...), `value` the base64 of its big-endian digest.

    `type` FULL_OBJECT: of all the bytes (every PUT, and a multipart upload whose parts' CRCs
    are combined). COMPOSITE: of a multipart object, the checksum of its parts' checksums
    (their digests concatenated), which S3 shows followed by `-<parts count>` on GET, HEAD and
    Complete, and without it in GetObjectAttributes. A part's checksum is FULL_OBJECT."""

    algorithm: str
    value: str
    type: str = FULL_OBJECT


@dataclass
class BodyChecksum:
    """The checksum a body comes with, checked while it streams: its `algorithm` is known
    from the start, its `value` (base64) is set when the last byte has been read and checked,
    before the end of the body is signalled, so a store that read it all may keep it."""

    algorithm: str
    value: str | None = None

    def result(self) -> Checksum:
        """The checksum of the whole body; only once it was read to its end."""
        if self.value is None:
            raise RuntimeError("the body's checksum is known only once it was read to its end")
        return Checksum(self.algorithm, self.value)


@dataclass(frozen=True)
class ObjectInfo:
    """An object's system and user metadata."""

    bucket: str
    key: str
    size: int
    etag: str
    last_modified: datetime
    content_type: str = DEFAULT_CONTENT_TYPE
    metadata: dict[str, str] = field(default_factory=dict)
    parts_count: int | None = None
    checksum: Checksum | None = None
    tag_count: int = 0
    version_id: str | None = None
    """This version's id; "null" for the null version; None in a bucket never versioned."""


@dataclass(frozen=True)
class GetResult:
    """An open read of `info`'s bytes `start`..`end` (inclusive; `end == start - 1` if empty).

    `body` streams a snapshot taken when `get` returned: a concurrent overwrite or delete does
    not change it. Always exhaust the body or call `aclose()` (or use `async with`). `data`,
    when set, is the whole body, already in memory: such a result holds nothing to release.
    """

    info: ObjectInfo
    start: int
    end: int
    body: AsyncIterator[bytes]
    data: bytes | None = None

    @property
    def length(self) -> int:
        """Number of bytes in the body."""
        return self.end - self.start + 1

    async def aclose(self) -> None:
        """Release the snapshot (closes `body`); idempotent."""
        aclose = getattr(self.body, "aclose", None)
        if aclose is not None:
            await aclose()

    async def __aenter__(self) -> GetResult:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    @classmethod
    def of_bytes(cls, info: ObjectInfo, start: int, end: int, data: bytes) -> GetResult:
        """A read whose bytes are all in memory already."""
        return cls(info, start, end, _Bytes(data), data=data)


class _Bytes(AsyncIterator[bytes]):
    """A body already in memory (at most one chunk)."""

    def __init__(self, data: bytes) -> None:
        self._data: bytes | None = data or None

    async def __anext__(self) -> bytes:
        data, self._data = self._data, None
        if data is None:
            raise StopAsyncIteration
        return data

    async def aclose(self) -> None:
        self._data = None


@dataclass(frozen=True)
class PartRange:
    """Where part `part_number` of an object lies: bytes `start`..`end` (inclusive), and the
    part's own checksum, with the object's checksum type, if the store keeps one (a multipart
    object's part of an upload made with a checksum algorithm; any object's part 1 when it
    is all of it)."""

    info: ObjectInfo
    part_number: int
    start: int
    end: int
    checksum: Checksum | None = None


@dataclass(frozen=True)
class ListPage:
    """One page of a listing: objects and rolled-up common prefixes, both in key order. A
    listing's objects need not carry their checksums or tag counts (S3's listings show no
    checksum value and no tags)."""

    objects: list[ObjectInfo]
    common_prefixes: list[str]
    is_truncated: bool
    next_start_after: str | None


@dataclass(frozen=True)
class VersionInfo:
    """One entry of a versions listing: a version of an object, or a delete marker (whose
    `info` has size 0, an empty ETag, its key, version id and time). A listing always names
    the version: "null" for the null version, even in a bucket never versioned."""

    info: ObjectInfo
    is_latest: bool
    delete_marker: bool = False


@dataclass(frozen=True)
class VersionsPage:
    """One page of ListObjectVersions: versions in key order, newest first within a key, and
    rolled-up common prefixes. To continue, pass `next_key_marker` and
    `next_version_id_marker` back (S3's NextKeyMarker, NextVersionIdMarker)."""

    versions: list[VersionInfo]
    common_prefixes: list[str]
    is_truncated: bool
    next_key_marker: str | None = None
    next_version_id_marker: str | None = None


@dataclass(frozen=True)
class Deleted:
    """What a delete did. Without a version id: made a delete marker (`delete_marker`, its
    `version_id`) in a versioned bucket, or removed the object (no version id). With one:
    removed that version for good (`delete_marker` when it was a marker)."""

    version_id: str | None = None
    delete_marker: bool = False


@dataclass(frozen=True)
class PartInfo:
    """One uploaded part of a multipart upload."""

    part_number: int
    etag: str
    size: int
    last_modified: datetime
    checksum: Checksum | None = None


@dataclass(frozen=True)
class PartsPage:
    """A page of `list_parts`, in part-number order, with the upload's checksum algorithm
    and type (None: it was created without one)."""

    parts: list[PartInfo]
    is_truncated: bool
    next_part_number_marker: int | None
    checksum_algorithm: str | None = None
    checksum_type: str | None = None


@dataclass(frozen=True)
class ObjectPart:
    """One part of a multipart object, as GetObjectAttributes tells it."""

    part_number: int
    size: int
    checksum: Checksum | None = None


@dataclass(frozen=True)
class ObjectPartsPage:
    """A page of a multipart object's parts (`info.parts_count` in all), in part-number
    order; `parts` is empty when the store does not know them one by one (S3 lists them only
    for an object uploaded with a checksum algorithm)."""

    info: ObjectInfo
    parts: list[ObjectPart]
    is_truncated: bool
    next_part_number_marker: int | None


@dataclass(frozen=True)
class CompleteChecks:
    """What a CompleteMultipartUpload may assert beyond the parts' ETags: each part's
    checksums (`parts`: by part number, each value by algorithm), the whole object's checksum
    and checksum type, and its size (x-amz-mp-object-size). A store refuses the Complete when
    one does not hold; a part's checksums of other algorithms than the upload's are no
    concern of it."""

    parts: dict[int, dict[str, str]] = field(default_factory=dict)
    checksum: Checksum | None = None
    checksum_type: str | None = None
    object_size: int | None = None


@dataclass(frozen=True)
class UploadInfo:
    """A multipart upload in progress."""

    key: str
    upload_id: str
    initiated: datetime


@dataclass(frozen=True)
class UploadsPage:
    """A page of `list_multipart_uploads`, by key then initiation time."""

    uploads: list[UploadInfo]
    is_truncated: bool
    next_key_marker: str | None
    next_upload_id_marker: str | None


@dataclass(frozen=True)
class BucketInfo:
    """A bucket, when it was created, and the LocationConstraint it was created with (None:
    none given; where it is then is the S3 layer's to say)."""

    name: str
    created: datetime
    location: str | None = None


class Get(Protocol):
    """Read an object, whole or a byte range."""

    async def get(
        self,
        bucket: str,
        key: str,
        *,
        byte_range: tuple[int, int | None] | None = None,
        suffix_length: int | None = None,
        version_id: str | None = None,
    ) -> GetResult:
        """`byte_range` is (first, last or None), inclusive; `suffix_length` asks for the
        last n bytes. An unsatisfiable range raises InvalidRequest InvalidRange (416)."""
        ...


class Head(Protocol):
    """Read an object's metadata."""

    async def head(self, bucket: str, key: str, *, version_id: str | None = None) -> ObjectInfo:
        """The latest version's metadata, or `version_id`'s."""
        ...


class Put(Protocol):
    """Write an object from a stream, atomically, optionally on a condition."""

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
        """If `body` raises, nothing is written and the error propagates. `if_none_match`
        accepts only "*". `if_match` on a missing key raises NotFound NoSuchKey (as S3).
        `checksum`, the body's (checked by the caller as it streams), and `tags` (checked by
        the caller: `common.check_tags`) are kept with it."""
        ...


class Delete(Protocol):
    """Delete objects; deleting a missing key is not an error."""

    async def delete(
        self,
        bucket: str,
        key: str,
        *,
        if_match: str | None = None,
        version_id: str | None = None,
    ) -> Deleted:
        """Delete `key` (a delete marker in a versioned bucket), or the version `version_id`
        of it for good; absent keys and versions are no error. With `if_match` (an ETag, or
        "*"): only the object it names, NoSuchKey when there is none, PreconditionFailed
        when changed."""
        ...

    async def delete_many(
        self, bucket: str, keys: Sequence[str], *, version_ids: Sequence[str | None] = ()
    ) -> list[Deleted | LakestowError]:
        """Delete several keys at once (each with its version id in `version_ids`, when
        given: one per key, None for none); one result per key."""
        ...


class List(Protocol):
    """List keys in UTF-8 byte order, with prefix, delimiter and continuation."""

    async def list(
        self,
        bucket: str,
        *,
        prefix: str = "",
        delimiter: str | None = None,
        start_after: str | None = None,
        max_keys: int = 1000,
    ) -> ListPage:
        """Common prefixes count toward `max_keys`. Passing a page's `next_start_after` as
        `start_after` continues the listing; a common prefix is skipped as a whole."""
        ...


class Copy(Protocol):
    """Copy an object server-side."""

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
        """Copies the source's latest version, or `src_version_id` (a delete marker's:
        InvalidRequest). Without `replace_metadata` the source's metadata and content type
        are kept and `metadata` / `content_type` are ignored. `if_match` / `if_none_match`
        are conditions on the destination, as for `put`; copy-source conditions belong to
        the caller.
        The copy keeps the source's checksum; with `checksum_algorithm`, it gets a full-object
        checksum of that algorithm instead (the source's if it is one, else computed). It
        keeps the source's tags, or gets `tags` instead when they are given (even empty)."""
        ...


class Multipart(Protocol):
    """Multipart uploads: create, upload parts, complete or abort, list."""

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
        """A new upload; with `checksum_algorithm`, its object gets a checksum of that
        algorithm and `checksum_type` (checked by the caller: `checksums.upload_type`), and
        it gets `tags`."""
        ...

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
        """A part and its checksum. Of an upload with a checksum algorithm, a part must come
        with a checksum of that algorithm (InvalidRequest, before anything is read), but for
        a FULL_OBJECT upload, whose store computes the part's when it comes without."""
        ...

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
    ) -> PartInfo: ...

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
        """The object made of `parts`. The same Complete again, after it succeeded (a retry
        whose answer was lost), returns that object while it is still there; NoSuchUpload
        once it is gone or for other parts. `checks` are asserted as `CompleteChecks` says."""
        ...

    async def abort_multipart(self, bucket: str, key: str, upload_id: str) -> None: ...

    async def list_parts(
        self,
        bucket: str,
        key: str,
        upload_id: str,
        *,
        part_number_marker: int = 0,
        max_parts: int = 1000,
    ) -> PartsPage: ...

    async def list_multipart_uploads(
        self,
        bucket: str,
        *,
        prefix: str = "",
        key_marker: str | None = None,
        upload_id_marker: str | None = None,
        max_uploads: int = 1000,
    ) -> UploadsPage: ...


class Versioning(Protocol):
    """A bucket's versioning, and the versions it keeps."""

    async def get_versioning(self, bucket: str) -> str | None:
        """ENABLED, SUSPENDED, or None when never set."""
        ...

    async def put_versioning(self, bucket: str, status: str) -> None:
        """Set ENABLED or SUSPENDED (once set, a bucket's versioning is never unset)."""
        ...

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
        """Every version and delete marker, as S3's ListObjectVersions: after `key_marker`
        (all of its versions skipped) or, with `version_id_marker` too, after that version
        of it (a `version_id_marker` is ignored when `key_marker` is not under `prefix`).
        Common prefixes count toward `max_keys`."""
        ...


@dataclass(frozen=True)
class VersionUsage:
    """Bytes under a prefix: of the latest versions, and of the noncurrent ones kept."""

    current_bytes: int
    current_objects: int
    retained_bytes: int
    retained_versions: int


class Retention(Protocol):
    """Keeping noncurrent versions for a while only (S3's lifecycle NoncurrentVersionExpiration
    and ExpiredObjectDeleteMarker, per prefix)."""

    async def purge_versions(
        self, bucket: str, *, prefix: str, noncurrent_before: datetime, limit: int = 1000
    ) -> int:
        """Remove for good at most `limit` versions under `prefix`: noncurrent versions and
        delete markers that stopped being the latest before `noncurrent_before`, and delete
        markers that are the latest with nothing below them, made before it. Never the
        latest version of an object. How many went (fewer than `limit`: nothing is left)."""
        ...

    async def version_usage(self, bucket: str, *, prefix: str) -> VersionUsage:
        """What the latest versions and the noncurrent ones under `prefix` hold."""
        ...


UPSTREAM, SERIALIZED, REFUSED = "upstream", "serialized", "refused"


@dataclass(frozen=True)
class ConditionalWrites:
    """Whether a store refuses (412) what table formats' commits rely on being refused: a
    second `If-None-Match: *` PUT of a key, and a PUT whose `If-Match` is stale; and who
    decides conditional writes: the `upstream`, lakestow with the key `serialized` under a
    lock in the catalog (every conditional write, then), or nobody: those the upstream does
    not enforce are `refused` (501)."""

    if_none_match: bool
    if_match: bool
    decided: str = UPSTREAM

    @property
    def enforced(self) -> bool:
        return self.if_none_match and self.if_match

    def refuses(self, header: str) -> bool:
        """Whether a write carrying `header` (If-None-Match, If-Match) is refused."""
        held = self.if_none_match if header == "If-None-Match" else self.if_match
        return self.decided == REFUSED and not held

    def describe(self) -> str:
        missing = [
            name
            for name, held in (("If-None-Match", self.if_none_match), ("If-Match", self.if_match))
            if not held
        ]
        found = (
            "enforced" if self.enforced else f"not enforced ({' and '.join(missing)} not refused)"
        )
        if self.decided == SERIALIZED:
            return f"{found} by the upstream; serialized per key through the catalog"
        if self.decided == REFUSED and not self.enforced:
            return f"{found} by the upstream; {' and '.join(missing)} refused (501)"
        return f"{found} by the upstream"


class KeyLocks(Protocol):
    """Locks on names, exclusive among every holder that shares them (every replica of one
    catalog)."""

    def hold(self, name: str, *, seconds: float) -> AbstractAsyncContextManager[None]:
        """Hold `name` for the block, waiting for its holder first. Never longer than
        `seconds`: past it, the lock goes, whatever the block does (a holder cut off must
        not keep it). Unavailable (503) when it cannot be had in time."""
        ...


@runtime_checkable
class ConditionalProbe(Protocol):
    """A store behind which conditional writes may not hold (an upstream's): it can tell, by
    trying them on a scratch key of its own, and have them decided as the operator chose."""

    async def probe_conditional_writes(self) -> ConditionalWrites: ...

    def decide_conditional_writes(self, how: ConditionalWrites, locks: KeyLocks) -> None:
        """From now on, decide conditional writes as `how` says: left to the upstream,
        each checked and written with its key held in `locks`, or refused."""
        ...


@runtime_checkable
class PartRanges(Protocol):
    """Find a part of an object by number (S3's GET and HEAD ?partNumber=N). Optional: a
    backend that cannot answer does not implement it, and the S3 endpoint says so (501)."""

    async def part_range(self, bucket: str, key: str, part_number: int) -> PartRange:
        """Part `part_number` of a multipart object; part 1 of any other object is all of it.
        A number beyond the object's parts raises InvalidRequest InvalidPartNumber (416)."""
        ...


SORT_BY = ("size", "modified")
"""What a `SortedListing` orders objects by: their size, or their last-modified time."""
SORTED_MAX = 1_000_000
"""Keys below a prefix that a `SortedListing` sorts at most; past them it declines (None)."""


@dataclass(frozen=True)
class SortPosition:
    """Where a sorted listing stopped: after the common prefix `key` (`value` None), or after
    the object `key` whose size or last-modified time (seconds since the epoch) is `value`."""

    key: str
    value: float | None = None


@dataclass(frozen=True)
class SortedPage:
    """A page of a sorted listing: common prefixes (the first pages), then objects."""

    objects: list[ObjectInfo]
    common_prefixes: list[str]
    next: SortPosition | None
    """Where the next page starts; None on the last page."""


@runtime_checkable
class SortedListing(Protocol):
    """List the direct children of a prefix (delimiter "/") by size or last-modified time,
    over the whole folder, paged. Optional: a backend that cannot sort a folder without
    reading all of it (the s3 store) does not implement it, and callers sort a page only."""

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
        """The common prefixes under `prefix` first, in key order, then its objects ordered
        by `by` (one of SORT_BY), ascending or `descending`, ties by key (ascending either
        way); from after `after` (a page's `next`), at most `max_keys` entries. None when
        more than SORTED_MAX keys lie below `prefix`: the caller sorts what it loaded."""
        ...


class ObjectParts(Protocol):
    """The parts a multipart object was made of (GetObjectAttributes' ObjectParts)."""

    async def object_parts(
        self, bucket: str, key: str, *, part_number_marker: int = 0, max_parts: int = 1000
    ) -> ObjectPartsPage:
        """The object and its parts numbered above `part_number_marker`, at most
        `max_parts` of them (none for an object not made of parts); NoSuchKey if missing."""
        ...


class Tagging(Protocol):
    """An object's tag set (S3's object tagging)."""

    async def get_tagging(self, bucket: str, key: str) -> dict[str, str]:
        """The object's tags; NoSuchKey for a missing object."""
        ...

    async def put_tagging(self, bucket: str, key: str, tags: dict[str, str]) -> None:
        """Replace the object's tags (none: remove them), changing nothing else of it (not
        its ETag, not its Last-Modified); NoSuchKey for a missing object."""
        ...


class Buckets(Protocol):
    """Create, delete and list buckets."""

    async def create_bucket(self, name: str, *, location: str | None = None) -> BucketInfo:
        """A new bucket, keeping `location` (its LocationConstraint); BucketAlreadyOwnedByYou
        when it exists."""
        ...

    async def delete_bucket(self, name: str) -> None:
        """Delete an empty bucket, discarding its unfinished multipart uploads (as S3 does);
        BucketNotEmpty while it holds an object."""
        ...

    async def list_buckets(self) -> list[BucketInfo]:
        """Every bucket, by name."""
        ...

    async def head_bucket(self, name: str) -> BucketInfo: ...

    async def ping(self) -> None:
        """Return when the store answers (one cheap round trip, whatever it holds); raise
        otherwise. What a readiness probe asks."""
        ...


@dataclass(frozen=True)
class SearchHit:
    """One result of a name search: an object (`info` set), or a folder (`key` ends in "/",
    `info` None) that stands for every key below it."""

    key: str
    info: ObjectInfo | None = None


@dataclass(frozen=True)
class SearchPage:
    """One page of a name search, in key order. `next_start_after`: pass it back as
    `start_after` to go on (None: nothing is left). `partial`: the page stopped at the
    store's bound on the work of one call, not because it was full; the hits are complete
    up to `next_start_after` only, and `scanned` says how many objects the call read (0
    when it answered from an index)."""

    hits: list[SearchHit]
    next_start_after: str | None
    partial: bool = False
    scanned: int = 0


@runtime_checkable
class NameSearch(Protocol):
    """Find objects and folders by a part of their name. Optional: a store that cannot
    answer does not implement it."""

    async def search(
        self,
        bucket: str,
        prefix: str,
        text: str,
        *,
        start_after: str | None = None,
        limit: int = 100,
    ) -> SearchPage:
        """The hits under `prefix` for `text`, after `start_after`, at most `limit` of them.

        `text` is matched without regard to case (both sides lower-cased, as `str.lower`)
        as a substring of the segments of a key after `prefix` (the rest of the key, split
        at "/"): it holds no "/" and is not empty (InvalidInput), so a match never spans
        two segments. A latest version of a key (delete markers and noncurrent versions
        are never found) makes the hit `storage.names.hit_of` says: the key up to and
        including the first segment after `prefix` that holds `text`; that is the key
        itself when only its last segment does (a file), else a folder ending in "/" (one
        hit for every key below it, whether or not a folder marker object exists; a folder
        marker object that matches is that folder). Hits are distinct and in key order;
        those after `start_after` are returned (every key below a folder hit is skipped
        with it). A store may stop early (`SearchPage.partial`)."""
        ...


@runtime_checkable
class ObjectStore(
    Get,
    Head,
    Put,
    Delete,
    List,
    Copy,
    Multipart,
    ObjectParts,
    Tagging,
    Buckets,
    Versioning,
    Retention,
    Protocol,
):
    """Every operation, plus closing the store."""

    async def aclose(self) -> None: ...
