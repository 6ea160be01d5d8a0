"""The warehouse policy against DESIGN.md section 1, written out again here independently."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lakestow.auth.policy import SPARK_LOGS_WARNING, Action, Principal, Target, decide

ORG, OTHER_ORG = 1, 2
OWNER = Principal(member_id=1, org_id=ORG)
PEOPLE = {
    "owner": OWNER,
    "colleague": Principal(member_id=2, org_id=ORG),
    "admin": Principal(member_id=4, org_id=ORG, admin=True),
    "foreigner": Principal(member_id=3, org_id=OTHER_ORG),
    "disabled owner": Principal(member_id=1, org_id=ORG, disabled=True),
}
EVERYONE = {"owner", "colleague", "admin"}  # the members of organization 1 who are enabled
ONLY_OWNER = {"owner"}
NOBODY: set[str] = set()

# folder -> (who may list it and read files in it, who may create and delete in it)
TABLE = {
    "": (EVERYONE, NOBODY),
    "data/": (EVERYONE, NOBODY),
    "notebooks/": (EVERYONE, NOBODY),
    "data/customer-1/": (ONLY_OWNER, ONLY_OWNER),
    "data/customer-1/deep/er/": (ONLY_OWNER, ONLY_OWNER),
    "notebooks/customer-1/": (ONLY_OWNER, ONLY_OWNER),
    "notebooks/customer-1/.ipynb_checkpoints/": (ONLY_OWNER, ONLY_OWNER),
    "data/shared/": (EVERYONE, EVERYONE),
    "data/shared/team/x/": (EVERYONE, EVERYONE),
    "notebooks/shared/": (EVERYONE, EVERYONE),
    "spark-logs/": (EVERYONE, EVERYONE),
    "spark-logs/app-1/": (EVERYONE, EVERYONE),
    # outside the layout: nothing for anybody
    "data/other/": (NOBODY, NOBODY),
    "elsewhere/": (NOBODY, NOBODY),
    "data/customer-99/": (NOBODY, NOBODY),
    "data/customer-01/": (NOBODY, NOBODY),
    "shared/": (NOBODY, NOBODY),
}

CASES = [
    (who, folder, action)
    for who in PEOPLE
    for folder in TABLE
    for action in ("list", "read", "write", "delete", "mkdir", "rmdir")
]


FOLDERS_ONLY = {"", "data/", "notebooks/"}
"""The read-only rows hold the fixed layout only: a file in one (only an operator can put it
there) is listed to nobody, so nobody reads it either (else the differential isolation test
finds it: readable, yet in no listing)."""


def _expected(who: str, folder: str, action: str) -> bool:
    readers, writers = TABLE[folder]
    if action == "read" and folder in FOLDERS_ONLY:
        return False
    return who in (readers if action in ("list", "read") else writers)


def _decide(who: str, folder: str, action: str) -> bool:
    principal = PEOPLE[who]
    target = {
        "list": (Action.LIST, folder),
        "read": (Action.READ, folder + "file.csv"),
        "write": (Action.WRITE, folder + "file.csv"),
        "delete": (Action.DELETE, folder + "file.csv"),
        "mkdir": (Action.WRITE, folder + "new/"),
        "rmdir": (Action.DELETE, folder + "old/"),
    }
    act, path = target[action]
    decision = decide(principal, act, Target(ORG, path))
    assert decision.reason, "every decision carries a reason"
    return decision.allowed


@pytest.mark.parametrize(("who", "folder", "action"), CASES)
def test_permission_table(who: str, folder: str, action: str) -> None:
    assert _decide(who, folder, action) is _expected(who, folder, action)


@pytest.mark.parametrize(
    "layout_folder",
    ["data/", "notebooks/", "spark-logs/", "data/shared/", "data/customer-1/", "notebooks/shared/"],
)
@pytest.mark.parametrize("action", [Action.WRITE, Action.DELETE])
def test_layout_folders_themselves_cannot_be_made_or_removed(
    layout_folder: str, action: Action
) -> None:
    assert not decide(OWNER, action, Target(ORG, layout_folder))
    assert not decide(OWNER, action, Target(ORG, ""))


def test_a_file_named_like_a_writable_folder_is_still_in_the_read_only_root() -> None:
    assert not decide(OWNER, Action.WRITE, Target(ORG, "spark-logs"))
    assert not decide(OWNER, Action.WRITE, Target(ORG, "data/shared"))


def test_a_folder_marker_is_read_as_the_folder_itself() -> None:
    assert decide(OWNER, Action.READ, Target(ORG, "data/customer-1/"))
    assert not decide(PEOPLE["colleague"], Action.READ, Target(ORG, "data/customer-1/"))


def test_another_members_folder_reads_like_a_member_that_does_not_exist() -> None:
    colleague = PEOPLE["colleague"]
    existing = decide(colleague, Action.READ, Target(ORG, "data/customer-1/a.csv"))
    missing = decide(colleague, Action.READ, Target(ORG, "data/customer-777/a.csv"))
    assert not existing and not missing
    assert existing.reason.replace("customer-1", "X") == missing.reason.replace("customer-777", "X")


def test_spark_logs_carry_the_warning() -> None:
    decision = decide(OWNER, Action.WRITE, Target(ORG, "spark-logs/app/part-0"))
    assert decision and decision.warning == SPARK_LOGS_WARNING
    assert decide(OWNER, Action.WRITE, Target(ORG, "data/shared/x")).warning is None


def test_list_of_an_object_path_is_refused() -> None:
    assert not decide(OWNER, Action.LIST, Target(ORG, "data/customer-1/file.csv"))


def test_read_only_credentials_read_but_never_change() -> None:
    reader = Principal(member_id=1, org_id=ORG, read_only=True)
    assert decide(reader, Action.READ, Target(ORG, "data/customer-1/a"))
    for action in (Action.WRITE, Action.DELETE):
        decision = decide(reader, action, Target(ORG, "data/customer-1/a"))
        assert not decision and "read-only" in decision.reason


def test_scoped_credentials_reach_their_folders_and_the_way_down_only() -> None:
    scoped = Principal(member_id=1, org_id=ORG, scopes=("data/customer-1/proj/",))
    allowed = [
        (Action.WRITE, "data/customer-1/proj/x.parquet"),
        (Action.READ, "data/customer-1/proj/sub/y"),
        (Action.LIST, "data/customer-1/proj/sub/"),
        (Action.LIST, ""),
        (Action.LIST, "data/"),
        (Action.LIST, "data/customer-1/"),
    ]
    refused = [
        (Action.WRITE, "data/customer-1/other.csv"),
        (Action.READ, "data/customer-1/other.csv"),
        (Action.LIST, "data/customer-1/project2/"),
        (Action.LIST, "data/shared/"),
        (Action.WRITE, "data/shared/x"),
        (Action.READ, "x.csv"),
    ]
    for action, path in allowed:
        assert decide(scoped, action, Target(ORG, path)), (action, path)
    for action, path in refused:
        decision = decide(scoped, action, Target(ORG, path))
        assert not decision, (action, path)


def test_scope_never_widens() -> None:
    scoped = Principal(member_id=2, org_id=ORG, scopes=("data/customer-1/",))
    assert not decide(scoped, Action.READ, Target(ORG, "data/customer-1/a"))


# Generated paths: pieces chosen to look like a way into somebody else's folder.
TRICKY_SEGMENTS = [
    "data",
    "notebooks",
    "shared",
    "spark-logs",
    "customer-1",
    "customer-2",
    "customer-01",
    "customer-1 ",
    "customer-１",
    "ｄata",
    "Data",
    "customer-1%2F..",
    "%2e%2e",
    "..",
    ".",
    "",
    "customer-1\x00",
    "customer-1\u200b",
    "customer-+1",
    "x",
    "a.csv",
    "\u2024\u2024",
]

WRITABLE_BY_OWNER = (
    "data/customer-1/",
    "notebooks/customer-1/",
    "data/shared/",
    "notebooks/shared/",
    "spark-logs/",
)
READABLE_ROOTS = ("", "data/", "notebooks/")


@st.composite
def tricky_paths(draw: st.DrawFn) -> str:
    parts = draw(
        st.lists(st.one_of(st.sampled_from(TRICKY_SEGMENTS), st.text(max_size=4)), max_size=5)
    )
    path = "/".join(parts)
    if draw(st.booleans()):
        path += "/"
    if draw(st.booleans()):
        path = "/" + path
    return path


def _well_formed(path: str) -> bool:
    names = path[:-1].split("/") if path.endswith("/") else path.split("/")
    return path == "" or (
        all(n not in ("", ".", "..") for n in names)
        and not any(ord(c) < 32 or ord(c) == 127 for c in path)
    )


@settings(max_examples=3000, deadline=None)
@given(path=tricky_paths(), action=st.sampled_from(list(Action)))
def test_generated_paths_never_escape_the_owners_rights(path: str, action: Action) -> None:
    decision = decide(OWNER, action, Target(ORG, path))
    if not decision:
        return
    assert _well_formed(path), path
    if action in (Action.WRITE, Action.DELETE):
        assert any(path.startswith(f) and path != f for f in WRITABLE_BY_OWNER), path
    else:
        assert _owner_may_see(path), path


def _owner_may_see(path: str) -> bool:
    if path.startswith(WRITABLE_BY_OWNER):
        return True
    # a read-only root itself, or a file directly in it
    return any(path.startswith(root) and "/" not in path[len(root) :] for root in READABLE_ROOTS)


@settings(max_examples=1000, deadline=None)
@given(path=tricky_paths(), action=st.sampled_from(list(Action)))
def test_generated_paths_never_open_a_foreign_organization(path: str, action: Action) -> None:
    assert not decide(PEOPLE["foreigner"], action, Target(ORG, path))
    assert not decide(PEOPLE["disabled owner"], action, Target(ORG, path))


@settings(max_examples=1000, deadline=None)
@given(path=tricky_paths(), action=st.sampled_from(list(Action)))
def test_generated_paths_never_reach_another_members_private_folder(
    path: str, action: Action
) -> None:
    colleague = PEOPLE["colleague"]
    if path.startswith(("data/customer-1/", "notebooks/customer-1/")):
        assert not decide(colleague, action, Target(ORG, path))


def test_fixed_folders_are_the_layout_the_member_can_see() -> None:
    from lakestow.auth.policy import is_fixed_folder

    fixed = [
        "",
        "data/",
        "notebooks/",
        "spark-logs/",
        "data/shared/",
        "notebooks/shared/",
        "data/customer-1/",
        "notebooks/customer-1/",
    ]
    for path in fixed:
        assert is_fixed_folder(OWNER, ORG, path), path
    for path in [
        "data/customer-2/",
        "data/customer-1/sub/",
        "data/shared/x/",
        "elsewhere/",
        "data/customer-1",
        "spark-logs/app/",
    ]:
        assert not is_fixed_folder(OWNER, ORG, path), path
    assert not is_fixed_folder(PEOPLE["foreigner"], ORG, "data/")
