"""Signing in and out: the HTML form at `/` and its JSON twin at `/api/session`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

import anyio
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from lakestow.console import pages, sessions
from lakestow.console.changes import json_body, str_field
from lakestow.console.context import ConsoleState, state_of, viewer
from lakestow.console.throttle import LockedOut
from lakestow.errors import AccessDenied, InvalidInput, LakestowError

Endpoint = Callable[[Request], Awaitable[Response]]


def set_cookie(response: Response, state: ConsoleState, session_id: str) -> None:
    response.set_cookie(
        sessions.COOKIE,
        session_id,
        max_age=int(sessions.LIFETIME.total_seconds()),
        path="/",
        secure=state.secure_cookies,
        httponly=True,
        samesite="lax",
    )


def safe_next(target: str | None) -> str:
    """Only a path on this console: never `//elsewhere` or `https://elsewhere`."""
    if target and target.startswith("/") and not target.startswith(("//", "/\\")):
        return target
    return "/browse/"


def check_origin(request: Request) -> None:
    """Refuse a sign-in posted from another site (login CSRF): there is no token yet."""
    origin = request.headers.get("origin")
    if origin and urlsplit(origin).netloc != request.headers.get("host"):
        raise AccessDenied("Access denied: sign in from the console's own page")


async def _sign_in(request: Request, name: str, password: str) -> sessions.Opened:
    check_origin(request)
    if not name or not password or len(password) > 1024:
        raise InvalidInput("give your name and password")
    host = request.client.host if request.client else None  # uvicorn decides about proxies
    return await anyio.to_thread.run_sync(
        sessions.sign_in, state_of(request).catalog, name, password, host
    )


def _says_when(endpoint: Endpoint) -> Endpoint:
    """A locked-out sign-in through the API is answered 429 with `Retry-After`."""

    async def answer(request: Request) -> Response:
        try:
            return await endpoint(request)
        except LockedOut as exc:
            body = {"error": exc.code, "message": exc.message}
            response = JSONResponse(body, status_code=exc.status)
            response.headers["Retry-After"] = str(exc.retry_after)
            return response

    return answer


async def form_sign_in(request: Request) -> Response:
    """POST /signin (form: name, password, next). A refused sign-in shows the form again,
    the name kept (never the password)."""
    form = await request.form()
    name, password = str(form.get("name") or ""), str(form.get("password") or "")
    target = str(form.get("next") or "")
    try:
        opened = await _sign_in(request, name, password)
    except LakestowError as exc:
        if exc.status not in (400, 401, 429):
            raise
        page = pages.render(
            request, "signin.html", exc.status, error=exc.message, next=target, username=name[:200]
        )
        if isinstance(exc, LockedOut):
            page.headers["Retry-After"] = str(exc.retry_after)
        return page
    response = RedirectResponse(safe_next(target), status_code=303)
    set_cookie(response, state_of(request), opened.session_id)
    return response


async def form_sign_out(request: Request) -> Response:
    """POST /signout (form: csrf)."""
    v = await viewer(request, csrf=False)
    form = await request.form()
    sessions.check_csrf(v.session, str(form.get("csrf") or ""))
    await anyio.to_thread.run_sync(sessions.sign_out, v.state.catalog, v.session.session_id)
    response = RedirectResponse("/", status_code=303)
    response.delete_cookie(sessions.COOKIE, path="/")
    return response


async def api_sign_in(request: Request) -> Response:
    """POST /api/session {name, password}: sets the session cookie; the CSRF token to send."""
    body = await json_body(request)
    opened = await _sign_in(request, str_field(body, "name"), str_field(body, "password"))
    response = JSONResponse({"csrf_token": opened.csrf_token}, status_code=201)
    set_cookie(response, state_of(request), opened.session_id)
    return response


async def api_sign_out(request: Request) -> Response:
    """DELETE /api/session: ends this session."""
    v = await viewer(request)
    await anyio.to_thread.run_sync(sessions.sign_out, v.state.catalog, v.session.session_id)
    response = JSONResponse({"signed_out": True})
    response.delete_cookie(sessions.COOKIE, path="/")
    return response


ROUTES = [
    Route("/signin", form_sign_in, methods=["POST"]),
    Route("/signout", form_sign_out, methods=["POST"]),
    Route("/api/session", _says_when(api_sign_in), methods=["POST"]),
    Route("/api/session", api_sign_out, methods=["DELETE"]),
]
