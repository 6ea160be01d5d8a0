"""Object keys and warehouse paths: validated once, at the edge (DESIGN.md section 1).

A warehouse path is relative to an organization's root, with no leading slash: `""` is the
root, `"data/shared/"` a folder (folders end in `/`), `"data/shared/a.csv"` an object.
"""

from __future__ import annotations

import re

from lakestow.errors import InvalidInput, InvalidKey

MAX_KEY_BYTES = 1024
# Control characters (Unicode category Cc) and lone surrogates (Cs: bytes that were not UTF-8).
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")

NAME_RULES = {
    "organization": (re.compile(r"[a-z0-9][a-z0-9-]{0,62}", re.ASCII), "1-63 of a-z, 0-9, -"),
    "member": (re.compile(r"[a-z0-9][a-z0-9._@-]{0,63}", re.ASCII), "1-64 of a-z, 0-9, . _ @ -"),
}
# AWS's "General purpose bucket naming rules" (the S3 user guide), each checked on its own so
# that a refusal names the rule broken.
BUCKET_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
BUCKET_SUFFIXES = ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3")
_BUCKET_CHARS = re.compile(r"[a-z0-9.-]*", re.ASCII)
_IP_ADDRESS = re.compile(r"[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+", re.ASCII)


def check_name(kind: str, name: str) -> str:
    """`name` if it is a valid organization, member or bucket name, else InvalidInput."""
    if kind == "bucket":
        return validate_bucket(name)
    pattern, rule = NAME_RULES[kind]
    if not pattern.fullmatch(name):
        raise InvalidInput(f"invalid {kind} name {name!r}: use {rule}, starting with a-z or 0-9")
    return name


def validate_bucket(name: str) -> str:
    """`name` if it follows AWS's naming rules for general purpose buckets, else InvalidInput
    (InvalidBucketName) saying which rule it breaks."""
    broken = _bucket_rule_broken(name)
    if broken:
        raise InvalidInput(
            f"The specified bucket is not valid: invalid bucket name {name!r}: bucket names "
            f"{broken}.",
            code="InvalidBucketName",
        )
    return name


def _bucket_rule_broken(name: str) -> str | None:
    if not 3 <= len(name) <= 63:
        return "must be 3 to 63 characters long"
    if not _BUCKET_CHARS.fullmatch(name):
        return "must consist only of lowercase letters, numbers, periods (.) and hyphens (-)"
    if not (name[0] + name[-1]).isalnum():
        return "must begin and end with a letter or a number"
    if ".." in name:
        return "must not contain two adjacent periods"
    if _IP_ADDRESS.fullmatch(name):
        return "must not be formatted as an IP address"
    for prefix in BUCKET_PREFIXES:
        if name.startswith(prefix):
            return f"must not start with the reserved prefix {prefix!r}"
    for suffix in BUCKET_SUFFIXES:
        if name.endswith(suffix):
            return f"must not end with the reserved suffix {suffix!r}"
    return None


def validate_key(key: str) -> str:
    """`key` if it is a valid object key, else InvalidKey saying what is wrong with it."""
    if not key:
        raise InvalidKey("The object key is empty.")
    if len(key.encode("utf-8", "surrogatepass")) > MAX_KEY_BYTES:
        message = f"Your key is too long: a key is at most {MAX_KEY_BYTES} bytes of UTF-8."
        raise InvalidKey(message, code="KeyTooLongError")  # S3's code, and its message first
    if _CONTROL.search(key):
        raise InvalidKey(
            "Object keys cannot contain control characters (U+0000 to U+001F, U+007F to U+009F) "
            "here, nor bytes that are not UTF-8."
        )
    segments = key.split("/")
    if key.endswith("/"):
        segments.pop()  # a folder marker: its trailing slash is not an empty segment
    for segment in segments:
        if segment in ("", ".", ".."):
            raise InvalidKey(f"Object keys cannot have an empty, '.' or '..' segment here: {key!r}")
    return key


def is_folder(path: str) -> bool:
    return path == "" or path.endswith("/")


def segments(path: str) -> tuple[str, ...]:
    """The names along `path`: `"data/a/"` and `"data/a"` both give `("data", "a")`."""
    return tuple(path.rstrip("/").split("/")) if path.strip("/") else ()


def parent(path: str) -> str:
    """The folder an object or folder lives in: `"data/a/b.csv"` -> `"data/a/"`."""
    head, _, _ = path.rstrip("/").rpartition("/")
    return head + "/" if head else ""


def normalize_folder(text: str, *, bucket: str, prefix: str) -> str:
    """A folder given by a person (`/data/x`, `data/x/`, `s3://bucket/prefix/data/x/`) as a path."""
    root = f"s3://{bucket}/{prefix}/" if prefix else f"s3://{bucket}/"
    if text.startswith("s3://"):
        if not (text + "/").startswith(root):
            raise InvalidInput(f"{text!r} is not under this organization's root {root}")
        text = text[len(root) :]
    path = text.strip("/")
    if not path:
        return ""
    validate_key(path + "/")
    return path + "/"
