"""`lakestow serve`: assemble the S3 endpoint from the settings and run it under uvicorn."""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import uvicorn

from lakestow import datadir
from lakestow.auth.credentials import Verifier
from lakestow.catalog.audit import AuditWriter
from lakestow.config import Settings
from lakestow.datadir import Opened
from lakestow.errors import AlreadyExists
from lakestow.s3api.app import S3App, S3Server
from lakestow.storage.registry import open_store

logger = logging.getLogger("lakestow")


@dataclass(frozen=True)
class Bootstrap:
    """What a fresh data directory was given: the demo organization and its admin."""

    org: str
    admin: str
    password: str


def bootstrap(opened: Opened) -> Bootstrap | None:
    """On a catalog with no organization: create the default one and an admin member."""
    service = opened.service("lakestow:serve")
    if service.list_orgs():
        return None
    org = opened.settings.default_org
    password = secrets.token_urlsafe(12)
    try:
        service.create_org(org)
        service.create_member("admin", org, admin=True, password=password)
    except AlreadyExists:  # another replica was first
        return None
    return Bootstrap(org, "admin", password)


@asynccontextmanager
async def s3_server(opened: Opened) -> AsyncIterator[S3Server]:
    """The S3 endpoint's state over an opened data directory; closes it all on exit."""
    settings = opened.settings
    service = opened.service("lakestow:s3")
    store = await open_store(settings.resolved_store_url)
    audit = AuditWriter(opened.catalog.session)
    verifier = Verifier(
        opened.keyring, service.catalog_snapshot, max_age=settings.revocation_refresh
    )
    server = S3Server(
        store=store, verifier=verifier, service=service, audit=audit, region=settings.region
    )
    try:
        await server.load_orgs()
        yield server
    finally:
        audit.close()
        await store.aclose()


def serve(settings: Settings) -> None:
    datadir.initialize(settings)
    with datadir.opened(settings) as opened:
        fresh = bootstrap(opened)
        asyncio.run(_serve(opened, fresh))


async def _serve(opened: Opened, fresh: Bootstrap | None) -> None:
    settings = opened.settings
    host, _, port = settings.s3_address.rpartition(":")
    async with s3_server(opened) as state:
        config = uvicorn.Config(
            S3App(state),
            host=host,
            port=int(port),
            log_level="warning",
            access_log=False,
            lifespan="off",
            timeout_keep_alive=30,
            server_header=False,
            date_header=True,
        )
        server = uvicorn.Server(config)
        _announce(settings, fresh)
        await server.serve()


def _announce(settings: Settings, fresh: Bootstrap | None) -> None:
    print(f"lakestow S3 endpoint: {settings.resolved_public_s3_url}", flush=True)
    if fresh is not None:
        print(
            f"created organization {fresh.org!r} and its admin {fresh.admin!r}; "
            f"one-time password (shown once): {fresh.password}",
            flush=True,
        )
