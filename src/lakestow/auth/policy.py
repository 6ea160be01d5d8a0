"""The warehouse policy: one pure function from (principal, action, target) to a decision.

The permission table of DESIGN.md section 1 is `AREAS`, written as data. Every key lives in a
folder; an area governs a folder (and, for subtree areas, every folder below it):
- LIST of a folder, and READ of a folder marker, need the folder's readers;
- READ of an object needs the readers of the folder it is in;
- WRITE and DELETE of any key (object or folder marker) need the writers of the folder it is in,
  so nobody creates or removes anything directly in a read-only root.

A folder that matches no area is outside the layout: nobody may do anything there. Another
member's private folder and a private folder of a member who does not exist get the same
answer, since the policy never asks which members exist.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from enum import Enum, StrEnum

from lakestow import paths
from lakestow.errors import InvalidKey


class Action(StrEnum):
    LIST = "list"
    READ = "read"
    WRITE = "write"
    DELETE = "delete"


class Who(Enum):
    NOBODY = "nobody"
    OWNER = "the owner"
    MEMBER = "every member"


PRIVATE = "customer-<id>"
_PRIVATE_NAME = re.compile(r"customer-[1-9][0-9]{0,17}", re.ASCII)
SPARK_LOGS_WARNING = (
    "/spark-logs/ is shared by every member and written by running Spark jobs: "
    "changing or deleting files here can break other members' jobs."
)


@dataclass(frozen=True)
class Area:
    """A row of the permission table."""

    name: str
    pattern: tuple[str, ...]
    subtree: bool
    readers: Who
    writers: Who
    badge: str
    warning: str | None = None


_ALL, _OWNER, _NONE = Who.MEMBER, Who.OWNER, Who.NOBODY

# fmt: off
AREAS: tuple[Area, ...] = (
    #    name                          pattern                  subtree readers writers badge
    Area("the warehouse root",         (),                      False, _ALL,   _NONE,  "read-only"),
    Area("/data/",                     ("data",),               False, _ALL,   _NONE,  "read-only"),
    Area("/notebooks/",                ("notebooks",),          False, _ALL,   _NONE,  "read-only"),
    Area("a private data folder",      ("data", PRIVATE),       True,  _OWNER, _OWNER, "private"),
    Area("a private notebooks folder", ("notebooks", PRIVATE),  True,  _OWNER, _OWNER, "private"),
    Area("/data/shared/",              ("data", "shared"),      True,  _ALL,   _ALL,   "shared"),
    Area("/notebooks/shared/",         ("notebooks", "shared"), True,  _ALL,   _ALL,   "shared"),
    Area("/spark-logs/",               ("spark-logs",),         True,  _ALL,   _ALL,   "shared",
         SPARK_LOGS_WARNING),
)
# fmt: on


@dataclass(frozen=True)
class Principal:
    """A member as their credentials present them: scopes and read-only narrow, never widen."""

    member_id: int
    org_id: int
    admin: bool = False
    disabled: bool = False
    scopes: tuple[str, ...] = ()
    read_only: bool = False

    @property
    def private_name(self) -> str:
        return f"customer-{self.member_id}"


@dataclass(frozen=True)
class Target:
    """A warehouse path of one organization."""

    org_id: int
    path: str


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str
    area: Area | None = None

    @property
    def warning(self) -> str | None:
        return self.area.warning if self.area else None

    def __bool__(self) -> bool:
        return self.allowed


def decide(principal: Principal, action: Action, target: Target) -> Decision:
    """May `principal` do `action` on `target`? Always answers, with the reason why."""
    path = target.path
    if principal.disabled:
        return Decision(False, "the member is disabled")
    if target.org_id != principal.org_id:
        return Decision(False, "the path is outside your organization")
    if not _well_formed(path):
        return Decision(False, f"{path!r} is not a valid warehouse path")
    if action is Action.LIST and not paths.is_folder(path):
        return Decision(False, f"/{path} is not a folder")
    governs_itself = paths.is_folder(path) and action in (Action.LIST, Action.READ)
    folder = path if governs_itself else paths.parent(path)
    narrowed = _narrowed(principal, action, path, folder)
    if narrowed is not None:
        return narrowed
    decision = _by_area(principal, action, folder)
    area = decision.area
    if decision and action is Action.READ and not governs_itself and area and not area.subtree:
        # The read-only rows hold only the fixed layout: nothing of a member's can be there,
        # and a file that is (an operator's) is listed to nobody, so it is read by nobody.
        return Decision(False, f"{area.name} holds folders only: /{path} is not one", area)
    return decision


def is_fixed_folder(principal: Principal, org_id: int, path: str) -> bool:
    """Whether `path` is a folder of the fixed layout that `principal` can see (`data/`,
    `data/shared/`, their own `data/customer-<id>/`, ...): it always exists, marker or not."""
    if not paths.is_folder(path) or not decide(principal, Action.LIST, Target(org_id, path)):
        return False
    area = area_of(principal, path)
    return area is not None and len(area.pattern) == len(paths.segments(path))


@functools.lru_cache(maxsize=4096)
def subtrees(principal: Principal, action: Action) -> tuple[str, ...]:
    """The folders below which `principal` may do `action` on every key, in key order, none
    inside another: the rows of the table that govern a subtree, narrowed by the scopes.

    Nothing can be written outside them (the other rows are read-only and hold only the
    fixed layout), so they are where every key the principal may see or change lives: a
    listing is the merge of theirs, never a filtered listing of the whole bucket.
    """
    if principal.disabled or (principal.read_only and action in (Action.WRITE, Action.DELETE)):
        return ()
    readers = action in (Action.LIST, Action.READ)
    roots = [
        "".join(f"{principal.private_name if name == PRIVATE else name}/" for name in area.pattern)
        for area in AREAS
        if area.subtree and (area.readers if readers else area.writers) is not Who.NOBODY
    ]
    if principal.scopes:
        roots = [
            scope if scope.startswith(root) else root
            for root in roots
            for scope in principal.scopes
            if scope.startswith(root) or root.startswith(scope)
        ]
    outermost = {r for r in roots if not any(r != o and r.startswith(o) for o in roots)}
    return tuple(sorted(outermost))


def area_of(principal: Principal, folder: str) -> Area | None:
    """The row of the table that governs `folder`, from `principal`'s point of view."""
    names = paths.segments(folder)
    best: Area | None = None
    for area in AREAS:
        more_specific = best is None or len(area.pattern) > len(best.pattern)
        if more_specific and _matches(area, names, principal):
            best = area
    return best


@functools.lru_cache(maxsize=4096)
def _by_area(principal: Principal, action: Action, folder: str) -> Decision:
    # Cached: requests come folder by folder, and a decision is a pure function of these.
    area = area_of(principal, folder)
    if area is None:
        owner = _foreign_private(folder, principal)
        if owner:
            return Decision(False, f"/{owner}/ is another member's private folder")
        return Decision(False, f"/{folder} is outside the warehouse layout")
    who = area.readers if action in (Action.LIST, Action.READ) else area.writers
    verb = {"list": "list", "read": "read", "write": "write to", "delete": "delete in"}[action]
    if who is Who.NOBODY:
        return Decision(False, f"{area.name} is read-only: nobody may {verb} it directly", area)
    return Decision(True, f"{who.value} may {verb} {area.name}", area)


def _narrowed(principal: Principal, action: Action, path: str, folder: str) -> Decision | None:
    """A refusal due to the credentials' scope or read-only flag, else None."""
    if principal.read_only and action in (Action.WRITE, Action.DELETE):
        return Decision(False, "these credentials are read-only")
    if not principal.scopes:
        return None
    for scope in principal.scopes:
        if path.startswith(scope):
            return None
        looking = action in (Action.LIST, Action.READ) and paths.is_folder(path)
        if looking and scope.startswith(folder):
            return None  # an ancestor of a scope: listings on the way down
    return Decision(False, "the path is outside the scope of these credentials")


def _matches(area: Area, names: tuple[str, ...], principal: Principal) -> bool:
    if len(names) < len(area.pattern) or (not area.subtree and len(names) != len(area.pattern)):
        return False
    for want, have in zip(area.pattern, names, strict=False):
        expected = principal.private_name if want == PRIVATE else want
        if have != expected:
            return False
    return True


def _foreign_private(folder: str, principal: Principal) -> str | None:
    names = paths.segments(folder)
    if len(names) >= 2 and names[0] in ("data", "notebooks") and _PRIVATE_NAME.fullmatch(names[1]):
        return f"{names[0]}/{names[1]}"
    return None


def _well_formed(path: str) -> bool:
    if path == "":
        return True
    try:
        paths.validate_key(path)
    except InvalidKey:
        return False
    return not path.startswith("/")
