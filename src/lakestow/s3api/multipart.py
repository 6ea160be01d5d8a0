"""Multipart uploads: Create, UploadPart(Copy), Complete, Abort, ListParts, ListMultipartUploads."""

from __future__ import annotations

import re
from collections.abc import Sequence

import anyio.lowlevel

from lakestow.auth.checksums import ALGORITHMS, HEADER_PREFIX
from lakestow.errors import InvalidInput, InvalidRequest
from lakestow.s3api import headers as h
from lakestow.s3api import xml
from lakestow.s3api.asgi import Response
from lakestow.s3api.objects import copy_source
from lakestow.s3api.request import S3Request
from lakestow.storage.checksums import upload_type
from lakestow.storage.protocol import MAX_PART_NUMBER, Checksum, CompleteChecks, PartInfo

_COPY_RANGE = re.compile(r"bytes=(\d+)-(\d+)", re.ASCII)
PARTS_PER_TURN = 500
"""Parts of a Complete's list read in one turn of the event loop (~1 ms)."""


async def create_upload(request: S3Request) -> Response:
    headers = request.headers
    algorithm = h.checksum_algorithm(headers)
    checksum_type = headers.get("x-amz-checksum-type")
    checksum_type = upload_type(algorithm, checksum_type and checksum_type.strip().upper())
    upload_id = await request.objects.start_upload(
        request.bucket,
        request.key,
        content_type=headers.get("content-type"),
        metadata=h.metadata_from(headers),
        checksum_algorithm=algorithm,
        checksum_type=checksum_type,
        tags=h.tags_from(headers),
    )
    body = xml.document(
        "InitiateMultipartUploadResult",
        [
            xml.tag("Bucket", request.bucket),
            xml.tag("Key", request.key),
            xml.tag("UploadId", upload_id),
        ],
    )
    out = {}
    if algorithm is not None and checksum_type is not None:
        out = {"x-amz-checksum-algorithm": algorithm.upper(), "x-amz-checksum-type": checksum_type}
    return Response(body, media_type="application/xml", headers=out)


async def upload_part(request: S3Request) -> Response:
    number = _part_number(request.query.get("partNumber", ""))
    upload_id = request.query["uploadId"]
    objects = request.objects
    source = request.headers.get("x-amz-copy-source")
    if source is not None:
        src_bucket, src_key, src_version_id = copy_source(source)
        request.require_bucket(src_bucket)
        part, copied = await objects.upload_part_copy(
            request.bucket,
            request.key,
            upload_id,
            number,
            src_bucket,
            src_key,
            src_version_id=src_version_id,
            byte_range=_copy_range(request.headers.get("x-amz-copy-source-range")),
            check_source=lambda info: h.check_conditions(
                request.headers, info, "x-amz-copy-source-"
            ),
        )
        fields = [xml.tag("LastModified", part.last_modified), xml.tag("ETag", h.quoted(part.etag))]
        if part.checksum is not None:
            fields.append(xml.tag(h.checksum_element(part.checksum.algorithm), part.checksum.value))
        body = xml.document("CopyPartResult", fields)
        out = {} if copied is None else {"x-amz-copy-source-version-id": copied}
        return Response(body, media_type="application/xml", headers=out)
    checksum = request.body_checksum
    part = await objects.upload_part(
        request.bucket,
        request.key,
        upload_id,
        number,
        request.body(),
        content_md5=h.content_md5(request.headers),
        checksum=checksum,
    )
    out = {"etag": h.quoted(part.etag)}
    if part.checksum is not None:  # "present if the checksum was provided in the request"
        out[HEADER_PREFIX + part.checksum.algorithm] = part.checksum.value
    return Response(status_code=200, headers=out)


async def complete_upload(request: S3Request) -> Response:
    # Its x-amz-checksum-* headers are the object's, not the part list's.
    body = await request.read_body(xml.MAX_BODY, checksum=False)
    root = await xml.parse(body, "CompleteMultipartUpload")
    parts: list[tuple[int, str]] = []
    checks = _complete_checks(request.headers)
    for count, node in enumerate(root.findall("Part"), 1):
        if count % PARTS_PER_TURN == 0:
            await anyio.lowlevel.checkpoint()  # 10,000 parts: 25 ms of Python in all
        number = _part_number(xml.text(node, "PartNumber"))
        parts.append((number, h.unquoted(xml.text(node, "ETag"))))
        sent = {
            algorithm: text
            for algorithm in ALGORITHMS
            if (text := xml.text(node, h.checksum_element(algorithm), "").strip())
        }
        if sent:
            checks.parts[number] = sent
    if not parts:
        raise InvalidRequest("You must specify at least one part", code="MalformedXML")
    headers = request.headers
    if_match = headers.get("if-match")
    info = await request.objects.complete_upload(
        request.bucket,
        request.key,
        request.query["uploadId"],
        parts,
        if_match=h.unquoted(if_match) if if_match else None,
        if_none_match=headers.get("if-none-match"),
        checks=checks,
    )
    location = f"{request.http.base_url}{request.bucket}/{request.key}"
    body = xml.document(
        "CompleteMultipartUploadResult",
        [
            xml.tag("Location", location),
            xml.tag("Bucket", request.bucket),
            xml.tag("Key", request.key),
            xml.tag("ETag", h.quoted(info.etag)),
            *h.checksum_elements(info.checksum, info.parts_count),
        ],
    )
    out = h.version_headers(info.version_id)
    return Response(body, media_type="application/xml", headers=out)


def _complete_checks(headers: dict[str, str]) -> CompleteChecks:
    """What a Complete's headers assert: the object's checksum (x-amz-checksum-<algorithm>),
    its type (x-amz-checksum-type) and its size (x-amz-mp-object-size)."""
    sent = [
        Checksum(algorithm, headers[HEADER_PREFIX + algorithm].strip())
        for algorithm in ALGORITHMS
        if HEADER_PREFIX + algorithm in headers
    ]
    if len(sent) > 1:
        raise InvalidRequest(
            "Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed."
        )
    checksum_type = headers.get("x-amz-checksum-type")
    size = headers.get("x-amz-mp-object-size")
    if size is not None and not size.strip().isdigit():
        raise InvalidInput("x-amz-mp-object-size must be a non-negative integer")
    return CompleteChecks(
        checksum=sent[0] if sent else None,
        checksum_type=checksum_type.strip().upper() if checksum_type else None,
        object_size=int(size) if size is not None else None,
    )


async def abort_upload(request: S3Request) -> Response:
    await request.objects.abort_upload(request.bucket, request.key, request.query["uploadId"])
    return Response(status_code=204)


async def list_parts(request: S3Request) -> Response:
    q = request.query
    marker = _int(q.get("part-number-marker", "0"), "part-number-marker")
    max_parts = min(_int(q.get("max-parts", "1000"), "max-parts"), 1000)
    page = await request.objects.list_parts(
        request.bucket, request.key, q["uploadId"], marker=marker, max_parts=max_parts
    )
    parts = [
        xml.tag("Bucket", request.bucket),
        xml.tag("Key", request.key),
        xml.tag("UploadId", q["uploadId"]),
        xml.tag("PartNumberMarker", marker),
        xml.tag("MaxParts", max_parts),
        xml.tag("IsTruncated", page.is_truncated),
        xml.tag("StorageClass", "STANDARD"),
    ]
    if page.checksum_algorithm is not None:
        parts.append(xml.tag("ChecksumAlgorithm", page.checksum_algorithm.upper()))
    if page.checksum_type is not None:
        parts.append(xml.tag("ChecksumType", page.checksum_type))
    if page.next_part_number_marker is not None:
        parts.append(xml.tag("NextPartNumberMarker", page.next_part_number_marker))
    parts += await xml.in_pieces(_parts, page.parts)
    return Response(xml.document("ListPartsResult", parts), media_type="application/xml")


def _parts(page: Sequence[PartInfo]) -> list[str]:
    """ListParts' <Part>s, one string each (a page holds up to 1,000)."""
    return [
        f"<Part><PartNumber>{part.part_number}</PartNumber>"
        f"<LastModified>{xml.timestamp(part.last_modified)}</LastModified>"
        f"<ETag>&quot;{xml.escape(part.etag)}&quot;</ETag><Size>{part.size}</Size>"
        f"{h.part_checksum(part.checksum)}</Part>"
        for part in page
    ]


def _part_number(text: str) -> int:
    number = _int(text, "partNumber")
    if not 1 <= number <= MAX_PART_NUMBER:
        raise InvalidInput(
            f"Part number must be an integer between 1 and {MAX_PART_NUMBER}, inclusive"
        )
    return number


def _copy_range(value: str | None) -> tuple[int, int] | None:
    if value is None:
        return None
    match = _COPY_RANGE.fullmatch(value.strip())
    if not match or int(match[2]) < int(match[1]):
        raise InvalidInput(
            "The x-amz-copy-source-range value must be of the form bytes=first-last where "
            "first and last are the zero-based offsets of the first and last bytes to copy"
        )
    return int(match[1]), int(match[2])


def _int(text: str, name: str) -> int:
    if not text.strip().isdigit():
        raise InvalidInput(f"{name} must be a non-negative integer")
    return int(text)
