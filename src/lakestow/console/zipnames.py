"""Names of zip entries that extract safely with every tool, on every system.

An S3 key may hold what a file system reads as something else: a backslash (a separator on
Windows), `..`, a drive letter (`C:`), a colon (an NTFS stream), a control character, an empty
segment (an absolute path), a device name (`CON`, `NUL`) or a trailing dot. `Names.place`
changes each such character or segment the same way every time:

    backslash, : * ? " < > |, control characters     ->  _
    empty segment, . and ..                          ->  _ , _ and __
    trailing dots and spaces                         ->  _ each
    CON, PRN, AUX, NUL, COM1-9, LPT1-9 (any suffix)  ->  _CON ...

and then keeps every name unique, ignoring case (Windows and macOS do), and never a file where
a folder is needed or the other way round (S3 may hold both `a` and `a/b`): the later name gets
` (2)`, ` (3)`, ... before its extension. Every changed name is listed by `Names.note`.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

_UNSAFE = re.compile(r'[\\:*?"<>|]')
_BIDI = {chr(c) for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A))}
_DEVICES = {"con", "prn", "aux", "nul"} | {f"{p}{n}" for p in ("com", "lpt") for n in range(1, 10)}
NOTE = "RENAMED.txt"
_NOTE_HEADER = (
    "Some names in this archive were changed so that they extract safely everywhere.\n"
    "Each line: the path in the warehouse -> the name in this archive.\n\n"
)


def safe_segment(segment: str) -> str:
    """One path segment as a name every file system takes."""
    if segment in ("", ".", ".."):
        return "_" * max(1, len(segment))
    chars = "".join("_" if _control(c) else c for c in _UNSAFE.sub("_", segment))
    stripped = chars.rstrip(". ")
    chars = stripped + "_" * (len(chars) - len(stripped))
    if chars.split(".")[0].rstrip(" ").casefold() in _DEVICES:
        chars = "_" + chars
    return chars


def _control(c: str) -> bool:
    return unicodedata.category(c) == "Cc" or c in _BIDI


def _numbered(segment: str, n: int) -> str:
    stem, dot, ext = segment.rpartition(".")
    if not stem:  # no extension, or a name like `.profile`
        return f"{segment} ({n})"
    return f"{stem} ({n}){dot}{ext}"


@dataclass
class Names:
    """The entry names of one archive, placed in order; what was renamed, for the note."""

    renamed: list[tuple[str, str]] = field(default_factory=list)
    _files: set[str] = field(default_factory=set)  # placed file names, casefolded
    _folders: set[str] = field(default_factory=set)  # placed folder names, casefolded
    _moved: dict[str, str] = field(default_factory=dict)  # folder wanted (casefolded) -> placed

    def place(self, relative: str, original: str) -> str:
        """The entry name for `relative` (a key below the zip's base, `/`-separated);
        `original` is what the note shows for it."""
        segments = [safe_segment(s) for s in relative.split("/")]
        parent = ""
        for segment in segments[:-1]:
            parent = self._folder(parent, segment) + "/"
        name = self._unique(parent, segments[-1])
        self._files.add(name.casefold())
        if name != relative:
            self.renamed.append((original, name))
        return name

    def note(self) -> tuple[str, bytes] | None:
        """The note's entry name and text, when any name was changed."""
        if not self.renamed:
            return None
        lines = [f"{_printable(old)} -> {new}\n" for old, new in self.renamed]
        return self._unique("", NOTE), (_NOTE_HEADER + "".join(lines)).encode()

    def _folder(self, parent: str, segment: str) -> str:
        """Where the folder `parent + segment` went: itself, unless a file took that name."""
        wanted = (parent + segment).casefold()
        placed = self._moved.get(wanted)
        if placed is None:
            placed = self._unique(parent, segment) if wanted in self._files else parent + segment
            self._moved[wanted] = placed
            self._folders.add(placed.casefold())
        return placed

    def _unique(self, parent: str, segment: str) -> str:
        n, candidate = 1, segment
        while self._taken(parent + candidate):
            n += 1
            candidate = _numbered(segment, n)
        return parent + candidate

    def _taken(self, name: str) -> bool:
        folded = name.casefold()
        return folded in self._files or folded in self._folders


def _printable(text: str) -> str:
    return "".join(f"\\u{ord(c):04x}" if _control(c) else c for c in text)
