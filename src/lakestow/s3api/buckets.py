"""Bucket operations. A member sees one bucket, the one holding their organization's root; an
operator sees, creates and deletes its own buckets."""

from __future__ import annotations

import contextlib

import anyio

from lakestow.errors import AccessDenied, AlreadyExists
from lakestow.s3api import xml
from lakestow.s3api.asgi import Response
from lakestow.s3api.request import OperatorRequest, S3Request


async def list_buckets(request: S3Request) -> Response:
    store = request.runtime.store
    buckets = [b for b in await store.list_buckets() if request.has_bucket(b.name)]
    entries = [
        xml.group("Bucket", [xml.tag("Name", b.name), xml.tag("CreationDate", b.created)])
        for b in buckets
    ]
    owner = xml.group(
        "Owner", [xml.tag("ID", request.actor), xml.tag("DisplayName", request.actor)]
    )
    body = xml.document("ListAllMyBucketsResult", [owner, xml.group("Buckets", entries)])
    return Response(body, media_type="application/xml")


async def head_bucket(request: S3Request) -> Response:
    request.require_bucket()
    await request.runtime.store.head_bucket(request.bucket)
    return Response(status_code=200, headers={"x-amz-bucket-region": request.runtime.region})


async def get_location(request: S3Request) -> Response:
    request.require_bucket()
    region = "" if request.runtime.region == "us-east-1" else request.runtime.region
    body = xml.document("LocationConstraint", [xml.escape(region)])
    return Response(body, media_type="application/xml")


async def get_versioning(request: S3Request) -> Response:
    request.require_bucket()
    return Response(xml.document("VersioningConfiguration", []), media_type="application/xml")


async def create_bucket(request: S3Request) -> Response:
    operator = _operator(request)
    service = request.runtime.services("lakestow:s3")
    await anyio.to_thread.run_sync(
        service.operators.claim_bucket, operator.operator.id, request.bucket
    )
    with contextlib.suppress(AlreadyExists):  # left in the store by an earlier owner's crash
        await request.runtime.store.create_bucket(request.bucket)
    await anyio.to_thread.run_sync(request.runtime.verifier.refresh)
    request.audit("s3.create_bucket", "")
    return Response(status_code=200, headers={"location": f"/{request.bucket}"})


async def delete_bucket(request: S3Request) -> Response:
    operator = _operator(request)
    operator.require_bucket()
    await request.runtime.store.delete_bucket(request.bucket)
    await anyio.to_thread.run_sync(
        request.runtime.services("lakestow:s3").operators.release_bucket, request.bucket
    )
    await anyio.to_thread.run_sync(request.runtime.verifier.refresh)
    request.audit("s3.delete_bucket", "")
    return Response(status_code=204)


def _operator(request: S3Request) -> OperatorRequest:
    if not isinstance(request, OperatorRequest):
        raise AccessDenied(
            "Access Denied: members cannot create or delete buckets; the warehouse layout is fixed"
        )
    return request
