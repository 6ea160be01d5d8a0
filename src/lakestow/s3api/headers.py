"""HTTP headers of objects: metadata in and out, ETags, dates, ranges and conditions."""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from urllib.parse import parse_qsl

from lakestow.auth.checksums import ALGORITHMS, HEADER_PREFIX
from lakestow.errors import (
    InvalidInput,
    InvalidRequest,
    LakestowError,
    NotModified,
    PreconditionFailed,
    Unsupported,
)
from lakestow.s3api import xml
from lakestow.storage.checksums import shown
from lakestow.storage.common import check_tags
from lakestow.storage.etags import etag_matches
from lakestow.storage.etags import quoted as quoted
from lakestow.storage.etags import unquoted as unquoted
from lakestow.storage.protocol import Checksum, ObjectInfo

META = "x-amz-meta-"
# System headers kept with the object, stored among its metadata under names that no HTTP
# header can have (a ':' prefix), so they never clash with user metadata.
STORED_HEADERS = (
    "content-encoding",
    "content-disposition",
    "content-language",
    "cache-control",
    "expires",
)
_RANGE = re.compile(r"bytes=(\d*)-(\d*)", re.ASCII)
MAX_METADATA_BYTES = 2048
_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def http_date(moment: datetime) -> str:
    """RFC 7231's IMF-fixdate, as email.utils.format_datetime(usegmt=True) writes it."""
    if moment.utcoffset():
        moment = moment.astimezone(UTC)
    return (
        f"{_DAYS[moment.weekday()]}, {moment.day:02d} {_MONTHS[moment.month - 1]} "
        f"{moment.year:04d} {moment.hour:02d}:{moment.minute:02d}:{moment.second:02d} GMT"
    )


def metadata_from(headers: Mapping[str, str]) -> dict[str, str]:
    """User metadata (x-amz-meta-*) and the stored system headers of a PUT."""
    metadata = {
        name[len(META) :]: value for name, value in headers.items() if name.startswith(META)
    }
    if sum(len(k) + len(v) for k, v in metadata.items()) > MAX_METADATA_BYTES:
        raise InvalidInput(
            "Your metadata headers exceed the maximum allowed metadata size.",
            code="MetadataTooLarge",
        )
    for name in STORED_HEADERS:
        if name in headers:
            value = headers[name]
            if name == "content-encoding":
                value = without_aws_chunked(value)
            if value:
                metadata[":" + name] = value
    return metadata


def without_aws_chunked(content_encoding: str) -> str:
    """The Content-Encoding to keep with an object: the one sent, less the `aws-chunked` of
    a signed chunked upload ("aws-chunked, gzip" keeps "gzip"); any other as it was sent
    ("deflate, gzip" stays "deflate, gzip")."""
    codings = content_encoding.split(",")
    kept = [coding for coding in codings if coding.strip().lower() != "aws-chunked"]
    return content_encoding if len(kept) == len(codings) else ",".join(kept).strip(" \t,")


def object_headers(info: ObjectInfo, overrides: Mapping[str, str] | None = None) -> dict[str, str]:
    """The headers of a GET or HEAD answer for `info`, with response-* overrides applied.

    `nosniff`: a browser opening an object (a presigned link) renders it as its stored type,
    never as what the content looks like. `sandbox`: a stored HTML page it renders runs no
    script and stays in an origin of its own, so it cannot act for a member signed in to the
    console, which has the same host."""
    headers = {
        "etag": quoted(info.etag),
        "last-modified": http_date(info.last_modified),
        "content-type": info.content_type,
        "accept-ranges": "bytes",
    }
    for name, value in info.metadata.items():
        headers[name[1:] if name.startswith(":") else META + name] = value
    if info.parts_count:
        headers["x-amz-mp-parts-count"] = str(info.parts_count)
    if info.tag_count:
        headers["x-amz-tagging-count"] = str(info.tag_count)
    headers.update(version_headers(info.version_id))
    for name, value in (overrides or {}).items():
        headers[name] = value
    # last: nothing stored can take them away
    headers["x-content-type-options"] = "nosniff"
    headers["content-security-policy"] = "sandbox"
    return headers


def version_id(value: str | None) -> str | None:
    """A versionId as a request names it (None: none named, the latest); InvalidArgument for
    an empty one, as S3 answers it."""
    if value == "":
        raise InvalidInput("Version id cannot be the empty string")
    return value


def version_headers(version_id: str | None, *, delete_marker: bool = False) -> dict[str, str]:
    """x-amz-version-id of an answer about a version (none in a bucket never versioned),
    and x-amz-delete-marker when that version is a delete marker."""
    headers = {} if version_id is None else {"x-amz-version-id": version_id}
    if delete_marker:
        headers["x-amz-delete-marker"] = "true"
    return headers


def response_overrides(query: Mapping[str, str]) -> dict[str, str]:
    names = (
        "content-type",
        "content-language",
        "expires",
        "cache-control",
        "content-disposition",
        "content-encoding",
    )
    return {name: query[f"response-{name}"] for name in names if f"response-{name}" in query}


def content_md5(headers: Mapping[str, str]) -> bytes | None:
    value = headers.get("content-md5")
    if value is None:
        return None
    try:
        digest = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        digest = b""
    if len(digest) != 16:
        raise InvalidRequest("The Content-MD5 you specified was invalid.", code="InvalidDigest")
    return digest


def parse_range(value: str | None) -> tuple[tuple[int, int | None] | None, int | None]:
    """(byte_range, suffix_length) of a Range header; a form we don't serve means the whole."""
    if not value:
        return None, None
    match = _RANGE.fullmatch(value.strip())
    if not match or (not match[1] and not match[2]):
        return None, None  # several ranges or another unit: S3 answers with the whole object
    first, last = match[1], match[2]
    if not first:
        return None, int(last)
    if last and int(last) < int(first):
        return None, None
    return (int(first), int(last) if last else None), None


def check_conditions(headers: Mapping[str, str], info: ObjectInfo, prefix: str = "") -> None:
    """If-Match, If-None-Match, If-(Un)Modified-Since of a read, in the order S3 applies them.

    `prefix` is "x-amz-copy-source-" for the source conditions of a copy.
    """
    if_match = headers.get(prefix + "if-match")
    if_none_match = headers.get(prefix + "if-none-match")
    if if_match is not None and not etag_matches(if_match, info.etag):
        raise _failed(info, prefix)
    if if_match is None and _since(headers, prefix + "if-unmodified-since", info, after=True):
        raise _failed(info, prefix)
    if if_none_match is not None and etag_matches(if_none_match, info.etag):
        raise _not_modified(info, prefix)
    if if_none_match is None and _since(headers, prefix + "if-modified-since", info, after=False):
        raise _not_modified(info, prefix)


def _failed(info: ObjectInfo, prefix: str) -> PreconditionFailed:
    """412; to a read it names the object's ETag and Last-Modified, which the client needs
    to know what it has (a copy's are the source's, not the answer's: none)."""
    error = PreconditionFailed("At least one of the pre-conditions you specified did not hold")
    return error if prefix else error.with_headers(validators(info))


def _not_modified(info: ObjectInfo, prefix: str) -> LakestowError:
    if prefix:  # a copy whose source did not change: S3 says 412
        return _failed(info, prefix)
    # RFC 9110 15.4.5: a 304 carries the ETag and the validators a 200 would have
    return NotModified("Not Modified").with_headers(validators(info))


def validators(info: ObjectInfo) -> dict[str, str]:
    """The ETag and Last-Modified of `info`, as a GET of it answers them."""
    return {"etag": quoted(info.etag), "last-modified": http_date(info.last_modified)}


def _since(headers: Mapping[str, str], name: str, info: ObjectInfo, *, after: bool) -> bool:
    """True when the condition `name` fails: modified after (or not after) the given date."""
    value = headers.get(name)
    if value is None:
        return False
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return False  # S3 ignores a date it cannot read
    modified = info.last_modified.replace(microsecond=0)
    return modified > moment if after else modified <= moment


def checksum_headers(checksum: Checksum | None, parts_count: int | None) -> dict[str, str]:
    """x-amz-checksum-<algorithm> and x-amz-checksum-type of a stored checksum, as PUT, GET
    and HEAD answer them (a COMPOSITE one followed by `-<parts count>`)."""
    if checksum is None:
        return {}
    return {
        HEADER_PREFIX + checksum.algorithm: shown(checksum, parts_count),
        "x-amz-checksum-type": checksum.type,
    }


def checksum_elements(checksum: Checksum | None, parts_count: int | None) -> list[str]:
    """`<ChecksumCRC32>...</ChecksumCRC32><ChecksumType>...</ChecksumType>` of a checksum, as
    S3's XML answers carry it: Complete and Copy with a COMPOSITE one's `-<parts count>`
    (`parts_count`), GetObjectAttributes without (None)."""
    if checksum is None:
        return []
    return [
        xml.tag(checksum_element(checksum.algorithm), shown(checksum, parts_count)),
        xml.tag("ChecksumType", checksum.type),
    ]


def part_checksum(checksum: Checksum | None) -> str:
    """A part's own checksum as its <Part> carries it (`<ChecksumCRC32>...`), or "" for none."""
    if checksum is None:
        return ""
    return xml.tag(checksum_element(checksum.algorithm), checksum.value)


def checksum_element(algorithm: str) -> str:
    """The XML element of a checksum of `algorithm`: ChecksumCRC32, ChecksumSHA256, ..."""
    return "Checksum" + algorithm.upper()


def wants_checksum(headers: Mapping[str, str]) -> bool:
    """Whether a GET or HEAD asks for the object's checksum (x-amz-checksum-mode: ENABLED)."""
    return headers.get("x-amz-checksum-mode", "").strip().upper() == "ENABLED"


def checksum_algorithm(headers: Mapping[str, str]) -> str | None:
    """The x-amz-checksum-algorithm of a CreateMultipartUpload or CopyObject (lower case);
    InvalidRequest for one lakestow does not compute."""
    value = headers.get("x-amz-checksum-algorithm")
    if value is None:
        return None
    algorithm = value.strip().lower()
    if algorithm not in ALGORITHMS:
        valid = ", ".join(name.upper() for name in ALGORITHMS)
        raise InvalidRequest(
            "Checksum algorithm provided is unsupported. Please try again with any of the "
            f"valid types: [{valid}]"
        )
    return algorithm


def tags_from(headers: Mapping[str, str]) -> dict[str, str] | None:
    """The tag set of x-amz-tagging ("encoded as URL Query parameters", Key1=Value1&Key2=...),
    None without the header; InvalidTag for one S3 refuses."""
    value = headers.get("x-amz-tagging")
    if value is None:
        return None
    try:
        pairs = parse_qsl(
            value, keep_blank_values=True, strict_parsing=bool(value), errors="strict"
        )
    except (ValueError, UnicodeDecodeError):
        raise InvalidRequest(
            "The header 'x-amz-tagging' shall be encoded as UTF-8 then URLEncoded URL query "
            "parameters without tag name duplicates.",
            code="InvalidTag",
        ) from None
    return check_tags(pairs)


def tagging_directive(headers: Mapping[str, str]) -> str:
    """A copy's x-amz-tagging-directive: COPY (the default) or REPLACE."""
    directive = headers.get("x-amz-tagging-directive", "COPY").strip().upper()
    if directive not in ("COPY", "REPLACE"):
        raise InvalidInput("Unknown tagging directive.")
    return directive


STORAGE_CLASS = "STANDARD"
"""The one storage class lakestow keeps objects in. S3 answers x-amz-storage-class on GET and
HEAD "for all objects except for S3 Standard storage class objects": lakestow never does."""
STORAGE_CLASSES = frozenset(
    {
        "STANDARD",
        "REDUCED_REDUNDANCY",
        "STANDARD_IA",
        "ONEZONE_IA",
        "INTELLIGENT_TIERING",
        "GLACIER",
        "DEEP_ARCHIVE",
        "OUTPOSTS",
        "GLACIER_IR",
        "SNOW",
        "EXPRESS_ONEZONE",
        "FSX_OPENZFS",
        "FSX_ONTAP",
    }
)
"""S3's storage classes (the API reference's StorageClass values)."""
_SSE_C = "server-side-encryption-customer-"


def refuse_what_cannot_be_honoured(method: str, headers: Mapping[str, str]) -> None:
    """Refuse, before anything is read or written, the object headers lakestow would otherwise
    accept and drop:

    - x-amz-storage-class other than STANDARD (400 InvalidStorageClass): every object is kept
      alike, and an archive class (GLACIER, ...) would tell clients to restore before reading;
    - x-amz-server-side-encryption (AES256, aws:kms, aws:kms:dsse) and its KMS companions on a
      write (501 NotImplemented): lakestow does not encrypt objects at rest, and saying it did
      would be false;
    - SSE-C, customer-provided keys (x-amz-server-side-encryption-customer-*, also of a copy
      source), on any request (501 NotImplemented): lakestow neither keeps nor uses such keys.
    """
    for name in headers:
        if _SSE_C in name and name.startswith(("x-amz-server-side", "x-amz-copy-source-server")):
            raise Unsupported(
                "lakestow does not implement server-side encryption with customer-provided keys "
                f"(SSE-C): {name} cannot be honoured."
            )
    if method not in ("PUT", "POST"):
        return
    sse = [name for name in headers if name.startswith("x-amz-server-side-encryption")]
    if sse:
        raise Unsupported(
            "lakestow does not encrypt objects at rest: server-side encryption "
            f"({', '.join(sorted(sse))}) cannot be honoured. Send the object without it."
        )
    storage_class = headers.get("x-amz-storage-class")
    if storage_class is None or storage_class.strip() == STORAGE_CLASS:
        return
    if storage_class.strip() not in STORAGE_CLASSES:
        raise InvalidRequest(
            "The storage class you specified is not valid.", code="InvalidStorageClass"
        )
    raise InvalidRequest(
        f"lakestow keeps every object in the {STORAGE_CLASS} storage class; "
        f"{storage_class.strip()} is not offered.",
        code="InvalidStorageClass",
    )
