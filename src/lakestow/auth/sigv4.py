"""AWS Signature Version 4 verification for the S3 endpoint, free of any HTTP framework.

The HTTP layer hands over a `SignedRequest` exactly as it arrived. `parse` reads the
authentication it carries (an `Authorization` header or a presigned query) without judging it;
`verify` then checks it against the secret key: credential scope, clock, expiry, which headers
were signed, and the signature itself.

    auth = parse(request)                      # None: an anonymous request
    signer = verify(request, auth, secret, region="us-east-1", now=now)
    # then, by auth.payload_hash: a hex sha256 -> check_payload_sha256() once the body is read;
    # a STREAMING-* mode -> chunked.AwsChunkedDecoder(body, mode=..., signer=signer);
    # UNSIGNED-PAYLOAD -> nothing to check (x-amz-checksum-* may still apply: checksums.py)

No library verifies SigV4 on the server side (botocore and awscrt only sign), so the canonical
request and the HMAC chain are written here with `hashlib` and `hmac`, after the S3 API
reference pages sig-v4-header-based-auth and sigv4-query-string-auth. S3 departs from generic
SigV4 in one way: the path is not normalized ("//", "." and ".." are signed as sent).

Header values are expected as ASGI servers give them: the wire bytes decoded as latin-1.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from urllib.parse import quote_from_bytes, unquote, unquote_to_bytes

from lakestow.auth.chunked import SIGNATURE_MISMATCH, STREAMING_PAYLOADS, ChunkSigner
from lakestow.errors import AccessDenied, InvalidRequest, Unauthenticated

__all__ = [
    "ALGORITHM",
    "MAX_PRESIGNED_EXPIRES",
    "SIGNATURE_MISMATCH",
    "STREAMING_PAYLOADS",
    "UNSIGNED_PAYLOAD",
    "ChunkSigner",
    "SigV4Auth",
    "SignedRequest",
    "canonical_query",
    "canonical_request",
    "canonical_uri",
    "check_payload_sha256",
    "parse",
    "payload_is_sha256",
    "verify",
]

ALGORITHM = "AWS4-HMAC-SHA256"
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
MAX_PRESIGNED_EXPIRES = 604_800  # seven days, as S3
_AMZ_DATE = re.compile(r"\d{8}T\d{6}Z")
_HEX64 = re.compile(r"[0-9a-fA-F]{64}")
_DAY = re.compile(r"\d{8}")
_EXPIRES = re.compile(r"-?\d{1,12}")
_SPACES = re.compile(r"[ \t]+")
_PLAIN_PATH = re.compile(r"[A-Za-z0-9\-._~/]*")
# A query already in canonical form, but for its order: unreserved characters, and escapes in
# upper case of the bytes that must stay escaped (not of A-Z a-z 0-9 - . _ ~, which decode).
_CANONICAL_QUERY = re.compile(
    r"(?:[A-Za-z0-9\-._~=&]|%(?:[01][0-9A-F]|2[0-9A-CF]|3[A-F]|40|5[B-E]|60|7[B-DF]|[89A-F][0-9A-F]))*"
)
_PRESIGN_PARAMS = (
    "X-Amz-Algorithm",
    "X-Amz-Credential",
    "X-Amz-Date",
    "X-Amz-Expires",
    "X-Amz-SignedHeaders",
    "X-Amz-Signature",
)
_OPTIONAL_PARAMS = ("X-Amz-Security-Token", "X-Amz-Content-Sha256")
_PRESIGN_MARKERS = ("X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Signature")
# x-amz-content-sha256 may go unsigned, as on S3: its value is in the canonical request anyway.
_MAY_GO_UNSIGNED = frozenset({"x-amz-content-sha256"})


@dataclass(frozen=True)
class SignedRequest:
    """A request as the HTTP layer received it, before any decoding."""

    method: str
    raw_path: str  # percent-encoded path as on the wire, e.g. "/bucket/a%20b/c"
    raw_query: str  # raw query string without '?', may be ""
    headers: Mapping[str, str]  # lower-cased names -> values (repeats joined by ",")


@dataclass  # not frozen: built for every request, and a frozen one costs 7x as much
class SigV4Auth:
    """The SigV4 authentication a request carries, parsed but not yet verified."""

    access_key_id: str
    date: str  # YYYYMMDD from the credential scope
    region: str
    service: str
    signed_headers: tuple[str, ...]
    signature: str
    amz_date: datetime  # request time (X-Amz-Date header or query), UTC aware
    session_token: str | None
    presigned: bool
    expires: int | None  # X-Amz-Expires of a presigned URL
    payload_hash: str  # as signed: hex sha256, UNSIGNED-PAYLOAD or a STREAMING-* mode

    @property
    def scope(self) -> str:
        """The credential scope without the access key: date/region/service/aws4_request."""
        return f"{self.date}/{self.region}/{self.service}/aws4_request"


# -- parse ----------------------------------------------------------------------------------


def parse(request: SignedRequest) -> SigV4Auth | None:
    """Read the SigV4 authentication of `request`; None when it carries none at all.

    Raises on authentication that is present but malformed or of an unsupported kind.
    """
    header = request.headers.get("authorization")
    names = {unquote(part.partition("=")[0]) for part in request.raw_query.split("&")}
    presigned = any(name in names for name in _PRESIGN_MARKERS)
    if header is not None and presigned:
        raise InvalidRequest(
            "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter or "
            "the Authorization header should be specified",
            code="InvalidArgument",
        )
    if header is not None:
        return _parse_header(request, header)
    if presigned:
        return _parse_query(request, _query_params(request.raw_query))
    return None


def _parse_header(request: SignedRequest, header: str) -> SigV4Auth:
    algorithm, _, rest = header.strip().partition(" ")
    if algorithm != ALGORITHM:  # SigV2 ("AWS ...") is auth.sigv2's, asked first
        raise InvalidRequest("Unsupported Authorization Type", code="InvalidArgument")
    fields = _header_fields(rest)
    access_key_id, date, region, service = _credential(fields["Credential"], presigned=False)
    return SigV4Auth(
        access_key_id=access_key_id,
        date=date,
        region=region,
        service=service,
        signed_headers=_signed_headers(fields["SignedHeaders"], presigned=False),
        signature=_signature(fields["Signature"], presigned=False),
        amz_date=_header_date(request.headers),
        session_token=request.headers.get("x-amz-security-token"),
        presigned=False,
        expires=None,
        payload_hash=_header_payload_hash(request.headers),
    )


def _header_fields(text: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    for part in text.split(","):
        name, _, value = part.strip().partition("=")
        if name in fields:
            raise _malformed(f"{name} appears twice", presigned=False)
        fields[name] = value
    for name in ("Credential", "SignedHeaders", "Signature"):
        if not fields.get(name):
            raise _malformed(f"missing {name}", presigned=False)
    return fields


def _parse_query(request: SignedRequest, params: Mapping[str, list[str]]) -> SigV4Auth:
    values = _presign_values(params)
    if values["X-Amz-Algorithm"] != ALGORITHM:
        raise _malformed(f'X-Amz-Algorithm only supports "{ALGORITHM}"', presigned=True)
    signed_headers = _signed_headers(values["X-Amz-SignedHeaders"], presigned=True)
    access_key_id, date, region, service = _credential(values["X-Amz-Credential"], presigned=True)
    return SigV4Auth(
        access_key_id=access_key_id,
        date=date,
        region=region,
        service=service,
        signed_headers=signed_headers,
        signature=_signature(values["X-Amz-Signature"], presigned=True),
        amz_date=_query_date(values["X-Amz-Date"]),
        session_token=values.get("X-Amz-Security-Token"),
        presigned=True,
        expires=_expires(values["X-Amz-Expires"]),
        payload_hash=_presigned_payload_hash(request.headers, values, signed_headers),
    )


def _presign_values(params: Mapping[str, list[str]]) -> dict[str, str]:
    if any(name not in params for name in _PRESIGN_PARAMS):
        raise _malformed(
            "Query-string authentication version 4 requires the X-Amz-Algorithm, "
            "X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, "
            "and X-Amz-Expires parameters.",
            presigned=True,
        )
    values: dict[str, str] = {}
    for name in (*_PRESIGN_PARAMS, *_OPTIONAL_PARAMS):
        if len(params.get(name, ())) > 1:
            raise _malformed(f"{name} appears more than once", presigned=True)
        if name in params:
            values[name] = params[name][0]
    return values


@functools.lru_cache(maxsize=1024)
def _credential(text: str, *, presigned: bool) -> tuple[str, str, str, str]:
    # Cached, like `_signed_headers`: a client sends the same scope on every request of a day.
    parts = text.split("/")
    if len(parts) != 5 or not all(parts) or not _DAY.fullmatch(parts[1]):
        raise _malformed(
            'the Credential is mal-formed; expecting "<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/'
            'aws4_request".',
            presigned=presigned,
        )
    if parts[4] != "aws4_request":
        raise _malformed(
            f'incorrect terminal "{parts[4]}". This endpoint uses "aws4_request".',
            presigned=presigned,
        )
    return parts[0], parts[1], parts[2], parts[3]


@functools.lru_cache(maxsize=1024)
def _signed_headers(text: str, *, presigned: bool) -> tuple[str, ...]:
    names = tuple(text.split(";"))
    if not all(names) or len(set(names)) != len(names) or text != text.lower():
        raise _malformed(f"the SignedHeaders list {text!r} is malformed", presigned=presigned)
    return names


def _signature(text: str, *, presigned: bool) -> str:
    if not _HEX64.fullmatch(text):
        raise _malformed("the Signature is not 64 hexadecimal digits", presigned=presigned)
    return text.lower()


def _header_date(headers: Mapping[str, str]) -> datetime:
    text = headers.get("x-amz-date")
    try:
        if text is not None:
            return _amz_date(text)
        moment = parsedate_to_datetime(headers["date"])
        return moment.replace(tzinfo=moment.tzinfo or UTC).astimezone(UTC)
    except (KeyError, TypeError, ValueError):
        raise AccessDenied(
            "AWS authentication requires a valid Date or x-amz-date header"
        ) from None


def _query_date(text: str) -> datetime:
    try:
        return _amz_date(text)
    except ValueError:
        raise _malformed(
            "X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\"",
            presigned=True,
        ) from None


def _amz_date(text: str) -> datetime:
    # By hand: strptime costs more than the whole rest of parsing a request's authentication.
    if not _AMZ_DATE.fullmatch(text):
        raise ValueError(text)
    numbers = (text[0:4], text[4:6], text[6:8], text[9:11], text[11:13], text[13:15])
    year, month, day, hour, minute, second = map(int, numbers)
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)  # ValueError if invalid


def _stamp(moment: datetime) -> str:
    """`YYYYMMDDTHHMMSSZ` (strftime's result, several times faster)."""
    return (
        f"{moment.year:04d}{moment.month:02d}{moment.day:02d}"
        f"T{moment.hour:02d}{moment.minute:02d}{moment.second:02d}Z"
    )


def _expires(text: str) -> int:
    # A presigned URL lives 1 second to 7 days; outside that S3 refuses it with 403
    # AuthorizationQueryParametersError, before it even looks at the signature.
    if not _EXPIRES.fullmatch(text):
        raise _malformed("X-Amz-Expires should be a number", presigned=True)
    seconds = int(text)
    if seconds < 0:
        raise _malformed("X-Amz-Expires must be non-negative", presigned=True)
    if seconds == 0:
        raise _malformed("X-Amz-Expires must be at least 1 second", presigned=True)
    if seconds > MAX_PRESIGNED_EXPIRES:
        raise _malformed(
            "X-Amz-Expires must be less than a week (in seconds); that is, the given "
            f"X-Amz-Expires must be less than {MAX_PRESIGNED_EXPIRES} seconds",
            presigned=True,
        )
    return seconds


def _header_payload_hash(headers: Mapping[str, str]) -> str:
    # S3 requires the header on every header-signed request (400 InvalidRequest), and so do we:
    # a lenient empty-body default would accept a body nobody vouched for.
    value = headers.get("x-amz-content-sha256")
    if value is None:
        raise InvalidRequest("Missing required header for this request: x-amz-content-sha256")
    return _valid_payload_hash(value)


def _presigned_payload_hash(
    headers: Mapping[str, str], values: Mapping[str, str], signed_headers: tuple[str, ...]
) -> str:
    # A presigned URL signs UNSIGNED-PAYLOAD unless its signer bound a hash: as a query
    # parameter (signed with the rest of the query) or as a signed header.
    value = values.get("X-Amz-Content-Sha256")
    if value is None and "x-amz-content-sha256" in signed_headers:
        value = headers.get("x-amz-content-sha256")
    payload_hash = _valid_payload_hash(value or UNSIGNED_PAYLOAD)
    if payload_hash in STREAMING_PAYLOADS:
        raise InvalidRequest("aws-chunked bodies cannot be sent to a presigned URL")
    return payload_hash


def _valid_payload_hash(value: str) -> str:
    if value == UNSIGNED_PAYLOAD or value in STREAMING_PAYLOADS or _HEX64.fullmatch(value):
        return value
    raise InvalidRequest(
        "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-UNSIGNED-PAYLOAD-TRAILER, "
        "STREAMING-AWS4-HMAC-SHA256-PAYLOAD, STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER "
        "or a valid sha256 value.",
        code="InvalidArgument",
    )


def _malformed(detail: str, *, presigned: bool) -> InvalidRequest:
    if presigned:
        return InvalidRequest(detail, code="AuthorizationQueryParametersError")
    return InvalidRequest(
        f"The authorization header is malformed; {detail}", code="AuthorizationHeaderMalformed"
    )


# -- verify ---------------------------------------------------------------------------------


def verify(
    request: SignedRequest,
    auth: SigV4Auth,
    secret_key: str,
    *,
    region: str,
    now: datetime,
    max_skew: timedelta = timedelta(minutes=15),
    service: str = "s3",
) -> ChunkSigner:
    """Check `auth` (from `parse(request)`) against `secret_key`; raise unless it holds.

    `now` must be timezone aware. Returns the `ChunkSigner` that aws-chunked bodies of this
    request are verified with (harmless to ignore for other payloads).
    """
    stamp = _stamp(auth.amz_date)
    _check_scope(auth, stamp, region=region, service=service)
    _check_time(auth, now=now, max_skew=max_skew)
    _check_all_signed(request, auth)
    key = _signing_key(secret_key, auth.date, auth.region, auth.service)
    digest = hashlib.sha256(_wire_bytes(canonical_request(request, auth))).hexdigest()
    string_to_sign = "\n".join((ALGORITHM, stamp, auth.scope, digest))
    expected = hmac.digest(key, string_to_sign.encode(), "sha256").hex()  # one-shot, in C
    if not hmac.compare_digest(expected, auth.signature):
        raise Unauthenticated(SIGNATURE_MISMATCH, code="SignatureDoesNotMatch")
    return ChunkSigner(signing_key=key, seed_signature=expected, amz_date=stamp, scope=auth.scope)


def _check_scope(auth: SigV4Auth, stamp: str, *, region: str, service: str) -> None:
    presigned = auth.presigned
    if auth.service != service:
        raise _malformed(
            f'incorrect service "{auth.service}". This endpoint belongs to "{service}".',
            presigned=presigned,
        )
    if auth.region != region:
        raise _malformed(
            f"the region '{auth.region}' is wrong; expecting '{region}'", presigned=presigned
        )
    day = stamp[:8]
    if auth.date != day:
        raise _malformed(
            f'Invalid credential date "{auth.date}". This date is not the same as '
            f'X-Amz-Date: "{day}".',
            presigned=presigned,
        )


def _check_time(auth: SigV4Auth, *, now: datetime, max_skew: timedelta) -> None:
    if not auth.presigned:
        if abs(now - auth.amz_date) > max_skew:
            raise Unauthenticated(
                "The difference between the request time and the current time is too large.",
                code="RequestTimeTooSkewed",
            )
        return
    expires = auth.expires or 0
    if now < auth.amz_date - max_skew:
        raise AccessDenied("Request is not valid yet")
    if now > auth.amz_date + timedelta(seconds=expires):
        raise AccessDenied("Request has expired")


def _check_all_signed(request: SignedRequest, auth: SigV4Auth) -> None:
    # As S3: the host and every x-amz-* header sent must be signed, or a presigned URL's holder
    # (or anyone on the path) could add, say, x-amz-copy-source to a request they did not sign.
    signed = set(auth.signed_headers)
    unsigned = sorted(
        name
        for name in request.headers
        if name.startswith("x-amz-") and name not in signed and name not in _MAY_GO_UNSIGNED
    )
    if "host" not in signed:
        unsigned.insert(0, "host")
    if unsigned:
        raise AccessDenied(
            "There were headers present in the request which were not signed: "
            + ", ".join(unsigned)
        )


@functools.lru_cache(maxsize=1024)
def _signing_key(secret_key: str, date: str, region: str, service: str) -> bytes:
    # Every request derives one; a key is good for a whole day and scope, so cache it. The
    # cache lives in process memory only, like the secrets it is derived from.
    key = f"AWS4{secret_key}".encode()
    for part in (date, region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


# -- the canonical request ------------------------------------------------------------------


def canonical_request(request: SignedRequest, auth: SigV4Auth) -> str:
    """The SigV4 canonical request of `request` as `auth` says it was signed."""
    headers = "".join(
        f"{name}:{_trim(request.headers.get(name, ''))}\n" for name in auth.signed_headers
    )
    return "\n".join(
        (
            request.method,
            canonical_uri(request.raw_path),
            canonical_query(request.raw_query, presigned=auth.presigned),
            headers,
            ";".join(auth.signed_headers),
            auth.payload_hash,
        )
    )


def canonical_uri(raw_path: str) -> str:
    """Decode, then encode by the AWS rules (all but A-Za-z0-9-._~ and '/'); no normalizing."""
    if _PLAIN_PATH.fullmatch(raw_path):
        return raw_path or "/"  # most paths: nothing to decode, nothing to encode
    return quote_from_bytes(unquote_to_bytes(raw_path), safe="/") or "/"


def canonical_query(raw_query: str, *, presigned: bool = False) -> str:
    """Decode each name and value ('+' stays '+'), encode by the AWS rules, sort."""
    if _CANONICAL_QUERY.fullmatch(raw_query):  # most queries: only the order may change
        plain = [part.partition("=") for part in raw_query.split("&") if part]
        if all("=" not in value for _, _, value in plain):
            return "&".join(
                f"{name}={value}"
                for name, value in sorted((name, value) for name, _, value in plain)
                if not (presigned and name == "X-Amz-Signature")
            )
    pairs = sorted(
        (_aws_encode(name), _aws_encode(value))
        for name, value in _query_pairs(raw_query)
        if not (presigned and name == b"X-Amz-Signature")
    )
    return "&".join(f"{name}={value}" for name, value in pairs)


def _query_pairs(raw_query: str) -> list[tuple[bytes, bytes]]:
    pairs = []
    for part in raw_query.split("&"):
        if part:
            name, _, value = part.partition("=")
            pairs.append((unquote_to_bytes(name), unquote_to_bytes(value)))
    return pairs


def _query_params(raw_query: str) -> dict[str, list[str]]:
    params: dict[str, list[str]] = {}
    for name, value in _query_pairs(raw_query):
        params.setdefault(name.decode(errors="replace"), []).append(value.decode(errors="replace"))
    return params


def _aws_encode(raw: bytes) -> str:
    return quote_from_bytes(raw, safe="")


def _trim(value: str) -> str:
    value = value.strip(" \t")
    return _SPACES.sub(" ", value) if "  " in value or "\t" in value else value


def _wire_bytes(text: str) -> bytes:
    # Everything but header values is ASCII; header values go back to their wire bytes.
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError:
        return text.encode()


# -- payloads -------------------------------------------------------------------------------


def check_payload_sha256(expected_hex: str, actual_digest: bytes) -> None:
    """Raise unless a body's sha256 `actual_digest` is the x-amz-content-sha256 it was sent with."""
    if not hmac.compare_digest(expected_hex.lower(), actual_digest.hex()):
        raise InvalidRequest(
            "The provided 'x-amz-content-sha256' header does not match what was computed.",
            code="XAmzContentSHA256Mismatch",
        )


def payload_is_sha256(payload_hash: str) -> bool:
    """Whether the body must be hashed and checked with `check_payload_sha256`."""
    return _HEX64.fullmatch(payload_hash) is not None
