"""The upstream store killed under load (SIGKILL of `rclone serve s3`): the requests in flight
and after get 503, never 500; the server's log holds no traceback (aiohttp's orphaned send
tasks included); what was acknowledged before the kill is on the upstream's disk."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from live import BIN, BUCKET, free_port, serve
from storage.upstream import rclone_server


def test_an_upstream_killed_under_load_gives_503s_and_a_quiet_log(tmp_path: Path) -> None:
    with rclone_server(tmp_path / "upstream") as upstream:
        data_dir = tmp_path / "data"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "LAKESTOW_"))}
        env |= {
            "LAKESTOW_STORE_URL": f"s3://{upstream.bucket}/lake",
            "LAKESTOW_STORE_ENDPOINT_URL": upstream.endpoint_url,
            "LAKESTOW_STORE_ACCESS_KEY_ID": upstream.access_key_id,
            "LAKESTOW_STORE_SECRET_ACCESS_KEY": upstream.secret_access_key,
            "LAKESTOW_STORE_REQUEST_TIMEOUT": "3",
        }

        def cli(*args: str) -> str:
            return subprocess.run(
                [str(BIN / "lakestow"), "--data-dir", str(data_dir), *args],
                env=env,
                capture_output=True,
                text=True,
                check=True,
            ).stdout

        cli("init")
        cli("org", "create", "acme")
        cli("user", "create", "alice", "--org", "acme")
        issued = json.loads(cli("credentials", "issue", "alice"))
        home = cli("env", "alice").split("USER_S3_PATH=s3://lakestow/")[1].split()[0]
        s3_port = free_port()
        server = serve(data_dir, s3_port, free_port(), env=env)
        client = boto3.client(
            "s3",
            endpoint_url=f"http://127.0.0.1:{s3_port}",
            region_name="us-east-1",
            aws_access_key_id=issued["AccessKeyId"],
            aws_secret_access_key=issued["SecretAccessKey"],
            aws_session_token=issued["SessionToken"],
            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
        )
        acknowledged: dict[str, bytes] = {}
        failures: list[int] = []
        stop = threading.Event()

        def load(worker: int) -> None:
            for i in range(10**6):
                if stop.is_set():
                    return
                key, body = f"{home}w{worker}/k{i}", os.urandom(200_000)
                try:
                    client.put_object(Bucket=BUCKET, Key=key, Body=body)
                    acknowledged[key] = body
                    client.get_object(Bucket=BUCKET, Key=key)["Body"].read()
                except ClientError as error:
                    failures.append(int(error.response["ResponseMetadata"]["HTTPStatusCode"]))
                except Exception:  # a response cut short mid-body: the client's side of a 503
                    failures.append(0)

        workers = [threading.Thread(target=load, args=(n,)) for n in range(8)]
        try:
            for worker in workers:
                worker.start()
            time.sleep(2)
            assert acknowledged, "nothing was written before the kill"
            os.kill(upstream.pid, signal.SIGKILL)
            time.sleep(3)
        finally:
            stop.set()
            for worker in workers:
                worker.join(timeout=30)
            server.terminate()
            server.wait(timeout=30)
        assert failures and set(failures) <= {503, 0}, failures
        log = (data_dir / "server.log").read_text()
        assert "Traceback" not in log and "never retrieved" not in log, log
        on_disk = tmp_path / "upstream" / upstream.bucket / "lake" / BUCKET
        for key, body in acknowledged.items():
            assert (on_disk / key).read_bytes() == body, key


pytestmark = pytest.mark.slow
