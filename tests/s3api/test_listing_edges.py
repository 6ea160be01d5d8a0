"""Listings at the edges: encoding-type=url, the continuation token sent back, and owners.

The client passes EncodingType itself, so botocore hands the answer over as it came (it
decodes only what it asked to encode on its own).
"""

from __future__ import annotations

import pytest
from botocore.client import BaseClient

from s3api.conftest import BUCKET, LiveServer


@pytest.fixture
def home(live: LiveServer, request: pytest.FixtureRequest) -> str:
    name = "".join(c if c.isalnum() else "-" for c in request.node.name.lower())
    return f"{live.private('alice')}listing-{name}/"


def test_url_encoding_as_s3_writes_it(alice: BaseClient, home: str) -> None:
    """AWS S3 API reference, ListObjectsV2 EncodingType: "If you specify the encoding-type
    request parameter, Amazon S3 includes this element in the response, and returns encoded
    key name values in the following response elements: Delimiter, Prefix, Key, and
    StartAfter." and "non-ASCII characters that are used in an object's key name will be
    percent-encoded according to UTF-8 code values. For example, the object test_file(3).png
    will appear as test_file%283%29.png." A space is %20 and + is %2B (ceph's s3-tests,
    test_bucket_listv2_encoding_basic: 'quux%20ab/', 'asdf%2Bb'); ListObjects (V1) encodes
    Marker and NextMarker too, ListObjectVersions KeyMarker and NextKeyMarker."""
    for name in ("foo+1/bar", "foo/bar/xyzzy", "quux ab/thud", "asdf+b", "test_file(3).png"):
        alice.put_object(Bucket=BUCKET, Key=home + name, Body=b"x")
    alice.put_object(Bucket=BUCKET, Key=home + "ü~*", Body=b"x")
    v2 = alice.list_objects_v2(Bucket=BUCKET, Prefix=home, Delimiter="/", EncodingType="url")
    assert (v2["EncodingType"], v2["Prefix"], v2["Delimiter"]) == ("url", home, "/")
    assert [o["Key"] for o in v2["Contents"]] == [
        home + "asdf%2Bb",
        home + "test_file%283%29.png",
        home + "%C3%BC%7E*",
    ]
    assert [p["Prefix"] for p in v2["CommonPrefixes"]] == [
        home + "foo%2B1/",
        home + "foo/",
        home + "quux%20ab/",
    ]
    # what was sent is echoed encoded, control characters included
    echoed = alice.list_objects_v2(
        Bucket=BUCKET,
        Prefix=home + "quux a",
        Delimiter="+",
        StartAfter=home + "a b+\x01",
        EncodingType="url",
    )
    assert (echoed["Prefix"], echoed["Delimiter"], echoed["StartAfter"]) == (
        home + "quux%20a",
        "%2B",
        home + "a%20b%2B%01",
    )
    assert [o["Key"] for o in echoed["Contents"]] == [home + "quux%20ab/thud"]
    v1 = alice.list_objects(Bucket=BUCKET, Prefix=home, Marker=home + "a b", MaxKeys=1)
    assert v1["Marker"] == home + "a b"  # botocore decodes what it asked to encode itself
    raw_v1 = alice.list_objects(
        Bucket=BUCKET, Prefix=home, Marker=home + "a b", MaxKeys=1, EncodingType="url"
    )
    assert (raw_v1["Marker"], raw_v1["NextMarker"]) == (home + "a%20b", home + "asdf%2Bb")
    versions = alice.list_object_versions(
        Bucket=BUCKET, Prefix=home + "q", KeyMarker=home + "a b", EncodingType="url"
    )
    assert versions["KeyMarker"] == home + "a%20b"
    assert [v["Key"] for v in versions["Versions"]] == [home + "quux%20ab/thud"]


def test_continuation_token_and_owner(live: LiveServer, alice: BaseClient, home: str) -> None:
    """ListObjectsV2: "If ContinuationToken was sent with the request, it is included in the
    response" — an empty one too, listing from the start (ceph's s3-tests,
    test_bucket_listv2_continuationtoken_empty); "The owner field is not present in
    ListObjectsV2 by default. If you want to return the owner field with each key in the
    result, then set the FetchOwner field to true." ListObjects (V1) always returns it."""
    for name in ("a", "b"):
        alice.put_object(Bucket=BUCKET, Key=home + name, Body=b"x")
    empty = alice.list_objects_v2(Bucket=BUCKET, Prefix=home, ContinuationToken="")
    assert empty["ContinuationToken"] == ""
    assert [o["Key"] for o in empty["Contents"]] == [home + "a", home + "b"]
    assert all("Owner" not in o for o in empty["Contents"])
    first = alice.list_objects_v2(Bucket=BUCKET, Prefix=home, MaxKeys=1, FetchOwner=True)
    token = first["NextContinuationToken"]
    rest = alice.list_objects_v2(Bucket=BUCKET, Prefix=home, ContinuationToken=token)
    assert rest["ContinuationToken"] == token
    assert [o["Key"] for o in rest["Contents"]] == [home + "b"]
    me = f"member:{live.ids['alice']}"
    assert first["Contents"][0]["Owner"] == {"ID": me, "DisplayName": me}
    not_asked = alice.list_objects_v2(Bucket=BUCKET, Prefix=home, FetchOwner=False)
    assert all("Owner" not in o for o in not_asked["Contents"])
    v1 = alice.list_objects(Bucket=BUCKET, Prefix=home)
    assert [o["Owner"] for o in v1["Contents"]] == [{"ID": me, "DisplayName": me}] * 2
