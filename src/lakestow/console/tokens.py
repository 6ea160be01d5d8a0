"""`POST /api/token/credentials`: a notebook instance trades its token for fresh credentials.

The token comes as `Authorization: Bearer lkt_...` (no session: the instance token is the
credential); the answer carries the AWS credential_process document, where the S3 endpoint is,
and the member's warehouse paths, so that `lakestow aws-credentials` and `lakestow instance
run` need nothing else. Errors are the console's (JSON `{error, message}`); a token that cannot
be trusted is a 401, as a missing session is.
"""

from __future__ import annotations

import anyio
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from lakestow.console.context import state_of
from lakestow.errors import SignInRequired, Unauthenticated

CREDENTIAL_SECONDS = 3600


async def token_credentials(request: Request) -> JSONResponse:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        message = "send the instance token as 'Authorization: Bearer …'"
        raise SignInRequired(message)
    state = state_of(request)
    service = state.service("lakestow:console")
    try:
        member, issued = await anyio.to_thread.run_sync(
            service.credentials.exchange_token, token.strip(), CREDENTIAL_SECONDS
        )
    except Unauthenticated as exc:  # the S3 endpoint's 403; over HTTP with a bearer, 401
        raise SignInRequired(exc.message) from exc
    return JSONResponse(
        {
            "credentials": issued.credential_process(),
            "s3_endpoint": state.s3_url,
            "region": state.runtime.region,
            "member": {"id": member.id, "name": member.name, "org": member.org.name},
            "paths": member.paths,
        },
        headers={"cache-control": "no-store"},
    )


ROUTES = [Route("/api/token/credentials", token_credentials, methods=["POST"])]
