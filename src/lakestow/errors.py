"""Every error lakestow raises on purpose: a closed set of codes, each with one HTTP status.

A raise site picks the class that says what went wrong (callers catch by class) and, where the
class's own code is not precise enough, a code from `STATUS`; the status always follows from the
code, so no raise site chooses one. The front doors render them once: S3 XML on the S3 endpoint,
JSON on the console API, one line on stderr in the CLI.

    LakestowError             500 InternalError
    ├── InvalidInput              400 InvalidArgument  (bad names, durations, scopes)
    │   ├── InvalidKey            400 KeyTooLongError / InvalidArgument
    │   └── InvalidRequest        400 InvalidRequest, MalformedXML, BadDigest, ... 416 InvalidRange,
    │                             403 AuthorizationQueryParametersError
    ├── NotFound                  404 NoSuchKey, NoSuchBucket, NoSuchUpload, ...
    ├── AlreadyExists             409 (names taken, buckets not empty)
    ├── PreconditionFailed        412 PreconditionFailed
    ├── NotModified               304
    ├── AccessDenied              403 AccessDenied, CSRFFailed
    ├── Unauthenticated           403 InvalidAccessKeyId, SignatureDoesNotMatch, 400 ExpiredToken
    │   └── SignInRequired        401 (the console: no session, no valid bearer token)
    ├── TooManyAttempts           429 (sign-in throttling)
    ├── Unsupported               501 NotImplemented, 405 MethodNotAllowed
    ├── Unavailable               503 ServiceUnavailable, SlowDown, StoreInUse
    └── NotInitialized            the data directory has not been set up
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Self

STATUS: dict[str, int] = {
    # The request can never succeed as sent.
    "InvalidArgument": 400,
    "InvalidRequest": 400,
    "InvalidURI": 400,
    "InvalidBucketName": 400,
    "InvalidLocationConstraint": 400,
    "IllegalLocationConstraintException": 400,
    "KeyTooLongError": 400,
    "MetadataTooLarge": 400,
    "MalformedXML": 400,
    "MaxMessageLengthExceeded": 400,
    "RequestHeaderSectionTooLarge": 400,
    "BadDigest": 400,
    "InvalidDigest": 400,
    "XAmzContentSHA256Mismatch": 400,
    "IncompleteBody": 400,
    "InvalidPart": 400,
    "InvalidPartOrder": 400,
    "InvalidTag": 400,
    "InvalidStorageClass": 400,
    "EntityTooSmall": 400,
    "EntityTooLarge": 400,
    "AuthorizationHeaderMalformed": 400,
    "ClientDisconnected": 400,
    "BadRequest": 400,
    "AccessControlListNotSupported": 400,
    "InvalidRange": 416,
    "InvalidPartNumber": 416,
    "BodyTooLarge": 413,
    # Who is asking, and may they.
    "InvalidAccessKeyId": 403,
    "SignatureDoesNotMatch": 403,
    "RequestTimeTooSkewed": 403,
    # A presigned URL's authentication query that is malformed. S3 answers 403 to one whose
    # X-Amz-Expires is outside 1 s..7 days (ceph's s3-tests, test_object_raw_get_x_amz_
    # expires_out_*); one code has one status, so every such refusal is a 403.
    "AuthorizationQueryParametersError": 403,
    "AccessDenied": 403,
    "CSRFFailed": 403,
    "InvalidToken": 400,
    "ExpiredToken": 400,
    "Unauthenticated": 401,
    "TooManyAttempts": 429,
    # What is there.
    "NoSuchKey": 404,
    "NoSuchBucket": 404,
    "NoSuchUpload": 404,
    "NoSuchVersion": 404,
    "NotFound": 404,
    "NoSuchBucketPolicy": 404,
    "NoSuchCORSConfiguration": 404,
    "NoSuchLifecycleConfiguration": 404,
    "NoSuchWebsiteConfiguration": 404,
    "ReplicationConfigurationNotFoundError": 404,
    "ObjectLockConfigurationNotFoundError": 404,
    "NoSuchTagSet": 404,
    "AlreadyExists": 409,
    "BucketAlreadyExists": 409,
    "BucketAlreadyOwnedByYou": 409,
    "BucketNotEmpty": 409,
    "PreconditionFailed": 412,
    "NotModified": 304,
    # What lakestow cannot do, now or ever.
    "MethodNotAllowed": 405,
    "NotImplemented": 501,
    "ServiceUnavailable": 503,
    "SlowDown": 503,
    "StoreInUse": 503,
    "InternalError": 500,
    "NotInitialized": 500,
}


class LakestowError(Exception):
    """Base of lakestow's own errors: a message meant for the person who caused it."""

    code: str = "InternalError"
    headers: Mapping[str, str] = MappingProxyType({})
    """HTTP headers the answer carries besides the error (the ETag and Last-Modified of the
    object a conditional read found): never its status, which follows from the code."""

    def __init__(self, message: str, *, code: str | None = None):
        super().__init__(message)
        self.message = message
        if code is not None:
            if code not in STATUS:
                raise ValueError(f"{code!r} is not one of lakestow's error codes (errors.STATUS)")
            self.code = code

    def with_headers(self, headers: Mapping[str, str]) -> Self:
        """This error, answered with `headers` too."""
        self.headers = MappingProxyType(dict(headers))
        return self

    @property
    def status(self) -> int:
        """The HTTP status of this error's code."""
        return STATUS[self.code]


class InvalidInput(LakestowError):
    """The caller sent something that can never succeed as sent."""

    code = "InvalidArgument"


class InvalidKey(InvalidInput):
    """An object key that breaks the rules of DESIGN.md section 1."""


class InvalidRequest(InvalidInput):
    """A malformed request: bad XML, a digest that does not match, a wrong part order, ..."""

    code = "InvalidRequest"


class NotFound(LakestowError):
    """The thing asked for does not exist."""

    code = "NoSuchKey"


class AlreadyExists(LakestowError):
    """A name that is taken, or a bucket that still holds objects."""

    code = "AlreadyExists"


class PreconditionFailed(LakestowError):
    """An `If-Match` / `If-None-Match` / `If-Unmodified-Since` condition did not hold."""

    code = "PreconditionFailed"


class NotModified(LakestowError):
    """A conditional read whose object has not changed."""

    code = "NotModified"


class AccessDenied(LakestowError):
    """The policy refused; the message carries its reason."""

    code = "AccessDenied"


class Unauthenticated(LakestowError):
    """Credentials that cannot be trusted: unknown, tampered, expired, revoked, bad signature."""

    code = "InvalidAccessKeyId"


class SignInRequired(Unauthenticated):
    """The console's caller has no session, or no bearer token it accepts."""

    code = "Unauthenticated"


class TooManyAttempts(LakestowError):
    """Too many failed attempts from one caller; try again later."""

    code = "TooManyAttempts"


class Unsupported(LakestowError):
    """Something lakestow does not do (here, or with this backend)."""

    code = "NotImplemented"


class Unavailable(LakestowError):
    """The server cannot serve this now; the same request may succeed later."""

    code = "ServiceUnavailable"


class NotInitialized(LakestowError):
    """The data directory (or catalog) has not been initialized."""

    code = "NotInitialized"
