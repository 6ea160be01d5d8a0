"""The console's pages of rows are encoded a piece at a time (`api.page_response`): the same
JSON as JSONResponse writes, with the event loop turning between two pieces."""

from __future__ import annotations

import json

import pytest
from starlette.responses import JSONResponse

from lakestow.console.api import ROWS_PER_TURN, page_response
from turns import with_turns


@pytest.mark.parametrize("count", [0, 1, ROWS_PER_TURN, ROWS_PER_TURN + 1, 1000])
def test_a_page_in_pieces_is_the_json_of_one_go(count: int) -> None:
    rows = [
        {"name": f"é{n}\u2028", "size": n, "badge": None, "ok": n % 2 == 0} for n in range(count)
    ]
    fields = {"path": "data/", "cursor": None, "notice": 'a "quoted" note'}

    response, turns = with_turns(page_response(fields, "entries", rows))
    assert response.media_type == "application/json"
    body = bytes(response.body)
    whole = JSONResponse({**fields, "entries": rows}).body
    assert json.loads(body) == json.loads(whole)
    assert len(body) == len(whole)  # the same encoding: compact, UTF-8, not ASCII-escaped
    assert turns == max(0, -(-count // ROWS_PER_TURN) - 1)
