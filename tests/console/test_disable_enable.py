"""`user disable` then `user enable`, as an admin does after a member's laptop was stolen:
nothing issued before the disable works again, whatever the thief kept (temporary
credentials, the console's session cookie, a notebook's instance token); what the member gets
anew works."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import httpx
import pytest
from botocore.client import BaseClient
from botocore.config import Config
from botocore.exceptions import ClientError

from console.console_support import LiveConsole, lakestow, password
from lakestow.console.sessions import COOKIE

BUCKET = "lakestow"
SNAPSHOT_AGE = 2.0  # the verifier reloads the catalog this often
Issued = dict[str, Any]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveConsole]:
    server = LiveConsole(tmp_path_factory.mktemp("disable-enable")).create().start()
    yield server
    server.stop()


def s3(server: LiveConsole, issued: Issued) -> BaseClient:
    return boto3.client(
        "s3",
        endpoint_url=server.endpoint,
        region_name="us-east-1",
        aws_access_key_id=issued["AccessKeyId"],
        aws_secret_access_key=issued["SecretAccessKey"],
        aws_session_token=issued["SessionToken"],
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
    )


def credentials(server: LiveConsole, name: str) -> Issued:
    issued: Issued = json.loads(lakestow(server.data_dir, "credentials", "issue", name))
    return issued


def refusal(call: Callable[[], object]) -> str | None:
    """The S3 error code `call` gets, or None when it works."""
    try:
        call()
    except ClientError as error:
        return str(error.response["Error"]["Code"])
    return None


def settled(call: Callable[[], object], wanted: str | None) -> str | None:
    """What `call` gets once every replica's snapshot has caught up (a few seconds)."""
    deadline = time.monotonic() + 3 * SNAPSHOT_AGE + 5
    got = refusal(call)
    while got != wanted and time.monotonic() < deadline:
        time.sleep(0.2)
        got = refusal(call)
    time.sleep(SNAPSHOT_AGE * 1.5)  # and it stays so
    return refusal(call)


def sign_in(server: LiveConsole, name: str) -> str:
    response = httpx.post(
        server.url + "/api/session", json={"name": name, "password": password(name)}
    )
    assert response.status_code == 201, response.text
    return response.cookies[COOKIE]


def me(server: LiveConsole, session_id: str) -> int:
    return httpx.get(server.url + "/api/me", cookies={COOKIE: session_id}).status_code


def exchange(server: LiveConsole, token: str) -> httpx.Response:
    return httpx.post(
        server.url + "/api/token/credentials", headers={"authorization": f"Bearer {token}"}
    )


def test_enable_revives_nothing_issued_before_the_disable(server: LiveConsole) -> None:
    home = f"acme/data/customer-{server.ids['alice']}/"
    old = s3(server, credentials(server, "alice"))
    cookie = sign_in(server, "alice")
    token = lakestow(server.data_dir, "token", "issue", "alice").strip()
    old.put_object(Bucket=BUCKET, Key=home + "before.txt", Body=b"x")
    assert me(server, cookie) == 200 and exchange(server, token).status_code == 200
    bobs = s3(server, credentials(server, "bob"))  # refused as `credentials revoke` refuses
    lakestow(server.data_dir, "credentials", "revoke", "--user", "bob")
    bob_home = f"acme/data/customer-{server.ids['bob']}/"
    revoked = settled(lambda: bobs.list_objects_v2(Bucket=BUCKET, Prefix=bob_home), "InvalidToken")

    lakestow(server.data_dir, "user", "disable", "alice")
    listing = lambda: old.list_objects_v2(Bucket=BUCKET, Prefix=home)  # noqa: E731
    assert settled(listing, "AccessDenied") == "AccessDenied"
    lakestow(server.data_dir, "user", "enable", "alice")

    assert settled(listing, revoked) == revoked == "InvalidToken"
    assert me(server, cookie) == 401
    refused = exchange(server, token)
    assert refused.status_code == 401, refused.text
    fresh = s3(server, credentials(server, "alice"))
    assert fresh.get_object(Bucket=BUCKET, Key=home + "before.txt")["Body"].read() == b"x"
    assert me(server, sign_in(server, "alice")) == 200
    new_token = lakestow(server.data_dir, "token", "issue", "alice").strip()
    assert exchange(server, new_token).status_code == 200


def test_enabling_an_enabled_member_revokes_nothing(server: LiveConsole) -> None:
    kept = s3(server, credentials(server, "carol"))
    cookie = sign_in(server, "carol")
    lakestow(server.data_dir, "user", "enable", "carol")
    assert settled(lambda: kept.list_objects_v2(Bucket=BUCKET, Prefix="globex/"), None) is None
    assert me(server, cookie) == 200
