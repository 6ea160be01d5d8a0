"""The HTML pages: sign-in, the browser, temporary credentials and the admin page.

Pages are rendered by Jinja2 with autoescaping, so names of files are always text, never HTML;
the JavaScript in static/ does the actions through the JSON API with the page's CSRF token.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route
from starlette.templating import Jinja2Templates

from lakestow import paths
from lakestow.auth.policy import Action
from lakestow.console import listing, syncstatus
from lakestow.console.admin import warehouse_usage
from lakestow.console.api import SEARCH_RESULTS, int_param, text_param
from lakestow.console.context import Viewer, parse_path, viewer
from lakestow.console.search import search_page
from lakestow.errors import AccessDenied, LakestowError, Unauthenticated

templates = Jinja2Templates(directory=Path(__file__).parent / "templates")


def human_size(size: int | None) -> str:
    if size is None:
        return ""
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return str(size)


def when(moment: str, now: datetime | None = None) -> str:
    """An ISO time as people say it: `just now`, `5 min ago`, `3 h ago`, `yesterday`,
    `12 Mar`, `12 Mar 2025` (the exact time is in the page, on hover)."""
    at = datetime.fromisoformat(moment)
    now = now or datetime.now(UTC)
    seconds = (now - at).total_seconds()
    if seconds < 60:
        return "just now"
    if seconds < 3600:
        return f"{seconds // 60:.0f} min ago"
    if seconds < 86400:
        return f"{seconds // 3600:.0f} h ago"
    if seconds < 2 * 86400:
        return "yesterday"
    return at.strftime("%-d %b") if at.year == now.year else at.strftime("%-d %b %Y")


templates.env.filters["size"] = human_size
templates.env.filters["when"] = when
templates.env.filters["age"] = syncstatus.describe_age


def render(request: Request, name: str, status: int = 200, **context: Any) -> Response:
    return templates.TemplateResponse(request, name, context, status_code=status)


def _page(request: Request, v: Viewer, name: str, status: int = 200, **context: Any) -> Response:
    return render(request, name, status, me=v.info, csrf=v.session.csrf_token, **context)


async def error_page(request: Request, error: LakestowError) -> Response:
    """The error, in a page that keeps the navigation for a signed-in member."""
    try:
        v = await viewer(request, csrf=False)
    except Exception:  # not signed in, or the catalog down: the page without navigation
        return render(request, "error.html", error.status, error=error)
    return _page(request, v, "error.html", error=error, status=error.status)


async def home(request: Request) -> Response:
    """The console's root: the sign-in form, or the browser for a signed-in member."""
    try:
        await viewer(request)
    except Unauthenticated:
        return render(request, "signin.html", next=request.query_params.get("next", ""))
    return RedirectResponse("/browse/", status_code=303)


def breadcrumbs(folder: str) -> list[tuple[str, str]]:
    names = paths.segments(folder)
    return [(name, "/".join(names[: i + 1]) + "/") for i, name in enumerate(names)]


async def browse(request: Request) -> Response:
    """/browse/<folder>: one page of the folder, or search results below it; a notebooks
    folder also shows its sync status."""
    v = await viewer(request)
    folder = parse_path(request.path_params.get("path", ""), folder=True)
    query = text_param(request, "q")
    context: dict[str, Any] = {"folder": folder, "crumbs": breadcrumbs(folder), "q": query}
    v.authorize(Action.LIST, folder)
    context["here"] = listing.folder_entry(v, folder)
    if syncstatus.shows_status(folder):
        context["sync"] = await syncstatus.read_status(v, folder)
    if query:
        cursor = request.query_params.get("cursor")
        limit = int_param(request, "limit", SEARCH_RESULTS, 1, 1000)
        found = await search_page(v, folder, query, cursor, limit)
        context.update(
            limit=limit,
            entries=found.entries,
            cursor=found.cursor,
            partial=found.partial,
            searched_to=found.searched_to,
        )
    else:
        sort = request.query_params.get("sort") or "name"
        order = request.query_params.get("order") or "asc"
        name_prefix = text_param(request, "filter").replace("/", "")
        limit = int_param(request, "limit", 200, 1, 1000)
        cursor = request.query_params.get("cursor")
        result = await listing.sorted_page(v, folder, cursor, limit, name_prefix, sort, order)
        context.update(
            entries=result.entries,
            cursor=result.cursor,
            sort_notice=result.notice,
            sort=sort,
            order=order,
            filter=name_prefix,
            limit=limit,
        )
    return _page(request, v, "browse.html", **context)


async def credentials(request: Request) -> Response:
    v = await viewer(request)
    folder = parse_path(request.query_params.get("folder"), folder=True)
    return _page(request, v, "credentials.html", folder=folder or f"data/{v.info.folder}/")


async def admin(request: Request) -> Response:
    v = await viewer(request)
    if not v.info.admin:
        raise AccessDenied("Access denied: only organization admins may open this page")
    return _page(request, v, "admin.html", usage=await warehouse_usage(v))


ROUTES = [
    Route("/", home, methods=["GET"]),
    Route("/browse", lambda r: RedirectResponse("/browse/"), methods=["GET"]),
    Route("/browse/{path:path}", browse, methods=["GET"]),
    Route("/credentials", credentials, methods=["GET"]),
    Route("/admin", admin, methods=["GET"]),
]
