"""S3 semantics shared by every backend: key order, ranges, write conditions, the checks of
a PUT and of a multipart upload, and the errors for a missing bucket or key.

Each rule lives here once; the backends and the S3 endpoint import it (ETags are in `etags`).
Key order is S3's: UTF-8 bytes, which for valid strings is Python's code-point order.
"""

from __future__ import annotations

import itertools
import unicodedata
from collections.abc import Iterable, Sequence

from lakestow.errors import InvalidInput, InvalidRequest, NotFound, PreconditionFailed, Unsupported
from lakestow.storage.etags import clean_etag
from lakestow.storage.protocol import MAX_PART_NUMBER, ObjectInfo

_SURROGATES = range(0xD800, 0xE000)


def successor(prefix: str) -> str | None:
    """The least string greater than every string that starts with `prefix` (None: no bound)."""
    while prefix:
        code = ord(prefix[-1]) + 1
        if code in _SURROGATES:
            code = _SURROGATES.stop
        if code <= 0x10FFFF:
            return prefix[:-1] + chr(code)
        prefix = prefix[:-1]
    return None


def common_prefix(key: str, prefix: str, delimiter: str | None) -> str | None:
    """The common prefix `key` rolls up into under `prefix` and `delimiter`, if any."""
    if not delimiter:
        return None
    at = key.find(delimiter, len(prefix))
    return None if at < 0 else key[: at + len(delimiter)]


def check_range(byte_range: tuple[int, int | None] | None, suffix_length: int | None) -> None:
    """InvalidRange (416) for a range no object can satisfy, whatever its size."""
    if suffix_length is not None and suffix_length <= 0:
        raise unsatisfiable()
    if byte_range is not None:
        first, last = byte_range
        if first < 0 or (last is not None and last < first):
            raise unsatisfiable()


def resolve_range(
    size: int, byte_range: tuple[int, int | None] | None, suffix_length: int | None
) -> tuple[int, int]:
    """The inclusive (start, end) a request asks for of an object of `size` bytes, or
    InvalidRange (416)."""
    check_range(byte_range, suffix_length)
    if suffix_length is not None:
        if size == 0:
            raise unsatisfiable(size)
        return max(0, size - suffix_length), size - 1
    if byte_range is None:
        return 0, size - 1
    first, last = byte_range
    if first >= size:
        raise unsatisfiable(size)
    return first, size - 1 if last is None else min(last, size - 1)


def check_copy_range(size: int, byte_range: tuple[int, int | None] | None) -> None:
    """InvalidArgument (400) for an x-amz-copy-source-range that is not all inside the source,
    as S3 answers it: unlike a GET's Range, an UploadPartCopy's is never clamped."""
    if byte_range is None:
        return
    first, last = byte_range
    if last is None or not 0 <= first <= last < size:
        raise InvalidInput(f"Range specified is not valid for source object of size: {size}")


def unsatisfiable(size: int | None = None) -> InvalidRequest:
    """InvalidRange (416), naming the object's size when known."""
    known = "" if size is None else f" (object size {size})"
    return InvalidRequest(f"The requested range is not satisfiable{known}.", code="InvalidRange")


def part_unsatisfiable() -> InvalidRequest:
    """InvalidPartNumber (416): the object has no such part."""
    return InvalidRequest("The requested partnumber is not satisfiable", code="InvalidPartNumber")


def no_such_bucket(name: str) -> NotFound:
    return NotFound(f"The specified bucket does not exist: {name!r}.", code="NoSuchBucket")


def no_such_key(key: str) -> NotFound:
    return NotFound(f"The specified key does not exist: {key!r}.", code="NoSuchKey")


def clean_metadata(metadata: dict[str, str] | None) -> dict[str, str]:
    """User metadata with lower-case names."""
    return {name.lower(): value for name, value in (metadata or {}).items()}


def check_md5(actual: bytes, expected: bytes | None) -> None:
    """BadDigest unless the body's MD5 is the Content-MD5 the client sent."""
    if expected is not None and expected != actual:
        raise InvalidRequest(
            "The Content-MD5 you specified did not match what we received.", code="BadDigest"
        )


def check_part_number(part_number: int) -> None:
    """InvalidArgument unless 1 <= part_number <= 10000."""
    if not 1 <= part_number <= MAX_PART_NUMBER:
        raise InvalidInput(
            f"Part number must be an integer between 1 and {MAX_PART_NUMBER}, inclusive."
        )


def check_write_conditions(
    current: ObjectInfo | None, key: str, if_match: str | None, if_none_match: str | None
) -> None:
    """Enforce `If-None-Match: *` and `If-Match` against the object a write would replace."""
    if if_none_match is not None:
        check_if_none_match(if_none_match)
        if current is not None:
            raise PreconditionFailed(f"An object already exists at {key!r}.")
    if if_match is None:
        return
    if current is None:
        raise no_such_key(key)
    if if_match.strip() != "*" and clean_etag(if_match) != current.etag:
        raise PreconditionFailed(f"The ETag of {key!r} does not match If-Match.")


def check_if_none_match(if_none_match: str) -> None:
    """NotImplemented (501) unless a write's `If-None-Match` is `*`, the only form S3 takes."""
    if if_none_match.strip() != "*":
        raise Unsupported("If-None-Match on a write accepts only '*'.")


def check_part_list(parts: Sequence[tuple[int, str]]) -> None:
    """MalformedXML for an empty list, InvalidPartOrder unless strictly ascending."""
    if not parts:
        raise InvalidRequest("You must specify at least one part.", code="MalformedXML")
    numbers = [number for number, _ in parts]
    if any(a >= b for a, b in itertools.pairwise(numbers)):
        raise InvalidRequest(
            "The list of parts was not in ascending order.", code="InvalidPartOrder"
        )


def check_part_sizes(sizes: Iterable[tuple[int, int]], minimum: int) -> None:
    """EntityTooSmall if any (part number, size) but the last is under `minimum` bytes."""
    listed = list(sizes)
    for number, size in listed[:-1]:
        if size < minimum:
            raise InvalidRequest(
                f"Part {number} is {size} bytes; every part but the last must be at least "
                f"{minimum} bytes.",
                code="EntityTooSmall",
            )


MAX_TAGS = 10
MAX_TAG_KEY = 128
MAX_TAG_VALUE = 256


def check_tags(tags: Sequence[tuple[str, str]]) -> dict[str, str]:
    """An object's tag set, as the S3 User Guide limits it ("up to 10 tags ... unique tag
    keys ... A tag key can be up to 128 Unicode characters in length, and tag values can be
    up to 256"; user-defined tags may not begin with `aws:`, and hold letters, numbers,
    spaces and `_.:/=+-@`, AWS's tag restrictions); InvalidTag otherwise."""
    if len(tags) > MAX_TAGS:
        raise InvalidRequest(
            f"Object tags cannot be greater than {MAX_TAGS}: {len(tags)} were given.",
            code="InvalidTag",
        )
    found: dict[str, str] = {}
    for key, value in tags:
        if not 1 <= len(key) <= MAX_TAG_KEY:
            raise InvalidRequest(
                f"The TagKey you have provided is invalid: a key has 1 to {MAX_TAG_KEY} "
                f"characters, not {len(key)}.",
                code="InvalidTag",
            )
        if len(value) > MAX_TAG_VALUE:
            raise InvalidRequest(
                f"The TagValue you have provided is invalid: a value has at most "
                f"{MAX_TAG_VALUE} characters, not {len(value)}.",
                code="InvalidTag",
            )
        if key.lower().startswith("aws:"):
            raise InvalidRequest("Your TagKey cannot be prefixed with aws:", code="InvalidTag")
        odd = next((c for c in key + value if not _tag_character(c)), None)
        if odd is not None:
            raise InvalidRequest(
                f"A tag may hold letters, numbers, spaces and _ . : / = + - @ only, not {odd!r}.",
                code="InvalidTag",
            )
        if key in found:
            raise InvalidRequest(
                f"Cannot provide multiple Tags with the same key: {key!r}.", code="InvalidTag"
            )
        found[key] = value
    return found


def _tag_character(char: str) -> bool:
    """Whether a tag may hold `char`: AWS's pattern for tags, ^([\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]*)$
    (a Unicode letter, separator or number, or one of `_.:/=+-@`)."""
    return unicodedata.category(char)[0] in "LZN" or char in "_.:/=+-@"
