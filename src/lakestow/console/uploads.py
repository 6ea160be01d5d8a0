"""Multipart uploads for large files: parts are streamed to the store and can be resumed.

    POST   /api/uploads                      {path, size, content_type} -> {upload_id, part_size}
    PUT    /api/uploads/{id}/parts/{n}?path= the part's bytes
    GET    /api/uploads/{id}?path=           the parts already stored (to resume)
    POST   /api/uploads/{id}/complete        {path}: every stored part, in order
    DELETE /api/uploads/{id}?path=           abort

Each call names the path again and is decided by the policy again: an upload id alone gives
nothing.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from lakestow import paths
from lakestow.console import listing
from lakestow.console.changes import json_body, str_field
from lakestow.console.context import Viewer, parse_path, viewer
from lakestow.errors import InvalidInput
from lakestow.storage.protocol import MAX_PART_NUMBER, PartInfo

PART_SIZE = 8 * 1024 * 1024
MAX_SIZE = 5 * 1024**4
MIB = 1024 * 1024


def part_size_for(size: int) -> int:
    """8 MiB, or the smallest whole number of MiB that fits `size` in 10,000 parts."""
    needed = -(-size // MAX_PART_NUMBER)
    return max(PART_SIZE, -(-needed // MIB) * MIB)


def _file_path(text: str | None) -> str:
    path = parse_path(text)
    if not path or paths.is_folder(path):
        raise InvalidInput("give the path of the file being uploaded")
    return path


def _upload_id(request: Request) -> str:
    upload_id = str(request.path_params["upload_id"])
    if not 0 < len(upload_id) <= 128 or not upload_id.isascii():
        raise InvalidInput("not an upload id")
    return upload_id


async def _uploader(request: Request, path_text: str | None) -> tuple[Viewer, str]:
    return await viewer(request), _file_path(path_text)


async def create(request: Request) -> Response:
    v = await viewer(request)
    body = await json_body(request)
    path = _file_path(str_field(body, "path"))
    size = body.get("size")
    if not isinstance(size, int) or isinstance(size, bool) or not 0 <= size <= MAX_SIZE:
        raise InvalidInput("size must be the file's size in bytes, at most 5 TiB")
    content_type = body.get("content_type") or None
    if content_type is not None and (not isinstance(content_type, str) or len(content_type) > 255):
        raise InvalidInput("content_type must be a short string")
    upload_id = await v.objects.start_upload(
        v.bucket, v.key(path), content_type=content_type, size=size
    )
    return JSONResponse({"upload_id": upload_id, "part_size": part_size_for(size)}, 201)


async def put_part(request: Request) -> Response:
    v, path = await _uploader(request, request.query_params.get("path"))
    number = int(request.path_params["number"])
    if not 1 <= number <= MAX_PART_NUMBER:
        raise InvalidInput(f"the part number must be from 1 to {MAX_PART_NUMBER}")
    part = await v.objects.upload_part(
        v.bucket, v.key(path), _upload_id(request), number, request.stream()
    )
    return JSONResponse(_part(part))


async def _parts(v: Viewer, path: str, upload_id: str) -> list[PartInfo]:
    found: list[PartInfo] = []
    marker = 0
    while True:
        page = await v.objects.list_parts(v.bucket, v.key(path), upload_id, marker=marker)
        found += page.parts
        if not page.is_truncated or page.next_part_number_marker is None:
            return found
        marker = page.next_part_number_marker


def _part(part: PartInfo) -> dict[str, Any]:
    return {"part_number": part.part_number, "etag": part.etag, "size": part.size}


async def stored_parts(request: Request) -> Response:
    v, path = await _uploader(request, request.query_params.get("path"))
    upload_id = _upload_id(request)
    parts = await _parts(v, path, upload_id)
    return JSONResponse({"upload_id": upload_id, "parts": [_part(p) for p in parts]})


async def complete(request: Request) -> Response:
    v, path = await _uploader(request, str_field(await json_body(request), "path"))
    upload_id = _upload_id(request)
    parts = await _parts(v, path, upload_id)
    if not parts:
        raise InvalidInput("no part of this upload is stored yet")
    info = await v.objects.complete_upload(
        v.bucket, v.key(path), upload_id, [(p.part_number, p.etag) for p in parts]
    )
    return JSONResponse(listing.file_entry(v, path, info))


async def abort(request: Request) -> Response:
    v, path = await _uploader(request, request.query_params.get("path"))
    await v.objects.abort_upload(v.bucket, v.key(path), _upload_id(request))
    return JSONResponse({"aborted": True})


ROUTES = [
    Route("/api/uploads", create, methods=["POST"]),
    Route("/api/uploads/{upload_id}/parts/{number:int}", put_part, methods=["PUT"]),
    Route("/api/uploads/{upload_id}", stored_parts, methods=["GET"]),
    Route("/api/uploads/{upload_id}", abort, methods=["DELETE"]),
    Route("/api/uploads/{upload_id}/complete", complete, methods=["POST"]),
]
