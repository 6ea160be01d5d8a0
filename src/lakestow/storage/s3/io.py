"""Bytes in and out of the s3 backend without holding a whole object in memory.

`PartReader` cuts an upload stream into parts of a fixed size (at most one part and one
chunk are in memory at a time). `Spool` holds one part of unknown length: in memory up to a
limit, then in a temporary file. `stream` turns an upstream GET body into chunks of at most
`CHUNK` bytes that close the response when exhausted or closed.
"""

from __future__ import annotations

import base64
import hashlib
import tempfile
from collections.abc import AsyncIterator
from typing import IO, Any, Protocol

import anyio.to_thread

from lakestow.errors import InvalidRequest
from lakestow.storage.protocol import Body

CHUNK = 1024 * 1024


class ReadableBody(Protocol):
    """What a GET response body offers (aiobotocore's `StreamingBody`)."""

    async def read(self, amt: int | None = ...) -> bytes: ...

    def close(self) -> None: ...


async def stream(body: ReadableBody) -> AsyncIterator[bytes]:
    """The chunks of an upstream response body; the response is closed at the end."""
    try:
        while chunk := await body.read(CHUNK):
            yield chunk
    finally:
        body.close()


def md5_header(digest: bytes) -> str:
    """A binary MD5 as the Content-MD5 header wants it."""
    return base64.b64encode(digest).decode()


class PartReader:
    """Reads an upload stream part by part, knowing whether more follows; with `whole_md5`,
    also the MD5 of the whole body (only a client's Content-MD5 needs it: each part carries
    its own, and a multipart object's ETag is the upstream's)."""

    def __init__(self, body: Body, part_size: int, *, whole_md5: bool = True) -> None:
        self._chunks = aiter(body)
        self._part_size = part_size
        self._buffer = bytearray()
        self._done = False
        self.md5 = hashlib.md5(usedforsecurity=False) if whole_md5 else None
        self.size = 0

    async def next_part(self) -> bytes:
        """The next part (up to `part_size` bytes; empty at the end of an empty body)."""
        while len(self._buffer) <= self._part_size and not self._done:
            chunk = await anext(self._chunks, None)
            if chunk is None:
                self._done = True
            else:
                self._buffer += chunk
        part = bytes(self._buffer[: self._part_size])
        del self._buffer[: self._part_size]
        if self.md5 is not None:
            self.md5.update(part)
        self.size += len(part)
        return part

    @property
    def more(self) -> bool:
        """Whether another part follows the last one returned."""
        return bool(self._buffer) or not self._done


class Spool:
    """One part of unknown size: kept in memory up to `max_memory` bytes, then in a file."""

    def __init__(self, max_memory: int) -> None:
        self._max_memory = max_memory
        self._memory = bytearray()
        self._file: IO[bytes] | None = None
        self.md5 = hashlib.md5(usedforsecurity=False)
        self.size = 0

    @classmethod
    async def fill(cls, body: Body, max_memory: int, limit: int | None = None) -> Spool:
        """The whole of `body`; EntityTooLarge as soon as it passes `limit` bytes."""
        spool = cls(max_memory)
        try:
            async for chunk in body:
                await spool._write(chunk)
                if limit is not None and spool.size > limit:
                    raise InvalidRequest(
                        f"Your proposed upload exceeds the maximum allowed size ({limit:,} "
                        "bytes in one request).",
                        code="EntityTooLarge",
                    )
        except BaseException:
            spool.close()
            raise
        return spool

    async def _write(self, chunk: bytes) -> None:
        self.md5.update(chunk)
        self.size += len(chunk)
        if self._file is None and self.size <= self._max_memory:
            self._memory += chunk
            return
        if self._file is None:
            self._file = tempfile.TemporaryFile()  # noqa: SIM115 (closed by close())
            await anyio.to_thread.run_sync(self._file.write, bytes(self._memory))
            self._memory = bytearray()
        await anyio.to_thread.run_sync(self._file.write, chunk)

    def check(self, content_md5: bytes | None) -> None:
        """BadDigest unless the bytes have the MD5 the client announced."""
        if content_md5 is not None and content_md5 != self.md5.digest():
            raise InvalidRequest(
                "The Content-MD5 you specified did not match what we received.", code="BadDigest"
            )

    def body(self) -> Any:
        """The bytes, as a request body: `bytes`, or the file rewound."""
        if self._file is None:
            return bytes(self._memory)
        self._file.seek(0)
        return self._file

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
