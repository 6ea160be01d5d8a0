"""Search by name (`protocol.NameSearch`): what a key's hit is, and where a search resumes.

Every backend decides hits here, so all of them answer a search alike:

    hit_of("big/dir-123/f.csv", "big/", "dir-123")  ->  "big/dir-123/"   (a folder)
    hit_of("big/x-dir-123.csv", "big/", "dir-123")  ->  "big/x-dir-123.csv"   (a file)
    hit_of("dir-123/f.csv", "", "big")              ->  None
"""

from __future__ import annotations

from lakestow.errors import InvalidInput
from lakestow.storage.common import successor
from lakestow.storage.protocol import List, ObjectInfo, SearchHit, SearchPage

MAX_LIMIT = 5000
"""The most hits a page may hold (a store call's; the console asks for 1,000 at most)."""


def needle(text: str, limit: int) -> str:
    """`text` as it is looked for (lower case), once checked with the page's `limit`."""
    if not text:
        raise InvalidInput("give the text to search for")
    if "/" in text:
        raise InvalidInput("a search matches within one part of a path: leave out the '/'")
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput(f"a search page holds from 1 to {MAX_LIMIT} results")
    return text.lower()


def hit_of(key: str, prefix: str, needle: str) -> str | None:
    """The hit `key` makes under `prefix` for `needle` (lower case): `key` up to and including
    the first segment after `prefix` that holds `needle` (with its "/" when that segment is
    not the last), or None when no segment does."""
    if needle not in key[len(prefix) :].lower():  # no "/" in it: within one segment, if at all
        return None
    start = len(prefix)
    while True:
        end = key.find("/", start)
        if needle in (key[start:] if end < 0 else key[start:end]).lower():
            return key if end < 0 else key[: end + 1]
        start = end + 1


def resume(prefix: str, needle: str, start_after: str | None) -> tuple[str, bool] | None:
    """Where the keys of a search after `start_after` begin: a key, and whether it is
    included; None when none can follow. Every key below a folder hit is that hit, so a
    `start_after` at or below one resumes past all of them."""
    if start_after is None or start_after < prefix:
        return prefix, True
    hit = hit_of(start_after, prefix, needle) if start_after.startswith(prefix) else None
    if hit is not None and hit.endswith("/"):
        past = successor(hit)
        return None if past is None else (past, True)
    return start_after, False


class Hits:
    """The hits made by keys offered in key order: distinct, until one more than `limit`
    shows that the page is truncated."""

    def __init__(self, prefix: str, needle: str, limit: int, floor: str | None = None) -> None:
        self.prefix, self.needle, self.limit = prefix, needle, limit
        self.floor = floor
        """Hits up to it (a page's `start_after`) are not taken: when the keys offered
        begin below a folder hit that is."""
        self.found: list[SearchHit] = []

    @property
    def full(self) -> bool:
        return len(self.found) > self.limit

    def new_hit(self, key: str) -> str | None:
        """The hit that offering `key` would add, if any."""
        hit = hit_of(key, self.prefix, self.needle)
        if hit is None or (self.found and self.found[-1].key == hit):
            return None
        if self.floor is not None and hit <= self.floor:
            return None
        return hit

    def offer(self, key: str, info: ObjectInfo | None = None) -> str | None:
        """Take `key` (and its object's `info`); the folder it made a new hit of, if it did."""
        hit = self.new_hit(key)
        if hit is None:
            return None
        folder = hit.endswith("/")
        self.found.append(SearchHit(hit, None if folder else info))
        return hit if folder else None

    def page(self, stopped_at: str | None = None, scanned: int = 0) -> SearchPage:
        """The page: truncated after `limit` hits when there are more, else partial when the
        search `stopped_at` a key before the end of the prefix."""
        if self.full:
            kept = self.found[: self.limit]
            return SearchPage(kept, kept[-1].key, scanned=scanned)
        return SearchPage(self.found, stopped_at, stopped_at is not None, scanned)


async def scan(
    store: List,
    bucket: str,
    prefix: str,
    text: str,
    *,
    start_after: str | None,
    limit: int,
    budget: int,
) -> SearchPage:
    """A search answered by listing the keys under `prefix` in order, at most `budget` of
    them a call (then the page is partial), for a store that keeps no index of names. The
    keys below a folder hit are listed too (an S3 listing cannot seek past a prefix), and
    count toward the budget; so are those below a folder hit that the page before ended
    with."""
    hits = Hits(prefix, needle(text, limit), limit, floor=start_after)
    after = start_after if start_after is not None and start_after > prefix else None
    scanned = 0
    while scanned < budget:
        page = await store.list(
            bucket, prefix=prefix, start_after=after, max_keys=min(1000, budget - scanned)
        )
        for info in page.objects:
            scanned, after = scanned + 1, info.key
            hits.offer(info.key, info)
            if hits.full:
                return hits.page(scanned=scanned)
        if not page.is_truncated or not page.objects:
            return hits.page(scanned=scanned)
    return hits.page(after, scanned)
