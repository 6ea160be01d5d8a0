"""The console's previews (GET /api/preview): tables for CSV, TSV, JSON, JSON Lines and Parquet
(GeoParquet geometry as WKT), text, images served inline as what they are, and a plain "no
preview" for anything else; each reads only what it shows, and only what the member may read."""

from __future__ import annotations

import io
import json
import os
import struct
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from console.console_support import As
from lakestow.console.previews import PREVIEW_BYTES, ROWS

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + b"\x00" * 17


def put(member: As, name: str, data: bytes) -> str:
    path = member.home("previews/" + name)
    response = member.put("/api/object", params={"path": path}, content=data)
    assert response.status_code == 201, response.text
    return path


def preview(member: As, path: str) -> dict[str, Any]:
    response = member.get("/api/preview", params={"path": path})
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


def test_csv_is_a_table_with_its_delimiter_sniffed(alice: As) -> None:
    path = put(alice, "semi.csv", 'name;city\nAda;Zürich\n<b>Bo</b>;"Oslo; Norway"\n'.encode())
    shown = preview(alice, path)
    assert (shown["kind"], shown["format"], shown["delimiter"]) == ("table", "csv", ";")
    assert [c["name"] for c in shown["columns"]] == ["name", "city"]
    assert shown["rows"] == [["Ada", "Zürich"], ["<b>Bo</b>", "Oslo; Norway"]]
    assert shown["truncated"] is False
    tsv = preview(alice, put(alice, "t.tsv", b"a\tb\n1\t2\n"))
    assert (tsv["delimiter"], tsv["rows"]) == ("\t", [["1", "2"]])


def test_a_large_csv_reads_only_its_first_bytes(alice: As) -> None:
    lines = [b"id,text"] + [f"{n},row number {n}".encode() for n in range(100_000)]
    path = put(alice, "big.csv", b"\n".join(lines))
    shown = preview(alice, path)
    assert shown["read"] == PREVIEW_BYTES and shown["size"] > 20 * PREVIEW_BYTES
    assert len(shown["rows"]) == ROWS and shown["truncated"] is True
    assert shown["rows"][0] == ["0", "row number 0"]


def test_json_and_json_lines(alice: As) -> None:
    records = [{"a": 1, "b": "x"}, {"a": 2, "c": [1, 2]}]
    table = preview(alice, put(alice, "r.json", json.dumps(records).encode()))
    assert table["kind"] == "table" and [c["name"] for c in table["columns"]] == ["a", "b", "c"]
    assert table["rows"] == [[1, "x", None], [2, None, "[1, 2]"]]
    document = preview(alice, put(alice, "d.json", b'{"a": {"b": 1}}'))
    assert document == document | {"kind": "text", "text": '{\n  "a": {\n    "b": 1\n  }\n}'}
    broken = preview(alice, put(alice, "x.json", b"{nope"))
    assert (broken["kind"], broken["note"], broken["text"]) == ("text", "not valid JSON", "{nope")
    lines = preview(alice, put(alice, "l.jsonl", b'{"k": 1}\n\n{"k": 2, "v": true}\n'))
    assert lines["kind"] == "table" and lines["rows"] == [[1, None], [2, True]]


def test_parquet_shows_typed_columns_and_the_first_rows(alice: As) -> None:
    sink = io.BytesIO()
    table = pa.table({"n": list(range(1000)), "s": [f"v{i}" for i in range(1000)]})
    pq.write_table(table, sink)
    shown = preview(alice, put(alice, "t.parquet", sink.getvalue()))
    assert (shown["kind"], shown["format"]) == ("table", "parquet")
    assert shown["columns"] == [{"name": "n", "type": "int64"}, {"name": "s", "type": "string"}]
    assert shown["rows"][:2] == [[0, "v0"], [1, "v1"]] and len(shown["rows"]) == ROWS
    assert (shown["num_rows"], shown["truncated"]) == (1000, True)


def test_a_large_parquet_file_is_read_by_its_footer_and_first_row_group(alice: As) -> None:
    rows = 400_000
    sink = io.BytesIO()
    random = pa.array([os.urandom(40) for _ in range(rows)])
    pq.write_table(
        pa.table({"n": list(range(rows)), "blob": random}),
        sink,
        row_group_size=10_000,
        compression="none",
    )
    data = sink.getvalue()
    assert len(data) > 10 * 1024 * 1024
    shown = preview(alice, put(alice, "big.parquet", data))
    assert shown["num_rows"] == rows and shown["rows"][0][0] == 0
    assert shown["read"] < len(data) // 10, (shown["read"], len(data))


def _point(x: float, y: float) -> bytes:
    return struct.pack("<BIdd", 1, 1, x, y)


def _polygon(ring: list[tuple[float, float]]) -> bytes:
    body = struct.pack("<BII I", 1, 3, 1, len(ring))
    return body + b"".join(struct.pack("<dd", x, y) for x, y in ring)


def test_geoparquet_geometry_is_shown_as_wkt(alice: As) -> None:
    square = [(0, 0), (1, 0), (1, 1), (0, 0)]
    multi = struct.pack(">BII", 0, 4, 2) + struct.pack(">BIdd", 0, 1, 5, 6) * 2  # big-endian
    geo = {"version": "1.0.0", "primary_column": "geometry", "columns": {"geometry": {}}}
    table = pa.table(
        {"name": ["p", "square", "multi"], "geometry": [_point(1.5, -2), _polygon(square), multi]}
    )
    table = table.replace_schema_metadata({"geo": json.dumps(geo)})
    sink = io.BytesIO()
    pq.write_table(table, sink)
    shown = preview(alice, put(alice, "places.parquet", sink.getvalue()))
    assert shown["columns"][1] == {"name": "geometry", "type": "geometry (WKT)"}
    assert [row[1] for row in shown["rows"]] == [
        "POINT (1.5 -2)",
        "POLYGON ((0 0, 1 0, 1 1, 0 0))",
        "MULTIPOINT ((5 6), (5 6))",
    ]


def test_images_are_shown_inline_as_what_they_are(alice: As) -> None:
    path = put(alice, "pic.png", PNG)
    shown = preview(alice, path)
    assert shown["kind"] == "image"
    image = alice.get(shown["url"])
    assert image.status_code == 200 and image.content == PNG
    assert image.headers["content-type"] == "image/png"
    assert image.headers["x-content-type-options"] == "nosniff"
    assert "sandbox" in image.headers["content-security-policy"]
    fake = put(alice, "fake.png", b"<html><script>alert(1)</script></html>")
    refused = alice.get("/api/preview/image", params={"path": fake})
    assert refused.status_code == 400 and "not a PNG image" in refused.text
    svg = preview(alice, put(alice, "logo.svg", b"<svg><script>alert(1)</script></svg>"))
    assert svg["kind"] == "binary" and "SVG" in svg["note"]


def test_binary_files_get_no_preview(alice: As) -> None:
    shown = preview(alice, put(alice, "blob.bin", bytes(range(256)) * 10))
    assert (shown["kind"], shown["size"]) == ("binary", 2560)
    text = preview(alice, put(alice, "notes.txt", "line 1\nlíne 2\n".encode()))
    assert (text["kind"], text["text"], text["truncated"]) == ("text", "line 1\nlíne 2\n", False)


def test_previews_are_only_of_what_the_member_may_read(alice: As, bob: As) -> None:
    path = put(alice, "secret.csv", b"a,b\n1,2\n")
    image = put(alice, "secret.png", PNG)
    for url, target in (("/api/preview", path), ("/api/preview/image", image)):
        refused = bob.get(url, params={"path": target})
        assert refused.status_code == 403, refused.text
        assert "1,2" not in refused.text and "PNG" not in refused.text
