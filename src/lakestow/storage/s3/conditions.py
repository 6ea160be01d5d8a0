"""Conditional writes decided by lakestow, for an upstream that lets them through.

An upstream that answers 200 to a second `If-None-Match: *` PUT (the probe finds out at start)
leaves table commits unsafe: two writers may both "win". Then each conditional write (PUT,
CompleteMultipartUpload, DeleteObject with If-Match) is made with its upstream key held in
the catalog's locks (a PostgreSQL advisory lock: every replica takes the same one):

    hold the key -> HEAD it, check the condition (412 / 404 here) -> the write -> release

so that of concurrent writers on one condition exactly one finds it holding, whichever
replica each reached. The condition still goes to the upstream with the write (harmless
where ignored, and it keeps whatever the upstream does enforce). The cost is one HEAD and
one catalog round trip per conditional write, and conditional writers of one key take turns;
unconditional writes take none of this. A write that goes around lakestow (straight to the
upstream) is not serialized: nothing here can see it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from lakestow.errors import NotFound, PreconditionFailed, Unsupported
from lakestow.storage.etags import clean_etag
from lakestow.storage.protocol import SERIALIZED, UPSTREAM, ConditionalWrites, KeyLocks

if TYPE_CHECKING:
    from lakestow.storage.s3.upstream import Upstream

HEADERS = {"IfNoneMatch": "If-None-Match", "IfMatch": "If-Match"}


class Conditions:
    """How the upstream's conditional writes are decided (`ConditionalWrites.decided`)."""

    def __init__(self, how: ConditionalWrites, locks: KeyLocks) -> None:
        self.how = how
        self._locks = locks

    @property
    def decides(self) -> bool:
        """Whether lakestow decides every conditional write (the key held, then checked)."""
        return self.how.decided == SERIALIZED

    @asynccontextmanager
    async def write(
        self, upstream: Upstream, request: Mapping[str, Any], seconds: float
    ) -> AsyncIterator[None]:
        """Around the upstream write `request`: nothing when it carries no condition or the
        upstream decides it; else the key held for at most `seconds` and the condition
        checked first, or the write refused."""
        carried = [HEADERS[name] for name in HEADERS if request.get(name) is not None]
        if not carried or self.how.decided == UPSTREAM:
            yield
            return
        refused = [header for header in carried if self.how.refuses(header)]
        if refused:
            raise Unsupported(
                f"This server refuses {' and '.join(refused)} writes: its upstream store does "
                "not enforce them, and it is set not to decide them itself "
                "(conditional_writes = refuse)."
            )
        if self.how.decided != SERIALIZED:  # refused kinds only; the upstream has the rest
            yield
            return
        bucket, key = request["Bucket"], request["Key"]
        async with self._locks.hold(f"{bucket}/{key}", seconds=seconds):
            await _check(upstream, request)
            yield


async def _check(upstream: Upstream, request: Mapping[str, Any]) -> None:
    """Raise what S3 answers when the write's condition does not hold on the key as it is:
    NoSuchKey for If-Match on no object, PreconditionFailed for If-None-Match on one, or for
    If-Match naming another ETag."""
    version = {"VersionId": request["VersionId"]} if request.get("VersionId") else {}
    if_match = request.get("IfMatch")
    try:
        head = await upstream.head_object(Bucket=request["Bucket"], Key=request["Key"], **version)
    except NotFound:
        if if_match is not None:
            raise NotFound("The specified key does not exist.", code="NoSuchKey") from None
        return
    if request.get("IfNoneMatch") is not None:
        raise PreconditionFailed("At least one of the pre-conditions you specified did not hold")
    if (
        if_match is not None
        and if_match != "*"
        and clean_etag(if_match) != clean_etag(head["ETag"])
    ):
        raise PreconditionFailed("At least one of the pre-conditions you specified did not hold")
