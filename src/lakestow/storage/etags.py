"""ETags: their stored, quoted and client forms, and how S3 compares them.

    stored      the lower-case hex MD5 of the body, or `md5-N` for an object of N parts
    quoted      `"md5"`, as S3 headers and XML carry it
    from a client (If-Match, a part list) quoted or not, maybe weak (`W/"md5"`), maybe `*`

Stores keep and return the stored form; the S3 layer quotes it on the way out.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence


def quoted(etag: str) -> str:
    """A stored ETag in the quoted form S3 headers and XML carry."""
    return f'"{etag}"'


def unquoted(etag: str) -> str:
    """A client's ETag without its quotes and weak mark, case kept."""
    return etag.strip().removeprefix("W/").strip('"')


def clean_etag(etag: str) -> str:
    """A client's or an upstream's ETag in the stored form."""
    return unquoted(etag).lower()


def requoted(etag: str) -> str:
    """A client's ETag (any form, or `*`) quoted in the stored form, for an upstream request."""
    return "*" if etag.strip() == "*" else quoted(clean_etag(etag))


def etag_matches(condition: str, etag: str) -> bool:
    """Whether a read's `If-Match` / `If-None-Match` list names the stored `etag` (or is `*`)."""
    return any(c.strip() == "*" or unquoted(c) == etag for c in condition.split(","))


def multipart_etag(part_etags: Sequence[str]) -> str:
    """S3's ETag of a multipart object: MD5 of the parts' binary MD5s, then -N."""
    digest = hashlib.md5(b"".join(bytes.fromhex(e) for e in part_etags), usedforsecurity=False)
    return f"{digest.hexdigest()}-{len(part_etags)}"


def completed_etag(parts: Sequence[tuple[int, str]]) -> str | None:
    """The ETag a Complete of `parts` (number, client ETag) makes, if every part's ETag is an
    MD5 (None otherwise: no object of such parts can be recognized by its ETag)."""
    try:
        return multipart_etag([clean_etag(etag) for _, etag in parts])
    except ValueError:
        return None


def parts_count(etag: str) -> int | None:
    """N of a multipart ETag `md5-N`, None for a single-part one."""
    _, dash, count = etag.rpartition("-")
    return int(count) if dash and count.isdigit() else None
