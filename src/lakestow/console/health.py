"""Health of this replica, for a load balancer or an orchestrator; no sign-in, no secrets.

    GET /health/live    200 while the process serves requests at all
    GET /health/ready   200 when it can serve S3 requests: the store answers, and the catalog
                        answers or its last snapshot is within the staleness bound; else 503

Both answer JSON; the readiness answer says which part is not ready, and since when the
catalog has not been reloaded, and whether the store's upstream enforces conditional writes
(found out at start), but never an address or an error text.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

import anyio
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from lakestow.console.context import state_of
from lakestow.errors import LakestowError
from lakestow.storage.protocol import ConditionalWrites

STORE_DEADLINE = 5.0  # seconds the store has to answer before the replica is not ready


async def live(request: Request) -> JSONResponse:
    return JSONResponse({"live": True})


async def ready(request: Request) -> JSONResponse:
    runtime = state_of(request).runtime
    health = runtime.verifier.health
    try:
        # refused past the staleness bound; in a thread, as it may try a reload
        await anyio.to_thread.run_sync(runtime.verifier.snapshot)
        catalog = "ok"
    except LakestowError:
        catalog = "unreachable"
    store = "ok"
    try:
        with anyio.fail_after(STORE_DEADLINE):
            await runtime.store.ping()
    except Exception:  # any failure, a timeout too, is "not ready"
        store = "unreachable"
    last = health.last_success
    body = {
        "ready": catalog == store == "ok",
        "store": store,
        "catalog": catalog,
        "catalog_reloaded": None if last is None else datetime.fromtimestamp(last, UTC).isoformat(),
        "catalog_reload_failures": health.failures,
        "conditional_writes": _conditional(runtime.conditional_writes),
        "checked": datetime.fromtimestamp(time.time(), UTC).isoformat(),
    }
    return JSONResponse(body, status_code=200 if body["ready"] else 503)


def _conditional(found: ConditionalWrites | None) -> str:
    return "enforced by the local store" if found is None else found.describe()


ROUTES = [
    Route("/health/live", live, methods=["GET"]),
    Route("/health/ready", ready, methods=["GET"]),
]
