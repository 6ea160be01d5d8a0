"""The read side of the JSON API: listings, search, downloads and folders as zip files.

Paths are warehouse paths relative to the organization's root (`data/shared/x.csv`); every
one is validated by `context.parse_path` and decided by the policy through `Viewer`.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import anyio.lowlevel
import anyio.to_thread
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from lakestow import paths
from lakestow.auth.policy import Action
from lakestow.console import listing, zipnames
from lakestow.console.context import CSRF_HEADER, Viewer, name_of, parse_path, viewer
from lakestow.console.search import search_page
from lakestow.console.sessions import check_csrf
from lakestow.errors import InvalidInput, LakestowError, NotFound
from lakestow.storage.protocol import ObjectInfo

MAX_LIMIT = 1000
SEARCH_RESULTS = 200
ROWS_PER_TURN = 250
ZIP_SCAN = 100_000
ZIP_NAMES = 1000
ZIP_EARLIEST = datetime(1980, 1, 1, tzinfo=UTC)
ZIP_LATEST = datetime(2107, 12, 31, 23, 59, 58, tzinfo=UTC)
"""The most names a zip of chosen files and folders takes (a page holds at most 1,000 rows)."""


async def page_response(fields: dict[str, Any], name: str, rows: list[Any]) -> Response:
    """A JSON response of `fields` and `rows` under `name` (last), as JSONResponse writes it,
    the rows encoded ROWS_PER_TURN at a time: json.dumps holds the GIL throughout, and a page
    of 1,000 rows at once would hold the event loop for milliseconds."""
    pieces = []
    for start in range(0, len(rows), ROWS_PER_TURN):
        if start:
            await anyio.lowlevel.checkpoint()
        pieces.append(_json(rows[start : start + ROWS_PER_TURN])[1:-1])
    head = _json(fields)[:-1] + ("," if fields else "")
    body = f"{head}{_json(name)}:[{','.join(pieces)}]}}"
    return Response(body.encode(), media_type="application/json")


def _json(content: Any) -> str:
    return json.dumps(content, ensure_ascii=False, allow_nan=False, separators=(",", ":"))


def int_param(request: Request, name: str, default: int, low: int, high: int) -> int:
    text = request.query_params.get(name)
    if text is None or text == "":
        return default
    if not text.isascii() or not text.isdigit() or not low <= int(text) <= high:
        raise InvalidInput(f"{name} must be a whole number from {low} to {high}")
    return int(text)


def text_param(request: Request, name: str, max_length: int = 256) -> str:
    text = request.query_params.get(name) or ""
    if len(text) > max_length or any(ord(c) < 32 for c in text):
        raise InvalidInput(f"{name} must be at most {max_length} printable characters")
    return text


def page_params(request: Request) -> tuple[str, str, int, str | None]:
    """A folder page's query: the folder, the name filter, the limit and the cursor."""
    folder = parse_path(request.query_params.get("path"), folder=True)
    name_prefix = text_param(request, "filter")
    if "/" in name_prefix:
        raise InvalidInput("the filter matches the start of names, which have no '/'")
    limit = int_param(request, "limit", 100, 1, MAX_LIMIT)
    return folder, name_prefix, limit, request.query_params.get("cursor")


async def list_folder(request: Request) -> Response:
    """GET /api/list: one page of a folder, folders first, then files by name, or by size or
    modified time over the whole folder where the store can sort it (else within the page,
    which `notice` says, and `sorted` is "page")."""
    v = await viewer(request)
    folder, name_prefix, limit, cursor = page_params(request)
    sort = request.query_params.get("sort") or "name"
    order = request.query_params.get("order") or "asc"
    result = await listing.sorted_page(v, folder, cursor, limit, name_prefix, sort, order)
    fields = {
        "path": folder,
        "folder": listing.folder_entry(v, folder),
        "cursor": result.cursor,
        "sort": sort,
        "order": order,
        "sorted": "page" if result.notice else "folder",
        "notice": result.notice,
    }
    return await page_response(fields, "entries", result.entries)


async def search(request: Request) -> Response:
    """GET /api/search: a page of the names holding q (any case) below path, among what the
    member may list (`console.search`); `cursor` goes on to the next page."""
    v = await viewer(request)
    folder = parse_path(request.query_params.get("path"), folder=True)
    query = text_param(request, "q")
    if not query:
        raise InvalidInput("give the text to search for in q")
    limit = int_param(request, "limit", SEARCH_RESULTS, 1, MAX_LIMIT)
    found = await search_page(v, folder, query, request.query_params.get("cursor"), limit)
    fields = {
        "path": folder,
        "q": query,
        "cursor": found.cursor,
        "complete": found.cursor is None,
        "partial": found.partial,
        "searched_to": found.searched_to,
    }
    return await page_response(fields, "results", found.entries)


def attachment(name: str) -> str:
    """A Content-Disposition that downloads, never renders, with the name kept in UTF-8."""
    ascii_name = "".join(
        c if c.isascii() and c.isprintable() and c not in '"\\' else "_" for c in name
    )
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name, safe='')}"


async def download(request: Request) -> Response:
    """GET /api/download: a file (its latest version, or `version_id`), streamed, as an
    attachment."""
    v = await viewer(request)
    path = parse_path(request.query_params.get("path"))
    if paths.is_folder(path):
        raise InvalidInput("this is a folder: download it with /api/zip")
    version_id = text_param(request, "version_id", 64) or None
    v.authorize(Action.READ, path)
    try:
        result = await v.state.runtime.store.get(v.bucket, v.key(path), version_id=version_id)
    except LakestowError as exc:
        if exc.code != "MethodNotAllowed":
            raise
        raise InvalidInput("this version is a delete marker, which has no content") from exc
    headers = {
        "content-disposition": attachment(name_of(path)),
        "content-length": str(result.length),
    }
    return StreamingResponse(result.body, headers=headers, media_type="application/octet-stream")


class _Sink(io.RawIOBase):
    """Where zipfile writes: the bytes are taken out as they come, never all held at once."""

    def __init__(self) -> None:
        self.chunks: list[bytes] = []

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        self.chunks.append(bytes(data))
        return len(data)

    def take(self) -> bytes:
        data = b"".join(self.chunks)
        self.chunks.clear()
        return data


async def _zip_stream(
    v: Viewer, base: str, objects: AsyncIterator[ObjectInfo]
) -> AsyncIterator[bytes]:
    """The zip of `objects`, named by their keys below the key prefix `base`, as it is written;
    entry names made safe (`zipnames`), with a note listing every name changed at the end. A
    file gone since it was listed is left out."""
    sink = _Sink()
    store = v.state.runtime.store
    root = v.member.root
    names = zipnames.Names()
    archive = zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_STORED, allowZip64=True)
    closing = False
    try:
        async for info in objects:
            if info.key.endswith("/"):
                continue
            try:
                result = await store.get(v.bucket, info.key)
            except NotFound:
                continue
            async with result:
                name = names.place(info.key[len(base) :], info.key[len(root) :])
                entry = zipfile.ZipInfo(name, zip_time(info.last_modified))
                with archive.open(entry, "w", force_zip64=True) as out:
                    async for chunk in result.body:
                        out.write(chunk)
                        yield sink.take()
            yield sink.take()
            # A small file is read and sent without a pause (the local store keeps it in its
            # index, and a send waits only when the client is behind): let others run.
            await anyio.lowlevel.checkpoint()
        note = names.note()
        if note is not None:
            archive.writestr(note[0], note[1])
        # The central directory names every entry: for thousands, milliseconds of Python,
        # written in a thread while the loop turns (the GIL changes hands every switch
        # interval).
        closing = True
        await anyio.to_thread.run_sync(archive.close)
    finally:
        if not closing:  # cut short; a close begun ends in its thread, cancelled or not
            drop(archive)
    yield sink.take()


def drop(archive: zipfile.ZipFile) -> None:
    """Forget an archive cut short (the client gone): once collected, zipfile would close it
    (`__del__`), writing the central directory of every entry so far on the event loop, for
    nobody. zipfile's close does nothing once the archive has no file."""
    archive.fp = None


def zip_time(moment: datetime) -> tuple[int, int, int, int, int, int]:
    """A modification time as a zip entry holds it: MS-DOS dates run from 1980 to 2107, and
    zipfile refuses any other (an object from an upstream store may be older)."""
    aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    kept = min(max(aware, ZIP_EARLIEST), ZIP_LATEST)
    return kept.year, kept.month, kept.day, kept.hour, kept.minute, kept.second


async def zip_folder(request: Request) -> Response:
    """GET /api/zip: a folder and everything below it that the member may read, as a zip."""
    v = await viewer(request)
    folder = parse_path(request.query_params.get("path"), folder=True)
    v.authorize(Action.LIST, folder)
    name = (name_of(folder) or v.info.org.name) + ".zip"
    headers = {"content-disposition": attachment(name)}
    base = v.key(paths.parent(folder)) if folder else v.member.root
    objects = listing.walk(v, folder, ZIP_SCAN)
    return StreamingResponse(
        _zip_stream(v, base, objects), headers=headers, media_type="application/zip"
    )


def chosen_names(folder: str, names: list[str]) -> list[str]:
    """The paths of `names` (files, or folders ending in "/", relative to `folder`: a name of a
    search result may hold "/"), validated, sorted, each once, none below a folder chosen."""
    if not 0 < len(names) <= ZIP_NAMES:
        raise InvalidInput(f"give 1 to {ZIP_NAMES} names to zip")
    chosen: list[str] = []
    for name in sorted(set(names)):
        if not name.strip("/") or name.startswith("/"):
            raise InvalidInput("every name must be a file or folder's name, without a leading '/'")
        path = parse_path(folder + name)
        if not any(paths.is_folder(c) and path.startswith(c) for c in chosen):
            chosen.append(path)
    return chosen


async def _chosen_objects(v: Viewer, chosen: list[str]) -> AsyncIterator[ObjectInfo]:
    """The objects of `chosen`: a file as it is now (left out if it is missing, as if it was
    never named), a folder's files below it; at most ZIP_SCAN looked through in all."""
    left = ZIP_SCAN
    for path in chosen:
        if left <= 0:
            return
        if not paths.is_folder(path):
            try:
                found: ObjectInfo | None = await v.state.runtime.store.head(v.bucket, v.key(path))
            except NotFound:
                found = None
            if found is not None:
                yield found
            left -= 1
            continue
        async for info in listing.walk(v, path, left):
            left -= 1
            yield info


async def zip_chosen(request: Request) -> Response:
    """POST /api/zip (a form: path, name repeated, csrf): the files and folders named, in the
    folder `path`, as one zip. Each name is decided by the policy before anything is sent, as
    the folder zip decides its folder: READ of a file, LIST of a folder (whose zip then holds
    what the member may read below it); one refusal refuses the request, with the policy's
    answer, which never depends on whether the name exists. A name the member may read but
    which is missing is left out. Posted as a form so the browser streams the download."""
    v = await viewer(request, csrf=False)
    form = await request.form()
    token = form.get("csrf") or request.headers.get(CSRF_HEADER)
    check_csrf(v.session, token if isinstance(token, str) else None)
    path = form.get("path")
    folder = parse_path(path if isinstance(path, str) else None, folder=True)
    names = [n for n in form.getlist("name") if isinstance(n, str)]
    chosen = chosen_names(folder, names)
    v.authorize(Action.LIST, folder)
    for item in chosen:
        v.authorize(Action.LIST if paths.is_folder(item) else Action.READ, item)
    label = name_of(folder) or v.info.org.name
    headers = {"content-disposition": attachment(f"{label} ({len(chosen)} chosen).zip")}
    base = v.key(folder)
    stream = _zip_stream(v, base, _chosen_objects(v, chosen))
    return StreamingResponse(stream, headers=headers, media_type="application/zip")


ROUTES = [
    Route("/api/list", list_folder, methods=["GET"]),
    Route("/api/search", search, methods=["GET"]),
    Route("/api/download", download, methods=["GET"]),
    Route("/api/zip", zip_folder, methods=["GET"]),
    Route("/api/zip", zip_chosen, methods=["POST"]),
]
