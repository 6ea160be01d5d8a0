"""Bucket configurations lakestow does not keep read as S3 answers for a bucket with none set
(each from the AWS S3 API reference of its Get operation); setting one is 501, never accepted
and ignored."""

from __future__ import annotations

import json

import pytest
from botocore.client import BaseClient
from botocore.exceptions import ClientError

from s3api.conftest import BUCKET

NOT_SET = [
    ("get_bucket_policy", "NoSuchBucketPolicy"),
    ("get_bucket_cors", "NoSuchCORSConfiguration"),
    ("get_bucket_lifecycle_configuration", "NoSuchLifecycleConfiguration"),
    ("get_bucket_website", "NoSuchWebsiteConfiguration"),
    ("get_bucket_replication", "ReplicationConfigurationNotFoundError"),
    ("get_object_lock_configuration", "ObjectLockConfigurationNotFoundError"),
    ("get_bucket_tagging", "NoSuchTagSet"),
]


@pytest.mark.parametrize(("operation", "code"), NOT_SET)
def test_configurations_never_set_answer_404(alice: BaseClient, operation: str, code: str) -> None:
    with pytest.raises(ClientError) as caught:
        getattr(alice, operation)(Bucket=BUCKET)
    error = caught.value.response
    assert (error["ResponseMetadata"]["HTTPStatusCode"], error["Error"]["Code"]) == (404, code)


def test_configurations_that_describe_what_lakestow_does(alice: BaseClient) -> None:
    ownership = alice.get_bucket_ownership_controls(Bucket=BUCKET)["OwnershipControls"]
    assert ownership["Rules"] == [{"ObjectOwnership": "BucketOwnerEnforced"}]
    block = alice.get_public_access_block(Bucket=BUCKET)["PublicAccessBlockConfiguration"]
    assert block == {
        "BlockPublicAcls": True,
        "IgnorePublicAcls": True,
        "BlockPublicPolicy": True,
        "RestrictPublicBuckets": True,
    }
    assert "LoggingEnabled" not in alice.get_bucket_logging(Bucket=BUCKET)
    notifications = alice.get_bucket_notification_configuration(Bucket=BUCKET)
    assert not notifications.get("TopicConfigurations")
    assert "Status" not in alice.get_bucket_accelerate_configuration(Bucket=BUCKET)
    assert alice.get_bucket_request_payment(Bucket=BUCKET)["Payer"] == "BucketOwner"


def test_setting_a_configuration_is_not_implemented(alice: BaseClient) -> None:
    policy = json.dumps({"Version": "2012-10-17", "Statement": []})
    with pytest.raises(ClientError) as caught:
        alice.put_bucket_policy(Bucket=BUCKET, Policy=policy)
    error = caught.value.response
    assert (error["ResponseMetadata"]["HTTPStatusCode"], error["Error"]["Code"]) == (
        501,
        "NotImplemented",
    )
    with pytest.raises(ClientError, match="NoSuchBucketPolicy"):
        alice.get_bucket_policy(Bucket=BUCKET)
