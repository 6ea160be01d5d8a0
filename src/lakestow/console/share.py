"""Share links: a presigned S3 GET URL of one file, for anyone who has the link, until it expires.

    POST /api/share {"path": "data/customer-2/report.csv", "expires_in": "1d"}
      -> {"url": "https://s3.example/lakestow/acme/data/...?X-Amz-...", "expires": "...",
          "access_key_id": "ASIA..."}

The URL is signed with read-only credentials issued for that file alone (the service checks
that the member may read it, and audits the issue); their secret never leaves the server, so
the URL allows that one GET and nothing else. Up to 7 days, S3's limit for a presigned URL.
Revoked like any credentials (`lakestow credentials revoke --access-key-id`), and void once
the member is disabled.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import anyio
from botocore.auth import S3SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from lakestow import paths
from lakestow.auth.credentials import TemporaryCredentials
from lakestow.auth.policy import Action
from lakestow.console.changes import json_body
from lakestow.console.context import Viewer, parse_path, viewer
from lakestow.errors import InvalidInput
from lakestow.services import parse_duration
from lakestow.services.credentials import SHARE_MAX


async def share(request: Request) -> Response:
    """POST /api/share {path, expires_in}: a share link of a file the member may read."""
    v = await viewer(request)
    body = await json_body(request)
    path = parse_path(body.get("path") if isinstance(body.get("path"), str) else None)
    if not path or paths.is_folder(path):
        raise InvalidInput("give the path of a file: a folder cannot be shared by a link")
    expires_in = body.get("expires_in", 86400)
    if not isinstance(expires_in, str | int) or isinstance(expires_in, bool):
        raise InvalidInput("expires_in must be seconds or a text like 12h or 7d")
    seconds = parse_duration(expires_in, longest=SHARE_MAX)
    v.authorize(Action.READ, path)
    await v.state.runtime.store.head(v.bucket, v.key(path))  # NoSuchKey: nothing to share
    service = v.state.service(v.actor)
    issued = await anyio.to_thread.run_sync(
        lambda: service.credentials.issue_share(v.info.name, path, seconds=seconds)
    )
    return JSONResponse(
        {
            "url": presigned_get(v, path, issued, seconds),
            "expires": issued.expiration.isoformat(),
            "access_key_id": issued.access_key_id,
        },
        headers={"cache-control": "no-store"},
    )


def presigned_get(v: Viewer, path: str, issued: TemporaryCredentials, seconds: int) -> str:
    """A SigV4 query-signed GET of `path` on the public S3 endpoint, path-style, as botocore
    presigns one (its signer, so the URL is what any AWS SDK would make)."""
    url = f"{v.state.s3_url.rstrip('/')}/{v.bucket}/{quote(v.key(path), safe='/~')}"
    request = AWSRequest(method="GET", url=url)
    credentials = Credentials(issued.access_key_id, issued.secret_access_key, issued.session_token)
    region = v.state.runtime.region
    S3SigV4QueryAuth(credentials, "s3", region, expires=seconds).add_auth(request)
    signed: Any = request.url
    return str(signed)


ROUTES = [Route("/api/share", share, methods=["POST"])]
