"""`lakestow serve`: initialize the data directory, assemble the runtime and run both front
doors (the S3 endpoint and the console) under uvicorn, in one process and one event loop.

    serve -> datadir.initialize, bootstrap (the demo organization and its admin)
          -> open_runtime (store, verifier, audit, organizations) -> S3App + create_console

Only this module imports both front doors.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import random
import secrets
import signal
import socket
import sys
from asyncio import FIRST_COMPLETED
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import partial
from typing import Any
from urllib.parse import unquote, urlsplit

import aiohttp
import anyio
import uvicorn

from lakestow import datadir, trash, workers
from lakestow.auth.credentials import Verifier
from lakestow.catalog.audit import AuditWriter
from lakestow.catalog.locks import key_locks
from lakestow.config import Settings
from lakestow.console.app import create_console
from lakestow.datadir import Opened
from lakestow.errors import AlreadyExists, InvalidInput, LakestowError
from lakestow.runtime import OrgCache, Runtime
from lakestow.s3api.app import S3App
from lakestow.storage.local.core import Held
from lakestow.storage.protocol import (
    REFUSED,
    SERIALIZED,
    UPSTREAM,
    ConditionalProbe,
    ConditionalWrites,
    KeyLocks,
    ObjectStore,
)
from lakestow.storage.registry import open_store

logger = logging.getLogger("lakestow")
TRASH_ACTOR = "lakestow:trash"


@dataclass(frozen=True)
class Bootstrap:
    """What a fresh data directory was given: the demo organization and its admin."""

    org: str
    admin: str
    password: str


def bootstrap(opened: Opened) -> Bootstrap | None:
    """On a catalog with no organization: create the default one and an admin member."""
    service = opened.services("lakestow:serve")
    if service.orgs.list_orgs():
        return None
    org = opened.settings.default_org
    password = secrets.token_urlsafe(12)
    try:
        service.orgs.create_org(org)
        service.orgs.create_member("admin", org, admin=True, password=password)
    except AlreadyExists:  # another replica was first
        return None
    return Bootstrap(org, "admin", password)


@asynccontextmanager
async def open_runtime(opened: Opened, *, shared: bool = False) -> AsyncIterator[Runtime]:
    """The runtime both front doors share, over an opened data directory: the store, the
    verifier, the audit writer and the organizations' roots; closes it all on exit. `shared`:
    other worker processes serve the same data directory (a local store is then opened as
    one `workers.Held` by the supervisor)."""
    settings = opened.settings
    options = store_options(settings)
    if shared and not settings.resolved_store_url.startswith("s3://"):
        options["shared"] = True
    store = await open_store(settings.resolved_store_url, **options)
    audit = AuditWriter(opened.catalog.session)
    services = opened.services("lakestow:server")
    snapshot = services.snapshot
    verifier = Verifier(
        opened.keyring,
        snapshot.catalog_snapshot,
        max_age=settings.revocation_refresh,  # `serve` also reloads it off the loop
        staleness=settings.catalog_staleness,
        reloads_in_background=True,  # by refresh_revocations: requests never wait for it
        lookup_operator=snapshot.operator_state,
        lookup_member=snapshot.member_state,
    )
    locks = key_locks(opened.catalog)
    runtime = Runtime(
        settings=settings,
        catalog=opened.catalog,
        keyring=opened.keyring,
        store=store,
        verifier=verifier,
        audit=audit,
        orgs=OrgCache(services, store),
        conditional_writes=await _conditional_writes(store, settings, locks),
    )
    try:
        await runtime.orgs.load()
        yield runtime
    finally:
        audit.close()
        await store.aclose()
        locks.close()


def store_options(settings: Settings) -> dict[str, Any]:
    """The upstream's connection settings, for an s3 store; a local store takes none."""
    options: dict[str, Any] = dict(settings.store_options)
    if not settings.resolved_store_url.startswith("s3://"):
        if options:
            raise InvalidInput(
                "store_endpoint_url, store_access_key_id, store_secret_access_key and "
                f"store_region are for an s3:// store, not {settings.resolved_store_url}"
            )
        return options
    return {**options, "request_timeout": settings.store_request_timeout}


def _loop_errors(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """asyncio's handler of errors no task took, but one: aiohttp (the s3 store's upstream
    client) sends a request body in a task of its own, whose error it never retrieves when the
    upstream drops the connection. The request itself got its error (503); one line, not a
    traceback per request."""
    error = context.get("exception")
    if context.get("message") == "Task exception was never retrieved" and isinstance(
        error, aiohttp.ClientConnectionError
    ):
        logger.info("upstream connection lost while sending a request: %s", error)
        return
    loop.default_exception_handler(context)


async def _conditional_writes(
    store: ObjectStore, settings: Settings, locks: KeyLocks
) -> ConditionalWrites | None:
    """How conditional writes are decided (None: by a store that decides them itself): the
    upstream is asked once at start whether it enforces them, and `conditional_writes` says
    what to do where it does not. Logged when lakestow decides or refuses them."""
    if not isinstance(store, ConditionalProbe):
        return None
    try:
        found = await store.probe_conditional_writes()
    except LakestowError as exc:
        logger.warning(
            "could not find out whether the upstream enforces conditional writes (taken as "
            "not): %s",
            exc.message,
        )
        found = ConditionalWrites(False, False)
    chosen = settings.conditional_writes
    if chosen == "serialize" or (chosen == "auto" and not found.enforced):
        decided = SERIALIZED
    elif chosen == "refuse" and not found.enforced:
        decided = REFUSED
    else:
        decided = UPSTREAM
    how = replace(found, decided=decided)
    store.decide_conditional_writes(how, locks)
    if decided == REFUSED:
        logger.warning("conditional writes: %s", how.describe())
    elif decided == SERIALIZED:
        logger.info("conditional writes: %s", how.describe())
    return how


def conditional_line(how: ConditionalWrites | None) -> str:
    """How conditional writes (If-None-Match, If-Match) hold, for the start-up lines."""
    if how is None:
        return "conditional writes (If-None-Match, If-Match): enforced by the local store"
    return f"conditional writes (If-None-Match, If-Match): {how.describe()}"


async def refresh_revocations(verifier: Verifier, interval: float) -> None:
    """Reload revocations, disabled members and operators in a thread, a little more often
    than they expire, so requests never wait for the catalog. A failed reload (the catalog
    down) is counted and logged by `verifier.health` and tried again; nothing ends the loop
    but its cancellation. It does not back off further than its interval: a try is one
    connection attempt every couple of seconds per replica, and a longer pause would only
    lengthen the 503s past the staleness bound once the catalog is back."""
    while True:
        with contextlib.suppress(Exception):  # logged once per outage by verifier.health
            await anyio.to_thread.run_sync(verifier.refresh)
        await anyio.sleep(interval * 0.8)


async def purge_trash(runtime: Runtime, now: datetime) -> dict[str, int]:
    """One purge of every organization's trash as of `now` (their retention read from the
    catalog, in a thread), audited per organization that lost versions."""
    orgs = await anyio.to_thread.run_sync(runtime.services(TRASH_ACTOR).orgs.list_orgs)
    removed = await trash.purge_step(runtime.store, orgs, now)
    for org in orgs:
        if removed.get(org.name):
            runtime.audit.record(TRASH_ACTOR, "org.purge", org.root_uri, versions=removed[org.name])
    return removed


async def _purge(runtime: Runtime, interval: float) -> None:
    """`purge_trash` every `interval` seconds, the first at a random point of the first
    interval (replicas started together spread out). A failed purge (the catalog or the store
    down) is logged and tried again at the next; nothing ends the loop but its cancellation.
    Replicas over one catalog all purge: purging twice removes nothing more."""
    if not interval:
        return
    await anyio.sleep(random.uniform(0, interval))  # noqa: S311 (spreading, not a secret)
    while True:
        try:
            await purge_trash(runtime, datetime.now(UTC))
        except Exception as exc:  # the loop must outlive any failure
            logger.warning("the trash purge failed, tried again in %g s: %s", interval, exc)
        await anyio.sleep(interval)


SWITCH_INTERVAL = 0.0001
"""How long (seconds) a thread running Python may keep the GIL while another waits for it
(CPython's default: 5 ms). Worker threads read listing pages and files; each time the event
loop comes back from its sockets it needs the GIL, and a request takes a few such turns.
Measured (tests/console/test_loop_latency.py, 4 searches and a zip running): the median
small GET went from about 2 ms idle to 7-9 ms at 5 ms, 2-3 ms at 0.5 ms; at 0.5 ms one CI run
measured 1.4 ms idle against 5.9 ms busy (4.4x), and at 0.1 ms three runs measured 1.5x, 2.3x
and 2.0x of idle."""


GC_THRESHOLD = (10_000, 10, 10)
"""The cyclic garbage collector's thresholds while serving (CPython's: 700, 10, 10)."""


def settle_gc() -> None:
    """What was made to start serving (modules, the catalog's snapshot, the apps) lives as
    long as the process: freeze it out of the collector's generations, so that a full
    collection no longer walks it, and collect the young generation less often. Measured in
    process (bench/s3_app_micro.py, about 40,000 HEADs, PUTs and DELETEs), CPython's
    defaults spent 250-350 ms in the collector, most of it in 3 full collections
    of 55-80 ms, each holding the event loop that long; frozen, with these thresholds, 20-30
    ms, in collections of 3-4 ms."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLD)


def serve(settings: Settings) -> None:
    sys.setswitchinterval(SWITCH_INTERVAL)
    size = workers.count(settings.workers)
    datadir.initialize(settings)
    if size > 1:
        raise SystemExit(_serve_workers(settings, size))
    with datadir.opened(settings) as opened:
        fresh = bootstrap(opened)
        with asyncio.Runner(loop_factory=_loop_factory()) as runner:
            started = runner.run(_serve(opened, fresh))
    if not started:
        raise SystemExit(1)


def _serve_workers(settings: Settings, size: int) -> int:
    """`size` worker processes over one data directory (see `workers`); the exit code."""
    with datadir.opened(settings) as opened:
        fresh = bootstrap(opened)
    held = None
    if not settings.resolved_store_url.startswith("s3://"):
        held = Held(unquote(urlsplit(settings.resolved_store_url).path))
    sockets = [workers.listen(settings.s3_address), workers.listen(settings.console_address)]
    supervisor = workers.Supervisor(size, partial(_work, settings, sockets))
    record = datadir.ServingRecord(settings.data_dir)
    try:
        _announce(settings, fresh)
        print(f"{size} worker processes (set with serve --workers N)", flush=True)
        if settings.uses_data_dir:
            record.write(*(_bound_url(sock) for sock in sockets))
        return supervisor.run()
    finally:
        record.close()
        for sock in sockets:
            sock.close()
        if held is not None:
            held.release(clean=supervisor.clean)


def _work(settings: Settings, sockets: list[socket.socket], number: int) -> int:
    """One worker process: its own catalog connections, runtime and event loop, serving the
    supervisor's sockets; the exit code."""
    with datadir.opened(settings) as opened, asyncio.Runner(loop_factory=_loop_factory()) as r:
        started = r.run(_serve(opened, None, sockets=sockets, number=number))
    return 0 if started else 1


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    try:
        import uvloop
    except ImportError:  # uvloop is optional (not on Windows)
        return None
    return uvloop.new_event_loop


class _Server(uvicorn.Server):
    """A uvicorn server that leaves signals to `_serve`, which stops both servers together,
    and tells when it listens."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.listening = asyncio.Event()

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started:
            self.listening.set()


def _config(app: Any, address: str, trusted_proxies: str) -> uvicorn.Config:
    """uvicorn's settings; behind `trusted_proxies`, the client address is the one they name
    in X-Forwarded-For (the rightmost address that is not one of them)."""
    host, _, port = address.rpartition(":")
    return uvicorn.Config(
        app,
        host=host,
        port=int(port),
        log_level="warning",
        access_log=False,
        lifespan="off",
        timeout_keep_alive=30,
        server_header=False,
        date_header=True,
        proxy_headers=bool(trusted_proxies),
        forwarded_allow_ips=trusted_proxies or None,
    )


async def _serve(
    opened: Opened,
    fresh: Bootstrap | None,
    *,
    sockets: list[socket.socket] | None = None,
    number: int = 0,
) -> bool:
    """Serve until told to stop; False when a server could not start (a port in use). A
    worker (`number` of several) serves the supervisor's `sockets` and announces nothing
    but, for the first, how conditional writes are decided."""
    settings = opened.settings
    worker = sockets is not None
    async with open_runtime(opened, shared=worker) as runtime:
        console = create_console(
            runtime,
            s3_url=settings.resolved_public_s3_url,
            secure_cookies=settings.public_console_url.startswith("https://"),
        )
        servers = [
            _Server(_config(S3App(runtime), settings.s3_address, settings.trusted_proxies)),
            _Server(_config(console, settings.console_address, settings.trusted_proxies)),
        ]
        settle_gc()
        loop = asyncio.get_running_loop()
        loop.set_exception_handler(_loop_errors)
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, _stop, servers)
        if not worker:
            _announce(settings, fresh)
        if number == 0:
            print(conditional_line(runtime.conditional_writes), flush=True)
        refresher = asyncio.create_task(
            refresh_revocations(runtime.verifier, settings.revocation_refresh)
        )
        # one purger per data directory's machine is enough (more would be harmless)
        purge_interval = settings.trash_purge_interval if number == 0 else 0
        purger = asyncio.create_task(_purge(runtime, purge_interval))
        s3_socket, console_socket = sockets or (None, None)
        s3_task = asyncio.create_task(_run(servers[0], settings.s3_address, s3_socket))
        console_task = asyncio.create_task(
            _run(servers[1], settings.console_address, console_socket)
        )
        record = datadir.ServingRecord(settings.data_dir)
        recorder = asyncio.create_task(
            _record(servers, record, settings.uses_data_dir and not worker)
        )
        try:
            done, _ = await asyncio.wait([s3_task, console_task], return_when=FIRST_COMPLETED)
        finally:
            _stop(servers)
            for task in (refresher, purger, recorder):
                task.cancel()
            await asyncio.gather(
                s3_task, console_task, refresher, purger, recorder, return_exceptions=True
            )
            record.close()
        return not any(task.exception() for task in done)


async def _record(servers: list[_Server], record: datadir.ServingRecord, enabled: bool) -> None:
    """Once both servers listen, record where in the data directory (`lakestow env` prints
    it): the addresses they are bound to, which `serve --s3-address` may have chosen. A
    replica configured by its environment alone has no data directory to record them in."""
    if not enabled:
        return
    for server in servers:
        await server.listening.wait()
    s3_url, console_url = (_bound_url(server.servers[0].sockets[0]) for server in servers)
    try:
        await anyio.to_thread.run_sync(record.write, s3_url, console_url)
    except OSError as exc:  # serving matters more: `lakestow env` prints the configured URL
        logger.warning("could not record the addresses served in %s: %s", record.path, exc)


def _bound_url(sock: Any) -> str:
    """http://HOST:PORT of a listening socket; a wildcard address (every interface) as the
    loopback one, which reaches it from this machine."""
    host, port = sock.getsockname()[:2]
    host = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)  # noqa: S104
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


async def _run(server: _Server, address: str, sock: socket.socket | None = None) -> None:
    """One uvicorn server (on `sock`, a worker's inherited socket, or binding `address`); its
    exit on a failed start becomes an error the other sees."""
    try:
        await server.serve(sockets=None if sock is None else [sock])
    except SystemExit as exc:  # uvicorn exits when it cannot listen (it logged why)
        logger.error("could not listen on %s", address)
        raise RuntimeError(f"could not listen on {address}") from exc


def _stop(servers: list[_Server]) -> None:
    for server in servers:
        server.should_exit = True


def _announce(settings: Settings, fresh: Bootstrap | None) -> None:
    print(f"lakestow S3 endpoint: {settings.resolved_public_s3_url}", flush=True)
    console_url = settings.public_console_url or f"http://{settings.console_address}"
    print(f"lakestow console: {console_url.rstrip('/')}/", flush=True)
    print(
        f"revocations reloaded every {settings.revocation_refresh:g} s; while the catalog is "
        f"unreachable, the last ones serve for {settings.catalog_staleness:g} s, then 503",
        flush=True,
    )
    if fresh is not None:
        print(
            f"created organization {fresh.org!r} and its admin {fresh.admin!r}; "
            f"one-time password (shown once): {fresh.password}",
            flush=True,
        )
