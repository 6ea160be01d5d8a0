"""`create_console`: the console's ASGI app, assembled from explicit routes and one error handler.

Every error, whether raised by lakestow (a `LakestowError`), by routing (404, 405) or by a bug,
is rendered by `render_error`: JSON `{"error": code, "message": ...}` under /api/, an HTML page
elsewhere, and the sign-in form for a page that needs a session.
"""

from __future__ import annotations

import logging
from pathlib import Path
from urllib.parse import quote

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from lakestow.console import (
    account,
    admin,
    api,
    changes,
    openapi,
    pages,
    signin,
    syncstatus,
    uploads,
)
from lakestow.console.context import ConsoleState
from lakestow.errors import LakestowError

logger = logging.getLogger("lakestow.console")
STATIC = Path(__file__).parent / "static"
SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
    (
        b"content-security-policy",
        b"default-src 'self'; img-src 'self' data:; object-src 'none'; frame-ancestors 'none'",
    ),
]


class SecurityHeaders:
    """Adds headers that keep the browser from sniffing, framing or running foreign scripts."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *SECURITY_HEADERS]
            await send(message)

        await self.app(scope, receive, with_headers if scope["type"] == "http" else send)


def _as_lakestow(exc: Exception) -> LakestowError:
    if isinstance(exc, LakestowError):
        return exc
    if isinstance(exc, ClientDisconnect):
        return LakestowError("the client went away", code="ClientDisconnected", status=400)
    if isinstance(exc, HTTPException):
        code = {404: "NotFound", 405: "MethodNotAllowed"}.get(exc.status_code, "BadRequest")
        return LakestowError(str(exc.detail), code=code, status=exc.status_code)
    logger.error("internal error", exc_info=exc)
    return LakestowError("internal error: the console could not do this; try again")


async def render_error(request: Request, exc: Exception) -> Response:
    """The one error handler of the console."""
    error = _as_lakestow(exc)
    if request.url.path.startswith("/api/"):
        body = {"error": error.code, "message": error.message}
        return JSONResponse(body, status_code=error.status)
    if error.status == 401 and request.method == "GET":
        target = quote(request.url.path + ("?" + request.url.query if request.url.query else ""))
        return RedirectResponse(f"/?next={target}", status_code=303)
    return pages.error_page(request, error)


def create_console(state: ConsoleState) -> Starlette:
    routes = [
        *signin.ROUTES,
        *account.ROUTES,
        *api.ROUTES,
        *changes.ROUTES,
        *uploads.ROUTES,
        *admin.ROUTES,
        *syncstatus.ROUTES,
        *openapi.ROUTES,
        *pages.ROUTES,
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    app = Starlette(
        routes=routes,
        middleware=[Middleware(SecurityHeaders)],
        exception_handlers={
            LakestowError: render_error,
            HTTPException: render_error,
            ClientDisconnect: render_error,
            Exception: render_error,
        },
    )
    app.state.console = state
    return app
