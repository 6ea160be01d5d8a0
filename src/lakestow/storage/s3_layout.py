"""Where lakestow's buckets and keys live in the upstream bucket.

For a store URL `s3://UPSTREAM/some/prefix`, every key of the upstream bucket UPSTREAM that
this store uses starts with `some/prefix/`:

    some/prefix/.lakestow/buckets/B     the registry entry of lakestow bucket B (small JSON)
    some/prefix/B/K                     key K of lakestow bucket B

Bucket names never start with a dot, so the registry cannot collide with a bucket's keys, and
a bucket's keys are exactly the upstream keys under `some/prefix/B/`: nothing to filter out of
listings. The upstream's key-length limit (1,024 bytes on AWS) applies to the full key, so
lakestow keys there are shorter by the length of `some/prefix/B/`.
"""

from __future__ import annotations

from dataclasses import dataclass

REGISTRY = ".lakestow/buckets/"


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
