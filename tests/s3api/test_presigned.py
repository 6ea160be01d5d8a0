"""Presigned URLs at the edges of their lifetime, made by botocore's own query signer.

AWS S3 API reference, "Authenticating Requests: Using Query Parameters (AWS Signature Version
4)": X-Amz-Expires "provides the time period, in seconds, for which the generated presigned
URL is valid ... The minimum value you can set is 1, and the maximum is 604800 (seven days)."
"""

from __future__ import annotations

import datetime
import re

import httpx
import pytest
from botocore.client import BaseClient
from botocore.exceptions import ClientError

from s3api.conftest import BUCKET, LiveServer
from s3api.signing import presigned, url_of

WEEK = 604_800


@pytest.fixture
def key(live: LiveServer, request: pytest.FixtureRequest) -> str:
    name = "".join(c if c.isalnum() else "-" for c in request.node.name)
    return f"{live.private('alice')}presigned-{name}"


def _error(response: httpx.Response) -> tuple[int, str, str]:
    def element(name: str) -> str:
        found = re.search(f"<{name}>(.*?)</{name}>", response.text, re.S)
        return found[1] if found else ""

    return response.status_code, element("Code"), element("Message")


def _missing(alice: BaseClient, key: str) -> bool:
    try:
        alice.head_object(Bucket=BUCKET, Key=key)
    except ClientError:
        return True
    return False


def test_x_amz_expires_outside_a_second_to_a_week(
    live: LiveServer, alice: BaseClient, key: str
) -> None:
    """X-Amz-Expires below 1 or above 604800 is refused with 403
    AuthorizationQueryParametersError (S3's message: "X-Amz-Expires must be less than a week
    (in seconds); that is, the given X-Amz-Expires must be less than 604800 seconds"), for a
    GET as for a PUT, which writes nothing; a week exactly is a valid lifetime."""
    creds = live.credentials("alice")
    url = url_of(live.endpoint, BUCKET, key)
    alice.put_object(Bucket=BUCKET, Key=key + "-kept", Body=b"kept")
    kept = url_of(live.endpoint, BUCKET, key + "-kept")
    with httpx.Client() as http:
        for expires, message in (
            (WEEK + 1, "X-Amz-Expires must be less than a week (in seconds); that is, the "),
            (0, "X-Amz-Expires must be at least 1 second"),
            (-1, "X-Amz-Expires must be non-negative"),
        ):
            got = http.get(presigned(creds, "GET", kept, expires=expires))
            status, code, said = _error(got)
            assert (status, code) == (403, "AuthorizationQueryParametersError"), expires
            assert said.startswith(message), said
            put = http.put(presigned(creds, "PUT", url, expires=expires), content=b"never")
            assert _error(put)[:2] == (403, "AuthorizationQueryParametersError"), expires
        assert _missing(alice, key)
        assert http.get(presigned(creds, "GET", kept, expires=WEEK)).content == b"kept"


def test_an_expired_presigned_url_is_refused_for_get_and_put(
    live: LiveServer, alice: BaseClient, key: str
) -> None:
    """Past X-Amz-Date + X-Amz-Expires, S3 answers 403 AccessDenied, "Request has expired",
    whatever the method; an expired PUT writes nothing. The same URL signed now works."""
    creds = live.credentials("alice")
    url = url_of(live.endpoint, BUCKET, key)
    alice.put_object(Bucket=BUCKET, Key=key, Body=b"before")
    earlier = datetime.datetime.now(datetime.UTC) - datetime.timedelta(hours=2)
    with httpx.Client() as http:
        for method, body in (("GET", None), ("PUT", b"after")):
            stale = presigned(creds, method, url, expires=3600, signed_at=earlier)
            answer = http.request(method, stale, content=body)
            assert _error(answer) == (403, "AccessDenied", "Request has expired"), method
        assert alice.get_object(Bucket=BUCKET, Key=key)["Body"].read() == b"before"
        fresh = http.put(presigned(creds, "PUT", url, expires=60), content=b"after")
        assert fresh.status_code == 200, fresh.text
    assert alice.get_object(Bucket=BUCKET, Key=key)["Body"].read() == b"after"
