"""The storage conformance suite: what every `ObjectStore` backend must do, as S3 does it.

A backend's test module imports these classes and supplies two fixtures:

    store      an open ObjectStore (closed by the fixture afterwards)
    part_size  the store's minimum part size (every multipart part but the last)

Each test creates its own buckets, so a store may be shared. The listing model test checks
prefix / delimiter / start_after / pagination against a brute-force model of S3 listing.
"""

from __future__ import annotations

import base64
import hashlib
import random
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import anyio
import pytest
from botocore import httpchecksum
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lakestow.errors import (
    AlreadyExists,
    InvalidInput,
    InvalidRequest,
    LakestowError,
    NotFound,
    PreconditionFailed,
)
from lakestow.storage import DEFAULT_CONTENT_TYPE, GetResult, ObjectInfo, ObjectStore
from lakestow.storage.protocol import (
    COMPOSITE,
    FULL_OBJECT,
    BodyChecksum,
    Checksum,
    CompleteChecks,
    Deleted,
    PartRanges,
)

MiB = 1024 * 1024


def blob(size: int, seed: int = 0) -> bytes:
    return random.Random(seed).randbytes(size)


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


async def chunks(data: bytes, size: int = 256 * 1024) -> AsyncIterator[bytes]:
    for at in range(0, len(data), size):
        yield data[at : at + size]


async def checked(
    data: bytes, checksum: BodyChecksum, size: int = 256 * 1024
) -> AsyncIterator[bytes]:
    """`data` as the S3 layer hands a body with a checksum to a store: the checksum's value
    is set once the last piece has been read (here computed by botocore, as clients do)."""
    async for piece in chunks(data, size):
        yield piece
    checksum.value = b64sum(checksum.algorithm, data)


def b64sum(algorithm: str, data: bytes) -> str:
    """The checksum of `data` as botocore computes it (base64)."""
    running = httpchecksum._CHECKSUM_CLS[algorithm]()
    running.update(data)
    return base64.b64encode(running.digest()).decode()


async def read(result: GetResult) -> bytes:
    return b"".join([chunk async for chunk in result.body])


async def fetch(store: ObjectStore, bucket: str, key: str) -> bytes:
    return await read(await store.get(bucket, key))


async def new_bucket(store: ObjectStore) -> str:
    name = f"t-{uuid.uuid4().hex[:12]}"
    await store.create_bucket(name)
    return name


async def put_keys(store: ObjectStore, bucket: str, keys: list[str]) -> None:
    for key in keys:
        await store.put(bucket, key, chunks(key.encode()))


async def list_all(store: ObjectStore, bucket: str, **options: object) -> list[str]:
    """Every entry (keys and common prefixes), following continuations."""
    entries: list[str] = []
    start_after = options.pop("start_after", None)
    while True:
        page = await store.list(bucket, start_after=start_after, **options)  # type: ignore[arg-type]
        found = sorted([o.key for o in page.objects] + page.common_prefixes)
        assert not found or not entries or found[0] > entries[-1], "a continuation went back"
        entries += found
        if not page.is_truncated:
            return entries
        assert page.next_start_after is not None
        start_after = page.next_start_after


STORED_NAMES = {
    ":content-disposition": 'attachment; filename="a b.csv"',
    ":cache-control": "no-cache",
    ":content-encoding": "gzip",
    ":expires": "not a date",
    "%3acontent-type": "user metadata that looks escaped",
    "plain": "v",
}
"""Metadata as the S3 layer stores it: the system headers it keeps (Content-Disposition, ...)
under ':' names, which no HTTP header can have, beside user names. A backend keeps every name
and value as it is, whatever its own store allows in a name."""


def raises(error: type[LakestowError], code: str) -> pytest.RaisesExc[LakestowError]:
    """pytest.raises for a lakestow error carrying a given S3 code."""
    return pytest.raises(error, check=lambda e: e.code == code)


class StoreSuite:
    """Base of the suite: a fresh bucket per test."""

    @pytest.fixture
    async def bucket(self, store: ObjectStore) -> str:
        return await new_bucket(store)


@pytest.mark.anyio
class TestBuckets(StoreSuite):
    async def test_create_list_head_delete(self, store: ObjectStore) -> None:
        name = await new_bucket(store)
        assert name in [b.name for b in await store.list_buckets()]
        info = await store.head_bucket(name)
        assert info.name == name
        assert abs(info.created - datetime.now(UTC)) < timedelta(minutes=5)
        await store.delete_bucket(name)
        with raises(NotFound, "NoSuchBucket"):
            await store.head_bucket(name)

    async def test_create_twice(self, store: ObjectStore, bucket: str) -> None:
        with raises(AlreadyExists, "BucketAlreadyOwnedByYou"):
            await store.create_bucket(bucket)

    async def test_delete_missing(self, store: ObjectStore) -> None:
        with raises(NotFound, "NoSuchBucket"):
            await store.delete_bucket("t-missing-bucket")

    async def test_not_empty_with_object(self, store: ObjectStore, bucket: str) -> None:
        await put_keys(store, bucket, ["k"])
        with raises(AlreadyExists, "BucketNotEmpty"):
            await store.delete_bucket(bucket)
        await store.delete(bucket, "k")
        await store.delete_bucket(bucket)

    async def test_delete_discards_unfinished_uploads(
        self, store: ObjectStore, bucket: str
    ) -> None:
        """A bucket whose only content is unfinished multipart uploads is empty: S3 deletes
        it, and the uploads (and their parts) with it."""
        upload_id = await store.create_multipart(bucket, "k")
        await store.upload_part(bucket, "k", upload_id, 1, chunks(b"part"))
        await store.create_multipart(bucket, "other/k")
        await store.delete_bucket(bucket)
        with raises(NotFound, "NoSuchBucket"):
            await store.head_bucket(bucket)
        await store.create_bucket(bucket)  # the name again: none of the uploads came back
        assert (await store.list_multipart_uploads(bucket)).uploads == []
        with raises(NotFound, "NoSuchUpload"):
            await store.list_parts(bucket, "k", upload_id)
        await store.delete_bucket(bucket)

    async def test_location_is_kept(self, store: ObjectStore) -> None:
        """The LocationConstraint given at create comes back from head and list; a bucket
        created without one has none."""
        placed, plain = f"t-{uuid.uuid4().hex[:12]}", f"t-{uuid.uuid4().hex[:12]}"
        assert (await store.create_bucket(placed, location="eu-west-1")).location == "eu-west-1"
        assert (await store.create_bucket(plain)).location is None
        assert (await store.head_bucket(placed)).location == "eu-west-1"
        assert (await store.head_bucket(plain)).location is None
        listed = {b.name: b.location for b in await store.list_buckets()}
        assert (listed[placed], listed[plain]) == ("eu-west-1", None)
        await store.delete_bucket(placed)
        await store.delete_bucket(plain)

    async def test_operations_on_missing_bucket(self, store: ObjectStore) -> None:
        name = "t-no-such-bucket"
        for call in (
            lambda: store.put(name, "k", chunks(b"x")),
            lambda: store.get(name, "k"),
            lambda: store.head(name, "k"),
            lambda: store.delete(name, "k"),
            lambda: store.list(name),
            lambda: store.create_multipart(name, "k"),
            lambda: store.list_multipart_uploads(name),
        ):
            with raises(NotFound, "NoSuchBucket"):
                await call()


@pytest.mark.anyio
class TestObjects(StoreSuite):
    async def test_put_head_get(self, store: ObjectStore, bucket: str) -> None:
        data = blob(3000)
        meta = {"Color": "Blue", "x-y": "z"}
        put = await store.put(bucket, "d/k", chunks(data), content_type="text/csv", metadata=meta)
        assert (put.bucket, put.key, put.size, put.etag) == (bucket, "d/k", 3000, md5(data))
        assert put.content_type == "text/csv"
        assert put.metadata == {"color": "Blue", "x-y": "z"}
        assert put.parts_count is None
        assert put.last_modified.tzinfo is not None
        assert abs(put.last_modified - datetime.now(UTC)) < timedelta(minutes=5)
        head = await store.head(bucket, "d/k")
        assert (head.size, head.etag, head.content_type, head.metadata) == (
            put.size,
            put.etag,
            put.content_type,
            put.metadata,
        )
        # an upstream's Last-Modified is in whole seconds and stamped once the body is in,
        # while the s3 store's PUT answers its own time at the start: seconds apart under load
        assert abs(head.last_modified - put.last_modified) < timedelta(seconds=5)
        result = await store.get(bucket, "d/k")
        assert (result.start, result.end, result.length) == (0, 2999, 3000)
        assert await read(result) == data

    async def test_stored_metadata_names(self, store: ObjectStore, bucket: str) -> None:
        put = await store.put(bucket, "k", chunks(b"x"), metadata=STORED_NAMES)
        assert put.metadata == STORED_NAMES
        assert (await store.head(bucket, "k")).metadata == STORED_NAMES
        async with await store.get(bucket, "k") as result:
            assert result.info.metadata == STORED_NAMES
        assert (await store.copy(bucket, "k", bucket, "copy")).metadata == STORED_NAMES
        assert (await store.head(bucket, "copy")).metadata == STORED_NAMES
        upload_id = await store.create_multipart(bucket, "mp", metadata=STORED_NAMES)
        part = await store.upload_part(bucket, "mp", upload_id, 1, chunks(b"part"))
        await store.complete_multipart(bucket, "mp", upload_id, [(1, part.etag)])
        assert (await store.head(bucket, "mp")).metadata == STORED_NAMES

    async def test_defaults(self, store: ObjectStore, bucket: str) -> None:
        info = await store.put(bucket, "k", chunks(b"x"))
        assert info.content_type == DEFAULT_CONTENT_TYPE
        assert info.metadata == {}

    @pytest.mark.parametrize("size", [0, 1, 70_000, MiB, 2 * MiB + 7])
    async def test_sizes_and_chunking(self, store: ObjectStore, bucket: str, size: int) -> None:
        data = blob(size, seed=size)
        info = await store.put(bucket, "k", chunks(data, 100_003))
        assert (info.size, info.etag) == (size, md5(data))
        result = await store.get(bucket, "k")
        got = [chunk async for chunk in result.body]
        assert b"".join(got) == data
        assert all(len(chunk) <= MiB for chunk in got)

    async def test_overwrite(self, store: ObjectStore, bucket: str) -> None:
        await store.put(bucket, "k", chunks(blob(2 * MiB)), metadata={"a": "1"})
        info = await store.put(bucket, "k", chunks(b"new"), content_type="text/plain")
        assert await fetch(store, bucket, "k") == b"new"
        head = await store.head(bucket, "k")
        assert (head.etag, head.metadata, head.content_type) == (info.etag, {}, "text/plain")

    async def test_key_and_folder_coexist(self, store: ObjectStore, bucket: str) -> None:
        keys = ["a", "a/", "a/b", "a/b/", "a/b/c", "a//b"]
        await put_keys(store, bucket, keys)
        for key in keys:
            assert await fetch(store, bucket, key) == key.encode()
        assert (await store.head(bucket, "a/b/")).size == len("a/b/")
        folder = await store.put(bucket, "empty/", chunks(b""))
        assert (folder.size, folder.etag) == (0, md5(b""))

    async def test_odd_keys(self, store: ObjectStore, bucket: str) -> None:
        keys = ["é/ü.txt", "\U0001f600", "../up", "/abs", "a\\b", " sp ace", "%2F", "k" * 1024]
        await put_keys(store, bucket, keys)
        for key in keys:
            assert await fetch(store, bucket, key) == key.encode()
        assert await list_all(store, bucket) == sorted(keys)

    async def test_get_missing(self, store: ObjectStore, bucket: str) -> None:
        with raises(NotFound, "NoSuchKey"):
            await store.get(bucket, "nope")
        with raises(NotFound, "NoSuchKey"):
            await store.head(bucket, "nope")

    async def test_content_md5(self, store: ObjectStore, bucket: str) -> None:
        data = blob(5000)
        digest = hashlib.md5(data).digest()
        await store.put(bucket, "k", chunks(data), content_md5=digest)
        for size in (10, 2 * MiB):
            with raises(InvalidRequest, "BadDigest"):
                await store.put(bucket, "k", chunks(blob(size)), content_md5=digest)
            with raises(InvalidRequest, "BadDigest"):
                await store.put(bucket, f"new{size}", chunks(blob(size)), content_md5=digest)
        assert await fetch(store, bucket, "k") == data
        assert await list_all(store, bucket) == ["k"]

    @pytest.mark.parametrize("before_failure", [0, 10, 3 * MiB])
    async def test_failing_body(self, store: ObjectStore, bucket: str, before_failure: int) -> None:
        await put_keys(store, bucket, ["kept", "old"])

        async def failing() -> AsyncIterator[bytes]:
            async for chunk in chunks(blob(before_failure)):
                yield chunk
            raise ConnectionResetError("client went away")

        for key in ("new", "old"):
            with pytest.raises(ConnectionResetError):
                await store.put(bucket, key, failing())
        with raises(NotFound, "NoSuchKey"):
            await store.head(bucket, "new")
        assert await fetch(store, bucket, "old") == b"old"
        assert await list_all(store, bucket) == ["kept", "old"]

    async def test_cancelled_put(self, store: ObjectStore, bucket: str) -> None:
        async def stalled() -> AsyncIterator[bytes]:
            yield blob(2 * MiB)
            await anyio.sleep(30)
            yield b"never"

        with anyio.move_on_after(0.3):
            await store.put(bucket, "k", stalled())
        with raises(NotFound, "NoSuchKey"):
            await store.head(bucket, "k")

    async def test_delete(self, store: ObjectStore, bucket: str) -> None:
        await put_keys(store, bucket, ["a", "a/b", "c"])
        await store.delete(bucket, "a")
        await store.delete(bucket, "a")
        await store.delete(bucket, "never")
        with raises(NotFound, "NoSuchKey"):
            await store.head(bucket, "a")
        assert await fetch(store, bucket, "a/b") == b"a/b"
        assert await store.delete_many(bucket, ["a/b", "c", "zz"]) == [Deleted()] * 3
        assert await list_all(store, bucket) == []


@pytest.mark.anyio
@pytest.mark.parametrize("size", [3000, 2 * MiB + 5])
class TestRanges(StoreSuite):
    @pytest.fixture
    async def data(self, store: ObjectStore, bucket: str, size: int) -> bytes:
        data = blob(size, seed=7)
        await store.put(bucket, "k", chunks(data))
        return data

    @pytest.mark.parametrize(
        ("byte_range", "suffix", "expect"),
        [
            ((0, 99), None, (0, 99)),
            ((100, 1099), None, (100, 1099)),
            ((5, None), None, (5, -1)),
            ((0, 0), None, (0, 0)),
            ((-10, None), None, None),
            (None, 10, (-10, -1)),
            (None, 10**9, (0, -1)),
        ],
    )
    async def test_range(
        self,
        store: ObjectStore,
        bucket: str,
        data: bytes,
        byte_range: tuple[int, int | None] | None,
        suffix: int | None,
        expect: tuple[int, int] | None,
    ) -> None:
        if expect is None:
            with raises(InvalidRequest, "InvalidRange"):
                await store.get(bucket, "k", byte_range=byte_range, suffix_length=suffix)
            return
        start, end = (i % len(data) for i in expect)
        result = await store.get(bucket, "k", byte_range=byte_range, suffix_length=suffix)
        assert (result.start, result.end, result.info.size) == (start, end, len(data))
        assert await read(result) == data[start : end + 1]

    async def test_beyond_end_is_clamped(
        self, store: ObjectStore, bucket: str, data: bytes
    ) -> None:
        result = await store.get(bucket, "k", byte_range=(len(data) - 5, len(data) + 100))
        assert (result.end, await read(result)) == (len(data) - 1, data[-5:])

    async def test_unsatisfiable(self, store: ObjectStore, bucket: str, data: bytes) -> None:
        for byte_range, suffix in (((len(data), None), None), ((9, 3), None), (None, 0)):
            with raises(InvalidRequest, "InvalidRange") as caught:
                await store.get(bucket, "k", byte_range=byte_range, suffix_length=suffix)
            assert caught.value.status == 416

    async def test_empty_object(self, store: ObjectStore, bucket: str, data: bytes) -> None:
        await store.put(bucket, "empty", chunks(b""))
        result = await store.get(bucket, "empty")
        assert (result.length, await read(result)) == (0, b"")
        with raises(InvalidRequest, "InvalidRange"):
            await store.get(bucket, "empty", byte_range=(0, 0))


@pytest.mark.anyio
class TestListing(StoreSuite):
    TREE = ("a/b/c", "a/b/d", "a/e", "a/", "f", "g/", "g/h", "g/i/j", "ga")

    async def test_flat_pagination(self, store: ObjectStore, bucket: str) -> None:
        await put_keys(store, bucket, list(self.TREE))
        page = await store.list(bucket, max_keys=4)
        assert [o.key for o in page.objects] == sorted(self.TREE)[:4]
        assert (page.is_truncated, page.next_start_after) == (True, sorted(self.TREE)[3])
        assert page.objects[0].size == len(page.objects[0].key)
        assert page.objects[0].etag == md5(page.objects[0].key.encode())
        for max_keys in (1, 2, 3, 1000):
            assert await list_all(store, bucket, max_keys=max_keys) == sorted(self.TREE)

    async def test_delimiter(self, store: ObjectStore, bucket: str) -> None:
        await put_keys(store, bucket, list(self.TREE))
        page = await store.list(bucket, delimiter="/")
        assert [o.key for o in page.objects] == ["f", "ga"]
        assert page.common_prefixes == ["a/", "g/"]
        page = await store.list(bucket, prefix="a/", delimiter="/")
        assert ([o.key for o in page.objects], page.common_prefixes) == (["a/", "a/e"], ["a/b/"])
        page = await store.list(bucket, prefix="g", delimiter="/")
        assert ([o.key for o in page.objects], page.common_prefixes) == (["ga"], ["g/"])
        page = await store.list(bucket, prefix="zz", delimiter="/")
        assert (page.objects, page.common_prefixes, page.is_truncated) == ([], [], False)

    async def test_common_prefixes_count_and_are_skipped(
        self, store: ObjectStore, bucket: str
    ) -> None:
        keys = [f"a/{i:02d}" for i in range(30)] + ["b", "c/1", "c/2", "d"]
        await put_keys(store, bucket, keys)
        page = await store.list(bucket, delimiter="/", max_keys=1)
        assert (page.common_prefixes, page.next_start_after) == (["a/"], "a/")
        assert await list_all(store, bucket, delimiter="/", max_keys=1) == ["a/", "b", "c/", "d"]
        page = await store.list(bucket, delimiter="/", start_after="a/07")
        assert ([o.key for o in page.objects], page.common_prefixes) == (["b", "d"], ["c/"])

    async def test_start_after(self, store: ObjectStore, bucket: str) -> None:
        await put_keys(store, bucket, list(self.TREE))
        assert await list_all(store, bucket, start_after="a/e") == ["f", "g/", "g/h", "g/i/j", "ga"]
        assert await list_all(store, bucket, start_after="0") == sorted(self.TREE)
        assert await list_all(store, bucket, start_after="zzz") == []
        assert await list_all(store, bucket, prefix="g/", start_after="a") == ["g/", "g/h", "g/i/j"]

    async def test_utf8_byte_order(self, store: ObjectStore, bucket: str) -> None:
        keys = ["z", "é", "\uffff", "\U0001f600", "A", "a", "~", "\u00ff\u0100", "\x7f"]
        await put_keys(store, bucket, keys)
        expected = sorted(keys, key=lambda k: k.encode())
        assert await list_all(store, bucket) == expected
        assert await list_all(store, bucket, max_keys=2) == expected

    async def test_multichar_delimiter(self, store: ObjectStore, bucket: str) -> None:
        await put_keys(store, bucket, ["x--1", "x--2--3", "x-y", "y"])
        page = await store.list(bucket, delimiter="--")
        assert ([o.key for o in page.objects], page.common_prefixes) == (["x-y", "y"], ["x--"])


ALPHABET = "ab/-é\U0001f600"
Query = tuple[str, str | None, str, int]


@st.composite
def listing_cases(draw: st.DrawFn) -> tuple[list[str], list[Query]]:
    """A set of keys and listings of it (prefix, delimiter, start_after, max_keys).

    Everything is drawn here, before the async test runs: a draw inside an async test may
    raise Hypothesis's StopTest (a BaseException), which anyio's test runner does not survive.
    """
    keys = draw(st.lists(st.text(ALPHABET, min_size=1, max_size=6), max_size=25, unique=True))
    texts = st.text(ALPHABET, max_size=4)
    queries = [
        (
            draw(st.sampled_from(["", *[k[:2] for k in keys]]) | texts),
            draw(st.sampled_from([None, "/", "-", "a/", "\U0001f600"])),
            draw(st.sampled_from(["", *keys]) | texts),
            draw(st.integers(1, 6)),
        )
        for _ in range(4)
    ]
    return keys, queries


def model(keys: list[str], prefix: str, delimiter: str | None, start_after: str) -> list[str]:
    """S3 listing, brute force: roll up, deduplicate, keep what sorts after start_after."""
    entries: list[str] = []
    for key in sorted(k for k in keys if k.startswith(prefix)):
        at = key.find(delimiter, len(prefix)) if delimiter else -1
        entry = key if at < 0 else key[: at + len(delimiter or "")]
        if entry > start_after and entry not in entries[-1:]:
            entries.append(entry)
    return entries


@pytest.mark.anyio
class TestListingModel(StoreSuite):
    @settings(
        max_examples=25,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(case=listing_cases())
    async def test_matches_model(
        self, store: ObjectStore, case: tuple[list[str], list[Query]]
    ) -> None:
        keys, queries = case
        bucket = await new_bucket(store)
        await put_keys(store, bucket, keys)
        for prefix, delimiter, start_after, max_keys in queries:
            got = await self._walk(store, bucket, prefix, delimiter, start_after, max_keys)
            assert got == model(keys, prefix, delimiter, start_after)

    @staticmethod
    async def _walk(
        store: ObjectStore,
        bucket: str,
        prefix: str,
        delimiter: str | None,
        start_after: str,
        max_keys: int,
    ) -> list[str]:
        entries: list[str] = []
        after: str | None = start_after or None
        while True:
            page = await store.list(
                bucket, prefix=prefix, delimiter=delimiter, start_after=after, max_keys=max_keys
            )
            found = sorted([o.key for o in page.objects] + page.common_prefixes)
            assert len(found) <= max_keys
            assert not found or after is None or found[0] > after, "a continuation went back"
            entries += found
            if not page.is_truncated:
                return entries
            assert len(found) == max_keys and page.next_start_after == found[-1]
            after = page.next_start_after


@pytest.mark.anyio
class TestCopy(StoreSuite):
    async def test_copy_keeps_metadata(self, store: ObjectStore, bucket: str) -> None:
        data = blob(2 * MiB)
        src = await store.put(bucket, "s", chunks(data), content_type="a/b", metadata={"k": "v"})
        other = await new_bucket(store)
        info = await store.copy(bucket, "s", other, "d", metadata={"ignored": "1"})
        assert (info.bucket, info.key, info.etag, info.size) == (other, "d", src.etag, src.size)
        assert (info.content_type, info.metadata) == ("a/b", {"k": "v"})
        assert await fetch(store, other, "d") == data

    async def test_copy_replaces_metadata(self, store: ObjectStore, bucket: str) -> None:
        await store.put(bucket, "s", chunks(b"x"), content_type="a/b", metadata={"k": "v"})
        info = await store.copy(
            bucket, "s", bucket, "s", metadata={"N": "1"}, content_type="c/d", replace_metadata=True
        )
        head = await store.head(bucket, "s")
        assert (info.metadata, head.metadata, head.content_type) == ({"n": "1"}, {"n": "1"}, "c/d")

    @pytest.mark.parametrize("size", [10, 2 * MiB])
    async def test_copy_is_independent(self, store: ObjectStore, bucket: str, size: int) -> None:
        data = blob(size)
        await store.put(bucket, "s", chunks(data))
        await store.copy(bucket, "s", bucket, "d1")
        await store.copy(bucket, "d1", bucket, "d2")
        await store.put(bucket, "s", chunks(b"changed"))
        await store.delete(bucket, "d1")
        assert await fetch(store, bucket, "d2") == data
        assert await fetch(store, bucket, "s") == b"changed"

    async def test_copy_missing_and_conditions(self, store: ObjectStore, bucket: str) -> None:
        with raises(NotFound, "NoSuchKey"):
            await store.copy(bucket, "missing", bucket, "d")
        await put_keys(store, bucket, ["s", "d"])
        with raises(PreconditionFailed, "PreconditionFailed"):
            await store.copy(bucket, "s", bucket, "d", if_none_match="*")
        assert await fetch(store, bucket, "d") == b"d"
        await store.copy(bucket, "s", bucket, "new", if_none_match="*")
        assert await fetch(store, bucket, "new") == b"s"


@pytest.mark.anyio
class TestConditional(StoreSuite):
    async def test_if_none_match(self, store: ObjectStore, bucket: str) -> None:
        await store.put(bucket, "k", chunks(b"1"), if_none_match="*")
        with raises(PreconditionFailed, "PreconditionFailed"):
            await store.put(bucket, "k", chunks(blob(2 * MiB)), if_none_match="*")
        assert await fetch(store, bucket, "k") == b"1"

    async def test_if_match(self, store: ObjectStore, bucket: str) -> None:
        first = await store.put(bucket, "k", chunks(b"1"))
        second = await store.put(bucket, "k", chunks(b"2"), if_match=f'"{first.etag}"')
        with raises(PreconditionFailed, "PreconditionFailed"):
            await store.put(bucket, "k", chunks(b"3"), if_match=first.etag)
        assert await fetch(store, bucket, "k") == b"2"
        await store.put(bucket, "k", chunks(b"4"), if_match=second.etag)
        with raises(NotFound, "NoSuchKey"):  # S3 answers 404 when there is nothing to match
            await store.put(bucket, "missing", chunks(b"x"), if_match=first.etag)
        with raises(NotFound, "NoSuchKey"):
            await store.head(bucket, "missing")

    async def test_conditional_delete(self, store: ObjectStore, bucket: str) -> None:
        first = await store.put(bucket, "k", chunks(b"1"))
        second = await store.put(bucket, "k", chunks(b"2"))
        with raises(PreconditionFailed, "PreconditionFailed"):
            await store.delete(bucket, "k", if_match=first.etag)
        assert await fetch(store, bucket, "k") == b"2"
        await store.delete(bucket, "k", if_match=f'"{second.etag}"')
        with raises(NotFound, "NoSuchKey"):
            await store.head(bucket, "k")
        with raises(NotFound, "NoSuchKey"):  # nothing to match: 404, as S3
            await store.delete(bucket, "k", if_match=second.etag)

    async def test_conditional_delete_of_any_version(self, store: ObjectStore, bucket: str) -> None:
        await store.put(bucket, "any", chunks(b"x"))
        await store.delete(bucket, "any", if_match="*")
        with raises(NotFound, "NoSuchKey"):
            await store.delete(bucket, "any", if_match="*")
        await store.delete(bucket, "any")  # unconditional: absent is no error

    @pytest.mark.parametrize("size", [100, 300_000])
    async def test_create_race_has_one_winner(
        self, store: ObjectStore, bucket: str, size: int
    ) -> None:
        outcomes: dict[int, object] = {}

        async def attempt(i: int) -> None:
            try:
                outcomes[i] = await store.put(
                    bucket, "lock", chunks(blob(size, i)), if_none_match="*"
                )
            except PreconditionFailed as exc:
                outcomes[i] = exc

        async with anyio.create_task_group() as tg:
            for i in range(10):
                tg.start_soon(attempt, i)
        winners = [i for i, o in outcomes.items() if not isinstance(o, PreconditionFailed)]
        assert len(winners) == 1 and len(outcomes) == 10
        assert await fetch(store, bucket, "lock") == blob(size, winners[0])

    async def test_compare_and_swap_race(self, store: ObjectStore, bucket: str) -> None:
        base = await store.put(bucket, "k", chunks(b"base"))
        wins: list[int] = []

        async def attempt(i: int) -> None:
            try:
                await store.put(bucket, "k", chunks(b"%d" % i), if_match=base.etag)
                wins.append(i)
            except PreconditionFailed:
                pass

        async with anyio.create_task_group() as tg:
            for i in range(10):
                tg.start_soon(attempt, i)
        assert len(wins) == 1
        assert await fetch(store, bucket, "k") == b"%d" % wins[0]


@pytest.mark.anyio
class TestSnapshot(StoreSuite):
    @pytest.mark.parametrize("change", ["overwrite", "delete", "overwrite-copy"])
    async def test_get_reads_a_snapshot(self, store: ObjectStore, bucket: str, change: str) -> None:
        old = blob(3 * MiB + 11, seed=1)
        await store.put(bucket, "k", chunks(old))
        started = await store.get(bucket, "k")
        not_started = await store.get(bucket, "k", byte_range=(MiB, None))
        first = await anext(started.body)
        if change == "delete":
            await store.delete(bucket, "k")
        else:
            await store.put(bucket, "other", chunks(blob(3 * MiB, seed=2)))
            await store.copy(bucket, "other", bucket, "k") if "copy" in change else None
            await store.put(bucket, "k", chunks(blob(3 * MiB, seed=2)))
        assert first + await read(started) == old
        assert await read(not_started) == old[MiB:]
        if change != "delete":
            assert await fetch(store, bucket, "k") == blob(3 * MiB, seed=2)

    async def test_abandoned_get(self, store: ObjectStore, bucket: str) -> None:
        await store.put(bucket, "k", chunks(blob(3 * MiB)))
        async with await store.get(bucket, "k") as result:
            await anext(result.body)
        await store.delete(bucket, "k")
        with raises(NotFound, "NoSuchKey"):
            await store.get(bucket, "k")


@pytest.mark.anyio
class TestMultipart(StoreSuite):
    async def _upload(
        self, store: ObjectStore, bucket: str, key: str, parts: list[bytes]
    ) -> tuple[str, list[tuple[int, str]]]:
        upload_id = await store.create_multipart(
            bucket, key, content_type="x/y", metadata={"M": "1"}
        )
        listed = []
        for number, data in enumerate(parts, 1):
            part = await store.upload_part(bucket, key, upload_id, number, chunks(data))
            assert (part.part_number, part.etag, part.size) == (number, md5(data), len(data))
            listed.append((number, part.etag))
        return upload_id, listed

    async def test_complete(self, store: ObjectStore, bucket: str, part_size: int) -> None:
        parts = [blob(part_size, 1), blob(part_size + 3, 2), blob(17, 3)]
        upload_id, listed = await self._upload(store, bucket, "mp", parts)
        info = await store.complete_multipart(bucket, "mp", upload_id, listed)
        digests = b"".join(hashlib.md5(p).digest() for p in parts)
        assert info.etag == f"{hashlib.md5(digests).hexdigest()}-3"
        assert (info.size, info.parts_count) == (sum(map(len, parts)), 3)
        head = await store.head(bucket, "mp")
        assert (head.etag, head.content_type, head.metadata) == (info.etag, "x/y", {"m": "1"})
        data = b"".join(parts)
        assert await fetch(store, bucket, "mp") == data
        across = (part_size - 5, part_size + 5)
        result = await store.get(bucket, "mp", byte_range=across)
        assert await read(result) == data[across[0] : across[1] + 1]
        assert (await store.list_multipart_uploads(bucket)).uploads == []
        with raises(NotFound, "NoSuchUpload"):
            await store.list_parts(bucket, "mp", upload_id)

    async def test_part_overwrite_and_subset(
        self, store: ObjectStore, bucket: str, part_size: int
    ) -> None:
        upload_id, listed = await self._upload(store, bucket, "mp", [blob(part_size, 1)] * 3)
        replaced = await store.upload_part(bucket, "mp", upload_id, 1, chunks(blob(part_size, 9)))
        page = await store.list_parts(bucket, "mp", upload_id)
        assert [(p.part_number, p.etag) for p in page.parts] == [(1, replaced.etag), *listed[1:]]
        with raises(InvalidRequest, "InvalidPart"):  # the first upload of part 1 is gone
            await store.complete_multipart(bucket, "mp", upload_id, listed)
        await store.complete_multipart(bucket, "mp", upload_id, [(1, replaced.etag), listed[2]])
        assert await fetch(store, bucket, "mp") == blob(part_size, 9) + blob(part_size, 1)

    async def test_invalid_completions(
        self, store: ObjectStore, bucket: str, part_size: int
    ) -> None:
        upload_id, listed = await self._upload(store, bucket, "mp", [b"small", blob(part_size)])
        cases = [
            ([], "MalformedXML"),
            ([listed[1], listed[0]], "InvalidPartOrder"),
            ([listed[0], listed[0]], "InvalidPartOrder"),
            ([(1, md5(b"other")), listed[1]], "InvalidPart"),
            ([listed[0], (3, listed[1][1])], "InvalidPart"),
            (listed, "EntityTooSmall"),
        ]
        for parts, code in cases:
            with raises(InvalidRequest, code):
                await store.complete_multipart(bucket, "mp", upload_id, parts)
        info = await store.complete_multipart(bucket, "mp", upload_id, [(1, f'"{listed[0][1]}"')])
        assert await fetch(store, bucket, "mp") == b"small" and info.parts_count == 1

    async def test_retried_complete(self, store: ObjectStore, bucket: str, part_size: int) -> None:
        """A Complete retried after it succeeded (its answer lost) answers as the first did,
        while the object it made is there; S3 asks clients to retry failed Completes."""
        parts = [blob(part_size, 1), b"tail"]
        upload_id, listed = await self._upload(store, bucket, "mp", parts)
        info = await store.complete_multipart(bucket, "mp", upload_id, listed)
        again = await store.complete_multipart(bucket, "mp", upload_id, listed)
        assert (again.etag, again.size, again.parts_count) == (info.etag, info.size, 2)
        assert await fetch(store, bucket, "mp") == b"".join(parts)
        await store.delete(bucket, "mp")
        with raises(NotFound, "NoSuchUpload"):
            await store.complete_multipart(bucket, "mp", upload_id, listed)
        with raises(NotFound, "NoSuchKey"):
            await store.head(bucket, "mp")

    async def test_abort_and_unknown(self, store: ObjectStore, bucket: str) -> None:
        upload_id, listed = await self._upload(store, bucket, "mp", [b"x"])
        with raises(NotFound, "NoSuchUpload"):
            await store.list_parts(bucket, "other-key", upload_id)
        await store.abort_multipart(bucket, "mp", upload_id)
        for call in (
            lambda: store.abort_multipart(bucket, "mp", upload_id),
            lambda: store.upload_part(bucket, "mp", upload_id, 2, chunks(b"y")),
            lambda: store.complete_multipart(bucket, "mp", upload_id, listed),
            lambda: store.list_parts(bucket, "mp", "no-such-upload"),
        ):
            with raises(NotFound, "NoSuchUpload"):
                await call()
        with raises(NotFound, "NoSuchKey"):
            await store.head(bucket, "mp")
        for number in (0, 10_001):
            with pytest.raises(InvalidInput):
                await store.upload_part(bucket, "mp", upload_id, number, chunks(b"y"))

    async def test_list_parts_pages(self, store: ObjectStore, bucket: str) -> None:
        upload_id, listed = await self._upload(store, bucket, "mp", [b"%d" % i for i in range(5)])
        seen, marker = [], 0
        while True:
            page = await store.list_parts(
                bucket, "mp", upload_id, part_number_marker=marker, max_parts=2
            )
            seen += [(p.part_number, p.etag) for p in page.parts]
            if not page.is_truncated:
                break
            assert page.next_part_number_marker == page.parts[-1].part_number
            marker = page.next_part_number_marker
        assert seen == listed

    async def test_list_uploads_pages(self, store: ObjectStore, bucket: str) -> None:
        ids = [(k, await store.create_multipart(bucket, k)) for k in ("b", "a", "a", "c/1", "c/2")]
        expected = sorted(ids, key=lambda pair: pair[0])  # by key, then initiation
        assert [
            (u.key, u.upload_id) for u in (await store.list_multipart_uploads(bucket)).uploads
        ] == expected
        seen: list[tuple[str, str]] = []
        key_marker: str | None = None
        id_marker: str | None = None
        while True:
            page = await store.list_multipart_uploads(
                bucket, key_marker=key_marker, upload_id_marker=id_marker, max_uploads=2
            )
            seen += [(u.key, u.upload_id) for u in page.uploads]
            if not page.is_truncated:
                break
            key_marker, id_marker = page.next_key_marker, page.next_upload_id_marker
        assert seen == expected
        page = await store.list_multipart_uploads(bucket, prefix="c/")
        assert [u.key for u in page.uploads] == ["c/1", "c/2"]
        page = await store.list_multipart_uploads(bucket, key_marker="a")
        assert [u.key for u in page.uploads] == ["b", "c/1", "c/2"]
        assert all(u.initiated.tzinfo is not None for u in page.uploads)

    async def test_upload_part_copy(self, store: ObjectStore, bucket: str, part_size: int) -> None:
        big, small = blob(2 * MiB + part_size, 4), b"tiny source"
        await store.put(bucket, "big", chunks(big))
        await store.put(bucket, "small", chunks(small))
        upload_id = await store.create_multipart(bucket, "mp")
        rng = (MiB - 3, MiB - 4 + part_size)
        one = await store.upload_part_copy(bucket, "mp", upload_id, 1, bucket, "big", rng)
        two = await store.upload_part_copy(bucket, "mp", upload_id, 2, bucket, "big")
        three = await store.upload_part_copy(bucket, "mp", upload_id, 3, bucket, "small", (1, 4))
        expected = [big[rng[0] : rng[1] + 1], big, small[1:5]]
        assert [p.etag for p in (one, two, three)] == [md5(p) for p in expected]
        await store.put(bucket, "big", chunks(b"overwritten"))
        await store.delete(bucket, "small")
        parts = [(p.part_number, p.etag) for p in (one, two, three)]
        await store.complete_multipart(bucket, "mp", upload_id, parts)
        assert await fetch(store, bucket, "mp") == b"".join(expected)
        with raises(NotFound, "NoSuchKey"):
            await store.upload_part_copy(bucket, "mp", upload_id, 1, bucket, "small")

    async def test_conditional_complete(self, store: ObjectStore, bucket: str) -> None:
        await store.put(bucket, "mp", chunks(b"exists"))
        upload_id, listed = await self._upload(store, bucket, "mp", [b"new"])
        with raises(PreconditionFailed, "PreconditionFailed"):
            await store.complete_multipart(bucket, "mp", upload_id, listed, if_none_match="*")
        assert await fetch(store, bucket, "mp") == b"exists"
        etag = (await store.head(bucket, "mp")).etag
        await store.complete_multipart(bucket, "mp", upload_id, listed, if_match=etag)
        assert await fetch(store, bucket, "mp") == b"new"

    async def test_part_content_md5(self, store: ObjectStore, bucket: str) -> None:
        upload_id = await store.create_multipart(bucket, "mp")
        with raises(InvalidRequest, "BadDigest"):
            await store.upload_part(
                bucket, "mp", upload_id, 1, chunks(b"x"), content_md5=hashlib.md5(b"y").digest()
            )
        assert (await store.list_parts(bucket, "mp", upload_id)).parts == []


CHECKSUMS = ("crc32", "crc32c", "crc64nvme", "sha1", "sha256")
"""The algorithms of S3's x-amz-checksum-* that the S3 User Guide lists for every upload."""


def sent(sums: dict[int, Checksum]) -> dict[int, dict[str, str]]:
    """Parts' checksums as a Complete names them: by part number, by algorithm."""
    return {number: {checksum.algorithm: checksum.value} for number, checksum in sums.items()}


@pytest.mark.anyio
class TestChecksums(StoreSuite):
    """Checksums are kept with what they check, as S3 keeps them (the S3 User Guide,
    "Checking object integrity": "S3 stores both the checksum value as object metadata and
    the object itself"); a multipart object's is made of its parts' at Complete."""

    async def _put(
        self, store: ObjectStore, bucket: str, key: str, data: bytes, algorithm: str
    ) -> ObjectInfo:
        sent = BodyChecksum(algorithm)
        return await store.put(bucket, key, checked(data, sent), checksum=sent)

    async def test_a_put_keeps_its_checksum(self, store: ObjectStore, bucket: str) -> None:
        """PutObject: "For PutObject uploads, the checksum type is always FULL_OBJECT"."""
        data = blob(70_000, 1)  # beyond what the local store keeps in its index
        for algorithm in CHECKSUMS:
            expected = Checksum(algorithm, b64sum(algorithm, data), FULL_OBJECT)
            info = await self._put(store, bucket, algorithm, data, algorithm)
            assert info.checksum == expected
            assert (await store.head(bucket, algorithm)).checksum == expected
            async with await store.get(bucket, algorithm) as got:
                assert got.info.checksum == expected
        await self._put(store, bucket, "small", b"small", "crc32")
        assert (await store.head(bucket, "small")).checksum == Checksum(
            "crc32", b64sum("crc32", b"small")
        )
        await store.put(bucket, "none", chunks(b"no checksum sent"))
        assert (await store.head(bucket, "none")).checksum is None
        await self._put(store, bucket, "none", b"now one", "sha1")  # an overwrite: its own
        assert (await store.head(bucket, "none")).checksum == Checksum(
            "sha1", b64sum("sha1", b"now one")
        )

    async def test_a_copy_keeps_the_checksum_or_gets_a_new_one(
        self, store: ObjectStore, bucket: str
    ) -> None:
        """CopyObject: "if the source object has a checksum, that checksum value will be
        copied to the new object by default. If the CopyObject request does not include this
        x-amz-checksum-algorithm header, the checksum algorithm will be copied from the source
        object to the destination object"; with the header, the copy gets one of that
        algorithm."""
        data = blob(70_000, 2)
        await self._put(store, bucket, "src", data, "crc32c")
        kept = await store.copy(bucket, "src", bucket, "kept")
        assert kept.checksum == Checksum("crc32c", b64sum("crc32c", data))
        assert (await store.head(bucket, "kept")).checksum == kept.checksum
        new = await store.copy(bucket, "src", bucket, "new", checksum_algorithm="sha256")
        assert new.checksum == Checksum("sha256", b64sum("sha256", data))
        assert (await store.head(bucket, "new")).checksum == new.checksum
        await store.put(bucket, "plain", chunks(b"plain"))
        assert (await store.copy(bucket, "plain", bucket, "plain-copy")).checksum is None
        same = await store.copy(bucket, "plain", bucket, "plain", checksum_algorithm="crc32")
        assert same.checksum == Checksum("crc32", b64sum("crc32", b"plain"))
        assert await fetch(store, bucket, "plain") == b"plain"

    async def _upload(
        self,
        store: ObjectStore,
        bucket: str,
        key: str,
        parts: list[bytes],
        algorithm: str,
        checksum_type: str | None = None,
        *,
        send: bool = True,
    ) -> tuple[str, list[tuple[int, str]], dict[int, Checksum]]:
        upload_id = await store.create_multipart(
            bucket, key, checksum_algorithm=algorithm, checksum_type=checksum_type
        )
        listed, sums = [], {}
        for number, data in enumerate(parts, 1):
            sent = BodyChecksum(algorithm) if send else None
            body = checked(data, sent) if sent else chunks(data)
            part = await store.upload_part(bucket, key, upload_id, number, body, checksum=sent)
            assert part.checksum == Checksum(algorithm, b64sum(algorithm, data))
            listed.append((number, part.etag))
            sums[number] = part.checksum
        return upload_id, listed, sums

    async def test_a_composite_checksum(
        self, store: ObjectStore, bucket: str, part_size: int
    ) -> None:
        """The S3 User Guide: a COMPOSITE checksum is "calculated based on the individual
        checksums of each part": the checksum of the parts' checksums concatenated, and the
        default type of every algorithm but CRC64NVME. ListParts shows each part's."""
        parts = [blob(part_size, 3), blob(40, 4)]
        for algorithm in ("crc32", "sha256"):
            key = f"mp-{algorithm}"
            upload_id, listed, sums = await self._upload(store, bucket, key, parts, algorithm)
            checks = CompleteChecks(parts=sent(sums))
            info = await store.complete_multipart(bucket, key, upload_id, listed, checks=checks)
            digests = b"".join(base64.b64decode(sums[n].value) for n in (1, 2))
            expected = Checksum(algorithm, b64sum(algorithm, digests), COMPOSITE)
            assert (info.checksum, info.parts_count) == (expected, 2)
            assert (await store.head(bucket, key)).checksum == expected

    async def test_a_part_s_checksum_by_part_number(
        self, store: ObjectStore, bucket: str, part_size: int
    ) -> None:
        """GET or HEAD ?partNumber=N answers with the part's own checksum (the S3 User Guide:
        "you can retrieve the checksum value for individual parts by using GetObject or
        HeadObject"), with the object's checksum type."""
        if not isinstance(store, PartRanges):
            pytest.skip("the store does not find parts by number")
        parts = [blob(part_size, 10), blob(30, 11)]
        upload_id, listed, sums = await self._upload(store, bucket, "mp", parts, "crc32c")
        await store.complete_multipart(
            bucket, "mp", upload_id, listed, checks=CompleteChecks(parts=sent(sums))
        )
        part = await store.part_range(bucket, "mp", 2)
        assert part.checksum == Checksum("crc32c", sums[2].value, COMPOSITE)
        await self._put(store, bucket, "single", b"single", "crc32c")
        whole = await store.part_range(bucket, "single", 1)
        assert whole.checksum == Checksum("crc32c", b64sum("crc32c", b"single"))

    async def test_the_parts_of_an_object(
        self, store: ObjectStore, bucket: str, part_size: int
    ) -> None:
        """GetObjectAttributes' ObjectParts: the parts a multipart object was made of, each
        with its size and checksum, in pages; none for an object not made of parts."""
        parts = [blob(part_size, 12), blob(part_size, 13), b"last"]
        upload_id, listed, sums = await self._upload(store, bucket, "mp", parts, "sha256")
        await store.complete_multipart(
            bucket, "mp", upload_id, listed, checks=CompleteChecks(parts=sent(sums))
        )
        page = await store.object_parts(bucket, "mp")
        assert page.info.parts_count == 3
        assert [(p.part_number, p.size, p.checksum and p.checksum.value) for p in page.parts] == [
            (n, len(parts[n - 1]), sums[n].value) for n in (1, 2, 3)
        ]
        assert (page.is_truncated, page.next_part_number_marker) == (False, None)
        first = await store.object_parts(bucket, "mp", max_parts=1)
        assert ([p.part_number for p in first.parts], first.is_truncated) == ([1], True)
        assert first.next_part_number_marker == 1
        rest = await store.object_parts(bucket, "mp", part_number_marker=1)
        assert [p.part_number for p in rest.parts] == [2, 3]
        await self._put(store, bucket, "single", b"single", "crc32")
        single = await store.object_parts(bucket, "single")
        assert (single.info.parts_count, single.parts) == (None, [])
        with raises(NotFound, "NoSuchKey"):
            await store.object_parts(bucket, "missing")

    async def test_list_parts_shows_the_checksums(self, store: ObjectStore, bucket: str) -> None:
        """ListParts: each part's checksum, and the upload's ChecksumAlgorithm and
        ChecksumType ("the checksum type that was specified in CreateMultipartUpload")."""
        upload_id, _, sums = await self._upload(store, bucket, "mp", [b"one", b"two"], "sha1")
        page = await store.list_parts(bucket, "mp", upload_id)
        assert (page.checksum_algorithm, page.checksum_type) == ("sha1", COMPOSITE)
        assert [p.checksum for p in page.parts] == [sums[1], sums[2]]
        await store.abort_multipart(bucket, "mp", upload_id)

    async def test_a_full_object_checksum(
        self, store: ObjectStore, bucket: str, part_size: int
    ) -> None:
        """FULL_OBJECT: "calculated based on all of the content of a multipart upload", of
        CRC32, CRC32C or CRC64NVME (whose only type it is), the parts' CRCs combined; its
        parts may come without a checksum ("the store computes it")."""
        parts = [blob(part_size, 5), blob(part_size + 1, 6), blob(3, 7)]
        data = b"".join(parts)
        for algorithm, send in (("crc64nvme", False), ("crc32c", True)):
            key = f"mp-{algorithm}"
            kind = None if algorithm == "crc64nvme" else FULL_OBJECT
            upload_id, listed, _ = await self._upload(
                store, bucket, key, parts, algorithm, kind, send=send
            )
            expected = Checksum(algorithm, b64sum(algorithm, data), FULL_OBJECT)
            checks = CompleteChecks(checksum=expected, checksum_type=FULL_OBJECT)
            info = await store.complete_multipart(bucket, key, upload_id, listed, checks=checks)
            assert info.checksum == expected
            assert (await store.head(bucket, key)).checksum == expected
            assert await fetch(store, bucket, key) == data

    async def test_parts_that_do_not_fit_the_upload_are_refused(
        self, store: ObjectStore, bucket: str
    ) -> None:
        """UploadPart: "This checksum algorithm must be the same for all parts and it match
        the checksum value supplied in the CreateMultipartUpload request"; S3 answers
        "Checksum Type mismatch occurred". Nothing is stored."""
        upload_id = await store.create_multipart(bucket, "mp", checksum_algorithm="crc32")
        sha = BodyChecksum("sha256")
        with raises(InvalidRequest, "InvalidRequest"):
            await store.upload_part(bucket, "mp", upload_id, 1, checked(b"x", sha), checksum=sha)
        with raises(InvalidRequest, "InvalidRequest"):  # a COMPOSITE upload's part needs one
            await store.upload_part(bucket, "mp", upload_id, 1, chunks(b"x"))
        assert (await store.list_parts(bucket, "mp", upload_id)).parts == []

    async def test_a_complete_whose_checksums_do_not_hold_changes_nothing(
        self, store: ObjectStore, bucket: str, part_size: int
    ) -> None:
        """CompleteMultipartUpload refuses, and completes nothing, when a part's checksum is
        missing (a COMPOSITE upload's) or wrong, or the object's checksum, checksum type
        ("it'll result in a BadDigest error") or size (x-amz-mp-object-size: "an HTTP 400
        InvalidRequest error") is not what the parts make."""
        parts = [blob(part_size, 8), b"tail"]
        upload_id, listed, sums = await self._upload(store, bucket, "mp", parts, "crc32")
        wrong = Checksum("crc32", b64sum("crc32", b"wrong"))
        refused = [
            (CompleteChecks(parts=sent({1: sums[1]})), "InvalidRequest"),
            (CompleteChecks(parts=sent({1: sums[1], 2: wrong})), "InvalidPart"),
            (CompleteChecks(parts=sent(sums), checksum=wrong), "BadDigest"),
            (CompleteChecks(parts=sent(sums), checksum_type=FULL_OBJECT), "BadDigest"),
            (CompleteChecks(parts=sent(sums), object_size=1), "InvalidRequest"),
        ]
        for checks, code in refused:
            with raises(InvalidRequest, code):
                await store.complete_multipart(bucket, "mp", upload_id, listed, checks=checks)
        with raises(NotFound, "NoSuchKey"):
            await store.head(bucket, "mp")
        assert len((await store.list_parts(bucket, "mp", upload_id)).parts) == 2
        digests = b"".join(base64.b64decode(sums[n].value) for n in (1, 2))
        composite = b64sum("crc32", digests)
        checks = CompleteChecks(
            parts=sent(sums),
            checksum=Checksum("crc32", f"{composite}-2"),  # as GET shows it: fine too
            checksum_type=COMPOSITE,
            object_size=part_size + 4,
        )
        info = await store.complete_multipart(bucket, "mp", upload_id, listed, checks=checks)
        assert info.checksum == Checksum("crc32", composite, COMPOSITE)

    async def test_a_copied_part_gets_the_upload_s_checksum(
        self, store: ObjectStore, bucket: str
    ) -> None:
        """UploadPartCopy into an upload with a checksum algorithm: the part gets one."""
        data = blob(70_000, 9)
        await self._put(store, bucket, "src", data, "sha1")
        await store.put(bucket, "small", chunks(b"small source"))
        upload_id = await store.create_multipart(bucket, "mp", checksum_algorithm="crc32c")
        whole = await store.upload_part_copy(bucket, "mp", upload_id, 1, bucket, "src")
        assert whole.checksum == Checksum("crc32c", b64sum("crc32c", data))
        piece = await store.upload_part_copy(bucket, "mp", upload_id, 2, bucket, "small", (0, 4))
        assert piece.checksum == Checksum("crc32c", b64sum("crc32c", b"small"))


@pytest.mark.anyio
class TestTagging(StoreSuite):
    """Object tags (the S3 User Guide, "Categorizing your storage using tags"): set at PUT,
    Create or by PutObjectTagging, which "Replaces tags on an object"; "If you send this
    request with an empty tag set, Amazon S3 deletes the existing tag set on the object".
    A copy keeps its source's, or takes others (x-amz-tagging-directive REPLACE)."""

    async def test_tags_at_put_and_after(self, store: ObjectStore, bucket: str) -> None:
        tags = {"project": "blue", "classification": "confidential ünïcode"}
        info = await store.put(bucket, "k", chunks(b"tagged"), tags=tags)
        assert info.tag_count == 2
        assert await store.get_tagging(bucket, "k") == tags
        head = await store.head(bucket, "k")
        assert head.tag_count == 2
        await store.put_tagging(bucket, "k", {"project": "red"})
        assert await store.get_tagging(bucket, "k") == {"project": "red"}
        after = await store.head(bucket, "k")
        assert (after.etag, after.last_modified, after.tag_count) == (
            head.etag,
            head.last_modified,
            1,
        )
        async with await store.get(bucket, "k") as got:
            assert got.info.tag_count == 1
        await store.put_tagging(bucket, "k", {})
        assert await store.get_tagging(bucket, "k") == {}
        assert (await store.head(bucket, "k")).tag_count == 0
        await store.put(bucket, "k", chunks(b"overwritten"))  # a new object: no tags
        assert await store.get_tagging(bucket, "k") == {}
        with raises(NotFound, "NoSuchKey"):
            await store.get_tagging(bucket, "missing")
        with raises(NotFound, "NoSuchKey"):
            await store.put_tagging(bucket, "missing", {"a": "b"})

    async def test_a_copy_keeps_or_replaces_the_tags(self, store: ObjectStore, bucket: str) -> None:
        await store.put(bucket, "src", chunks(b"source"), tags={"a": "1", "b": "2"})
        kept = await store.copy(bucket, "src", bucket, "kept")
        assert kept.tag_count == 2
        assert await store.get_tagging(bucket, "kept") == {"a": "1", "b": "2"}
        other = await store.copy(bucket, "src", bucket, "other", tags={"c": "3"})
        assert other.tag_count == 1
        assert await store.get_tagging(bucket, "other") == {"c": "3"}
        await store.copy(bucket, "src", bucket, "none", tags={})
        assert await store.get_tagging(bucket, "none") == {}
        moved = await store.copy(bucket, "src", bucket, "guarded", if_none_match="*")
        assert (moved.tag_count, await store.get_tagging(bucket, "guarded")) == (
            2,
            {"a": "1", "b": "2"},
        )

    async def test_an_upload_s_tags(self, store: ObjectStore, bucket: str) -> None:
        upload_id = await store.create_multipart(bucket, "mp", tags={"stage": "raw"})
        part = await store.upload_part(bucket, "mp", upload_id, 1, chunks(b"only part"))
        info = await store.complete_multipart(bucket, "mp", upload_id, [(1, part.etag)])
        assert info.tag_count == 1
        assert await store.get_tagging(bucket, "mp") == {"stage": "raw"}
