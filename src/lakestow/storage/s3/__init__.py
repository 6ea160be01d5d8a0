"""The s3 backend: lakestow's buckets and objects kept in an upstream S3-compatible store.

    store = await open_store("s3://upstream-bucket/some/prefix", endpoint_url="http://minio:9000")

The modules, from the store down:

    store       `S3Store`: buckets and objects, and `open_url` for the registry
    connect     the upstream client: its configuration, and bodies signed once
    versions    the `Versioning` operations: a bucket's versions are the upstream's own
    multipart   the `Multipart` operations, passed through to the upstream
    base        what the operations share: the upstream, the layout, the bucket registry
    transfer    PUTs and copies that take a multipart upload upstream
    listing     listing through the upstream's ListObjectsV2
    layout      where lakestow's buckets, keys and metadata live in the upstream bucket
    io          streaming bodies in parts without holding an object in memory
    upstream    the upstream client, whose every call raises lakestow's errors
    errors      the mapping from the upstream's errors to lakestow's
"""

from lakestow.storage.s3.store import S3Store, open_url

__all__ = ["S3Store", "open_url"]
