"""Bucket operations: ListBuckets, HeadBucket, GetBucketLocation, CreateBucket and
DeleteBucket (GetBucketVersioning and PutBucketVersioning: `versioning`). A member sees one
bucket, the one holding their organization's root; an operator sees, creates and deletes its
own buckets. Whether the bucket a request names exists for the caller is decided before any
handler runs (`S3Request.require_bucket`).

Regions: lakestow answers for one region (`settings.region`), as an AWS regional endpoint
does; us-east-1 is also AWS's global endpoint, which creates buckets in any region. A bucket
keeps the LocationConstraint it was created with: GetBucketLocation returns it, HeadBucket and
ListBuckets name its region. (Every bucket is served here whatever its region: requests are
signed for the region lakestow answers for.)
"""

from __future__ import annotations

import contextlib
import re

import anyio

from lakestow import paths
from lakestow.auth import cursors
from lakestow.errors import AccessDenied, AlreadyExists, InvalidInput, NotFound
from lakestow.s3api import xml
from lakestow.s3api.asgi import Response
from lakestow.s3api.request import MemberRequest, OperatorRequest, S3Request
from lakestow.storage.protocol import BucketInfo

US_EAST_1 = "us-east-1"
MAX_BUCKETS = 10_000
"""ListBuckets' page size when the request names none, and the most it may name."""
_CONSTRAINT = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{0,62}", re.ASCII)
"""What a LocationConstraint looks like: a region code (`eu-west-1`) or `EU`."""


async def list_buckets(request: S3Request) -> Response:
    """The caller's buckets by name, a page at a time (`max-buckets`, `continuation-token`),
    narrowed by `prefix` and `bucket-region`."""
    q = request.query
    prefix, region = q.get("prefix", ""), q.get("bucket-region") or None
    size = _max_buckets(q.get("max-buckets"))
    binding = ("ListBuckets", request.actor, prefix, region)
    token = q.get("continuation-token")
    after = _open_token(request, binding, token) if token else ""
    buckets = [
        b
        for b in await request.runtime.store.list_buckets()
        if request.has_bucket(b.name)
        and b.name.startswith(prefix)
        and b.name > after
        and region in (None, region_of(request, b.location))
    ]
    page = buckets[:size]
    entries = [
        xml.group(
            "Bucket",
            [
                xml.tag("Name", b.name),
                xml.tag("CreationDate", b.created),
                xml.tag("BucketRegion", region_of(request, b.location)),
            ],
        )
        for b in page
    ]
    owner = [xml.tag("ID", request.actor), xml.tag("DisplayName", request.actor)]
    parts = [xml.group("Buckets", entries), xml.group("Owner", owner)]
    if len(buckets) > size:
        sealed = cursors.seal(request.runtime.keyring, binding, page[-1].name)
        parts.append(xml.tag("ContinuationToken", sealed))
    if "prefix" in q:
        parts.append(xml.tag("Prefix", prefix))
    body = xml.document("ListAllMyBucketsResult", parts)
    return Response(body, media_type="application/xml")


async def head_bucket(request: S3Request) -> Response:
    info = await request.runtime.store.head_bucket(request.bucket)
    return Response(
        status_code=200, headers={"x-amz-bucket-region": region_of(request, info.location)}
    )


async def get_location(request: S3Request) -> Response:
    info = await request.runtime.store.head_bucket(request.bucket)
    constraint = info.location
    if constraint is None:  # an organization's bucket, or one from before buckets kept it
        constraint = "" if request.runtime.region == US_EAST_1 else request.runtime.region
    body = xml.document("LocationConstraint", [xml.escape(constraint)])
    return Response(body, media_type="application/xml")


async def create_bucket(request: S3Request) -> Response:
    """A new bucket for an operator. The caller's own bucket, asked for again, is there already:
    200 on a us-east-1 endpoint, as AWS answers there for legacy compatibility, else
    BucketAlreadyOwnedByYou (whatever LocationConstraint was named: it would only place a new
    bucket). A member owns their organization's bucket in this sense (tools such as rclone
    create the bucket before they upload), and can create no other."""
    paths.validate_bucket(request.bucket)
    named = await _named_constraint(request)
    store = request.runtime.store
    if isinstance(request, MemberRequest):
        if not request.has_bucket(request.bucket):
            raise AccessDenied(
                "Access Denied: members cannot create buckets; the warehouse layout is fixed"
            )
        return _already_yours(request, await store.head_bucket(request.bucket), named)
    operator = _operator(request)
    if operator.has_bucket(request.bucket):
        return _already_yours(request, await _in_store(request, named), named)
    location = _checked_constraint(request, named)
    service = request.runtime.services("lakestow:s3")
    try:
        await anyio.to_thread.run_sync(
            service.operators.claim_bucket, operator.operator.id, request.bucket
        )
    except AlreadyExists as exc:
        if exc.code != "BucketAlreadyOwnedByYou":  # another's bucket, or an organization's
            raise
        return _already_yours(request, await _in_store(request, named), named)
    with contextlib.suppress(AlreadyExists):  # left in the store by an earlier owner's crash
        await store.create_bucket(request.bucket, location=location)
    await anyio.to_thread.run_sync(request.runtime.verifier.refresh)
    request.audit("s3.create_bucket", "", location=location)
    return Response(status_code=200, headers={"location": f"/{request.bucket}"})


async def delete_bucket(request: S3Request) -> Response:
    operator = _operator(request)
    await request.runtime.store.delete_bucket(request.bucket)
    await anyio.to_thread.run_sync(
        request.runtime.services("lakestow:s3").operators.release_bucket, request.bucket
    )
    await anyio.to_thread.run_sync(request.runtime.verifier.refresh)
    operator.audit("s3.delete_bucket", "")
    return Response(status_code=204)


def region_of(request: S3Request, location: str | None) -> str:
    """The region of a bucket created with LocationConstraint `location`: AWS's null (here "")
    is us-east-1, `EU` is eu-west-1; None (none kept) is the region lakestow answers for."""
    if location is None:
        return request.runtime.region
    return {"": US_EAST_1, "EU": "eu-west-1"}.get(location, location)


async def _named_constraint(request: S3Request) -> str:
    """The LocationConstraint a CreateBucket names in its optional CreateBucketConfiguration
    body; "" when it names none."""
    body = await request.read_body(xml.MAX_BODY)
    if not body.strip():
        return ""
    root = await xml.parse(body, "CreateBucketConfiguration")
    return xml.text(root, "LocationConstraint", "").strip()


def _checked_constraint(request: S3Request, named: str) -> str:
    """The LocationConstraint of a new bucket, checked as AWS checks it: "" for a bucket in
    us-east-1 (AWS's null), else the region. On us-east-1 any region may be named but
    us-east-1 itself (InvalidLocationConstraint); on any other region's endpoint only that
    region, and naming none is refused (IllegalLocationConstraintException)."""
    served = request.runtime.region
    if named and (not _CONSTRAINT.fullmatch(named) or (served == US_EAST_1 and named == served)):
        raise InvalidInput(
            f"The specified location-constraint is not valid: {named!r}",
            code="InvalidLocationConstraint",
        )
    if served != US_EAST_1 and region_of(request, named) != served:
        which = f"The {named}" if named else "The unspecified"
        raise InvalidInput(
            f"{which} location constraint is incompatible for the region specific endpoint "
            f"this request was sent to ({served}).",
            code="IllegalLocationConstraintException",
        )
    return named


def _already_yours(request: S3Request, existing: BucketInfo, location: str) -> Response:
    """The answer to creating a bucket the caller already has. AWS: "Amazon S3 returns this
    error [BucketAlreadyOwnedByYou] in all Amazon Web Services Regions except in the North
    Virginia Region. For legacy compatibility, if you re-create an existing bucket that you
    already own in the North Virginia Region, Amazon S3 returns 200 OK"."""
    regions = {request.runtime.region, region_of(request, existing.location)}
    if regions == {US_EAST_1} and region_of(request, location) == US_EAST_1:
        return Response(status_code=200, headers={"location": f"/{request.bucket}"})
    raise AlreadyExists(
        "Your previous request to create the named bucket succeeded and you already own it.",
        code="BucketAlreadyOwnedByYou",
    )


async def _in_store(request: S3Request, named: str) -> BucketInfo:
    """An operator's claimed bucket in the store; made there if a crash left only the claim."""
    store = request.runtime.store
    try:
        return await store.head_bucket(request.bucket)
    except NotFound:
        location = _checked_constraint(request, named)
        with contextlib.suppress(AlreadyExists):  # made meanwhile
            return await store.create_bucket(request.bucket, location=location)
    return await store.head_bucket(request.bucket)


def _max_buckets(text: str | None) -> int:
    if text is None:
        return MAX_BUCKETS
    if not text.isascii() or not text.isdigit() or not 1 <= int(text) <= MAX_BUCKETS:
        raise InvalidInput(f"max-buckets must be an integer from 1 to {MAX_BUCKETS:,}")
    return int(text)


def _open_token(request: S3Request, binding: tuple[object, ...], token: str) -> str:
    message = "The continuation token provided is incorrect"
    return cursors.open_(request.runtime.keyring, binding, token, message)


def _operator(request: S3Request) -> OperatorRequest:
    if not isinstance(request, OperatorRequest):
        raise AccessDenied(
            "Access Denied: members cannot create or delete buckets; the warehouse layout is fixed"
        )
    return request
