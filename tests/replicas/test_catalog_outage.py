"""A catalog outage degrades, never stops the data path (issue 19).

The outage is real but private to the test: the server reaches PostgreSQL through a TCP proxy
the test cuts (every connection closed, new ones refused) and restores, so the machine's
shared PostgreSQL keeps serving every other test."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from live import BIN, BUCKET, free_port, serve
from postgres import fresh_database

STALENESS = 4.0


class CuttableProxy:
    """127.0.0.1:`port` forwarded to PostgreSQL until `cut`, refused after, until `restore`."""

    def __init__(self, target: int = 5432) -> None:
        self.port, self.target = free_port(), target
        self.loop = asyncio.new_event_loop()
        self.server: asyncio.Server | None = None
        self.writers: set[asyncio.StreamWriter] = set()
        threading.Thread(target=self.loop.run_forever, daemon=True).start()
        self.restore()

    def _call(self, coroutine: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout=10)

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        writer.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target)
        self.writers |= {writer, up_writer}
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))

    def restore(self) -> None:
        async def start() -> None:
            self.server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)

        self._call(start())

    def cut(self) -> None:
        async def stop() -> None:
            assert self.server is not None
            self.server.close()
            for writer in self.writers:
                writer.transport.abort()
            self.writers.clear()

        self._call(stop())


@pytest.fixture(scope="module")
def outage(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[CuttableProxy, dict[str, str], Path]]:
    data_dir = tmp_path_factory.mktemp("outage")
    proxy = CuttableProxy()
    with fresh_database() as url:
        host_port = f"127.0.0.1:{proxy.port}"
        base = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "LAKESTOW_"))}
        env = {
            **base,
            "LAKESTOW_DATA_DIR": str(data_dir),
            "LAKESTOW_CATALOG_URL": url.replace("127.0.0.1:5432", host_port),
            "LAKESTOW_CATALOG_STALENESS": str(STALENESS),
            "LAKESTOW_REVOCATION_REFRESH": "0.5",
        }
        yield proxy, env, data_dir


def _cli(env: dict[str, str], *args: str) -> str:
    result = subprocess.run(
        [str(BIN / "lakestow"), *args], env=env, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def _client(port: int, issued: dict[str, str]) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=f"http://127.0.0.1:{port}",
        region_name="us-east-1",
        aws_access_key_id=issued["AccessKeyId"],
        aws_secret_access_key=issued["SecretAccessKey"],
        aws_session_token=issued["SessionToken"],
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
    )


def _status(call: Any, **params: Any) -> int:
    try:
        answer = call(Bucket=BUCKET, **params)
    except ClientError as error:
        return int(error.response["ResponseMetadata"]["HTTPStatusCode"])
    return int(answer["ResponseMetadata"]["HTTPStatusCode"])


def test_requests_ride_out_a_catalog_outage(
    outage: tuple[CuttableProxy, dict[str, str], Path],
) -> None:
    proxy, env, data_dir = outage
    _cli(env, "init")
    _cli(env, "org", "create", "acme")
    _cli(env, "user", "create", "alice", "--org", "acme")
    issued = json.loads(_cli(env, "credentials", "issue", "alice", "--format", "json"))
    s3_port, console_port = free_port(), free_port()
    server = serve(data_dir, s3_port, console_port, env=env)
    try:
        client = _client(s3_port, issued)
        home = _cli(env, "env", "alice").split("USER_S3_PATH=s3://lakestow/")[1].split()[0]
        key = f"{home}outage/file"
        client.put_object(Bucket=BUCKET, Key=key, Body=b"before")
        console = f"http://127.0.0.1:{console_port}"
        assert httpx.get(f"{console}/health/ready").json()["ready"] is True

        proxy.cut()
        cut_at = time.monotonic()
        statuses = []
        while time.monotonic() - cut_at < STALENESS - 1.5:  # within the bound: no error at all
            statuses += [
                _status(client.put_object, Key=key, Body=b"during"),
                _status(client.get_object, Key=key),
                _status(client.list_objects_v2, Prefix=home),
            ]
        assert statuses and set(statuses) == {200}, statuses
        health = httpx.get(f"{console}/health/ready")  # ready: within the bound
        assert health.status_code == 200 and health.json()["catalog_reload_failures"] > 0
        signin = httpx.post(
            f"{console}/api/session",
            json={"name": "alice", "password": "x"},
        )
        assert signin.status_code == 503 and signin.headers["retry-after"] == "5"

        time.sleep(max(0.0, STALENESS + 1.0 - (time.monotonic() - cut_at)))
        with pytest.raises(ClientError) as caught:  # past the bound: 503, never 500
            client.get_object(Bucket=BUCKET, Key=key)
        answer = caught.value.response
        assert answer["ResponseMetadata"]["HTTPStatusCode"] == 503
        assert answer["ResponseMetadata"]["HTTPHeaders"]["retry-after"] == "5"
        health = httpx.get(f"{console}/health/ready")
        assert health.status_code == 503 and health.json()["catalog"] == "unreachable"
        assert httpx.get(f"{console}/health/live").status_code == 200

        proxy.restore()
        _cli(env, "credentials", "revoke", "--access-key-id", issued["AccessKeyId"])
        deadline = time.monotonic() + 3  # a reload after recovery, then the revocation
        while _status(client.get_object, Key=key) != 400:  # InvalidToken: revoked
            assert time.monotonic() < deadline, "the revocation did not apply after recovery"
            time.sleep(0.1)
        fresh = _client(s3_port, json.loads(_cli(env, "credentials", "issue", "alice")))
        body = fresh.get_object(Bucket=BUCKET, Key=key)["Body"].read()
        assert body == b"during"  # what was acknowledged during the outage is there
        assert httpx.get(f"{console}/health/ready").json()["ready"] is True
    finally:
        server.terminate()
        server.wait(timeout=30)
        proxy.cut()
    log = (data_dir / "server.log").read_text()
    assert "Traceback" not in log, log
    assert "catalog unreachable, serving from the last snapshot" in log
    assert "catalog reachable again" in log
