"""What a file keeps besides its bytes, as S3 user metadata, the way rclone keeps it.

- `mtime`: the modification time in seconds since the epoch with nine decimals
  (`1700000000.123456789`), the key and form rclone reads and writes;
- `mode`: the file's `st_mode` in octal (`100755`), as rclone's `--metadata` writes it; a
  restore applies its permission bits (the executable and private bits among them);
- `symlink`: `true` on a symbolic link, stored as a small object whose content is its target.

A link is kept only when its target stays inside the home (`inside`): one that leaves it is
neither synced nor restored, and a restore never writes through a link.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

MTIME, MODE, SYMLINK = "mtime", "mode", "symlink"


@dataclass(frozen=True)
class FileMeta:
    """The metadata of one object: permission bits, mtime in ns, whether it is a link."""

    mode: int | None = None
    mtime_ns: int | None = None
    link: bool = False


def encode(mode: int, mtime_ns: int, link: bool = False) -> dict[str, str]:
    """User metadata for a file of `st_mode` `mode` modified at `mtime_ns`."""
    seconds, fraction = divmod(mtime_ns, 1_000_000_000)
    kind = stat.S_IFLNK if link else stat.S_IFREG
    meta = {MTIME: f"{seconds}.{fraction:09d}", MODE: f"{kind | stat.S_IMODE(mode):o}"}
    return meta | ({SYMLINK: "true"} if link else {})


def decode(meta: Mapping[str, str]) -> FileMeta:
    """The metadata found on an object (keys in any case); what is missing or unreadable is
    None, as on an object another tool wrote."""
    found = {k.lower(): v for k, v in meta.items()}
    return FileMeta(_mode(found.get(MODE)), _mtime(found.get(MTIME)), found.get(SYMLINK) == "true")


def _mode(text: str | None) -> int | None:
    try:
        return stat.S_IMODE(int(text, 8)) if text else None
    except ValueError:
        return None


def _mtime(text: str | None) -> int | None:
    """Seconds with up to nine decimals, read exactly (no float rounding)."""
    if not text:
        return None
    whole, _, fraction = text.strip().partition(".")
    if not whole.lstrip("-").isdigit() or (fraction and not fraction.isdigit()):
        return None
    return int(whole) * 1_000_000_000 + int((fraction + "000000000")[:9])


def inside(home: Path, path: str, target: str) -> bool:
    """Whether the link `path` (relative to `home`) pointing at `target` stays in the home,
    read lexically: no component of the link may be followed to decide."""
    base = os.path.normpath(os.path.join(home, os.path.dirname(path), target))
    root = os.path.normpath(home)
    return base == root or base.startswith(root + os.sep)
