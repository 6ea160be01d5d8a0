"""What a notebook instance asks the lakestow server: credentials in exchange for its token."""

from __future__ import annotations

import json
import stat
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from lakestow.errors import InvalidInput, LakestowError, Unauthenticated

TOKEN_EXCHANGE_PATH = "/api/token/credentials"  # noqa: S105 (a path, not a secret)


def read_token(path: Path) -> str:
    """The instance token in `path`; refused, as ssh refuses a private key, when the file is
    open to anyone but its owner (`lakestow token issue --output` writes it 0600)."""
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise InvalidInput(
            f"the token file {path} is open to others (mode {mode:04o}): it is a secret; "
            f"make it private with `chmod 600 {path}`"
        )
    return path.read_text().strip()


def exchange_token(server: str, token: str, timeout: float = 30) -> dict[str, Any]:
    """POST the token to the server; the answer holds `credentials` (a credential_process
    document), `s3_endpoint`, `region` and the member's `paths`."""
    request = urllib.request.Request(  # noqa: S310 (the URL is the operator's own server)
        server.rstrip("/") + TOKEN_EXCHANGE_PATH,
        method="POST",
        headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
        data=b"{}",
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            document: dict[str, Any] = json.load(response)
            return document
    except urllib.error.HTTPError as exc:
        message = _message(exc)
        if exc.code in (401, 403):
            raise Unauthenticated(f"the server refused the token: {message}") from exc
        raise LakestowError(f"the server answered {exc.code}: {message}") from exc
    except (urllib.error.URLError, OSError) as exc:
        raise LakestowError(f"cannot reach the lakestow server at {server}: {exc}") from exc


def _message(error: urllib.error.HTTPError) -> str:
    try:
        return str(json.load(error).get("message", error.reason))
    except (ValueError, AttributeError):
        return str(error.reason)
