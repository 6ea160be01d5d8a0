"""Listing the local index: range scans of the primary key, seeking past common prefixes.

Every query is `bucket = ? AND key >(=) lower [AND key < upper] ORDER BY key LIMIT n` on the
(bucket, key) primary key. When a key rolls up into a common prefix, the scan stops and
seeks to the prefix's successor, so the keys under it are never read: a page costs
O(page size) rows and queries however many keys a folder holds.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator

from lakestow.storage.common import common_prefix, successor
from lakestow.storage.local_index import OBJECT_COLUMNS, object_info
from lakestow.storage.protocol import ListPage, ObjectInfo


def list_page(
    conn: sqlite3.Connection,
    bucket: str,
    prefix: str,
    delimiter: str | None,
    start_after: str | None,
    max_keys: int,
) -> ListPage:
    """One page of objects and common prefixes after `start_after`."""
    objects: list[ObjectInfo] = []
    prefixes: list[str] = []
    last: str | None = None
    if max_keys <= 0:
        return ListPage(objects, prefixes, False, None)
    entries = _entries(conn, bucket, prefix, delimiter or None, start_after, max_keys + 1)
    for count, entry in enumerate(entries):
        if count == max_keys:
            return ListPage(objects, prefixes, True, last)
        if isinstance(entry, str):
            prefixes.append(entry)
            last = entry
        else:
            objects.append(entry)
            last = entry.key
    return ListPage(objects, prefixes, False, None)


def _entries(
    conn: sqlite3.Connection,
    bucket: str,
    prefix: str,
    delimiter: str | None,
    start_after: str | None,
    budget: int,
) -> Iterator[ObjectInfo | str]:
    """Objects and common prefixes in key order, at most `budget` of them."""
    lower, inclusive = _start(prefix, delimiter, start_after)
    upper = successor(prefix)
    while lower is not None and budget > 0:
        rows = conn.execute(*_query(bucket, lower, inclusive, upper, budget))
        seek: str | None = None
        for row in rows:
            budget -= 1
            rolled = common_prefix(row[0], prefix, delimiter)
            if rolled is None:
                yield object_info(bucket, row)
                continue
            yield rolled
            seek = successor(rolled)
            break
        else:
            return
        lower, inclusive = seek, True


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
    bucket: str, lower: str, inclusive: bool, upper: str | None, limit: int
) -> tuple[str, tuple[object, ...]]:
    compare = ">=" if inclusive else ">"
    sql = f"SELECT {OBJECT_COLUMNS} FROM objects WHERE bucket = ? AND key {compare} ?"  # noqa: S608
    params: tuple[object, ...] = (bucket, lower)
    if upper is not None:
        sql += " AND key < ?"
        params += (upper,)
    return sql + " ORDER BY key LIMIT ?", (*params, limit)
