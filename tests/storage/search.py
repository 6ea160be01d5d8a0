"""The search conformance suite: `NameSearch` as every store that offers it must answer.

A backend's test module imports `TestSearch` and `TestSearchModel` beside the classes of
`conformance`. The model test writes random keys (folders, folder markers, a key beside a
folder of the same name, mixed case) and pages through searches of random texts, prefixes,
page sizes and starting points, against a brute-force model written from the protocol's
words (not from `storage.names`).
"""

from __future__ import annotations

from typing import ClassVar, cast

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lakestow.errors import InvalidInput
from lakestow.storage import ObjectStore
from lakestow.storage.protocol import ENABLED, NameSearch, SearchHit, SearchPage
from storage.conformance import StoreSuite, chunks, new_bucket, put_keys, raises


def searcher(store: ObjectStore) -> NameSearch:
    assert isinstance(store, NameSearch)
    return cast(NameSearch, store)


def model(keys: list[str], prefix: str, text: str, start_after: str | None = None) -> list[str]:
    """Every hit, by the protocol's words: the key up to the first segment after the prefix
    that holds the text, any case; distinct, in order, after `start_after`."""
    hits = set()
    for key in keys:
        if not key.startswith(prefix):
            continue
        segments = key[len(prefix) :].split("/")
        for at, segment in enumerate(segments):
            if text.lower() in segment.lower():
                last = at == len(segments) - 1
                hits.add(prefix + "/".join(segments[: at + 1]) + ("" if last else "/"))
                break
    return sorted(h for h in hits if start_after is None or h > start_after)


async def every_hit(
    store: ObjectStore,
    bucket: str,
    prefix: str,
    text: str,
    limit: int = 1000,
    start_after: str | None = None,
) -> list[str]:
    """The key of every hit, following the pages (and checking each one's promises)."""
    hits = await all_hits(store, bucket, prefix, text, limit, start_after)
    return [hit.key for hit in hits]


async def all_hits(
    store: ObjectStore,
    bucket: str,
    prefix: str,
    text: str,
    limit: int = 1000,
    start_after: str | None = None,
) -> list[SearchHit]:
    """Every hit, following the pages (and checking each one's promises)."""
    found: list[SearchHit] = []
    after = start_after
    for _ in range(10_000):
        page = await searcher(store).search(bucket, prefix, text, start_after=after, limit=limit)
        keys = [hit.key for hit in page.hits]
        assert len(keys) <= limit and keys == sorted(set(keys)), keys
        assert not keys or after is None or keys[0] > after, "a page went back"
        for hit in page.hits:
            assert (hit.info is None) == hit.key.endswith("/")
            assert hit.info is None or hit.info.key == hit.key
        found += page.hits
        if page.next_start_after is None:
            return found
        if not page.partial:
            assert len(keys) == limit and page.next_start_after == keys[-1]
        after = page.next_start_after
    raise AssertionError("the pages never ended")


async def first_page(store: ObjectStore, bucket: str, prefix: str, text: str) -> SearchPage:
    return await searcher(store).search(bucket, prefix, text)


@pytest.mark.anyio
class TestSearch(StoreSuite):
    KEYS: ClassVar[list[str]] = [
        "big/dir-123/a.csv",
        "big/dir-123/b.csv",
        "big/dir-1234/c.csv",
        "big/dir-124/",
        "big/notes-DIR-123.txt",
        "big/x/y/z-dir-123-end.csv",
        "big/x/y/other.csv",
        "bigger/dir-123/d.csv",
        "dir-123",
    ]

    async def test_folders_files_substrings_any_case(self, store: ObjectStore, bucket: str) -> None:
        await put_keys(store, bucket, self.KEYS)
        hits = await all_hits(store, bucket, "big/", "dir-123")
        assert [h.key for h in hits] == [
            "big/dir-123/",
            "big/dir-1234/",
            "big/notes-DIR-123.txt",
            "big/x/y/z-dir-123-end.csv",
        ]
        files = [h.info for h in hits if h.info is not None]
        assert [(i.key, i.size) for i in files] == [
            ("big/notes-DIR-123.txt", len("big/notes-DIR-123.txt")),
            ("big/x/y/z-dir-123-end.csv", len("big/x/y/z-dir-123-end.csv")),
        ]
        assert await every_hit(store, bucket, "big/", "R-12") == [
            "big/dir-123/",
            "big/dir-1234/",
            "big/dir-124/",  # a folder marker alone
            "big/notes-DIR-123.txt",
            "big/x/y/z-dir-123-end.csv",
        ]
        assert await every_hit(store, bucket, "big/", "other") == ["big/x/y/other.csv"]
        assert await every_hit(store, bucket, "big/", "x") == ["big/notes-DIR-123.txt", "big/x/"]
        assert await every_hit(store, bucket, "", "big") == ["big/", "bigger/"]
        assert await every_hit(store, bucket, "big/", "big") == []  # the prefix is not searched
        assert await every_hit(store, bucket, "big/dir-123/", "dir") == []

    async def test_pages_give_every_hit_once_in_order(
        self, store: ObjectStore, bucket: str
    ) -> None:
        await put_keys(store, bucket, self.KEYS)
        everything = model(self.KEYS, "", "d")
        for limit in (1, 2, 3):
            assert await every_hit(store, bucket, "", "d", limit) == everything
            assert await every_hit(store, bucket, "", "dir-12", limit) == model(
                self.KEYS, "", "dir-12"
            )
        after_folder = await every_hit(store, bucket, "big/", "dir-12", 1, "big/dir-123/")
        assert after_folder == model(self.KEYS, "big/", "dir-12", "big/dir-123/")
        inside = await every_hit(store, bucket, "big/", "dir-12", 5, "big/dir-123/a.csv")
        assert inside == model(self.KEYS, "big/", "dir-12", "big/dir-123/a.csv")

    async def test_deletes_and_delete_markers_hide_a_name(
        self, store: ObjectStore, bucket: str
    ) -> None:
        await store.put_versioning(bucket, ENABLED)
        await put_keys(store, bucket, ["v/needle-1", "v/needle-2", "v/hay"])
        await store.delete(bucket, "v/needle-1")  # a delete marker: the latest
        assert await every_hit(store, bucket, "v/", "needle") == ["v/needle-2"]
        await store.put(bucket, "v/needle-1", chunks(b"back"))
        assert await every_hit(store, bucket, "v/", "needle") == ["v/needle-1", "v/needle-2"]

    async def test_bad_texts_are_refused(self, store: ObjectStore, bucket: str) -> None:
        for text in ("", "a/b"):
            with raises(InvalidInput, "InvalidArgument"):
                await first_page(store, bucket, "", text)
        with raises(InvalidInput, "InvalidArgument"):
            await searcher(store).search(bucket, "", "abc", limit=0)


SEGMENTS = ["a", "B", "ab", "Abc", "abcd", "x-abc", "zz", "é", "É", "a.b", "-", "q"]


@st.composite
def search_cases(draw: st.DrawFn) -> tuple[list[str], list[tuple[str, str, int, str | None]]]:
    paths = st.lists(st.sampled_from(SEGMENTS), min_size=1, max_size=4)
    keys = draw(
        st.lists(
            st.builds(
                lambda p, marker: "/".join(p) + ("/" if marker else ""), paths, st.booleans()
            ),
            min_size=1,
            max_size=30,
            unique=True,
        )
    )
    prefixes = st.sampled_from(["", "a/", "ab/", "Abc/a/", "a", "x"])
    texts = st.sampled_from(["a", "ab", "abc", "ABC", "bcd", "x-a", "é", "zz", "-", "q", "nope"])
    after = st.one_of(st.none(), st.sampled_from(keys), st.sampled_from(["a/", "ab", "Abc/"]))
    queries = st.lists(
        st.tuples(prefixes, texts, st.sampled_from([1, 2, 3, 1000]), after),
        min_size=1,
        max_size=4,
    )
    return keys, draw(queries)


@pytest.mark.anyio
class TestSearchModel(StoreSuite):
    @settings(
        max_examples=20,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(case=search_cases())
    async def test_matches_model(
        self, store: ObjectStore, case: tuple[list[str], list[tuple[str, str, int, str | None]]]
    ) -> None:
        keys, queries = case
        bucket = await new_bucket(store)
        await put_keys(store, bucket, keys)
        for prefix, text, limit, after in queries:
            got = await every_hit(store, bucket, prefix, text, limit, after)
            assert got == model(keys, prefix, text, after), (prefix, text, limit, after)
