"""Bucket configurations lakestow does not keep, read as S3 answers for a bucket where none is
set, so that tools which look before they act (SDK helpers, Terraform, conformance suites) get
the answer they know instead of 501. Setting one stays 501 NotImplemented: lakestow never
accepts a configuration it would then ignore.

The answers, from the AWS S3 API reference of each Get operation:
- policy, CORS, lifecycle, website, replication, object lock, bucket tags: a 404 with the
  operation's own code (NoSuchBucketPolicy, NoSuchCORSConfiguration, ...);
- ownership controls: BucketOwnerEnforced, which is what lakestow does (see `acl`);
- public access block: every setting true, which is what lakestow does (nothing is public);
- logging, notifications, transfer acceleration: an empty configuration; request payment:
  the bucket owner pays.
"""

from __future__ import annotations

from lakestow.errors import NotFound
from lakestow.s3api import xml
from lakestow.s3api.asgi import Response
from lakestow.s3api.request import S3Request

_NOT_SET = {
    "policy": ("NoSuchBucketPolicy", "The bucket policy does not exist"),
    "cors": ("NoSuchCORSConfiguration", "The CORS configuration does not exist"),
    "lifecycle": ("NoSuchLifecycleConfiguration", "The lifecycle configuration does not exist"),
    "website": ("NoSuchWebsiteConfiguration", "The specified bucket does not have a website"),
    "replication": (
        "ReplicationConfigurationNotFoundError",
        "The replication configuration was not found",
    ),
    "object-lock": (
        "ObjectLockConfigurationNotFoundError",
        "Object Lock configuration does not exist for this bucket",
    ),
    "tagging": ("NoSuchTagSet", "The TagSet does not exist"),
}

_PUBLIC_ACCESS_BLOCK = (
    "BlockPublicAcls",
    "IgnorePublicAcls",
    "BlockPublicPolicy",
    "RestrictPublicBuckets",
)

_DOCUMENTS = {
    "ownershipControls": (
        "OwnershipControls",
        [xml.group("Rule", [xml.tag("ObjectOwnership", "BucketOwnerEnforced")])],
    ),
    "publicAccessBlock": (
        "PublicAccessBlockConfiguration",
        [xml.tag(name, True) for name in _PUBLIC_ACCESS_BLOCK],
    ),
    "logging": ("BucketLoggingStatus", []),
    "notification": ("NotificationConfiguration", []),
    "accelerate": ("AccelerateConfiguration", []),
    "requestPayment": ("RequestPaymentConfiguration", [xml.tag("Payer", "BucketOwner")]),
}

SUBRESOURCES = (*_NOT_SET, *_DOCUMENTS)


def _subresource(request: S3Request) -> str:
    return next(name for name in SUBRESOURCES if name in request.query)


async def get_configuration(request: S3Request) -> Response:
    """GetBucket<Configuration> of a bucket that has none set (the module docstring)."""
    name = _subresource(request)
    if name in _NOT_SET:
        code, message = _NOT_SET[name]
        raise NotFound(message, code=code)
    root, parts = _DOCUMENTS[name]
    return Response(xml.document(root, parts), media_type="application/xml")
