"""Entries of the console's listings: what a member sees of a file or folder, and may do to it."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

import anyio.lowlevel

from lakestow import paths, warehouse
from lakestow.auth import cursors
from lakestow.auth.policy import Action
from lakestow.console.context import Viewer, name_of
from lakestow.errors import InvalidInput
from lakestow.storage.protocol import SORTED_MAX, ObjectInfo, SortedListing, SortPosition

SCAN_PAGE = 1000
ENTRIES_PER_TURN = 50
KEYS_PER_TURN = 250


def folder_entry(viewer: Viewer, path: str) -> dict[str, Any]:
    decision = viewer.member.decide(Action.LIST, path)
    return {
        "name": name_of(path),
        "path": path,
        "kind": "folder",
        "size": None,
        "modified": None,
        "badge": decision.area.badge if decision.area else None,
        "warning": decision.warning,
        "s3_uri": viewer.info.org.uri(path),
        "may_write": viewer.may(Action.WRITE, path + "x"),
        "may_delete": viewer.may(Action.DELETE, path),
    }


def file_entry(viewer: Viewer, path: str, info: ObjectInfo) -> dict[str, Any]:
    decision = viewer.member.decide(Action.LIST, paths.parent(path))
    return {
        "name": name_of(path),
        "path": path,
        "kind": "file",
        "size": info.size,
        "modified": info.last_modified.isoformat(),
        "badge": decision.area.badge if decision.area else None,
        "warning": decision.warning,
        "s3_uri": viewer.info.org.uri(path),
        "may_write": viewer.may(Action.WRITE, path),
        "may_delete": viewer.may(Action.DELETE, path),
    }


async def entries_of(
    viewer: Viewer, folder: str, prefixes: Sequence[str], objects: Sequence[ObjectInfo]
) -> list[dict[str, Any]]:
    """The entries of `folder`'s common prefixes then objects (not its own marker), made
    ENTRIES_PER_TURN at a time: each asks the policy three times (tens of µs), so a page of
    1,000 made at once would hold the event loop for tens of milliseconds."""
    root, marker = viewer.member.root, viewer.key(folder)
    entries: list[dict[str, Any]] = []
    for start in range(0, len(prefixes), ENTRIES_PER_TURN):
        await anyio.lowlevel.checkpoint()
        chunk = prefixes[start : start + ENTRIES_PER_TURN]
        entries += [folder_entry(viewer, p[len(root) :]) for p in chunk]
    for start in range(0, len(objects), ENTRIES_PER_TURN):
        await anyio.lowlevel.checkpoint()
        some = objects[start : start + ENTRIES_PER_TURN]
        entries += [file_entry(viewer, o.key[len(root) :], o) for o in some if o.key != marker]
    return entries


async def page(
    viewer: Viewer, folder: str, cursor: str | None, limit: int, name_prefix: str = ""
) -> tuple[list[dict[str, Any]], str | None]:
    """One page of `folder` (delimited by "/") from `cursor` (one this function gave out for
    the same viewer, folder and filter, sealed): its entries, and the next page's cursor."""
    keyring = viewer.state.runtime.keyring
    binding = ("console", viewer.info.id, folder, name_prefix)
    message = "the cursor is not one this API gave out for this folder"
    start_after = cursors.open_(keyring, binding, cursor, message) if cursor else None
    listed = await warehouse.list_page(
        viewer.state.runtime.store,
        viewer.member,
        viewer.authorize_key,
        viewer.key(folder) + name_prefix,
        "/",
        start_after,
        limit,
    )
    entries = await entries_of(viewer, folder, listed.common_prefixes, listed.objects)
    after = listed.next_start_after if listed.is_truncated else None
    return entries, cursors.seal(keyring, binding, after) if after else None


async def walk(viewer: Viewer, folder: str, limit: int) -> AsyncIterator[ObjectInfo]:
    """Every object below `folder` that the viewer may read, at most `limit` scanned."""
    start_after: str | None = None
    scanned = 0
    while scanned < limit:
        listed = await warehouse.list_page(
            viewer.state.runtime.store,
            viewer.member,
            viewer.authorize_key,
            viewer.key(folder),
            None,
            start_after,
            min(SCAN_PAGE, limit - scanned),
        )
        for at, info in enumerate(listed.objects):
            if at % ENTRIES_PER_TURN == ENTRIES_PER_TURN - 1:
                await anyio.lowlevel.checkpoint()  # what the caller does with each: bounded
            yield info
        scanned += SCAN_PAGE
        if not listed.is_truncated or not listed.next_start_after:
            return
        start_after = listed.next_start_after


@dataclass(frozen=True)
class Sorted:
    """A page of a folder in the order asked, and whether that order is the whole folder's
    (else it is that of the rows of this page only, which `notice` says)."""

    entries: list[dict[str, Any]]
    cursor: str | None
    notice: str | None = None


async def sorted_page(
    viewer: Viewer,
    folder: str,
    cursor: str | None,
    limit: int,
    name_prefix: str,
    sort: str,
    order: str,
) -> Sorted:
    """One page of `folder`, folders first, then files by `sort` (name, size or modified)
    over the whole folder when the store can (`SortedListing`); else a page by name, sorted
    within itself, with a notice. A cursor is sealed for the viewer, folder, filter and
    order, or is a page's by name (a page of a folder the store could not sort)."""
    check_sort(sort, order)
    if sort == "name":
        # Natural order (file2 before file10) is made here, on the server, for the page: it is
        # cheap there, and exact for a folder of one page (200 rows in the browser, up to
        # 1,000). The store pages in key order (file10 before file2), so a folder of several
        # pages is in natural order within each page only, which the notice then says.
        stored, next_cursor = await page(viewer, folder, cursor, limit, name_prefix)
        keys = []  # a page of 1,000 names' natural keys: 1-2 ms, made in turns
        for start in range(0, len(stored), KEYS_PER_TURN):
            await anyio.lowlevel.checkpoint()
            keys += [natural_key(e["name"]) for e in stored[start : start + KEYS_PER_TURN]]
        await anyio.lowlevel.checkpoint()
        entries = sort_entries(stored, sort, order, keys)
        await anyio.lowlevel.checkpoint()
        notice = None
        if order == "desc":
            notice = "Names are in reverse order within this page only: pages go by name."
        elif (cursor or next_cursor) and entries != sort_entries(stored, "stored", order):
            notice = (
                "Names are in natural order (file2 before file10) within this page only: "
                "pages follow each other in stored order (file10 before file2)."
            )
        return Sorted(entries, next_cursor, notice)
    keyring = viewer.state.runtime.keyring
    binding = ("console-sorted", viewer.info.id, folder, name_prefix, sort, order)
    after: SortPosition | None = None
    if cursor:
        try:
            key, value = json.loads(cursors.open_(keyring, binding, cursor, "not sorted"))
            after = SortPosition(key, value)
        except InvalidInput:  # a page's cursor (by name): go on by page, or refuse it there
            return await _page_sorted(viewer, folder, cursor, limit, name_prefix, sort, order)
    listed = await warehouse.sorted_page(
        viewer.state.runtime.store,
        viewer.member,
        viewer.authorize_key,
        viewer.key(folder) + name_prefix,
        sort,
        order == "desc",
        after,
        limit,
    )
    if listed is None:
        if after is not None:
            raise InvalidInput("this folder can no longer be sorted whole: go back to page 1")
        return await _page_sorted(viewer, folder, None, limit, name_prefix, sort, order)
    entries = await entries_of(viewer, folder, listed.common_prefixes, listed.objects)
    position = listed.next
    if position is None:
        return Sorted(entries, None)
    sealed = cursors.seal(keyring, binding, json.dumps([position.key, position.value]))
    return Sorted(entries, sealed)


async def _page_sorted(
    viewer: Viewer,
    folder: str,
    cursor: str | None,
    limit: int,
    name_prefix: str,
    sort: str,
    order: str,
) -> Sorted:
    """A page by name, sorted within itself, with the notice that says so."""
    entries, cursor = await page(viewer, folder, cursor, limit, name_prefix)
    store = viewer.state.runtime.store
    why = (
        f"the folder holds more than {SORTED_MAX:,} objects"
        if isinstance(store, SortedListing)
        else "this storage backend cannot sort a whole folder"
    )
    notice = (
        f"Sorted by {sort} within the {len(entries)} rows loaded on this page only: {why}. "
        "Pages follow each other by name."
    )
    return Sorted(sort_entries(entries, sort, order), cursor, notice)


def check_sort(sort: str, order: str) -> None:
    if sort not in ("name", "size", "modified") or order not in ("asc", "desc"):
        raise InvalidInput("sort is name, size or modified; order is asc or desc")


_DIGITS = re.compile(r"([0-9]+)")


NaturalKey = tuple[tuple[tuple[int, int, str], ...], str]


def natural_key(name: str) -> NaturalKey:
    """What sorts names as people do: runs of digits by their value (file2 before file10),
    the rest ignoring case, digits before letters; the name itself last, so that no two
    different names are equal."""
    runs = _DIGITS.split(name)
    parts = tuple(
        (0, int(run), run) if odd else (1, 0, run.casefold())
        for odd, run in ((i % 2 == 1, run) for i, run in enumerate(runs))
        if run
    )
    return parts, name


def sort_entries(
    entries: list[dict[str, Any]], sort: str, order: str, keys: Sequence[NaturalKey] = ()
) -> list[dict[str, Any]]:
    """Folders first, then by `sort` (name, in natural order; size or modified; "stored":
    by name as the store orders keys), within one page. By name, `keys` may give the
    entries' natural keys, made beforehand."""
    if sort == "stored":
        keyed = sorted(entries, key=lambda e: e["name"])
    elif sort == "name":
        check_sort(sort, order)
        made = keys or [natural_key(e["name"]) for e in entries]
        ordered = sorted(zip(made, entries, strict=True), key=lambda pair: pair[0])
        keyed = [entry for _, entry in ordered]
    else:
        check_sort(sort, order)
        keyed = sorted(entries, key=lambda e: (e[sort] is None, e[sort] or 0, e["name"]))
    if order == "desc":
        keyed.reverse()
    folders = [e for e in keyed if e["kind"] == "folder"]
    return folders + [e for e in keyed if e["kind"] == "file"]
