"""ACLs, as S3 answers them for a bucket whose Object Ownership is "bucket owner enforced", the
setting of every new AWS bucket since April 2023 and the only one lakestow has (access is the
permission table's, DESIGN.md section 2, never a grant on an object).

From the AWS reference (Object Ownership, Troubleshooting): "ACLs are disabled ... Requests to
set ACLs or update ACLs fail with a 400 error and return the AccessControlListNotSupported error
code. Requests to read ACLs are still supported. Requests to read ACLs always return a response
that shows full control for the bucket owner. In your PUT operations, you must either specify
bucket owner full control ACLs or not specify an ACL."

So: GetBucketAcl / GetObjectAcl answer FULL_CONTROL for the owner (the caller, as ListBuckets
names the owner: nothing of another member shows); a write that would grant anything to anyone
else (a canned ACL but `private` and `bucket-owner-full-control`, which say what lakestow does
anyway, an `x-amz-grant-*` header, a policy document with another grant) is refused with
AccessControlListNotSupported and changes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping

from lakestow.auth.policy import Action
from lakestow.errors import InvalidRequest
from lakestow.s3api import headers as h
from lakestow.s3api import xml
from lakestow.s3api.asgi import Response
from lakestow.s3api.request import S3Request

OWNER_ONLY = frozenset({"private", "bucket-owner-full-control"})
"""The canned ACLs that grant nothing beyond the owner's full control: what lakestow does."""

_XSI = "http://www.w3.org/2001/XMLSchema-instance"


def _not_supported() -> InvalidRequest:
    return InvalidRequest("The bucket does not allow ACLs", code="AccessControlListNotSupported")


def check_headers(headers: Mapping[str, str]) -> None:
    """AccessControlListNotSupported for a write whose ACL headers grant beyond the owner
    (PUT and copy of objects, CreateMultipartUpload, CreateBucket, Put*Acl)."""
    canned = headers.get("x-amz-acl")
    if canned is not None and canned.strip().lower() not in OWNER_ONLY:
        raise _not_supported()
    if any(name.startswith("x-amz-grant-") for name in headers):
        raise _not_supported()


def _policy(request: S3Request) -> bytes:
    owner = [xml.tag("ID", request.actor), xml.tag("DisplayName", request.actor)]
    grantee = f'<Grantee xmlns:xsi="{_XSI}" xsi:type="CanonicalUser">{"".join(owner)}</Grantee>'
    grant = xml.group("Grant", [grantee, xml.tag("Permission", "FULL_CONTROL")])
    return xml.document(
        "AccessControlPolicy",
        [xml.group("Owner", owner), xml.group("AccessControlList", [grant])],
    )


async def get_bucket_acl(request: S3Request) -> Response:
    await request.runtime.store.head_bucket(request.bucket)
    return Response(_policy(request), media_type="application/xml")


async def get_object_acl(request: S3Request) -> Response:
    request.authorize(Action.READ)
    await _head(request)
    return Response(_policy(request), media_type="application/xml")


async def put_bucket_acl(request: S3Request) -> Response:
    request.authorize(Action.WRITE, "")  # the bucket's owner: an operator, never a member
    await _check_put(request)
    return Response(status_code=200)


async def put_object_acl(request: S3Request) -> Response:
    request.authorize(Action.WRITE)
    await _head(request)
    await _check_put(request)
    return Response(status_code=200)


async def _head(request: S3Request) -> None:
    """The object (or the version named) exists: its ACL is the owner's alone."""
    version_id = h.version_id(request.query.get("versionId"))
    await request.runtime.store.head(request.bucket, request.key, version_id=version_id)


async def _check_put(request: S3Request) -> None:
    """A Put*Acl changes nothing; it succeeds when what it asks for is what there is."""
    check_headers(request.headers)
    body = await request.read_body(xml.MAX_BODY)
    if not body.strip():
        return
    root = await xml.parse(body, "AccessControlPolicy")
    for grant in root.iter("Grant"):
        grantee = grant.find("Grantee")
        who = None if grantee is None else grantee.find("ID")
        permission = xml.text(grant, "Permission", "")
        if who is None or who.text != request.actor or permission != "FULL_CONTROL":
            raise _not_supported()
