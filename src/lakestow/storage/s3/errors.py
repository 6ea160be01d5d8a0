"""Which lakestow error each of the upstream's errors becomes (`upstream.Upstream` applies it).

Client-side problems the upstream reports (a missing key, a failed condition, a bad part list)
keep their S3 code and become the matching lakestow error. Problems between lakestow and its
upstream (refused credentials, a missing upstream bucket, an unreachable endpoint, throttling)
are the server's, not the caller's: they become 5xx errors that name the upstream.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from lakestow.errors import (
    InvalidInput,
    InvalidKey,
    InvalidRequest,
    LakestowError,
    NotFound,
    NotModified,
    PreconditionFailed,
)

_BY_CODE: dict[str, tuple[type[LakestowError], str, int]] = {
    "NoSuchKey": (NotFound, "NoSuchKey", 404),
    "404": (NotFound, "NoSuchKey", 404),  # HEAD answers carry no body, hence no code
    "NotFound": (NotFound, "NoSuchKey", 404),
    "NoSuchUpload": (NotFound, "NoSuchUpload", 404),
    "PreconditionFailed": (PreconditionFailed, "PreconditionFailed", 412),
    "412": (PreconditionFailed, "PreconditionFailed", 412),
    # AWS answers a conditional write that lost a race with 409; it is the same outcome.
    "ConditionalRequestConflict": (PreconditionFailed, "PreconditionFailed", 412),
    "304": (NotModified, "NotModified", 304),
    "InvalidRange": (InvalidRequest, "InvalidRange", 416),
    "416": (InvalidRequest, "InvalidRange", 416),
    "InvalidPart": (InvalidRequest, "InvalidPart", 400),
    "InvalidPartOrder": (InvalidRequest, "InvalidPartOrder", 400),
    "EntityTooSmall": (InvalidRequest, "EntityTooSmall", 400),
    "EntityTooLarge": (InvalidRequest, "EntityTooLarge", 400),
    "BadDigest": (InvalidRequest, "BadDigest", 400),
    "InvalidDigest": (InvalidRequest, "InvalidDigest", 400),
    "MalformedXML": (InvalidRequest, "MalformedXML", 400),
    "InvalidRequest": (InvalidRequest, "InvalidRequest", 400),
    "InvalidArgument": (InvalidInput, "InvalidArgument", 400),
    "KeyTooLongError": (InvalidKey, "KeyTooLongError", 400),
}

_UPSTREAM_FAULTS = {
    "AccessDenied",
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "ExpiredToken",
    "InvalidToken",
    "NoSuchBucket",
    "403",
}


def translate(exc: ClientError) -> LakestowError:
    """The lakestow error for an upstream error response."""
    error: dict[str, Any] = dict(exc.response.get("Error", {}))
    status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 500)
    return from_code(str(error.get("Code") or status), str(error.get("Message") or ""), status)


def from_code(code: str, message: str, status: int = 500) -> LakestowError:
    """The lakestow error for an upstream error code (also per key, as DeleteObjects has)."""
    message = message or code or "The upstream store refused the request."
    if code in _BY_CODE:
        kind, s3_code, s3_status = _BY_CODE[code]
        return kind(message, code=s3_code, status=s3_status)
    if code in _UPSTREAM_FAULTS:
        return LakestowError(f"The upstream store refused lakestow: {code}: {message}", status=500)
    if code in ("SlowDown", "503", "ServiceUnavailable"):
        return LakestowError("The upstream store is busy.", code="SlowDown", status=503)
    return LakestowError(f"The upstream store failed: {code}: {message}", status=max(status, 500))


def lakestow_error(exc: ClientError | BotoCoreError) -> LakestowError:
    """The lakestow error for anything botocore raises: an error response, or no response
    at all (connection refused, timeouts, a response cut short)."""
    if isinstance(exc, ClientError):
        return translate(exc)
    return LakestowError(
        f"The upstream store is unreachable: {exc}", code="ServiceUnavailable", status=503
    )
