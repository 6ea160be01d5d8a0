"""Where lakestow's buckets and keys live in the upstream bucket.

For a store URL `s3://UPSTREAM/some/prefix`, every key of the upstream bucket UPSTREAM that
this store uses starts with `some/prefix/`:

    some/prefix/.lakestow/buckets/B     the registry entry of lakestow bucket B (small JSON;
                                        its metadata holds the bucket's LocationConstraint
                                        `location` if one was given, its versioning status
                                        `versioning` once set, and when it was `created`)
    some/prefix/B/K                     key K of lakestow bucket B

Bucket names never start with a dot, so the registry cannot collide with a bucket's keys, and
a bucket's keys are exactly the upstream keys under `some/prefix/B/`: nothing to filter out of
listings. The upstream's key-length limit (1,024 bytes on AWS) applies to the full key, so
lakestow keys there are shorter by the length of `some/prefix/B/`.

Metadata names travel as `x-amz-meta-NAME` headers, and upstreams keep only some names (moto
and rclone drop any but `[a-z0-9._-]` on a copy). A name made of those alone goes as it is.
Any other (the S3 layer keeps system headers under `:content-disposition` and the like) goes
marked `lk--`, each character but `[a-z0-9_-]` as `.` and the hex of its UTF-8 bytes: `:a`
becomes `lk--.3aa`. Only marked names are decoded on the way back, so names written by
other tools or older versions (`model.v1.0a`) come back unchanged; a plain name that starts
with a mark is marked too, so that no name is ever misread.

Values travel as they are when they are ASCII. Any other (a client's non-ASCII bytes, which
lakestow keeps as they came) would be refused by the upstream's client (botocore sends only
ASCII metadata), so it goes base64-encoded (of its UTF-8) under its name marked `lkb--`
instead, escaped as above: `note: Grüße` becomes `lkb--note: R3LDvMOfZQ==`.
"""

from __future__ import annotations

import base64
import binascii
import re
import string
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

REGISTRY = ".lakestow/buckets/"
_PLAIN = frozenset(string.ascii_lowercase + string.digits + "_-")
_KEPT = _PLAIN | {"."}  # what every upstream keeps as it is
_MARK = "lk--"
_VALUE_MARK = "lkb--"  # the value is base64 (of its UTF-8)
_ESCAPED = re.compile(rb"\.([0-9a-f]{2})")
_LOCATION = "location"
_VERSIONING = "versioning"
_CREATED = "created"


def registry_metadata(
    location: str | None, created: datetime, versioning: str | None = None
) -> dict[str, str]:
    """The metadata of a bucket's registry entry: its LocationConstraint, if one was given,
    its versioning status, once set, and its creation time (an entry rewritten to change its
    versioning has a new Last-Modified)."""
    metadata = {_CREATED: created.isoformat()}
    if location is not None:
        metadata[_LOCATION] = location
    if versioning is not None:
        metadata[_VERSIONING] = versioning
    return metadata


def registry_versioning(metadata: Mapping[str, str] | None) -> str | None:
    """The versioning status a registry entry's metadata holds (None: never set)."""
    return (metadata or {}).get(_VERSIONING)


def registry_created(metadata: Mapping[str, str] | None) -> datetime | None:
    """When the bucket was created, if its registry entry says (older entries do not: their
    Last-Modified tells it)."""
    created = (metadata or {}).get(_CREATED)
    return datetime.fromisoformat(created) if created else None


def registry_location(metadata: Mapping[str, str] | None) -> str | None:
    """The LocationConstraint a registry entry's metadata holds (None: none was given)."""
    return (metadata or {}).get(_LOCATION)


def upstream_metadata(metadata: Mapping[str, str]) -> dict[str, str]:
    """Lakestow metadata under the upstream names `[a-z0-9._-]` that any upstream keeps,
    with ASCII values that any upstream client sends."""
    return dict(_encode(name, value) for name, value in metadata.items())


def lakestow_metadata(metadata: Mapping[str, str] | None) -> dict[str, str]:
    """The lakestow metadata an upstream object carries (`upstream_metadata` undone)."""
    return dict(_decode(name, value) for name, value in (metadata or {}).items())


def _encode(name: str, value: str) -> tuple[str, str]:
    if not value.isascii():
        raw = value.encode("utf-8", "surrogatepass")
        return _VALUE_MARK + _escaped(name), base64.b64encode(raw).decode()
    if all(c in _KEPT for c in name) and not name.startswith((_MARK, _VALUE_MARK)):
        return name, value
    return _MARK + _escaped(name), value


def _escaped(name: str) -> str:
    return "".join(c if c in _PLAIN else "".join(f".{b:02x}" for b in c.encode()) for c in name)


def _decode(name: str, value: str) -> tuple[str, str]:
    name = name.lower()
    if name.startswith(_VALUE_MARK):
        try:
            raw = base64.b64decode(value.encode("ascii"), validate=True)
            return _unescaped(name[len(_VALUE_MARK) :]), raw.decode("utf-8", "surrogatepass")
        except (UnicodeError, binascii.Error):
            return name, value  # not one lakestow wrote: as it is
    if name.startswith(_MARK):
        return _unescaped(name[len(_MARK) :]), value
    return name, value


def _unescaped(escaped: str) -> str:
    raw = _ESCAPED.sub(lambda m: bytes([int(m[1], 16)]), escaped.encode())
    return raw.decode(errors="replace")


@dataclass(frozen=True)
class Layout:
    """The mapping of lakestow names onto one upstream bucket and prefix."""

    upstream_bucket: str
    prefix: str = ""

    @classmethod
    def of(cls, upstream_bucket: str, prefix: str) -> Layout:
        prefix = prefix.strip("/")
        return cls(upstream_bucket, f"{prefix}/" if prefix else "")

    @property
    def registry_root(self) -> str:
        return f"{self.prefix}{REGISTRY}"

    def registry_key(self, bucket: str) -> str:
        return f"{self.registry_root}{bucket}"

    def bucket_root(self, bucket: str) -> str:
        return f"{self.prefix}{bucket}/"

    def key(self, bucket: str, key: str) -> str:
        """The upstream key of lakestow's (bucket, key)."""
        return f"{self.prefix}{bucket}/{key}"

    def strip(self, bucket: str, upstream_key: str) -> str:
        """The lakestow key of an upstream key under `bucket_root(bucket)`."""
        return upstream_key[len(self.bucket_root(bucket)) :]
