"""What a pass is tuned by and what it reports: the light types the agent shares with `apply`,
here so that a pass with nothing to do (most of them) never imports `apply` or `remote`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

MiB = 1 << 20
ReadHook = Callable[[str, int], None]
"""Called after each block read from a file being uploaded: (path, bytes read so far)."""


@dataclass(frozen=True)
class Tuning:
    """Transfer sizes: files above `multipart_threshold` go in `part_size` parts."""

    part_size: int = 8 * MiB
    multipart_threshold: int = 8 * MiB
    workers: int = 32


@dataclass
class PassResult:
    """What one pass did."""

    uploaded: list[str] = field(default_factory=list)
    touched: list[str] = field(default_factory=list)  # metadata alone updated
    deleted: list[str] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)
    retry: list[str] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)
    refused: str | None = None
    files: int = 0
    requests: int = 0
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.errors and self.refused is None

    def line(self) -> str:
        """The one log line of a pass."""
        text = (
            f"sync pass: {len(self.uploaded)} uploaded, {len(self.deleted)} deleted,"
            f" {len(self.conflicts)} kept aside, {len(self.retry)} to retry,"
            f" {len(self.errors)} errors; {self.files} files, {self.requests} requests,"
            f" {self.seconds:.2f} s"
        )
        if self.touched:
            text = text.replace(" uploaded,", f" uploaded ({len(self.touched)} metadata only),")
        if self.errors:
            path, error = next(iter(self.errors.items()))
            text += f"; first error: {path}: {error}"
        return text + (f"; {self.refused}" if self.refused else "")
