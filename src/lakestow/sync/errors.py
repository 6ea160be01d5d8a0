"""The sync agent's errors, a closed set that callers act on.

SyncError                 anything the agent reports as one readable line
  +- RemoteError          an S3 request failed (code, message)
  |    +- PreconditionFailed   412: the remote copy is not the one we expected
  |    +- NotFound             the key does not exist
  +- GuardRefused         the plan would delete most of the remote copy
"""

from __future__ import annotations


class SyncError(Exception):
    """An error of the sync agent, with a message fit for one log line."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class RemoteError(SyncError):
    """An S3 request failed."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code


class PreconditionFailed(RemoteError):
    """The endpoint answered 412 to an If-Match / If-None-Match request."""


class NotFound(RemoteError):
    """The key (or the multipart upload) does not exist."""


class GuardRefused(SyncError):
    """The plan would delete more than half of the remote copy and was not forced."""
