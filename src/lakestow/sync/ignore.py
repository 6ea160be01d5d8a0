"""Which paths of the home directory are never synced: defaults plus `.lakestowignore`.

Rules are gitignore-style (pathspec's GitIgnoreSpec); the root's `.lakestowignore` comes after
the defaults, so a `!pattern` line there re-includes something a default excludes.
"""

from __future__ import annotations

from pathlib import Path

import pathspec

IGNORE_FILE = ".lakestowignore"
STATE_DIR = ".lakestow"
STATUS_NAME = ".lakestow-sync-status.json"

# node_modules is ignored: recreated by `npm install`, and tens of thousands of small files.
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
)


class IgnoreRules:
    """Decides whether a relative POSIX path (a folder ends in `/`) is ignored."""

    def __init__(self, extra: list[str] | None = None) -> None:
        self.spec = pathspec.GitIgnoreSpec.from_lines([*DEFAULT_RULES, *(extra or [])])

    @classmethod
    def for_home(cls, home: Path) -> IgnoreRules:
        """The defaults plus the home's `.lakestowignore`, if any."""
        try:
            text = (home / IGNORE_FILE).read_text(encoding="utf-8", errors="replace")
        except OSError:
            return cls()
        return cls(text.splitlines())

    def ignored(self, path: str) -> bool:
        return self.spec.match_file(path)
