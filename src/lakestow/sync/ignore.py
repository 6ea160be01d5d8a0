"""Which paths of the home directory are never synced: defaults plus `.lakestowignore`.

Rules are gitignore-style (pathspec's GitIgnoreSpec); the root's `.lakestowignore` comes after
the defaults, so a `!pattern` line there re-includes something a default excludes. A scan asks
about every path of the home: while no rule re-includes, the rules are asked as one regex (a
path is ignored exactly when some rule matches it), not one after the other. The defaults'
regex is written out below (`DEFAULT_UNION`, checked against pathspec's by a test), so a home
without a `.lakestowignore` does not import pathspec at all.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pathspec

IGNORE_FILE = ".lakestowignore"
STATE_DIR = ".lakestow"
STATUS_NAME = ".lakestow-sync-status.json"

# node_modules is ignored: recreated by `npm install`, and tens of thousands of small files.
# A restore downloads each file beside its target as `.NAME.lakestow-partial-*` (`restore`):
# one that a killed restore left behind is never synced.
DEFAULT_RULES = (
    f"/{STATE_DIR}/",
    f"/{STATUS_NAME}",
    ".ipynb_checkpoints/",
    "__pycache__/",
    "*.pyc",
    ".cache/",
    "/.local/share/jupyter/runtime/",
    ".virtual_documents/",
    ".Trash-*/",
    "node_modules/",
    "*.lakestow-partial-*",
)


DEFAULT_UNION = (
    r"(?:^\.lakestow(?:/))"
    r"|(?:^\.lakestow\-sync\-status\.json(?:(?:/)|$))"
    r"|(?:^\.local/share/jupyter/runtime(?:/))"
    r"|^(?:.+/)?(?:(?:\.ipynb_checkpoints(?:/))"
    r"|(?:__pycache__(?:/))"
    r"|(?:[^/]*\.pyc(?:(?:/)|$))"
    r"|(?:\.cache(?:/))"
    r"|(?:\.virtual_documents(?:/))"
    r"|(?:\.Trash\-[^/]*(?:/))"
    r"|(?:node_modules(?:/))"
    r"|(?:[^/]*\.lakestow\-partial\-[^/]*(?:(?:/)|$)))"
)
"""`union(DEFAULT_RULES)`, as pathspec compiles them (tests/sync/test_local.py checks it)."""


class IgnoreRules:
    """Decides whether a relative POSIX path (a folder ends in `/`) is ignored."""

    def __init__(self, extra: list[str] | None = None) -> None:
        self.lines = [*DEFAULT_RULES, *(extra or [])]
        self.union = re.compile(DEFAULT_UNION) if not extra else union(self.spec.patterns)

    @cached_property
    def spec(self) -> pathspec.GitIgnoreSpec:
        import pathspec

        return pathspec.GitIgnoreSpec.from_lines(self.lines)

    @classmethod
    def for_home(cls, home: Path) -> IgnoreRules:
        """The defaults plus the home's `.lakestowignore`, if any."""
        try:
            text = (home / IGNORE_FILE).read_text(encoding="utf-8", errors="replace")
        except OSError:
            return cls()
        return cls(text.splitlines())

    def ignored(self, path: str) -> bool:
        """Whether `path` (relative, POSIX, a folder ending in `/`) is ignored."""
        if self.union is not None:
            return self.union.match(path) is not None
        return self.spec.match_file(path)


def union(patterns: Iterable[pathspec.Pattern]) -> re.Pattern[str] | None:
    """One regex matching what any rule matches; None when a rule re-includes (`!`), where
    the last rule matching decides and pathspec must walk them in order."""
    sources = []
    for pattern in patterns:
        if pattern.include is None:  # a blank line or a comment
            continue
        regex = getattr(pattern, "regex", None)
        if not pattern.include or not isinstance(regex, re.Pattern):
            return None
        sources.append(re.sub(r"\(\?P<\w+>", "(?:", regex.pattern))  # no groups needed
    # `^(?:.+/)?A|^(?:.+/)?B` as `^(?:.+/)?(?:A|B)`: the same matches, with one walk back
    # over the path's folders rather than one for each rule
    anywhere = [s.removeprefix(ANY_FOLDER) for s in sources if s.startswith(ANY_FOLDER)]
    rooted = [f"(?:{s})" for s in sources if not s.startswith(ANY_FOLDER)]
    if anywhere:
        rooted.append(ANY_FOLDER + "(?:" + "|".join(f"(?:{s})" for s in anywhere) + ")")
    return re.compile("|".join(rooted) or "(?!)")


ANY_FOLDER = "^(?:.+/)?"
"""How pathspec begins the regex of a rule that applies in any folder."""
