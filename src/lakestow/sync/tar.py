"""A reader of the pax tar stream that lakestow's archive answers (`s3api.archive`), one
member at a time, as it arrives.

Written here rather than read with `tarfile`: tarfile's stream mode spent 110 µs a member of
a restore's archive (it copies what it has buffered on every read it serves), more than the
rest of the agent's Python for a file; this reader spends 18-28 µs. It reads the POSIX pax
format the server writes (`s3api.archive.header`), as `tarfile` writes it in PAX_FORMAT too:
a 512-byte ustar header (its checksum checked), an optional pax extended header (`x`) before
it, regular files (`0`, or NUL) and folders (`5`), each member's bytes padded to 512, and the
zero block that ends the archive. Anything else is an error.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import IO, NamedTuple

BLOCK = 512
PIECE = 1 << 20
"""A large member's bytes are handed over in pieces of this size."""
PAX_MAX = 1 << 20
"""The largest pax header read (a path of 1,024 bytes and metadata of 2 KiB need far less)."""


class TarError(Exception):
    """The stream is not such an archive, or ended in the middle of one."""


class Member(NamedTuple):
    name: str
    size: int
    folder: bool
    pax: dict[str, str]


class Reader:
    """The members of the archive `stream` holds: `next()` gives each one's header; then its
    bytes may be taken (`read` or `pieces`) before the next, or are skipped."""

    def __init__(self, stream: IO[bytes]) -> None:
        self.stream = stream
        self.unread = 0  # of the current member's bytes
        self.padding = 0

    def next(self) -> Member | None:
        """The next member, or None at the end of the archive."""
        self._skip(self.unread + self.padding)
        header = self._exactly(BLOCK)
        if not any(header):
            return None
        _checked(header)
        pax: dict[str, str] = {}
        if header[156:157] == b"x":
            size = _number(header[124:136])
            if size > PAX_MAX:
                raise TarError(f"a pax header of {size} bytes (at most {PAX_MAX})")
            pax = _records(self._exactly(size))
            self._skip(-size % BLOCK)
            header = self._exactly(BLOCK)
            _checked(header)
        kind = header[156:157]
        if kind not in (b"0", b"\0", b"5"):
            raise TarError(f"a member of type {kind!r}, which lakestow never sends")
        name = pax.get("path") or _name(header)
        size = _size(pax["size"]) if "size" in pax else _number(header[124:136])
        folder = kind == b"5"
        if folder and not name.endswith("/"):
            name += "/"
        self.unread, self.padding = size, -size % BLOCK
        return Member(name, size, folder, pax)

    def read(self) -> bytes:
        """The current member's bytes, all at once."""
        data = self._exactly(self.unread)
        self.unread = 0
        return data

    def pieces(self) -> Iterator[bytes]:
        """The current member's bytes, `PIECE` at a time."""
        while self.unread:
            piece = self._exactly(min(self.unread, PIECE))
            self.unread -= len(piece)
            yield piece

    def _skip(self, size: int) -> None:
        while size:
            size -= len(self._exactly(min(size, PIECE)))

    def _exactly(self, size: int) -> bytes:
        data = self.stream.read(size)
        if len(data) != size:
            raise TarError("the archive ended early")
        return data


def _checked(header: bytes) -> None:
    """The header's checksum: the sum of its bytes, the checksum field counted as spaces."""
    if _number(header[148:156]) != sum(header) - sum(header[148:156]) + 8 * 32:
        raise TarError("a member's header has a wrong checksum")


def _number(field: bytes) -> int:
    """An octal header field (NUL- or space-ended); base-256 when its first bit is set."""
    if field[0] & 0x80:
        return int.from_bytes(field[1:], "big")
    text = field.split(b"\0", 1)[0].strip()
    try:
        return int(text, 8) if text else 0
    except ValueError:
        raise TarError(f"a header field that is not a number: {field!r}") from None


def _size(text: str) -> int:
    if not text.isascii() or not text.isdigit():
        raise TarError(f"a pax size that is not a size: {text!r}")
    return int(text)


def _name(header: bytes) -> str:
    name = header[0:100].split(b"\0", 1)[0]
    prefix = header[345:500].split(b"\0", 1)[0]
    return (prefix + b"/" + name if prefix else name).decode("utf-8", "surrogateescape")


def _records(data: bytes) -> dict[str, str]:
    """The `length key=value\\n` records of a pax extended header (UTF-8)."""
    records = {}
    at = 0
    try:
        while at < len(data):
            space = data.index(b" ", at)
            length = int(data[at:space])
            if length <= space - at or data[at + length - 1 : at + length] != b"\n":
                raise TarError("a pax record of the wrong length")
            key, _, value = data[space + 1 : at + length - 1].partition(b"=")
            records[key.decode()] = value.decode("utf-8", "surrogateescape")
            at += length
    except (ValueError, UnicodeDecodeError) as exc:
        raise TarError(f"an unreadable pax record: {exc}") from exc
    return records
