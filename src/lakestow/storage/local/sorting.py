"""Sorted listings of the local index: a folder's direct children by size or modified time.

Two statements of one read, in a worker thread. The common prefixes first, by a recursive
query that, from each key that rolls up into a prefix, seeks past every key under it and on
to the next key holding a "/" (files between are stepped over in SQLite, not in Python). Then
the objects directly under the prefix, ordered by the column and the key from the position
given: SQLite reads every key below the prefix and keeps the best page (a heap), about 85 ms
for 100,000 files beside 100,000 keys in sub-folders; no index is needed for that. Past
SORTED_MAX keys below the prefix the store declines, and the caller sorts a page only.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from lakestow.storage.common import successor
from lakestow.storage.local.index import LISTED_COLUMNS, ROW_WIDTH, object_info
from lakestow.storage.protocol import SORT_BY, SORTED_MAX, SortedPage, SortPosition

_COLUMNS = {"size": "size", "modified": "mtime"}

_PREFIXES = """
WITH RECURSIVE walk(key) AS (
    SELECT (SELECT key FROM objects WHERE bucket = :bucket AND key >= :lower{upper}
            AND instr(substr(key, :start), '/') > 0 ORDER BY key LIMIT 1)
    UNION ALL
    SELECT (SELECT o.key FROM objects o WHERE o.bucket = :bucket AND o.key >=
            substr(walk.key, 1, :start + instr(substr(walk.key, :start), '/') - 2) || '0'{o_upper}
            AND instr(substr(o.key, :start), '/') > 0 ORDER BY o.key LIMIT 1)
    FROM walk WHERE walk.key IS NOT NULL LIMIT :budget
)
SELECT substr(key, 1, :start + instr(substr(key, :start), '/') - 1) FROM walk
WHERE key IS NOT NULL
"""
# '0' is the successor of '/': a prefix's successor is the prefix with its "/" made "0".


def sorted_page(
    conn: sqlite3.Connection,
    bucket: str,
    prefix: str,
    by: str,
    descending: bool,
    after: SortPosition | None,
    max_keys: int,
) -> SortedPage | None:
    """See `SortedListing.list_sorted`; in one read transaction."""
    if by not in SORT_BY:
        raise ValueError(f"cannot sort by {by!r}")
    if max_keys <= 0:
        return SortedPage([], [], None)
    upper = successor(prefix)
    if _below(conn, bucket, prefix, upper) > SORTED_MAX:
        return None
    prefixes: list[str] = []
    if after is None or after.value is None:
        lower = prefix if after is None else after.key[:-1] + "0"
        prefixes = _prefixes(conn, bucket, prefix, lower, upper, max_keys + 1)
        if len(prefixes) > max_keys:
            del prefixes[max_keys:]
            return SortedPage([], prefixes, SortPosition(prefixes[-1]) if prefixes else None)
        after = None
    budget = max_keys - len(prefixes)
    rows = _objects(conn, bucket, prefix, upper, by, descending, after, budget + 1)
    objects = [object_info(bucket, row) for row in rows[:budget]]
    if len(rows) <= budget:
        return SortedPage(objects, prefixes, None)
    if objects:
        last = rows[budget - 1]
        return SortedPage(objects, prefixes, SortPosition(last[0], last[ROW_WIDTH]))
    return SortedPage([], prefixes, SortPosition(prefixes[-1]) if prefixes else None)


def _below(conn: sqlite3.Connection, bucket: str, prefix: str, upper: str | None) -> int:
    """Keys below `prefix`, counted up to one past SORTED_MAX."""
    sql = "SELECT count(*) FROM (SELECT 1 FROM objects WHERE bucket = ? AND key >= ?"
    params: tuple[object, ...] = (bucket, prefix)
    if upper is not None:
        sql, params = sql + " AND key < ?", (*params, upper)
    row = conn.execute(sql + " LIMIT ?)", (*params, SORTED_MAX + 1)).fetchone()
    return int(row[0])


def _prefixes(
    conn: sqlite3.Connection,
    bucket: str,
    prefix: str,
    lower: str,
    upper: str | None,
    budget: int,
) -> list[str]:
    """The common prefixes (delimiter "/") under `prefix` from `lower` on, in key order."""
    sql = _PREFIXES.format(
        upper="" if upper is None else " AND key < :upper",
        o_upper="" if upper is None else " AND o.key < :upper",
    )
    params = {
        "bucket": bucket,
        "lower": lower,
        "upper": upper,
        "start": len(prefix) + 1,
        "budget": budget,
    }
    return [row[0] for row in conn.execute(sql, params)]


def _objects(
    conn: sqlite3.Connection,
    bucket: str,
    prefix: str,
    upper: str | None,
    by: str,
    descending: bool,
    after: SortPosition | None,
    limit: int,
) -> list[Any]:
    """Rows of the objects directly under `prefix` (their sort value last), in order, after
    `after`: ties by key, ascending whichever way the column goes."""
    column = _COLUMNS[by]
    sql = (
        f"SELECT {LISTED_COLUMNS}, {column} FROM objects WHERE bucket = ? AND key >= ? "  # noqa: S608
        "AND instr(substr(key, ?), '/') = 0"
    )
    params: tuple[object, ...] = (bucket, prefix, len(prefix) + 1)
    if upper is not None:
        sql, params = sql + " AND key < ?", (*params, upper)
    if after is not None:
        beyond = "<" if descending else ">"
        sql += f" AND ({column} {beyond} ? OR ({column} = ? AND key > ?))"
        params = (*params, after.value, after.value, after.key)
    sql += f" ORDER BY {column} {'DESC' if descending else 'ASC'}, key ASC LIMIT ?"
    return list(conn.execute(sql, (*params, limit)))
