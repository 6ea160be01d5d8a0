"""S3's checksum rules, shared by the backends and the S3 endpoint.

From the S3 User Guide, "Checking object integrity", and the API reference of
CreateMultipartUpload, UploadPart and CompleteMultipartUpload:

- A PUT's checksum is of the whole object (FULL_OBJECT).
- A multipart upload names its algorithm at Create, and its checksum type: FULL_OBJECT (the
  CRC of all the bytes, made by combining the parts' CRCs: CRC32, CRC32C, CRC64NVME) or
  COMPOSITE (the checksum of the parts' checksums: any algorithm but CRC64NVME). Without a
  type, CRC64NVME is FULL_OBJECT and the others COMPOSITE.
- Every part then comes with a checksum of that algorithm: another algorithm is refused ("
  Checksum Type mismatch occurred"), and so is none at all for a COMPOSITE upload, whose
  checksum is made of the parts' as the client computed them; a FULL_OBJECT upload's store
  computes a part's CRC itself when it came without one.
- Complete may repeat each part's checksum (a COMPOSITE upload must: S3 answers "The complete
  request must include the checksum for each part"), the whole object's checksum and its
  type; one that does not match is refused and nothing is completed.

AWS also adds a CRC64NVME checksum to objects uploaded without one; lakestow keeps the
checksums clients send (current SDKs and the AWS CLI send one with every upload) and adds
none of its own.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence

from lakestow.auth.checksums import CRCS, Checksummer, combine, composite, decode, encode
from lakestow.errors import InvalidRequest
from lakestow.storage.protocol import (
    COMPOSITE,
    FULL_OBJECT,
    Body,
    BodyChecksum,
    Checksum,
    CompleteChecks,
)

TYPES = (FULL_OBJECT, COMPOSITE)


def upload_type(algorithm: str | None, checksum_type: str | None) -> str | None:
    """The checksum type of a new multipart upload (None without an algorithm), or
    InvalidRequest for a combination S3 refuses."""
    if checksum_type is not None and checksum_type not in TYPES:
        raise InvalidRequest(
            f"Value for x-amz-checksum-type header is invalid: {checksum_type!r} "
            "(COMPOSITE or FULL_OBJECT)."
        )
    if algorithm is None:
        if checksum_type is not None:
            raise InvalidRequest(
                "The x-amz-checksum-type header can only be used with the "
                "x-amz-checksum-algorithm header."
            )
        return None
    Checksummer(algorithm)  # InvalidRequest for an algorithm lakestow does not know
    if checksum_type is None:
        return FULL_OBJECT if algorithm == "crc64nvme" else COMPOSITE
    if checksum_type == FULL_OBJECT and algorithm not in CRCS:
        raise InvalidRequest(
            f"The FULL_OBJECT checksum type cannot be used with the {algorithm} checksum algorithm."
        )
    if checksum_type == COMPOSITE and algorithm == "crc64nvme":
        raise InvalidRequest(
            "The COMPOSITE checksum type cannot be used with the crc64nvme checksum algorithm."
        )
    return checksum_type


def check_part(
    algorithm: str | None, checksum_type: str | None, sent: BodyChecksum | None
) -> BodyChecksum | None:
    """The checksum a part of an upload made with `algorithm` and `checksum_type` gets: the
    one it was `sent` with, or one its store must compute (a FULL_OBJECT upload's part sent
    without one; its value set as the body streams through `computed`). InvalidRequest, as
    S3 answers, for a part whose checksum does not fit the upload."""
    if algorithm is None:
        return sent  # kept with the part, shown by ListParts; the object gets none
    if sent is None and checksum_type == FULL_OBJECT:
        return BodyChecksum(algorithm)
    actual = "null" if sent is None else sent.algorithm
    if actual != algorithm:
        raise InvalidRequest(
            "Checksum Type mismatch occurred, expected checksum Type: "
            f"{algorithm}, actual checksum Type: {actual}"
        )
    return sent


async def computed(body: Body, checksum: BodyChecksum) -> AsyncIterator[bytes]:
    """`body`, setting `checksum.value` to its checksum once it is read to its end."""
    running = Checksummer(checksum.algorithm)
    async for piece in body:
        running.update(piece)
        yield piece
    checksum.value = running.b64digest()


def body_with(
    body: Body, algorithm: str | None, checksum_type: str | None, sent: BodyChecksum | None
) -> tuple[Body, BodyChecksum | None]:
    """A part's body and the checksum it gets (`check_part`), computed as it streams when
    the client sent none."""
    checksum = check_part(algorithm, checksum_type, sent)
    if checksum is not None and checksum is not sent:
        return computed(body, checksum), checksum
    return body, checksum


def of_parts(
    algorithm: str | None,
    checksum_type: str | None,
    parts: Sequence[tuple[int, int, Checksum | None]],
    checks: CompleteChecks | None,
) -> Checksum | None:
    """The checksum of an object completed from `parts` (number, size, stored checksum) of
    an upload made with `algorithm` and `checksum_type`, after the `checks` of its Complete;
    InvalidRequest, InvalidPart or BadDigest as S3 answers when one does not hold."""
    checks = checks or CompleteChecks()
    size = sum(part_size for _, part_size, _ in parts)
    if checks.object_size is not None and checks.object_size != size:
        raise InvalidRequest(
            f"The provided 'x-amz-mp-object-size' header value {checks.object_size} does not "
            f"match what was computed: {size}"
        )
    if checks.checksum_type is not None and checks.checksum_type != checksum_type:
        raise InvalidRequest(
            f"The upload was created using the {checksum_type or 'null'} checksum mode. The "
            f"complete request must use the same checksum mode: {checks.checksum_type}",
            code="BadDigest",
        )
    if algorithm is None:
        if checks.checksum is not None:
            raise InvalidRequest(
                "The upload was created without a checksum algorithm: the complete request "
                f"cannot carry x-amz-checksum-{checks.checksum.algorithm}."
            )
        return None
    digests: list[tuple[bytes, int]] = []
    for number, part_size, stored in parts:
        sent = checks.parts.get(number, {}).get(algorithm)
        if sent is None and checksum_type == COMPOSITE:
            raise InvalidRequest(
                f"The upload was created using a {algorithm} checksum. The complete request "
                f"must include the checksum for each part. It was missing for part {number} "
                "in the request."
            )
        if stored is None or stored.algorithm != algorithm:  # parts of another time
            raise InvalidRequest(
                f"Part {number} was uploaded without a {algorithm} checksum.", code="InvalidPart"
            )
        if sent is not None and sent != stored.value:
            raise InvalidRequest(
                f"Part {number} could not be found, or its checksum does not match the part's "
                f"{algorithm} checksum.",
                code="InvalidPart",
            )
        digests.append((decode(stored.value) or b"", part_size))
    if checksum_type == FULL_OBJECT:
        value = encode(combine(algorithm, digests))
    else:
        value = encode(composite(algorithm, (digest for digest, _ in digests)))
    expected = checks.checksum
    if expected is not None:
        if expected.algorithm != algorithm:
            raise InvalidRequest(
                f"The upload was created using a {algorithm} checksum: the complete request "
                f"cannot carry x-amz-checksum-{expected.algorithm}."
            )
        if expected.value.partition("-")[0] != value:
            raise InvalidRequest(
                f"The {algorithm.upper()} you specified did not match the calculated checksum.",
                code="BadDigest",
            )
    assert checksum_type is not None
    return Checksum(algorithm, value, checksum_type)


def shown(checksum: Checksum, parts_count: int | None) -> str:
    """A checksum's value as GET, HEAD and Complete show it: a COMPOSITE one followed by
    `-<parts count>`, as S3 writes it (and as clients know not to check it against bytes)."""
    if checksum.type == COMPOSITE and parts_count:
        return f"{checksum.value}-{parts_count}"
    return checksum.value
