"""The remote copy: the S3 operations the agent uses, on keys relative to one prefix.

One client: obstore for the data (PUTs of files, conditional and with user metadata; GETs;
HEADs), and, for the requests obstore has no words for (keys ending in `/`, DELETE and copy
with If-Match, conditional multipart commits, listings that keep `/`-ended keys, versions),
SigV4-signed requests of our own (`signed`). No boto3. obstore's errors and the S3 error
answers are translated here and only here (STYLE convention 2).
"""

from __future__ import annotations

import io
import os
import re
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import datetime
from typing import IO, TYPE_CHECKING, Any, NamedTuple
from urllib.parse import quote

from lakestow.sync.credentials import CachedCredentials, CredentialSource, s3_store
from lakestow.sync.errors import NotFound, PreconditionFailed, RemoteError

if TYPE_CHECKING:
    from xml.etree.ElementTree import Element

    from obstore.store import S3Store

    from lakestow.sync import tar
    from lakestow.sync.signed import Answer, Signer

NOT_FOUND = {"NoSuchKey", "NoSuchUpload", "404", "NotFound"}
META = "x-amz-meta-"
SHA256, UNSIGNED = "x-amz-content-sha256", "UNSIGNED-PAYLOAD"
WHOLE = 4 << 20
"""Objects up to this size are read in one piece by a GET, larger ones streamed."""
ARCHIVE = {"lakestow-archive": "tar"}
"""A lakestow extension: every object under a prefix in one tar answer (`s3api.archive`, whose
docstring tells the format; the names below are its)."""
ARCHIVE_TYPE, ARCHIVE_END = "application/x-tar", ".lakestow-archive-end"
PAX_ETAG, PAX_META, PAX_END = "LAKESTOW.etag", "LAKESTOW.meta.", "LAKESTOW.end"
MD5_ETAG = re.compile("[0-9a-f]{32}")
"""An ETag that is the MD5 of the object's bytes: one PUT's (S3 and lakestow; not under
SSE-KMS, where a state checksum taken from it only makes a later `--checksum` send again)."""


@dataclass(frozen=True)
class Endpoint:
    """Where the S3 endpoint is and how to sign for it; `pool`: concurrent connections."""

    url: str | None
    region: str
    source: CredentialSource
    pool: int = 32

    @property
    def resolved_url(self) -> str:
        return self.url or f"https://s3.{self.region}.amazonaws.com"


class RemoteObject(NamedTuple):
    """One object under the prefix: its path relative to the prefix, size and ETag (and,
    for an older version, its version id). (Named tuples here are cheaper than dataclasses
    to define and to make: a listing makes one per object, and a command that makes none
    still imports this module.)"""

    path: str
    size: int
    etag: str
    version_id: str | None = None


class Archived(NamedTuple):
    """One member of an archive (`Remote.archive`): the object, what a GET of it would have
    told, and its bytes: in memory (up to `WHOLE`), or pieces to take now, before the next
    member (None for a folder marker)."""

    obj: RemoteObject
    got: Downloaded
    data: bytes | Iterator[bytes] | None

    def write(self, fd: int) -> Downloaded:
        """Write the member's bytes to `fd`."""
        data = self.data
        if data is None:
            return self.got
        return _written(fd, self.got, [data] if isinstance(data, bytes) else data)


class Downloaded(NamedTuple):
    """What a GET brought: the ETag, the MD5 of the content (the ETag, when it is one:
    `MD5_ETAG`), the object's user metadata."""

    etag: str
    md5: str
    meta: Mapping[str, str]


@contextmanager
def _translated() -> Iterator[None]:
    """obstore's errors and transport failures as the agent's closed set (`errors`)."""
    import http.client

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
    except (NotFoundError, FileNotFoundError) as exc:
        raise NotFound("NoSuchKey", _first_line(exc)) from exc
    except BaseError as exc:
        raise RemoteError(type(exc).__name__, _first_line(exc)) from exc
    except (OSError, http.client.HTTPException) as exc:
        raise RemoteError(type(exc).__name__, str(exc) or type(exc).__name__) from exc


@contextmanager
def _transport() -> Iterator[None]:
    """A connection's failures while an answer is read, as RemoteError (and nothing else:
    a local file's OSError stays what it is)."""
    import http.client

    try:
        yield
    except http.client.IncompleteRead as exc:
        message = "the connection closed in the middle of an answer (did the server stop?)"
        raise RemoteError("IncompleteRead", message) from exc
    except (http.client.HTTPException, ConnectionError, TimeoutError) as exc:
        raise RemoteError(type(exc).__name__, str(exc) or type(exc).__name__) from exc


def _checked(answer: Answer) -> Answer:
    """`answer`, or its S3 error raised (also an error in a 200 body, as CompleteMultipart
    and CopyObject may send)."""
    error = _error(answer.body) if answer.status >= 300 or b"<Error>" in answer.body else None
    if answer.status < 300 and error is None:
        return answer
    code, message = error or (str(answer.status), f"HTTP {answer.status}")
    if answer.status == 412 or code == "PreconditionFailed":
        raise PreconditionFailed(code, message)
    if answer.status == 404 or code in NOT_FOUND:
        raise NotFound(code, message)
    raise RemoteError(code, message)


def _error(body: bytes) -> tuple[str, str] | None:
    from defusedxml.ElementTree import ParseError, fromstring

    try:
        root = fromstring(body) if body.strip() else None
    except ParseError:
        return None
    if root is None or _name(root) != "Error":
        return None
    return _text(root, "Code") or "Unknown", _text(root, "Message")


def _first_line(exc: Exception) -> str:
    return next(iter(str(exc).strip().splitlines()), type(exc).__name__)


def _name(element: Element) -> str:
    return element.tag.rpartition("}")[2]


def _children(element: Element, name: str) -> Iterator[Element]:
    return (child for child in element if _name(child) == name)


def _text(element: Element, name: str) -> str:
    return next((child.text or "" for child in _children(element, name)), "")


def _parse(body: bytes) -> Element:
    from defusedxml.ElementTree import ParseError, fromstring

    try:
        return fromstring(body)
    except ParseError as exc:
        raise RemoteError("MalformedAnswer", f"the endpoint's answer is not XML: {exc}") from exc


def parse_s3_uri(uri: str) -> tuple[str, str]:
    """`s3://bucket/some/prefix/` -> ("bucket", "some/prefix/")."""
    if not uri.startswith("s3://"):
        raise ValueError(f"not an s3:// URI: {uri}")
    bucket, _, prefix = uri[5:].partition("/")
    if not bucket:
        raise ValueError(f"no bucket in {uri}")
    return bucket, (prefix.rstrip("/") + "/") if prefix.strip("/") else ""


def _unquote(etag: str | None) -> str:
    if not etag:
        raise RemoteError("NoETag", "the endpoint answered without an ETag")
    return etag.strip('"')


def _conditions(if_match: str | None, new: bool) -> dict[str, str]:
    if if_match is not None:
        return {"if-match": f'"{if_match}"'}
    return {"if-none-match": "*"} if new else {}


class Remote:
    """The objects under `s3://bucket/prefix`, addressed by relative POSIX paths.

    The clients are made on first use, so a pass with nothing to do never fetches
    credentials; `requests` counts every S3 request made.
    """

    def __init__(self, endpoint: Endpoint, bucket: str, prefix: str) -> None:
        self.endpoint = endpoint
        self.bucket = bucket
        self.prefix = prefix
        self.requests = 0
        self._credentials = CachedCredentials(endpoint.source)
        self._store: S3Store | None = None
        self._signer: Signer | None = None
        self._lock = threading.Lock()

    @property
    def store(self) -> S3Store:
        with self._lock:
            if self._store is None:
                e = self.endpoint
                self._store = s3_store(e.url, e.region, self._credentials, self.bucket, e.pool)
            return self._store

    @property
    def signer(self) -> Signer:
        with self._lock:
            if self._signer is None:
                from lakestow.sync.signed import Signer

                e = self.endpoint
                self._signer = Signer(e.resolved_url, e.region, self._credentials, 300.0)
            return self._signer

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"

    def key(self, path: str) -> str:
        return self.prefix + path

    def _count(self) -> None:
        with self._lock:
            self.requests += 1

    def _send(
        self,
        method: str,
        path: str | None,
        query: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        body: bytes = b"",
    ) -> Answer:
        """A signed request on `path` (None: the bucket), its error raised."""
        self._count()
        key = "" if path is None else self.key(path)
        with _translated():
            answer = self.signer.request(method, self.bucket, key, query, headers, body)
        return _checked(answer)

    def put(
        self,
        path: str,
        data: bytes,
        *,
        if_match: str | None = None,
        new: bool = False,
        meta: Mapping[str, str] | None = None,
    ) -> str:
        """PUT bytes with user metadata `meta`; `if_match` an ETag, `new` for If-None-Match: *.
        Returns the new ETag."""
        if path.endswith("/"):  # obstore drops a trailing "/"
            headers = _conditions(if_match, new) | {META + k: v for k, v in (meta or {}).items()}
            return _unquote(self._send("PUT", path, headers=headers, body=data).headers.get("etag"))
        import obstore

        mode: Any = {"e_tag": f'"{if_match}"'} if if_match else "create" if new else "overwrite"
        self._count()
        with _translated():
            answer = obstore.put(
                self.store,
                self.key(path),
                data,
                mode=mode,
                use_multipart=False,
                attributes=dict(meta) if meta else None,
            )
        return _unquote(answer.get("e_tag"))

    def start_upload(self, path: str, meta: Mapping[str, str] | None = None) -> str:
        headers = {META + k: v for k, v in (meta or {}).items()}
        answer = self._send("POST", path, {"uploads": ""}, headers)
        return _text(_parse(answer.body), "UploadId")

    def put_part(self, path: str, upload_id: str, number: int, data: bytes, md5: bytes) -> str:
        """UploadPart of `data`, whose MD5 digest is `md5`: sent as Content-MD5, which the
        endpoint checks, and the payload left unsigned (UNSIGNED-PAYLOAD), so the part is
        hashed once (the MD5 the agent needs anyway), not also with SHA-256 for the signature."""
        import base64

        query = {"partNumber": str(number), "uploadId": upload_id}
        headers = {"content-md5": base64.b64encode(md5).decode(), SHA256: UNSIGNED}
        return _unquote(self._send("PUT", path, query, headers, data).headers.get("etag"))

    def complete(
        self,
        path: str,
        upload_id: str,
        etags: Sequence[str],
        *,
        if_match: str | None = None,
        new: bool = False,
    ) -> str:
        from xml.sax.saxutils import escape

        parts = "".join(
            f"<Part><PartNumber>{i + 1}</PartNumber><ETag>&quot;{escape(e)}&quot;</ETag></Part>"
            for i, e in enumerate(etags)
        )
        body = f"<CompleteMultipartUpload>{parts}</CompleteMultipartUpload>".encode()
        answer = self._send("POST", path, {"uploadId": upload_id}, _conditions(if_match, new), body)
        return _unquote(_text(_parse(answer.body), "ETag"))

    def abort(self, path: str, upload_id: str) -> None:
        with suppress(NotFound):
            self._send("DELETE", path, {"uploadId": upload_id})

    def head(self, path: str) -> str | None:
        """The ETag of `path`, or None when it does not exist."""
        try:
            if path.endswith("/"):
                return _unquote(self._send("HEAD", path).headers.get("etag"))
            import obstore

            self._count()
            with _translated():
                return _unquote(obstore.head(self.store, self.key(path))["e_tag"])
        except NotFound:
            return None

    def copy(self, source: str, target: str, *, if_match: str) -> None:
        """Server-side copy of `source` (only if its ETag is still `if_match`) to `target`,
        its user metadata with it."""
        headers = {
            "x-amz-copy-source": quote(f"/{self.bucket}/{self.key(source)}", safe="/-_.~"),
            "x-amz-copy-source-if-match": f'"{if_match}"',
        }
        self._send("PUT", target, headers=headers)

    def replace_meta(self, path: str, meta: Mapping[str, str], *, if_match: str) -> str:
        """Replace the user metadata of `path` (only if its ETag is still `if_match`) by a copy
        onto itself, its bytes kept; returns the ETag the copy answers."""
        headers = {
            "x-amz-copy-source": quote(f"/{self.bucket}/{self.key(path)}", safe="/-_.~"),
            "x-amz-copy-source-if-match": f'"{if_match}"',
            "x-amz-metadata-directive": "REPLACE",
        } | {META + k: v for k, v in meta.items()}
        answer = self._send("PUT", path, headers=headers)
        return _unquote(_text(_parse(answer.body), "ETag"))

    def delete_one(self, path: str, *, if_match: str) -> None:
        """DeleteObject with If-Match: a version written since `if_match` was read is refused
        (PreconditionFailed), never deleted, by a server that honours it (lakestow, AWS S3,
        moto); see `apply._delete`."""
        self._send("DELETE", path, headers={"if-match": f'"{if_match}"'})

    def _pages(self, query: dict[str, str], markers: Sequence[str]) -> Iterator[Element]:
        """Each page of a listing under the prefix; `markers` name the answer's fields that
        continue it (copied into the next request's query under the same lower-case
        hyphenated names as S3 expects)."""
        query = {"prefix": self.prefix, **query}
        while True:
            page = _parse(self._send("GET", None, query).body)
            yield page
            if _text(page, "IsTruncated") != "true":
                return
            for name in markers:
                value = _text(page, name)
                if value:
                    query[_query_name(name)] = value

    def list(self) -> Iterator[RemoteObject]:
        """Every object under the prefix (folder markers included, as paths ending in /)."""
        query = {"list-type": "2"}
        for page in self._pages(query, ["NextContinuationToken"]):
            for item in _children(page, "Contents"):
                path = _text(item, "Key")[len(self.prefix) :]
                yield RemoteObject(path, int(_text(item, "Size")), _unquote(_text(item, "ETag")))

    def list_as_of(self, moment: datetime) -> Iterator[RemoteObject]:
        """Every object under the prefix as it was at `moment`, with its version id: for each
        key, the newest of its versions made by then, unless that is a delete marker (or
        there is none). Needs the bucket to keep versions (the warehouse's trash)."""
        newest: dict[str, tuple[datetime, RemoteObject | None]] = {}
        for page in self._pages({"versions": ""}, ["NextKeyMarker", "NextVersionIdMarker"]):
            for item in page:
                kind = _name(item)
                if kind not in ("Version", "DeleteMarker"):
                    continue
                made = datetime.fromisoformat(_text(item, "LastModified").replace("Z", "+00:00"))
                path = _text(item, "Key")[len(self.prefix) :]
                if made > moment or (path in newest and newest[path][0] >= made):
                    continue
                version = None
                if kind == "Version":
                    etag, size = _unquote(_text(item, "ETag")), int(_text(item, "Size"))
                    version = RemoteObject(path, size, etag, _text(item, "VersionId"))
                newest[path] = (made, version)
        for path in sorted(newest):
            version = newest[path][1]
            if version is not None:
                yield version

    def download(self, path: str, fd: int, version_id: str | None = None) -> Downloaded:
        """Write `path` (its version `version_id`, if given) to the file descriptor `fd`."""
        import obstore

        self._count()
        with _translated():
            options: Any = {} if version_id is None else {"version": version_id}
            answer = obstore.get(self.store, self.key(path), options=options)
            etag = _unquote(answer.meta["e_tag"])
            if answer.meta["size"] <= WHOLE:  # one crossing into obstore, not a stream's
                blocks: Iterable[Any] = [answer.bytes()]
            else:
                blocks = answer.stream(min_chunk_size=1 << 20)
            meta = {k.lower(): v for k, v in answer.attributes.items()}
            return _written(fd, Downloaded(etag, etag, meta), blocks)

    @contextmanager
    def archive(self) -> Iterator[Iterator[Archived] | None]:
        """Every object under the prefix, bytes and all, from one request (`ARCHIVE`); None
        from an endpoint that does not know it (it answers a listing, or an error): GET each
        instead (a refusal that is not about the archive comes again from the listing)."""
        query = ARCHIVE | {"prefix": self.prefix}
        self._count()
        with _translated():
            response = self.signer.open("GET", self.bucket, "", query)
        with response:
            if response.status >= 300 or response.getheader("content-type") != ARCHIVE_TYPE:
                yield None
                return
            # (not yielded inside _translated: the caller's own errors come back through here)
            yield _members(self.prefix, io.BufferedReader(response, 1 << 20))

    def abort_uploads(self, started_before: datetime) -> int:
        """Abort the multipart uploads under the prefix begun before a time (a dead agent's)."""
        aborted = 0
        for page in self._pages({"uploads": ""}, ["NextKeyMarker", "NextUploadIdMarker"]):
            for upload in _children(page, "Upload"):
                begun = _text(upload, "Initiated").replace("Z", "+00:00")
                if datetime.fromisoformat(begun) < started_before:
                    self.abort(_text(upload, "Key")[len(self.prefix) :], _text(upload, "UploadId"))
                    aborted += 1
        return aborted

    def put_json(self, path: str, data: bytes) -> None:
        import obstore

        self._count()
        with _translated():
            obstore.put(
                self.store, self.key(path), data, attributes={"Content-Type": "application/json"}
            )


def _members(prefix: str, stream: IO[bytes]) -> Iterator[Archived]:
    """The members of an archive as the agent's objects; RemoteError if it ends before its
    last member says it is whole (a server failing mid-answer)."""
    from lakestow.sync import tar

    reader = tar.Reader(stream)
    count = 0
    with _archive_errors(prefix):
        while (member := reader.next()) is not None:
            pax = member.pax
            if member.name == ARCHIVE_END and PAX_END in pax:
                if pax[PAX_END] == str(count):
                    return
                break
            count += 1
            etag = pax.get(PAX_ETAG, "")
            meta = {k[len(PAX_META) :]: v for k, v in pax.items() if k.startswith(PAX_META)}
            data: bytes | Iterator[bytes] | None = None
            if not member.folder:
                data = reader.read() if member.size <= WHOLE else _pieces(prefix, reader)
            obj = RemoteObject(member.name, member.size, etag)
            yield Archived(obj, Downloaded(etag, etag, meta), data)
    raise RemoteError("IncompleteArchive", f"the archive of {prefix!r} ended early")


def _pieces(prefix: str, reader: tar.Reader) -> Iterator[bytes]:
    with _archive_errors(prefix):
        yield from reader.pieces()


@contextmanager
def _archive_errors(prefix: str) -> Iterator[None]:
    """An archive that cannot be read, or a connection lost while reading it: RemoteError."""
    from lakestow.sync.tar import TarError

    with _transport():
        try:
            yield
        except TarError as exc:
            raise RemoteError("MalformedAnswer", f"the archive of {prefix!r}: {exc}") from exc


def _written(fd: int, got: Downloaded, blocks: Iterable[Any]) -> Downloaded:
    """Write `blocks` to `fd`; `got` with the MD5 of what was written, hashed only when its
    ETag is not the MD5 already (a single-part object's is)."""
    import hashlib

    digest = None if MD5_ETAG.fullmatch(got.etag) else hashlib.md5(usedforsecurity=False)
    for block in blocks:
        if digest:
            digest.update(block)
        _write_all(fd, memoryview(block))
    return got._replace(md5=digest.hexdigest()) if digest else got


def _write_all(fd: int, data: memoryview) -> None:
    """Write all of `data` to `fd` (os.write may take less than it is given)."""
    while data:
        data = data[os.write(fd, data) :]


def _query_name(field_name: str) -> str:
    """`NextKeyMarker` -> `key-marker`, `NextContinuationToken` -> `continuation-token`."""
    words: list[str] = []
    for char in field_name.removeprefix("Next"):
        if char.isupper() and words:
            words.append("-")
        words.append(char.lower())
    return "".join(words)
