"""aws-chunked request bodies (SigV4 streaming uploads): the payload modes, the chunk signer,
and a decoder that verifies as it goes.

The body of a request whose x-amz-content-sha256 is one of the STREAMING-* modes is framed as

    hex-size[;chunk-signature=<64 hex>] CRLF data CRLF        once per chunk
    0[;chunk-signature=<64 hex>] CRLF                         the last, empty chunk
    (name:value CRLF)*                                        trailing headers (-TRAILER modes)
    CRLF

(S3 API reference: sigv4-streaming and sigv4-streaming-trailers.) In the signed modes each
chunk signature chains from the previous one, starting at the seed signature of the request
(`sigv4.verify` returns it in a `ChunkSigner`), and a signed trailer ends with
x-amz-trailer-signature. Network reads split this framing anywhere, so the decoder carries
what is left of a read over to the next. Unsigned data passes through as it arrives; signed
data is held for one chunk at most, so that no byte leaves before its signature is checked.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass, field

from lakestow.errors import InvalidRequest, Unauthenticated

EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
STREAMING_SIGNED = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
STREAMING_SIGNED_TRAILER = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
STREAMING_UNSIGNED_TRAILER = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
STREAMING_PAYLOADS = frozenset(
    {STREAMING_SIGNED, STREAMING_SIGNED_TRAILER, STREAMING_UNSIGNED_TRAILER}
)
SIGNATURE_MISMATCH = (
    "The request signature we calculated does not match the signature you provided. "
    "Check your key and signing method."
)
MAX_CHUNK_SIZE = 16 * 1024 * 1024  # SDKs send 64 KiB to 8 MiB
MAX_TRAILER_SIZE = 16 * 1024
_CHUNK_HEADER = re.compile(rb"([0-9a-fA-F]{1,16})(?:;chunk-signature=([0-9a-f]{64}))?")
_TRAILER_SIGNATURE = "x-amz-trailer-signature"


@dataclass(frozen=True)
class ChunkSigner:
    """What `sigv4.verify` returns: the signing key and the seed signature chunks chain from."""

    signing_key: bytes = field(repr=False)
    seed_signature: str
    amz_date: str  # the timestamp as in the string to sign, e.g. "20130524T000000Z"
    scope: str  # e.g. "20130524/us-east-1/s3/aws4_request"

    def chunk_signature(self, previous: str, chunk_sha256: str) -> str:
        """The signature of one aws-chunked chunk whose data hashes to `chunk_sha256` (hex)."""
        return self._sign("AWS4-HMAC-SHA256-PAYLOAD", previous, EMPTY_SHA256, chunk_sha256)

    def trailer_signature(self, previous: str, trailer_sha256: str) -> str:
        """The signature of the trailing headers that hash to `trailer_sha256` (hex)."""
        return self._sign("AWS4-HMAC-SHA256-TRAILER", previous, trailer_sha256)

    def _sign(self, kind: str, *lines: str) -> str:
        text = "\n".join((kind, self.amz_date, self.scope, *lines))
        return hmac.digest(self.signing_key, text.encode(), "sha256").hex()


class AwsChunkedDecoder:
    """Iterate over it for the decoded payload; then `trailers` holds the trailing headers.

    `mode` is the request's x-amz-content-sha256 (`SigV4Auth.payload_hash`); the signed modes
    need the `ChunkSigner` that `sigv4.verify` returned. `decoded_length` is the request's
    x-amz-decoded-content-length, when it sent one. Raises `Unauthenticated`
    (SignatureDoesNotMatch) on a bad chunk or trailer signature and `InvalidRequest`
    (IncompleteBody) on a truncated or malformed body.
    """

    def __init__(
        self,
        body: AsyncIterable[bytes],
        *,
        mode: str,
        signer: ChunkSigner | None = None,
        decoded_length: int | None = None,
        max_chunk_size: int = MAX_CHUNK_SIZE,
        max_chunk_header: int = 4096,
    ) -> None:
        if mode not in STREAMING_PAYLOADS:
            raise ValueError(f"not an aws-chunked payload mode: {mode!r}")
        signed = mode in (STREAMING_SIGNED, STREAMING_SIGNED_TRAILER)
        if signed and signer is None:
            raise ValueError(f"{mode} needs the ChunkSigner that verify() returned")
        self.trailers: dict[str, str] = {}
        self._mode = mode
        self._signer = signer if signed else None
        self._previous = signer.seed_signature if signer is not None else ""
        self._reader = _Reader(body, max_chunk_header)
        self._expected_length = decoded_length
        self._length = 0
        self._max_chunk_size = max_chunk_size

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._decode()

    async def _decode(self) -> AsyncIterator[bytes]:
        while True:
            size, signature = await self._chunk_header()
            if size == 0:
                break
            async for piece in self._chunk_data(size, signature):
                yield piece
        self._check_chunk(signature, EMPTY_SHA256)
        self.trailers = self._check_trailers(await self._trailer_lines())
        await self._reader.expect_end()
        if self._expected_length is not None and self._length != self._expected_length:
            raise _incomplete(
                f"The body decodes to {self._length} bytes, but x-amz-decoded-content-length "
                f"is {self._expected_length}."
            )

    async def _chunk_header(self) -> tuple[int, str | None]:
        match = _CHUNK_HEADER.fullmatch(await self._reader.line())
        if match is None:
            raise _incomplete("An aws-chunked chunk header is malformed.")
        size = int(match[1], 16)
        if size > self._max_chunk_size:
            raise _incomplete(f"An aws-chunked chunk of {size} bytes is larger than allowed.")
        self._length += size
        if self._expected_length is not None and self._length > self._expected_length:
            raise InvalidRequest(
                "The body decodes to more bytes than x-amz-decoded-content-length says."
            )
        return size, match[2].decode() if match[2] else None

    async def _chunk_data(self, size: int, signature: str | None) -> AsyncIterator[bytes]:
        if self._signer is None:
            async for piece in self._reader.read(size):
                yield piece
        else:
            digest = hashlib.sha256()
            pieces = []
            async for piece in self._reader.read(size):
                digest.update(piece)
                pieces.append(piece)
            self._check_chunk(signature, digest.hexdigest())
            for piece in pieces:
                yield piece
        await self._reader.expect_crlf()

    def _check_chunk(self, signature: str | None, data_sha256: str) -> None:
        if self._signer is None:
            return
        expected = self._signer.chunk_signature(self._previous, data_sha256)
        _check_signature(expected, signature)
        self._previous = expected

    async def _trailer_lines(self) -> list[bytes]:
        lines: list[bytes] = []
        size = 0
        while line := await self._reader.line():
            lines.append(line)
            size += len(line) + 2
            if size > MAX_TRAILER_SIZE:
                raise _incomplete("The aws-chunked trailing headers are too large.")
        if lines and self._mode not in (STREAMING_SIGNED_TRAILER, STREAMING_UNSIGNED_TRAILER):
            raise _incomplete(f"{self._mode} bodies carry no trailing headers.")
        return lines

    def _check_trailers(self, lines: list[bytes]) -> dict[str, str]:
        trailers = dict(_trailer(line) for line in lines)
        if len(trailers) != len(lines):
            raise _incomplete("An aws-chunked trailing header appears twice.")
        signature = trailers.pop(_TRAILER_SIGNATURE, None)
        if self._mode == STREAMING_SIGNED_TRAILER and self._signer is not None:
            # Canonical form: "name:value\n" per trailer, like the canonical request headers.
            canonical = "".join(f"{name}:{value}\n" for name, value in sorted(trailers.items()))
            digest = hashlib.sha256(canonical.encode()).hexdigest()
            _check_signature(self._signer.trailer_signature(self._previous, digest), signature)
        return trailers


class _Reader:
    """Bytes from an async iterator whose pieces may split the framing anywhere."""

    def __init__(self, source: AsyncIterable[bytes], max_line: int) -> None:
        self._source = aiter(source)
        self._buffer = bytearray()
        self._max_line = max_line

    async def _next(self) -> bytes:
        try:
            return bytes(await anext(self._source))
        except StopAsyncIteration:
            raise _incomplete(
                "The request body ended before its aws-chunked encoding did."
            ) from None

    async def line(self) -> bytes:
        """The next line, without its CRLF."""
        while (end := self._buffer.find(b"\r\n")) < 0:
            if len(self._buffer) > self._max_line:
                break
            self._buffer += await self._next()
        if not 0 <= end <= self._max_line:
            raise _incomplete("An aws-chunked header line is too long.")
        line = bytes(self._buffer[:end])
        del self._buffer[: end + 2]
        return line

    async def read(self, size: int) -> AsyncIterator[bytes]:
        """Exactly `size` bytes, in the pieces they arrive in."""
        while size:
            if self._buffer:
                piece = bytes(self._buffer[:size])
                del self._buffer[:size]
            else:
                piece = await self._next()
                if len(piece) > size:
                    self._buffer += piece[size:]
                    piece = piece[:size]
            size -= len(piece)
            if piece:
                yield piece

    async def expect_crlf(self) -> None:
        while len(self._buffer) < 2:
            self._buffer += await self._next()
        if self._buffer[:2] != b"\r\n":
            raise _incomplete("An aws-chunked chunk does not end with CRLF.")
        del self._buffer[:2]

    async def expect_end(self) -> None:
        if not self._buffer:
            async for piece in self._source:
                if piece:
                    break
            else:
                return
        raise _incomplete("The request body goes on after its aws-chunked encoding ends.")


def _trailer(line: bytes) -> tuple[str, str]:
    name, colon, value = line.decode("latin-1").partition(":")
    if not colon or not name.strip():
        raise _incomplete("An aws-chunked trailing header is malformed.")
    return name.strip().lower(), value.strip()


def _check_signature(expected: str, signature: str | None) -> None:
    if signature is None or not hmac.compare_digest(expected, signature):
        raise Unauthenticated(SIGNATURE_MISMATCH, code="SignatureDoesNotMatch")


def _incomplete(message: str) -> InvalidRequest:
    return InvalidRequest(message, code="IncompleteBody")
