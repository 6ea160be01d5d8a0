"""Checksums for x-amz-checksum-*: published vectors, botocore's values, incremental updates."""

from __future__ import annotations

import base64
import sys

import pytest
from botocore import httpchecksum
from hypothesis import given
from hypothesis import strategies as st

from lakestow.auth.checksums import ALGORITHMS, Checksummer, algorithm_of_header
from lakestow.errors import LakestowError

CRT_ALGORITHMS = {"crc32c", "crc64nvme", "xxhash64", "xxhash3", "xxhash128"}


# b"hello world" from botocore's tests/unit/test_httpchecksum.py; "123456789" are the CRC
# catalogue's check values; the empty xxHash digests are xxHash's own reference values.
def b64(hex_digest: str) -> str:
    return base64.b64encode(bytes.fromhex(hex_digest)).decode()


VECTORS = [
    ("crc32", b"hello world", "DUoRhQ=="),
    ("sha1", b"hello world", "Kq5sNclPz7QV2+lfQIuc6R7oRu0="),
    ("sha256", b"hello world", "uU0nuZNNPgilLlLX2n2r+sSE7+N6U4DukIj3rOLvzek="),
    ("crc32", b"123456789", b64("cbf43926")),
    ("crc32c", b"hello world", "yZRlqg=="),
    ("crc64nvme", b"hello world", "jSnVw/bqjr4="),
    ("crc32c", b"123456789", b64("e3069283")),
    ("crc64nvme", b"123456789", b64("ae8b14860a799888")),
    ("crc32c", b"a" * 66560, "sOO8/Q=="),  # the S3 docs' trailer example
    ("xxhash64", b"", b64("ef46db3751d8e999")),
    ("xxhash3", b"", b64("2d06800538d394c2")),
    ("xxhash128", b"", b64("99aa06d3014798d86001c324468d497f")),
]


def checksum_of(algorithm: str, *pieces: bytes) -> Checksummer:
    checksum = Checksummer(algorithm)
    for piece in pieces:
        checksum.update(piece)
    return checksum


@pytest.mark.parametrize(
    ("algorithm", "data", "expected"),
    VECTORS,
)
def test_published_vectors(algorithm: str, data: bytes, expected: str):
    assert checksum_of(algorithm, data).b64digest() == expected
    checksum_of(algorithm.upper(), data).check(expected)


@given(data=st.binary(max_size=2000), cut=st.integers(0, 2000))
def test_same_as_botocore_in_any_pieces(data: bytes, cut: int):
    for algorithm in httpchecksum._CHECKSUM_CLS:  # every one this botocore can compute
        theirs = httpchecksum._CHECKSUM_CLS[algorithm]()
        theirs.update(data)
        ours = checksum_of(algorithm, data[:cut], data[cut:])
        assert ours.b64digest() == theirs.b64digest(), algorithm


def test_a_wrong_checksum_is_a_bad_digest():
    checksum = checksum_of("crc32", b"hello world")
    with pytest.raises(LakestowError) as excinfo:
        checksum.check("AAAAAA==")
    assert (excinfo.value.code, excinfo.value.status) == ("BadDigest", 400)
    assert "CRC32" in excinfo.value.message


@pytest.mark.parametrize("value", ["not base64!", "DUoRhQ", "DUoRhQ==DUoRhQ==", ""])
def test_a_malformed_checksum_is_an_invalid_request(value: str):
    with pytest.raises(LakestowError) as excinfo:
        checksum_of("crc32", b"hello world").check(value)
    assert excinfo.value.code == "InvalidRequest"
    assert "x-amz-checksum-crc32" in excinfo.value.message


def test_unknown_algorithms_are_refused():
    with pytest.raises(LakestowError) as excinfo:
        Checksummer("md5")
    assert (excinfo.value.code, excinfo.value.status) == ("InvalidRequest", 400)


def test_header_names():
    assert algorithm_of_header("X-Amz-Checksum-CRC64NVME") == "crc64nvme"
    assert algorithm_of_header("x-amz-checksum-md5") is None
    assert algorithm_of_header("x-amz-checksum-type") is None
    assert algorithm_of_header("content-md5") is None
    assert Checksummer("SHA256").header == "x-amz-checksum-sha256"
    assert set(ALGORITHMS) >= set(httpchecksum._CHECKSUM_CLS)


def test_without_awscrt_the_crt_algorithms_say_what_is_missing(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setitem(sys.modules, "awscrt.checksums", None)  # makes its import fail
    for algorithm in sorted(CRT_ALGORITHMS):
        with pytest.raises(LakestowError) as excinfo:
            Checksummer(algorithm)
        assert (excinfo.value.code, excinfo.value.status) == ("NotImplemented", 501)
        assert "awscrt" in excinfo.value.message
    assert checksum_of("crc32", b"hello world").b64digest() == "DUoRhQ=="
