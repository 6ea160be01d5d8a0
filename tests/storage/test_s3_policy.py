"""The upstream policy of the deployment guide (`docs/deploy/minio-policy.json`) allows every
call the s3 backend makes: each operation of `Upstream` (the only code that calls the
upstream) with the actions AWS and MinIO check for it, on the bucket or on its objects. An
operation added to `Upstream` fails here until it is given its actions (and the policy them).
"""

from __future__ import annotations

import inspect
import json
from pathlib import Path

from lakestow.storage.s3.upstream import Upstream

POLICY = Path(__file__).parents[2] / "docs" / "deploy" / "minio-policy.json"
BUCKET, OBJECTS = "arn:aws:s3:::lakestow-data", "arn:aws:s3:::lakestow-data/*"
ACTIONS: dict[str, list[tuple[str, str]]] = {
    "head_bucket": [(BUCKET, "s3:ListBucket")],
    "list_objects_v2": [(BUCKET, "s3:ListBucket")],
    "list_objects_v2_pages": [(BUCKET, "s3:ListBucket")],
    "list_object_versions": [(BUCKET, "s3:ListBucketVersions")],
    "get_bucket_versioning": [(BUCKET, "s3:GetBucketVersioning")],
    "put_bucket_versioning": [(BUCKET, "s3:PutBucketVersioning")],
    "list_multipart_uploads": [(BUCKET, "s3:ListBucketMultipartUploads")],
    # with a VersionId, GET and HEAD take GetObjectVersion
    "head_object": [(OBJECTS, "s3:GetObject"), (OBJECTS, "s3:GetObjectVersion")],
    "get_object": [(OBJECTS, "s3:GetObject"), (OBJECTS, "s3:GetObjectVersion")],
    "get_small_object": [(OBJECTS, "s3:GetObject"), (OBJECTS, "s3:GetObjectVersion")],
    "get_object_attributes": [(OBJECTS, "s3:GetObjectAttributes")],
    "put_object": [(OBJECTS, "s3:PutObject"), (OBJECTS, "s3:PutObjectTagging")],
    # the source is read (a version of it, its tags), the target written with its tags
    "copy_object": [
        (OBJECTS, "s3:GetObject"),
        (OBJECTS, "s3:GetObjectVersion"),
        (OBJECTS, "s3:GetObjectTagging"),
        (OBJECTS, "s3:GetObjectVersionTagging"),
        (OBJECTS, "s3:PutObject"),
        (OBJECTS, "s3:PutObjectTagging"),
    ],
    # with a VersionId (a version removed for good), DeleteObjectVersion
    "delete_object": [(OBJECTS, "s3:DeleteObject"), (OBJECTS, "s3:DeleteObjectVersion")],
    "delete_objects": [(OBJECTS, "s3:DeleteObject"), (OBJECTS, "s3:DeleteObjectVersion")],
    "get_object_tagging": [(OBJECTS, "s3:GetObjectTagging")],
    "put_object_tagging": [(OBJECTS, "s3:PutObjectTagging")],
    "delete_object_tagging": [(OBJECTS, "s3:DeleteObjectTagging")],
    "create_multipart_upload": [(OBJECTS, "s3:PutObject"), (OBJECTS, "s3:PutObjectTagging")],
    "upload_part": [(OBJECTS, "s3:PutObject")],
    "upload_part_copy": [
        (OBJECTS, "s3:PutObject"),
        (OBJECTS, "s3:GetObject"),
        (OBJECTS, "s3:GetObjectVersion"),
    ],
    "complete_multipart_upload": [(OBJECTS, "s3:PutObject")],
    "abort_multipart_upload": [(OBJECTS, "s3:AbortMultipartUpload")],
    "list_parts": [(OBJECTS, "s3:ListMultipartUploadParts")],
}
"""Each operation of `Upstream` and the (resource, action) pairs it may need."""


def _allowed() -> set[tuple[str, str]]:
    policy = json.loads(POLICY.read_text())
    allowed: set[tuple[str, str]] = set()
    for statement in policy["Statement"]:
        assert statement["Effect"] == "Allow"
        allowed |= {(r, a) for r in statement["Resource"] for a in statement["Action"]}
    return allowed


def test_every_upstream_operation_is_known() -> None:
    operations = {
        name
        for name, member in inspect.getmembers(Upstream)
        if not name.startswith("_")
        and (inspect.iscoroutinefunction(member) or inspect.isasyncgenfunction(member))
    }
    assert operations == set(ACTIONS)


def test_the_policy_allows_every_call_of_the_s3_backend() -> None:
    needed = {pair for pairs in ACTIONS.values() for pair in pairs}
    assert needed - _allowed() == set()
