"""Huge request bodies sent as an attacker sends them, and the server's memory while they arrive.

`flood` writes a request over a raw connection, its body from a generator (the test never holds
it), and stops writing as soon as the server answers or closes: a server that refuses early may
cut the connection, and its answer is read all the same. `Peak` reads the server's peak resident
set size (VmHWM), reset first where the kernel allows it.
"""

from __future__ import annotations

import contextlib
import select
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from live import serving

MiB = 1024 * 1024
ATTACK = 300 * MiB  # the size of the bodies in issue 12
RSS_GROWTH = 64 * MiB  # what such a body may add to the server's memory, at most


@dataclass(frozen=True)
class Answer:
    """What came back: the status (None when the server closed without answering) and body."""

    status: int | None
    head: str
    body: bytes
    sent: int  # how many body bytes were written before the server answered or closed


def filler(size: int, prefix: bytes = b"", suffix: bytes = b"") -> Iterator[bytes]:
    """`size` bytes in all: `prefix`, then `a`s a MiB at a time, then `suffix`."""
    yield prefix
    block = b"a" * MiB
    left = size - len(prefix) - len(suffix)
    while left > 0:
        piece = block if left >= MiB else block[:left]
        left -= len(piece)
        yield piece
    yield suffix


def chunked(pieces: Iterator[bytes]) -> Iterator[bytes]:
    """`pieces` framed as an HTTP/1.1 chunked body, which is also how an unsigned aws-chunked
    body without trailers is framed (STREAMING-UNSIGNED-PAYLOAD-TRAILER)."""
    for piece in pieces:
        if piece:
            yield b"%x\r\n%b\r\n" % (len(piece), piece)
    yield b"0\r\n\r\n"


def flood(
    port: int, method: str, target: str, headers: dict[str, str], body: Iterator[bytes]
) -> Answer:
    """Send the request to 127.0.0.1:`port`; the server's answer, however the body ended."""
    lines = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    head = f"{method} {target} HTTP/1.1\r\n{lines}\r\n".encode("latin-1")
    with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
        sock.sendall(head)
        sent = 0
        for piece in body:
            if select.select([sock], [], [], 0)[0]:
                break  # an answer (or a close) before the body is all sent
            try:
                sock.sendall(piece)
            except OSError:  # the server closed the connection: read what it said first
                break
            sent += len(piece)
        return _answer(sock, sent)


def _answer(sock: socket.socket, sent: int) -> Answer:
    data = b""
    with contextlib.suppress(OSError):  # a reset after the answer loses nothing already read
        while chunk := sock.recv(65536):
            data += chunk
            head, found, rest = data.partition(b"\r\n\r\n")
            if found and len(rest) >= _length(head):
                break
    head, _, rest = data.partition(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 "):
        return Answer(None, "", b"", sent)
    text = head.decode("latin-1")
    return Answer(int(text.split()[1]), text, rest[: _length(head)], sent)


def _length(head: bytes) -> int:
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value)
    return 1 << 62  # no length: read to the end


class Peak:
    """The peak RSS of server process `pid` and of each worker it forked, from now on (VmHWM,
    reset through /proc when allowed): the growth of the one that grew most."""

    def __init__(self, pid: int) -> None:
        self.pids = serving(pid)
        for each in self.pids:
            with contextlib.suppress(OSError):  # 5: reset the peak to the current RSS
                Path(f"/proc/{each}/clear_refs").write_text("5")
        self.start = {each: _field(each, "VmRSS") for each in self.pids}

    @property
    def growth(self) -> int:
        """How far above its starting RSS a process has been at its peak, in bytes."""
        return max(_field(each, "VmHWM") - start for each, start in self.start.items())


def _field(pid: int, name: str) -> int:
    lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    return int(next(s for s in lines if s.startswith(name + ":")).split()[1]) * 1024
