"""The remote copy: the S3 operations the agent uses, on keys relative to one prefix.

Requests go through boto3, but for small PUTs when an obstore store is given: those are most
of the requests of a first sync, and obstore spends a quarter of botocore's CPU on each.
botocore's and obstore's errors are translated here and only here (STYLE convention 2).
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, BinaryIO

from lakestow.sync.errors import NotFound, PreconditionFailed, RemoteError

if TYPE_CHECKING:
    from obstore.store import S3Store

S3Client = Any
"""A boto3 S3 client: botocore makes its methods at run time, so it is typed loosely."""

NOT_FOUND = {"NoSuchKey", "NoSuchUpload", "404", "NotFound"}


@dataclass(frozen=True)
class RemoteObject:
    """One object under the prefix: its path relative to the prefix, size and ETag (and,
    for an older version, its version id)."""

    path: str
    size: int
    etag: str
    version_id: str | None = None


@contextmanager
def _translated() -> Iterator[None]:
    from botocore.exceptions import (  # type: ignore[import-untyped, unused-ignore]
        BotoCoreError,
        ClientError,
    )

    try:
        yield
    except ClientError as exc:
        error = exc.response.get("Error", {})
        code = str(error.get("Code", "Unknown"))
        message = str(error.get("Message", "")) or str(exc)
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if status == 412 or code == "PreconditionFailed":
            raise PreconditionFailed(code, message) from exc
        if code in NOT_FOUND:
            raise NotFound(code, message) from exc
        raise RemoteError(code, message) from exc
    except BotoCoreError as exc:
        raise RemoteError(type(exc).__name__, str(exc)) from exc


@contextmanager
def _translated_store() -> Iterator[None]:
    from obstore.exceptions import (
        AlreadyExistsError,
        BaseError,
        NotFoundError,
        PreconditionError,
    )

    try:
        yield
    except (PreconditionError, AlreadyExistsError) as exc:  # If-Match, If-None-Match: *
        raise PreconditionFailed("PreconditionFailed", _first_line(exc)) from exc
    except NotFoundError as exc:
        raise NotFound("NoSuchKey", _first_line(exc)) from exc
    except BaseError as exc:
        raise RemoteError(type(exc).__name__, _first_line(exc)) from exc


def _first_line(exc: Exception) -> str:
    return next(iter(str(exc).strip().splitlines()), type(exc).__name__)


def parse_s3_uri(uri: str) -> tuple[str, str]:
    """`s3://bucket/some/prefix/` -> ("bucket", "some/prefix/")."""
    if not uri.startswith("s3://"):
        raise ValueError(f"not an s3:// URI: {uri}")
    bucket, _, prefix = uri[5:].partition("/")
    if not bucket:
        raise ValueError(f"no bucket in {uri}")
    return bucket, (prefix.rstrip("/") + "/") if prefix.strip("/") else ""


def _unquote(etag: str) -> str:
    return etag.strip('"')


class Remote:
    """The objects under `s3://bucket/prefix`, addressed by relative POSIX paths.

    The client is made on first use (`connect`), so a pass with nothing to do never fetches
    credentials; `requests` counts every S3 request made.
    """

    def __init__(
        self,
        connect: Callable[[], S3Client],
        bucket: str,
        prefix: str,
        store: Callable[[], S3Store] | None = None,
    ) -> None:
        self.connect = connect
        self.connect_store = store
        self.bucket = bucket
        self.prefix = prefix
        self.requests = 0
        self._client: S3Client | None = None
        self._store: S3Store | None = None
        self._lock = threading.Lock()
        self._count_lock = threading.Lock()

    @property
    def client(self) -> S3Client:
        with self._lock:
            if self._client is None:
                self._client = self.connect()
                self._client.meta.events.register("before-call.s3", self._count)
            return self._client

    @property
    def store(self) -> S3Store | None:
        """The obstore store for small PUTs, made on first use; None: boto3 does them."""
        with self._lock:
            if self._store is None and self.connect_store is not None:
                self._store = self.connect_store()
            return self._store

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"

    def _count(self, **_: Any) -> None:
        with self._count_lock:
            self.requests += 1

    def key(self, path: str) -> str:
        return self.prefix + path

    def put(self, path: str, data: bytes, *, if_match: str | None = None, new: bool = False) -> str:
        """PUT bytes; `if_match` an ETag, `new` for If-None-Match: *. Returns the new ETag."""
        store = None if path.endswith("/") else self.store  # obstore drops a trailing "/"
        if store is not None:
            return self._put_store(store, path, data, if_match, new)
        args = _conditions(if_match, new)
        with _translated():
            answer = self.client.put_object(
                Bucket=self.bucket, Key=self.key(path), Body=data, **args
            )
        return _unquote(answer["ETag"])

    def _put_store(
        self, store: S3Store, path: str, data: bytes, if_match: str | None, new: bool
    ) -> str:
        import obstore

        mode: Any = {"e_tag": f'"{if_match}"'} if if_match else "create" if new else "overwrite"
        self._count()
        with _translated_store():
            answer = obstore.put(store, self.key(path), data, mode=mode, use_multipart=False)
        if not answer.get("e_tag"):
            raise RemoteError("NoETag", f"the PUT of {path} was answered without an ETag")
        return _unquote(str(answer["e_tag"]))

    def start_upload(self, path: str) -> str:
        with _translated():
            answer = self.client.create_multipart_upload(Bucket=self.bucket, Key=self.key(path))
        return str(answer["UploadId"])

    def put_part(self, path: str, upload_id: str, number: int, data: bytes) -> str:
        with _translated():
            answer = self.client.upload_part(
                Bucket=self.bucket,
                Key=self.key(path),
                UploadId=upload_id,
                PartNumber=number,
                Body=data,
            )
        return _unquote(answer["ETag"])

    def complete(
        self,
        path: str,
        upload_id: str,
        etags: Sequence[str],
        *,
        if_match: str | None = None,
        new: bool = False,
    ) -> str:
        parts = [{"PartNumber": i + 1, "ETag": f'"{e}"'} for i, e in enumerate(etags)]
        with _translated():
            answer = self.client.complete_multipart_upload(
                Bucket=self.bucket,
                Key=self.key(path),
                UploadId=upload_id,
                MultipartUpload={"Parts": parts},
                **_conditions(if_match, new),
            )
        return _unquote(answer["ETag"])

    def abort(self, path: str, upload_id: str) -> None:
        try:
            with _translated():
                self.client.abort_multipart_upload(
                    Bucket=self.bucket, Key=self.key(path), UploadId=upload_id
                )
        except NotFound:
            pass

    def head(self, path: str) -> str | None:
        """The ETag of `path`, or None when it does not exist."""
        try:
            with _translated():
                answer = self.client.head_object(Bucket=self.bucket, Key=self.key(path))
        except NotFound:
            return None
        return _unquote(answer["ETag"])

    def copy(self, source: str, target: str, *, if_match: str) -> None:
        """Server-side copy of `source` (only if its ETag is still `if_match`) to `target`."""
        with _translated():
            self.client.copy_object(
                Bucket=self.bucket,
                Key=self.key(target),
                CopySource={"Bucket": self.bucket, "Key": self.key(source)},
                CopySourceIfMatch=f'"{if_match}"',
            )

    def delete_one(self, path: str, *, if_match: str) -> None:
        """DeleteObject with If-Match: a version written since `if_match` was read is refused
        (PreconditionFailed), never deleted, by a server that honours it (lakestow, AWS S3,
        moto); see `apply._delete`."""
        with _translated():
            self.client.delete_object(
                Bucket=self.bucket, Key=self.key(path), IfMatch=f'"{if_match}"'
            )

    def list(self) -> Iterator[RemoteObject]:
        """Every object under the prefix (folder markers included, as paths ending in /)."""
        paginator = self.client.get_paginator("list_objects_v2")
        with _translated():
            for page in paginator.paginate(Bucket=self.bucket, Prefix=self.prefix):
                for item in page.get("Contents", []):
                    path = str(item["Key"])[len(self.prefix) :]
                    yield RemoteObject(path, int(item["Size"]), _unquote(str(item["ETag"])))

    def list_as_of(self, moment: datetime) -> Iterator[RemoteObject]:
        """Every object under the prefix as it was at `moment`, with its version id: for each
        key, the newest of its versions made by then, unless that is a delete marker (or
        there is none). Needs the bucket to keep versions (the warehouse's trash)."""
        newest: dict[str, tuple[datetime, RemoteObject | None]] = {}
        paginator = self.client.get_paginator("list_object_versions")
        with _translated():
            for page in paginator.paginate(Bucket=self.bucket, Prefix=self.prefix):
                found = [(v, False) for v in page.get("Versions", [])]
                found += [(m, True) for m in page.get("DeleteMarkers", [])]
                for item, marker in found:
                    made = item["LastModified"]
                    path = str(item["Key"])[len(self.prefix) :]
                    if made > moment or (path in newest and newest[path][0] >= made):
                        continue
                    version = None
                    if not marker:
                        etag = _unquote(str(item["ETag"]))
                        version = RemoteObject(path, int(item["Size"]), etag, item["VersionId"])
                    newest[path] = (made, version)
        for path in sorted(newest):
            version = newest[path][1]
            if version is not None:
                yield version

    def download(self, path: str, out: BinaryIO, version_id: str | None = None) -> tuple[str, str]:
        """Stream `path` (its version `version_id`, if given) into `out`; its ETag and the
        MD5 of its content."""
        digest = hashlib.md5(usedforsecurity=False)
        version = {} if version_id is None else {"VersionId": version_id}
        with _translated():
            answer = self.client.get_object(Bucket=self.bucket, Key=self.key(path), **version)
            body = answer["Body"]
            while block := body.read(1 << 20):
                digest.update(block)
                out.write(block)
        return _unquote(answer["ETag"]), digest.hexdigest()

    def abort_uploads(self, started_before: datetime) -> int:
        """Abort the multipart uploads under the prefix begun before a time (a dead agent's)."""
        paginator = self.client.get_paginator("list_multipart_uploads")
        aborted = 0
        with _translated():
            for page in paginator.paginate(Bucket=self.bucket, Prefix=self.prefix):
                for upload in page.get("Uploads", []):
                    if upload["Initiated"] < started_before:
                        path = str(upload["Key"])[len(self.prefix) :]
                        self.abort(path, str(upload["UploadId"]))
                        aborted += 1
        return aborted

    def put_json(self, path: str, data: bytes) -> None:
        with _translated():
            self.client.put_object(
                Bucket=self.bucket, Key=self.key(path), Body=data, ContentType="application/json"
            )


def _conditions(if_match: str | None, new: bool) -> dict[str, str]:
    if if_match is not None:
        return {"IfMatch": f'"{if_match}"'}
    return {"IfNoneMatch": "*"} if new else {}
