"""The signed-in member's own API: who they are, temporary credentials."""

from __future__ import annotations

import shlex
from typing import Any

import anyio
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from lakestow.auth.credentials import TemporaryCredentials
from lakestow.console.changes import json_body
from lakestow.console.context import Viewer, parse_path, viewer
from lakestow.errors import InvalidInput
from lakestow.services import parse_duration

PROFILE = "lakestow"


def me_document(v: Viewer) -> dict[str, Any]:
    return {
        "id": v.info.id,
        "name": v.info.name,
        "org": v.info.org.name,
        "admin": v.info.admin,
        "root": v.info.org.root_uri,
        "s3_endpoint": v.state.s3_url,
        "home": f"data/{v.info.folder}/",
        "paths": v.info.paths,
    }


async def me(request: Request) -> Response:
    """GET /api/me: the signed-in member and where their folders are."""
    return JSONResponse(me_document(await viewer(request)))


def snippets(v: Viewer, issued: TemporaryCredentials, folder: str) -> dict[str, str]:
    """Ready-to-paste text: a credentials profile, an aws s3 cp command, shell exports."""
    endpoint = v.state.s3_url
    profile = (
        f"[{PROFILE}]\naws_access_key_id = {issued.access_key_id}\n"
        f"aws_secret_access_key = {issued.secret_access_key}\n"
        f"aws_session_token = {issued.session_token}\n"
    )
    target = shlex.quote(v.info.org.uri(folder))
    command = (
        f"aws --profile {PROFILE} --endpoint-url {shlex.quote(endpoint)} "
        f"s3 cp --recursive ./dir {target}"
    )
    exports = {
        "AWS_ACCESS_KEY_ID": issued.access_key_id,
        "AWS_SECRET_ACCESS_KEY": issued.secret_access_key,
        "AWS_SESSION_TOKEN": issued.session_token,
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_DEFAULT_REGION": v.state.runtime.region,
    }
    env = "".join(f"export {k}={shlex.quote(val)}\n" for k, val in exports.items())
    return {"aws_credentials": profile, "aws_cp": command, "env": env}


def _scopes(body: dict[str, Any]) -> tuple[str, ...]:
    scopes = body.get("scopes", [])
    if not isinstance(scopes, list) or len(scopes) > 20:
        raise InvalidInput("scopes must be a list of at most 20 folders")
    if not all(isinstance(s, str) for s in scopes):
        raise InvalidInput("every scope must be a folder path")
    return tuple(parse_path(s, folder=True) for s in scopes)


async def issue(request: Request) -> Response:
    """POST /api/credentials {scopes, read_only, duration}: shown once, audited."""
    v = await viewer(request)
    body = await json_body(request)
    scopes = _scopes(body)
    read_only = body.get("read_only", False)
    if not isinstance(read_only, bool):
        raise InvalidInput("read_only must be true or false")
    duration = body.get("duration", 3600)
    if not isinstance(duration, str | int) or isinstance(duration, bool):
        raise InvalidInput("duration must be seconds or a text like 30m or 1h")
    seconds = parse_duration(duration)
    service = v.state.service(v.actor)
    issued = await anyio.to_thread.run_sync(
        lambda: service.credentials.issue_credentials(
            v.info.name, seconds=seconds, scopes=scopes, read_only=read_only
        )
    )
    folder = scopes[0] if scopes else f"data/{v.info.folder}/"
    document = issued.credential_process()
    return JSONResponse(
        {"credentials": document, "snippets": snippets(v, issued, folder)},
        headers={"cache-control": "no-store"},
    )


ROUTES = [
    Route("/api/me", me, methods=["GET"]),
    Route("/api/credentials", issue, methods=["POST"]),
]
