"""GetObjectAttributes: an object's ETag, checksum, parts, storage class and size at once.

The API reference: "GetObjectAttributes combines the functionality of HeadObject and
ListParts"; x-amz-object-attributes names "the fields at the root level that you want returned
in the response. Fields that you do not specify are not returned." Its ETag has no quotes; its
checksum is the stored value, without the `-N` of a COMPOSITE one (which GET and HEAD show);
ObjectParts comes with a multipart object, its Part elements only "if an additional checksum
(including x-amz-checksum-crc32, x-amz-checksum-crc32c, x-amz-checksum-sha1, or
x-amz-checksum-sha256)" was applied to it. Read as the object is read (READ), with the same
conditions as a GET. Of the latest version only: a versionId is refused (501).
"""

from __future__ import annotations

from collections.abc import Sequence

from lakestow.auth.policy import Action
from lakestow.errors import InvalidInput, Unsupported
from lakestow.s3api import headers as h
from lakestow.s3api import xml
from lakestow.s3api.asgi import Response
from lakestow.s3api.request import S3Request
from lakestow.storage.protocol import MAX_PART_NUMBER, ObjectPart

ATTRIBUTES = ("ETag", "Checksum", "ObjectParts", "StorageClass", "ObjectSize")


async def get_object_attributes(request: S3Request) -> Response:
    if "versionId" in request.query:
        raise Unsupported("lakestow does not implement the attributes of an object's versions")
    headers = request.headers
    wanted = _attributes(headers.get("x-amz-object-attributes", ""))
    max_parts = min(_count(headers.get("x-amz-max-parts", "1000"), "x-amz-max-parts"), 1000)
    marker = _count(headers.get("x-amz-part-number-marker", "0"), "x-amz-part-number-marker")
    request.authorize(Action.READ)
    page = await request.runtime.store.object_parts(
        request.bucket,
        request.key,
        part_number_marker=min(marker, MAX_PART_NUMBER),
        max_parts=max_parts if "ObjectParts" in wanted else 0,
    )
    info = page.info
    h.check_conditions(headers, info)
    fields: list[str] = []
    if "ETag" in wanted:
        fields.append(xml.tag("ETag", info.etag))
    if "Checksum" in wanted and info.checksum is not None:
        fields.append(xml.group("Checksum", h.checksum_elements(info.checksum, None)))
    if "ObjectParts" in wanted and info.parts_count:
        parts = [
            xml.tag("PartsCount", info.parts_count),
            xml.tag("PartNumberMarker", marker),
            xml.tag("MaxParts", max_parts),
            xml.tag("IsTruncated", page.is_truncated),
        ]
        if page.next_part_number_marker is not None:
            parts.append(xml.tag("NextPartNumberMarker", page.next_part_number_marker))
        if info.checksum is not None:
            parts += await xml.in_pieces(_parts, page.parts)
        fields.append(xml.group("ObjectParts", parts))
    if "StorageClass" in wanted:
        fields.append(xml.tag("StorageClass", "STANDARD"))
    if "ObjectSize" in wanted:
        fields.append(xml.tag("ObjectSize", info.size))
    body = xml.document("GetObjectAttributesResponse", fields)
    out = {"last-modified": h.http_date(info.last_modified)}
    return Response(body, media_type="application/xml", headers=out)


def _parts(page: Sequence[ObjectPart]) -> list[str]:
    """The <Part>s of ObjectParts, one string each (a page holds up to 1,000)."""
    return [
        f"<Part><PartNumber>{part.part_number}</PartNumber><Size>{part.size}</Size>"
        f"{h.part_checksum(part.checksum)}</Part>"
        for part in page
    ]


def _attributes(value: str) -> set[str]:
    names = {name.strip() for name in value.split(",") if name.strip()}
    if not names:
        raise InvalidInput(
            "The x-amz-object-attributes header specifying the attributes to be retrieved is "
            "either missing or empty"
        )
    unknown = names - set(ATTRIBUTES)
    if unknown:
        raise InvalidInput(
            f"Invalid attribute name specified: {', '.join(sorted(unknown))} (one of "
            f"{', '.join(ATTRIBUTES)})."
        )
    return names


def _count(text: str, name: str) -> int:
    if not text.strip().isdigit():
        raise InvalidInput(f"{name} must be a non-negative integer")
    return int(text)
