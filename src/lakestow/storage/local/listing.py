"""Listing the local index: range scans of the primary key, seeking past common prefixes.

Every lookup is a range of the (bucket, key) primary key, `key >(=) lower [AND key < upper]`.
Without a delimiter a page is one range scan. With one, the page starts as a range scan too:
sub-folders holding a key or two each (and the objects beside them) are cheapest read in
order, about 1 µs a row. The first common prefix found to hold more than `RUN` keys hands
the rest of the page to a recursive query that, at a key that rolls up into a common prefix,
seeks straight to the prefix's successor, so the keys under it are never read (about 3 µs a
step): a page costs O(page size) rows and index seeks, however many keys a folder holds.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from operator import itemgetter
from typing import Any

from lakestow.storage.common import common_prefix, successor
from lakestow.storage.local.index import LISTED_COLUMNS, object_info
from lakestow.storage.protocol import ListPage, ObjectInfo

RUN = 3  # keys of one common prefix read in a row before seeking past the rest
_ROW_COLUMNS = ", ".join(
    name if name == "NULL" else f"o.{name}"
    for name in (column.strip() for column in LISTED_COLUMNS.split(",")[1:])
)

# walk: the first key in range, then after each key the next one: the next key for an
# object, the first key past every key under it for a common prefix (which is the key's
# start up to its delimiter, followed by the delimiter's successor). Then each object's row.
_WALK = """
WITH RECURSIVE walk(key) AS (
    SELECT (SELECT key FROM objects WHERE bucket = :bucket AND key >= :lower{upper}
            ORDER BY key LIMIT 1)
    UNION ALL
    SELECT CASE WHEN instr(substr(walk.key, :start), :delimiter) > 0 THEN (
        SELECT o.key FROM objects o WHERE o.bucket = :bucket AND o.key >=
            substr(walk.key, 1, :start + instr(substr(walk.key, :start), :delimiter) - 2)
            || :after_delimiter{o_upper}
        ORDER BY o.key LIMIT 1)
    ELSE (
        SELECT o.key FROM objects o WHERE o.bucket = :bucket AND o.key > walk.key{o_upper}
        ORDER BY o.key LIMIT 1)
    END
    FROM walk WHERE walk.key IS NOT NULL LIMIT :budget
)
SELECT walk.key, {columns} FROM walk LEFT JOIN objects o
    ON instr(substr(walk.key, :start), :delimiter) = 0
    AND o.bucket = :bucket AND o.key = walk.key
WHERE walk.key IS NOT NULL
"""


def list_page(
    conn: sqlite3.Connection,
    bucket: str,
    prefix: str,
    delimiter: str | None,
    start_after: str | None,
    max_keys: int,
) -> ListPage:
    """One page of objects and common prefixes after `start_after`."""
    if max_keys <= 0:
        return ListPage([], [], False, None)
    entries = _entries(conn, bucket, prefix, delimiter or None, start_after, max_keys + 1)
    truncated = len(entries) > max_keys
    if truncated:
        del entries[max_keys:]
    objects = [entry for entry in entries if not isinstance(entry, str)]
    prefixes = [entry for entry in entries if isinstance(entry, str)]
    last = entries[-1] if truncated else None
    after = last.key if isinstance(last, ObjectInfo) else last
    return ListPage(objects, prefixes, truncated, after)


def _entries(
    conn: sqlite3.Connection,
    bucket: str,
    prefix: str,
    delimiter: str | None,
    start_after: str | None,
    budget: int,
) -> list[ObjectInfo | str]:
    """Objects and common prefixes in key order, at most `budget` of them."""
    lower, inclusive = _start(prefix, delimiter, start_after)
    if lower is None:
        return []
    upper = successor(prefix)
    if delimiter is None:
        rows = conn.execute(*_query(bucket, lower, inclusive, upper, budget))
        return [object_info(bucket, row) for row in rows]
    # The scan reads keys alone (a column costs more to hand to Python than a row costs to
    # step) and takes the objects' rows afterwards, in a second statement of the same read.
    found: list[ObjectInfo | str] = []
    objects: list[int] = []  # where in `found` each object goes
    start, width = len(prefix), len(delimiter)
    current, seen = None, 0
    keys = conn.execute(*_query(bucket, lower, inclusive, upper, -1, columns="key"))
    try:
        for (key,) in keys:
            if current is not None and key.startswith(current):
                seen += 1
                if seen > RUN:
                    break
                continue
            at = key.find(delimiter, start)
            if at < 0:
                objects.append(len(found))
                found.append(key)
            else:
                current, seen = key[: at + width], 1
                found.append(current)
            if len(found) == budget:
                break
        else:
            current = None  # the range is exhausted: nothing left to walk
    finally:
        keys.close()
    if objects:
        _fill_objects(conn, bucket, found, objects, start, delimiter)
    if current is not None and len(found) < budget:
        past = successor(current)
        if past is not None:
            found += _walk(conn, bucket, prefix, delimiter, past, upper, budget - len(found))
    return found


def _fill_objects(
    conn: sqlite3.Connection,
    bucket: str,
    found: list[ObjectInfo | str],
    objects: list[int],
    start: int,
    delimiter: str,
) -> None:
    """Replace the scanned objects' keys in `found` by their rows: every key between the
    first and the last of them that does not roll up is one of them."""
    first, last = found[objects[0]], found[objects[-1]]
    rows = conn.execute(
        f"SELECT {LISTED_COLUMNS} FROM objects WHERE bucket = ? AND key >= ? AND key <= ? "  # noqa: S608
        "AND instr(substr(key, ?), ?) = 0 ORDER BY key",
        (bucket, first, last, start + 1, delimiter),
    ).fetchall()
    if [row[0] for row in rows] != [found[at] for at in objects]:
        raise RuntimeError("the index changed within one read transaction")
    for at, row in zip(objects, rows, strict=True):
        found[at] = object_info(bucket, row)


def _walk(
    conn: sqlite3.Connection,
    bucket: str,
    prefix: str,
    delimiter: str,
    lower: str,
    upper: str | None,
    budget: int,
) -> list[ObjectInfo | str]:
    """Entries from `lower` (inclusive) on, seeking past each common prefix, in one query."""
    after_delimiter = successor(delimiter)
    if after_delimiter is None:  # a delimiter made of U+10FFFF only
        return list(_seek_by_step(conn, bucket, prefix, delimiter, lower, True, budget))
    sql = _WALK.format(
        upper="" if upper is None else " AND key < :upper",
        o_upper="" if upper is None else " AND o.key < :upper",
        columns=_ROW_COLUMNS,
    )
    params = {
        "bucket": bucket,
        "lower": lower,
        "upper": upper,
        "start": len(prefix) + 1,
        "delimiter": delimiter,
        "after_delimiter": after_delimiter,
        "budget": budget,
    }
    rows: list[Any] = conn.execute(sql, params).fetchall()
    rows.sort(key=itemgetter(0))  # in walk order already; code point order is SQLite's
    entries: list[ObjectInfo | str] = []
    for row in rows:
        rolled = common_prefix(row[0], prefix, delimiter)
        entries.append(object_info(bucket, row) if rolled is None else rolled)
    return entries


def _seek_by_step(
    conn: sqlite3.Connection,
    bucket: str,
    prefix: str,
    delimiter: str,
    lower: str,
    inclusive: bool,
    budget: int,
) -> Iterator[ObjectInfo | str]:
    """The walk in Python, one query per common prefix, for when SQL cannot write a
    prefix's successor."""
    upper = successor(prefix)
    seek: str | None = lower
    while seek is not None and budget > 0:
        rows = conn.execute(*_query(bucket, seek, inclusive, upper, budget))
        seek = None
        for row in rows:
            budget -= 1
            rolled = common_prefix(row[0], prefix, delimiter)
            if rolled is None:
                yield object_info(bucket, row)
                continue
            yield rolled
            seek, inclusive = successor(rolled), True
            break


def _start(prefix: str, delimiter: str | None, start_after: str | None) -> tuple[str | None, bool]:
    """Where the scan begins (and whether inclusively).

    A `start_after` inside a common prefix (or equal to one: a continuation) skips the whole
    prefix, which sorts before it.
    """
    if start_after is None or start_after < prefix:
        return prefix, True
    rolled = common_prefix(start_after, prefix, delimiter)
    if rolled is not None and start_after.startswith(prefix):
        return successor(rolled), True
    return start_after, False


def _query(
    bucket: str,
    lower: str,
    inclusive: bool,
    upper: str | None,
    limit: int,
    columns: str = LISTED_COLUMNS,
) -> tuple[str, tuple[object, ...]]:
    compare = ">=" if inclusive else ">"
    sql = f"SELECT {columns} FROM objects WHERE bucket = ? AND key {compare} ?"  # noqa: S608
    params: tuple[object, ...] = (bucket, lower)
    if upper is not None:
        sql += " AND key < ?"
        params += (upper,)
    return sql + " ORDER BY key LIMIT ?", (*params, limit)
