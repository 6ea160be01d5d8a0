"""Object tagging: GetObjectTagging, PutObjectTagging, DeleteObjectTagging.

An object's tags are read as the object is (READ) and changed as it is (WRITE): a member may
tag only what they may write. A tag set is limited as the S3 User Guide limits it
(`storage.common.check_tags`); changing it changes nothing else of the object. Tags are
those of an object's latest version: a versionId is refused (501), never ignored.
"""

from __future__ import annotations

from lakestow.errors import InvalidRequest, Unsupported
from lakestow.s3api import xml
from lakestow.s3api.asgi import Response
from lakestow.s3api.request import S3Request
from lakestow.storage.common import check_tags


def _latest_only(request: S3Request) -> None:
    if "versionId" in request.query:
        raise Unsupported("lakestow does not implement the tags of an object's older versions")


async def get_object_tagging(request: S3Request) -> Response:
    _latest_only(request)
    tags = await request.objects.get_tags(request.bucket, request.key)
    tag_set = [
        xml.group("Tag", [xml.tag("Key", key), xml.tag("Value", value)])
        for key, value in tags.items()
    ]
    body = xml.document("Tagging", [xml.group("TagSet", tag_set)])
    return Response(body, media_type="application/xml")


async def put_object_tagging(request: S3Request) -> Response:
    _latest_only(request)
    root = await xml.parse(await request.read_body(xml.MAX_BODY), "Tagging")
    tag_set = root.find("TagSet")
    if tag_set is None:
        raise InvalidRequest("<Tagging> lacks <TagSet>", code="MalformedXML")
    pairs = [(xml.text(tag, "Key"), xml.text(tag, "Value")) for tag in tag_set.findall("Tag")]
    await request.objects.put_tags(request.bucket, request.key, check_tags(pairs))
    return Response(status_code=200)


async def delete_object_tagging(request: S3Request) -> Response:
    _latest_only(request)
    await request.objects.put_tags(request.bucket, request.key, {})
    return Response(status_code=204)
