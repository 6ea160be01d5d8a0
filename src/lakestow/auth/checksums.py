"""Running checksums of object data, for the x-amz-checksum-* headers and trailers.

CRC32, SHA-1, SHA-256 and SHA-512 come from the standard library. CRC32C, CRC64NVME and the
xxHash family come from awscrt, the AWS Common Runtime: it is what botocore itself computes
them with (botocore.httpchecksum), so our values agree with the clients' by construction. It
is imported on first use; without it those algorithms answer 501 NotImplemented, naming it.
awscrt also combines CRCs (`combine`): the CRC of pieces laid end to end from each piece's
CRC and length, which is how S3 makes the FULL_OBJECT checksum of a multipart upload.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import importlib
import zlib
from collections.abc import Callable, Iterable
from types import ModuleType
from typing import Any, Protocol

from lakestow.errors import InvalidRequest, Unsupported

HEADER_PREFIX = "x-amz-checksum-"
AWSCRT_REQUIREMENT = "awscrt>=0.31.2"  # crc64nvme since 0.23.4, xxhash since 0.31.2


class _Hash(Protocol):
    def update(self, data: bytes, /) -> None: ...

    def digest(self) -> bytes: ...


class _Crc:
    """A CRC kept as an int, updated through a `fn(data, previous) -> int` function."""

    def __init__(self, fn: Callable[[bytes, int], int], size: int) -> None:
        self._fn = fn
        self._size = size
        self._value = 0

    def update(self, data: bytes, /) -> None:
        self._value = int(self._fn(data, self._value))

    def digest(self) -> bytes:
        return self._value.to_bytes(self._size, "big")


class _XXHash:
    """awscrt's XXHash, whose digest is called finalize."""

    def __init__(self, state: Any) -> None:
        self._state = state

    def update(self, data: bytes, /) -> None:
        self._state.update(data)

    def digest(self) -> bytes:
        return bytes(self._state.finalize())


def _crt() -> ModuleType:
    try:
        return importlib.import_module("awscrt.checksums")
    except ImportError:
        raise Unsupported(
            f"This checksum algorithm needs the {AWSCRT_REQUIREMENT!r} package on the server."
        ) from None


_ALGORITHMS: dict[str, Callable[[], _Hash]] = {
    "crc32": lambda: _Crc(zlib.crc32, 4),
    "crc32c": lambda: _Crc(_crt().crc32c, 4),
    "crc64nvme": lambda: _Crc(_crt().crc64nvme, 8),
    "sha1": hashlib.sha1,
    "sha256": hashlib.sha256,
    "sha512": hashlib.sha512,
    "xxhash64": lambda: _XXHash(_crt().XXHash.new_xxhash64()),
    "xxhash3": lambda: _XXHash(_crt().XXHash.new_xxhash3_64()),
    "xxhash128": lambda: _XXHash(_crt().XXHash.new_xxhash3_128()),
}
ALGORITHMS = tuple(_ALGORITHMS)
CRCS = ("crc32", "crc32c", "crc64nvme")
"""The algorithms whose checksums of pieces combine into the checksum of the whole."""
_SIZES = {"crc32": 4, "crc32c": 4, "crc64nvme": 8}
_COMBINE = {"crc32": "combine_crc32", "crc32c": "combine_crc32c", "crc64nvme": "combine_crc64nvme"}


def algorithm_of_header(name: str) -> str | None:
    """The algorithm of an x-amz-checksum-<algorithm> header name, else None."""
    name = name.lower()
    if not name.startswith(HEADER_PREFIX):
        return None
    algorithm = name.removeprefix(HEADER_PREFIX)
    return algorithm if algorithm in _ALGORITHMS else None


class Checksummer:
    """One running checksum: `update` it with each piece of the body, then `check` it.

    `algorithm` is a name as in x-amz-checksum-<name> or x-amz-sdk-checksum-algorithm, in any
    case (CRC32, crc64nvme, SHA256, ...).
    """

    def __init__(self, algorithm: str) -> None:
        self.algorithm = algorithm.lower()
        factory = _ALGORITHMS.get(self.algorithm)
        if factory is None:
            raise InvalidRequest(f"Checksum algorithm {algorithm!r} is not supported.")
        self._hash = factory()

    @property
    def header(self) -> str:
        """The name of the header (or trailer) that carries this checksum."""
        return HEADER_PREFIX + self.algorithm

    def update(self, data: bytes) -> None:
        self._hash.update(data)

    def digest(self) -> bytes:
        return self._hash.digest()

    def b64digest(self) -> str:
        """The checksum as S3 headers carry it: base64 of the big-endian digest."""
        return base64.b64encode(self.digest()).decode()

    def check(self, expected_b64: str) -> None:
        """Raise unless the data so far has the checksum a client sent (base64)."""
        actual = self.digest()
        try:
            expected = base64.b64decode(expected_b64.strip(), validate=True)
        except (binascii.Error, ValueError):
            expected = b""
        if len(expected) != len(actual):
            raise InvalidRequest(f"Value for {self.header} header is invalid.")
        if expected != actual:
            raise InvalidRequest(
                f"The {self.algorithm.upper()} you specified did not match the calculated "
                "checksum.",
                code="BadDigest",
            )


def decode(value: str) -> bytes | None:
    """The digest a base64 checksum value carries; None if it is not base64."""
    try:
        return base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError):
        return None


def encode(digest: bytes) -> str:
    """A digest as S3 headers carry it: base64."""
    return base64.b64encode(digest).decode()


def combine(algorithm: str, pieces: Iterable[tuple[bytes, int]]) -> bytes:
    """The CRC digest (`algorithm` one of `CRCS`) of data made of pieces laid end to end,
    from each piece's CRC digest and length, without reading the data again."""
    size = _SIZES[algorithm]
    join = getattr(_crt(), _COMBINE[algorithm])
    total: int | None = None
    for digest, length in pieces:
        value = int.from_bytes(digest, "big")
        total = value if total is None else int(join(total, value, length))
    if total is None:  # no data at all: the CRC of nothing
        return Checksummer(algorithm).digest()
    return total.to_bytes(size, "big")


def composite(algorithm: str, digests: Iterable[bytes]) -> bytes:
    """The checksum of checksums: `algorithm` over the parts' digests concatenated."""
    checksum = Checksummer(algorithm)
    for digest in digests:
        checksum.update(digest)
    return checksum.digest()
