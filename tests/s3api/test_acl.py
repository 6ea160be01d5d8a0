"""ACLs as S3 answers them with Object Ownership "bucket owner enforced" (the AWS default for
new buckets, and lakestow's only setting). From the AWS reference (Object Ownership,
Troubleshooting): "Requests to set ACLs or update ACLs fail with a 400 error and return the
AccessControlListNotSupported error code. Requests to read ACLs are still supported. Requests to
read ACLs always return a response that shows full control for the bucket owner. In your PUT
operations, you must either specify bucket owner full control ACLs or not specify an ACL.
Otherwise, your PUT operations fail." """

from __future__ import annotations

from typing import Any

import pytest
from botocore.client import BaseClient
from botocore.exceptions import ClientError

from s3api.conftest import BUCKET, LiveServer

ALL_USERS = "uri=http://acs.amazonaws.com/groups/global/AllUsers"


def _code(call: Any, **params: Any) -> str:
    with pytest.raises(ClientError) as caught:
        call(Bucket=BUCKET, **params)
    return str(caught.value.response["Error"]["Code"])


def _full_control_of_the_caller(policy: dict[str, Any], actor: str) -> None:
    assert policy["Owner"]["ID"] == actor
    assert [
        (g["Grantee"]["Type"], g["Grantee"]["ID"], g["Permission"]) for g in policy["Grants"]
    ] == [("CanonicalUser", actor, "FULL_CONTROL")]


def test_reads_show_full_control_for_the_owner(live: LiveServer, alice: BaseClient) -> None:
    actor = f"member:{live.ids['alice']}"
    key = live.private("alice") + "acl/read.txt"
    alice.put_object(Bucket=BUCKET, Key=key, Body=b"x")
    _full_control_of_the_caller(alice.get_bucket_acl(Bucket=BUCKET), actor)
    _full_control_of_the_caller(alice.get_object_acl(Bucket=BUCKET, Key=key), actor)
    assert _code(alice.get_object_acl, Key=live.private("alice") + "acl/none") == "NoSuchKey"
    bob_key = live.private("bob") + "acl/theirs.txt"
    live.client("bob").put_object(Bucket=BUCKET, Key=bob_key, Body=b"b")
    assert _code(alice.get_object_acl, Key=bob_key) == "AccessDenied"


def test_puts_that_grant_beyond_the_owner_fail_and_write_nothing(
    live: LiveServer, alice: BaseClient
) -> None:
    home = live.private("alice") + "acl/put/"
    for canned in ("public-read", "public-read-write", "authenticated-read"):
        key = f"{home}{canned}"
        assert _code(alice.put_object, Key=key, Body=b"x", ACL=canned) == (
            "AccessControlListNotSupported"
        )
        assert _code(alice.create_multipart_upload, Key=key, ACL=canned) == (
            "AccessControlListNotSupported"
        )
    assert _code(alice.put_object, Key=f"{home}grant", Body=b"x", GrantRead=ALL_USERS) == (
        "AccessControlListNotSupported"
    )
    listed = alice.list_objects_v2(Bucket=BUCKET, Prefix=home)
    assert listed["KeyCount"] == 0
    assert alice.list_multipart_uploads(Bucket=BUCKET, Prefix=home).get("Uploads", []) == []
    for canned in ("private", "bucket-owner-full-control"):  # what lakestow does anyway
        alice.put_object(Bucket=BUCKET, Key=f"{home}{canned}", Body=b"ok", ACL=canned)
    alice.copy_object(
        Bucket=BUCKET,
        Key=f"{home}copied",
        CopySource={"Bucket": BUCKET, "Key": f"{home}private"},
        ACL="bucket-owner-full-control",
    )
    assert alice.list_objects_v2(Bucket=BUCKET, Prefix=home)["KeyCount"] == 3


def test_acl_updates_succeed_only_when_they_change_nothing(
    live: LiveServer, alice: BaseClient
) -> None:
    key = live.private("alice") + "acl/update.txt"
    alice.put_object(Bucket=BUCKET, Key=key, Body=b"x")
    alice.put_object_acl(Bucket=BUCKET, Key=key, ACL="private")
    policy = alice.get_object_acl(Bucket=BUCKET, Key=key)
    alice.put_object_acl(
        Bucket=BUCKET,
        Key=key,
        AccessControlPolicy={"Owner": policy["Owner"], "Grants": policy["Grants"]},
    )
    assert _code(alice.put_object_acl, Key=key, ACL="public-read") == (
        "AccessControlListNotSupported"
    )
    public = {
        "Owner": policy["Owner"],
        "Grants": [
            *policy["Grants"],
            {
                "Grantee": {"Type": "Group", "URI": ALL_USERS.partition("=")[2]},
                "Permission": "READ",
            },
        ],
    }
    assert _code(alice.put_object_acl, Key=key, AccessControlPolicy=public) == (
        "AccessControlListNotSupported"
    )
    # a bucket's ACL is its owner's: an operator's bucket, never a member's
    assert _code(alice.put_bucket_acl, ACL="private") == "AccessDenied"
