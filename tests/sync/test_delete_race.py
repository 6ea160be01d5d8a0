"""The race of a delete. The agent deletes with If-Match the version it last synced, so a
version someone wrote since is refused (412), never deleted; the agent then keeps the version
it finds (HEAD) aside and deletes with If-Match that one. Someone rewriting the file again
between that HEAD and that DELETE is refused too: on an endpoint that honours If-Match on
DeleteObject (lakestow, moto, AWS S3) every version survives, and the next pass keeps the
newest aside.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import boto3
import pytest
from botocore.client import BaseClient
from moto.server import ThreadedMotoServer

from lakestow.sync.agent import Agent
from lakestow.sync.credentials import Credentials
from lakestow.sync.remote import Endpoint, Remote
from sync.conftest import BUCKET, Home, free_port
from sync.test_pass import write

Rewrite = Callable[[str, bytes], None]


def race_a_delete(agent: Agent, rewrite: Rewrite, objects: Callable[[], dict[str, bytes]]) -> None:
    """Sync, have `victim` rewritten remotely and deleted locally, and rewritten once more
    right after the agent's HEAD of it; then the passes that follow must keep that version."""
    write(agent.home, {"victim": b"mine", "a": b"1", "b": b"2", "c": b"3"})
    assert agent.sync().ok
    rewrite("victim", b"theirs")
    (agent.home / "victim").unlink()
    head = agent.remote.head

    def racing_head(path: str) -> str | None:
        etag = head(path)
        if path == "victim":
            rewrite(path, b"theirs again")
        return etag

    agent.remote.head = racing_head  # type: ignore[method-assign]
    raced = agent.sync()
    agent.remote.head = head  # type: ignore[method-assign]
    assert raced.ok and "victim" not in raced.deleted and raced.retry == ["victim"]
    after = agent.sync()
    assert after.ok and after.deleted == ["victim"]
    [aside] = after.conflicts
    remote = objects()
    assert "victim" not in remote and remote[aside] == b"theirs again"


@pytest.fixture(scope="module")
def moto() -> Iterator[BaseClient]:
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    client = boto3.client(
        "s3",
        endpoint_url=f"http://127.0.0.1:{port}",
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    client.create_bucket(Bucket="race")
    yield client
    server.stop()


def test_a_conditional_delete_keeps_a_version_written_after_the_check(
    moto: BaseClient, tmp_path: Path
) -> None:
    endpoint = moto.meta.endpoint_url
    credentials = Credentials("test", "test")
    remote = Remote(Endpoint(endpoint, "us-east-1", lambda: credentials), "race", "h/")

    def rewrite(path: str, data: bytes) -> None:
        moto.put_object(Bucket="race", Key="h/" + path, Body=data)

    def objects() -> dict[str, bytes]:
        listed = moto.list_objects_v2(Bucket="race", Prefix="h/").get("Contents", [])
        keys = [o["Key"] for o in listed if not o["Key"].endswith(".json")]
        return {k[2:]: moto.get_object(Bucket="race", Key=k)["Body"].read() for k in keys}

    with Agent(tmp_path, remote) as agent:
        race_a_delete(agent, rewrite, objects)


def test_the_delete_race_on_lakestow(member: Home, tmp_path: Path) -> None:
    def rewrite(path: str, data: bytes) -> None:
        member.client().put_object(Bucket=BUCKET, Key=member.prefix + path, Body=data)

    def objects() -> dict[str, bytes]:
        found = member.objects()
        found.pop(".lakestow-sync-status.json", None)
        return found

    with member.agent(tmp_path) as agent:
        race_a_delete(agent, rewrite, objects)
