"""The console's state, the signed-in viewer of a request, and warehouse paths checked once.

Every API route and page starts with `await viewer(request)`: no session (or a disabled
member) is Unauthenticated, a state-changing request without the session's CSRF token is
refused, and every path the viewer names goes through `Viewer.authorize`, that is through
`lakestow.auth.policy.decide`.
"""

from __future__ import annotations

from dataclasses import dataclass

import anyio
from starlette.requests import Request

from lakestow import paths
from lakestow.auth.policy import Action, Decision
from lakestow.catalog.db import Catalog
from lakestow.console import sessions
from lakestow.domain import MemberInfo
from lakestow.errors import AccessDenied
from lakestow.operations import ObjectOperations
from lakestow.runtime import Runtime
from lakestow.services import Services
from lakestow.warehouse import MemberView

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CSRF_HEADER = "x-csrf-token"


@dataclass(frozen=True)
class ConsoleState:
    """What the console needs: the shared runtime (store, catalog, audit), where the S3
    endpoint is for its users, and whether cookies need HTTPS."""

    runtime: Runtime
    s3_url: str
    secure_cookies: bool = False

    @property
    def catalog(self) -> Catalog:
        return self.runtime.catalog

    def service(self, actor: str) -> Services:
        return self.runtime.services(actor)


@dataclass(frozen=True)
class Viewer:
    """A signed-in member, as one request sees them."""

    state: ConsoleState
    info: MemberInfo
    session: sessions.Opened

    @property
    def member(self) -> MemberView:
        return MemberView(self.info.principal, self.info.org)

    @property
    def actor(self) -> str:
        return f"member:{self.info.id}"

    @property
    def bucket(self) -> str:
        return self.info.org.bucket

    def key(self, path: str) -> str:
        return self.member.key_of(path)

    @property
    def view(self) -> MemberView:
        return self.member

    @property
    def objects(self) -> ObjectOperations:
        """The object changes this viewer may make: authorized, stored and audited."""
        return self.state.runtime.objects(self, "console")

    def decide(self, action: Action, bucket: str, key: str) -> Decision:
        path = self.member.path_of(bucket, key)
        if path is None:
            return Decision(False, "the path is outside your organization's warehouse")
        return self.member.decide(action, path)

    def may(self, action: Action, path: str) -> bool:
        return bool(self.member.decide(action, path))

    def authorize(self, action: Action, path: str) -> Decision:
        """The policy's decision, or AccessDenied (audited) with its reason."""
        return self.objects.authorize(action, self.bucket, self.key(path))

    def authorize_key(self, action: Action, key: str) -> Decision:
        """`authorize` for a key of the organization's bucket (what `warehouse.list_page` asks)."""
        path = self.member.path_of(self.bucket, key)
        if path is None:
            self.audit(f"console.{action}", key, "denied", reason="outside the warehouse")
            raise AccessDenied("Access denied: the path is outside your organization's warehouse")
        return self.authorize(action, path)

    def audit(self, action: str, path: str, outcome: str = "ok", **detail: object) -> None:
        self.state.runtime.audit.record(
            self.actor, action, self.info.org.uri(path), outcome, **detail
        )


def state_of(request: Request) -> ConsoleState:
    state: ConsoleState = request.app.state.console
    return state


async def viewer(request: Request, *, csrf: bool | None = None) -> Viewer:
    """The signed-in member of `request`; checks the CSRF token on state-changing methods."""
    state = state_of(request)
    session_id = request.cookies.get(sessions.COOKIE)
    if not session_id:
        raise sessions.not_signed_in()
    opened, info = await anyio.to_thread.run_sync(sessions.lookup, state.catalog, session_id)
    if csrf if csrf is not None else request.method not in SAFE_METHODS:
        sessions.check_csrf(opened, request.headers.get(CSRF_HEADER))
    return Viewer(state, info, opened)


def parse_path(text: str | None, *, folder: bool = False) -> str:
    """A warehouse path as a member typed it (`/data/x`, `data/x/`), validated: `..`, empty
    segments and control characters are refused before any policy check."""
    path = (text or "").lstrip("/")
    if folder and path and not path.endswith("/"):
        path += "/"
    if path:
        paths.validate_key(path)
    return path


def name_of(path: str) -> str:
    return paths.segments(path)[-1] if paths.segments(path) else ""
