"""Versions in the local store: S3 versioning over the index.

`objects` holds each key's latest version when that is an object, so a listing of current
objects never reads an old version, however many there are. `versions` holds every other
version and the delete markers: a key whose latest version is a marker has no `objects` row,
only its marker on top of its `versions`. Moving a version between the two moves its row, with
the references its extents hold on their blobs.

`seq` orders a key's versions, newest first (the primary key is (bucket, key, seq DESC)): it
is given when a version is made, the clock in nanoseconds or one more than the key's newest
if that is later, so it follows the order of writes even if the clock steps back. A version
id is its `seq` in 16 hex digits, so finding a version is one lookup of the primary key. The
null version (written while the bucket's versioning was never set or Suspended) has a NULL
`version_id`; a key has at most one. `superseded` is when a version stopped being the latest
(NULL for a marker that still is): what a retention period counts from.

Every function here runs inside the writer's transaction (`Txn`) or a reader's, like `ops`.
"""

from __future__ import annotations

import heapq
import itertools
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

from lakestow.errors import InvalidInput, LakestowError, NotFound, Unsupported
from lakestow.storage.common import common_prefix, no_such_bucket, no_such_key, successor
from lakestow.storage.local.index import (
    OBJECT_COLUMNS,
    ROW_WIDTH,
    StoredObject,
    load_extents,
    load_layout,
    object_info,
)
from lakestow.storage.protocol import (
    ENABLED,
    NULL_VERSION,
    SUSPENDED,
    Deleted,
    VersionInfo,
    VersionsPage,
    VersionUsage,
)

_MOVED_COLUMNS = (
    "bucket, key, seq, version_id, size, etag, mtime, content_type, metadata, parts_count, "
    "extents, checksum, tags"
)


def version_id_of(seq: int) -> str:
    return f"{seq:016x}"


def named(version_id: str | None) -> str:
    """A stored version id as S3 names it: the null version's is "null"."""
    return NULL_VERSION if version_id is None else version_id


def parse_version_id(version_id: str) -> int | None:
    """The `seq` a version id names; None for the null version."""
    if version_id == NULL_VERSION:
        return None
    if len(version_id) != 16 or any(c not in "0123456789abcdef" for c in version_id):
        raise InvalidInput("Invalid version id specified.")
    return int(version_id, 16)


def bucket_versioning(conn: sqlite3.Connection, bucket: str) -> str | None:
    """ENABLED, SUSPENDED or None (never set); NoSuchBucket for a missing bucket."""
    row = conn.execute("SELECT versioning FROM buckets WHERE name = ?", (bucket,)).fetchone()
    if row is None:
        raise no_such_bucket(bucket)
    return None if row[0] is None else str(row[0])


def set_versioning(conn: sqlite3.Connection, bucket: str, status: str) -> None:
    if status not in (ENABLED, SUSPENDED):
        raise InvalidInput(f"A bucket's versioning is Enabled or Suspended, not {status!r}.")
    bucket_versioning(conn, bucket)
    conn.execute("UPDATE buckets SET versioning = ? WHERE name = ?", (status, bucket))


def next_seq(conn: sqlite3.Connection, bucket: str, key: str) -> int:
    """A `seq` above every version of the key, from the clock when it allows."""
    newest = conn.execute(
        "SELECT max(seq) FROM (SELECT seq FROM objects WHERE bucket = ?1 AND key = ?2 "
        "UNION ALL SELECT max(seq) FROM versions WHERE bucket = ?1 AND key = ?2)",
        (bucket, key),
    ).fetchone()[0]
    return max(time.time_ns(), (newest or 0) + 1)


def archive(conn: sqlite3.Connection, bucket: str, key: str, now: float) -> None:
    """Move the key's current object, if any, to its noncurrent versions."""
    conn.execute(
        f"INSERT INTO versions ({_MOVED_COLUMNS}, marker, superseded) "  # noqa: S608
        f"SELECT {_MOVED_COLUMNS}, 0, ? FROM objects WHERE bucket = ? AND key = ?",
        (now, bucket, key),
    )
    conn.execute("DELETE FROM objects WHERE bucket = ? AND key = ?", (bucket, key))


def supersede_marker(conn: sqlite3.Connection, bucket: str, key: str, now: float) -> None:
    """The key's latest delete marker (when it has one) is no longer the latest."""
    conn.execute(
        "UPDATE versions SET superseded = ? WHERE bucket = ? AND key = ? AND superseded IS NULL",
        (now, bucket, key),
    )


def drop_null(conn: sqlite3.Connection, bucket: str, key: str) -> list[str]:
    """Remove the key's noncurrent null version, if any; the extents it released."""
    rows = conn.execute(
        "DELETE FROM versions WHERE bucket = ? AND key = ? AND version_id IS NULL "
        "RETURNING extents",
        (bucket, key),
    ).fetchall()
    return [extents for (extents,) in rows]


def put_marker(conn: sqlite3.Connection, bucket: str, key: str, seq: int, state: str) -> str:
    """A delete marker on top of the key's versions; its version id."""
    version_id = version_id_of(seq) if state == ENABLED else None
    conn.execute(
        f"INSERT INTO versions ({_MOVED_COLUMNS}, marker, superseded) "  # noqa: S608
        "VALUES (?, ?, ?, ?, 0, '', ?, '', '{}', NULL, '[]', NULL, NULL, 1, NULL)",
        (bucket, key, seq, version_id, time.time()),
    )
    return named(version_id)


def promote(conn: sqlite3.Connection, bucket: str, key: str) -> None:
    """After the latest version went: the newest left becomes the latest (back into
    `objects` when it is an object)."""
    if conn.execute("SELECT 1 FROM objects WHERE bucket = ? AND key = ?", (bucket, key)).fetchone():
        return
    top = conn.execute(
        "SELECT seq, marker FROM versions WHERE bucket = ? AND key = ? ORDER BY seq DESC LIMIT 1",
        (bucket, key),
    ).fetchone()
    if top is None:
        return
    seq, marker = top
    where = (bucket, key, seq)
    if marker:
        conn.execute(
            "UPDATE versions SET superseded = NULL WHERE bucket = ? AND key = ? AND seq = ?", where
        )
        return
    conn.execute(
        f"INSERT INTO objects ({_MOVED_COLUMNS}) SELECT {_MOVED_COLUMNS} FROM versions "  # noqa: S608
        "WHERE bucket = ? AND key = ? AND seq = ?",
        where,
    )
    conn.execute("DELETE FROM versions WHERE bucket = ? AND key = ? AND seq = ?", where)


def remove_version(
    conn: sqlite3.Connection, bucket: str, key: str, version_id: str
) -> tuple[Deleted, list[str]]:
    """Remove one version for good: what was removed, and the extents it released."""
    parse_version_id(version_id)  # a malformed id is InvalidArgument, before anything
    current = conn.execute(
        "SELECT version_id, extents FROM objects WHERE bucket = ? AND key = ?", (bucket, key)
    ).fetchone()
    if current is not None and named(current[0]) == version_id:
        conn.execute("DELETE FROM objects WHERE bucket = ? AND key = ?", (bucket, key))
        promote(conn, bucket, key)
        return Deleted(version_id), [current[1]]
    sql, params = _noncurrent(bucket, key, version_id)
    row = conn.execute(
        f"DELETE FROM versions {sql} RETURNING marker, extents",  # noqa: S608
        params,
    ).fetchone()
    if row is None:
        bucket_versioning(conn, bucket)  # NoSuchBucket; else a missing version is no error
        return Deleted(version_id), []
    promote(conn, bucket, key)
    marker, extents = row
    return Deleted(version_id, bool(marker)), [] if marker else [extents]


def _noncurrent(bucket: str, key: str, version_id: str) -> tuple[str, tuple[Any, ...]]:
    """The WHERE clause (and its parameters) of the `versions` row `version_id` names."""
    seq = parse_version_id(version_id)
    if seq is None:
        return "WHERE bucket = ? AND key = ? AND version_id IS NULL", (bucket, key)
    return "WHERE bucket = ? AND key = ? AND seq = ? AND version_id = ?", (
        bucket,
        key,
        seq,
        version_id,
    )


def missing(conn: sqlite3.Connection, bucket: str, key: str) -> LakestowError:
    """NoSuchKey for a key with no current object (NoSuchBucket for a missing bucket),
    saying so when its latest version is a delete marker, as S3 does."""
    bucket_versioning(conn, bucket)
    error = no_such_key(key)
    top = conn.execute(
        "SELECT version_id, marker FROM versions WHERE bucket = ? AND key = ? "
        "ORDER BY seq DESC LIMIT 1",
        (bucket, key),
    ).fetchone()
    if top is not None and top[1]:
        error.with_headers({"x-amz-delete-marker": "true", "x-amz-version-id": named(top[0])})
    return error


def find_version(conn: sqlite3.Connection, bucket: str, key: str, version_id: str) -> StoredObject:
    """The version `version_id` of the key: NoSuchVersion when there is none, MethodNotAllowed
    for a delete marker (as S3 answers a GET or HEAD of one)."""
    parse_version_id(version_id)  # a malformed id is InvalidArgument, before anything
    row = conn.execute(
        f"SELECT {OBJECT_COLUMNS}, extents FROM objects WHERE bucket = ? AND key = ?",  # noqa: S608
        (bucket, key),
    ).fetchone()
    marker = False
    if row is None or named(row[ROW_WIDTH - 1]) != version_id:
        sql, params = _noncurrent(bucket, key, version_id)
        row = conn.execute(
            f"SELECT {OBJECT_COLUMNS}, extents, marker FROM versions {sql}",  # noqa: S608
            params,
        ).fetchone()
        if row is None:
            bucket_versioning(conn, bucket)
            raise NotFound("The specified version does not exist.", code="NoSuchVersion")
        marker = bool(row[ROW_WIDTH + 1])
    info = replace(object_info(bucket, row), version_id=version_id)
    if marker:
        raise Unsupported(
            "The specified method is not allowed against this resource: "
            "the version is a delete marker.",
            code="MethodNotAllowed",
        ).with_headers(
            {
                "x-amz-delete-marker": "true",
                "x-amz-version-id": version_id,
                "last-modified": info.last_modified.strftime("%a, %d %b %Y %H:%M:%S GMT"),
                "allow": "DELETE",
            }
        )
    return StoredObject(info, *load_layout(row[ROW_WIDTH]))


def released(cells: list[str]) -> list[tuple[str, int, int]]:
    """The extents of `extents` cells, for the references they held."""
    return [extent for cell in cells for extent in load_extents(cell)]


# Listing versions


_Row = tuple[Any, ...]
"""OBJECT_COLUMNS, then: 1 for the current object (0 for a version), seq, marker."""


def versions_page(
    conn: sqlite3.Connection,
    bucket: str,
    prefix: str,
    delimiter: str | None,
    key_marker: str | None,
    version_id_marker: str | None,
    max_keys: int,
) -> VersionsPage:
    """One page of ListObjectVersions, in one read transaction: the current objects and the
    versions of the range, merged as they come off their primary keys (key order, then
    newest first), seeking past each common prefix. O(page) rows and seeks."""
    bucket_versioning(conn, bucket)
    if max_keys <= 0:
        return VersionsPage([], [], False)
    budget = max_keys + 1
    entries: list[VersionInfo | str] = []
    last_key: str | None = None  # the key of the last version taken: the next is not latest
    lower: str | None = prefix
    inclusive = True
    rest: Iterator[_Row] = iter(())
    if key_marker is not None and key_marker >= prefix:
        rolled = common_prefix(key_marker, prefix, delimiter) if delimiter else None
        if rolled is not None:
            lower = successor(rolled)
        else:
            lower, inclusive = key_marker, False
            if version_id_marker is not None and key_marker.startswith(prefix):
                rest, last_key = (
                    _after_version(conn, bucket, key_marker, version_id_marker, budget),
                    key_marker,
                )
    upper = successor(prefix) if prefix else None
    while lower is not None and len(entries) < budget:
        seek: str | None = None
        cursors: list[sqlite3.Cursor] = []
        rows = itertools.chain(rest, _merged(conn, bucket, lower, inclusive, upper, cursors))
        rest = iter(())
        try:
            for row in rows:
                key = row[0]
                rolled = common_prefix(key, prefix, delimiter) if delimiter else None
                if rolled is not None:
                    entries.append(rolled)
                    seek = successor(rolled)
                    break
                info = object_info(bucket, row)
                info = replace(info, version_id=named(info.version_id))
                entries.append(VersionInfo(info, key != last_key, bool(row[ROW_WIDTH + 2])))
                last_key = key
                if len(entries) == budget:
                    break
        finally:
            for cursor in cursors:
                cursor.close()
        if seek is None:
            break
        lower, inclusive = seek, True
    truncated = len(entries) > max_keys
    del entries[max_keys:]
    versions = [e for e in entries if isinstance(e, VersionInfo)]
    prefixes = [e for e in entries if isinstance(e, str)]
    next_key = next_version = None
    if truncated:
        last = entries[-1]
        if isinstance(last, str):
            next_key = last
        else:
            next_key, next_version = last.info.key, last.info.version_id
    return VersionsPage(versions, prefixes, truncated, next_key, next_version)


def _merged(
    conn: sqlite3.Connection,
    bucket: str,
    lower: str,
    inclusive: bool,
    upper: str | None,
    cursors: list[sqlite3.Cursor],
) -> Iterator[_Row]:
    """Current objects and versions from `lower` on, in listing order; the cursors opened
    are added to `cursors`, for the caller to close."""
    compare = ">=" if inclusive else ">"
    bound = "" if upper is None else " AND key < :upper"
    params = {"bucket": bucket, "lower": lower, "upper": upper}
    current = conn.execute(
        f"SELECT {OBJECT_COLUMNS}, 1, seq, 0 FROM objects "  # noqa: S608
        f"WHERE bucket = :bucket AND key {compare} :lower{bound} ORDER BY key",
        params,
    )
    cursors.append(current)
    older = conn.execute(
        f"SELECT {OBJECT_COLUMNS}, 0, seq, marker FROM versions "  # noqa: S608
        f"WHERE bucket = :bucket AND key {compare} :lower{bound} ORDER BY key, seq DESC",
        params,
    )
    cursors.append(older)
    # Python orders str by code point, which is UTF-8 byte order: SQLite's BINARY order.
    return heapq.merge(current, older, key=lambda r: (r[0], -r[ROW_WIDTH], -r[ROW_WIDTH + 1]))


def _after_version(
    conn: sqlite3.Connection, bucket: str, key: str, version_id: str, limit: int
) -> Iterator[_Row]:
    """The first `limit` versions of `key` that come after `version_id` in a listing (none
    when it names nothing: the listing goes on with the next key)."""
    seq = parse_version_id(version_id)
    current = conn.execute(
        "SELECT version_id FROM objects WHERE bucket = ? AND key = ?", (bucket, key)
    ).fetchone()
    if current is not None and named(current[0]) == version_id:
        below = None  # every noncurrent version follows the current one
    else:
        if seq is None:
            found = conn.execute(
                "SELECT seq FROM versions WHERE bucket = ? AND key = ? AND version_id IS NULL",
                (bucket, key),
            ).fetchone()
            if found is None:
                return iter(())
            seq = int(found[0])
        below = seq
    sql = f"SELECT {OBJECT_COLUMNS}, 0, seq, marker FROM versions WHERE bucket = ? AND key = ?"  # noqa: S608
    params: tuple[Any, ...] = (bucket, key)
    if below is not None:
        sql += " AND seq < ?"
        params += (below,)
    return iter(conn.execute(sql + " ORDER BY seq DESC LIMIT ?", (*params, limit)).fetchall())


def has_versions(conn: sqlite3.Connection, bucket: str) -> bool:
    row = conn.execute("SELECT 1 FROM versions WHERE bucket = ? LIMIT 1", (bucket,)).fetchone()
    return row is not None


# Retention


def purge(
    conn: sqlite3.Connection, bucket: str, prefix: str, before: float, limit: int
) -> tuple[int, list[str]]:
    """Remove at most `limit` versions under `prefix` that stopped being the latest before
    `before`, then delete markers alone on top of nothing, made before it (each found by the
    index on (bucket, superseded): a batch costs what it removes). How many went, and the
    extents cells they released."""
    upper = successor(prefix)
    where = "bucket = ? AND key >= ?" + ("" if upper is None else " AND key < ?")
    bounds: tuple[Any, ...] = (bucket, prefix) + (() if upper is None else (upper,))
    old = conn.execute(
        f"SELECT key, seq, marker, extents FROM versions WHERE {where} "  # noqa: S608
        "AND superseded < ? LIMIT ?",
        (*bounds, before, limit),
    ).fetchall()
    lone = conn.execute(
        f"SELECT key, seq, marker, extents FROM versions v WHERE {where} "  # noqa: S608
        "AND superseded IS NULL AND marker = 1 AND mtime < ? AND NOT EXISTS ("
        "SELECT 1 FROM versions w WHERE w.bucket = v.bucket AND w.key = v.key AND w.seq <> v.seq"
        ") LIMIT ?",
        (*bounds, before, max(limit - len(old), 0)),
    ).fetchall()
    rows = old + lone
    conn.executemany(
        "DELETE FROM versions WHERE bucket = ? AND key = ? AND seq = ?",
        [(bucket, key, seq) for key, seq, _, _ in rows],
    )
    return len(rows), [extents for _, _, marker, extents in rows if not marker]


def usage(conn: sqlite3.Connection, bucket: str, prefix: str) -> VersionUsage:
    """What the latest versions and the noncurrent ones under `prefix` hold (a scan)."""
    upper = successor(prefix)
    where = "bucket = ? AND key >= ?" + ("" if upper is None else " AND key < ?")
    bounds: tuple[Any, ...] = (bucket, prefix) + (() if upper is None else (upper,))
    objects, current = conn.execute(
        f"SELECT count(*), coalesce(sum(size), 0) FROM objects WHERE {where}",  # noqa: S608
        bounds,
    ).fetchone()
    kept, retained = conn.execute(
        f"SELECT count(*), coalesce(sum(size), 0) FROM versions WHERE {where} "  # noqa: S608
        "AND marker = 0",
        bounds,
    ).fetchone()
    return VersionUsage(int(current), int(objects), int(retained), int(kept))
