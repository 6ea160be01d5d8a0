"""The object changes both front doors offer (put, new folder, copy, move, delete, multipart
uploads), each done the same way whichever door asks: authorize (the policy, through the
caller's `decide`), call the store, audit. The doors differ only in protocol: how they read a
request and render the answer (S3 XML or JSON) and what they name the audit actions (`s3.put`,
`console.put`).

A folder of the fixed layout that the caller can see (`data/`, `data/shared/`, their own
`data/customer-<id>/`, the way down to the warehouse root) always exists: asked to create its
marker, either door writes nothing and answers as its protocol does for an existing folder
(S3: 200, as tools such as pyarrow, rclone mkdir and the AWS console make parent markers;
the console: 409, as for any folder that exists).

The sync agent's status object (`.lakestow-sync-status.json`, rewritten every pass or two as
a heartbeat for the console) is not audited: the audit records the changes people make.

It may import `auth.policy`, `warehouse`, `catalog.audit`, `storage.protocol`, `errors`, and
the name of the agent's status object.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import anyio.lowlevel

from lakestow.auth.policy import Action, Decision, is_fixed_folder
from lakestow.catalog.audit import AuditWriter
from lakestow.errors import (
    AccessDenied,
    AlreadyExists,
    InvalidRequest,
    LakestowError,
    NotFound,
    PreconditionFailed,
)
from lakestow.storage.protocol import (
    NULL_VERSION,
    Body,
    BodyChecksum,
    CompleteChecks,
    Deleted,
    ObjectInfo,
    ObjectStore,
    PartInfo,
    PartsPage,
)
from lakestow.sync.ignore import STATUS_NAME
from lakestow.warehouse import MemberView

HEARTBEAT_BYTES = 64 * 1024
"""The largest status object left out of the audit (the console reads no more of one)."""
BATCH = 1000
"""Keys per `delete_many` call to the store (the S3 limit)."""
RESTORE_BATCH = 50
"""Copies `restore_many` has in flight at once."""
AUTHORIZE_PER_TURN = 100
"""Keys authorized in one turn of the event loop (each asks the policy, and maybe the audit
log, for some µs): a DeleteObjects of 1,000 keys, a restore of 10,000, let others run."""


class Caller(Protocol):
    """Who asks, as the layer needs them: an actor for the audit log and the policy's answer."""

    @property
    def actor(self) -> str: ...

    @property
    def view(self) -> MemberView | None:
        """The member's view of the warehouse; None for an operator."""

    def decide(self, action: Action, bucket: str, key: str) -> Decision: ...


@dataclass(frozen=True)
class Written:
    """What a put did: `info` None when the key is a fixed folder's marker (nothing written)."""

    info: ObjectInfo | None
    warning: str | None = None


@dataclass(frozen=True)
class Copied:
    """What a copy made (`info`), and the version of the source it copied (`source_version_id`,
    None in a bucket never versioned)."""

    info: ObjectInfo
    source_version_id: str | None


@dataclass(frozen=True)
class ObjectOperations:
    """The object changes of one caller through one door (`door`: `s3` or `console`)."""

    store: ObjectStore
    audit: AuditWriter
    caller: Caller
    door: str

    def authorize(self, action: Action, bucket: str, key: str) -> Decision:
        """The policy's decision, or AccessDenied (audited) with its reason."""
        decision = self.caller.decide(action, bucket, key)
        if not decision:
            self.audit.record(
                self.caller.actor,
                f"{self.door}.{action}",
                _uri(bucket, key),
                "denied",
                reason=decision.reason,
            )
            raise AccessDenied(f"Access Denied: {decision.reason}")
        return decision

    def record(self, action: str, bucket: str, key: str, **detail: object) -> None:
        """Audit a change done: `{door}.{action}` on s3://bucket/key."""
        self.audit.record(
            self.caller.actor, f"{self.door}.{action}", _uri(bucket, key), "ok", **detail
        )

    def always_exists(self, bucket: str, key: str) -> bool:
        """Whether `key` is the marker of a folder of the fixed layout the caller can see."""
        view = self.caller.view
        if view is None or not key.endswith("/") or bucket != view.org.bucket:
            return False
        if view.root.startswith(key):
            return True  # the root of the warehouse, or a folder on the way down to it
        path = view.path_of(bucket, key)
        return path is not None and is_fixed_folder(view.principal, view.org.id, path)

    async def put(
        self,
        bucket: str,
        key: str,
        body: AsyncIterator[bytes],
        *,
        length: int | None,
        content_type: str | None = None,
        metadata: dict[str, str] | None = None,
        if_match: str | None = None,
        if_none_match: str | None = None,
        content_md5: bytes | None = None,
        checksum: BodyChecksum | None = None,
        tags: dict[str, str] | None = None,
    ) -> Written:
        """Store `body` at `key`; an empty marker of a fixed folder is written as nothing."""
        if length == 0 and self.always_exists(bucket, key):
            return Written(None)
        decision = self.authorize(Action.WRITE, bucket, key)
        info = await self.store.put(
            bucket,
            key,
            body,
            content_type=content_type,
            metadata=metadata,
            if_match=if_match,
            if_none_match=if_none_match,
            content_md5=content_md5,
            checksum=checksum,
            tags=tags,
        )
        if not _heartbeat(key, info.size):
            self.record("put", bucket, key, size=info.size, etag=info.etag)
        return Written(info, decision.warning)

    async def make_folder(self, bucket: str, key: str) -> ObjectInfo | None:
        """A new folder's marker; None, with nothing written, when the folder exists (a fixed
        one always does; another when any key is below it)."""
        if self.always_exists(bucket, key):
            return None
        self.authorize(Action.WRITE, bucket, key)
        if (await self.store.list(bucket, prefix=key, max_keys=1)).objects:
            return None
        info = await self.store.put(bucket, key, _empty())
        self.record("folder", bucket, key)
        return info

    async def copy(
        self,
        src_bucket: str,
        src_key: str,
        bucket: str,
        key: str,
        *,
        src_version_id: str | None = None,
        check_source: Callable[[ObjectInfo], None] | None = None,
        metadata: dict[str, str] | None = None,
        content_type: str | None = None,
        replace_metadata: bool = False,
        if_match: str | None = None,
        if_none_match: str | None = None,
        checksum_algorithm: str | None = None,
        tags: dict[str, str] | None = None,
    ) -> Copied:
        """Copy the source's latest version (or `src_version_id`) after READ of the source and
        WRITE of the target; `check_source` sees the source's head first (the
        x-amz-copy-source-if-* conditions). `tags` replace the source's (which a copy
        otherwise keeps)."""
        self.authorize(Action.READ, src_bucket, src_key)
        self.authorize(Action.WRITE, bucket, key)
        source = await self._source(src_bucket, src_key, src_version_id, check_source)
        info = await self.store.copy(
            src_bucket,
            src_key,
            bucket,
            key,
            metadata=metadata,
            content_type=content_type,
            replace_metadata=replace_metadata,
            if_match=if_match,
            if_none_match=if_none_match,
            checksum_algorithm=checksum_algorithm,
            tags=tags,
            src_version_id=source,
        )
        self.record("copy", bucket, key, source=_uri(src_bucket, src_key, source), size=info.size)
        return Copied(info, source)

    async def _source(
        self,
        bucket: str,
        key: str,
        version_id: str | None,
        check: Callable[[ObjectInfo], None] | None,
    ) -> str | None:
        """The version a copy reads: `version_id`, or the latest's when it has one. The head
        that finds it is what `check` sees, so the conditions hold of what is copied. A
        delete marker cannot be copied (as S3 answers it: InvalidRequest)."""
        if check is None and version_id is not None:
            return version_id
        try:
            head = await self.store.head(bucket, key, version_id=version_id)
        except LakestowError as exc:
            if exc.code != "MethodNotAllowed":
                raise
            raise InvalidRequest(
                "The source of a copy request may not specifically refer to a delete marker "
                "by version id."
            ) from exc
        if check is not None:
            check(head)
        return head.version_id

    async def get_tags(self, bucket: str, key: str) -> dict[str, str]:
        """An object's tags, after READ: they are read as the object is."""
        self.authorize(Action.READ, bucket, key)
        return await self.store.get_tagging(bucket, key)

    async def put_tags(self, bucket: str, key: str, tags: dict[str, str]) -> None:
        """Replace an object's tags (none: remove them), after WRITE: a member may tag only
        what they may write. Audited as `tag`."""
        self.authorize(Action.WRITE, bucket, key)
        await self.store.put_tagging(bucket, key, tags)
        self.record("tag", bucket, key, tags=len(tags))

    async def move(self, bucket: str, old: str, new: str) -> None:
        """Copy `old` to `new` (never over an existing key), then delete `old`. Not audited
        key by key: the door records the move as the caller asked for it."""
        self.authorize(Action.DELETE, bucket, old)
        self.authorize(Action.WRITE, bucket, new)
        try:
            await self.store.copy(bucket, old, bucket, new, if_none_match="*")
        except PreconditionFailed as exc:
            raise AlreadyExists(
                f"{_uri(bucket, new)} already exists: nothing was overwritten"
            ) from exc
        await self.store.delete(bucket, old)

    async def delete(
        self,
        bucket: str,
        key: str,
        *,
        if_match: str | None = None,
        version_id: str | None = None,
    ) -> Deleted:
        """Delete `key` (a delete marker in a versioned bucket) or, with `version_id`, that
        version of it for good: either after DELETE of the key."""
        self.authorize(Action.DELETE, bucket, key)
        if if_match is not None:
            self.authorize(Action.READ, bucket, key)  # as S3: a conditional delete reveals the ETag
        deleted = await self.store.delete(bucket, key, if_match=if_match, version_id=version_id)
        self.record("delete", bucket, key, **_what(version_id, deleted))
        return deleted

    async def delete_many(
        self,
        bucket: str,
        keys: Sequence[str],
        *,
        version_ids: Sequence[str | None] = (),
        audit_each: bool = True,
    ) -> list[Deleted | LakestowError]:
        """Delete `keys` (each with its version id in `version_ids`, when given), each
        authorized on its own; per key, what was deleted or why it was not. With `audit_each`
        False the door audits the whole (a folder as one entry)."""
        versions = list(version_ids) or [None] * len(keys)
        outcomes: dict[int, Deleted | LakestowError] = {}
        allowed: list[int] = []
        for index, key in enumerate(keys):
            if index % AUTHORIZE_PER_TURN == AUTHORIZE_PER_TURN - 1:
                await anyio.lowlevel.checkpoint()
            try:
                self.authorize(Action.DELETE, bucket, key)
                allowed.append(index)
            except AccessDenied as exc:
                outcomes[index] = exc
        for start in range(0, len(allowed), BATCH):
            batch = allowed[start : start + BATCH]
            named = [versions[i] for i in batch] if version_ids else ()
            done = await self.store.delete_many(bucket, [keys[i] for i in batch], version_ids=named)
            # No turn of the loop in here (1,000 events: 1-2.5 ms): the deletions are
            # committed, and a cancellation at a turn would leave the rest unaudited.
            for index, outcome in zip(batch, done, strict=True):
                outcomes[index] = outcome
                if isinstance(outcome, Deleted) and audit_each:
                    self.record("delete", bucket, keys[index], **_what(versions[index], outcome))
        return [outcomes[index] for index in range(len(keys))]

    async def restore(self, bucket: str, key: str, version_id: str) -> ObjectInfo:
        """Make the version `version_id` of `key` its latest again: a copy of that version
        onto the key, so that the restore is a new version and nothing is lost. After READ
        and WRITE of the key; audited as `restore`. A delete marker (InvalidRequest) and the
        latest version (AlreadyExists) are refused, changing nothing."""
        self._authorize_restore(bucket, key)
        try:
            await self.store.head(bucket, key, version_id=version_id)
        except LakestowError as exc:
            if exc.code != "MethodNotAllowed":
                raise
            raise InvalidRequest(
                f"{_uri(bucket, key, version_id)} is a delete marker, which has no content: "
                "restore a version made before it"
            ) from exc
        try:
            latest = (await self.store.head(bucket, key)).version_id or NULL_VERSION
        except NotFound:
            latest = None  # deleted: its latest version is a delete marker
        if latest == version_id:
            raise AlreadyExists(
                f"{_uri(bucket, key, version_id)} is already the current version: nothing changed"
            )
        return await self._restore(bucket, key, version_id, audit=True)

    async def restore_many(
        self, bucket: str, versions: Sequence[tuple[str, str]], *, audit_each: bool = True
    ) -> list[ObjectInfo | LakestowError]:
        """Restore each (key, version id), as `restore` does but without looking at the
        latest first (the caller chose them). All or nothing as to access: every key is
        authorized before any is restored. Then in batches of RESTORE_BATCH copies at once;
        per key, the object made or why it was not. With `audit_each` False the door audits
        the whole (a folder as one entry)."""
        for index, (key, _) in enumerate(versions):
            if index % AUTHORIZE_PER_TURN == AUTHORIZE_PER_TURN - 1:
                await anyio.lowlevel.checkpoint()
            self._authorize_restore(bucket, key)
        outcomes: list[ObjectInfo | LakestowError] = []
        for start in range(0, len(versions), RESTORE_BATCH):
            batch = versions[start : start + RESTORE_BATCH]
            outcomes += await asyncio.gather(
                *(self._restore_or_error(bucket, key, vid, audit_each) for key, vid in batch)
            )
        return outcomes

    def _authorize_restore(self, bucket: str, key: str) -> None:
        self.authorize(Action.READ, bucket, key)
        self.authorize(Action.WRITE, bucket, key)

    async def _restore_or_error(
        self, bucket: str, key: str, version_id: str, audit: bool
    ) -> ObjectInfo | LakestowError:
        try:
            return await self._restore(bucket, key, version_id, audit=audit)
        except LakestowError as exc:
            return exc

    async def _restore(self, bucket: str, key: str, version_id: str, *, audit: bool) -> ObjectInfo:
        info = await self.store.copy(bucket, key, bucket, key, src_version_id=version_id)
        if audit:
            self.record(
                "restore",
                bucket,
                key,
                version_id=version_id,
                new_version_id=info.version_id,
                size=info.size,
            )
        return info

    # Multipart uploads: every call names the key and is authorized again, so that an upload
    # id alone gives nothing.

    async def start_upload(
        self,
        bucket: str,
        key: str,
        *,
        content_type: str | None = None,
        metadata: dict[str, str] | None = None,
        checksum_algorithm: str | None = None,
        checksum_type: str | None = None,
        tags: dict[str, str] | None = None,
        **detail: object,
    ) -> str:
        """A new multipart upload to `key`; its id. `detail` goes to the audit entry."""
        self.authorize(Action.WRITE, bucket, key)
        upload_id = await self.store.create_multipart(
            bucket,
            key,
            content_type=content_type,
            metadata=metadata,
            checksum_algorithm=checksum_algorithm,
            checksum_type=checksum_type,
            tags=tags,
        )
        self.record("upload.start", bucket, key, upload_id=upload_id, **detail)
        return upload_id

    async def upload_part(
        self,
        bucket: str,
        key: str,
        upload_id: str,
        number: int,
        body: Body,
        *,
        content_md5: bytes | None = None,
        checksum: BodyChecksum | None = None,
    ) -> PartInfo:
        self.authorize(Action.WRITE, bucket, key)
        return await self.store.upload_part(
            bucket, key, upload_id, number, body, content_md5=content_md5, checksum=checksum
        )

    async def upload_part_copy(
        self,
        bucket: str,
        key: str,
        upload_id: str,
        number: int,
        src_bucket: str,
        src_key: str,
        *,
        src_version_id: str | None = None,
        byte_range: tuple[int, int] | None = None,
        check_source: Callable[[ObjectInfo], None] | None = None,
    ) -> tuple[PartInfo, str | None]:
        """A part copied from an object's latest version (or `src_version_id`), after WRITE
        of the target and READ of the source, and the version it copied; `check_source` sees
        the source's head first (the x-amz-copy-source-if-* conditions)."""
        self.authorize(Action.WRITE, bucket, key)
        self.authorize(Action.READ, src_bucket, src_key)
        source = await self._source(src_bucket, src_key, src_version_id, check_source)
        part = await self.store.upload_part_copy(
            bucket,
            key,
            upload_id,
            number,
            src_bucket,
            src_key,
            byte_range=byte_range,
            src_version_id=source,
        )
        return part, source

    async def list_parts(
        self, bucket: str, key: str, upload_id: str, *, marker: int = 0, max_parts: int = 1000
    ) -> PartsPage:
        self.authorize(Action.WRITE, bucket, key)
        return await self.store.list_parts(
            bucket, key, upload_id, part_number_marker=marker, max_parts=max_parts
        )

    async def complete_upload(
        self,
        bucket: str,
        key: str,
        upload_id: str,
        parts: Sequence[tuple[int, str]],
        *,
        if_match: str | None = None,
        if_none_match: str | None = None,
        checks: CompleteChecks | None = None,
    ) -> ObjectInfo:
        """The object made of `parts` (number, ETag), audited as a put."""
        self.authorize(Action.WRITE, bucket, key)
        info = await self.store.complete_multipart(
            bucket,
            key,
            upload_id,
            parts,
            if_match=if_match,
            if_none_match=if_none_match,
            checks=checks,
        )
        self.record("put", bucket, key, size=info.size, etag=info.etag, parts=len(parts))
        return info

    async def abort_upload(self, bucket: str, key: str, upload_id: str) -> None:
        self.authorize(Action.WRITE, bucket, key)
        await self.store.abort_multipart(bucket, key, upload_id)
        self.record("upload.abort", bucket, key, upload_id=upload_id)


def _uri(bucket: str, key: str, version_id: str | None = None) -> str:
    uri = f"s3://{bucket}/{key}"
    return uri if version_id is None else f"{uri}?versionId={version_id}"


def _what(version_id: str | None, deleted: Deleted) -> dict[str, object]:
    """The audit details of a delete: the version removed for good, or the marker made."""
    if version_id is not None:
        return {"version_id": version_id, "delete_marker": deleted.delete_marker}
    if deleted.delete_marker:
        return {"marker_version_id": deleted.version_id}
    return {}


async def _empty() -> AsyncIterator[bytes]:
    return
    yield b""


def _heartbeat(key: str, size: int) -> bool:
    """Whether a PUT of `key` is the sync agent writing its status object."""
    return key.rpartition("/")[2] == STATUS_NAME and size <= HEARTBEAT_BYTES
