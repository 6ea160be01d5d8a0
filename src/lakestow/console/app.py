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
from starlette.responses import FileResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from lakestow.catalog.db import CATALOG_UNREACHABLE, unreachable
from lakestow.console import (
    account,
    admin,
    api,
    changes,
    health,
    openapi,
    pages,
    previews,
    restore,
    share,
    signin,
    syncstatus,
    tokens,
    trash,
    uploads,
)
from lakestow.console.context import ConsoleState
from lakestow.errors import InvalidInput, LakestowError
from lakestow.runtime import Runtime

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


SIGN_IN_BODY = 16 * 1024
"""The body of a sign-in or sign-out: a name, a password of at most 1,024 characters, a token."""
JSON_BODY = 4 * 1024 * 1024
"""Any other body but an upload's. The largest legitimate one, POST /api/delete with 1,000 paths
of up to 1,024 bytes, is about 3 MB even as json.dumps writes it (`\\u00e9`: 6 bytes for 2)."""
SIGN_IN_PATHS = frozenset({"/signin", "/signout", "/api/session"})


def body_limit(method: str, path: str) -> int | None:
    """The most bytes a request's body may have. None for the uploads (PUT /api/object and
    PUT /api/uploads/{id}/parts/{n}), which stream into the store, and for GET and HEAD, whose
    bodies no handler reads (a download's disconnect watcher reads and drops them)."""
    if method in ("GET", "HEAD"):
        return None
    if method == "PUT" and (path == "/api/object" or path.startswith("/api/uploads/")):
        return None
    return SIGN_IN_BODY if path in SIGN_IN_PATHS else JSON_BODY


class BodyLimit:
    """Caps every request body as it streams in, before any handler buffers it (DESIGN.md
    section 4). Past its `body_limit`, known from Content-Length before anything is read or from
    the bytes counted so far, reading the body raises a 413 that `render_error` renders; the
    connection then closes, so the rest of the body is never read."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        limit = body_limit(scope["method"], scope["path"]) if scope["type"] == "http" else None
        if limit is None:
            await self.app(scope, receive, send)
            return
        body = _BoundedBody(receive, limit, _content_length(scope))

        async def closing_when_refused(message: Message) -> None:
            if message["type"] == "http.response.start" and body.refused:
                message["headers"] = [*message.get("headers", []), (b"connection", b"close")]
            await send(message)

        await self.app(scope, body.receive, closing_when_refused)


class _BoundedBody:
    """An ASGI `receive` that counts the body's bytes and raises once they pass `limit`."""

    def __init__(self, receive: Receive, limit: int, declared: int | None) -> None:
        self._receive = receive
        self.limit = limit
        self.received = 0
        self.refused = declared is not None and declared > limit

    async def receive(self) -> Message:
        if self.refused:
            raise _too_large(self.limit)
        message = await self._receive()
        self.received += len(message.get("body", b""))
        if self.received > self.limit:
            self.refused = True
            raise _too_large(self.limit)
        return message


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name.lower() == b"content-length" and value.strip().isdigit():
            return int(value)
    return None


def _too_large(limit: int) -> LakestowError:
    size = f"{limit // 1024 // 1024} MiB" if limit >= 1024 * 1024 else f"{limit // 1024} KiB"
    return InvalidInput(
        f"the request body is larger than the {size} this request allows", code="BodyTooLarge"
    )


def _as_lakestow(exc: Exception) -> LakestowError:
    if isinstance(exc, LakestowError):
        return exc
    if isinstance(exc, ClientDisconnect):
        return InvalidInput("the client went away", code="ClientDisconnected")
    if isinstance(exc, HTTPException):
        code = {404: "NotFound", 405: "MethodNotAllowed"}.get(exc.status_code, "BadRequest")
        return LakestowError(str(exc.detail), code=code)
    unavailable = unreachable(exc)
    if unavailable is not None:
        logger.warning("catalog unreachable: %s", (str(exc).splitlines() or [""])[0])
        return unavailable
    logger.error("internal error", exc_info=exc)
    return LakestowError("internal error: the console could not do this; try again")


async def favicon(request: Request) -> Response:
    """/favicon.ico, asked by browsers whatever the page says: the console's icon (SVG)."""
    return FileResponse(STATIC / "favicon.svg", media_type="image/svg+xml")


async def render_error(request: Request, exc: Exception) -> Response:
    """The one error handler of the console."""
    error = _as_lakestow(exc)
    if request.url.path.startswith("/api/"):
        body = {"error": error.code, "message": error.message}
        return JSONResponse(body, status_code=error.status, headers=dict(error.headers))
    if error.status == 401 and request.method == "GET":
        target = quote(request.url.path + ("?" + request.url.query if request.url.query else ""))
        return RedirectResponse(f"/?next={target}", status_code=303)
    page = await pages.error_page(request, error)
    page.headers.update(error.headers)
    return page


def create_console(runtime: Runtime, *, s3_url: str, secure_cookies: bool = False) -> Starlette:
    """The console over `runtime`; `s3_url` is the S3 endpoint as its users reach it."""
    routes = [
        *health.ROUTES,
        *signin.ROUTES,
        *account.ROUTES,
        *previews.ROUTES,
        *share.ROUTES,
        *tokens.ROUTES,
        *api.ROUTES,
        *changes.ROUTES,
        *trash.ROUTES,
        *restore.ROUTES,
        *uploads.ROUTES,
        *admin.ROUTES,
        *syncstatus.ROUTES,
        *openapi.ROUTES,
        *pages.ROUTES,
        Route("/favicon.ico", favicon, methods=["GET"]),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    app = Starlette(
        routes=routes,
        middleware=[Middleware(SecurityHeaders), Middleware(BodyLimit)],
        exception_handlers={
            LakestowError: render_error,
            HTTPException: render_error,
            ClientDisconnect: render_error,
            CATALOG_UNREACHABLE: render_error,  # a 503, handled without a traceback logged
            Exception: render_error,
        },
    )
    app.state.console = ConsoleState(runtime, s3_url, secure_cookies)
    return app
