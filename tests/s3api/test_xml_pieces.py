"""A listing's entries are rendered a piece at a time (`xml.in_pieces`), and a request's XML
body parsed a piece at a time (`xml.parse`): the same as at once, with the event loop turning
between two pieces, so that other requests go on while a 1,000-entry page renders or a
Complete of 10,000 parts is read (DESIGN.md: nothing holds the loop more than a couple of
milliseconds)."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from lakestow.errors import InvalidRequest
from lakestow.s3api import xml
from turns import with_turns


def render(items: Sequence[int]) -> list[str]:
    return [f"<N>{n}</N>" for n in items]


@pytest.mark.parametrize("count", [0, 1, xml.PIECE - 1, xml.PIECE, xml.PIECE + 1, 1000])
def test_pieces_render_what_one_go_renders_and_let_others_run(count: int) -> None:
    rendered, turns = with_turns(xml.in_pieces(render, list(range(count))))
    assert rendered == render(range(count))
    pieces = max(1, -(-count // xml.PIECE))
    assert turns == pieces - 1  # one turn between two pieces; none for a page of one piece


def parsed(body: bytes, root: str) -> tuple[list[tuple[str, str | None]], int]:
    """What `xml.parse` makes of `body` (every element's tag and text), and how many turns
    another task got meanwhile."""

    element, turns = with_turns(xml.parse(body, root))
    return [(node.tag, node.text) for node in element.iter()], turns


def test_a_large_body_is_parsed_in_pieces_as_it_would_be_at_once() -> None:
    # 3-byte and 4-byte characters: many fall across the pieces' boundaries
    keys = [f"dossier-été-{n:05d}-\u6f22\U0001f600" for n in range(3000)]
    objects = "".join(f"<Object><Key>{key}</Key></Object>" for key in keys)
    body = f'<Delete xmlns="{xml.NS}"><Quiet>true</Quiet>{objects}</Delete>'.encode()
    assert len(body) > 4 * xml.FEED
    elements, turns = parsed(body, "Delete")
    assert elements[:2] == [("Delete", None), ("Quiet", "true")]
    assert [text for tag, text in elements if tag == "Key"] == keys
    assert turns >= len(body) // xml.FEED  # one between two pieces at least


def test_a_small_body_is_parsed_in_one_turn() -> None:
    elements, turns = parsed(b"<Tagging><TagSet/></Tagging>", "Tagging")
    assert elements == [("Tagging", None), ("TagSet", None)]
    assert turns == 0


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"<Delete><Object>",  # cut short
        b"<Delete>" + b"<Object><Key>k</Key></Object>" * 3000 + b"</Deleted>",  # ends wrong
        b'<!DOCTYPE d [<!ENTITY e "x">]><Delete>&e;</Delete>',  # a DTD
        b"<Tagging/>",  # another document
        b'<?xml version="1.0" encoding="hex"?><Delete/>',  # a codec, not a text encoding
        b'<?xml version="1.0" encoding="no-such"?><Delete/>',
    ],
)
def test_what_is_not_the_document_asked_for_is_malformed(body: bytes) -> None:
    with pytest.raises(InvalidRequest) as refused:
        parsed(body, "Delete")
    assert refused.value.code == "MalformedXML"
