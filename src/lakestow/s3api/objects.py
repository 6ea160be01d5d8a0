"""Object operations: GetObject, HeadObject, PutObject, CopyObject, DeleteObject(s)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from urllib.parse import unquote

from lakestow.auth.policy import Action, is_fixed_folder
from lakestow.errors import AccessDenied, InvalidInput, InvalidRequest, LakestowError
from lakestow.paths import validate_key
from lakestow.s3api import headers as h
from lakestow.s3api import xml
from lakestow.s3api.asgi import Response, StreamingResponse
from lakestow.s3api.request import MemberRequest, S3Request
from lakestow.storage.protocol import MAX_PART_NUMBER, GetResult, PartRange, PartRanges

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
        result = await request.server.store.get(
            request.bucket, request.key, byte_range=byte_range, suffix_length=suffix
        )
    else:
        result = await _get_part(request, number)
        byte_range = (result.start, result.end) if result.info.size else None
    try:
        h.check_conditions(headers, result.info)
    except LakestowError:
        await result.aclose()
        raise
    out = h.object_headers(result.info, h.response_overrides(request.query))
    out["content-length"] = str(result.length)
    status = 200
    if byte_range is not None or suffix is not None:
        status = 206
        out["content-range"] = f"bytes {result.start}-{result.end}/{result.info.size}"
    if result.data is not None and result.length <= SMALL_BODY:
        return Response(result.data, status_code=status, headers=out)  # nothing to release
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
    if not text.isdigit() or not 1 <= int(text) <= MAX_PART_NUMBER:
        raise InvalidInput("Part number must be an integer between 1 and 10000, inclusive")
    return int(text)


async def _part_range(request: S3Request, number: int) -> PartRange:
    """Where part `number` of the object lies; 501 from a store that cannot tell."""
    store = request.server.store
    if isinstance(store, PartRanges):
        return await store.part_range(request.bucket, request.key, number)
    info = await store.head(request.bucket, request.key)
    if number > max(info.parts_count or 1, 1):
        raise InvalidRequest(
            "The requested partnumber is not satisfiable", code="InvalidPartNumber", status=416
        )
    if info.parts_count:
        raise LakestowError(
            "This storage backend cannot read a multipart object by part number",
            code="NotImplemented",
            status=501,
        )
    return PartRange(info, 1, 0, info.size - 1)


async def _get_part(request: S3Request, number: int) -> GetResult:
    """GET ?partNumber=N: the part's bytes, of the object as it was when the part was found
    (an overwrite in between makes it look again)."""
    store = request.server.store
    for _ in range(3):
        part = await _part_range(request, number)
        if part.end < part.start:  # an empty object: its one part is empty too
            whole = await store.get(request.bucket, request.key)
            if whole.info.size != 0:
                await whole.aclose()
                continue
            return whole
        result = await store.get(request.bucket, request.key, byte_range=(part.start, part.end))
        if (result.info.etag, result.info.last_modified) == (
            part.info.etag,
            part.info.last_modified,
        ):
            return result
        await result.aclose()
    raise LakestowError(
        "The object changed while its part was being read. Please try again.",
        code="ServiceUnavailable",
        status=503,
    )


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
        info = await request.server.store.head(request.bucket, request.key)
        h.check_conditions(request.headers, info)
        out = h.object_headers(info, h.response_overrides(request.query))
        out["content-length"] = str(info.size)
        return Response(status_code=200, headers=out)
    part = await _part_range(request, number)
    info = part.info
    h.check_conditions(request.headers, info)
    out = h.object_headers(info, h.response_overrides(request.query))
    out["content-length"] = str(part.end - part.start + 1)
    if info.size == 0:
        return Response(status_code=200, headers=out)
    out["content-range"] = f"bytes {part.start}-{part.end}/{info.size}"
    return Response(status_code=206, headers=out)


async def put_object(request: S3Request) -> Response:
    if "x-amz-copy-source" in request.headers:
        return await copy_object(request)
    if _is_fixed_folder_marker(request):
        return Response(status_code=200, headers={"etag": h.quoted(EMPTY_MD5)})
    decision = request.authorize(Action.WRITE)
    headers = request.headers
    info = await request.server.store.put(
        request.bucket,
        request.key,
        request.body(),
        content_type=headers.get("content-type"),
        metadata=h.metadata_from(headers),
        if_match=_condition(headers.get("if-match")),
        if_none_match=headers.get("if-none-match"),
        content_md5=h.content_md5(headers),
    )
    request.audit("s3.put", size=info.size, etag=info.etag)
    out = {"etag": h.quoted(info.etag)}
    if decision.warning:
        out["x-lakestow-warning"] = decision.warning
    return Response(status_code=200, headers=out)


def _is_fixed_folder_marker(request: S3Request) -> bool:
    """An empty marker PUT on a folder of the fixed layout (tools like pyarrow make every
    parent folder): it exists already, so the PUT succeeds without writing anything."""
    headers = request.headers
    length = headers.get("x-amz-decoded-content-length", headers.get("content-length", "0"))
    if not isinstance(request, MemberRequest) or not request.key.endswith("/") or length != "0":
        return False
    if request.bucket == request.org.bucket and request.key_of("").startswith(request.key):
        return True  # the root of the warehouse, or a folder on the way down to it
    path = request.path_of(request.bucket, request.key)
    return path is not None and is_fixed_folder(request.principal, request.org.id, path)


async def copy_object(request: S3Request) -> Response:
    headers = request.headers
    src_bucket, src_key = copy_source(headers["x-amz-copy-source"])
    request.authorize(Action.READ, src_key, src_bucket)
    request.authorize(Action.WRITE)
    directive = headers.get("x-amz-metadata-directive", "COPY").upper()
    if directive not in ("COPY", "REPLACE"):
        raise InvalidInput("Unknown metadata directive.")
    if directive == "COPY" and (src_bucket, src_key) == (request.bucket, request.key):
        raise InvalidRequest(
            "This copy request is illegal because it is trying to copy an object to itself "
            "without changing the object's metadata, storage class, website redirect location "
            "or encryption attributes."
        )
    store = request.server.store
    source = await store.head(src_bucket, src_key)
    h.check_conditions(headers, source, prefix="x-amz-copy-source-")
    info = await store.copy(
        src_bucket,
        src_key,
        request.bucket,
        request.key,
        metadata=h.metadata_from(headers),
        content_type=headers.get("content-type"),
        replace_metadata=directive == "REPLACE",
        if_match=_condition(headers.get("if-match")),
        if_none_match=headers.get("if-none-match"),
    )
    request.audit("s3.copy", source=f"s3://{src_bucket}/{src_key}", size=info.size)
    body = xml.document(
        "CopyObjectResult",
        [xml.tag("LastModified", info.last_modified), xml.tag("ETag", h.quoted(info.etag))],
    )
    return Response(body, media_type="application/xml")


def copy_source(value: str) -> tuple[str, str]:
    """(bucket, key) of an x-amz-copy-source header: `bucket/key` URL-encoded, optional `/`."""
    source = unquote(value.partition("?")[0]).removeprefix("/")
    bucket, _, key = source.partition("/")
    if not bucket or not key:
        raise InvalidInput(
            "Copy Source must mention the source bucket and key: sourcebucket/sourcekey"
        )
    return bucket, validate_key(key)


def _condition(value: str | None) -> str | None:
    return h.unquoted(value) if value is not None and value.strip() != "*" else value


async def delete_object(request: S3Request) -> Response:
    request.authorize(Action.DELETE)
    if_match = request.headers.get("if-match")
    if if_match is not None:
        request.authorize(Action.READ)  # as S3: a conditional delete also reveals the ETag
    await request.server.store.delete(request.bucket, request.key, if_match=_condition(if_match))
    request.audit("s3.delete")
    return Response(status_code=204)


async def delete_objects(request: S3Request) -> Response:
    root = xml.parse(await request.read_body(xml.MAX_BODY), "Delete")
    quiet = xml.text(root, "Quiet", "false").strip().lower() == "true"
    keys = [xml.text(node, "Key") for node in root.findall("Object")]
    if len(keys) > MAX_DELETE_KEYS:
        raise InvalidRequest(
            "You have attempted to delete more objects than allowed", code="MalformedXML"
        )
    results: list[str] = []
    allowed: list[str] = []
    for key in keys:
        try:
            validate_key(key)
            request.authorize(Action.DELETE, key)
            allowed.append(key)
        except (AccessDenied, InvalidInput) as exc:
            results.append(_delete_error(key, exc))
    outcomes = await request.server.store.delete_many(request.bucket, allowed) if allowed else []
    for key, error in zip(allowed, outcomes, strict=True):
        if error is not None:
            results.append(_delete_error(key, error))
        else:
            request.audit("s3.delete", key)
            if not quiet:
                results.append(xml.group("Deleted", [xml.tag("Key", key)]))
    return Response(xml.document("DeleteResult", results), media_type="application/xml")


def _delete_error(key: str, error: LakestowError) -> str:
    return xml.group(
        "Error",
        [xml.tag("Key", key), xml.tag("Code", error.code), xml.tag("Message", error.message)],
    )
