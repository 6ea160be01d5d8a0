"""A listing's entries are rendered a piece at a time (`xml.in_pieces`): the same text as at
once, with the event loop turning between two pieces, so that other requests go on while a
1,000-entry page renders (DESIGN.md: nothing holds the loop more than a couple of ms)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from lakestow.s3api import xml


def render(items: Sequence[int]) -> list[str]:
    return [f"<N>{n}</N>" for n in items]


@pytest.mark.parametrize("count", [0, 1, xml.PIECE - 1, xml.PIECE, xml.PIECE + 1, 1000])
def test_pieces_render_what_one_go_renders_and_let_others_run(count: int) -> None:
    async def main() -> tuple[list[str], int]:
        turns = 0
        done = False

        async def other() -> None:  # another request's task: counts the turns it gets
            nonlocal turns
            while not done:
                await asyncio.sleep(0)
                turns += 1

        task = asyncio.create_task(other())
        await asyncio.sleep(0)  # it starts
        before = turns
        rendered = await xml.in_pieces(render, list(range(count)))
        during = turns - before
        done = True
        await task
        return rendered, during

    rendered, turns = asyncio.run(main())
    assert rendered == render(range(count))
    pieces = max(1, -(-count // xml.PIECE))
    assert turns == pieces - 1  # one turn between two pieces; none for a page of one piece
