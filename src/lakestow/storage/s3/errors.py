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
    Unavailable,
    Unsupported,
)

_BY_CODE: dict[str, tuple[type[LakestowError], str]] = {
    "NoSuchKey": (NotFound, "NoSuchKey"),
    "404": (NotFound, "NoSuchKey"),  # HEAD answers carry no body, hence no code
    "NotFound": (NotFound, "NoSuchKey"),
    "NoSuchUpload": (NotFound, "NoSuchUpload"),
    "NoSuchVersion": (NotFound, "NoSuchVersion"),
    # A GET (HEAD: 405) of a delete marker's version.
    "MethodNotAllowed": (Unsupported, "MethodNotAllowed"),
    "405": (Unsupported, "MethodNotAllowed"),
    "PreconditionFailed": (PreconditionFailed, "PreconditionFailed"),
    "412": (PreconditionFailed, "PreconditionFailed"),
    # AWS answers a conditional write that lost a race with 409; it is the same outcome.
    "ConditionalRequestConflict": (PreconditionFailed, "PreconditionFailed"),
    "304": (NotModified, "NotModified"),
    "InvalidRange": (InvalidRequest, "InvalidRange"),
    "416": (InvalidRequest, "InvalidRange"),
    "InvalidPart": (InvalidRequest, "InvalidPart"),
    "InvalidPartOrder": (InvalidRequest, "InvalidPartOrder"),
    "EntityTooSmall": (InvalidRequest, "EntityTooSmall"),
    "EntityTooLarge": (InvalidRequest, "EntityTooLarge"),
    "BadDigest": (InvalidRequest, "BadDigest"),
    "InvalidDigest": (InvalidRequest, "InvalidDigest"),
    "MalformedXML": (InvalidRequest, "MalformedXML"),
    "InvalidTag": (InvalidRequest, "InvalidTag"),
    "InvalidRequest": (InvalidRequest, "InvalidRequest"),
    "InvalidArgument": (InvalidInput, "InvalidArgument"),
    "400": (InvalidInput, "InvalidArgument"),  # a HEAD's (a malformed version id)
    "KeyTooLongError": (InvalidKey, "KeyTooLongError"),
    "MetadataTooLarge": (InvalidInput, "MetadataTooLarge"),
    "NotImplemented": (Unsupported, "NotImplemented"),
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
    return from_code(str(error.get("Code") or status), str(error.get("Message") or ""))


def from_code(code: str, message: str) -> LakestowError:
    """The lakestow error for an upstream error code (also per key, as DeleteObjects has)."""
    message = message or code or "The upstream store refused the request."
    if code in _BY_CODE:
        kind, s3_code = _BY_CODE[code]
        return kind(message, code=s3_code)
    if code in _UPSTREAM_FAULTS:
        return LakestowError(f"The upstream store refused lakestow: {code}: {message}")
    if code in ("SlowDown", "503", "ServiceUnavailable"):
        return Unavailable("The upstream store is busy.", code="SlowDown")
    return LakestowError(f"The upstream store failed: {code}: {message}")


def delete_marker(error: LakestowError) -> tuple[bool, str | None]:
    """Whether the upstream answered `error` (raised by `upstream.Upstream`, before anything
    re-raised it) about a delete marker (x-amz-delete-marker), and the version id it named.
    Kept off the error's own headers: only the store knows whether to show them."""
    cause = error.__cause__
    if not isinstance(cause, ClientError):
        return False, None
    headers = cause.response.get("ResponseMetadata", {}).get("HTTPHeaders", {})
    return headers.get("x-amz-delete-marker") == "true", headers.get("x-amz-version-id")


def lakestow_error(exc: ClientError | BotoCoreError) -> LakestowError:
    """The lakestow error for anything botocore raises: an error response, or no response
    at all (connection refused, timeouts, a response cut short)."""
    if isinstance(exc, ClientError):
        return translate(exc)
    return Unavailable(f"The upstream store is unreachable: {exc}")
