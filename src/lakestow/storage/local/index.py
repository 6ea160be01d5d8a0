"""The local backend's SQLite index: schema, connections, and the queries that read it.

One database per store (`index.db`, WAL). Keys live only here: an object row holds its
metadata and its *extents*, the (blob id, offset, length) pieces of immutable blob files whose
concatenation is the object's content. The `extents` column is a JSON list of them, or, for an
object completed from parts, `{"extents": [...], "parts": [size, ...]}` (for GET ?partNumber),
with `"checksums": [value, ...]` when its upload had a checksum algorithm (each part's, of the
object's algorithm). The `checksum` columns (schema 3) hold an object's `algorithm type
value`, a part's `algorithm value` (`dump_checksum`), an upload's JSON `{"algorithm",
"type"}`; NULL for none (every row older than schema 3). The `tags` columns
(schema 4) of objects and uploads hold an object's tag set, a JSON object; NULL for none.
`blobs` counts how many extents reference each blob file, so copies share bytes and a blob is
unlinked when its count drops to zero. Small
blobs are rows of `inline_blobs` instead of files (ids starting with `~`). `completed_uploads`
remembers, for a day, which ETag each completed multipart upload made, so that a Complete
retried after its answer was lost gets the same answer (`ops.complete_upload`); it is made
at every open if missing (`init_memory`).
`names` (schema 6) holds every (bucket, key) of `objects` with a number, and `names_fts` its
keys' trigrams (an FTS5 index, `detail=none`: which keys hold a trigram, not where), for
search by name (`search`). Triggers on `objects` and `versions` keep both in the transaction
that adds or removes a row, whichever operation does it (a key is never changed in place; an
INSERT OR REPLACE, whose delete fires no trigger, keeps the key's name). Since schema 7 a
name stays while the key has any version, so `names` may hold keys of deleted objects, and a
search checks each candidate against `objects`; and a new name waits in `names_fresh` until
`TRIGRAM_BATCH` do, whose trigrams are then indexed at once (`_NAMES`).
Comparison is SQLite's BINARY collation (memcmp of UTF-8), which is S3's key order.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from lakestow.storage.protocol import BucketInfo, Checksum, ObjectInfo, PartInfo, UploadInfo

SCHEMA_VERSION = "7"
Extent = tuple[str, int, int]
"""A blob id, an offset in that blob and a length."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS buckets (
    name TEXT PRIMARY KEY, created REAL NOT NULL, location TEXT, versioning TEXT
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS objects (
    bucket TEXT NOT NULL, key TEXT NOT NULL, size INTEGER NOT NULL, etag TEXT NOT NULL,
    mtime REAL NOT NULL, content_type TEXT NOT NULL, metadata TEXT NOT NULL,
    parts_count INTEGER, extents TEXT NOT NULL, checksum TEXT, tags TEXT, version_id TEXT,
    seq INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (bucket, key)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS versions (
    bucket TEXT NOT NULL, key TEXT NOT NULL, seq INTEGER NOT NULL, version_id TEXT,
    marker INTEGER NOT NULL, size INTEGER NOT NULL, etag TEXT NOT NULL, mtime REAL NOT NULL,
    content_type TEXT NOT NULL, metadata TEXT NOT NULL, parts_count INTEGER,
    extents TEXT NOT NULL, checksum TEXT, tags TEXT, superseded REAL,
    PRIMARY KEY (bucket, key, seq DESC)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS versions_by_age ON versions (bucket, superseded);
CREATE TABLE IF NOT EXISTS blobs (id TEXT PRIMARY KEY, refs INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS inline_blobs (id TEXT PRIMARY KEY, data BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS uploads (
    upload_id TEXT PRIMARY KEY, bucket TEXT NOT NULL, key TEXT NOT NULL,
    initiated REAL NOT NULL, content_type TEXT NOT NULL, metadata TEXT NOT NULL, checksum TEXT,
    tags TEXT
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS uploads_by_key ON uploads (bucket, key, upload_id);
CREATE TABLE IF NOT EXISTS parts (
    upload_id TEXT NOT NULL, part_number INTEGER NOT NULL, size INTEGER NOT NULL,
    etag TEXT NOT NULL, mtime REAL NOT NULL, extents TEXT NOT NULL, checksum TEXT,
    PRIMARY KEY (upload_id, part_number)
) WITHOUT ROWID;
"""

TRIGRAM_BATCH = 256
"""New names wait in `names_fresh` until this many do, then go into the trigram index at
once (one FTS5 segment written, not one a commit)."""

_FORGET = """
    INSERT INTO names_fts (names_fts, rowid, key)
        SELECT 'delete', n.id, n.key FROM names AS n
        WHERE n.bucket = old.bucket AND n.key = old.key
        AND NOT EXISTS (SELECT 1 FROM names_fresh AS f WHERE f.id = n.id);
    DELETE FROM names_fresh
        WHERE id IN (SELECT id FROM names WHERE bucket = old.bucket AND key = old.key);
    DELETE FROM names WHERE bucket = old.bucket AND key = old.key;
"""


def _names(batch: int) -> tuple[str, ...]:
    """The name index's tables and triggers, new names indexed `batch` at a time."""
    return (
        """CREATE TABLE IF NOT EXISTS names (
            id INTEGER PRIMARY KEY, bucket TEXT NOT NULL, key TEXT NOT NULL,
            UNIQUE (bucket, key)
        )""",
        """CREATE VIRTUAL TABLE IF NOT EXISTS names_fts USING fts5(
            key, content='names', content_rowid='id', tokenize='trigram', detail='none'
        )""",
        "CREATE TABLE IF NOT EXISTS names_fresh (id INTEGER PRIMARY KEY)",
        """CREATE TRIGGER IF NOT EXISTS objects_named AFTER INSERT ON objects
        WHEN NOT EXISTS (SELECT 1 FROM names WHERE bucket = new.bucket AND key = new.key)
        BEGIN
            INSERT INTO names (bucket, key) VALUES (new.bucket, new.key);
            INSERT INTO names_fresh (id) VALUES (last_insert_rowid());
        END""",
        f"""CREATE TRIGGER IF NOT EXISTS names_indexed AFTER INSERT ON names_fresh
        WHEN (SELECT count(*) FROM names_fresh) >= {int(batch)}
        BEGIN
            INSERT INTO names_fts (rowid, key)
                SELECT n.id, n.key FROM names_fresh AS f CROSS JOIN names AS n ON n.id = f.id;
            DELETE FROM names_fresh;
        END""",  # noqa: S608 (a number)
        f"""CREATE TRIGGER IF NOT EXISTS objects_unnamed AFTER DELETE ON objects
        WHEN NOT EXISTS (SELECT 1 FROM versions WHERE bucket = old.bucket AND key = old.key)
        BEGIN {_FORGET} END""",  # noqa: S608 (constant text)
        f"""CREATE TRIGGER IF NOT EXISTS versions_unnamed AFTER DELETE ON versions
        WHEN NOT EXISTS (SELECT 1 FROM objects WHERE bucket = old.bucket AND key = old.key)
        AND NOT EXISTS (SELECT 1 FROM versions WHERE bucket = old.bucket AND key = old.key)
        BEGIN {_FORGET} END""",  # noqa: S608 (constant text)
    )


_NAMES = _names(TRIGRAM_BATCH)
"""The name index, as a new index and the migrations to 6 and 7 make it (schema 7).

A key keeps its name while any version of it is kept, current or not (in 6 a name went
with its object row): deleting or overwriting an object in a versioned bucket moves its row
to `versions` and leaves the trigram index alone, where taking the name out and putting it
back cost a third of a DELETE's CPU. A search checks its candidates against `objects`; the
name goes when the key's last version does (a purge, a version deleted).

A new name's trigrams wait in `names_fresh` (which a search reads whole, at most
`TRIGRAM_BATCH` - 1 rows) and go into `names_fts` with the batch: FTS5 writes a segment at
every commit that changed it, which cost a new key's PUT about 105 µs, a third of its CPU,
where the server's commits hold a few PUTs each."""

_VERSIONS_TABLE, _VERSIONS_INDEX = _SCHEMA[
    _SCHEMA.index("CREATE TABLE IF NOT EXISTS versions") :
].split(";")[:2]

MIGRATIONS: dict[str, str | tuple[str, ...]] = {
    "2": "ALTER TABLE buckets ADD COLUMN location TEXT",  # the LocationConstraint at create
    "3": (  # checksums: of objects, parts, and the algorithm and type of uploads
        "ALTER TABLE objects ADD COLUMN checksum TEXT",
        "ALTER TABLE parts ADD COLUMN checksum TEXT",
        "ALTER TABLE uploads ADD COLUMN checksum TEXT",
    ),
    "4": (  # tag sets: of objects, and of uploads for the objects they make
        "ALTER TABLE objects ADD COLUMN tags TEXT",
        "ALTER TABLE uploads ADD COLUMN tags TEXT",
    ),
    "5": (  # versions: a bucket's versioning, an object's version, the versions it replaced
        "ALTER TABLE buckets ADD COLUMN versioning TEXT",
        "ALTER TABLE objects ADD COLUMN version_id TEXT",
        "ALTER TABLE objects ADD COLUMN seq INTEGER NOT NULL DEFAULT 0",
        _VERSIONS_TABLE,
        _VERSIONS_INDEX,
    ),
    "6": (  # the name index, filled with the objects there are
        *_NAMES,
        "INSERT INTO names (bucket, key) SELECT bucket, key FROM objects WHERE true "
        "ON CONFLICT DO NOTHING",
        "INSERT INTO names_fts (names_fts) VALUES ('rebuild')",
    ),
    "7": (  # names kept with versions; new names indexed in batches
        "DROP TRIGGER IF EXISTS objects_named",
        "DROP TRIGGER IF EXISTS objects_unnamed",
        *_NAMES,
    ),
}
"""For each version, in order: the statement(s) that bring an index of the version before up
to it, in the transaction that records the new version (a new index is made as `_SCHEMA`
says, at `SCHEMA_VERSION`)."""

OBJECT_COLUMNS = (
    "key, size, etag, mtime, content_type, metadata, parts_count, checksum, tags, version_id"
)
ROW_WIDTH = len(OBJECT_COLUMNS.split(","))
"""Where the columns a query selects after OBJECT_COLUMNS begin."""
LISTED_COLUMNS = OBJECT_COLUMNS.replace("checksum, tags, version_id", "NULL, NULL, NULL")
"""OBJECT_COLUMNS as a listing selects them: a listing shows neither checksums, tags nor
version ids, and reading them would cost each listed object a third more."""


@dataclass(frozen=True)
class StoredObject:
    """An object row: its metadata, where its bytes are and, if it was completed from parts
    (since lakestow keeps them), the parts' sizes."""

    info: ObjectInfo
    extents: tuple[Extent, ...]
    part_sizes: tuple[int, ...] | None = None
    part_checksums: tuple[str, ...] | None = None


@dataclass(frozen=True)
class StoredPart:
    """A part row."""

    info: PartInfo
    extents: tuple[Extent, ...]


@dataclass(frozen=True)
class StoredUpload:
    """An upload row."""

    bucket: str
    key: str
    content_type: str
    metadata: dict[str, str]
    checksum_algorithm: str | None = None
    checksum_type: str | None = None
    tags: dict[str, str] | None = None


def connect(path: str) -> sqlite3.Connection:
    """A connection in autocommit mode (transactions are explicit), WAL, fsync on commit.

    synchronous=FULL: a commit is on disk when it returns, so an acknowledged write survives
    power loss, not only a crash of the process. Group commit amortizes the fsync.

    secure_delete=FAST: Debian's SQLite zeroes every freed page by default, which made a
    deleted small object cost a page more of WAL to write. Now the freed pages of a deleted
    object kept in the index (64 KiB or less) hold its bytes until they are reused, as the disk
    does for a deleted blob file's blocks (DELETE: 116 -> 107 µs of CPU).
    """
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=60)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA secure_delete=FAST")
    return conn


def init_schema(conn: sqlite3.Connection) -> None:
    """Create the tables of a new index, or bring an older one up to `SCHEMA_VERSION`."""
    if conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'meta'").fetchone() is None:
        conn.executescript(_SCHEMA)
        for statement in _names(TRIGRAM_BATCH):
            conn.execute(statement)
        set_meta(conn, "schema", SCHEMA_VERSION)
        return
    version = int(get_meta(conn, "schema") or "1")
    for target, statements in MIGRATIONS.items():
        if version < int(target):
            conn.execute("BEGIN IMMEDIATE")
            try:
                for statement in (statements,) if isinstance(statements, str) else statements:
                    conn.execute(statement)
                set_meta(conn, "schema", target)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")


def get_meta(conn: sqlite3.Connection, name: str) -> str | None:
    row = conn.execute("SELECT value FROM meta WHERE name = ?", (name,)).fetchone()
    return None if row is None else str(row[0])


def set_meta(conn: sqlite3.Connection, name: str, value: str) -> None:
    conn.execute(
        "INSERT INTO meta (name, value) VALUES (?, ?) "
        "ON CONFLICT (name) DO UPDATE SET value = excluded.value",
        (name, value),
    )


_MEMORY = """
CREATE TABLE IF NOT EXISTS completed_uploads (
    upload_id TEXT PRIMARY KEY, bucket TEXT NOT NULL, key TEXT NOT NULL,
    etag TEXT NOT NULL, completed REAL NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS completed_uploads_by_time ON completed_uploads (completed);
"""


def init_memory(conn: sqlite3.Connection) -> None:
    """Create, if missing, the tables of what the index remembers for a while only (the
    completed uploads of the last day): no record of data, so outside the schema's versions,
    in every index however old, at every open."""
    conn.executescript(_MEMORY)


def utc(timestamp: float) -> datetime:
    return datetime.fromtimestamp(timestamp, UTC)


def dump_extents(
    extents: Sequence[Extent],
    part_sizes: Sequence[int] | None = None,
    part_checksums: Sequence[str] | None = None,
) -> str:
    if part_sizes is None:
        return json.dumps(extents, separators=(",", ":"))
    layout: dict[str, object] = {"extents": extents, "parts": part_sizes}
    if part_checksums is not None:
        layout["checksums"] = part_checksums
    return json.dumps(layout, separators=(",", ":"))


Layout = tuple[tuple[Extent, ...], tuple[int, ...] | None, tuple[str, ...] | None]
"""The extents, the part sizes and the part checksums (None: not completed from parts, or
from parts without checksums) of an `extents` cell."""


def load_layout(text: str) -> Layout:
    document = json.loads(text)
    sums = None
    if isinstance(document, dict):
        extents, sizes = document["extents"], tuple(int(n) for n in document["parts"])
        if "checksums" in document:
            sums = tuple(str(value) for value in document["checksums"])
    else:
        extents, sizes = document, None
    return tuple((str(b), int(o), int(n)) for b, o, n in extents), sizes, sums


def load_extents(text: str) -> tuple[Extent, ...]:
    return load_layout(text)[0]


def object_info(bucket: str, row: Sequence[Any]) -> ObjectInfo:
    """An ObjectInfo from a row of OBJECT_COLUMNS (its `version_id` None for the null
    version: the store names it)."""
    key, size, etag, mtime, content_type, metadata, parts_count, checksum, tags, version_id = row[
        :ROW_WIDTH
    ]
    return ObjectInfo(
        bucket=bucket,
        key=key,
        size=size,
        etag=etag,
        last_modified=utc(mtime),
        content_type=content_type,
        metadata=json.loads(metadata) if metadata != "{}" else {},
        parts_count=parts_count,
        checksum=None if checksum is None else load_checksum(checksum),
        tag_count=0 if tags is None else len(json.loads(tags)),
        version_id=version_id,
    )


def dump_tags(tags: dict[str, str] | None) -> str | None:
    """A `tags` cell: NULL for none."""
    return json.dumps(tags, separators=(",", ":")) if tags else None


def load_tags(text: str | None) -> dict[str, str]:
    return {} if text is None else dict(json.loads(text))


def dump_checksum(checksum: Checksum | None, *, with_type: bool = True) -> str | None:
    """A `checksum` cell of an object, `algorithm type value`, or of a part, `algorithm
    value`: words, since no algorithm, type or base64 value holds a space, and a listing
    reads one per object (a split costs a tenth of a JSON parse)."""
    if checksum is None:
        return None
    if with_type:
        return f"{checksum.algorithm} {checksum.type} {checksum.value}"
    return f"{checksum.algorithm} {checksum.value}"


def load_checksum(text: str) -> Checksum:
    words = text.split(" ")
    if len(words) == 3:
        return Checksum(words[0], words[2], words[1])
    return Checksum(words[0], words[1])


def read_info(conn: sqlite3.Connection, bucket: str, key: str) -> ObjectInfo | None:
    """An object's metadata alone (a HEAD needs no extents)."""
    row = conn.execute(
        f"SELECT {OBJECT_COLUMNS} FROM objects WHERE bucket = ? AND key = ?",  # noqa: S608
        (bucket, key),
    ).fetchone()
    return None if row is None else object_info(bucket, row)


def read_object(conn: sqlite3.Connection, bucket: str, key: str) -> StoredObject | None:
    row = conn.execute(
        f"SELECT {OBJECT_COLUMNS}, extents FROM objects WHERE bucket = ? AND key = ?",  # noqa: S608
        (bucket, key),
    ).fetchone()
    if row is None:
        return None
    return StoredObject(object_info(bucket, row), *load_layout(row[ROW_WIDTH]))


def read_inline(conn: sqlite3.Connection, blob_id: str) -> bytes:
    row = conn.execute("SELECT data FROM inline_blobs WHERE id = ?", (blob_id,)).fetchone()
    if row is None:
        raise LookupError(f"inline blob {blob_id} is missing from the index")
    return bytes(row[0])


def read_bucket(conn: sqlite3.Connection, name: str) -> BucketInfo | None:
    row = conn.execute("SELECT created, location FROM buckets WHERE name = ?", (name,)).fetchone()
    return None if row is None else BucketInfo(name, utc(row[0]), row[1])


def read_buckets(conn: sqlite3.Connection) -> list[BucketInfo]:
    rows = conn.execute("SELECT name, created, location FROM buckets ORDER BY name").fetchall()
    return [BucketInfo(name, utc(created), location) for name, created, location in rows]


def read_upload(conn: sqlite3.Connection, upload_id: str) -> StoredUpload | None:
    row = conn.execute(
        "SELECT bucket, key, content_type, metadata, checksum, tags FROM uploads "
        "WHERE upload_id = ?",
        (upload_id,),
    ).fetchone()
    if row is None:
        return None
    checksum = json.loads(row[4]) if row[4] is not None else {}
    return StoredUpload(
        row[0],
        row[1],
        row[2],
        json.loads(row[3]),
        checksum.get("algorithm"),
        checksum.get("type"),
        load_tags(row[5]) or None,
    )


def read_tags(conn: sqlite3.Connection, bucket: str, key: str) -> dict[str, str] | None:
    """An object's tags; None when there is no such object."""
    row = conn.execute(
        "SELECT tags FROM objects WHERE bucket = ? AND key = ?", (bucket, key)
    ).fetchone()
    return None if row is None else load_tags(row[0])


def read_parts(
    conn: sqlite3.Connection, upload_id: str, after: int = 0, limit: int = -1
) -> list[StoredPart]:
    """Parts numbered above `after`, in order; `limit` -1 means all."""
    rows = conn.execute(
        "SELECT part_number, etag, size, mtime, extents, checksum FROM parts "
        "WHERE upload_id = ? AND part_number > ? ORDER BY part_number LIMIT ?",
        (upload_id, after, limit),
    )
    return [
        StoredPart(
            PartInfo(
                number,
                etag,
                size,
                utc(mtime),
                None if checksum is None else load_checksum(checksum),
            ),
            load_extents(extents),
        )
        for number, etag, size, mtime, extents, checksum in rows
    ]


def read_uploads(
    conn: sqlite3.Connection,
    bucket: str,
    prefix: str,
    key_marker: str | None,
    upload_id_marker: str | None,
    limit: int,
) -> list[UploadInfo]:
    """Uploads under `prefix` after the markers, by key then upload id (= initiation)."""
    key_marker = key_marker or ""
    rows = conn.execute(
        "SELECT key, upload_id, initiated FROM uploads "
        "WHERE bucket = ? AND key >= ? AND substr(key, 1, ?) = ? "
        "AND (key > ? OR (key = ? AND upload_id > ?)) "
        "ORDER BY key, upload_id LIMIT ?",
        (
            bucket,
            max(prefix, key_marker),
            len(prefix),
            prefix,
            key_marker,
            key_marker,
            upload_id_marker if upload_id_marker is not None else "\U0010ffff",
            limit,
        ),
    )
    return [UploadInfo(key, upload_id, utc(initiated)) for key, upload_id, initiated in rows]


def slice_extents(extents: Sequence[Extent], start: int, end: int) -> list[Extent]:
    """The pieces of `extents` holding content bytes `start`..`end` (inclusive)."""
    pieces: list[Extent] = []
    position = 0
    for blob_id, offset, length in extents:
        low, high = max(start, position), min(end + 1, position + length)
        if low < high:
            pieces.append((blob_id, offset + low - position, high - low))
        position += length
        if position > end:
            break
    return pieces
