"""Operators: long-lived keys, plain S3 buckets of their own, no access to any organization."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from botocore.client import BaseClient
from botocore.config import Config
from botocore.exceptions import ClientError

from s3api.conftest import BUCKET, LiveServer, lakestow


def _operator(live: LiveServer, name: str) -> BaseClient:
    keys = json.loads(lakestow(live.data_dir, "operator", "create", name, "--format", "json"))
    assert set(keys) == {"AccessKeyId", "SecretAccessKey"}
    return boto3.client(
        "s3",
        endpoint_url=live.endpoint,
        region_name="us-east-1",
        aws_access_key_id=keys["AccessKeyId"],
        aws_secret_access_key=keys["SecretAccessKey"],
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
    )


def _code(call: Any, **kwargs: Any) -> str:
    with pytest.raises(ClientError) as caught:
        call(**kwargs)
    return str(caught.value.response["Error"]["Code"])


@pytest.fixture(scope="module")
def ops(live: LiveServer) -> BaseClient:
    return _operator(live, "backup")


def test_an_operator_uses_its_own_buckets_as_plain_s3(ops: BaseClient) -> None:
    ops.create_bucket(Bucket="backups")
    assert "backups" in [b["Name"] for b in ops.list_buckets()["Buckets"]]
    ops.head_bucket(Bucket="backups")
    ops.put_object(Bucket="backups", Key="any/layout/at/all.txt", Body=b"plain")
    ops.put_object(Bucket="backups", Key="top.txt", Body=b"top")
    assert ops.get_object(Bucket="backups", Key="any/layout/at/all.txt")["Body"].read() == b"plain"
    listing = ops.list_objects_v2(Bucket="backups", Delimiter="/")
    assert [o["Key"] for o in listing["Contents"]] == ["top.txt"]
    assert [p["Prefix"] for p in listing["CommonPrefixes"]] == ["any/"]
    versions = ops.list_object_versions(Bucket="backups")["Versions"]
    assert sorted((v["Key"], v["VersionId"]) for v in versions) == [
        ("any/layout/at/all.txt", "null"),
        ("top.txt", "null"),
    ]
    assert _code(ops.delete_bucket, Bucket="backups") == "BucketNotEmpty"
    ops.delete_objects(
        Bucket="backups", Delete={"Objects": [{"Key": "top.txt"}, {"Key": "any/layout/at/all.txt"}]}
    )
    ops.delete_bucket(Bucket="backups")
    assert "backups" not in [b["Name"] for b in ops.list_buckets()["Buckets"]]


def test_an_operator_cannot_touch_an_organizations_bucket(
    ops: BaseClient, live: LiveServer
) -> None:
    assert _code(ops.list_objects_v2, Bucket=BUCKET) == "AccessDenied"
    assert _code(ops.get_object, Bucket=BUCKET, Key="acme/data/shared/x") == "AccessDenied"
    assert (
        _code(ops.put_object, Bucket=BUCKET, Key="acme/data/shared/x", Body=b"x") == "AccessDenied"
    )
    assert _code(ops.create_bucket, Bucket=BUCKET) == "BucketAlreadyExists"
    assert BUCKET not in [b["Name"] for b in ops.list_buckets()["Buckets"]]


def test_operators_do_not_share_buckets(ops: BaseClient, live: LiveServer) -> None:
    ops.create_bucket(Bucket="ops-private")
    other = _operator(live, "other-tool")
    assert _code(other.list_objects_v2, Bucket="ops-private") == "AccessDenied"
    assert _code(other.create_bucket, Bucket="ops-private") == "BucketAlreadyExists"
    again = ops.create_bucket(Bucket="ops-private")  # its own: 200, as in AWS us-east-1
    assert again["ResponseMetadata"]["HTTPStatusCode"] == 200


def test_members_cannot_create_buckets(alice: BaseClient) -> None:
    assert _code(alice.create_bucket, Bucket="my-own-bucket") == "AccessDenied"
    assert _code(alice.delete_bucket, Bucket=BUCKET) == "AccessDenied"
    assert _code(alice.delete_bucket, Bucket="my-own-bucket") == "NoSuchBucket"


def test_the_operator_secret_is_sealed_at_rest(live: LiveServer) -> None:
    keys = json.loads(
        lakestow(live.data_dir, "operator", "create", "sealed-check", "--format", "json")
    )
    catalog = (live.data_dir / "catalog.db").read_bytes()
    assert keys["SecretAccessKey"].encode() not in catalog
    listed = lakestow(live.data_dir, "operator", "list", "--json")
    assert keys["SecretAccessKey"] not in listed and keys["AccessKeyId"] in listed


def test_a_disabled_operator_is_refused(live: LiveServer) -> None:
    client = _operator(live, "short-lived")
    client.list_buckets()
    lakestow(live.data_dir, "operator", "disable", "short-lived")
    live.client("alice").list_buckets()  # give the server a request; it reloads within seconds
    import time

    deadline = time.monotonic() + 10
    code = ""
    while time.monotonic() < deadline and code != "AccessDenied":
        try:
            client.list_buckets()
            time.sleep(0.2)
        except ClientError as error:
            code = error.response["Error"]["Code"]
    assert code == "AccessDenied"
