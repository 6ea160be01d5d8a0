"""Fault injection for the live-server suites: a TCP proxy whose connections can be cut, and a
bounded client load that keeps every request's outcome and every acknowledged write.

    proxy = CuttableProxy(5432)        # the server reaches PostgreSQL through proxy.port
    proxy.cut(); ...; proxy.restore()  # an outage private to the test

    with Load({"a": client_a, "b": client_b}, prefix) as load:
        ...                             # inject a fault
    load.failures                       # what the clients saw
    load.check_acknowledged(clients)   # every acknowledged PUT, read back
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from botocore.client import BaseClient
from botocore.exceptions import ClientError

from live import BUCKET, free_port


class CuttableProxy:
    """127.0.0.1:`port` forwarded to 127.0.0.1:`target` until `cut` (every connection closed,
    new ones refused), again after `restore`. An outage of a shared server (the machine's
    PostgreSQL) that only the test's own servers see."""

    def __init__(self, target: int = 5432) -> None:
        self.port, self.target = free_port(), target
        self.loop = asyncio.new_event_loop()
        self.server: asyncio.Server | None = None
        self.writers: set[asyncio.StreamWriter] = set()
        threading.Thread(target=self.loop.run_forever, daemon=True).start()
        self.restore()

    def _call(self, coroutine: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout=10)

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        writer.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target)
        self.writers |= {writer, up_writer}
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))

    def restore(self) -> None:
        async def start() -> None:
            if self.server is None or not self.server.is_serving():
                self.server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)

        self._call(start())

    def cut(self) -> None:
        async def stop() -> None:
            assert self.server is not None
            self.server.close()
            for writer in self.writers:
                writer.transport.abort()
            self.writers.clear()

        self._call(stop())


@dataclass(frozen=True)
class Outcome:
    """One request of the load, as its client saw it: status 0 is no answer at all (a
    connection refused or cut short)."""

    op: str
    replica: str
    started: float  # time.monotonic()
    ended: float
    status: int
    retry_after: str | None = None

    @property
    def took(self) -> float:
        return self.ended - self.started


class Load:
    """`threads` clients, each in turn writing a new object (a few KiB, every tenth 200 KB)
    through one replica,
    reading it back through the next, and listing its folder through the one after, with a
    pause between rounds: a bounded load, spread over every replica, that sees at once when a
    write through one is not visible through another."""

    def __init__(
        self,
        clients: Mapping[str, BaseClient],
        prefix: str,
        *,
        threads: int = 4,
        pause: float = 0.05,
    ) -> None:
        self.clients, self.prefix, self.pause = list(clients.items()), prefix, pause
        self.outcomes: list[Outcome] = []
        self.acknowledged: dict[str, bytes] = {}
        self.torn: list[str] = []  # keys read back with other bytes than were acknowledged
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(n,)) for n in range(threads)]

    def __enter__(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=60)

    @property
    def failures(self) -> list[Outcome]:
        return [outcome for outcome in self.outcomes if outcome.status != 200]

    def between(self, start: float, end: float) -> list[Outcome]:
        """The requests started in [start, end)."""
        return [outcome for outcome in self.outcomes if start <= outcome.started < end]

    def summary(self, fault: float, recovered: float) -> str:
        """What the clients saw around a fault injected at `fault` and undone at `recovered`
        (monotonic times): for the closing notes of fault work (`pytest -s` shows it)."""
        counts: dict[tuple[str, int], int] = {}
        for outcome in self.outcomes:
            counts[outcome.op, outcome.status] = counts.get((outcome.op, outcome.status), 0) + 1
        seen = ", ".join(f"{op} {status}: {n}" for (op, status), n in sorted(counts.items()))
        failures = self.failures
        window = (
            f"failures from {min(o.started for o in failures) - fault:+.2f} s to "
            f"{max(o.ended for o in failures) - recovered:+.2f} s after the recovery"
            if failures
            else "no failure"
        )
        slowest = max(self.outcomes, key=lambda o: o.took)
        return (
            f"{len(self.outcomes)} requests ({seen}); {window}; slowest {slowest.took:.2f} s "
            f"({slowest.op} {slowest.status}); {len(self.acknowledged)} PUTs acknowledged"
        )

    def _request(self, op: str, replica: str, call: Any, **params: Any) -> Any:
        started = time.monotonic()
        try:
            answer = call(Bucket=BUCKET, **params)
            if op == "GET":
                answer = answer["Body"].read()
        except ClientError as error:
            meta = error.response["ResponseMetadata"]
            status, retry_after = meta["HTTPStatusCode"], meta["HTTPHeaders"].get("retry-after")
            self.outcomes.append(
                Outcome(op, replica, started, time.monotonic(), status, retry_after)
            )
            return None
        except Exception:  # no answer: refused, cut short, timed out
            self.outcomes.append(Outcome(op, replica, started, time.monotonic(), 0))
            return None
        self.outcomes.append(Outcome(op, replica, started, time.monotonic(), 200))
        return answer

    def _run(self, thread: int) -> None:
        folder = f"{self.prefix}t{thread}/"
        n = 0
        while not self._stop.is_set():
            size = 200_000 + n if n % 10 == 9 else 4096 + n % 8192  # a streamed GET too
            key, body = f"{folder}{n:06d}", os.urandom(size)
            (w, writer), (r, reader), (ls, lister) = (
                self.clients[(n + i) % len(self.clients)] for i in range(3)
            )
            if self._request("PUT", w, writer.put_object, Key=key, Body=body) is not None:
                self.acknowledged[key] = body
                read = self._request("GET", r, reader.get_object, Key=key)
                if read is not None and read != body:
                    self.torn.append(key)
            self._request("LIST", ls, lister.list_objects_v2, Prefix=folder, MaxKeys=5)
            n += 1
            self._stop.wait(self.pause)

    def check_acknowledged(self, clients: Mapping[str, BaseClient]) -> None:
        """Every acknowledged PUT reads back whole through every client, and is listed."""
        assert self.acknowledged, "the load wrote nothing"
        assert not self.torn, f"read back other bytes than acknowledged: {self.torn}"

        def read(item: tuple[str, bytes]) -> None:
            key, body = item
            for name, client in clients.items():
                got = client.get_object(Bucket=BUCKET, Key=key)["Body"].read()
                assert got == body, f"{key} through {name}: {len(got)} bytes, not {len(body)}"

        with ThreadPoolExecutor(8) as pool:
            list(pool.map(read, self.acknowledged.items()))
        for name, client in clients.items():
            listed: set[str] = set()
            pages = client.get_paginator("list_objects_v2").paginate(
                Bucket=BUCKET, Prefix=self.prefix
            )
            for page in pages:
                listed |= {item["Key"] for item in page.get("Contents", [])}
            missing = self.acknowledged.keys() - listed
            assert not missing, f"{len(missing)} acknowledged keys not listed through {name}"
