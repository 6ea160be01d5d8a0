"""Every error lakestow raises on purpose, each carrying the S3 code and HTTP status it maps to.

The front doors render them once: S3 XML on the S3 endpoint, JSON on the console API, one
line on stderr in the CLI.

    LakestowError
    ├── InvalidInput              400 InvalidArgument  (bad names, durations, scopes)
    │   ├── InvalidKey            400 KeyTooLongError / InvalidArgument
    │   └── InvalidRequest        400 InvalidRequest, MalformedXML, BadDigest, ...
    ├── NotFound                  404 NoSuchKey, NoSuchBucket, NoSuchUpload, ...
    ├── AlreadyExists             409 (names taken) / 412 for conditional writes
    ├── PreconditionFailed        412 PreconditionFailed
    ├── NotModified               304
    ├── AccessDenied              403 AccessDenied
    ├── Unauthenticated           403 InvalidAccessKeyId, ExpiredToken, SignatureDoesNotMatch, ...
    └── NotInitialized            the data directory has not been set up
"""

from __future__ import annotations


class LakestowError(Exception):
    """Base of lakestow's own errors: a message meant for the person who caused it."""

    code: str = "InternalError"
    status: int = 500

    def __init__(self, message: str, *, code: str | None = None, status: int | None = None):
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status


class InvalidInput(LakestowError):
    """The caller sent something that can never succeed as sent."""

    code = "InvalidArgument"
    status = 400


class InvalidKey(InvalidInput):
    """An object key that breaks the rules of DESIGN.md section 1."""


class InvalidRequest(InvalidInput):
    """A malformed request: bad XML, a digest that does not match, a wrong part order, ..."""

    code = "InvalidRequest"


class NotFound(LakestowError):
    """The thing asked for does not exist."""

    code = "NoSuchKey"
    status = 404


class AlreadyExists(LakestowError):
    """A name that is taken, or an object that exists where `If-None-Match: *` forbade it."""

    code = "AlreadyExists"
    status = 409


class PreconditionFailed(LakestowError):
    """An `If-Match` / `If-None-Match` / `If-Unmodified-Since` condition did not hold."""

    code = "PreconditionFailed"
    status = 412


class NotModified(LakestowError):
    """A conditional read whose object has not changed."""

    code = "NotModified"
    status = 304


class AccessDenied(LakestowError):
    """The policy refused; the message carries its reason."""

    code = "AccessDenied"
    status = 403


class Unauthenticated(LakestowError):
    """Credentials that cannot be trusted: unknown, tampered, expired, revoked, bad signature."""

    code = "InvalidAccessKeyId"
    status = 403


class NotInitialized(LakestowError):
    """The data directory (or catalog) has not been initialized."""

    code = "NotInitialized"
    status = 500
