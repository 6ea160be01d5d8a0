"""`POST /api/token/credentials`: a notebook instance trades its token for fresh credentials.

The token comes as `Authorization: Bearer lkt_...`; the answer carries the AWS
credential_process document, where the S3 endpoint is, and the member's warehouse paths, so
that `lakestow aws-credentials` and `lakestow instance run` need nothing else.
"""

from __future__ import annotations

from typing import Any

import anyio
from starlette.requests import Request
from starlette.responses import JSONResponse

from lakestow.errors import LakestowError, Unauthenticated
from lakestow.services import Services

CREDENTIAL_SECONDS = 3600


def token_endpoint(service: Services, s3_endpoint: str, region: str) -> Any:
    """The Starlette endpoint, bound to the service and the public S3 endpoint."""

    async def token_credentials(request: Request) -> JSONResponse:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return _error(Unauthenticated("send the instance token as 'Authorization: Bearer …'"))
        try:
            member, issued = await anyio.to_thread.run_sync(
                service.credentials.exchange_token, token.strip(), CREDENTIAL_SECONDS
            )
        except LakestowError as exc:
            return _error(exc)
        return JSONResponse(
            {
                "credentials": issued.credential_process(),
                "s3_endpoint": s3_endpoint,
                "region": region,
                "member": {"id": member.id, "name": member.name, "org": member.org.name},
                "paths": member.paths,
            },
            headers={"cache-control": "no-store"},
        )

    return token_credentials


def _error(error: LakestowError) -> JSONResponse:
    status = 401 if isinstance(error, Unauthenticated) else error.status
    return JSONResponse({"error": error.code, "message": error.message}, status_code=status)
