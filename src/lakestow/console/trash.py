"""The warehouse's trash, read side: the versions of a file, and the deleted entries of a folder.

Both list through `warehouse.list_versions`, the merge of the subtrees the member may list, so
another member's versions and deleted files never show, and both are paged with sealed
cursors as folder listings are. A deleted file is one whose latest version is a delete marker;
a deleted folder one that the versions listing rolls up and that holds nothing current the
member may see. Restoring is `console.restore`'s.
"""

from __future__ import annotations

import json
from typing import Any

import anyio.lowlevel
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from lakestow import paths, warehouse
from lakestow.auth import cursors
from lakestow.auth.policy import Action
from lakestow.console import listing
from lakestow.console.api import MAX_LIMIT, int_param, page_params, page_response
from lakestow.console.context import Viewer, parse_path, viewer
from lakestow.errors import InvalidInput
from lakestow.storage.protocol import NULL_VERSION, VersionInfo, VersionsPage

SCAN_PAGE = 200
"""Versions asked of the store at once: the local store reads a page on the event loop, and
one of 200 takes it for about 2 ms (one of 1,000 for about 10)."""
TRASH_SCAN = 50
"""Store pages one page of deleted entries reads at most: past them, the page is cut short
(fewer entries than asked, and a cursor), so that no request reads a folder's whole history."""
VERSION_SCAN = 10_000
"""Versions of one deleted file looked through for the newest that is not a delete marker."""

Markers = tuple[str | None, str | None]


def version_entry(version: VersionInfo) -> dict[str, Any]:
    info = version.info
    marker = version.delete_marker
    return {
        "version_id": info.version_id or NULL_VERSION,
        "size": None if marker else info.size,
        "modified": info.last_modified.isoformat(),
        "etag": None if marker else info.etag,
        "latest": version.is_latest,
        "delete_marker": marker,
    }


async def versions_listing(
    v: Viewer, prefix: str, delimiter: str | None, markers: Markers, limit: int
) -> VersionsPage:
    listed = await warehouse.list_versions(
        v.state.runtime.store, v.member, v.authorize_key, prefix, delimiter, markers, limit
    )
    await anyio.lowlevel.checkpoint()  # the local store answers on the loop: let others run
    return listed


def _open_markers(v: Viewer, binding: tuple[object, ...], cursor: str | None) -> Markers:
    if not cursor:
        return None, None
    message = "the cursor is not one this API gave out for this path"
    position = json.loads(cursors.open_(v.state.runtime.keyring, binding, cursor, message))
    return position[0], position[1]


def _seal_markers(v: Viewer, binding: tuple[object, ...], markers: Markers) -> str:
    return cursors.seal(v.state.runtime.keyring, binding, json.dumps(list(markers)))


async def versions_page(
    v: Viewer, path: str, cursor: str | None, limit: int
) -> tuple[list[VersionInfo], str | None]:
    """The versions of the file `path`, newest first, from `cursor`; the next page's cursor."""
    binding = ("console-versions", v.info.id, path)
    key = v.key(path)
    listed = await versions_listing(v, key, None, _open_markers(v, binding, cursor), limit)
    found: list[VersionInfo] = []
    for version in listed.versions:  # `key` sorts first of the keys it begins
        if version.info.key != key:
            return found, None
        found.append(version)
    if not listed.is_truncated or not found:
        return found, None
    last = found[-1].info
    return found, _seal_markers(v, binding, (key, last.version_id or NULL_VERSION))


async def list_versions(request: Request) -> Response:
    """GET /api/versions: the versions of a file (delete markers too), newest first."""
    v = await viewer(request)
    path = parse_path(request.query_params.get("path"))
    if not path or paths.is_folder(path):
        raise InvalidInput("give the path of a file: a folder has no versions of its own")
    v.authorize(Action.READ, path)
    limit = int_param(request, "limit", 100, 1, MAX_LIMIT)
    found, cursor = await versions_page(v, path, request.query_params.get("cursor"), limit)
    return JSONResponse(
        {
            "path": path,
            "may_restore": v.may(Action.WRITE, path),
            "versions": [version_entry(version) for version in found],
            "cursor": cursor,
        }
    )


async def newest_object(v: Viewer, key: str, markers: Markers) -> VersionInfo | None:
    """The newest version of `key` after `markers` that is not a delete marker, if any."""
    scanned = 0
    while scanned < VERSION_SCAN:
        listed = await versions_listing(v, key, None, markers, SCAN_PAGE)
        for version in listed.versions:
            if version.info.key != key:
                return None
            if not version.delete_marker:
                return version
        scanned += len(listed.versions)
        if not listed.is_truncated or not listed.versions:
            return None
        markers = (listed.next_key_marker, listed.next_version_id_marker)
    return None


async def _deleted_file(
    v: Viewer, group: list[VersionInfo], complete: bool
) -> dict[str, Any] | None:
    """The entry of a key whose versions (newest first) are `group` (all of them, if
    `complete`), when its latest is a delete marker over a version that can be restored."""
    latest = group[0]
    if not latest.is_latest or not latest.delete_marker:
        return None
    restorable = next((g for g in group if not g.delete_marker), None)
    if restorable is None and not complete:
        last = group[-1].info
        restorable = await newest_object(v, last.key, (last.key, last.version_id or NULL_VERSION))
    if restorable is None:
        return None  # a delete marker over nothing: nothing to restore
    path = latest.info.key[len(v.member.root) :]
    entry = listing.file_entry(v, path, restorable.info)
    entry.update(
        deleted=True,
        deleted_at=latest.info.last_modified.isoformat(),
        version_id=restorable.info.version_id or NULL_VERSION,
    )
    return entry


async def _deleted_folder(v: Viewer, prefix: str) -> dict[str, Any] | None:
    """The entry of the folder `prefix` when it holds nothing current the member may see
    (a folder of the fixed layout always exists)."""
    if v.objects.always_exists(v.bucket, prefix):
        return None
    store = v.state.runtime.store
    live = await warehouse.list_page(store, v.member, v.authorize_key, prefix, None, None, 1)
    await anyio.lowlevel.checkpoint()
    if live.objects:
        return None
    entry = listing.folder_entry(v, prefix[len(v.member.root) :])
    entry["deleted"] = True
    return entry


def _by_name(listed: VersionsPage) -> list[str | list[VersionInfo]]:
    """The page's common prefixes and its keys' versions (each key's as one list), by name."""
    groups: dict[str, list[VersionInfo]] = {}
    for version in listed.versions:
        groups.setdefault(version.info.key, []).append(version)
    items: list[str | list[VersionInfo]] = [*listed.common_prefixes, *groups.values()]
    return sorted(items, key=lambda item: item if isinstance(item, str) else item[0].info.key)


async def deleted_page(
    v: Viewer, folder: str, cursor: str | None, limit: int, name_prefix: str = ""
) -> tuple[list[dict[str, Any]], str | None]:
    """Deleted entries directly in `folder`, from `cursor`, by name; the next page's cursor.
    A page may hold fewer than `limit` entries and still have a next one (TRASH_SCAN)."""
    binding = ("console-trash", v.info.id, folder, name_prefix)
    key_marker = _open_markers(v, binding, cursor)[0]
    prefix = v.key(folder) + name_prefix
    entries: list[dict[str, Any]] = []
    for _ in range(TRASH_SCAN):
        listed = await versions_listing(v, prefix, "/", (key_marker, None), SCAN_PAGE)
        items = _by_name(listed)
        for index, item in enumerate(items):
            if isinstance(item, str):
                entry, key_marker = await _deleted_folder(v, item), item
            elif item[0].info.key == v.key(folder):
                entry, key_marker = None, item[0].info.key  # the folder's own marker
            else:
                complete = index < len(items) - 1 or not listed.is_truncated
                entry, key_marker = await _deleted_file(v, item, complete), item[0].info.key
            if entry is not None:
                entries.append(entry)
            if len(entries) >= limit and (index < len(items) - 1 or listed.is_truncated):
                return entries, _seal_markers(v, binding, (key_marker, None))
        if not listed.is_truncated or key_marker is None:
            return entries, None
    return entries, _seal_markers(v, binding, (key_marker, None))


async def list_deleted(request: Request) -> Response:
    """GET /api/deleted: one page of a folder's deleted files and folders, by name."""
    v = await viewer(request)
    folder, name_prefix, limit, cursor = page_params(request)
    entries, cursor = await deleted_page(v, folder, cursor, limit, name_prefix)
    versioning = await v.state.runtime.store.get_versioning(v.bucket)
    fields = {"path": folder, "versioning": versioning, "cursor": cursor}
    return await page_response(fields, "entries", entries)


ROUTES = [
    Route("/api/versions", list_versions, methods=["GET"]),
    Route("/api/deleted", list_deleted, methods=["GET"]),
]
