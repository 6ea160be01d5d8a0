"""SigV4 verification against AWS's published vectors, the S3 docs, and botocore itself."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote_from_bytes, unquote_to_bytes, urlsplit

import boto3
import pytest
from botocore.config import Config
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lakestow.auth.chunked import EMPTY_SHA256, ChunkSigner
from lakestow.auth.sigv4 import (
    UNSIGNED_PAYLOAD,
    SignedRequest,
    SigV4Auth,
    canonical_query,
    canonical_request,
    canonical_uri,
    check_payload_sha256,
    parse,
    payload_is_sha256,
    verify,
)
from lakestow.errors import LakestowError

# -- the aws-sig-v4-test-suite (service "service", us-east-1) ------------------------------

SUITE_SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
SUITE_NOW = datetime(2015, 8, 30, 12, 36, tzinfo=UTC)
SUITE_HEADERS = {"host": "example.amazonaws.com", "x-amz-date": "20150830T123600Z"}
TOKEN_2015 = (
    "AQoDYXdzEPT//////////wEXAMPLEtc764bNrC9SAPBSM22wDOk4x4HIZ8j4FZTwdQWLWsKWHGBuFqwAeMicRXmxfp"
    "SPfIeoIYRqTflfKD8YUuwthAx7mSEI/qkPpKPi/kMcGdQrmGdeehM4IC1NtBmUpp2wUE8phUZampKsburEDy0KPkyQ"
    "DYwT7WZ0wq5VSXDvp75YU9HFvlRd8Tx6q6fE8YQcHNVXAkiY9q6d+xo0rKwT38xVqr7ZD0u0iPPkUL64lIZbqBAz+"
    "scqKmlzm8FDrypNC9Yjc8fPOLn9FX9KSYvKTr4rvx3iSIlTJabIQwj2ICCR/oLxBA=="
)
FORM = "application/x-www-form-urlencoded"
UNRESERVED = "-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

# fmt: off
# name, method, raw path, raw query, extra headers, body, published signature. The signed
# headers are exactly the headers given (host, x-amz-date and the extra ones).
SUITE: list[tuple[str, str, str, str, dict[str, str], bytes, str]] = [
    ("get-header-key-duplicate", "GET", "/", "", {"my-header1": "value2,value2,value1"}, b"",
     "c9d5ea9f3f72853aea855b47ea873832890dbdd183b4468f858259531a5138ea"),
    ("get-header-value-order", "GET", "/", "", {"my-header1": "value4,value1,value3,value2"}, b"",
     "08c7e5a9acfcfeb3ab6b2185e75ce8b1deb5e634ec47601a50643f830c755c01"),
    ("get-header-value-trim", "GET", "/", "",
     {"my-header1": " value1", "my-header2": ' "a   b   c"'}, b"",
     "acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736"),
    ("get-unreserved", "GET", "/" + UNRESERVED, "", {}, b"",
     "07ef7494c76fa4850883e2b006601f940f8a34d404d0cfa977f52a65bbf5f24f"),
    ("get-utf8", "GET", "/%E1%88%B4", "", {}, b"",
     "8318018e0b0f223aa2bbf98705b62bb787dc9c0e678f255a891fd03141be5d85"),
    ("get-space", "GET", "/example%20space/", "", {}, b"",
     "652487583200325589f1fba4c7e578f72c47cb61beeca81406b39ddec1366741"),
    ("get-vanilla", "GET", "/", "", {}, b"",
     "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"),
    ("get-vanilla-empty-query-key", "GET", "/", "Param1=value1", {}, b"",
     "a67d582fa61cc504c4bae71f336f98b97f1ea3c7a6bfe1b6e45aec72011b9aeb"),
    ("get-vanilla-query-order-key", "GET", "/", "Param1=value2&Param1=Value1", {}, b"",
     "eedbc4e291e521cf13422ffca22be7d2eb8146eecf653089df300a15b2382bd1"),
    ("get-vanilla-query-order-key-case", "GET", "/", "Param2=value2&Param1=value1", {}, b"",
     "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500"),
    ("get-vanilla-query-order-value", "GET", "/", "Param1=value2&Param1=value1", {}, b"",
     "5772eed61e12b33fae39ee5e7012498b51d56abc0abb7c60486157bd471c4694"),
    ("get-vanilla-query-unreserved", "GET", "/", f"{UNRESERVED}={UNRESERVED}", {}, b"",
     "9c3e54bfcdf0b19771a7f523ee5669cdf59bc7cc0884027167c21bb143a40197"),
    ("get-vanilla-utf8-query", "GET", "/", "%E1%88%B4=bar", {}, b"",
     "2cdec8eed098649ff3a119c94853b13c643bcf08f8b0a1d91e12c9027818dd04"),
    ("post-header-key-case", "POST", "/", "", {}, b"",
     "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b"),
    ("post-header-key-sort", "POST", "/", "", {"my-header1": "value1"}, b"",
     "c5410059b04c1ee005303aed430f6e6645f61f4dc9e1461ec8f8916fdf18852c"),
    ("post-header-value-case", "POST", "/", "", {"my-header1": "VALUE1"}, b"",
     "cdbc9802e29d2942e5e10b5bccfdd67c5f22c7c4e8ae67b53629efa58b974b7d"),
    ("post-sts-header-before", "POST", "/", "", {"x-amz-security-token": TOKEN_2015}, b"",
     "85d96828115b5dc0cfc3bd16ad9e210dd772bbebba041836c64533a82be05ead"),
    ("post-vanilla-query", "POST", "/", "Param1=value1", {}, b"",
     "28038455d6de14eafc1f9222cf5aa6f1a96197d7deb8263271d420d138af7f11"),
    ("post-x-www-form-urlencoded", "POST", "/", "", {"content-type": FORM}, b"Param1=value1",
     "ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a"),
    ("post-x-www-form-urlencoded-parameters", "POST", "/", "",
     {"content-type": f"{FORM}; charset=utf8"}, b"Param1=value1",
     "1a72ec8f64bd914b0e42e42607c7fbce7fb2c7465f63e3092b3b0d39fa77a6fe"),
]
# fmt: on


SUITE_CANONICAL_TRIM = (
    'GET\n/\n\nhost:example.amazonaws.com\nmy-header1:value1\nmy-header2:"a b c"\n'
    "x-amz-date:20150830T123600Z\n\nhost;my-header1;my-header2;x-amz-date\n" + EMPTY_SHA256
)


def suite_request(
    method: str, path: str, query: str, extra: dict[str, str], body: bytes, signature: str
) -> SignedRequest:
    headers = {**SUITE_HEADERS, **extra}
    headers["authorization"] = (
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
        f"SignedHeaders={';'.join(sorted(headers))}, Signature={signature}"
    )
    # S3 needs the payload hash as a header; it goes into the canonical request either way.
    headers["x-amz-content-sha256"] = hashlib.sha256(body).hexdigest()
    return SignedRequest(method, path, query, headers)


def check(
    request: SignedRequest,
    *,
    secret: str = SUITE_SECRET,
    now: datetime = SUITE_NOW,
    service: str = "service",
) -> SigV4Auth:
    auth = parse(request)
    assert auth is not None
    verify(request, auth, secret, region="us-east-1", now=now, service=service)
    return auth


def code_of(excinfo: pytest.ExceptionInfo[LakestowError]) -> str:
    return excinfo.value.code


def tweak(text: str) -> str:
    """Change one byte: the last character, or add one to an empty string."""
    return text[:-1] + chr(ord(text[-1]) ^ 1) if text else "x"


def mutations(request: SignedRequest) -> Iterator[tuple[str, SignedRequest]]:
    headers = dict(request.headers)
    authorization = headers["authorization"]
    last = authorization[-1]
    yield "method", replace(request, method=tweak(request.method))
    yield "path", replace(request, raw_path=tweak(request.raw_path))
    yield "query", replace(request, raw_query=tweak(request.raw_query))
    yield "header", replace(request, headers={**headers, "host": tweak(headers["host"])})
    signature = authorization[:-1] + ("0" if last != "0" else "1")
    yield "signature", replace(request, headers={**headers, "authorization": signature})


@pytest.mark.parametrize("vector", SUITE, ids=[vector[0] for vector in SUITE])
def test_aws_suite_vectors_verify(vector: tuple[str, str, str, str, dict[str, str], bytes, str]):
    check(suite_request(*vector[1:]))


@pytest.mark.parametrize("vector", SUITE, ids=[vector[0] for vector in SUITE])
def test_aws_suite_vectors_reject_any_one_byte_change(
    vector: tuple[str, str, str, str, dict[str, str], bytes, str],
):
    for what, request in mutations(suite_request(*vector[1:])):
        with pytest.raises(LakestowError) as excinfo:
            check(request)
        assert code_of(excinfo) == "SignatureDoesNotMatch", what


def test_canonical_request_matches_the_published_one():
    vector = next(vector for vector in SUITE if vector[0] == "get-header-value-trim")
    request = suite_request(*vector[1:])
    auth = parse(request)
    assert auth is not None
    assert canonical_request(request, auth) == SUITE_CANONICAL_TRIM


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [
        ("/%E1%88%B4", "/%E1%88%B4"),
        ("/\u1234", "/%E1%88%B4"),
        ("/example space/", "/example%20space/"),
        ("/a%2bb/c+d", "/a%2Bb/c%2Bd"),
        ("/test$file.text", "/test%24file.text"),
        ("", "/"),
        ("/%FF%fe", "/%FF%FE"),
    ],
)
def test_canonical_uri_encodes_by_the_aws_rules(raw: str, canonical: str):
    assert canonical_uri(raw) == canonical


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [
        ("Param1=value2&Param1=Value1", "Param1=Value1&Param1=value2"),
        ("%E1%88%B4=bar", "%E1%88%B4=bar"),
        ("uploads", "uploads="),
        ("prefix=a+b&prefix=a%20b", "prefix=a%20b&prefix=a%2Bb"),
        ("b=2&&a=1&", "a=1&b=2"),
        ("k=%7e%2F", "k=~%2F"),
    ],
)
def test_canonical_query_decodes_plus_as_plus_and_sorts(raw: str, canonical: str):
    assert canonical_query(raw) == canonical


def _canonical_query_by_the_rules(raw: str, presigned: bool) -> str:
    pairs = []
    for part in raw.split("&"):
        if part:
            name, _, value = part.partition("=")
            pairs.append((unquote_to_bytes(name), unquote_to_bytes(value)))
    encoded = sorted(
        (quote_from_bytes(name, safe=""), quote_from_bytes(value, safe=""))
        for name, value in pairs
        if not (presigned and name == b"X-Amz-Signature")
    )
    return "&".join(f"{name}={value}" for name, value in encoded)


_QUERY_PIECES = ["a", "B", "0", "-", "_", ".", "~", "=", "&", "+", " ", "é", "%", "%ZZ"]
_QUERY_PIECES += [f"%{byte:02X}" for byte in range(256)] + ["%2f", "%7e", "%c3%a9"]
_QUERY_PIECES += ["X-Amz-Signature", "prefix", "delimiter"]


@settings(max_examples=3000)
@given(pieces=st.lists(st.sampled_from(_QUERY_PIECES), max_size=10), presigned=st.booleans())
def test_canonical_query_fast_path_agrees_with_the_rules(pieces: list[str], presigned: bool):
    """Queries already canonical but for their order skip the decode and encode: the result
    is the same as by the rules, for every escape, in either case, and stray '=' or '%'."""
    raw = "".join(pieces)
    assert canonical_query(raw, presigned=presigned) == _canonical_query_by_the_rules(
        raw, presigned
    )


# The suite's normalize-path vectors are signed over the normalized path. S3 signs paths as
# sent, so those signatures hold for the normalized path only.
NORMALIZE_PATH = [
    (
        "//example//",
        "/example/",
        "9a624bd73a37c9a373b5312afbebe7a714a789de108f0bdfe846570885f57e84",
    ),
    ("/./example", "/example", "ef75d96142cf21edca26f06005da7988e4f8dc83a165a80865db7089db637ec5"),
    ("/./", "/", "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"),
    (
        "/example1/example2/../..",
        "/",
        "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
    ),
]


@pytest.mark.parametrize(("sent", "normalized", "signature"), NORMALIZE_PATH)
def test_paths_are_not_normalized(sent: str, normalized: str, signature: str):
    check(suite_request("GET", normalized, "", {}, b"", signature))
    assert canonical_uri(sent) == sent
    with pytest.raises(LakestowError) as excinfo:
        check(suite_request("GET", sent, "", {}, b"", signature))
    assert code_of(excinfo) == "SignatureDoesNotMatch"


# -- the S3 SigV4 documentation examples ----------------------------------------------------

DOC_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
DOC_NOW = datetime(2013, 5, 24, tzinfo=UTC)
DOC_HOST = "examplebucket.s3.amazonaws.com"
DOC_BASE = {"host": DOC_HOST, "x-amz-date": "20130524T000000Z"}
WELCOME_SHA256 = hashlib.sha256(b"Welcome to Amazon S3.").hexdigest()
DOC_PRESIGNED_QUERY = (
    "X-Amz-Algorithm=AWS4-HMAC-SHA256"
    "&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request"
    "&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host"
    "&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"
)

# name, method, raw path, raw query, headers besides host and x-amz-date, signature
DOC_EXAMPLES: list[tuple[str, str, str, str, dict[str, str], str]] = [
    ("get-object", "GET", "/test.txt", "",
     {"range": "bytes=0-9", "x-amz-content-sha256": EMPTY_SHA256},
     "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"),
    ("put-object", "PUT", "/test$file.text", "",
     {"date": "Fri, 24 May 2013 00:00:00 GMT", "x-amz-storage-class": "REDUCED_REDUNDANCY",
      "x-amz-content-sha256": WELCOME_SHA256},
     "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd"),
    ("get-bucket-lifecycle", "GET", "/", "lifecycle", {"x-amz-content-sha256": EMPTY_SHA256},
     "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543"),
    ("list-objects", "GET", "/", "max-keys=2&prefix=J", {"x-amz-content-sha256": EMPTY_SHA256},
     "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7"),
]  # fmt: skip


def doc_request(
    method: str, path: str, query: str, extra: dict[str, str], signature: str
) -> SignedRequest:
    headers = {**DOC_BASE, **extra}
    headers["authorization"] = (
        "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,"
        f"SignedHeaders={';'.join(sorted(headers))},Signature={signature}"
    )
    return SignedRequest(method, path, query, headers)


def doc_get_object() -> SignedRequest:
    return doc_request(*DOC_EXAMPLES[0][1:])


def doc_presigned(query: str = DOC_PRESIGNED_QUERY) -> SignedRequest:
    return SignedRequest("GET", "/test.txt", query, {"host": DOC_HOST})


def doc_check(
    request: SignedRequest, *, now: datetime = DOC_NOW, region: str = "us-east-1"
) -> ChunkSigner:
    auth = parse(request)
    assert auth is not None
    return verify(request, auth, DOC_SECRET, region=region, now=now)


def doc_error(request: SignedRequest, **kwargs: Any) -> LakestowError:
    with pytest.raises(LakestowError) as excinfo:
        doc_check(request, **kwargs)
    return excinfo.value


@pytest.mark.parametrize("example", DOC_EXAMPLES, ids=[example[0] for example in DOC_EXAMPLES])
def test_s3_doc_examples_verify_and_reject_changes(
    example: tuple[str, str, str, str, dict[str, str], str],
):
    request = doc_request(*example[1:])
    signer = doc_check(request)
    assert signer.seed_signature == example[-1]
    assert signer.scope == "20130524/us-east-1/s3/aws4_request"
    for what, changed in mutations(request):
        assert doc_error(changed).code == "SignatureDoesNotMatch", what


def test_s3_doc_presigned_url_verifies_until_it_expires():
    auth = parse(doc_presigned())
    assert auth is not None
    assert (auth.presigned, auth.expires, auth.payload_hash) == (True, 86400, UNSIGNED_PAYLOAD)
    assert auth.access_key_id == "AKIAIOSFODNN7EXAMPLE"
    doc_check(doc_presigned())
    doc_check(doc_presigned(), now=DOC_NOW + timedelta(seconds=86400))
    expired = doc_error(doc_presigned(), now=DOC_NOW + timedelta(seconds=86401))
    assert (expired.code, expired.message, expired.status) == (
        "AccessDenied",
        "Request has expired",
        403,
    )
    early = doc_error(doc_presigned(), now=DOC_NOW - timedelta(minutes=15, seconds=1))
    assert early.code == "AccessDenied"


def test_s3_doc_presigned_url_rejects_changes():
    request = doc_presigned()
    for what, changed in [
        ("method", replace(request, method="HEAD")),
        ("path", replace(request, raw_path="/test.txu")),
        ("query", doc_presigned(DOC_PRESIGNED_QUERY.replace("86400", "86401"))),
        ("extra query", doc_presigned(DOC_PRESIGNED_QUERY + "&x-id=GetObject")),
        ("host", replace(request, headers={"host": "examplebucket.s3.amazonaws.co"})),
        ("signature", doc_presigned(DOC_PRESIGNED_QUERY[:-1] + "5")),
    ]:
        assert doc_error(changed).code == "SignatureDoesNotMatch", what


# -- what parse and verify refuse -----------------------------------------------------------


def with_headers(request: SignedRequest, **changes: str | None) -> SignedRequest:
    headers = {**request.headers, **{k.replace("_", "-"): v for k, v in changes.items()}}
    return replace(request, headers={k: v for k, v in headers.items() if v is not None})


def parse_error(request: SignedRequest) -> LakestowError:
    with pytest.raises(LakestowError) as excinfo:
        parse(request)
    return excinfo.value


def test_no_authentication_is_anonymous():
    assert parse(SignedRequest("GET", "/b/k", "prefix=a", {"host": "h"})) is None


def test_signature_version_2_is_left_to_sigv2():
    """SigV2 requests are auth.sigv2's (the S3 app asks it first); to SigV4 an `AWS` header is
    an unsupported type, and a SigV2 presigned query is no authentication of its own."""
    header = SignedRequest("GET", "/b/k", "", {"host": "h", "authorization": "AWS AKID:c2ln"})
    error = parse_error(header)
    assert (error.code, error.status, error.message) == (
        "InvalidArgument",
        400,
        "Unsupported Authorization Type",
    )
    query = SignedRequest("GET", "/b/k", "AWSAccessKeyId=AKID&Expires=1&Signature=x", {"host": "h"})
    assert parse(query) is None


@pytest.mark.parametrize(
    ("authorization", "code"),
    [
        ("AWS4-ECDSA-P256-SHA256 Credential=a/20130524/us-east-1/s3/aws4_request",
         "InvalidArgument"),
        ("AWS4-HMAC-SHA256 Credential=AKID/20130524/us-east-1/s3, SignedHeaders=host, Signature="
         + "0" * 64, "AuthorizationHeaderMalformed"),
        ("AWS4-HMAC-SHA256 Credential=AKID/20130524/us-east-1/s3/aws4_request, SignedHeaders=host",
         "AuthorizationHeaderMalformed"),
        ("AWS4-HMAC-SHA256 Credential=AKID/20130524/us-east-1/s3/aws4_request, SignedHeaders=host, "
         "Signature=xyz", "AuthorizationHeaderMalformed"),
        ("AWS4-HMAC-SHA256 Credential=AKID/2013052/us-east-1/s3/aws4_request, SignedHeaders=host, "
         "Signature=" + "0" * 64, "AuthorizationHeaderMalformed"),
    ],
)  # fmt: skip
def test_malformed_authorization_headers(authorization: str, code: str):
    request = with_headers(doc_get_object(), authorization=authorization)
    assert parse_error(request).code == code


def test_x_amz_content_sha256_is_required_as_on_s3():
    error = parse_error(with_headers(doc_get_object(), x_amz_content_sha256=None))
    assert (error.code, error.status) == ("InvalidRequest", 400)
    assert error.message == "Missing required header for this request: x-amz-content-sha256"
    bad = parse_error(with_headers(doc_get_object(), x_amz_content_sha256="SHA256"))
    assert bad.code == "InvalidArgument"


def test_a_missing_or_bad_date_is_access_denied():
    for date in (None, "2013-05-24T00:00:00Z", "20130524T000000"):
        error = parse_error(with_headers(doc_get_object(), x_amz_date=date))
        assert (error.code, error.status) == ("AccessDenied", 403)


def test_the_date_header_stands_in_for_x_amz_date():
    request = with_headers(doc_get_object(), x_amz_date=None, date="Fri, 24 May 2013 00:00:00 GMT")
    auth = parse(request)
    assert auth is not None
    assert auth.amz_date == DOC_NOW


def test_presigned_payload_hash_is_unsigned_unless_bound_in_the_query():
    bound = parse(doc_presigned(DOC_PRESIGNED_QUERY + "&X-Amz-Content-Sha256=" + WELCOME_SHA256))
    assert bound is not None
    assert bound.payload_hash == WELCOME_SHA256
    # an unsigned header does not bind anything: the URL was signed over UNSIGNED-PAYLOAD
    loose = parse(with_headers(doc_presigned(), x_amz_content_sha256=WELCOME_SHA256))
    assert loose is not None
    assert loose.payload_hash == UNSIGNED_PAYLOAD
    chunked = doc_presigned(
        DOC_PRESIGNED_QUERY + "&X-Amz-Content-Sha256=STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
    )
    assert parse_error(chunked).code == "InvalidRequest"


def test_both_auth_mechanisms_at_once_are_refused():
    request = replace(doc_get_object(), raw_query=DOC_PRESIGNED_QUERY)
    assert parse_error(request).code == "InvalidArgument"


@pytest.mark.parametrize(
    "query",
    [
        DOC_PRESIGNED_QUERY.replace("&X-Amz-Expires=86400", ""),
        DOC_PRESIGNED_QUERY.replace("AWS4-HMAC-SHA256", "AWS4-HMAC-SHA1"),
        DOC_PRESIGNED_QUERY.replace("20130524T000000Z", "2013-05-24"),
        DOC_PRESIGNED_QUERY.replace("86400", "-1"),
        DOC_PRESIGNED_QUERY.replace("86400", "soon"),
        DOC_PRESIGNED_QUERY + "&X-Amz-Date=20130524T000000Z",
        DOC_PRESIGNED_QUERY.replace("%2Faws4_request", ""),
    ],
)
def test_malformed_presigned_queries(query: str):
    assert parse_error(doc_presigned(query)).code == "AuthorizationQueryParametersError"


@pytest.mark.parametrize("expires", ["604801", "0", "-1"])
def test_presigned_expiry_is_a_second_to_a_week(expires: str):
    query = DOC_PRESIGNED_QUERY.replace("86400", expires)
    refused = parse_error(doc_presigned(query))
    assert (refused.code, refused.status) == ("AuthorizationQueryParametersError", 403)
    week = parse(doc_presigned(DOC_PRESIGNED_QUERY.replace("86400", "604800")))
    assert week is not None and week.expires == 604800


def test_scope_must_name_this_service_region_and_day():
    wrong_region = doc_error(doc_get_object(), region="eu-west-1")
    assert wrong_region.code == "AuthorizationHeaderMalformed"
    assert "expecting 'eu-west-1'" in wrong_region.message
    other_day = with_headers(doc_get_object(), x_amz_date="20130525T000000Z")
    assert doc_error(other_day, now=DOC_NOW + timedelta(days=1)).code == (
        "AuthorizationHeaderMalformed"
    )
    request = doc_get_object()
    auth = parse(request)
    assert auth is not None
    with pytest.raises(LakestowError) as excinfo:
        verify(request, auth, DOC_SECRET, region="us-east-1", now=DOC_NOW, service="sts")
    assert code_of(excinfo) == "AuthorizationHeaderMalformed"


def test_clock_skew_beyond_fifteen_minutes_is_refused():
    for offset in (timedelta(minutes=15), -timedelta(minutes=15)):
        doc_check(doc_get_object(), now=DOC_NOW + offset)
    for offset in (timedelta(minutes=15, seconds=1), -timedelta(minutes=16)):
        error = doc_error(doc_get_object(), now=DOC_NOW + offset)
        assert (error.code, error.status) == ("RequestTimeTooSkewed", 403)


def test_host_and_every_x_amz_header_must_be_signed():
    unsigned = doc_error(with_headers(doc_get_object(), x_amz_copy_source="/b/secret"))
    assert (unsigned.code, unsigned.status) == ("AccessDenied", 403)
    assert unsigned.message.endswith("not signed: x-amz-copy-source")
    on_presigned = doc_error(with_headers(doc_presigned(), x_amz_acl="public-read"))
    assert on_presigned.code == "AccessDenied"
    hostless = doc_presigned(DOC_PRESIGNED_QUERY.replace("SignedHeaders=host", "SignedHeaders=x"))
    assert "host" in doc_error(hostless).message
    # x-amz-content-sha256 may go unsigned (S3 allows it): it is in the canonical request anyway.
    doc_check(with_headers(doc_presigned(), x_amz_content_sha256=UNSIGNED_PAYLOAD))


def test_payload_hash_check():
    check_payload_sha256(WELCOME_SHA256, hashlib.sha256(b"Welcome to Amazon S3.").digest())
    check_payload_sha256(WELCOME_SHA256.upper(), hashlib.sha256(b"Welcome to Amazon S3.").digest())
    with pytest.raises(LakestowError) as excinfo:
        check_payload_sha256(WELCOME_SHA256, hashlib.sha256(b"Welcome to Amazon S4.").digest())
    assert (code_of(excinfo), excinfo.value.status) == ("XAmzContentSHA256Mismatch", 400)
    assert payload_is_sha256(WELCOME_SHA256)
    assert not payload_is_sha256(UNSIGNED_PAYLOAD)


# -- requests signed by botocore, as a server receives them ---------------------------------

ACCESS_KEY = "ASIAEXAMPLELAKESTOW1"
SECRET = "lakestow/secret+key=="
TOKEN = "sealed+token/with=padding=="
RESERVED_KEYS = [
    "a b/c d.txt",
    "café/日本/🙂.parquet",
    "plus+equals=amp&question?hash#percent%tilde~",
    "bang!star*quote'paren(s);colon:at@dollar$comma,",
    "//double//slash/./dot/../dotdot",
    "%2F%20literal%25",
]


class Sent(Exception):
    """Raised from botocore's before-send hook: carries the request instead of sending it."""

    def __init__(self, request: Any) -> None:
        super().__init__("captured")
        self.request = request


def _capture(request: Any, **_: Any) -> None:
    raise Sent(request)


@pytest.fixture(scope="module", params=["http", "https"])
def s3(request: pytest.FixtureRequest) -> Any:
    client = boto3.session.Session().client(
        "s3",
        endpoint_url=f"{request.param}://127.0.0.1:9000",
        region_name="us-east-1",
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET,
        aws_session_token=TOKEN,
        config=Config(signature_version="s3v4", retries={"max_attempts": 1}),
    )
    client.meta.events.register("before-send.s3", _capture)
    return client


def sent(client: Any, operation: str, **params: Any) -> Any:
    with pytest.raises(Sent) as excinfo:
        getattr(client, operation)(Bucket="bucket", **params)
    return excinfo.value.request


def received(method: str, url: str, headers: Any = ()) -> SignedRequest:
    """The request as the server sees it: the path and query as on the wire, the Host header."""
    parts = urlsplit(url)
    lowered = {
        name.lower(): value.decode("latin-1") if isinstance(value, bytes) else value
        for name, value in dict(headers).items()
    }
    return SignedRequest(method, parts.path, parts.query, {"host": parts.netloc, **lowered})


def received_from(prepared: Any) -> SignedRequest:
    return received(prepared.method, prepared.url, prepared.headers)


def verify_now(
    request: SignedRequest, *, secret: str = SECRET, shift: timedelta = timedelta()
) -> tuple[SigV4Auth, ChunkSigner]:
    auth = parse(request)
    assert auth is not None
    assert auth.access_key_id == ACCESS_KEY
    now = datetime.now(UTC) + shift
    return auth, verify(request, auth, secret, region="us-east-1", now=now)


def signed_requests(client: Any, key: str) -> Iterator[SignedRequest]:
    yield received_from(sent(client, "put_object", Key=key, Body=b"some data"))
    yield received_from(sent(client, "get_object", Key=key, Range="bytes=0-9"))
    yield received_from(sent(client, "head_object", Key=key))
    yield received_from(sent(client, "delete_object", Key=key))
    disposition = f'attachment; filename="{key}"'
    yield received_from(sent(client, "get_object", Key=key, ResponseContentDisposition=disposition))
    listing = sent(client, "list_objects_v2", Prefix=key, StartAfter=key + "~", Delimiter="/")
    yield received_from(listing)


def presigned_requests(client: Any, key: str, expires: int = 300) -> Iterator[SignedRequest]:
    for method, operation, extra in [
        ("GET", "get_object", {"ResponseContentType": f"text/{key}"}),
        ("PUT", "put_object", {}),
    ]:
        params = {"Bucket": "bucket", "Key": key, **extra}
        yield received(method, client.generate_presigned_url(operation, params, expires))


@pytest.mark.parametrize("key", RESERVED_KEYS)
def test_botocore_signed_requests_verify(s3: Any, key: str):
    for request in [*signed_requests(s3, key), *presigned_requests(s3, key)]:
        assert verify_now(request)[0].session_token == TOKEN


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(key=st.text(st.characters(exclude_categories=("Cs", "Cc")), min_size=1, max_size=40))
def test_botocore_signed_requests_verify_for_any_key(s3: Any, key: str):
    for request in [*signed_requests(s3, key), *presigned_requests(s3, key)]:
        verify_now(request)


def test_botocore_payload_hashes_are_what_was_signed(s3: Any):
    prepared = sent(s3, "put_object", Key="k", Body=b"some data")
    auth, _ = verify_now(received_from(prepared))
    if payload_is_sha256(auth.payload_hash):  # http: the body's hash is signed
        check_payload_sha256(auth.payload_hash, hashlib.sha256(b"some data").digest())
    else:  # https: botocore streams aws-chunked with a CRC32 trailer
        assert auth.payload_hash == "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
    presigned = next(presigned_requests(s3, "k"))
    assert verify_now(presigned)[0].payload_hash == UNSIGNED_PAYLOAD


def test_botocore_requests_fail_when_tampered_or_out_of_time(s3: Any):
    request = received_from(sent(s3, "get_object", Key="k"))
    authorization = request.headers["authorization"]
    flipped = authorization[:-1] + ("0" if authorization[-1] != "0" else "1")
    cases: list[tuple[SignedRequest, dict[str, Any], str]] = [
        (with_headers(request, authorization=flipped), {}, "SignatureDoesNotMatch"),
        (request, {"secret": SECRET + "x"}, "SignatureDoesNotMatch"),
        (with_headers(request, x_amz_security_token=TOKEN + "x"), {}, "SignatureDoesNotMatch"),
        (request, {"shift": timedelta(minutes=16)}, "RequestTimeTooSkewed"),
        (request, {"shift": -timedelta(minutes=16)}, "RequestTimeTooSkewed"),
    ]
    for tampered, kwargs, code in cases:
        with pytest.raises(LakestowError) as excinfo:
            verify_now(tampered, **kwargs)
        assert code_of(excinfo) == code


def test_botocore_presigned_urls_expire(s3: Any):
    for request in presigned_requests(s3, "k", expires=60):
        verify_now(request, shift=timedelta(seconds=55))
        with pytest.raises(LakestowError) as excinfo:
            verify_now(request, shift=timedelta(seconds=61))
        assert (code_of(excinfo), excinfo.value.message) == ("AccessDenied", "Request has expired")
