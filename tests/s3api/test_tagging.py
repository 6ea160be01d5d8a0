"""Object tagging as S3 does it, with real boto3 and raw signed requests.

The S3 User Guide, "Categorizing your storage using tags": "You can associate up to 10 tags
with an object. Tags that are associated with an object must have unique tag keys. A tag key
can be up to 128 Unicode characters in length, and tag values can be up to 256 Unicode
characters in length. The key and values are case sensitive." Tags are set with the
`x-amz-tagging` header on PutObject and CreateMultipartUpload ("encoded as URL Query
parameters"), replaced by PutObjectTagging, removed by DeleteObjectTagging; GetObject answers
"the object tag count in the x-amz-tagging-count header"; CopyObject copies them or, with
x-amz-tagging-directive REPLACE, takes the request's.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from botocore.client import BaseClient
from botocore.exceptions import ClientError

from s3api.conftest import BUCKET, LiveServer
from s3api.signing import signed, url_of


@pytest.fixture
def home(live: LiveServer, request: pytest.FixtureRequest) -> str:
    name = "".join(c if c.isalnum() else "-" for c in request.node.name.lower())
    return f"{live.private('alice')}tagging-{name}/"


def _tags(client: BaseClient, key: str) -> dict[str, str]:
    tag_set = client.get_object_tagging(Bucket=BUCKET, Key=key)["TagSet"]
    return {tag["Key"]: tag["Value"] for tag in tag_set}


def _tag_set(tags: dict[str, str]) -> dict[str, Any]:
    return {"TagSet": [{"Key": k, "Value": v} for k, v in tags.items()]}


def _error(call: Any, **kwargs: Any) -> tuple[int, str]:
    with pytest.raises(ClientError) as caught:
        call(**kwargs)
    response = caught.value.response
    return response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Code"]


def test_tags_at_put_replaced_and_removed(alice: BaseClient, home: str) -> None:
    """x-amz-tagging on PUT; GET and HEAD tell the count (x-amz-tagging-count), GetObjectTagging
    the tags; PutObjectTagging "Replaces tags on an object" without changing it (same ETag,
    same Last-Modified); DeleteObjectTagging "Deletes the tag set"."""
    key = home + "object"
    put = alice.put_object(
        Bucket=BUCKET, Key=key, Body=b"data", Tagging="project=blue&note=two%20words+and%20more"
    )
    assert _tags(alice, key) == {"project": "blue", "note": "two words and more"}
    got = alice.get_object(Bucket=BUCKET, Key=key)
    assert (got["TagCount"], got["Body"].read()) == (2, b"data")
    head = alice.head_object(Bucket=BUCKET, Key=key)
    assert head["TagCount"] == 2
    alice.put_object_tagging(Bucket=BUCKET, Key=key, Tagging=_tag_set({"Project": "Rød-1"}))
    assert _tags(alice, key) == {"Project": "Rød-1"}  # case-sensitive, Unicode letters
    after = alice.head_object(Bucket=BUCKET, Key=key)
    assert (after["ETag"], after["LastModified"], after["TagCount"]) == (
        put["ETag"],
        head["LastModified"],
        1,
    )
    deleted = alice.delete_object_tagging(Bucket=BUCKET, Key=key)
    assert deleted["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert _tags(alice, key) == {}
    assert "TagCount" not in alice.head_object(Bucket=BUCKET, Key=key)
    assert _error(alice.get_object_tagging, Bucket=BUCKET, Key=home + "missing") == (
        404,
        "NoSuchKey",
    )


def test_a_copy_copies_or_replaces_the_tags(alice: BaseClient, home: str) -> None:
    """CopyObject's x-amz-tagging-directive: "Specifies whether the object tag-set is copied
    from the source object or replaced with the tag-set that's provided in the request. The
    default value is COPY"; with REPLACE and no x-amz-tagging, "The default value is the empty
    value"."""
    source = {"Bucket": BUCKET, "Key": home + "src"}
    alice.put_object(**source, Body=b"src", Tagging="a=1&b=2")
    alice.copy_object(Bucket=BUCKET, Key=home + "copied", CopySource=source)
    assert _tags(alice, home + "copied") == {"a": "1", "b": "2"}
    alice.copy_object(
        Bucket=BUCKET,
        Key=home + "replaced",
        CopySource=source,
        TaggingDirective="REPLACE",
        Tagging="c=3",
    )
    assert _tags(alice, home + "replaced") == {"c": "3"}
    alice.copy_object(
        Bucket=BUCKET, Key=home + "emptied", CopySource=source, TaggingDirective="REPLACE"
    )
    assert _tags(alice, home + "emptied") == {}


def test_an_upload_tags_its_object(alice: BaseClient, home: str) -> None:
    """CreateMultipartUpload's x-amz-tagging: the completed object has those tags."""
    key = home + "mp"
    uid = alice.create_multipart_upload(Bucket=BUCKET, Key=key, Tagging="stage=raw")["UploadId"]
    part = alice.upload_part(Bucket=BUCKET, Key=key, UploadId=uid, PartNumber=1, Body=b"x")
    alice.complete_multipart_upload(
        Bucket=BUCKET,
        Key=key,
        UploadId=uid,
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]},
    )
    assert _tags(alice, key) == {"stage": "raw"}
    assert alice.head_object(Bucket=BUCKET, Key=key)["TagCount"] == 1


def test_tag_sets_s3_refuses(live: LiveServer, alice: BaseClient, home: str) -> None:
    """InvalidTag (400) for what the S3 User Guide's limits exclude: more than 10 tags, a key
    of more than 128 characters or a value of more than 256, a key given twice, a key prefixed
    with aws: (reserved for AWS), a character AWS's tag restrictions do not allow ("letters,
    numbers, and spaces representable in UTF-8, and the following characters: + - = . _ : /
    @"); the object and its tags are unchanged, and a PUT with such a header writes nothing.
    The limits themselves are fine."""
    key = home + "limits"
    most = {f"k{n}": "v" for n in range(10)}
    alice.put_object(Bucket=BUCKET, Key=key, Body=b"x", Tagging="&".join(f"{k}=v" for k in most))
    assert _tags(alice, key) == most
    longest = {"k" * 128: "v" * 256}
    alice.put_object_tagging(Bucket=BUCKET, Key=key, Tagging=_tag_set(longest))
    assert _tags(alice, key) == longest
    refused = [
        {"TagSet": [{"Key": f"k{n}", "Value": "v"} for n in range(11)]},
        _tag_set({"k" * 129: "v"}),
        _tag_set({"k": "v" * 257}),
        _tag_set({"aws:reserved": "v"}),
        _tag_set({"mark": "✓"}),  # neither a letter, a number nor one of _.:/=+-@
        {"TagSet": [{"Key": "same", "Value": "1"}, {"Key": "same", "Value": "2"}]},
    ]
    for tagging in refused:
        assert _error(alice.put_object_tagging, Bucket=BUCKET, Key=key, Tagging=tagging) == (
            400,
            "InvalidTag",
        )
    assert _tags(alice, key) == longest
    creds = live.credentials("alice")
    url = url_of(live.endpoint, BUCKET, home + "never")
    with httpx.Client() as http:
        for header in ("a=1&a=2", "&".join(f"k{n}=v" for n in range(11)), "aws:x=1"):
            answer = http.send(
                signed(creds, "PUT", url, headers={"x-amz-tagging": header}, body=b"x")
            )
            assert answer.status_code == 400, answer.text
            assert "<Code>InvalidTag</Code>" in answer.text
    assert _error(alice.head_object, Bucket=BUCKET, Key=home + "never") == (404, "404")


def test_tags_are_read_and_changed_as_their_object(live: LiveServer, home: str) -> None:
    """The policy decides tagging as it decides the object: reading the tags needs READ,
    changing them WRITE (a member may tag only what they may write). Another member's
    private object answers AccessDenied either way; a read-only credential reads tags and
    changes none; in the shared folder every member tags."""
    alice, bob = live.client("alice"), live.client("bob")
    key = home + "private"
    alice.put_object(Bucket=BUCKET, Key=key, Body=b"mine", Tagging="owner=alice")
    assert _error(bob.get_object_tagging, Bucket=BUCKET, Key=key) == (403, "AccessDenied")
    assert _error(
        bob.put_object_tagging, Bucket=BUCKET, Key=key, Tagging=_tag_set({"owner": "bob"})
    ) == (403, "AccessDenied")
    assert _error(bob.delete_object_tagging, Bucket=BUCKET, Key=key) == (403, "AccessDenied")
    reader = live.client(credentials=live.credentials("alice", "--read-only"))
    assert _tags(reader, key) == {"owner": "alice"}
    assert _error(reader.delete_object_tagging, Bucket=BUCKET, Key=key) == (403, "AccessDenied")
    assert _tags(alice, key) == {"owner": "alice"}
    shared = "acme/data/shared/" + home.rsplit("/", 2)[-2] + "-shared"
    alice.put_object(Bucket=BUCKET, Key=shared, Body=b"ours")
    bob.put_object_tagging(Bucket=BUCKET, Key=shared, Tagging=_tag_set({"by": "bob"}))
    assert _tags(alice, shared) == {"by": "bob"}
    alice.delete_object(Bucket=BUCKET, Key=shared)
