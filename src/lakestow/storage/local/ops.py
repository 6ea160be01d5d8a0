"""The local backend's write operations: each a function of a `Txn`, run by the writer.

An operation checks its preconditions and changes the index; raising rolls it back alone.
It never touches files: blobs it releases go to `txn.dead` and are unlinked after the commit.
Reference counting: every extent in an object or part row holds one reference on its blob.
"""

from __future__ import annotations

import itertools
import json
import secrets
import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace

from lakestow.errors import AlreadyExists, InvalidRequest, NotFound, Unsupported
from lakestow.storage.checksums import of_parts
from lakestow.storage.common import (
    check_part_sizes,
    check_write_conditions,
    no_such_bucket,
    no_such_key,
)
from lakestow.storage.etags import clean_etag, completed_etag, multipart_etag
from lakestow.storage.local import versions
from lakestow.storage.local.blobs import is_inline
from lakestow.storage.local.index import (
    Extent,
    StoredObject,
    StoredPart,
    StoredUpload,
    dump_checksum,
    dump_extents,
    dump_tags,
    load_extents,
    load_tags,
    read_bucket,
    read_info,
    read_object,
    read_parts,
    read_tags,
    read_upload,
    utc,
)
from lakestow.storage.local.writer import Txn
from lakestow.storage.protocol import (
    ENABLED,
    SUSPENDED,
    BucketInfo,
    Checksum,
    CompleteChecks,
    Deleted,
    ObjectInfo,
    PartInfo,
)

COMPLETED_MEMORY = 24 * 3600.0
"""How long (seconds) a completed upload is remembered, so that a Complete retried after its
answer was lost gets the same answer: clients retry within seconds or minutes."""


@dataclass(frozen=True)
class Conditions:
    """If-Match / If-None-Match on the object a write replaces."""

    if_match: str | None = None
    if_none_match: str | None = None


class SourceChanged(Exception):
    """The source a copy read (a part copy's blobs, the object a copy's new checksum was
    computed over) changed before the copy committed: read it again."""


def require_bucket(conn: sqlite3.Connection, name: str) -> None:
    if read_bucket(conn, name) is None:
        raise no_such_bucket(name)


def create_bucket(txn: Txn, name: str, location: str | None = None) -> BucketInfo:
    if read_bucket(txn.conn, name) is not None:
        raise AlreadyExists(
            f"Your previous request to create {name!r} succeeded and you already own it.",
            code="BucketAlreadyOwnedByYou",
        )
    now = time.time()
    txn.conn.execute(
        "INSERT INTO buckets (name, created, location) VALUES (?, ?, ?)", (name, now, location)
    )
    return BucketInfo(name, utc(now), location)


def delete_bucket(txn: Txn, name: str) -> None:
    """Delete an empty bucket; its unfinished multipart uploads go with it."""
    conn = txn.conn
    require_bucket(conn, name)
    if conn.execute(
        "SELECT 1 FROM objects WHERE bucket = ? LIMIT 1", (name,)
    ).fetchone() or versions.has_versions(conn, name):
        raise AlreadyExists(
            f"The bucket {name!r} you tried to delete is not empty.", code="BucketNotEmpty"
        )
    uploads = conn.execute("SELECT upload_id FROM uploads WHERE bucket = ?", (name,)).fetchall()
    for (upload_id,) in uploads:
        _discard_upload(txn, upload_id)
    conn.execute("DELETE FROM buckets WHERE name = ?", (name,))


def _incref(conn: sqlite3.Connection, extents: Sequence[Extent]) -> None:
    conn.executemany(
        "INSERT INTO blobs (id, refs) VALUES (?, 1) ON CONFLICT (id) DO UPDATE SET refs = refs + 1",
        [(blob_id,) for blob_id, _, _ in extents],
    )


def _decref(txn: Txn, extents: Sequence[Extent]) -> None:
    for blob_id, _, _ in extents:
        # The last reference is the common case: drop the row in one statement.
        gone = txn.conn.execute(
            "DELETE FROM blobs WHERE id = ? AND refs <= 1 RETURNING id", (blob_id,)
        ).fetchone()
        if gone is None:
            txn.conn.execute("UPDATE blobs SET refs = refs - 1 WHERE id = ?", (blob_id,))
            continue
        if is_inline(blob_id):
            txn.conn.execute("DELETE FROM inline_blobs WHERE id = ?", (blob_id,))
        else:
            txn.dead.append(blob_id)


def _write_object(
    txn: Txn,
    info: ObjectInfo,
    extents: Sequence[Extent],
    old: StoredObject | None,
    part_sizes: Sequence[int] | None = None,
    part_checksums: Sequence[str] | None = None,
    tags: dict[str, str] | None = None,
) -> ObjectInfo:
    """Store `info` (whose extents' references are already counted) and its `tags` as the
    key's latest version, and `info` with its version id. What it replaces, `old`, is kept
    as a noncurrent version in a versioned bucket, else released (a null version replaced by
    a null version, as in a Suspended bucket, is released too)."""
    conn = txn.conn
    state = versions.bucket_versioning(conn, info.bucket)
    if state is None:
        seq, version_id = time.time_ns(), None
        if old is not None:
            _decref(txn, old.extents)
    else:
        seq = versions.next_seq(conn, info.bucket, info.key)
        version_id = versions.version_id_of(seq) if state == ENABLED else None
        _supersede(txn, info.bucket, info.key, old, state)
    conn.execute(
        "INSERT OR REPLACE INTO objects (bucket, key, size, etag, mtime, content_type, "
        "metadata, parts_count, extents, checksum, tags, version_id, seq) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            info.bucket,
            info.key,
            info.size,
            info.etag,
            info.last_modified.timestamp(),
            info.content_type,
            json.dumps(info.metadata),
            info.parts_count,
            dump_extents(extents, part_sizes, part_checksums),
            dump_checksum(info.checksum),
            dump_tags(tags),
            version_id,
            seq,
        ),
    )
    return replace(info, version_id=None if state is None else versions.named(version_id))


def _supersede(txn: Txn, bucket: str, key: str, old: StoredObject | None, state: str) -> None:
    """In a versioned bucket, before a new latest version of `key`: keep the current object
    as a noncurrent version (release it if it is the null version and the new one is null
    too), or mark the latest delete marker superseded; a Suspended bucket's new version is
    the null one, so an older null version goes."""
    now = time.time()
    if old is None:
        versions.supersede_marker(txn.conn, bucket, key, now)
    elif state == SUSPENDED and old.info.version_id is None:
        _decref(txn, old.extents)
        txn.conn.execute("DELETE FROM objects WHERE bucket = ? AND key = ?", (bucket, key))
    else:
        versions.archive(txn.conn, bucket, key, now)
    if state == SUSPENDED:
        _decref(txn, versions.released(versions.drop_null(txn.conn, bucket, key)))


def _current(txn: Txn, bucket: str, key: str, cond: Conditions) -> StoredObject | None:
    require_bucket(txn.conn, bucket)
    old = read_object(txn.conn, bucket, key)
    check_write_conditions(old.info if old else None, key, cond.if_match, cond.if_none_match)
    return old


def put_object(
    txn: Txn,
    info: ObjectInfo,
    extents: Sequence[Extent],
    cond: Conditions,
    inline: bytes | None = None,
    tags: dict[str, str] | None = None,
) -> ObjectInfo:
    """Commit a new object whose blob is durable already, or is `inline` (stored here)."""
    old = _current(txn, info.bucket, info.key, cond)
    info = replace(info, last_modified=utc(time.time()), tag_count=len(tags or {}))
    if inline is not None:
        txn.conn.execute(
            "INSERT INTO inline_blobs (id, data) VALUES (?, ?)", (extents[0][0], inline)
        )
    _incref(txn.conn, extents)
    return _write_object(txn, info, extents, old, tags=tags)


def put_tags(txn: Txn, bucket: str, key: str, tags: dict[str, str]) -> None:
    """Replace an object's tags, nothing else of its row."""
    changed = txn.conn.execute(
        "UPDATE objects SET tags = ? WHERE bucket = ? AND key = ?", (dump_tags(tags), bucket, key)
    ).rowcount
    if not changed:
        require_bucket(txn.conn, bucket)
        raise no_such_key(key)


def delete_object_if(txn: Txn, bucket: str, key: str, if_match: str) -> Deleted:
    """A conditional DeleteObject: NoSuchKey when absent, PreconditionFailed when the ETag
    differs, decided in the same transaction as the delete."""
    _current(txn, bucket, key, Conditions(if_match=if_match))
    return delete_objects(txn, bucket, [key])[0]


def delete_objects(
    txn: Txn, bucket: str, keys: Sequence[str], version_ids: Sequence[str | None] = ()
) -> list[Deleted]:
    """Delete each key (a delete marker in a versioned bucket), or the version of it that
    `version_ids` names (one per key, None for none) for good."""
    state = versions.bucket_versioning(txn.conn, bucket)
    done = []
    for key, version_id in itertools.zip_longest(keys, version_ids[: len(keys)]):
        if version_id is not None:
            deleted, cells = versions.remove_version(txn.conn, bucket, key, version_id)
            _decref(txn, versions.released(cells))
            done.append(deleted)
        elif state is None:
            row = txn.conn.execute(
                "DELETE FROM objects WHERE bucket = ? AND key = ? RETURNING extents",
                (bucket, key),
            ).fetchone()
            if row is not None:
                _decref(txn, load_extents(row[0]))
            done.append(Deleted())
        else:
            seq = versions.next_seq(txn.conn, bucket, key)
            _supersede(txn, bucket, key, read_object(txn.conn, bucket, key), state)
            done.append(Deleted(versions.put_marker(txn.conn, bucket, key, seq, state), True))
    return done


def put_versioning(txn: Txn, bucket: str, status: str) -> None:
    versions.set_versioning(txn.conn, bucket, status)


@dataclass(frozen=True)
class NewChecksum:
    """The checksum a copy gets instead of its source's, computed over the object `source`
    describes (its ETag and modification time name one version of it)."""

    checksum: Checksum
    source: ObjectInfo


def copy_object(
    txn: Txn,
    src_bucket: str,
    src_key: str,
    target: ObjectInfo,
    replace_meta: bool,
    cond: Conditions,
    new_checksum: NewChecksum | None = None,
    tags: dict[str, str] | None = None,
    src_version_id: str | None = None,
) -> ObjectInfo:
    """Copy by reference: the new row shares the source's blobs, and keeps its checksums
    unless `new_checksum` is given: then only if the source still has the bytes it was
    computed over (else SourceChanged: compute it again)."""
    src = source_object(txn.conn, src_bucket, src_key, src_version_id)
    checksum, part_checksums = src.info.checksum, src.part_checksums
    if new_checksum is not None:
        was = new_checksum.source
        if (was.etag, was.last_modified) != (src.info.etag, src.info.last_modified):
            raise SourceChanged
        checksum, part_checksums = new_checksum.checksum, None
    if tags is None:  # the source's (x-amz-tagging-directive COPY)
        tags = _tags_of(txn.conn, src_bucket, src_key, src_version_id)
    old = _current(txn, target.bucket, target.key, cond)
    meta = target if replace_meta else src.info
    info = replace(
        src.info,
        bucket=target.bucket,
        key=target.key,
        content_type=meta.content_type,
        metadata=meta.metadata,
        last_modified=utc(time.time()),
        checksum=checksum,
        tag_count=len(tags or {}),
    )
    info = replace(info, version_id=None)
    _incref(txn.conn, src.extents)
    return _write_object(txn, info, src.extents, old, src.part_sizes, part_checksums, tags)


def source_object(
    conn: sqlite3.Connection, bucket: str, key: str, version_id: str | None
) -> StoredObject:
    """What a copy reads: the latest version of the key, or `version_id` (InvalidRequest
    for a delete marker's, as S3 refuses to copy one)."""
    if version_id is not None:
        try:
            return versions.find_version(conn, bucket, key, version_id)
        except Unsupported:
            raise InvalidRequest("The source of a copy cannot be a delete marker.") from None
    src = read_object(conn, bucket, key)
    if src is None:
        raise versions.missing(conn, bucket, key)
    return src


def _tags_of(
    conn: sqlite3.Connection, bucket: str, key: str, version_id: str | None
) -> dict[str, str] | None:
    """The tags of the key's latest version, or of `version_id`."""
    if version_id is None:
        return read_tags(conn, bucket, key)
    row = conn.execute(
        "SELECT tags, version_id FROM objects WHERE bucket = ? AND key = ?", (bucket, key)
    ).fetchone()
    if row is not None and versions.named(row[1]) == version_id:
        return load_tags(row[0])
    seq = versions.parse_version_id(version_id)
    row = conn.execute(
        "SELECT tags FROM versions WHERE bucket = ? AND key = ? "
        "AND (seq = ? OR (? IS NULL AND version_id IS NULL))",
        (bucket, key, seq, seq),
    ).fetchone()
    return None if row is None else load_tags(row[0])


def create_upload(
    txn: Txn,
    bucket: str,
    key: str,
    content_type: str,
    metadata: dict[str, str],
    checksum_algorithm: str | None = None,
    checksum_type: str | None = None,
    tags: dict[str, str] | None = None,
) -> str:
    require_bucket(txn.conn, bucket)
    now = time.time()
    upload_id = f"{time.time_ns():016x}{secrets.token_hex(8)}"
    checksum = None
    if checksum_algorithm is not None:
        checksum = json.dumps({"algorithm": checksum_algorithm, "type": checksum_type})
    txn.conn.execute(
        "INSERT INTO uploads (upload_id, bucket, key, initiated, content_type, metadata, "
        "checksum, tags) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (
            upload_id,
            bucket,
            key,
            now,
            content_type,
            json.dumps(metadata),
            checksum,
            dump_tags(tags),
        ),
    )
    return upload_id


def require_upload(conn: sqlite3.Connection, bucket: str, key: str, upload_id: str) -> StoredUpload:
    upload = read_upload(conn, upload_id)
    if upload is None or upload.bucket != bucket or upload.key != key:
        require_bucket(conn, bucket)
        raise NotFound(
            "The specified upload does not exist. The upload ID may be invalid, or the upload "
            "may have been aborted or completed.",
            code="NoSuchUpload",
        )
    return upload


def put_part(
    txn: Txn, bucket: str, key: str, upload_id: str, part: StoredPart, shared: bool
) -> PartInfo:
    """Store a part; `shared` extents belong to other rows and must still be alive."""
    conn = txn.conn
    require_upload(conn, bucket, key, upload_id)
    if shared and not _alive(conn, part.extents):
        raise SourceChanged
    info = replace(part.info, last_modified=utc(time.time()))
    old = conn.execute(
        "SELECT extents FROM parts WHERE upload_id = ? AND part_number = ?",
        (upload_id, info.part_number),
    ).fetchone()
    _incref(conn, part.extents)
    if old is not None:
        _decref(txn, load_extents(old[0]))
    conn.execute(
        "INSERT OR REPLACE INTO parts (upload_id, part_number, size, etag, mtime, extents, "
        "checksum) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (
            upload_id,
            info.part_number,
            info.size,
            info.etag,
            info.last_modified.timestamp(),
            dump_extents(part.extents),
            dump_checksum(info.checksum, with_type=False),
        ),
    )
    return info


def _alive(conn: sqlite3.Connection, extents: Sequence[Extent]) -> bool:
    ids = {blob_id for blob_id, _, _ in extents}
    return all(
        conn.execute("SELECT 1 FROM blobs WHERE id = ?", (blob_id,)).fetchone() for blob_id in ids
    )


def complete_upload(
    txn: Txn,
    bucket: str,
    key: str,
    upload_id: str,
    parts: Sequence[tuple[int, str]],
    min_part_size: int,
    cond: Conditions,
    checks: CompleteChecks | None = None,
) -> ObjectInfo:
    """Assemble the object from its parts' extents: a metadata change, no bytes copied.
    Its checksum is made of its parts' (`checksums.of_parts`), after the `checks`.

    The same Complete again (a retry whose first answer was lost) answers as the first did,
    while the object it made is still there: S3 documents that a Complete may have to be
    retried, and answers a repeated one with 200 and the same ETag."""
    conn = txn.conn
    if read_upload(conn, upload_id) is None:
        done = _completed(conn, bucket, key, upload_id, parts)
        if done is not None:
            return done
    upload = require_upload(conn, bucket, key, upload_id)
    stored = {p.info.part_number: p for p in read_parts(conn, upload_id)}
    chosen = [_chosen_part(stored, number, etag) for number, etag in parts]
    check_part_sizes(((p.info.part_number, p.info.size) for p in chosen), min_part_size)
    checksum = of_parts(
        upload.checksum_algorithm,
        upload.checksum_type,
        [(p.info.part_number, p.info.size, p.info.checksum) for p in chosen],
        checks,
    )
    old = _current(txn, bucket, key, cond)
    for number in stored.keys() - {p.info.part_number for p in chosen}:
        _decref(txn, stored[number].extents)
    conn.execute("DELETE FROM parts WHERE upload_id = ?", (upload_id,))
    conn.execute("DELETE FROM uploads WHERE upload_id = ?", (upload_id,))
    info = ObjectInfo(
        bucket=bucket,
        key=key,
        size=sum(p.info.size for p in chosen),
        etag=multipart_etag([p.info.etag for p in chosen]),
        last_modified=utc(time.time()),
        content_type=upload.content_type,
        metadata=upload.metadata,
        parts_count=len(chosen),
        checksum=checksum,
        tag_count=len(upload.tags or {}),
    )
    extents = [e for p in chosen for e in p.extents]
    part_checksums = None
    if checksum is not None:  # of_parts saw that every part has one, of its algorithm
        part_checksums = [p.info.checksum.value for p in chosen if p.info.checksum]
    sizes = [p.info.size for p in chosen]
    info = _write_object(txn, info, extents, old, sizes, part_checksums, upload.tags)
    now = info.last_modified.timestamp()
    conn.execute("DELETE FROM completed_uploads WHERE completed < ?", (now - COMPLETED_MEMORY,))
    conn.execute(
        "INSERT OR REPLACE INTO completed_uploads (upload_id, bucket, key, etag, completed) "
        "VALUES (?, ?, ?, ?, ?)",
        (upload_id, bucket, key, info.etag, now),
    )
    return info


def _completed(
    conn: sqlite3.Connection,
    bucket: str,
    key: str,
    upload_id: str,
    parts: Sequence[tuple[int, str]],
) -> ObjectInfo | None:
    """The object a finished upload made, if `parts` are what it was completed with and the
    object is still there (not deleted or overwritten since); None otherwise."""
    row = conn.execute(
        "SELECT etag FROM completed_uploads WHERE upload_id = ? AND bucket = ? AND key = ? "
        "AND completed >= ?",
        (upload_id, bucket, key, time.time() - COMPLETED_MEMORY),
    ).fetchone()
    if row is None or completed_etag(parts) != row[0]:
        return None
    current = read_info(conn, bucket, key)
    return current if current is not None and current.etag == row[0] else None


def _chosen_part(stored: dict[int, StoredPart], number: int, etag: str) -> StoredPart:
    part = stored.get(number)
    if part is None or clean_etag(etag) != part.info.etag:
        raise InvalidRequest(
            f"Part {number} could not be found, or its ETag does not match.", code="InvalidPart"
        )
    return part


def abort_upload(txn: Txn, bucket: str, key: str, upload_id: str) -> None:
    require_upload(txn.conn, bucket, key, upload_id)
    _discard_upload(txn, upload_id)


def _discard_upload(txn: Txn, upload_id: str) -> None:
    for part in read_parts(txn.conn, upload_id):
        _decref(txn, part.extents)
    txn.conn.execute("DELETE FROM parts WHERE upload_id = ?", (upload_id,))
    txn.conn.execute("DELETE FROM uploads WHERE upload_id = ?", (upload_id,))
