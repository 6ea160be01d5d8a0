"""S3 XML: responses written as text with escaping, request bodies read with defusedxml.

Writing by hand is deliberate: an S3 response is a flat, fixed shape, and string building is
several times faster than an ElementTree round trip on the hot listing path.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import TypeVar
from xml.etree.ElementTree import Element, TreeBuilder

import anyio.lowlevel
from defusedxml import DefusedXmlException
from defusedxml.ElementTree import DefusedXMLParser, ParseError

from lakestow.errors import InvalidRequest

NS = "http://s3.amazonaws.com/doc/2006-03-01/"
MAX_BODY = 6 * 1024 * 1024
"""The most a request's XML body may hold (`S3Request.read_body` enforces it as the body
arrives). It admits every legitimate DeleteObjects and CompleteMultipartUpload: 1,000 keys of
1,024 bytes even if each byte is written `&amp;` (5 MB with their tags), or 10,000 parts each
with its ETag and all its checksums (under 4 MB)."""
T = TypeVar("T")
PIECE = 250
"""How many entries of a listing are rendered between two turns of the event loop: a 1,000-entry
page takes milliseconds to render on a slow core (ListObjectVersions ~2 ms, the console's rows
more), and nothing may hold the loop for more than a couple of them (DESIGN.md, deployment)."""
FEED = 32 * 1024
"""Bytes of a request body parsed in one turn of the event loop (~1 ms here). A Complete of
10,000 parts is 1.3 MB of XML: 30-60 ms parsed at once on this machine."""
NODES_PER_TURN = 5000
"""Elements whose namespace is stripped in one turn (~1 ms)."""
_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "\r": "&#13;"})
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def escape(text: str) -> str:
    """Text safe inside an element; characters XML 1.0 cannot carry at all become U+FFFD."""
    if text.isprintable() and not ("&" in text or "<" in text or ">" in text or '"' in text):
        return text  # most keys: a few scans in C, a third of the regex's cost
    return _NOT_XML.sub("\ufffd", text.translate(_ESCAPES))


def escape_all(texts: list[str]) -> list[str]:
    """`escape` of each; one scan of them all when none needs it (a listing page's keys)."""
    joined = "".join(texts)
    if joined.isprintable() and not any(markup in joined for markup in '&<>"'):
        return texts
    return [escape(text) for text in texts]


async def in_pieces(render: Callable[[Sequence[T]], list[str]], items: Sequence[T]) -> list[str]:
    """`render(items)`, a PIECE of them at a time, other tasks running between two pieces. A
    page that fits in one piece renders at once, with no turn of the loop."""
    rendered = render(items[:PIECE])
    for start in range(PIECE, len(items), PIECE):
        await anyio.lowlevel.checkpoint()
        rendered += render(items[start : start + PIECE])
    return rendered


def tag(name: str, value: object) -> str:
    """`<name>value</name>`, with the value escaped (bools as true/false)."""
    if isinstance(value, bool):
        value = "true" if value else "false"
    elif isinstance(value, datetime):
        value = timestamp(value)
    return f"<{name}>{escape(str(value))}</{name}>"


def group(name: str, parts: Iterable[str]) -> str:
    return f"<{name}>{''.join(parts)}</{name}>"


def document(root: str, parts: Iterable[str], *, namespace: bool = True) -> bytes:
    """A whole response body; S3 error documents carry no namespace."""
    body = "".join(parts)
    open_tag = f'<{root} xmlns="{NS}">' if namespace else f"<{root}>"
    return f'<?xml version="1.0" encoding="UTF-8"?>\n{open_tag}{body}</{root}>'.encode()


def timestamp(moment: datetime) -> str:
    """ISO 8601 with milliseconds, as S3 writes times in XML."""
    return moment.isoformat(timespec="milliseconds")[:23] + "Z"  # half strftime's cost


async def parse(body: bytes, root: str) -> Element:
    """The root element of a request body, namespaces stripped; MalformedXML otherwise. The
    body was read with `S3Request.read_body(MAX_BODY)`, which bounds it as it streams in. It
    is parsed FEED bytes at a time, the event loop turning between two pieces."""
    parser = DefusedXMLParser(target=TreeBuilder(), forbid_dtd=True)
    try:
        for start in range(0, len(body), FEED):
            if start:
                await anyio.lowlevel.checkpoint()
            parser.feed(body[start : start + FEED])
        element = parser.close()
    # LookupError: an encoding Python does not know, or a codec not of text (encoding="hex")
    except (ParseError, DefusedXmlException, ValueError, LookupError) as exc:
        raise InvalidRequest(
            f"the XML body is not well-formed: {exc}", code="MalformedXML"
        ) from exc
    for count, node in enumerate(element.iter(), 1):
        node.tag = node.tag.rpartition("}")[2]
        if count % NODES_PER_TURN == 0:
            await anyio.lowlevel.checkpoint()
    if element.tag != root:
        raise InvalidRequest(f"expected a <{root}> document", code="MalformedXML")
    return element


def text(element: Element, name: str, default: str | None = None) -> str:
    """The text of child `name`; MalformedXML when it is missing and there is no default."""
    child = element.find(name)
    if child is None:
        if default is None:
            raise InvalidRequest(f"<{element.tag}> lacks <{name}>", code="MalformedXML")
        return default
    return child.text or ""
