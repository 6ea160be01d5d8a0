"""Search by name below a folder, among what the member may list (`storage.NameSearch`).

The policy decides first: the store is searched only under the member's subtrees that the
folder reaches (`warehouse.spans`: their private folders, the shared ones, `spark-logs/`),
each in key order, one after the other, so no key of another member is ever read, let alone
shown. The folders between the searched folder and a subtree (`data/`, `customer-<id>/`)
are matched by the text too, without asking the store: a match there is one folder hit
that stands for the whole subtree, as the fixed folders always exist for their members.

A page holds at most `limit` hits; its cursor (sealed, bound to the member, the folder and
the text) names the last hit, or where a store stopped when it bounded its work (a page
that is `partial`), so that the next page goes on from there. Nothing is built whole: a
page costs one store call per subtree, each asked for what the page still lacks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lakestow import warehouse
from lakestow.auth import cursors
from lakestow.auth.policy import Action
from lakestow.console import listing
from lakestow.console.context import Viewer
from lakestow.errors import Unsupported
from lakestow.storage import names
from lakestow.storage.common import successor
from lakestow.storage.protocol import NameSearch, SearchHit


@dataclass(frozen=True)
class Found:
    """A page of search results (entries as a listing's), its next page's cursor, and
    whether it stopped short at a store's bound on work (then `searched_to` says where)."""

    entries: list[dict[str, Any]]
    cursor: str | None
    partial: bool = False
    searched_to: str | None = None


async def search_page(v: Viewer, folder: str, text: str, cursor: str | None, limit: int) -> Found:
    """A page of the hits below `folder` for `text`, from `cursor`."""
    needle = names.needle(text, limit)
    v.authorize(Action.LIST, folder)
    store = v.state.runtime.store
    if not isinstance(store, NameSearch):
        raise Unsupported("this store cannot search by name: browse the folder instead")
    keyring = v.state.runtime.keyring
    binding = ("console-search", v.info.id, folder, needle)
    message = "the cursor is not one this API gave out for this search"
    after = cursors.open_(keyring, binding, cursor, message) if cursor else None
    prefix = v.key(folder)
    hits: list[SearchHit] = []
    stopped: str | None = None
    for span in warehouse.spans(v.member, Action.LIST, prefix, None):
        end = successor(span.prefix)
        if after is not None and end is not None and after >= end:
            continue  # the whole subtree was on earlier pages
        above = names.hit_of(span.prefix, prefix, needle) if span.prefix != prefix else None
        if above is not None:  # a folder on the way down holds the text: one hit for all
            if (after is None or above > after) and (not hits or hits[-1].key != above):
                hits.append(SearchHit(above))
        else:
            stopped = await _search_span(store, v.bucket, span.prefix, needle, after, hits, limit)
        if stopped is not None or len(hits) > limit:
            break
    return _found(v, hits, limit, binding, stopped)


async def _search_span(
    store: NameSearch,
    bucket: str,
    top: str,
    needle: str,
    after: str | None,
    hits: list[SearchHit],
    limit: int,
) -> str | None:
    """Add the hits below `top` after `after` to `hits`, up to one more than `limit`;
    where the store stopped short, if it did."""
    page = await store.search(bucket, top, needle, start_after=after, limit=limit + 1 - len(hits))
    hits.extend(page.hits)
    return page.next_start_after if page.partial else None


def _found(
    v: Viewer, hits: list[SearchHit], limit: int, binding: tuple[object, ...], stopped: str | None
) -> Found:
    """The page of the first `limit` of `hits`: the next one starts after the last of them
    when there are more, else where a store `stopped` short, if one did."""
    position: str | None = stopped
    if len(hits) > limit:
        del hits[limit:]
        stopped, position = None, hits[-1].key
    root = v.member.root
    entries = [
        listing.folder_entry(v, hit.key[len(root) :])
        if hit.info is None
        else listing.file_entry(v, hit.key[len(root) :], hit.info)
        for hit in hits
    ]
    keyring = v.state.runtime.keyring
    cursor = cursors.seal(keyring, binding, position) if position else None
    searched_to = stopped[len(root) :] if stopped else None
    return Found(entries, cursor, stopped is not None, searched_to)
