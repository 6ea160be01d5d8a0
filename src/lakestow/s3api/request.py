"""One authenticated S3 request: who sent it, where it points, and its body as a checked stream.

Which buckets exist, for whom (`require_bucket`, asked of every request that names a bucket
before anything else is decided, and of a copy's source bucket). S3 answers 404 NoSuchBucket
for a bucket that does not exist and 403 AccessDenied for one that exists and is not yours.
Lakestow follows it, from the caller's point of view:

- An operator sees buckets as an AWS account does: its own buckets are there; a bucket of
  another operator or one holding organizations exists and is not its (403); any other name
  does not exist (404). Operators run the deployment's tooling and are told as much as AWS
  tells anyone: which names are taken.
- A member's world is their organization's bucket. Every other name answers NoSuchBucket,
  whether a bucket of that name exists (another organization's, an operator's) or not. This is
  the rule of the warehouse (DESIGN.md section 1) applied to buckets: a member gets the answer
  they would get if what they may not see did not exist, so no answer depends on what lies
  outside their organization, and nothing crosses organizations. (A 403 for the buckets that
  exist would tell every member which names other organizations and operators use.)
  Inside their organization's bucket the policy decides, path by path: another member's folder
  answers exactly like a missing key outside one's permissions (403), as before.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from lakestow.auth import sigv4
from lakestow.auth.checksums import HEADER_PREFIX, Checksummer, algorithm_of_header
from lakestow.auth.chunked import MAX_CHUNK_SIZE, AwsChunkedDecoder
from lakestow.auth.credentials import Operator
from lakestow.auth.policy import Action, Decision, Principal, Target, decide
from lakestow.domain import OrgInfo
from lakestow.errors import AccessDenied, InvalidRequest
from lakestow.operations import ObjectOperations
from lakestow.runtime import Runtime
from lakestow.s3api.asgi import Incoming
from lakestow.storage.common import no_such_bucket
from lakestow.storage.protocol import BodyChecksum
from lakestow.warehouse import MemberView


@dataclass
class S3Request:
    """What every S3 operation handler receives; a `MemberRequest` or an `OperatorRequest`."""

    http: Incoming
    runtime: Runtime
    bucket: str
    key: str
    query: dict[str, str]
    actor: str
    payload_mode: str  # x-amz-content-sha256 as signed: a hex hash, UNSIGNED-PAYLOAD, STREAMING-*
    signer: sigv4.ChunkSigner | None

    @property
    def headers(self) -> dict[str, str]:
        """The request headers by lower-case name (built once, by `Incoming`)."""
        return self.http.headers

    def authorize(
        self, action: Action, key: str | None = None, bucket: str | None = None
    ) -> Decision:
        """May the caller do `action` on `key` (default: the request's)? AccessDenied, audited,
        when not."""
        bucket = self.bucket if bucket is None else bucket
        key = self.key if key is None else key
        return self.objects.authorize(action, bucket, key)

    @property
    def objects(self) -> ObjectOperations:
        """The object changes this request may make: authorized, stored and audited."""
        return self.runtime.objects(self, "s3")

    @property
    def view(self) -> MemberView | None:
        return None

    def decide(self, action: Action, bucket: str, key: str) -> Decision:
        raise NotImplementedError

    def has_bucket(self, bucket: str) -> bool:
        """Whether `bucket` is one of the caller's (an operator's own, a member's org's)."""
        raise NotImplementedError

    def require_bucket(self, bucket: str | None = None) -> None:
        """NoSuchBucket (404) for a bucket that does not exist as the caller sees it,
        AccessDenied (403) for one that exists and is not theirs (the module docstring)."""
        raise NotImplementedError

    def audit(self, action: str, key: str | None = None, **detail: object) -> None:
        key = self.key if key is None else key
        self.runtime.audit.record(self.actor, action, f"s3://{self.bucket}/{key}", "ok", **detail)

    @cached_property
    def body_checksum(self) -> BodyChecksum | None:
        """The x-amz-checksum-* the body comes with (in a header, or announced in x-amz-trailer),
        which `body` checks as it streams and sets the value of at its end; None without one.
        InvalidRequest for checksum headers S3 refuses (several, an unknown algorithm, an
        x-amz-sdk-checksum-algorithm with no checksum)."""
        return _body_checksum(self.headers)

    def body(
        self, *, max_chunk_size: int = MAX_CHUNK_SIZE, checksum: bool = True
    ) -> AsyncGenerator[bytes, None]:
        """The request body, decoded and verified as it streams: a failed check raises at the end,
        before the store commits anything. A signed aws-chunked chunk is held whole until its
        signature is checked, so none may be larger than `max_chunk_size`. Without `checksum`,
        x-amz-checksum-* headers are not about the body (CompleteMultipartUpload's are the
        object's): only a trailer is checked."""
        headers = self.headers
        stream: AsyncIterator[bytes] = self.http.stream()
        decoder: AwsChunkedDecoder | None = None
        mode = self.payload_mode
        if mode in sigv4.STREAMING_PAYLOADS:
            length = headers.get("x-amz-decoded-content-length")
            decoder = AwsChunkedDecoder(
                stream,
                mode=mode,
                signer=self.signer,
                decoded_length=int(length) if length else None,
                max_chunk_size=max_chunk_size,
            )
            stream = aiter(decoder)
        elif sigv4.payload_is_sha256(mode):
            stream = _sha256_checked(stream, mode)
        trailer = headers.get("x-amz-trailer", "").strip().lower()
        if trailer and decoder is None:
            raise InvalidRequest("x-amz-trailer needs an aws-chunked STREAMING-*-TRAILER body")
        if checksum:
            return _checksum_checked(stream, self.body_checksum, headers, decoder)
        announced = BodyChecksum(_trailer_algorithm(trailer)) if trailer else None
        return _checksum_checked(stream, announced, {}, decoder)

    async def read_body(self, limit: int, *, checksum: bool = True) -> bytes:
        """The whole body, for a document such as XML, never more than `limit` bytes of it in
        memory: refused from its declared length before anything is read, or else as soon as
        the bytes decoded so far pass `limit` (chunked and aws-chunked bodies)."""
        declared = self.headers.get(
            "x-amz-decoded-content-length"
            if self.payload_mode in sigv4.STREAMING_PAYLOADS
            else "content-length"
        )
        if declared is not None and declared.strip().isdigit() and int(declared) > limit:
            raise _too_large(limit)
        pieces: list[bytes] = []
        size = 0
        chunk = min(limit, MAX_CHUNK_SIZE)
        async with aclosing(self.body(max_chunk_size=chunk, checksum=checksum)) as body:
            async for piece in body:
                size += len(piece)
                if size > limit:
                    raise _too_large(limit)
                pieces.append(piece)
        return b"".join(pieces)


@dataclass
class MemberRequest(S3Request):
    """A request of an organization's member: the warehouse policy decides."""

    principal: Principal
    org: OrgInfo

    def __post_init__(self) -> None:
        self.member = MemberView(self.principal, self.org)

    @property
    def view(self) -> MemberView | None:
        return self.member

    def path_of(self, bucket: str, key: str) -> str | None:
        return self.member.path_of(bucket, key)

    def key_of(self, path: str) -> str:
        return self.member.key_of(path)

    def has_bucket(self, bucket: str) -> bool:
        return bucket == self.org.bucket

    def require_bucket(self, bucket: str | None = None) -> None:
        bucket = self.bucket if bucket is None else bucket
        if bucket != self.org.bucket:  # whether or not it exists: see the module docstring
            raise no_such_bucket(bucket)

    def decide(self, action: Action, bucket: str, key: str) -> Decision:
        path = self.path_of(bucket, key)
        if path is None:
            return Decision(False, "the path is outside your organization's warehouse")
        return decide(self.principal, action, Target(self.org.id, path))


@dataclass
class OperatorRequest(S3Request):
    """A request of an operator: plain S3 on the buckets it owns, nothing else."""

    operator: Operator

    def has_bucket(self, bucket: str) -> bool:
        return self.runtime.verifier.snapshot().operator_buckets.get(bucket) == self.operator.id

    def require_bucket(self, bucket: str | None = None) -> None:
        bucket = self.bucket if bucket is None else bucket
        snapshot = self.runtime.verifier.snapshot()
        owner = snapshot.operator_buckets.get(bucket)
        if owner == self.operator.id:
            return
        if owner is None and bucket not in snapshot.org_buckets:
            raise no_such_bucket(bucket)
        reason = "the bucket belongs to someone else"
        self.runtime.audit.record(
            self.actor, "s3.bucket", f"s3://{bucket}", "denied", reason=reason
        )
        raise AccessDenied(f"Access Denied: {reason}")

    def decide(self, action: Action, bucket: str, key: str) -> Decision:
        if self.has_bucket(bucket):
            return Decision(True, f"operator {self.operator.name} owns the bucket")
        return Decision(False, "the bucket does not exist or belongs to someone else")


def _too_large(limit: int) -> InvalidRequest:
    return InvalidRequest(
        f"Your request was too large: this request's body may be at most {limit:,} bytes.",
        code="MaxMessageLengthExceeded",
    )


HASH_BATCH = 1 << 20
"""Bytes of a signed body hashed (SHA-256) at a time in a worker thread, beside the store's
own writing and hashing of the batch before: a large signed PUT is not held to the sum of its
hashes' times, and the event loop does none of it."""


async def _sha256_checked(stream: AsyncIterator[bytes], expected: str) -> AsyncIterator[bytes]:
    digest = hashlib.sha256()
    pending: list[bytes] = []
    size = 0
    hashing: asyncio.Future[None] | None = None  # the batch before, hashed in a thread
    loop = asyncio.get_running_loop()
    async for piece in stream:
        yield piece
        pending.append(piece)
        size += len(piece)
        if size >= HASH_BATCH:
            if hashing is not None:
                await hashing
            batch, pending, size = pending, [], 0
            hashing = loop.run_in_executor(None, _update, digest, batch)
    if hashing is not None:
        await hashing
    _update(digest, pending)
    sigv4.check_payload_sha256(expected, digest.digest())


def _update(digest: Any, pieces: list[bytes]) -> None:
    for piece in pieces:
        digest.update(piece)


_NOT_ALGORITHMS = ("type", "mode", "algorithm")
"""x-amz-checksum-* headers that name no algorithm: CreateMultipartUpload's and Complete's
type, GET's mode, CreateMultipartUpload's and CopyObject's algorithm."""


def _body_checksum(headers: dict[str, str]) -> BodyChecksum | None:
    """What `S3Request.body_checksum` says, from the request's headers."""
    named = [
        name.removeprefix(HEADER_PREFIX)
        for name in headers
        if name.startswith(HEADER_PREFIX)
        and name.removeprefix(HEADER_PREFIX) not in _NOT_ALGORITHMS
    ]
    trailer = headers.get("x-amz-trailer", "").strip().lower()
    if trailer:
        named.append(_trailer_algorithm(trailer))
    if len(named) > 1:
        raise InvalidRequest(
            "Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed."
        )
    sdk = headers.get("x-amz-sdk-checksum-algorithm", "").strip().lower()
    if not named:
        if sdk:
            raise InvalidRequest(
                "x-amz-sdk-checksum-algorithm specified, but no corresponding x-amz-checksum-* "
                "or x-amz-trailer headers were found."
            )
        return None
    algorithm = named[0]
    if algorithm_of_header(HEADER_PREFIX + algorithm) is None:
        raise InvalidRequest(f"The checksum algorithm {algorithm!r} is not supported.")
    if sdk and sdk != algorithm:
        raise InvalidRequest(
            f"x-amz-sdk-checksum-algorithm names {sdk}, but the checksum sent is {algorithm}.",
            code="BadDigest",
        )
    return BodyChecksum(algorithm)


def _trailer_algorithm(trailer: str) -> str:
    """The algorithm of the checksum an x-amz-trailer announces (the only trailer S3 takes)."""
    algorithm = algorithm_of_header(trailer)
    if algorithm is None:
        raise InvalidRequest(f"unsupported trailer {trailer!r}")
    return algorithm


async def _checksum_checked(
    stream: AsyncIterator[bytes],
    checksum: BodyChecksum | None,
    headers: dict[str, str],
    decoder: AwsChunkedDecoder | None,
) -> AsyncGenerator[bytes, None]:
    """`stream`, checked against `checksum` (sent in its header, or else in the trailer) and
    its value set, once the last piece has been read."""
    if checksum is None:
        async for piece in stream:
            yield piece
        return
    running = Checksummer(checksum.algorithm)
    async for piece in stream:
        running.update(piece)
        yield piece
    header = running.header
    expected = headers.get(header)
    if expected is None:
        expected = (decoder.trailers if decoder else {}).get(header)
    if expected is None:
        raise InvalidRequest(
            f"the trailer {header} was announced but not sent", code="IncompleteBody"
        )
    running.check(expected)
    checksum.value = running.b64digest()
