"""What a member sees of a file before downloading it (GET /api/preview).

    kind "table"   CSV / TSV (delimiter sniffed), JSON (an array of objects), JSON Lines,
                   Parquet (schema typed, the first rows; GeoParquet geometry as short WKT)
    kind "text"    any other text, shown with line numbers
    kind "image"   PNG, JPEG, GIF, WebP: shown from /api/preview/image (never SVG, which may
                   carry scripts: a download)
    kind "binary"  anything else: its size and type, no preview

A preview reads only what it shows: the first PREVIEW_BYTES of a text, CSV or JSON Lines file
(a JSON document up to JSON_MAX), a Parquet file's footer and first row group (by ranged reads,
within PARQUET_BUDGET bytes), never a whole large object. Each answer says how many bytes of
the object it `read`.
"""

from __future__ import annotations

import csv
import io
import json
import struct
import threading
from collections.abc import Iterable, Iterator
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import quote

import anyio
import anyio.from_thread
import anyio.lowlevel
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from lakestow import paths
from lakestow.auth.policy import Action
from lakestow.console.context import Viewer, parse_path, viewer
from lakestow.errors import InvalidInput
from lakestow.storage.protocol import ObjectInfo, ObjectStore

PREVIEW_BYTES = 64 * 1024
JSON_MAX = 1024 * 1024
ROWS = 50
CELL = 200  # characters of a cell shown
PARQUET_BUDGET = 32 * 1024 * 1024  # bytes of a Parquet file read for a preview, at most
READ_AHEAD = 64 * 1024
IMAGE_MAX = 20 * 1024 * 1024
IMAGES = {
    ".png": ("image/png", (b"\x89PNG\r\n\x1a\n",)),
    ".jpg": ("image/jpeg", (b"\xff\xd8\xff",)),
    ".jpeg": ("image/jpeg", (b"\xff\xd8\xff",)),
    ".gif": ("image/gif", (b"GIF87a", b"GIF89a")),
    ".webp": ("image/webp", (b"RIFF",)),
}
TABLES = {".csv": ",", ".tsv": "\t"}
JSON_LINES = {".jsonl", ".ndjson"}


async def preview(request: Request) -> Response:
    """GET /api/preview?path=: the file's preview, by its kind."""
    v, path, info = await _readable_file(request)
    suffix = PurePosixPath(path).suffix.lower()
    base: dict[str, Any] = {"size": info.size, "content_type": info.content_type}
    if suffix == ".parquet":
        ranged = Ranged(v, path, info.size, anyio.lowlevel.current_token())
        found = await anyio.to_thread.run_sync(_parquet, ranged)
        return JSONResponse(base | found)
    if suffix in IMAGES and info.size <= IMAGE_MAX:
        url = "/api/preview/image?path=" + quote(path, safe="")
        return JSONResponse(base | {"kind": "image", "url": url})
    if suffix == ".svg":
        return JSONResponse(base | _binary("SVG images are not shown here: download it"))
    limit = JSON_MAX if suffix == ".json" else PREVIEW_BYTES
    data = await _head_bytes(v, path, min(info.size, limit))
    base["read"] = len(data)
    truncated = info.size > len(data)
    text = _text(data, truncated)
    if text is None:
        return JSONResponse(base | _binary("no preview for this kind of file"))
    if suffix in TABLES:
        return JSONResponse(base | _delimited(text, truncated, TABLES[suffix]))
    if suffix == ".json" and not truncated:
        return JSONResponse(base | _json(text))
    if suffix in JSON_LINES:
        return JSONResponse(base | _json_lines(text, truncated))
    return JSONResponse(base | {"kind": "text", "text": text, "truncated": truncated})


async def image(request: Request) -> Response:
    """GET /api/preview/image?path=: a PNG, JPEG, GIF or WebP image, inline, as what its
    first bytes say it is (never any other type, whatever its name)."""
    v, path, info = await _readable_file(request)
    suffix = PurePosixPath(path).suffix.lower()
    if suffix not in IMAGES or info.size > IMAGE_MAX:
        raise InvalidInput("only PNG, JPEG, GIF and WebP images of at most 20 MiB are shown")
    media_type, magics = IMAGES[suffix]
    result = await v.state.runtime.store.get(v.bucket, v.key(path))
    chunks = aiter(result.body)
    first = await anext(chunks, b"")
    if not first.startswith(magics) or (suffix == ".webp" and first[8:12] != b"WEBP"):
        await result.aclose()
        raise InvalidInput(f"this file is not a {media_type.split('/')[1].upper()} image")

    async def body() -> Any:
        try:
            yield first
            async for chunk in chunks:
                yield chunk
        finally:
            await result.aclose()

    headers = {
        "content-disposition": "inline",
        "content-security-policy": "default-src 'none'; sandbox",  # with the console's nosniff
        "cache-control": "private, no-store",
        "content-length": str(info.size),
    }
    return StreamingResponse(body(), media_type=media_type, headers=headers)


async def _readable_file(request: Request) -> tuple[Viewer, str, ObjectInfo]:
    v = await viewer(request)
    path = parse_path(request.query_params.get("path"))
    if not path or paths.is_folder(path):
        raise InvalidInput("give the path of a file")
    v.authorize(Action.READ, path)
    return v, path, await v.state.runtime.store.head(v.bucket, v.key(path))


async def _head_bytes(v: Viewer, path: str, length: int) -> bytes:
    if length == 0:
        return b""
    store = v.state.runtime.store
    async with await store.get(v.bucket, v.key(path), byte_range=(0, length - 1)) as result:
        return b"".join([chunk async for chunk in result.body])


def _binary(note: str) -> dict[str, Any]:
    return {"kind": "binary", "note": note}


def _text(data: bytes, truncated: bool) -> str | None:
    """`data` as text, or None when it is not text (NUL bytes, or not UTF-8 and full of
    control characters). A character cut at the end of a truncated read is dropped."""
    if b"\x00" in data[:8192]:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        if truncated and exc.start >= len(data) - 3:
            return data[: exc.start].decode("utf-8", errors="replace")
    controls = sum(1 for b in data[:8192] if b < 32 and b not in b"\t\r\n\f")
    if controls > len(data[:8192]) // 20:
        return None
    return data.decode("utf-8", errors="replace")


def _complete_lines(text: str, truncated: bool) -> str:
    """Without the last line of a truncated read: it may be cut."""
    return text.rsplit("\n", 1)[0] if truncated and "\n" in text else text


def _cell(value: Any) -> Any:
    """A value as a table cell: JSON's scalars as they are, anything else as short text."""
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, bytes):
        return f"<{len(value):,} bytes>"
    text = value if isinstance(value, str) else json.dumps(value, default=str, ensure_ascii=False)
    return text if len(text) <= CELL else text[: CELL - 1] + "…"


def _table(
    fmt: str, columns: list[dict[str, str]], rows: list[list[Any]], **more: Any
) -> dict[str, Any]:
    return {"kind": "table", "format": fmt, "columns": columns, "rows": rows} | more


def _delimited(text: str, truncated: bool, default: str) -> dict[str, Any]:
    sample = _complete_lines(text, truncated)
    try:
        delimiter = csv.Sniffer().sniff(sample[:16384], delimiters=",;\t|").delimiter
    except csv.Error:
        delimiter = default
    reader = csv.reader(io.StringIO(sample), delimiter=delimiter)
    header = next(reader, [])
    rows: list[list[Any]] = []
    for row in reader:
        if len(rows) == ROWS:
            truncated = True
            break
        rows.append([_cell(cell) for cell in row])
    columns = [{"name": name, "type": ""} for name in header]
    return _table("csv", columns, rows, delimiter=delimiter, truncated=truncated)


def _records(items: list[Any], fmt: str, truncated: bool) -> dict[str, Any]:
    """Objects as a table: a column per key, in order of first appearance."""
    names: dict[str, None] = {}
    for item in items:
        names.update(dict.fromkeys(item))
    rows = [[_cell(item.get(name)) for name in names] for item in items]
    columns = [{"name": name, "type": ""} for name in names]
    return _table(fmt, columns, rows, truncated=truncated)


def _json(text: str) -> dict[str, Any]:
    try:
        document = json.loads(text)
    except ValueError:
        return {"kind": "text", "text": text, "truncated": False, "note": "not valid JSON"}
    if isinstance(document, list) and document and all(isinstance(i, dict) for i in document):
        return _records(document[:ROWS], "json", len(document) > ROWS)
    pretty = json.dumps(document, indent=2, ensure_ascii=False)
    return {
        "kind": "text",
        "text": pretty[:PREVIEW_BYTES],
        "truncated": len(pretty) > PREVIEW_BYTES,
    }


def _json_lines(text: str, truncated: bool) -> dict[str, Any]:
    items: list[dict[str, Any]] = []
    for line in _complete_lines(text, truncated).splitlines():
        if not line.strip():
            continue
        if len(items) == ROWS:
            truncated = True
            break
        try:
            item = json.loads(line)
        except ValueError:
            item = None
        if not isinstance(item, dict):  # not JSON Lines of objects: the text, as it is
            return {"kind": "text", "text": text, "truncated": truncated}
        items.append(item)
    return _records(items, "jsonl", truncated)


class Ranged(io.RawIOBase):
    """A read-only, seekable file over an object, read by ranged GETs from a worker thread
    (pyarrow reads a Parquet file's footer and chosen column chunks through it). Reads ahead
    READ_AHEAD bytes; refuses to read more than PARQUET_BUDGET in all."""

    def __init__(
        self, v: Viewer, path: str, size: int, loop: anyio.lowlevel.EventLoopToken
    ) -> None:
        super().__init__()
        self._loop = loop  # reads come from pyarrow's threads too
        self._lock = threading.Lock()
        self._store: ObjectStore = v.state.runtime.store
        self._bucket, self._key, self.size = v.bucket, v.key(path), size
        self._at = 0
        self._cached: tuple[int, bytes] = (0, b"")
        self.fetched = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._at

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._at, io.SEEK_END: self.size}[whence]
        self._at = max(0, base + offset)
        return self._at

    def readinto(self, buffer: Any) -> int:
        with self._lock:
            return self._readinto(buffer)

    def _readinto(self, buffer: Any) -> int:
        wanted = min(len(buffer), self.size - self._at)
        if wanted <= 0:
            return 0
        start, data = self._cached
        if not (start <= self._at and self._at + wanted <= start + len(data)):
            length = min(max(wanted, READ_AHEAD), self.size - self._at)
            if self.fetched + length > PARQUET_BUDGET:
                raise TooLarge
            start, data = (
                self._at,
                anyio.from_thread.run(self._get, self._at, length, token=self._loop),
            )
            self.fetched += len(data)
            self._cached = start, data
        offset = self._at - start
        buffer[:wanted] = data[offset : offset + wanted]
        self._at += wanted
        return wanted

    async def _get(self, start: int, length: int) -> bytes:
        byte_range = (start, start + length - 1)
        async with await self._store.get(self._bucket, self._key, byte_range=byte_range) as got:
            return b"".join([chunk async for chunk in got.body])


class TooLarge(Exception):
    """A preview would read more of the object than PARQUET_BUDGET."""


def _parquet(source: Ranged) -> dict[str, Any]:
    import pyarrow.parquet as pq  # type: ignore[import-untyped]

    try:
        parquet = pq.ParquetFile(source, pre_buffer=False)
        schema = parquet.schema_arrow
        geometry = _geometry_columns(schema.metadata or {})
        columns = [{"name": f.name, "type": str(f.type)} for f in schema]
        total = parquet.metadata.num_rows
        note = None
        try:
            batches = (
                parquet.iter_batches(batch_size=ROWS, row_groups=[0], use_threads=False)
                if total
                else iter(())
            )
            batch = next(batches, None)
        except TooLarge:
            batch, note = None, "the rows are not shown: the first row group is too large"
        records = batch.to_pylist() if batch is not None else []
    except TooLarge:
        raise InvalidInput("this Parquet file's footer is too large to preview") from None
    except (OSError, ValueError) as exc:  # pyarrow's ArrowInvalid is a ValueError
        raise InvalidInput(f"not a readable Parquet file: {exc}") from None
    rows = [
        [_wkt(r[c["name"]]) if c["name"] in geometry else _cell(r[c["name"]]) for c in columns]
        for r in records
    ]
    for column in columns:
        if column["name"] in geometry:
            column["type"] = "geometry (WKT)"
    more = {"num_rows": total, "truncated": total > len(rows), "read": source.fetched}
    return _table("parquet", columns, rows, **more) | ({"note": note} if note else {})


def _geometry_columns(metadata: dict[bytes, bytes]) -> set[str]:
    """GeoParquet's geometry columns encoded as WKB (its `geo` metadata)."""
    try:
        geo = json.loads(metadata.get(b"geo", b"{}"))
        return {
            name
            for name, column in geo.get("columns", {}).items()
            if str(column.get("encoding", "WKB")).upper() == "WKB"
        }
    except (ValueError, AttributeError):
        return set()


# WKB to WKT by hand: a preview needs a short text of a geometry, and shapely (GEOS) would be
# a large dependency for that alone. Covers the seven OGC types, 2D, Z, M and ZM, ISO and EWKB.

WKB_TYPES = {
    1: "POINT",
    2: "LINESTRING",
    3: "POLYGON",
    4: "MULTIPOINT",
    5: "MULTILINESTRING",
    6: "MULTIPOLYGON",
    7: "GEOMETRYCOLLECTION",
}
WKT_MAX = 120


def _wkt(value: Any) -> Any:
    if not isinstance(value, bytes):
        return _cell(value)
    try:
        text = _Wkb(value).geometry()
    except (struct.error, KeyError, ValueError):
        return f"<{len(value):,} bytes, not WKB>"
    return text if len(text) <= WKT_MAX else text[: WKT_MAX - 1] + "…"


class _Wkb:
    def __init__(self, data: bytes) -> None:
        self._data, self._at = data, 0

    def _take(self, fmt: str) -> tuple[Any, ...]:
        values = struct.unpack_from(fmt, self._data, self._at)
        self._at += struct.calcsize(fmt)
        return values

    def geometry(self) -> str:
        order = "<" if self._take("B")[0] == 1 else ">"
        (code,) = self._take(order + "I")
        dims = 2 + bool(code & 0x80000000) + bool(code & 0x40000000)  # EWKB Z, M flags
        if code & 0x20000000:  # EWKB: an SRID follows
            self._take(order + "I")
        code &= 0x0FFFFFFF
        dims += {0: 0, 1: 1, 2: 1, 3: 2}[code // 1000]  # ISO: 1000s Z, 2000s M, 3000s ZM
        kind = WKB_TYPES[code % 1000]
        return f"{kind} {self._body(kind, order, dims)}"

    def _points(self, order: str, dims: int) -> Iterator[str]:
        (count,) = self._take(order + "I")
        for _ in range(count):
            yield " ".join(f"{c:g}" for c in self._take(order + "d" * dims))

    def _body(self, kind: str, order: str, dims: int) -> str:
        if kind == "POINT":
            coords = self._take(order + "d" * dims)
            if all(c != c for c in coords):  # NaN coordinates: an empty point
                return "EMPTY"
            return _listed(f"{c:g}" for c in coords).replace(",", "")
        if kind == "LINESTRING":
            return _listed(self._points(order, dims))
        if kind == "POLYGON":
            (rings,) = self._take(order + "I")
            return _listed(_listed(self._points(order, dims)) for _ in range(rings))
        (parts,) = self._take(order + "I")
        inner = [self.geometry() for _ in range(parts)]
        if kind == "GEOMETRYCOLLECTION":
            return _listed(inner)
        return _listed(part.split(" ", 1)[1] for part in inner)  # (without each part's type)


def _listed(items: Iterable[str]) -> str:
    return "(" + ", ".join(items) + ")"


ROUTES = [
    Route("/api/preview", preview, methods=["GET"]),
    Route("/api/preview/image", image, methods=["GET"]),
]
