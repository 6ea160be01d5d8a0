"""The write side of the JSON API: small uploads, new folders, delete and move.

Every key changed is decided by the policy on its own, and every change is audited.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from lakestow import paths
from lakestow.auth.policy import Action
from lakestow.console import listing
from lakestow.console.context import Viewer, parse_path, viewer
from lakestow.errors import AlreadyExists, InvalidInput, NotFound

MAX_PATHS = 1000
MAX_KEYS = 100_000


async def json_body(request: Request) -> dict[str, Any]:
    """The request's JSON object. Its size was capped as it arrived (console.app.BodyLimit)."""
    try:
        body = await request.json()
    except (ValueError, RecursionError) as exc:  # RecursionError: nested too deep to decode
        raise InvalidInput("the request body must be a JSON object") from exc
    if not isinstance(body, dict):
        raise InvalidInput("the request body must be a JSON object")
    return body


def str_field(body: dict[str, Any], name: str) -> str:
    value = body.get(name)
    if not isinstance(value, str):
        raise InvalidInput(f"{name} must be a string")
    return value


async def put_object(request: Request) -> Response:
    """PUT /api/object: the body, streamed into the store, as the file at path."""
    v = await viewer(request)
    path = parse_path(request.query_params.get("path"))
    if paths.is_folder(path):
        raise InvalidInput("a file path must not end in '/'")
    content_type = request.headers.get("content-type") or None
    written = await v.objects.put(
        v.bucket, v.key(path), request.stream(), length=None, content_type=content_type
    )
    assert written.info is not None, "a file path is never a folder's marker"
    return JSONResponse(listing.file_entry(v, path, written.info), status_code=201)


async def new_folder(request: Request) -> Response:
    """POST /api/folder {path}: a folder marker (a key ending in '/')."""
    v = await viewer(request)
    folder = parse_path(str_field(await json_body(request), "path"), folder=True)
    if not folder:
        raise InvalidInput("give the path of the new folder")
    if await v.objects.make_folder(v.bucket, v.key(folder)) is None:
        raise AlreadyExists(f"/{folder} already exists")  # a fixed folder always does
    return JSONResponse(listing.folder_entry(v, folder), status_code=201)


def path_list(body: dict[str, Any]) -> list[str]:
    items = body.get("paths")
    if not isinstance(items, list) or not 0 < len(items) <= MAX_PATHS:
        raise InvalidInput(f"paths must be a list of 1 to {MAX_PATHS} paths")
    if not all(isinstance(p, str) and p.strip("/") for p in items):
        raise InvalidInput("every path must be a non-empty string")
    return [parse_path(p) for p in items]


async def _keys_below(v: Viewer, folder: str) -> list[str]:
    """Every key below `folder` (its marker included), in key order; at most MAX_KEYS."""
    keys = [info.key async for info in listing.walk(v, folder, MAX_KEYS + 1)]
    if len(keys) > MAX_KEYS:
        raise InvalidInput(
            f"/{folder} holds more than {MAX_KEYS} objects: "
            "move or delete it with an S3 tool (aws s3 mv/rm --recursive)"
        )
    return keys


async def delete_paths(request: Request) -> Response:
    """POST /api/delete {paths}: files, and folders with everything below them."""
    v = await viewer(request)
    targets = path_list(await json_body(request))
    for path in targets:
        v.authorize(Action.DELETE, path)
    deleted = 0
    for path in targets:
        keys = await _keys_below(v, path) if paths.is_folder(path) else [v.key(path)]
        for key in keys:  # all or nothing: every key is decided before any is deleted
            v.objects.authorize(Action.DELETE, v.bucket, key)
        await v.objects.delete_many(v.bucket, keys, audit_each=False)
        deleted += len(keys)
        v.audit("console.delete", path, keys=len(keys))
    return JSONResponse({"deleted": deleted})


async def move(request: Request) -> Response:
    """POST /api/move {src, dst}: copy then delete, key by key; never overwrites."""
    v = await viewer(request)
    body = await json_body(request)
    src, dst = parse_path(str_field(body, "src")), parse_path(str_field(body, "dst"))
    if not src or not dst or paths.is_folder(src) != paths.is_folder(dst):
        raise InvalidInput("move a file to a file path, or a folder to a folder path")
    if paths.is_folder(src) and dst.startswith(src):
        raise InvalidInput("a folder cannot be moved into itself")
    v.authorize(Action.DELETE, src)
    v.authorize(Action.WRITE, dst)
    root = v.member.root
    keys = await _keys_below(v, src) if paths.is_folder(src) else [v.key(src)]
    if not keys:
        raise NotFound(f"/{src} does not exist")
    pairs = [(key[len(root) :], dst + key[len(v.key(src)) :]) for key in keys]
    for old, new in pairs:
        v.authorize(Action.DELETE, old)
        v.authorize(Action.WRITE, new)
    for old, new in pairs:
        await v.objects.move(v.bucket, v.key(old), v.key(new))
    v.audit("console.move", src, to=v.info.org.uri(dst), keys=len(pairs))
    return JSONResponse({"moved": len(pairs), "dst": dst})


ROUTES = [
    Route("/api/object", put_object, methods=["PUT"]),
    Route("/api/folder", new_folder, methods=["POST"]),
    Route("/api/delete", delete_paths, methods=["POST"]),
    Route("/api/move", move, methods=["POST"]),
]
