"""The sync agent's status object, read for the console: GET /api/sync-status and the panel on
a notebooks folder (`/notebooks/customer-<id>/`) read the same summary.

The agent writes `.lakestow-sync-status.json` at the top of the folder it mirrors (see
`lakestow.sync.agent`). Its times come from the agent's clock; the age of the last successful
pass is measured from the object's LastModified (the server's clock) instead, less the gap the
document itself reports between its last pass and its last success, so that a skewed clock on
the notebook instance neither hides nor invents a stale agent.
"""

from __future__ import annotations

import json
import re
import time
from datetime import datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from lakestow.auth.policy import Action
from lakestow.console.context import Viewer, parse_path, viewer
from lakestow.errors import NotFound
from lakestow.sync.ignore import STATUS_NAME

STALE_INTERVALS = 3
MAX_BYTES = 64 * 1024
NOTEBOOKS_HOME = re.compile(r"^notebooks/customer-\d+/$")
COUNTS = ("files", "uploaded", "deleted", "kept_aside", "retry", "errors")


def clock() -> float:
    """The console's time (a function, so that tests can move it)."""
    return time.time()


def shows_status(folder: str) -> bool:
    """Whether a folder page carries the sync status panel: a member's notebooks folder."""
    return bool(NOTEBOOKS_HOME.match(folder))


def _time(value: object) -> float | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        return None
    return float(value)


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _counts(value: object) -> dict[str, int]:
    given = value if isinstance(value, dict) else {}
    return {k: v if isinstance(v := given.get(k), int) else 0 for k in COUNTS}


def summarize(
    path: str, document: dict[str, Any] | None, written: float, now: float
) -> dict[str, Any]:
    """The console's view of one status document (None: there is none); `written` is its
    LastModified and `now` the console's time, both in seconds since the epoch."""
    doc = document or {}
    errors = doc.get("errors")
    summary: dict[str, Any] = {
        "path": path,
        "found": document is not None,
        "ok": None if document is None else doc.get("ok") is True,
        "stale": False,
        "warning": None,
        "last_success_at": _text(doc.get("last_success_at")),
        "last_pass_at": _text(doc.get("last_pass_at")),
        "age_seconds": None,
        "interval_seconds": _number(doc.get("interval_seconds")),
        "counts": _counts(doc.get("counts")),
        "errors": [str(e) for e in errors] if isinstance(errors, list) else [],
        "refused": _text(doc.get("refused")),
        "host": _text(doc.get("host")),
    }
    success, last_pass = _time(summary["last_success_at"]), _time(summary["last_pass_at"])
    if success is not None:
        behind = max(0.0, last_pass - success) if last_pass is not None else 0.0
        summary["age_seconds"] = round(max(0.0, now - written) + behind, 1)
    if document is not None:
        summary["stale"], summary["warning"] = _staleness(summary)
    return summary


def _staleness(summary: dict[str, Any]) -> tuple[bool, str | None]:
    """Stale when the last success is older than three intervals (or there never was one)."""
    interval, age = summary["interval_seconds"], summary["age_seconds"]
    if interval is None:  # a one-off `home sync`: no schedule to fall behind
        return False, None
    if age is None:
        return True, "No sync pass has succeeded yet: this folder may not hold the latest files."
    if age <= STALE_INTERVALS * interval:
        return False, None
    return True, (
        f"The last successful sync was {describe_age(age)} ago, more than {STALE_INTERVALS}"
        f" intervals of {describe_age(interval)}: the notebook instance may have stopped or"
        " be failing, and this folder may not hold its latest files."
    )


def describe_age(seconds: float) -> str:
    """`45 s`, `12 min`, `3.5 h`, `2.0 days`."""
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 2 * 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


async def read_status(v: Viewer, folder: str) -> dict[str, Any]:
    """The summary of `folder`'s status object, read with the viewer's permissions."""
    path = folder + STATUS_NAME
    v.authorize(Action.READ, path)
    store = v.state.runtime.store
    try:
        info = await store.head(v.bucket, v.key(path))
    except NotFound:
        return summarize(folder, None, 0.0, clock())
    document: dict[str, Any] | None = None
    if info.size <= MAX_BYTES:
        async with await store.get(v.bucket, v.key(path)) as result:
            data = b"".join([chunk async for chunk in result.body])
        document = _parse(data)
    summary = summarize(folder, document or {}, info.last_modified.timestamp(), clock())
    if document is None:
        summary.update(ok=False, errors=[f"{STATUS_NAME} is not a status document"])
    return summary


def _parse(data: bytes) -> dict[str, Any] | None:
    try:
        document = json.loads(data)
    except ValueError:
        return None
    return document if isinstance(document, dict) else None


async def sync_status(request: Request) -> Response:
    """GET /api/sync-status: the sync status of a folder (default: the viewer's notebooks)."""
    v = await viewer(request)
    default = f"notebooks/{v.info.folder}/"
    folder = parse_path(request.query_params.get("path") or default, folder=True)
    return JSONResponse(await read_status(v, folder), headers={"cache-control": "no-store"})


ROUTES = [Route("/api/sync-status", sync_status, methods=["GET"])]
