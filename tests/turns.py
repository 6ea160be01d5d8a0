"""How many turns of the event loop other tasks get while a coroutine runs: what shows that a
long piece of work (a 1,000-entry page rendered, a large body parsed) lets other requests go
on (DESIGN.md: nothing holds the loop more than a couple of milliseconds)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

T = TypeVar("T")


def with_turns(work: Awaitable[T]) -> tuple[T, int]:
    """`work` run on a new event loop: its result, and how many turns another task (one that
    does nothing but give its turn back) got while it ran."""

    async def main() -> tuple[T, int]:
        turns, done = 0, False

        async def other() -> None:
            nonlocal turns
            while not done:
                await asyncio.sleep(0)
                turns += 1

        task = asyncio.create_task(other())
        await asyncio.sleep(0)  # it starts
        before = turns
        try:
            return await work, turns - before
        finally:
            done = True
            await task

    return asyncio.run(main())
