"""Search by name in the local index (`protocol.NameSearch`), in one read transaction.

A text of 3 characters or more is looked up in the trigram index (`names_fts`): the keys
holding a cover of its trigrams (non-overlapping ones, and the last) within the prefix's key
range, with the new names not indexed yet (`names_fresh`), at most `CANDIDATES` of them (a
deleted object's name counts while its versions are kept), are taken in key order, and each
is checked as `names.hit_of` says (the index has false positives, and a match in the prefix
itself makes no hit) and, if it makes a hit, for a current object. A text of 1 or 2
characters, which no trigram covers, or one so common that more than `CANDIDATES` keys hold
it, is looked for by reading the prefix's keys in order instead, at most `SCAN_BUDGET` of
them a call: where matches are common a page fills fast; where they are rare the page ends
`partial`, and the next call goes on from there.
"""

from __future__ import annotations

import sqlite3
from dataclasses import replace

from lakestow.storage import names
from lakestow.storage.common import successor
from lakestow.storage.local.index import LISTED_COLUMNS, object_info
from lakestow.storage.protocol import SearchHit, SearchPage

CANDIDATES = 20_000
"""The most keys the trigram index may name for one search (about 10 ms to sort)."""
SCAN_BUDGET = 50_000
"""The most keys one call reads in order (about 50 ms, in a worker thread)."""
_CHUNK = 1000
_ROW = f"SELECT {LISTED_COLUMNS} FROM objects WHERE bucket = ? AND key = ?"  # noqa: S608
"""An object's row, as a listing shows it."""


def search(
    conn: sqlite3.Connection,
    bucket: str,
    prefix: str,
    text: str,
    start_after: str | None,
    limit: int,
) -> SearchPage:
    """A page of `NameSearch.search`; run it in a read transaction."""
    needle = names.needle(text, limit)
    hits = names.Hits(prefix, needle, limit)
    start = names.resume(prefix, needle, start_after)
    if start is None:
        return hits.page()
    upper = successor(prefix)
    page = None
    if len(needle) >= 3:
        page = _indexed(conn, bucket, hits, start, upper)
    if page is None:
        page = _scan(conn, bucket, hits, start, upper)
    return replace(page, hits=_with_rows(conn, bucket, page.hits))


def trigrams(needle: str) -> str:
    """An FTS5 query for the keys holding every trigram of a cover of `needle`."""
    starts = sorted({*range(0, len(needle) - 2, 3), len(needle) - 3})
    return " AND ".join('"' + needle[at : at + 3].replace('"', '""') + '"' for at in starts)


def _range(column: str, start: tuple[str, bool], upper: str | None) -> tuple[str, list[object]]:
    sql = f" AND {column} {'>=' if start[1] else '>'} ?"
    params: list[object] = [start[0]]
    if upper is not None:
        sql += f" AND {column} < ?"
        params.append(upper)
    return sql, params


def _indexed(
    conn: sqlite3.Connection,
    bucket: str,
    hits: names.Hits,
    start: tuple[str, bool],
    upper: str | None,
) -> SearchPage | None:
    """The page from the trigram index; None when it names more than CANDIDATES keys in the
    range searched. Counted in that range only, never in the whole index: whether a search
    takes this path or the scan (which may answer `partial`) must not depend on keys outside
    the range, which may be other members' (the isolation rule: the same answers as if those
    did not exist)."""
    # driven by the index; "+" keeps SQLite from scanning the names' key range instead
    within, params = _range("+n.key", start, upper)
    rows = conn.execute(
        "SELECT n.key FROM names_fts JOIN names AS n ON n.id = names_fts.rowid "  # noqa: S608
        f"WHERE names_fts MATCH ? AND +n.bucket = ?{within} LIMIT ?",
        (trigrams(hits.needle), bucket, *params, CANDIDATES + 1),
    )
    keys = [key for (key,) in rows]
    # and those of the new names not in the trigram index yet (fewer than
    # index.TRIGRAM_BATCH) that hold the text; CROSS JOIN: read them, not every name
    fresh = conn.execute(
        "SELECT n.key FROM names_fresh AS f CROSS JOIN names AS n ON n.id = f.id "  # noqa: S608
        f"WHERE +n.bucket = ?{within}",
        (bucket, *params),
    )
    keys += [key for (key,) in fresh if names.hit_of(key, hits.prefix, hits.needle)]
    if len(keys) > CANDIDATES:
        return None
    # A name outlives its object while older versions are kept (index._NAMES): a key that
    # would make a new hit is looked up (its row, which the page shows), so a page costs its
    # hits' lookups, not the candidates'.
    for key in sorted(keys):
        if hits.new_hit(key) is None:
            continue
        row = conn.execute(_ROW, (bucket, key)).fetchone()
        if row is not None:
            hits.offer(key, object_info(bucket, row))
            if hits.full:
                break
    return hits.page()


def _scan(
    conn: sqlite3.Connection,
    bucket: str,
    hits: names.Hits,
    start: tuple[str, bool],
    upper: str | None,
) -> SearchPage:
    """The page from the prefix's keys read in order, seeking past each folder hit."""
    scanned, last = 0, start[0]
    while scanned < SCAN_BUDGET:
        within, params = _range("key", start, upper)
        keys = conn.execute(
            f"SELECT key FROM objects WHERE bucket = ?{within} ORDER BY key LIMIT ?",  # noqa: S608
            (bucket, *params, min(_CHUNK, SCAN_BUDGET - scanned)),
        ).fetchall()
        if not keys:
            return hits.page(scanned=scanned)
        for (key,) in keys:
            scanned, last = scanned + 1, key
            folder = hits.offer(key)
            if hits.full:
                return hits.page(scanned=scanned)
            if folder is not None:
                start = (folder[:-1] + "0", True)  # past every key below the folder
                break
        else:
            start = (last, False)
    return hits.page(last, scanned)


def _with_rows(conn: sqlite3.Connection, bucket: str, hits: list[SearchHit]) -> list[SearchHit]:
    """`hits` with each object's row (a listing's columns)."""
    found = []
    for hit in hits:
        if hit.key.endswith("/") or hit.info is not None:
            found.append(hit)
            continue
        row = conn.execute(_ROW, (bucket, hit.key)).fetchone()
        found.append(SearchHit(hit.key, object_info(bucket, row)))
    return found
