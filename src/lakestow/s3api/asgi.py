"""The HTTP exchange at its leanest: a request read straight from the ASGI scope, and responses
that send themselves with two ASGI messages.

A HEAD or a DELETE is a few hundred microseconds of Python in all, so the endpoint does not
build framework request and response objects (URL parsing, header multidicts, background
tasks) that it would never use. Large bodies still stream: `StreamingResponse` sends a body
iterator chunk by chunk.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping

import anyio
from starlette.types import Message, Receive, Scope, Send


class ClientDisconnect(Exception):
    """The client went away before it sent the whole body."""


class Incoming:
    """One request as the ASGI server gave it: method, raw path and query, headers, body."""

    __slots__ = ("_receive", "complete", "headers", "method", "raw_path", "raw_query", "scope")

    def __init__(self, scope: Scope, receive: Receive) -> None:
        self.scope = scope
        self._receive = receive
        self.method: str = scope["method"]
        raw_path = scope.get("raw_path")
        self.raw_path = raw_path.decode("latin-1") if raw_path else scope["path"]
        self.raw_query: str = scope.get("query_string", b"").decode("latin-1")
        # Names lower-cased (uvicorn does already; the ASGI spec only says they should be);
        # a repeated header's values joined by commas, as SigV4 signs them and S3 keeps them.
        headers: dict[str, str] = {}
        for raw_name, raw_value in scope["headers"]:
            name, value = raw_name.decode("latin-1").lower(), raw_value.decode("latin-1")
            headers[name] = f"{headers[name]},{value}" if name in headers else value
        self.headers = headers
        self.complete = False  # the whole body was read

    @property
    def base_url(self) -> str:
        """`scheme://host/` as the client addressed the server."""
        host = self.headers.get("host")
        if host is None:
            server = self.scope.get("server") or ("localhost", 80)
            host = f"{server[0]}:{server[1]}"
        return f"{self.scope.get('scheme', 'http')}://{host}/"

    @property
    def body_unread(self) -> bool:
        """Whether bytes of the body may still be on the connection."""
        if self.complete:
            return False
        headers = self.headers
        return headers.get("content-length", "0") != "0" or "transfer-encoding" in headers

    async def stream(self) -> AsyncIterator[bytes]:
        """The body as it arrives; ClientDisconnect if the client goes away first."""
        if self.complete:
            return
        while True:
            message = await self._receive()
            if message["type"] == "http.disconnect":
                raise ClientDisconnect
            body = message.get("body", b"")
            if not message.get("more_body", False):
                self.complete = True
                if body:
                    yield body
                return
            if body:
                yield body


class Response:
    """A response whose body is in memory."""

    __slots__ = ("body", "headers", "status_code")
    sized = True  # whether to add the content-length of `body`

    def __init__(
        self,
        content: bytes = b"",
        status_code: int = 200,
        headers: Mapping[str, str] | None = None,
        media_type: str | None = None,
    ) -> None:
        self.body = content
        self.status_code = status_code
        self.headers: dict[str, str] = dict(headers) if headers else {}
        if media_type is not None:
            self.headers["content-type"] = media_type

    def start(self) -> Message:
        headers = self.headers
        if self.sized and "content-length" not in headers and self.status_code not in (204, 304):
            headers["content-length"] = str(len(self.body))
        raw = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
        return {"type": "http.response.start", "status": self.status_code, "headers": raw}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send(self.start())
        await send({"type": "http.response.body", "body": self.body})


class StreamingResponse(Response):
    """A response whose body is an async iterator, sent as it comes and closed at the end.

    A client that goes away stops the sending (the ASGI server would drop the bytes anyway),
    as Starlette's does: a task watches `receive` for the disconnect.
    """

    __slots__ = ("chunks",)
    sized = False

    def __init__(
        self,
        chunks: AsyncIterator[bytes],
        status_code: int = 200,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(b"", status_code, headers)
        self.chunks = chunks

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            async with anyio.create_task_group() as group:

                async def watch() -> None:
                    while (await receive())["type"] != "http.disconnect":
                        pass
                    group.cancel_scope.cancel()

                group.start_soon(watch)
                await self._send_all(send)
                group.cancel_scope.cancel()
        finally:
            aclose = getattr(self.chunks, "aclose", None)
            if aclose is not None:
                with anyio.CancelScope(shield=True):
                    await aclose()

    async def _send_all(self, send: Send) -> None:
        await send(self.start())
        async for chunk in self.chunks:
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b""})
