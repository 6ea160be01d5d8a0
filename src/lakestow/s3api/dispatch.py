"""Which handler serves a request: a table keyed by method, target and sub-resource.

The sub-resource is the first query parameter that names one (`?uploads`, `?uploadId=...`,
`?delete`, ...); a request with none is a plain object or bucket operation.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping

from lakestow.errors import Unsupported
from lakestow.s3api import (
    acl,
    archive,
    attributes,
    bucket_config,
    buckets,
    listing,
    multipart,
    objects,
    tagging,
    versioning,
)
from lakestow.s3api.asgi import Response
from lakestow.s3api.request import S3Request

Handler = Callable[[S3Request], Awaitable[Response]]

SUBRESOURCES = (
    "uploadId",
    "uploads",
    "delete",
    "location",
    "versions",
    "versioning",
    "acl",
    "tagging",
    "policy",
    "lifecycle",
    "cors",
    "encryption",
    "object-lock",
    "retention",
    "legal-hold",
    "website",
    "logging",
    "notification",
    "replication",
    "accelerate",
    "requestPayment",
    "ownershipControls",
    "publicAccessBlock",
    "attributes",
    "restore",
    "select",
    "torrent",
    archive.QUERY,
)

ROUTES: dict[tuple[str, str, str | None], Handler] = {
    ("GET", "service", None): buckets.list_buckets,
    ("HEAD", "bucket", None): buckets.head_bucket,
    ("GET", "bucket", None): listing.list_objects,
    ("GET", "bucket", archive.QUERY): archive.get_archive,
    ("GET", "bucket", "location"): buckets.get_location,
    ("GET", "bucket", "versioning"): versioning.get_versioning,
    ("PUT", "bucket", "versioning"): versioning.put_versioning,
    ("GET", "bucket", "versions"): versioning.list_object_versions,
    ("GET", "bucket", "uploads"): listing.list_uploads,
    ("PUT", "bucket", None): buckets.create_bucket,
    ("DELETE", "bucket", None): buckets.delete_bucket,
    ("POST", "bucket", "delete"): objects.delete_objects,
    ("GET", "object", None): objects.get_object,
    ("HEAD", "object", None): objects.head_object,
    ("PUT", "object", None): objects.put_object,
    ("DELETE", "object", None): objects.delete_object,
    ("POST", "object", "uploads"): multipart.create_upload,
    ("PUT", "object", "uploadId"): multipart.upload_part,
    ("POST", "object", "uploadId"): multipart.complete_upload,
    ("DELETE", "object", "uploadId"): multipart.abort_upload,
    ("GET", "object", "uploadId"): multipart.list_parts,
    ("GET", "object", "tagging"): tagging.get_object_tagging,
    ("PUT", "object", "tagging"): tagging.put_object_tagging,
    ("DELETE", "object", "tagging"): tagging.delete_object_tagging,
    ("GET", "object", "attributes"): attributes.get_object_attributes,
    ("GET", "bucket", "acl"): acl.get_bucket_acl,
    ("PUT", "bucket", "acl"): acl.put_bucket_acl,
    ("GET", "object", "acl"): acl.get_object_acl,
    ("PUT", "object", "acl"): acl.put_object_acl,
    **{
        ("GET", "bucket", name): bucket_config.get_configuration
        for name in bucket_config.SUBRESOURCES
    },
}


def names_existing_bucket(method: str, bucket: str, key: str, query: Mapping[str, str]) -> bool:
    """Whether the request is about a bucket that must exist: any naming one but CreateBucket
    (what is asked of a missing bucket, supported or not, is answered NoSuchBucket first)."""
    creates = method == "PUT" and not key and _subresource(query) is None
    return bool(bucket) and not creates


def route(
    method: str, bucket: str, key: str, query: Mapping[str, str], headers: Mapping[str, str]
) -> Handler:
    target = "object" if key else "bucket" if bucket else "service"
    subresource = _subresource(query)
    handler = ROUTES.get((method, target, subresource))
    if handler is not None:
        return handler
    if any(key == (method, target, None) for key in ROUTES) or subresource is not None:
        what = f"?{subresource}" if subresource else method
        raise Unsupported(f"lakestow does not implement {what} on a {target}")
    raise Unsupported(f"{method} is not allowed on a {target}", code="MethodNotAllowed")


def _subresource(query: Mapping[str, str]) -> str | None:
    return next((name for name in SUBRESOURCES if name in query), None)
