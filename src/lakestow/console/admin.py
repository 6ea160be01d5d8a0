"""Organization admins only: the members of their organization and the storage it uses,
its trash (overwritten and deleted objects kept for the retention) included."""

from __future__ import annotations

import secrets
from collections import defaultdict
from typing import Any

import anyio
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from lakestow import trash
from lakestow.console import sessions
from lakestow.console.changes import json_body, str_field
from lakestow.console.context import Viewer, viewer
from lakestow.domain import MemberInfo, OrgInfo
from lakestow.errors import AccessDenied, InvalidInput, NotFound
from lakestow.services import Services

USAGE_SCAN = 200_000
ACTIONS = ("add", "disable", "enable", "reset_password")


async def admin(request: Request) -> Viewer:
    v = await viewer(request)
    if not v.info.admin:
        raise AccessDenied("Access denied: only organization admins may do this")
    return v


def _member_json(m: MemberInfo) -> dict[str, Any]:
    return {"id": m.id, "name": m.name, "admin": m.admin, "disabled": m.disabled}


async def members(request: Request) -> Response:
    """GET /api/admin/members: every member of the admin's organization."""
    v = await admin(request)
    found = await anyio.to_thread.run_sync(
        v.state.service(v.actor).orgs.list_members, v.info.org.name
    )
    return JSONResponse({"members": [_member_json(m) for m in found]})


def _change(v: Viewer, service: Services, action: str, name: str, body: dict[str, Any]) -> Any:
    if action == "add":
        password = secrets.token_urlsafe(12)
        made_admin = body.get("admin", False) is True
        info = service.orgs.create_member(
            name, v.info.org.name, admin=made_admin, password=password
        )
        return {"member": _member_json(info), "password": password}
    target = service.orgs.get_member(name)
    if target.org.id != v.info.org.id:
        raise NotFound(f"no member named {name!r}")
    if action in ("disable", "enable"):
        if target.id == v.info.id:
            raise InvalidInput("you cannot disable yourself")
        info = service.orgs.set_disabled(name, action == "disable")
        sessions.end_all(v.state.catalog, target.id)
        return {"member": _member_json(info)}
    password = secrets.token_urlsafe(12)
    service.orgs.set_password(name, password)
    sessions.end_all(v.state.catalog, target.id)
    return {"member": _member_json(target), "password": password}


async def change_member(request: Request) -> Response:
    """POST /api/admin/members {action, name, admin}: add, disable, enable, reset_password.

    A new or reset password is generated and shown once in the answer."""
    v = await admin(request)
    body = await json_body(request)
    action, name = str_field(body, "action"), str_field(body, "name")
    if action not in ACTIONS:
        raise InvalidInput(f"action must be one of {', '.join(ACTIONS)}")
    service = v.state.service(v.actor)
    result = await anyio.to_thread.run_sync(lambda: _change(v, service, action, name, body))
    return JSONResponse(result, headers={"cache-control": "no-store"})


async def warehouse_usage(v: Viewer) -> dict[str, Any]:
    """What the admin's warehouse holds now and what its trash keeps (counted by the store,
    off the event loop); `trash` is false when the store keeps no versions there."""
    org: OrgInfo = v.info.org
    found = await trash.usage(v.state.runtime.store, org)
    counts = {
        "current_bytes": found.current_bytes if found else None,
        "current_objects": found.current_objects if found else None,
        "retained_bytes": found.retained_bytes if found else 0,
        "retained_versions": found.retained_versions if found else 0,
    }
    return {
        **counts,
        "trash": found is not None,
        "retention_seconds": org.retention,
        "retention": org.retention_text,
    }


async def usage(request: Request) -> Response:
    """GET /api/admin/usage: bytes and objects per top-level folder (a bounded scan), and
    the warehouse's totals: current objects and the versions its trash keeps."""
    v = await admin(request)
    store, root = v.state.runtime.store, v.member.root
    sizes: dict[str, int] = defaultdict(int)
    counts: dict[str, int] = defaultdict(int)
    start_after: str | None = None
    scanned, complete = 0, False
    while scanned < USAGE_SCAN:
        page = await store.list(v.bucket, prefix=root, start_after=start_after)
        for info in page.objects:
            top = info.key[len(root) :].split("/", 1)[0] + "/"
            sizes[top] += info.size
            counts[top] += 1
        scanned += len(page.objects)
        if not page.is_truncated or page.next_start_after is None:
            complete = True
            break
        start_after = page.next_start_after
    folders = [{"folder": k, "bytes": sizes[k], "objects": counts[k]} for k in sorted(sizes)]
    return JSONResponse(
        {
            "folders": folders,
            "complete": complete,
            "scanned": scanned,
            "warehouse": await warehouse_usage(v),
        }
    )


ROUTES = [
    Route("/api/admin/members", members, methods=["GET"]),
    Route("/api/admin/members", change_member, methods=["POST"]),
    Route("/api/admin/usage", usage, methods=["GET"]),
]
