"""The console's pages of rows are encoded a piece at a time (`api.page_response`): the same
JSON as JSONResponse writes, with the event loop turning between two pieces."""

from __future__ import annotations

import asyncio
import json

import pytest
from starlette.responses import JSONResponse

from lakestow.console.api import ROWS_PER_TURN, page_response


@pytest.mark.parametrize("count", [0, 1, ROWS_PER_TURN, ROWS_PER_TURN + 1, 1000])
def test_a_page_in_pieces_is_the_json_of_one_go(count: int) -> None:
    rows = [
        {"name": f"é{n}\u2028", "size": n, "badge": None, "ok": n % 2 == 0} for n in range(count)
    ]
    fields = {"path": "data/", "cursor": None, "notice": 'a "quoted" note'}

    async def main() -> tuple[bytes, int]:
        turns, done = 0, False

        async def other() -> None:
            nonlocal turns
            while not done:
                await asyncio.sleep(0)
                turns += 1

        task = asyncio.create_task(other())
        await asyncio.sleep(0)
        before = turns
        response = await page_response(fields, "entries", rows)
        during = turns - before
        done = True
        await task
        assert response.media_type == "application/json"
        return bytes(response.body), during

    body, turns = asyncio.run(main())
    whole = JSONResponse({**fields, "entries": rows}).body
    assert json.loads(body) == json.loads(whole)
    assert len(body) == len(whole)  # the same encoding: compact, UTF-8, not ASCII-escaped
    assert turns == max(0, -(-count // ROWS_PER_TURN) - 1)
