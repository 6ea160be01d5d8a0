"""The S3 endpoint as an ASGI app: authenticate, pick the operation from a table, render errors.

    request -> SigV4 (auth.sigv4) -> credentials (auth.credentials)
            -> the bucket, which must exist for the caller (S3Request.require_bucket)
            -> dispatch.ROUTES -> a handler in buckets / listing / objects / multipart
            -> the store

Every LakestowError becomes S3 XML here and nowhere else.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import secrets
import time
from datetime import UTC, datetime
from urllib.parse import parse_qsl, unquote

import anyio
from starlette.types import Receive, Scope, Send

from lakestow.auth import sigv2, sigv4
from lakestow.auth.credentials import OPERATOR_KEY_PREFIX, LookupNeeded, Operator
from lakestow.auth.policy import Principal
from lakestow.catalog.db import unreachable
from lakestow.errors import AccessDenied, InvalidRequest, LakestowError, Unavailable
from lakestow.paths import validate_key
from lakestow.runtime import Runtime
from lakestow.s3api import acl, xml
from lakestow.s3api.asgi import ClientDisconnect, Incoming, Response
from lakestow.s3api.dispatch import names_existing_bucket, route
from lakestow.s3api.headers import refuse_what_cannot_be_honoured
from lakestow.s3api.request import MemberRequest, OperatorRequest, S3Request

logger = logging.getLogger("lakestow.s3")
MAX_HEADER_BYTES = 8 * 1024


class S3App:
    """The ASGI application of the S3 endpoint."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self._id_prefix = secrets.token_hex(4).upper()  # unique per process, then a counter
        self._ids = itertools.count()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        http = Incoming(scope, receive)
        request_id = f"{self._id_prefix}{next(self._ids):08X}"
        try:
            response = await self._handle(http)
        except LakestowError as exc:
            response = error_response(exc, http, request_id)
        except ClientDisconnect:  # the client went away mid-body: nothing was written
            logger.info("client disconnected during %s %s", http.method, http.raw_path)
            return
        except Exception as exc:
            error = unreachable(exc) or LakestowError(
                "We encountered an internal error. Please try again."
            )
            if error.status == 503:
                logger.warning("catalog unreachable on %s %s", http.method, http.raw_path)
            else:
                logger.exception("internal error on %s %s", http.method, http.raw_path)
            response = error_response(error, http, request_id)
        response.headers["x-amz-request-id"] = request_id
        if http.method in ("PUT", "POST") and http.body_unread:
            response.headers["connection"] = "close"  # the unread body must not become a request
        await response(scope, receive, send)

    async def _handle(self, http: Incoming) -> Response:
        headers = http.headers
        if len("".join(headers)) + len("".join(headers.values())) > MAX_HEADER_BYTES:
            raise InvalidRequest(
                "Your request header section exceeds the maximum allowed size.",
                code="RequestHeaderSectionTooLarge",
            )
        bucket, key = split_path(http.raw_path)
        if key:
            validate_key(key)
        signed = sigv4.SignedRequest(http.method, http.raw_path, http.raw_query, headers)
        request = await self._authenticate(http, signed, bucket, key)
        if names_existing_bucket(http.method, bucket, key, request.query):
            request.require_bucket()  # before the body is read: a 100-continue gets no 100
        handler = route(http.method, bucket, key, request.query, headers)
        if http.method in ("PUT", "POST"):
            acl.check_headers(headers)  # a write that grants beyond the owner changes nothing
        if key:  # nothing accepted that would then be dropped: storage classes, encryption
            refuse_what_cannot_be_honoured(http.method, headers)
        return await handler(request)

    async def _authenticate(
        self, http: Incoming, signed: sigv4.SignedRequest, bucket: str, key: str
    ) -> S3Request:
        """Who signed the request, checked: a member's or an operator's request."""
        now, arrived = datetime.now(UTC), time.monotonic()
        raw_query = signed.raw_query
        query = dict(parse_qsl(raw_query, keep_blank_values=True)) if raw_query else {}
        legacy = sigv2.parse(signed, query)
        auth = sigv4.parse(signed) if legacy is None else None
        if auth is not None:
            who, secret = await self._principal(auth.access_key_id, auth.session_token)
            signer = sigv4.verify(signed, auth, secret, region=self.runtime.region, now=now)
            mode: str = auth.payload_hash
        elif legacy is not None:
            who, secret = await self._principal(legacy.access_key_id, legacy.session_token)
            sigv2.verify(signed, legacy, secret, now=now)
            mode, signer = sigv4.UNSIGNED_PAYLOAD, None
        else:
            raise AccessDenied("Access Denied: anonymous requests are not accepted; sign them")
        if isinstance(who, Operator):
            actor = f"operator:{who.name}"
            request = OperatorRequest(
                http, self.runtime, bucket, key, query, actor, mode, signer, who
            )
            if bucket and not request.has_bucket(bucket):
                # Created a moment ago through another worker or replica? Snapshots reload
                # every second; on a miss, this one is reloaded unless a reload began since
                # this request did, so that a bucket is everyone's once its creation answered.
                with contextlib.suppress(Exception):  # refused below on the last snapshot
                    await anyio.to_thread.run_sync(
                        self.runtime.verifier.refresh_unless_since, arrived
                    )
            return request
        org = await self.runtime.orgs.get(who.org_id)
        actor = f"member:{who.member_id}"
        return MemberRequest(http, self.runtime, bucket, key, query, actor, mode, signer, who, org)

    async def _principal(
        self, access_key_id: str, token: str | None
    ) -> tuple[Principal | Operator, str]:
        verifier = self.runtime.verifier
        for _ in range(3):  # a lookup of a member or operator newer than the snapshot, or two
            try:
                if access_key_id.startswith(OPERATOR_KEY_PREFIX) and token is None:
                    return verifier.verify_operator(access_key_id)
                principal, grant = verifier.verify(access_key_id, token)
                return principal, grant.secret_access_key
            except LookupNeeded as needed:
                await anyio.to_thread.run_sync(needed.look_up)  # a catalog query: off the loop
        # (a reload between a lookup and the check clears what the lookup found: again)
        raise Unavailable("The catalog changed while this request was checked: try again.")


def split_path(raw_path: str) -> tuple[str, str]:
    """(bucket, key) of a path-style request path."""
    path = raw_path[1:] if raw_path.startswith("/") else raw_path
    bucket, _, key = path.partition("/")
    try:
        return unquote(bucket, errors="strict"), unquote(key, errors="strict")
    except UnicodeDecodeError as exc:
        # S3's code and message for a path that is not percent-encoded UTF-8
        raise InvalidRequest("Couldn't parse the specified URI.", code="InvalidURI") from exc


def error_response(error: LakestowError, http: Incoming, request_id: str) -> Response:
    if error.status == 304:
        return Response(status_code=304, headers=error.headers)
    body = xml.document(
        "Error",
        [
            xml.tag("Code", error.code),
            xml.tag("Message", error.message),
            xml.tag("Resource", http.raw_path),
            xml.tag("RequestId", request_id),
        ],
        namespace=False,
    )
    if http.method == "HEAD":
        headers = {**error.headers, "x-amz-error-code": error.code}
        return Response(status_code=error.status, headers=headers)
    return Response(
        body, status_code=error.status, headers=error.headers, media_type="application/xml"
    )
