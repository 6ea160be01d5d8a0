"""aws-chunked decoding: the S3 doc examples, botocore's own bodies, any split, any damage."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import io
from collections.abc import AsyncIterator, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

import pytest
from botocore import httpchecksum
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from hypothesis import given, settings
from hypothesis import strategies as st

from lakestow.auth.checksums import Checksummer
from lakestow.auth.chunked import (
    EMPTY_SHA256,
    STREAMING_SIGNED,
    STREAMING_SIGNED_TRAILER,
    STREAMING_UNSIGNED_TRAILER,
    AwsChunkedDecoder,
    ChunkSigner,
)
from lakestow.auth.sigv4 import SignedRequest, parse, verify
from lakestow.errors import LakestowError

# -- the S3 docs' chunked upload examples (sigv4-streaming, sigv4-streaming-trailers) --------

DOC_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
DOC_NOW = datetime(2013, 5, 24, tzinfo=UTC)
DOC_PAYLOAD = b"a" * 66560
DOC_SIGNED = (
    "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9",  # seed
    "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648",  # 64 KiB
    "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497",  # 1 KiB
    "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9",  # the empty chunk
)
DOC_TRAILER = (
    "106e2a8a18243abcf37539882f36619c00e2dfc72633413f02d3b74544bfeb8e",
    "b474d8862b1487a5145d686f57f013e54db672cee1c953b3010fb58501ef5aa2",
    "1c1344b170168f8e65b41376b44b20fe354e373826ccbbe2c1d40a8cae51e5c7",
    "2ca2aba2005185cf7159c6277faf83795951dd77a3a99e6e65d5c9f85863f992",
)
DOC_TRAILER_SIGNATURE = "d81f82fc3505edab99d459891051a732e8730629a2e4a59689829ca17fe2e435"


def doc_body(signatures: Sequence[str], trailer: bytes = b"") -> bytes:
    return (
        f"10000;chunk-signature={signatures[1]}\r\n".encode()
        + b"a" * 65536
        + f"\r\n400;chunk-signature={signatures[2]}\r\n".encode()
        + b"a" * 1024
        + f"\r\n0;chunk-signature={signatures[3]}\r\n".encode()
        + trailer
        + b"\r\n"
    )


def doc_signer(mode: str) -> ChunkSigner:
    """Verify the example's headers, as the endpoint would, for the seed and signing key."""
    headers = {
        "content-encoding": "aws-chunked",
        "host": "s3.amazonaws.com",
        "x-amz-content-sha256": mode,
        "x-amz-date": "20130524T000000Z",
        "x-amz-decoded-content-length": "66560",
        "x-amz-storage-class": "REDUCED_REDUNDANCY",
    }
    if mode == STREAMING_SIGNED:
        headers["content-length"] = "66824"
        seed = DOC_SIGNED[0]
    else:
        headers["x-amz-trailer"] = "x-amz-checksum-crc32c"
        seed = DOC_TRAILER[0]
    headers["authorization"] = (
        "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,"
        f"SignedHeaders={';'.join(sorted(headers))},Signature={seed}"
    )
    request = SignedRequest("PUT", "/examplebucket/chunkObject.txt", "", headers)
    auth = parse(request)
    assert auth is not None
    return verify(request, auth, DOC_SECRET, region="us-east-1", now=DOC_NOW)


DOC_SIGNED_BODY = doc_body(DOC_SIGNED)
DOC_TRAILER_BODY = doc_body(
    DOC_TRAILER,
    f"x-amz-checksum-crc32c:sOO8/Q==\r\nx-amz-trailer-signature:{DOC_TRAILER_SIGNATURE}\r\n".encode(),
)
DOC_CASES = [
    (STREAMING_SIGNED, DOC_SIGNED_BODY, {}),
    (STREAMING_SIGNED_TRAILER, DOC_TRAILER_BODY, {"x-amz-checksum-crc32c": "sOO8/Q=="}),
]


async def _pieces(body: bytes, cuts: Iterable[int]) -> AsyncIterator[bytes]:
    start = 0
    for cut in [*sorted(cuts), len(body)]:
        yield body[start:cut]
        start = max(start, cut)


def decode(body: bytes, cuts: Iterable[int] = (), **options: Any) -> tuple[bytes, dict[str, str]]:
    """Decode `body` arriving in pieces cut at `cuts`."""

    async def run() -> tuple[bytes, dict[str, str]]:
        decoder = AwsChunkedDecoder(_pieces(body, cuts), **options)
        data = b"".join([piece async for piece in decoder])
        return data, decoder.trailers

    return asyncio.run(run())


def decode_error(body: bytes, cuts: Iterable[int] = (), **options: Any) -> LakestowError:
    with pytest.raises(LakestowError) as excinfo:
        decode(body, cuts, **options)
    return excinfo.value


def flip(body: bytes, index: int) -> bytes:
    """Change one byte; a hex digit stays a hex digit, so signatures stay well-formed."""
    new = body[index] ^ 1 if chr(body[index]) not in "0123456789abcdef" else ord("0")
    new = ord("1") if new == body[index] else new
    return body[:index] + bytes([new]) + body[index + 1 :]


def cuts_in(size: int) -> st.SearchStrategy[list[int]]:
    return st.lists(st.integers(0, size), max_size=20)


@pytest.mark.parametrize(("mode", "body", "trailers"), DOC_CASES)
def test_s3_doc_chunked_examples_decode(mode: str, body: bytes, trailers: dict[str, str]):
    signer = doc_signer(mode)
    assert decode(body, mode=mode, signer=signer, decoded_length=66560) == (DOC_PAYLOAD, trailers)
    assert signer.chunk_signature(signer.seed_signature, hashlib.sha256(b"a" * 65536).hexdigest())


@settings(max_examples=60, deadline=None)
@given(case=st.sampled_from(DOC_CASES), cuts=cuts_in(len(DOC_TRAILER_BODY)))
def test_s3_doc_chunked_examples_decode_in_any_pieces(
    case: tuple[str, bytes, dict[str, str]], cuts: list[int]
):
    mode, body, trailers = case
    cuts = [min(cut, len(body)) for cut in cuts]
    assert decode(body, cuts, mode=mode, signer=doc_signer(mode)) == (DOC_PAYLOAD, trailers)


@settings(max_examples=60, deadline=None)
@given(case=st.sampled_from(DOC_CASES), where=st.integers(0, len(DOC_TRAILER_BODY) - 1))
def test_any_flipped_byte_is_refused(case: tuple[str, bytes, dict[str, str]], where: int):
    mode, body, _ = case
    error = decode_error(flip(body, where % len(body)), mode=mode, signer=doc_signer(mode))
    assert error.code in ("SignatureDoesNotMatch", "IncompleteBody")


@pytest.mark.parametrize(("mode", "body", "trailers"), DOC_CASES)
def test_flipped_data_signatures_and_trailers_fail_the_signature(
    mode: str, body: bytes, trailers: dict[str, str]
):
    places = [
        body.index(b"aaaa") + 7,  # the first chunk's data
        len(body) - 40 if not trailers else body.index(b"sOO8"),  # a signature / the trailer
        body.index(b"chunk-signature=") + 20,  # the first chunk's signature
    ]
    for where in places:
        error = decode_error(flip(body, where), mode=mode, signer=doc_signer(mode))
        assert (error.code, error.status) == ("SignatureDoesNotMatch", 403), where


@pytest.mark.parametrize(("mode", "body", "trailers"), DOC_CASES)
def test_truncated_bodies_are_incomplete(mode: str, body: bytes, trailers: dict[str, str]):
    for size in (0, 5, 100, 65536, len(body) - 3, len(body) - 1):
        error = decode_error(body[:size], mode=mode, signer=doc_signer(mode))
        assert (error.code, error.status) == ("IncompleteBody", 400), size


def test_signed_chunks_need_their_signatures():
    body = DOC_SIGNED_BODY.replace(b";chunk-signature=" + DOC_SIGNED[2].encode(), b"")
    error = decode_error(body, mode=STREAMING_SIGNED, signer=doc_signer(STREAMING_SIGNED))
    assert error.code == "SignatureDoesNotMatch"


# -- botocore's own aws-chunked bodies (STREAMING-UNSIGNED-PAYLOAD-TRAILER) ------------------

BOTOCORE_CHECKSUMS = {
    "crc32": httpchecksum.Crc32Checksum,
    "sha1": httpchecksum.Sha1Checksum,
    "sha256": httpchecksum.Sha256Checksum,
}
if httpchecksum.HAS_CRT:  # with awscrt installed, botocore has the other CRCs too
    BOTOCORE_CHECKSUMS["crc32c"] = httpchecksum.CrtCrc32cChecksum
    BOTOCORE_CHECKSUMS["crc64nvme"] = httpchecksum.CrtCrc64NvmeChecksum


def botocore_body(data: bytes, algorithm: str, chunk_size: int) -> bytes:
    wrapper = httpchecksum.AwsChunkedWrapper(
        io.BytesIO(data),
        checksum_cls=BOTOCORE_CHECKSUMS[algorithm],
        checksum_name=f"x-amz-checksum-{algorithm}",
        chunk_size=chunk_size,
    )
    return bytes(wrapper.read())


@settings(max_examples=80, deadline=None)
@given(
    data=st.binary(max_size=3000),
    algorithm=st.sampled_from(sorted(BOTOCORE_CHECKSUMS)),
    chunk_size=st.integers(1, 1200),
    cuts=cuts_in(4000),
)
def test_botocore_trailer_bodies_decode_in_any_pieces(
    data: bytes, algorithm: str, chunk_size: int, cuts: list[int]
):
    body = botocore_body(data, algorithm, chunk_size)
    decoded, trailers = decode(
        body,
        [min(cut, len(body)) for cut in cuts],
        mode=STREAMING_UNSIGNED_TRAILER,
        decoded_length=len(data),
    )
    assert decoded == data
    header = f"x-amz-checksum-{algorithm}"
    assert list(trailers) == [header]
    checksum = Checksummer(algorithm)
    checksum.update(decoded)
    checksum.check(trailers[header])


def test_unsigned_bodies_stream_without_waiting_for_the_chunk_end():
    body = botocore_body(b"x" * 1000, "crc32", 1000)
    pulled = []

    async def source() -> AsyncIterator[bytes]:
        for start in range(0, len(body), 100):
            pulled.append(start)
            yield body[start : start + 100]

    async def first_piece() -> bytes:
        decoder = AwsChunkedDecoder(source(), mode=STREAMING_UNSIGNED_TRAILER)
        return await anext(aiter(decoder))

    assert asyncio.run(first_piece()) == b"x" * 95  # "3e8\r\n" then data
    assert pulled == [0]


# -- signed chunks from a botocore-signed seed, chained by an independent encoder -----------


def signed_body(data: bytes, chunk_size: int, signer: ChunkSigner, trailer: bool) -> bytes:
    """Frame `data` as a signed aws-chunked body, computing every HMAC here, not in lakestow."""

    def sign(kind: str, previous: str, *hashes: str) -> str:
        text = "\n".join((kind, signer.amz_date, signer.scope, previous, *hashes))
        return hmac.new(signer.signing_key, text.encode(), hashlib.sha256).hexdigest()

    out, previous = [], signer.seed_signature
    chunks = [data[i : i + chunk_size] for i in range(0, len(data), chunk_size)] + [b""]
    for chunk in chunks:
        digest = hashlib.sha256(chunk).hexdigest()
        previous = sign("AWS4-HMAC-SHA256-PAYLOAD", previous, EMPTY_SHA256, digest)
        out.append(f"{len(chunk):x};chunk-signature={previous}\r\n".encode() + chunk)
        out.append(b"\r\n" if chunk else b"")
    if trailer:
        checksum = Checksummer("sha256")
        checksum.update(data)
        line = f"x-amz-checksum-sha256:{checksum.b64digest()}"
        signature = sign(
            "AWS4-HMAC-SHA256-TRAILER", previous, hashlib.sha256(f"{line}\n".encode()).hexdigest()
        )
        out.append(f"{line}\r\nx-amz-trailer-signature:{signature}\r\n".encode())
    return b"".join(out) + b"\r\n"


def botocore_seed(mode: str) -> ChunkSigner:
    # Plain SigV4Auth keeps a preset X-Amz-Content-SHA256 (S3SigV4Auth replaces it); it also
    # re-encodes paths, so this path has nothing to encode.
    credentials = Credentials("AKIDLAKESTOW", "chunky/secret", "a+session/token=")
    request = AWSRequest(
        "PUT",
        "http://127.0.0.1:9000/bucket/streamed-key",
        headers={"X-Amz-Content-SHA256": mode, "X-Amz-Decoded-Content-Length": "1"},
    )
    SigV4Auth(credentials, "s3", "us-east-1").add_auth(request)
    prepared = request.prepare()
    headers = {k.lower(): v for k, v in prepared.headers.items()}
    received = SignedRequest(
        "PUT", "/bucket/streamed-key", "", {"host": "127.0.0.1:9000", **headers}
    )
    auth = parse(received)
    assert auth is not None
    return verify(received, auth, "chunky/secret", region="us-east-1", now=datetime.now(UTC))


@settings(max_examples=40, deadline=None)
@given(
    data=st.binary(max_size=3000),
    chunk_size=st.integers(1, 1200),
    trailer=st.booleans(),
    cuts=cuts_in(8000),
)
def test_signed_bodies_decode_in_any_pieces(
    data: bytes, chunk_size: int, trailer: bool, cuts: list[int]
):
    mode = STREAMING_SIGNED_TRAILER if trailer else STREAMING_SIGNED
    signer = botocore_seed(mode)
    body = signed_body(data, chunk_size, signer, trailer)
    cuts = [min(cut, len(body)) for cut in cuts]
    decoded, trailers = decode(body, cuts, mode=mode, signer=signer, decoded_length=len(data))
    assert decoded == data
    assert list(trailers) == (["x-amz-checksum-sha256"] if trailer else [])


def test_signed_chunks_are_held_until_verified():
    signer = botocore_seed(STREAMING_SIGNED)
    body = signed_body(b"y" * 1000, 1000, signer, trailer=False)
    chunk_end = body.index(b"\r\n") + 2 + 1000
    pulled = []

    async def source() -> AsyncIterator[bytes]:
        for start in range(0, len(body), 100):
            pulled.append(start)
            yield body[start : start + 100]

    async def first_piece() -> bytes:
        decoder = AwsChunkedDecoder(source(), mode=STREAMING_SIGNED, signer=signer)
        return await anext(aiter(decoder))

    assert asyncio.run(first_piece()).startswith(b"y")
    assert pulled[-1] + 100 >= chunk_end  # the whole chunk was read before any of it left


# -- framing errors -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        b"0x5\r\nhello\r\n0\r\n\r\n",  # not bare hex
        b" 5\r\nhello\r\n0\r\n\r\n",
        b"5;name=value\r\nhello\r\n0\r\n\r\n",  # an unknown extension
        b"5\r\nhelloXX0\r\n\r\n",  # no CRLF after the data
        b"5\r\nhello\r\n0\r\n\r\nmore",  # data after the end
        b"5\r\nhello\r\n0\r\nno colon\r\n\r\n",  # a malformed trailer
        b"5\r\nhello\r\n0\r\na:1\r\nA:2\r\n\r\n",  # a trailer twice
        b"5\r\nhello\r\n0\r\n" + b"a:1\r\n" * 5000,  # trailers without end
        b"5" * 5000 + b"\r\n",  # a header line that never ends
        b"2000000\r\n",  # a chunk beyond the limit
    ],
)
def test_malformed_framing_is_refused(body: bytes):
    error = decode_error(body, mode=STREAMING_UNSIGNED_TRAILER, max_chunk_size=1 << 20)
    assert (error.code, error.status) == ("IncompleteBody", 400)


def test_trailers_only_come_with_a_trailer_mode():
    signer = doc_signer(STREAMING_SIGNED)
    body = DOC_SIGNED_BODY[:-2] + b"x-amz-checksum-crc32:AAAAAA==\r\n\r\n"
    assert decode_error(body, mode=STREAMING_SIGNED, signer=signer).code == "IncompleteBody"


def test_decoded_length_must_match():
    body = b"5\r\nhello\r\n0\r\n\r\n"
    assert decode(body, mode=STREAMING_UNSIGNED_TRAILER, decoded_length=5)[0] == b"hello"
    short = decode_error(body, mode=STREAMING_UNSIGNED_TRAILER, decoded_length=6)
    assert short.code == "IncompleteBody"
    long = decode_error(body, mode=STREAMING_UNSIGNED_TRAILER, decoded_length=4)
    assert (long.code, long.status) == ("InvalidRequest", 400)


def test_every_prefix_of_a_body_is_incomplete():
    body = botocore_body(b"hello world", "crc32", 4)
    for size in range(len(body)):
        assert decode_error(body[:size], mode=STREAMING_UNSIGNED_TRAILER).code == "IncompleteBody"


def test_a_mode_and_its_signer_are_required():
    with pytest.raises(ValueError, match="aws-chunked"):
        AwsChunkedDecoder(_pieces(b"", ()), mode="UNSIGNED-PAYLOAD")
    with pytest.raises(ValueError, match="ChunkSigner"):
        AwsChunkedDecoder(_pieces(b"", ()), mode=STREAMING_SIGNED)
