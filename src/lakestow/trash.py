"""The warehouse trash (DESIGN.md section 1): an organization's bucket keeps every version,
and what went noncurrent longer ago than the organization's retention is purged for good.

    keep_versions(store, bucket)    versioning Enabled on an organization's bucket, if it can be
    purge_org(store, org, now)      one warehouse's versions past its retention, in batches
    purge_step(store, orgs, now)    every warehouse's, one after another (what `serve` runs)
    usage(store, org)               the bytes a warehouse holds, current and kept

Several organizations may share a bucket: each purges under its own prefix, by its own
retention. Purging is idempotent: replicas over one catalog each run the step, and a version
one removed is simply not found by the other, so running it twice costs a little work and
removes nothing more. A current object is never removed, whatever the retention.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime, timedelta

import anyio.lowlevel

from lakestow.domain import OrgInfo
from lakestow.errors import AccessDenied, LakestowError, NotFound, Unsupported
from lakestow.storage.protocol import ENABLED, Retention, Versioning, VersionUsage

BATCH = 1000
"""Versions one purge call removes at most: what a step holds the store's writer for."""

logger = logging.getLogger("lakestow")
NO_TRASH = (
    "the bucket %s cannot keep versions, so overwritten and deleted objects of the "
    "organizations in it are not kept (no trash): %s"
)


async def keep_versions(store: Versioning, bucket: str) -> bool:
    """Turn versioning on for `bucket` unless it is on; whether the bucket keeps versions.
    A store that cannot (an upstream without versioning, or one that does not let lakestow
    set it) gets one warning: its organizations go without a trash, and the server serves."""
    try:
        if await store.get_versioning(bucket) != ENABLED:
            await store.put_versioning(bucket, ENABLED)
    except (Unsupported, AccessDenied) as exc:
        logger.warning(NO_TRASH, bucket, exc.message)
        return False
    return True


async def purge_org(
    store: Retention, org: OrgInfo, now: datetime, *, older_than: int | None = None
) -> int:
    """Remove for good what went noncurrent in `org`'s warehouse more than its retention
    (or `older_than` seconds) before `now`; how many versions went. Batch after batch while
    one comes back full, letting other tasks run in between: a huge backlog never holds the
    event loop, nor the store, for longer than one batch. A bucket not made yet (no server
    has loaded the organization) keeps nothing."""
    keep = org.retention if older_than is None else older_than
    before = now - timedelta(seconds=keep)
    total = 0
    while True:
        try:
            count = await store.purge_versions(
                org.bucket, prefix=org.key_prefix, noncurrent_before=before, limit=BATCH
            )
        except NotFound as exc:
            if exc.code != "NoSuchBucket":
                raise
            return total
        total += count
        if count < BATCH:
            return total
        await anyio.lowlevel.checkpoint()


async def purge_step(store: Retention, orgs: Iterable[OrgInfo], now: datetime) -> dict[str, int]:
    """Purge every organization's warehouse as of `now`; versions removed by organization
    name. One that fails (its bucket cannot keep versions, the store is down) is logged and
    the others are purged still."""
    removed: dict[str, int] = {}
    for org in orgs:
        try:
            removed[org.name] = await purge_org(store, org, now)
        except Unsupported:
            continue  # no versions kept there: nothing to purge (warned about at start)
        except LakestowError as exc:
            logger.warning("could not purge the trash of %s: %s", org.name, exc.message)
    return removed


async def usage(store: Retention, org: OrgInfo) -> VersionUsage | None:
    """What `org`'s warehouse holds: its objects, and the versions its trash keeps; None
    when the store cannot tell (a bucket without versions on an upstream that cannot)."""
    try:
        return await store.version_usage(org.bucket, prefix=org.key_prefix)
    except Unsupported:
        return None
