"""The warehouse's trash, write side: a version of a file made current again, and a folder
brought back as it was at a time.

Both copy old versions onto their keys through the operations layer (authorized key by key,
stored, audited), so a restore is itself a new version and nothing is lost. A folder's
restore is planned first, reading its versions page by page (at most RESTORE_SCAN) and
refusing beyond MAX_RESTORE keys, then every key is authorized before any is copied, in
bounded batches (`ObjectOperations.restore_many`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from lakestow import paths
from lakestow.auth.policy import Action
from lakestow.console import listing
from lakestow.console.changes import json_body, str_field
from lakestow.console.context import Viewer, parse_path, viewer
from lakestow.console.trash import SCAN_PAGE, Markers, versions_listing
from lakestow.errors import InvalidInput, LakestowError
from lakestow.storage.protocol import NULL_VERSION, ObjectInfo, VersionInfo

MAX_RESTORE = 10_000
"""Keys one folder restore brings back at most; past it, it is refused before any change."""
RESTORE_SCAN = 200_000
"""Versions a folder restore reads at most to plan itself; past it, it is refused."""
FAILURES_SHOWN = 20


def version_field(body: dict[str, Any]) -> str:
    value = body.get("version_id")
    if not isinstance(value, str) or not 0 < len(value) <= 64 or not value.isprintable():
        raise InvalidInput("version_id must be a version id, as /api/versions lists them")
    return value


def as_of_field(body: dict[str, Any], now: datetime) -> datetime:
    """The time `as_of` names: ISO 8601 with its offset, in the past."""
    value = body.get("as_of")
    example = "2025-05-01T12:00:00Z or 2025-05-01T14:00:00+02:00"
    if not isinstance(value, str) or len(value) > 64:
        raise InvalidInput(f"as_of must be a date and time with its offset, such as {example}")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as exc:
        raise InvalidInput(f"as_of {value!r} is not a date and time such as {example}") from exc
    if moment.tzinfo is None:
        raise InvalidInput(f"as_of {value!r} has no offset from UTC: write it as {example}")
    if moment > now:
        raise InvalidInput(f"as_of {value!r} is in the future: give a time in the past")
    return moment.astimezone(UTC)


async def restore_version(request: Request) -> Response:
    """POST /api/restore {path, version_id}: that version of the file, copied onto it."""
    v = await viewer(request)
    body = await json_body(request)
    path = parse_path(str_field(body, "path"))
    if not path or paths.is_folder(path):
        raise InvalidInput("give a file's path: a folder is restored as of a time instead")
    version_id = version_field(body)
    info = await v.objects.restore(v.bucket, v.key(path), version_id)
    entry = listing.file_entry(v, path, info)
    entry.update(version_id=info.version_id, restored_version_id=version_id)
    return JSONResponse(entry)


@dataclass
class Plan:
    """What a folder's restore does: the (key, version id) to copy back, how many keys are
    as they were already, how many versions were read."""

    restore: list[tuple[str, str]] = field(default_factory=list)
    unchanged: int = 0
    scanned: int = 0


@dataclass
class _Key:
    """One key's versions as the scan meets them, newest first: the latest, and the newest
    made by the time (None: the key did not exist yet)."""

    latest: VersionInfo
    then: VersionInfo | None = None


def _decide(v: Viewer, plan: Plan, state: _Key) -> None:
    then, latest = state.then, state.latest
    key = latest.info.key
    if then is None or then.delete_marker or v.objects.always_exists(v.bucket, key):
        return  # made since, deleted then, or a folder of the layout (it always exists)
    same = latest.info.version_id == then.info.version_id or (
        latest.info.etag == then.info.etag and latest.info.size == then.info.size
    )
    if not latest.delete_marker and same:
        plan.unchanged += 1
        return
    plan.restore.append((key, then.info.version_id or NULL_VERSION))
    if len(plan.restore) > MAX_RESTORE:
        raise InvalidInput(
            f"more than {MAX_RESTORE} files would be restored: restore the sub-folders one "
            "at a time (nothing was changed)"
        )


async def plan_restore(v: Viewer, folder: str, moment: datetime) -> Plan:
    """Every key below `folder` whose version at `moment` was an object and differs from
    what is current now, with that version."""
    plan = Plan()
    state: _Key | None = None
    markers: Markers = (None, None)
    while True:
        listed = await versions_listing(v, v.key(folder), None, markers, SCAN_PAGE)
        for version in listed.versions:
            if state is None or version.info.key != state.latest.info.key:
                if state is not None:
                    _decide(v, plan, state)
                state = _Key(version)
            if state.then is None and version.info.last_modified <= moment:
                state.then = version
        plan.scanned += len(listed.versions)
        if plan.scanned > RESTORE_SCAN:
            raise InvalidInput(
                f"/{folder} holds more than {RESTORE_SCAN} versions: restore its sub-folders "
                "one at a time (nothing was changed)"
            )
        if not listed.is_truncated or not listed.versions:
            break
        markers = (listed.next_key_marker, listed.next_version_id_marker)
        if state is not None and state.then is not None:  # the rest of its versions: older
            markers = (state.latest.info.key, None)
    if state is not None:
        _decide(v, plan, state)
    return plan


def _failures(v: Viewer, plan: Plan, done: list[ObjectInfo | LakestowError]) -> list[Any]:
    root = v.member.root
    return [
        {"path": key[len(root) :], "error": outcome.code, "message": outcome.message}
        for (key, _), outcome in zip(plan.restore, done, strict=True)
        if isinstance(outcome, LakestowError)
    ]


async def restore_folder(request: Request) -> Response:
    """POST /api/restore-folder {path, as_of, dry_run}: every file below the folder as it was
    at `as_of` (files made since are left alone); with dry_run, what would be restored."""
    v = await viewer(request)
    body = await json_body(request)
    folder = parse_path(str_field(body, "path"), folder=True)
    moment = as_of_field(body, datetime.now(UTC))
    dry_run = body.get("dry_run", False)
    if not isinstance(dry_run, bool):
        raise InvalidInput("dry_run must be true or false")
    v.authorize(Action.WRITE, folder + "x")  # any file in it: as the page's may_write asks
    plan = await plan_restore(v, folder, moment)
    answer: dict[str, Any] = {
        "path": folder,
        "as_of": moment.isoformat(),
        "dry_run": dry_run,
        "to_restore": len(plan.restore),
        "unchanged": plan.unchanged,
        "restored": 0,
        "failed": 0,
        "failures": [],
    }
    if dry_run or not plan.restore:
        return JSONResponse(answer)
    done = await v.objects.restore_many(v.bucket, plan.restore, audit_each=False)
    failures = _failures(v, plan, done)
    answer.update(
        restored=len(done) - len(failures),
        failed=len(failures),
        failures=failures[:FAILURES_SHOWN],
    )
    v.audit(
        "console.restore",
        folder,
        as_of=answer["as_of"],
        keys=answer["restored"],
        failed=len(failures),
    )
    return JSONResponse(answer)


ROUTES = [
    Route("/api/restore", restore_version, methods=["POST"]),
    Route("/api/restore-folder", restore_folder, methods=["POST"]),
]
