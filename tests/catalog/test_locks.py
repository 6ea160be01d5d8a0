"""Locks on names across replicas (`catalog/locks.py`): what conditional writes on an upstream
that does not enforce them are serialized by. Two `AdvisoryLocks` on one PostgreSQL database
stand for two replicas."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator

import anyio
import pytest
import sqlalchemy as sa

from lakestow.catalog.locks import AdvisoryLocks, ProcessLocks
from lakestow.errors import Unavailable
from postgres import fresh_database

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def catalog_url() -> Iterator[str]:
    with fresh_database() as url:
        yield url


@pytest.fixture
async def replicas(catalog_url: str) -> AsyncIterator[tuple[AdvisoryLocks, AdvisoryLocks]]:
    a, b = AdvisoryLocks(catalog_url, wait=0.5), AdvisoryLocks(catalog_url, wait=0.5)
    yield a, b
    a.close()
    b.close()


async def _exclusive(locks: list[ProcessLocks], name: str, rounds: int) -> int:
    """Holders from every `locks` take `name` in turns; the most found inside at once."""
    inside, most = 0, 0

    async def holder(lock: ProcessLocks) -> None:
        nonlocal inside, most
        for _ in range(rounds):
            async with lock.hold(name, seconds=10):
                inside += 1
                most = max(most, inside)
                await anyio.sleep(0.002)  # another holder would get in here, were it able
                inside -= 1

    async with anyio.create_task_group() as tasks:
        for lock in locks:
            for _ in range(4):
                tasks.start_soon(holder, lock)
    return most


async def test_one_holder_at_a_time_across_replicas(
    replicas: tuple[AdvisoryLocks, AdvisoryLocks],
) -> None:
    assert await _exclusive(list(replicas), "bucket/key", rounds=5) == 1
    for locks in replicas:
        assert locks._held == {}  # nothing left behind in the process


async def test_other_names_do_not_wait(replicas: tuple[AdvisoryLocks, AdvisoryLocks]) -> None:
    a, b = replicas
    async with a.hold("bucket/one", seconds=10):
        with anyio.fail_after(5):
            async with b.hold("bucket/two", seconds=10):
                pass


async def test_a_waiter_gives_up_with_503_and_gets_it_once_free(
    replicas: tuple[AdvisoryLocks, AdvisoryLocks],
) -> None:
    a, b = replicas
    async with a.hold("bucket/busy", seconds=10):
        with pytest.raises(Unavailable, match=r"held it for more than 0\.5 s") as waited:
            async with b.hold("bucket/busy", seconds=10):
                pass
    assert waited.value.headers["Retry-After"] == "1"
    async with b.hold("bucket/busy", seconds=10):
        pass


async def test_a_holder_past_its_time_loses_the_lock(
    replicas: tuple[AdvisoryLocks, AdvisoryLocks], caplog: pytest.LogCaptureFixture
) -> None:
    """PostgreSQL ends a session that keeps the lock past `seconds` (as for a replica cut off
    in the middle of a write): the others get it; the late holder's release logs it."""
    a, b = replicas
    with caplog.at_level(logging.WARNING, logger="lakestow.catalog"):
        async with a.hold("bucket/slow", seconds=0.5):
            await anyio.sleep(1.5)
            with anyio.fail_after(5):
                async with b.hold("bucket/slow", seconds=10):
                    pass
    assert "a conditional write's lock ended before its write did" in caplog.text


async def test_a_pooled_connection_the_catalog_dropped_is_replaced(
    replicas: tuple[AdvisoryLocks, AdvisoryLocks], catalog_url: str
) -> None:
    """PostgreSQL restarted (here: every session of the database ended) between two writes:
    the next hold opens a new connection instead of failing."""
    a, _ = replicas
    async with a.hold("bucket/key", seconds=10):
        pass
    engine = sa.create_engine(catalog_url)
    with engine.begin() as connection:
        ended = connection.execute(
            sa.text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        ).scalar_one()
    engine.dispose()
    assert ended >= 1
    async with a.hold("bucket/key", seconds=10):
        pass


async def test_an_unreachable_catalog_is_503() -> None:
    locks = AdvisoryLocks("postgresql+psycopg://postgres@127.0.0.1:1/none")
    try:
        with pytest.raises(Unavailable, match="catalog cannot be reached") as refused:
            async with locks.hold("bucket/key", seconds=10):
                pass
        assert refused.value.headers["Retry-After"] == "5"
    finally:
        locks.close()


async def test_process_locks_serialize_within_a_process() -> None:
    locks = ProcessLocks()
    assert await _exclusive([locks], "bucket/key", rounds=5) == 1
    assert locks._held == {}
