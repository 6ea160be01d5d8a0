"""Object operations: GetObject, HeadObject, PutObject, CopyObject, DeleteObject(s)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from urllib.parse import parse_qs, unquote

import anyio.lowlevel

from lakestow.auth.policy import Action
from lakestow.errors import InvalidInput, InvalidRequest, LakestowError, Unavailable, Unsupported
from lakestow.paths import validate_key
from lakestow.s3api import headers as h
from lakestow.s3api import xml
from lakestow.s3api.asgi import Response, StreamingResponse
from lakestow.s3api.request import S3Request
from lakestow.storage.common import part_unsatisfiable
from lakestow.storage.protocol import (
    FULL_OBJECT,
    MAX_PART_NUMBER,
    Checksum,
    Deleted,
    GetResult,
    ObjectInfo,
    PartRange,
    PartRanges,
)

MAX_DELETE_KEYS = 1000
EMPTY_MD5 = "d41d8cd98f00b204e9800998ecf8427e"


SMALL_BODY = 64 * 1024
"""Bodies up to this size are sent as one piece rather than streamed."""


async def get_object(request: S3Request) -> Response:
    request.authorize(Action.READ)
    headers = request.headers
    byte_range, suffix = h.parse_range(headers.get("range"))
    number = _part_number(request)
    if number is None:
        result = await request.runtime.store.get(
            request.bucket,
            request.key,
            byte_range=byte_range,
            suffix_length=suffix,
            version_id=_version_id(request),
        )
        # The object's checksum is of all of it: a range has none (botocore would check the
        # range's bytes against it).
        checksum = result.info.checksum if byte_range is None and suffix is None else None
    else:
        result, checksum = await _get_part(request, number)
        byte_range = (result.start, result.end) if result.info.size else None
    try:
        h.check_conditions(headers, result.info)
    except LakestowError:
        await result.aclose()
        raise
    out = h.object_headers(result.info, h.response_overrides(request.query))
    out["content-length"] = str(result.length)
    if h.wants_checksum(headers):
        out.update(_checksum_of(result.info, checksum, number))
    status = 200
    if byte_range is not None or suffix is not None:
        status = 206
        out["content-range"] = f"bytes {result.start}-{result.end}/{result.info.size}"
    if result.data is not None:  # in memory already (a chunk at most): nothing to release
        return Response(result.data, status_code=status, headers=out)
    if result.length <= SMALL_BODY:
        # Small (an inline object of the local store): no streaming machinery. Anything
        # larger streams, whatever the store: no object is ever held whole in memory.
        body = b"".join([piece async for piece in result.body])
        await result.aclose()
        return Response(body, status_code=status, headers=out)
    return StreamingResponse(_stream(result), status_code=status, headers=out)


def _part_number(request: S3Request) -> int | None:
    """The part a GET or HEAD asks for with ?partNumber=N, if it does."""
    text = request.query.get("partNumber")
    if text is None:
        return None
    if "range" in request.headers:
        raise InvalidRequest("Cannot specify both Range header and partNumber query parameter")
    if "versionId" in request.query:
        raise Unsupported("lakestow does not implement reading a part of an object's version")
    if not text.isdigit() or not 1 <= int(text) <= MAX_PART_NUMBER:
        raise InvalidInput("Part number must be an integer between 1 and 10000, inclusive")
    return int(text)


async def _part_range(request: S3Request, number: int) -> PartRange:
    """Where part `number` of the object lies; 501 from a store that cannot tell."""
    store = request.runtime.store
    if isinstance(store, PartRanges):
        return await store.part_range(request.bucket, request.key, number)
    info = await store.head(request.bucket, request.key)
    if number > max(info.parts_count or 1, 1):
        raise part_unsatisfiable()
    if info.parts_count:
        raise Unsupported("This storage backend cannot read a multipart object by part number")
    return PartRange(info, 1, 0, info.size - 1, info.checksum)


def _checksum_of(info: ObjectInfo, checksum: Checksum | None, number: int | None) -> dict[str, str]:
    """The checksum headers of a GET or HEAD that asked for them: of the object, or with
    ?partNumber=N of the part (the S3 User Guide: a part's checksum is retrieved with GetObject
    or HeadObject and PartNumber), whose value is the part's own, never `-N`, and whose type
    is the object's."""
    return h.checksum_headers(checksum, info.parts_count if number is None else None)


async def _get_part(request: S3Request, number: int) -> tuple[GetResult, Checksum | None]:
    """GET ?partNumber=N: the part's bytes, of the object as it was when the part was found
    (an overwrite in between makes it look again), and the part's checksum."""
    store = request.runtime.store
    for _ in range(3):
        part = await _part_range(request, number)
        if part.end < part.start:  # an empty object: its one part is empty too
            whole = await store.get(request.bucket, request.key)
            if whole.info.size != 0:
                await whole.aclose()
                continue
            return whole, whole.info.checksum
        result = await store.get(request.bucket, request.key, byte_range=(part.start, part.end))
        if (result.info.etag, result.info.last_modified) == (
            part.info.etag,
            part.info.last_modified,
        ):
            return result, part.checksum
        await result.aclose()
    raise Unavailable("The object changed while its part was being read. Please try again.")


async def _stream(result: GetResult) -> AsyncIterator[bytes]:
    try:
        async for piece in result.body:
            yield piece
    finally:
        await result.aclose()


async def head_object(request: S3Request) -> Response:
    request.authorize(Action.READ)
    number = _part_number(request)
    if number is None:
        info = await request.runtime.store.head(
            request.bucket, request.key, version_id=_version_id(request)
        )
        h.check_conditions(request.headers, info)
        out = h.object_headers(info, h.response_overrides(request.query))
        out["content-length"] = str(info.size)
        if h.wants_checksum(request.headers):
            out.update(_checksum_of(info, info.checksum, None))
        return Response(status_code=200, headers=out)
    part = await _part_range(request, number)
    info = part.info
    h.check_conditions(request.headers, info)
    out = h.object_headers(info, h.response_overrides(request.query))
    out["content-length"] = str(part.end - part.start + 1)
    if h.wants_checksum(request.headers):
        out.update(_checksum_of(info, part.checksum, number))
    if info.size == 0:
        return Response(status_code=200, headers=out)
    out["content-range"] = f"bytes {part.start}-{part.end}/{info.size}"
    return Response(status_code=206, headers=out)


async def put_object(request: S3Request) -> Response:
    if "x-amz-copy-source" in request.headers:
        return await copy_object(request)
    headers = request.headers
    checksum_type = headers.get("x-amz-checksum-type", FULL_OBJECT).strip().upper()
    if checksum_type != FULL_OBJECT:  # PutObject: "the checksum type is always FULL_OBJECT"
        raise InvalidRequest(f"A PUT's checksum is of the full object, not {checksum_type}.")
    request.body_checksum  # noqa: B018 (refuse checksum headers S3 refuses, before anything)
    tags = h.tags_from(headers)
    length = headers.get("x-amz-decoded-content-length", headers.get("content-length", "0"))
    written = await request.objects.put(
        request.bucket,
        request.key,
        request.body(),
        length=int(length) if length.strip().isdigit() else None,
        content_type=headers.get("content-type"),
        metadata=h.metadata_from(headers),
        if_match=_condition(headers.get("if-match")),
        if_none_match=headers.get("if-none-match"),
        content_md5=h.content_md5(headers),
        checksum=request.body_checksum,
        tags=tags,
    )
    if written.info is None:  # the marker of a fixed folder (pyarrow, rclone mkdir): it exists
        return Response(status_code=200, headers={"etag": h.quoted(EMPTY_MD5)})
    out = {"etag": h.quoted(written.info.etag)}
    out.update(h.checksum_headers(written.info.checksum, written.info.parts_count))
    out.update(h.version_headers(written.info.version_id))
    if written.warning:
        out["x-lakestow-warning"] = written.warning
    return Response(status_code=200, headers=out)


async def copy_object(request: S3Request) -> Response:
    headers = request.headers
    src_bucket, src_key, src_version_id = copy_source(headers["x-amz-copy-source"])
    request.require_bucket(src_bucket)
    directive = headers.get("x-amz-metadata-directive", "COPY").upper()
    if directive not in ("COPY", "REPLACE"):
        raise InvalidInput("Unknown metadata directive.")
    # CopyObject: "if the source object has a checksum, that checksum value will be copied to
    # the new object by default", unless x-amz-checksum-algorithm names one (which may be
    # how an object's checksum is changed in place).
    algorithm = h.checksum_algorithm(headers)
    # CopyObject: "x-amz-tagging-directive: Specifies whether the object tag-set is copied
    # from the source object or replaced with the tag-set that's provided in the request."
    replace_tags = h.tagging_directive(headers) == "REPLACE"
    tags = (h.tags_from(headers) or {}) if replace_tags else None
    # a version copied over its key is how a version is restored
    changes = directive == "REPLACE" or algorithm is not None or src_version_id is not None
    if not changes and (src_bucket, src_key) == (request.bucket, request.key):
        raise InvalidRequest(
            "This copy request is illegal because it is trying to copy an object to itself "
            "without changing the object's metadata, storage class, website redirect location "
            "or encryption attributes."
        )
    copied = await request.objects.copy(
        src_bucket,
        src_key,
        request.bucket,
        request.key,
        src_version_id=src_version_id,
        check_source=lambda source: h.check_conditions(
            headers, source, prefix="x-amz-copy-source-"
        ),
        metadata=h.metadata_from(headers),
        content_type=headers.get("content-type"),
        replace_metadata=directive == "REPLACE",
        if_match=_condition(headers.get("if-match")),
        if_none_match=headers.get("if-none-match"),
        checksum_algorithm=algorithm,
        tags=tags,
    )
    info = copied.info
    body = xml.document(
        "CopyObjectResult",
        [
            xml.tag("LastModified", info.last_modified),
            xml.tag("ETag", h.quoted(info.etag)),
            *h.checksum_elements(info.checksum, info.parts_count),
        ],
    )
    out = h.version_headers(info.version_id)
    if copied.source_version_id is not None:
        out["x-amz-copy-source-version-id"] = copied.source_version_id
    return Response(body, media_type="application/xml", headers=out)


def copy_source(value: str) -> tuple[str, str, str | None]:
    """(bucket, key, version id) of an x-amz-copy-source header: `bucket/key` URL-encoded,
    optional `/`, and optionally `?versionId=...` (None: the latest version)."""
    path, _, query = value.partition("?")
    try:  # not a key with U+FFFD where bytes that are not UTF-8 were
        source = unquote(path, errors="strict").removeprefix("/")
    except UnicodeDecodeError:
        source = ""
    bucket, _, key = source.partition("/")
    if not bucket or not key:
        raise InvalidInput(
            "Copy Source must mention the source bucket and key: sourcebucket/sourcekey"
        )
    named = parse_qs(query, keep_blank_values=True).get("versionId")
    return bucket, validate_key(key), h.version_id(named[-1]) if named else None


def _condition(value: str | None) -> str | None:
    return h.unquoted(value) if value is not None and value.strip() != "*" else value


def _version_id(request: S3Request) -> str | None:
    return h.version_id(request.query.get("versionId"))


async def delete_object(request: S3Request) -> Response:
    """DeleteObject: with versionId, that version for good; x-amz-version-id names the
    version removed or the delete marker made, x-amz-delete-marker says it was a marker."""
    if_match = _condition(request.headers.get("if-match"))
    version_id = _version_id(request)
    deleted = await request.objects.delete(
        request.bucket, request.key, if_match=if_match, version_id=version_id
    )
    named = deleted.version_id if version_id is None else version_id
    out = h.version_headers(named, delete_marker=deleted.delete_marker)
    return Response(status_code=204, headers=out)


async def delete_objects(request: S3Request) -> Response:
    """DeleteObjects: each <Object> a <Key> and optionally a <VersionId>; each answered
    with a <Deleted> (unless Quiet) or an <Error>, in the order asked."""
    root = await xml.parse(await request.read_body(xml.MAX_BODY), "Delete")
    await anyio.lowlevel.checkpoint()  # 1,000 keys: a millisecond or two parsed, as many checked
    quiet = xml.text(root, "Quiet", "false").strip().lower() == "true"
    asked = [(xml.text(node, "Key"), node.findtext("VersionId")) for node in root.findall("Object")]
    if len(asked) > MAX_DELETE_KEYS:
        raise InvalidRequest(
            "You have attempted to delete more objects than allowed", code="MalformedXML"
        )
    results: list[str] = []
    valid: list[tuple[str, str | None]] = []
    for key, version_id in asked:
        try:
            valid.append((validate_key(key), h.version_id(version_id)))
        except InvalidInput as exc:
            results.append(_delete_error(key, version_id, exc))
    keys, version_ids = [key for key, _ in valid], [version for _, version in valid]
    outcomes = await request.objects.delete_many(request.bucket, keys, version_ids=version_ids)

    def render(done: Sequence[tuple[tuple[str, str | None], Deleted | LakestowError]]) -> list[str]:
        return [
            _delete_error(key, version_id, outcome)
            if isinstance(outcome, LakestowError)
            else _deleted(key, version_id, outcome)
            for (key, version_id), outcome in done
            if not quiet or isinstance(outcome, LakestowError)
        ]

    results += await xml.in_pieces(render, list(zip(valid, outcomes, strict=True)))
    return Response(xml.document("DeleteResult", results), media_type="application/xml")


def _deleted(key: str, version_id: str | None, deleted: Deleted) -> str:
    """A <Deleted> as S3 writes it: the version asked for; DeleteMarker and
    DeleteMarkerVersionId for the marker made, or for a version that was a marker."""
    fields = [xml.tag("Key", key)]
    if version_id is not None:
        fields.append(xml.tag("VersionId", version_id))
    if deleted.delete_marker:
        fields.append(xml.tag("DeleteMarker", True))
        fields.append(xml.tag("DeleteMarkerVersionId", deleted.version_id or version_id or ""))
    return xml.group("Deleted", fields)


def _delete_error(key: str, version_id: str | None, error: LakestowError) -> str:
    fields = [xml.tag("Key", key)]
    if version_id is not None:
        fields.append(xml.tag("VersionId", version_id))
    fields += [xml.tag("Code", error.code), xml.tag("Message", error.message)]
    return xml.group("Error", fields)
