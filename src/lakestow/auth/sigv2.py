"""AWS Signature Version 2 (HMAC-SHA1), for the clients that still sign with it by default.

awscli v1's `aws s3 presign` makes SigV2 query URLs (`AWSAccessKeyId`, `Signature`,
`Expires`) unless told otherwise, so lakestow accepts them, and the header form
`Authorization: AWS key:signature` that old SDKs send. The string to sign follows the S3
REST authentication guide, exactly as botocore's HmacV1Auth builds it (written by hand for the
same reason as sigv4.py: no library verifies it on the server side).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from email.utils import parsedate_to_datetime
from urllib.parse import parse_qsl, unquote

from lakestow.auth.sigv4 import SIGNATURE_MISMATCH, SignedRequest
from lakestow.errors import AccessDenied, InvalidRequest, Unauthenticated

# The query parameters that are part of the signed resource (botocore's QSAOfInterest).
SUBRESOURCES = frozenset(
    [
        "accelerate",
        "acl",
        "cors",
        "defaultObjectAcl",
        "location",
        "logging",
        "partNumber",
        "policy",
        "requestPayment",
        "torrent",
        "versioning",
        "versionId",
        "versions",
        "website",
        "uploads",
        "uploadId",
        "response-content-type",
        "response-content-language",
        "response-expires",
        "response-cache-control",
        "response-content-disposition",
        "response-content-encoding",
        "delete",
        "lifecycle",
        "tagging",
        "restore",
        "storageClass",
        "notification",
        "replication",
        "analytics",
        "metrics",
        "inventory",
        "select",
        "select-type",
        "object-lock",
    ]
)
MAX_EXPIRES_AHEAD = 7 * 24 * 3600


@dataclass(frozen=True)
class SigV2Auth:
    access_key_id: str
    signature: str
    session_token: str | None
    expires: int | None  # presigned: epoch seconds
    date: str | None  # header form: the Date (or x-amz-date) header as signed


def parse(request: SignedRequest, query: Mapping[str, str] | None = None) -> SigV2Auth | None:
    """The SigV2 authentication of `request`, or None when it carries none. `query`: the
    request's query parameters, if the caller has them already."""
    if query is None:
        query = dict(parse_qsl(request.raw_query, keep_blank_values=True))
    headers = request.headers
    if "AWSAccessKeyId" in query or "Signature" in query:
        try:
            expires = int(query["Expires"])
            return SigV2Auth(
                query["AWSAccessKeyId"],
                query["Signature"],
                query.get("x-amz-security-token") or headers.get("x-amz-security-token"),
                expires,
                None,
            )
        except (KeyError, ValueError) as exc:
            raise InvalidRequest(
                "a SigV2 presigned URL needs AWSAccessKeyId, Signature and Expires"
            ) from exc
    authorization = headers.get("authorization", "")
    if authorization.startswith("AWS "):
        key, _, signature = authorization[4:].strip().partition(":")
        date = headers.get("x-amz-date") or headers.get("date")
        if not key or not signature or not date:
            raise InvalidRequest("a SigV2 Authorization header needs a key, a signature and a date")
        return SigV2Auth(key, signature, headers.get("x-amz-security-token"), None, date)
    return None


def verify(
    request: SignedRequest, auth: SigV2Auth, secret_key: str, *, now: datetime, max_skew: int = 900
) -> None:
    """Raise unless `auth` holds for `request` under `secret_key` at `now`."""
    if auth.expires is not None:
        if now.timestamp() > auth.expires:
            raise AccessDenied("Request has expired")
        if auth.expires - now.timestamp() > MAX_EXPIRES_AHEAD:
            raise AccessDenied("Requests signed with SigV2 may not be valid for more than 7 days")
    else:
        _check_date(auth.date or "", now, max_skew)
    expected = base64.b64encode(
        hmac.new(secret_key.encode(), string_to_sign(request, auth).encode(), hashlib.sha1).digest()
    ).decode()
    if not hmac.compare_digest(expected, auth.signature):
        raise Unauthenticated(SIGNATURE_MISMATCH, code="SignatureDoesNotMatch")


def string_to_sign(request: SignedRequest, auth: SigV2Auth) -> str:
    query = parse_qsl(request.raw_query, keep_blank_values=True)
    values = {
        **request.headers,
        **{k.lower(): v for k, v in query if k.lower().startswith("x-amz-")},
    }
    for name in ("content-md5", "content-type"):
        values.setdefault(name, dict(query).get(name, ""))
    date = (
        str(auth.expires)
        if auth.expires is not None
        else ("" if "x-amz-date" in values else auth.date or "")
    )
    amz = sorted((k, v.strip()) for k, v in values.items() if k.startswith("x-amz-"))
    lines = [request.method, values["content-md5"].strip(), values["content-type"].strip(), date]
    lines += [f"{k}:{v}" for k, v in amz]
    return "\n".join([*lines, _resource(request)])


def _resource(request: SignedRequest) -> str:
    pairs = [p.split("=", 1) for p in request.raw_query.split("&") if p]
    kept = sorted(
        (p[0], "=".join([p[0], unquote(p[1])]) if len(p) == 2 else p[0])
        for p in pairs
        if p[0] in SUBRESOURCES
    )
    path = request.raw_path
    return path + ("?" + "&".join(text for _, text in kept) if kept else "")


def _check_date(text: str, now: datetime, max_skew: int) -> None:
    try:
        moment = parsedate_to_datetime(text)
    except (TypeError, ValueError) as exc:
        raise AccessDenied("AWS authentication requires a valid Date or x-amz-date header") from exc
    if abs((now - moment).total_seconds()) > max_skew:
        raise AccessDenied(
            "The difference between the request time and the current time is too large.",
            code="RequestTimeTooSkewed",
        )
