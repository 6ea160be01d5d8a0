"""The versioning conformance suite: S3 versioning as every `ObjectStore` that keeps versions
must do it ("Retaining multiple versions of objects" in the S3 User Guide). A backend's test
module imports `TestVersioning` and `TestVersionsModel` beside the classes of `conformance`.

The model test drives random writes and deletes (with and without version ids) over a few
keys and checks every versions listing, paged with any page size, prefix and delimiter,
against a brute-force model built from what the store answered.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import anyio
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from lakestow.errors import (
    AlreadyExists,
    InvalidInput,
    InvalidRequest,
    LakestowError,
    NotFound,
    Unsupported,
)
from lakestow.storage import ObjectStore
from lakestow.storage.protocol import (
    ENABLED,
    NULL_VERSION,
    SUSPENDED,
    Deleted,
    ObjectInfo,
    VersionInfo,
)
from storage.conformance import StoreSuite, chunks, fetch, new_bucket, raises, read

EPOCH = datetime.fromtimestamp(0, UTC)


async def put(store: ObjectStore, bucket: str, key: str, body: bytes) -> ObjectInfo:
    return await store.put(bucket, key, chunks(body))


async def versioned(store: ObjectStore) -> str:
    bucket = await new_bucket(store)
    await store.put_versioning(bucket, ENABLED)
    return bucket


async def all_versions(store: ObjectStore, bucket: str, **options: object) -> list[VersionInfo]:
    """Every version, following the markers a page hands back."""
    found: list[VersionInfo] = []
    key_marker = version_marker = None
    while True:
        page = await store.list_versions(
            bucket,
            key_marker=key_marker,
            version_id_marker=version_marker,
            **options,  # type: ignore[arg-type]
        )
        found += page.versions
        if not page.is_truncated:
            return found
        assert page.next_key_marker is not None
        key_marker, version_marker = page.next_key_marker, page.next_version_id_marker


def shape(versions: Sequence[VersionInfo]) -> list[tuple[str, str | None, bool, bool]]:
    return [(v.info.key, v.info.version_id, v.is_latest, v.delete_marker) for v in versions]


@pytest.mark.anyio
class TestVersioning(StoreSuite):
    async def test_versioning_is_never_set_then_enabled_then_suspended(
        self, store: ObjectStore, bucket: str
    ) -> None:
        assert await store.get_versioning(bucket) is None
        await store.put_versioning(bucket, ENABLED)
        assert await store.get_versioning(bucket) == ENABLED
        await store.put_versioning(bucket, SUSPENDED)
        assert await store.get_versioning(bucket) == SUSPENDED
        with pytest.raises(InvalidInput):
            await store.put_versioning(bucket, "Disabled")
        assert await store.get_versioning(bucket) == SUSPENDED
        with raises(NotFound, "NoSuchBucket"):
            await store.get_versioning("no-such-bucket-here")
        with raises(NotFound, "NoSuchBucket"):
            await store.put_versioning("no-such-bucket-here", ENABLED)

    async def test_a_bucket_never_versioned_has_no_version_ids(
        self, store: ObjectStore, bucket: str
    ) -> None:
        info = await put(store, bucket, "k", b"one")
        assert info.version_id is None
        assert (await store.head(bucket, "k")).version_id is None
        assert (await store.get(bucket, "k")).info.version_id is None
        # A versions listing names what it shows: the null version, the latest.
        assert shape(await all_versions(store, bucket)) == [("k", NULL_VERSION, True, False)]
        assert await store.delete(bucket, "k") == Deleted()
        with raises(NotFound, "NoSuchKey"):
            await store.head(bucket, "k")
        assert await all_versions(store, bucket) == []

    async def test_each_write_is_a_version_and_each_is_readable(self, store: ObjectStore) -> None:
        bucket = await versioned(store)
        first = await put(store, bucket, "k", b"first")
        second = await put(store, bucket, "k", b"second!")
        ids = [first.version_id, second.version_id]
        assert None not in ids and NULL_VERSION not in ids and ids[0] != ids[1]
        assert await fetch(store, bucket, "k") == b"second!"
        old = await store.get(bucket, "k", version_id=first.version_id)
        assert (await read(old), old.info.version_id) == (b"first", first.version_id)
        head = await store.head(bucket, "k", version_id=first.version_id)
        assert (head.size, head.etag, head.version_id) == (5, first.etag, first.version_id)
        assert (await store.head(bucket, "k")).version_id == second.version_id
        ranged = await store.get(bucket, "k", version_id=first.version_id, byte_range=(1, 2))
        assert await read(ranged) == b"ir"
        assert shape(await all_versions(store, bucket)) == [
            ("k", second.version_id, True, False),
            ("k", first.version_id, False, False),
        ]
        listed = await store.list(bucket)  # the current listing shows the latest only
        assert [(o.key, o.size) for o in listed.objects] == [("k", 7)]

    async def test_a_delete_makes_a_marker_and_removing_it_brings_the_object_back(
        self, store: ObjectStore
    ) -> None:
        bucket = await versioned(store)
        kept = await put(store, bucket, "k", b"kept")
        deleted = await store.delete(bucket, "k")
        assert deleted.delete_marker and deleted.version_id not in (None, kept.version_id)
        marker = deleted.version_id
        for read_it in (store.head(bucket, "k"), store.get(bucket, "k")):
            with raises(NotFound, "NoSuchKey") as caught:
                await read_it
            headers = caught.value.headers
            assert headers["x-amz-delete-marker"] == "true"
            assert headers["x-amz-version-id"] == marker
        for read_it in (
            store.head(bucket, "k", version_id=marker),
            store.get(bucket, "k", version_id=marker),
        ):
            with raises(Unsupported, "MethodNotAllowed") as caught:
                await read_it
            assert caught.value.headers["x-amz-delete-marker"] == "true"
        assert (await store.list(bucket)).objects == []
        assert shape(await all_versions(store, bucket)) == [
            ("k", marker, True, True),
            ("k", kept.version_id, False, False),
        ]
        assert await fetch_version(store, bucket, "k", kept.version_id) == b"kept"
        # Deleting a marker is for good, and the version below it is the object again.
        assert await store.delete(bucket, "k", version_id=marker) == Deleted(marker, True)
        assert await fetch(store, bucket, "k") == b"kept"
        assert [o.key for o in (await store.list(bucket)).objects] == ["k"]

    async def test_a_second_delete_makes_a_second_marker(self, store: ObjectStore) -> None:
        bucket = await versioned(store)
        await put(store, bucket, "k", b"x")
        one, two = await store.delete(bucket, "k"), await store.delete(bucket, "k")
        assert one.delete_marker and two.delete_marker and one.version_id != two.version_id
        assert [v.delete_marker for v in await all_versions(store, bucket)] == [True, True, False]
        marker = await store.delete(bucket, "never-written")  # a marker even with nothing below
        assert marker.delete_marker and marker.version_id
        listed = shape(await all_versions(store, bucket, prefix="never"))
        assert listed == [("never-written", marker.version_id, True, True)]

    async def test_deleting_the_latest_version_makes_the_one_before_current(
        self, store: ObjectStore
    ) -> None:
        bucket = await versioned(store)
        first = await put(store, bucket, "k", b"first")
        second = await put(store, bucket, "k", b"second")
        assert await store.delete(bucket, "k", version_id=second.version_id) == Deleted(
            second.version_id
        )
        assert await fetch(store, bucket, "k") == b"first"
        assert (await store.head(bucket, "k")).version_id == first.version_id
        assert shape(await all_versions(store, bucket)) == [("k", first.version_id, True, False)]
        # A noncurrent version goes without changing the current one.
        third = await put(store, bucket, "k", b"third")
        await store.delete(bucket, "k", version_id=first.version_id)
        assert await fetch(store, bucket, "k") == b"third"
        assert shape(await all_versions(store, bucket)) == [("k", third.version_id, True, False)]
        # The last version gone, the key is gone; deleting it again changes nothing.
        await store.delete(bucket, "k", version_id=third.version_id)
        with raises(NotFound, "NoSuchKey"):
            await store.head(bucket, "k")
        assert await store.delete(bucket, "k", version_id=third.version_id) == Deleted(
            third.version_id
        )
        assert await all_versions(store, bucket) == []

    async def test_versions_that_name_nothing(self, store: ObjectStore) -> None:
        bucket = await versioned(store)
        other = await put(store, bucket, "other", b"o")
        await put(store, bucket, "k", b"k")
        for read_it in (
            store.get(bucket, "k", version_id=other.version_id),
            store.head(bucket, "k", version_id=other.version_id),
            store.get(bucket, "k", version_id=NULL_VERSION),
        ):
            with raises(NotFound, "NoSuchVersion"):
                await read_it
        with pytest.raises(LakestowError) as caught:
            await store.get(bucket, "k", version_id="not a version id")
        assert caught.value.code in ("NoSuchVersion", "InvalidArgument")

    async def test_an_object_from_before_versioning_is_the_null_version(
        self, store: ObjectStore, bucket: str
    ) -> None:
        await put(store, bucket, "k", b"before")
        await store.put_versioning(bucket, ENABLED)
        assert (await store.head(bucket, "k")).version_id == NULL_VERSION
        after = await put(store, bucket, "k", b"after")
        assert after.version_id not in (None, NULL_VERSION)
        assert await fetch_version(store, bucket, "k", NULL_VERSION) == b"before"
        assert shape(await all_versions(store, bucket)) == [
            ("k", after.version_id, True, False),
            ("k", NULL_VERSION, False, False),
        ]

    async def test_a_suspended_bucket_writes_the_null_version_over_itself(
        self, store: ObjectStore
    ) -> None:
        bucket = await versioned(store)
        kept = await put(store, bucket, "k", b"kept")
        await store.put_versioning(bucket, SUSPENDED)
        one = await put(store, bucket, "k", b"null one")
        assert one.version_id == NULL_VERSION
        two = await put(store, bucket, "k", b"null two")  # replaces the null version
        assert two.version_id == NULL_VERSION
        assert await fetch(store, bucket, "k") == b"null two"
        assert shape(await all_versions(store, bucket)) == [
            ("k", NULL_VERSION, True, False),
            ("k", kept.version_id, False, False),
        ]
        # A delete makes a null marker, which replaces the null version.
        assert await store.delete(bucket, "k") == Deleted(NULL_VERSION, True)
        assert shape(await all_versions(store, bucket)) == [
            ("k", NULL_VERSION, True, True),
            ("k", kept.version_id, False, False),
        ]
        assert await fetch_version(store, bucket, "k", kept.version_id) == b"kept"

    async def test_copies_and_part_copies_read_a_version(
        self, store: ObjectStore, part_size: int
    ) -> None:
        bucket = await versioned(store)
        old_body = bytes(range(256)) * (part_size // 256 + 1)
        old = await put(store, bucket, "src", old_body)
        await put(store, bucket, "src", b"new")
        copied = await store.copy(bucket, "src", bucket, "dst", src_version_id=old.version_id)
        assert copied.version_id not in (None, NULL_VERSION, old.version_id)
        assert await fetch(store, bucket, "dst") == old_body
        assert (copied.etag, copied.size) == (old.etag, old.size)
        upload = await store.create_multipart(bucket, "parts")
        part = await store.upload_part_copy(
            bucket, "parts", upload, 1, bucket, "src", (0, 9), src_version_id=old.version_id
        )
        done = await store.complete_multipart(bucket, "parts", upload, [(1, part.etag)])
        assert done.version_id not in (None, NULL_VERSION)
        assert await fetch(store, bucket, "parts") == old_body[:10]
        marker = await store.delete(bucket, "src")
        with pytest.raises((InvalidRequest, Unsupported, NotFound)):
            await store.copy(bucket, "src", bucket, "x", src_version_id=marker.version_id)
        with raises(NotFound, "NoSuchKey"):
            await store.copy(bucket, "src", bucket, "x")  # its latest is a marker

    async def test_delete_many_with_version_ids(self, store: ObjectStore) -> None:
        bucket = await versioned(store)
        a1 = await put(store, bucket, "a", b"1")
        a2 = await put(store, bucket, "a", b"2")
        await put(store, bucket, "b", b"b")
        results = await store.delete_many(
            bucket, ["a", "b", "c"], version_ids=[a1.version_id, None, None]
        )
        assert results[0] == Deleted(a1.version_id)
        assert all(isinstance(r, Deleted) and r.delete_marker for r in results[1:])
        assert await fetch(store, bucket, "a") == b"2"
        with raises(NotFound, "NoSuchKey"):
            await store.head(bucket, "b")
        assert shape(await all_versions(store, bucket, prefix="a")) == [
            ("a", a2.version_id, True, False)  # a1 is gone for good, a2 untouched
        ]

    async def test_a_completed_upload_is_a_version(self, store: ObjectStore) -> None:
        bucket = await versioned(store)
        before = await put(store, bucket, "k", b"before")
        upload = await store.create_multipart(bucket, "k")
        part = await store.upload_part(bucket, "k", upload, 1, chunks(b"after"))
        done = await store.complete_multipart(bucket, "k", upload, [(1, part.etag)])
        assert done.version_id not in (None, NULL_VERSION, before.version_id)
        assert await fetch_version(store, bucket, "k", before.version_id) == b"before"
        assert await fetch(store, bucket, "k") == b"after"

    async def test_a_bucket_with_versions_is_not_empty(self, store: ObjectStore) -> None:
        bucket = await versioned(store)
        kept = await put(store, bucket, "k", b"x")
        marker = await store.delete(bucket, "k")
        with raises(AlreadyExists, "BucketNotEmpty"):  # a marker and a version
            await store.delete_bucket(bucket)
        await store.delete(bucket, "k", version_id=kept.version_id)
        with raises(AlreadyExists, "BucketNotEmpty"):  # a marker alone
            await store.delete_bucket(bucket)
        await store.delete(bucket, "k", version_id=marker.version_id)
        await store.delete_bucket(bucket)

    async def test_a_version_being_read_survives_its_removal(self, store: ObjectStore) -> None:
        bucket = await versioned(store)
        body = bytes(range(256)) * 4096  # 1 MiB: streamed, not inline
        old = await put(store, bucket, "k", body)
        await put(store, bucket, "k", b"new")
        reading = await store.get(bucket, "k", version_id=old.version_id)
        await store.delete(bucket, "k", version_id=old.version_id)
        assert await read(reading) == body

    async def test_listing_versions_with_prefix_delimiter_and_markers(
        self, store: ObjectStore
    ) -> None:
        bucket = await versioned(store)
        a = [await put(store, bucket, "dir/a", bytes([n])) for n in range(3)]
        await put(store, bucket, "dir/sub/x", b"x")
        b = await put(store, bucket, "dir/b", b"b")
        await put(store, bucket, "top", b"t")
        page = await store.list_versions(bucket, prefix="dir/", delimiter="/")
        assert page.common_prefixes == ["dir/sub/"]
        assert shape(page.versions) == [
            ("dir/a", a[2].version_id, True, False),
            ("dir/a", a[1].version_id, False, False),
            ("dir/a", a[0].version_id, False, False),
            ("dir/b", b.version_id, True, False),
        ]
        first = await store.list_versions(bucket, prefix="dir/", max_keys=2)
        assert first.is_truncated and len(first.versions) == 2
        assert (first.next_key_marker, first.next_version_id_marker) == ("dir/a", a[1].version_id)
        rest = await store.list_versions(
            bucket, prefix="dir/", key_marker="dir/a", version_id_marker=a[1].version_id
        )
        assert [v.info.version_id for v in rest.versions][:2] == [a[0].version_id, b.version_id]
        after_a = await store.list_versions(bucket, key_marker="dir/a")  # all of dir/a skipped
        assert [v.info.key for v in after_a.versions] == ["dir/b", "dir/sub/x", "top"]
        sizes = [v.info.size for v in page.versions]
        assert sizes == [1, 1, 1, 1] and all(v.info.etag for v in page.versions)


async def fetch_version(store: ObjectStore, bucket: str, key: str, version_id: str | None) -> bytes:
    return await read(await store.get(bucket, key, version_id=version_id))


@dataclass
class Model:
    """What a versioned bucket holds, from what the store answered: per key, its versions
    newest first, each (version id, is a marker)."""

    keys: dict[str, list[tuple[str, bool]]]

    def listing(
        self, prefix: str, delimiter: str | None
    ) -> tuple[list[tuple[str, str, bool, bool]], list[str]]:
        versions, prefixes = [], []
        for key in sorted(self.keys, key=lambda k: k.encode()):
            if not key.startswith(prefix):
                continue
            if delimiter and delimiter in key[len(prefix) :]:
                rolled = key[: key.index(delimiter, len(prefix)) + len(delimiter)]
                if rolled not in prefixes:
                    prefixes.append(rolled)
                continue
            for n, (version_id, marker) in enumerate(self.keys[key]):
                versions.append((key, version_id, n == 0, marker))
        return versions, prefixes


Step = tuple[str, str, int]  # (put | delete | remove, key, which version to remove)
KEYS = ["a", "a/b", "a/c/d", "b", "ab"]


def model_test(max_examples: int, shrink: bool = True) -> Any:
    """The model test, run `max_examples` times (an upstream reached over HTTP takes a few
    seconds an example, a local store milliseconds); `shrink=False` for an expected failure,
    whose shrinking would only cost the upstream's time."""

    @settings(
        max_examples=max_examples,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
        phases=tuple(Phase) if shrink else (Phase.explicit, Phase.reuse, Phase.generate),
    )
    @given(
        steps=st.lists(
            st.tuples(
                st.sampled_from(["put", "put", "delete", "remove"]),
                st.sampled_from(KEYS),
                st.integers(0, 5),
            ),
            max_size=40,
        ),
        max_keys=st.integers(1, 7),
        prefix=st.sampled_from(["", "a", "a/", "b"]),
        delimiter=st.sampled_from([None, "/"]),
    )
    async def test_matches_model(
        self,
        store: ObjectStore,
        steps: list[Step],
        max_keys: int,
        prefix: str,
        delimiter: str | None,
    ) -> None:
        bucket = await versioned(store)
        model = Model({})
        for action, key, which in steps:
            versions = model.keys.setdefault(key, [])
            if action == "put":
                info = await put(store, bucket, key, key.encode())
                assert info.version_id is not None
                versions.insert(0, (info.version_id, False))
            elif action == "delete":
                deleted = await store.delete(bucket, key)
                assert deleted.delete_marker and deleted.version_id is not None
                versions.insert(0, (deleted.version_id, True))
            elif versions:
                version_id, marker = versions.pop(which % len(versions))
                assert await store.delete(bucket, key, version_id=version_id) == Deleted(
                    version_id, marker
                )
            if not versions:
                del model.keys[key]
        want_versions, want_prefixes = model.listing(prefix, delimiter)
        got_versions: list[tuple[str, str | None, bool, bool]] = []
        got_prefixes: list[str] = []
        key_marker = version_marker = None
        while True:
            page = await store.list_versions(
                bucket,
                prefix=prefix,
                delimiter=delimiter,
                key_marker=key_marker,
                version_id_marker=version_marker,
                max_keys=max_keys,
            )
            assert len(page.versions) + len(page.common_prefixes) <= max_keys
            got_versions += shape(page.versions)
            got_prefixes += page.common_prefixes
            if not page.is_truncated:
                break
            key_marker, version_marker = page.next_key_marker, page.next_version_id_marker
        assert got_versions == want_versions
        assert got_prefixes == want_prefixes
        for key, versions in model.keys.items():  # the latest decides what a GET sees
            version_id, marker = versions[0]
            if marker:
                with raises(NotFound, "NoSuchKey"):
                    await store.head(bucket, key)
            else:
                assert (await store.head(bucket, key)).version_id == version_id

    return test_matches_model


@pytest.mark.anyio
class TestVersionsModel(StoreSuite):
    test_matches_model = model_test(20)


@pytest.mark.anyio
class TestRetention(StoreSuite):
    async def test_a_purge_removes_what_went_noncurrent_before_its_time_and_no_current_object(
        self, store: ObjectStore
    ) -> None:
        bucket = await versioned(store)
        old = await put(store, bucket, "dir/k", b"old")
        await put(store, bucket, "dir/k", b"current")  # "old" noncurrent from here
        gone = await put(store, bucket, "dir/gone", b"gone")
        marker = await store.delete(bucket, "dir/gone")  # "gone" noncurrent from here
        outside = await put(store, bucket, "other/k", b"1")
        await put(store, bucket, "other/k", b"2")
        await anyio.sleep(1.1)  # an upstream may keep times to the second (moto does)
        cut = datetime.now(UTC)
        await anyio.sleep(1.1)
        late = await put(store, bucket, "dir/late", b"late")
        await put(store, bucket, "dir/late", b"later")  # noncurrent after the cut: kept
        usage = await store.version_usage(bucket, prefix="dir/")
        assert (usage.current_objects, usage.current_bytes) == (2, len(b"current") + 5)
        assert (usage.retained_versions, usage.retained_bytes) == (3, 3 + 4 + 4)

        # Before the first overwrite: nothing went noncurrent then.
        assert await store.purge_versions(bucket, prefix="dir/", noncurrent_before=EPOCH) == 0
        # In batches of one: the old version, the deleted object, then its marker, alone now.
        removed = 0
        while n := await store.purge_versions(
            bucket, prefix="dir/", noncurrent_before=cut, limit=1
        ):
            removed += n
        assert removed == 3
        assert shape(await all_versions(store, bucket, prefix="dir/")) == [
            ("dir/k", (await store.head(bucket, "dir/k")).version_id, True, False),
            ("dir/late", (await store.head(bucket, "dir/late")).version_id, True, False),
            ("dir/late", late.version_id, False, False),
        ]
        assert await fetch(store, bucket, "dir/k") == b"current"
        for key, version in (("dir/k", old), ("dir/gone", gone), ("dir/gone", marker)):
            with raises(NotFound, "NoSuchVersion"):
                await store.head(bucket, key, version_id=version.version_id)
        other = await all_versions(store, bucket, prefix="other/")  # another prefix: untouched
        assert [v.info.version_id for v in other][1] == outside.version_id
        # Everything noncurrent, whenever: the current objects stay.
        await store.purge_versions(bucket, prefix="", noncurrent_before=datetime.now(UTC))
        assert [v.is_latest for v in await all_versions(store, bucket)] == [True] * 3
        assert await fetch(store, bucket, "dir/late") == b"later"
