"""A member's view of the warehouse: keys and paths, and listings filtered by the policy.

The S3 endpoint and the console both list through `list_page`, so a member sees the same
folders whichever door they come through. The read-only folders (the root, /data/,
/notebooks/) hold nothing but the fixed layout, so their delimited listings are written from
the layout itself; listings above the organization's root show the way down to it only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from lakestow import paths
from lakestow.auth.policy import Action, Decision, Principal, Target, decide
from lakestow.service import OrgInfo
from lakestow.storage.protocol import List, ObjectInfo

Authorize = Callable[[Action, str], Decision]
"""Decides an action on a key of the org's bucket, raising AccessDenied (and auditing) if no."""


@dataclass(frozen=True)
class Member:
    """A member with the root of their organization's warehouse."""

    principal: Principal
    org: OrgInfo

    @property
    def root(self) -> str:
        """The key prefix of the warehouse root: `acme/` (or `""` for a bucket-wide root)."""
        return self.key_of("")

    def path_of(self, bucket: str, key: str) -> str | None:
        """The warehouse path of (bucket, key), or None when it is outside the warehouse."""
        if bucket != self.org.bucket or not key.startswith(self.root):
            return None
        return key[len(self.root) :]

    def key_of(self, path: str) -> str:
        return f"{self.org.prefix}/{path}" if self.org.prefix else path

    def decide(self, action: Action, path: str) -> Decision:
        return decide(self.principal, action, Target(self.org.id, path))


@dataclass
class Page:
    """A listing page in key space: objects and common prefixes the member may see."""

    objects: list[ObjectInfo]
    prefixes: list[str]
    truncated: bool
    next_start_after: str | None


async def list_page(
    store: List,
    member: Member,
    authorize: Authorize,
    prefix: str,
    delimiter: str | None,
    start_after: str | None,
    max_keys: int,
) -> Page:
    """One page of what `member` may see under the key prefix `prefix`."""
    root = member.root
    if not prefix.startswith(root):
        if not root.startswith(prefix):
            authorize(Action.LIST, prefix)  # outside the warehouse: denied and audited
        if delimiter and delimiter in root[len(prefix) :]:
            way_down = root[: root.index(delimiter, len(prefix)) + len(delimiter)]
            return _fixed_page([way_down], start_after, max_keys)
        prefix = root
    path = prefix[len(root) :]
    folder = path if paths.is_folder(path) else paths.parent(path)
    decision = authorize(Action.LIST, member.key_of(folder))
    if delimiter == "/" and decision.area is not None and not decision.area.subtree:
        return _fixed_page(_layout_children(member, folder, path), start_after, max_keys)
    listed = await store.list(
        member.org.bucket,
        prefix=prefix,
        delimiter=delimiter,
        start_after=start_after,
        max_keys=max_keys,
    )
    page = Page(
        listed.objects, listed.common_prefixes, listed.is_truncated, listed.next_start_after
    )
    if member.principal.scopes or decision.area is None or not decision.area.subtree:
        page = _filtered(member, page)  # a subtree area without scopes shows all or nothing
    return page


def _layout_children(member: Member, folder: str, path: str) -> list[str]:
    if folder == "":
        names: tuple[str, ...] = ("data/", "notebooks/", "spark-logs/")
    else:
        names = (f"{member.principal.private_name}/", "shared/")
    visible = [
        member.key_of(folder + name)
        for name in names
        if (folder + name).startswith(path) and member.decide(Action.LIST, folder + name)
    ]
    return sorted(visible)


def _fixed_page(prefixes: list[str], start_after: str | None, max_keys: int) -> Page:
    remaining = [p for p in prefixes if start_after is None or p > start_after]
    shown = remaining[:max_keys]
    truncated = len(remaining) > len(shown)
    return Page([], shown, truncated, shown[-1] if truncated and shown else None)


def _filtered(member: Member, page: Page) -> Page:
    def visible(key: str, action: Action) -> bool:
        path = member.path_of(member.org.bucket, key)
        if path is not None and action is Action.LIST and not paths.is_folder(path):
            path = paths.parent(path)  # a prefix rolled up by a delimiter other than "/"
        return path is not None and bool(member.decide(action, path))

    return Page(
        [o for o in page.objects if visible(o.key, Action.READ)],
        [p for p in page.prefixes if visible(p, Action.LIST)],
        page.truncated,
        page.next_start_after,
    )
