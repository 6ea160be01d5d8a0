"""The S3 endpoint and the console in-process, over one opened data directory, no sockets.

`InProcess` runs both ASGI apps on one event loop (the portal of Starlette's TestClient, which
also drives the console): S3 requests are signed as botocore signs them and go through the S3
app by `httpx.ASGITransport`; console requests go through the TestClient. Most tests of what
the endpoint answers belong here; the live-server suites keep the real clients (aws CLI, boto3
over HTTP, the browser).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any
from urllib.parse import quote

import httpx
from anyio.from_thread import start_blocking_portal
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

from lakestow.console.app import create_console
from lakestow.console.sessions import COOKIE
from lakestow.datadir import Opened
from lakestow.runtime import Runtime
from lakestow.s3api.app import S3App
from lakestow.server import open_runtime, refresh_revocations

S3_HOST = "s3.inprocess"
CONSOLE_URL = "http://console.inprocess"


class InProcess:
    """One data directory's S3 endpoint and console, in this process."""

    def __init__(self, opened: Opened, client: TestClient, runtime: Runtime) -> None:
        self.opened = opened
        self.client = client
        self.runtime = runtime
        self._s3 = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=S3App(runtime)), base_url=f"http://{S3_HOST}"
        )

    def call(self, function: Any, *args: Any) -> Any:
        """Run an async function on the apps' event loop (the store's operations, say)."""
        return self.client.portal.call(function, *args)

    def s3(
        self,
        credentials: Mapping[str, str],
        method: str,
        path: str,
        query: Mapping[str, str] | None = None,
        body: bytes = b"",
    ) -> httpx.Response:
        """A request signed with `credentials` (a credential_process document), as botocore
        signs for S3 (the path, percent-encoded once, is the canonical one: the generic SigV4
        signer encodes it a second time, which no S3 server accepts for a key that needs it)."""
        text = "&".join(
            f"{quote(k, safe='')}={quote(v, safe='-_.~')}" for k, v in (query or {}).items()
        )
        url = f"http://{S3_HOST}{quote(path, safe='/-_.~')}" + (f"?{text}" if text else "")
        request = AWSRequest(method, url, {"x-amz-content-sha256": "UNSIGNED-PAYLOAD"}, body)
        signer = Credentials(
            credentials["AccessKeyId"], credentials["SecretAccessKey"], credentials["SessionToken"]
        )
        S3SigV4Auth(signer, "s3", "us-east-1").add_auth(request)
        headers = {k: str(v) for k, v in request.headers.items()}

        async def send() -> httpx.Response:
            return await self._s3.request(method, url, headers=headers, content=body)

        response: httpx.Response = self.call(send)
        return response

    def sign_in(self, name: str, password: str) -> dict[str, str]:
        """The cookie and CSRF header of a new console session of `name`."""
        self.client.cookies.clear()
        response = self.client.post("/api/session", json={"name": name, "password": password})
        assert response.status_code == 201, response.text
        session = {"cookie": f"{COOKIE}={response.cookies[COOKIE]}"}
        self.client.cookies.clear()
        return {**session, "x-csrf-token": response.json()["csrf_token"]}

    def console(
        self, session: Mapping[str, str], method: str, url: str, **kw: Any
    ) -> httpx.Response:
        self.client.cookies.clear()
        return self.client.request(method, url, headers=dict(session), **kw)


@contextmanager
def in_process(
    opened: Opened, *, s3_url: str = f"http://{S3_HOST}", console_url: str = CONSOLE_URL
) -> Iterator[InProcess]:
    """Both apps over `opened`, for as long as the block runs: the runtime is opened and closed
    on the portal's event loop, which the console's TestClient then uses too."""
    with (
        start_blocking_portal() as portal,
        portal.wrap_async_context_manager(open_runtime(opened)) as runtime,
    ):
        client = TestClient(create_console(runtime, s3_url=s3_url), base_url=console_url)
        client.portal = portal  # requests run on the runtime's loop (no `with`: no lifespan)
        # as `serve` does: revocations reloaded in the background, so a test longer than
        # catalog_staleness is not refused as if the catalog were down
        interval = opened.settings.revocation_refresh
        refresher = portal.start_task_soon(refresh_revocations, runtime.verifier, interval)
        try:
            yield InProcess(opened, client, runtime)
        finally:
            refresher.cancel()
