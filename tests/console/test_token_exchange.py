"""A notebook's token, traded for credentials that every AWS SDK refreshes by itself."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from console.console_support import LiveConsole, lakestow

BIN = Path(sys.executable).parent


def test_aws_cli_through_credential_process(live: LiveConsole, tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    lakestow(live.data_dir, "token", "issue", "alice", "--output", str(token_file))
    helper = f"{BIN / 'lakestow'} aws-credentials --server {live.url} --token-file {token_file}"
    document = json.loads(
        subprocess.run(helper.split(), capture_output=True, text=True, check=True).stdout
    )
    assert set(document) == {
        "Version",
        "AccessKeyId",
        "SecretAccessKey",
        "SessionToken",
        "Expiration",
    }

    config = tmp_path / "aws-config"
    config.write_text(
        "[default]\nregion = us-east-1\n"
        f"endpoint_url = {live.endpoint}\ncredential_process = {helper}\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(AWS_CONFIG_FILE=str(config), AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "none"))
    (tmp_path / "note.txt").write_text("from a notebook")
    target = f"s3://lakestow/acme/data/customer-{live.ids['alice']}/from-token/note.txt"
    aws = [str(BIN / "aws")]
    subprocess.run(
        [*aws, "s3", "cp", str(tmp_path / "note.txt"), target],
        env=env,
        check=True,
        capture_output=True,
    )
    listed = subprocess.run(
        [*aws, "s3", "ls", target], env=env, check=True, capture_output=True, text=True
    )
    assert "note.txt" in listed.stdout


def test_a_revoked_token_gets_no_credentials(live: LiveConsole, tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    lakestow(live.data_dir, "token", "issue", "bob", "--output", str(token_file))
    lakestow(live.data_dir, "token", "revoke", "bob")
    result = subprocess.run(
        [
            str(BIN / "lakestow"),
            "aws-credentials",
            "--server",
            live.url,
            "--token-file",
            str(token_file),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1 and "refused the token" in result.stderr
    assert result.stdout == ""


def test_a_token_file_others_can_read_is_refused(live: LiveConsole, tmp_path: Path) -> None:
    """As ssh refuses a private key others can read: the helper and the agent alike."""
    token_file = tmp_path / "token"
    lakestow(live.data_dir, "token", "issue", "alice", "--output", str(token_file))
    token_file.chmod(0o644)
    server = ["--server", live.url, "--token-file", str(token_file)]
    for args in (
        ["aws-credentials", *server],
        ["home", "sync", *server, "--home", str(tmp_path / "home")],
    ):
        result = subprocess.run(
            [str(BIN / "lakestow"), *args], capture_output=True, text=True, check=False
        )
        assert result.returncode == 1 and result.stdout == ""
        assert "open to others (mode 0644)" in result.stderr and "chmod 600" in result.stderr
    token_file.chmod(0o600)
    helper = subprocess.run(
        [str(BIN / "lakestow"), "aws-credentials", *server], capture_output=True, check=False
    )
    assert helper.returncode == 0 and b"AccessKeyId" in helper.stdout


pytestmark = pytest.mark.slow


def test_instance_run_with_only_a_server_and_a_token(live: LiveConsole, tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    lakestow(live.data_dir, "token", "issue", "alice", "--output", str(token_file))
    home = tmp_path / "home"
    child = (
        "import os, pathlib, boto3;"
        "pathlib.Path('hello.txt').write_text(os.environ['USER_S3_PATH']);"
        "print(len(boto3.client('s3').list_objects_v2(Bucket='lakestow', "
        "Prefix=os.environ['USER_S3_PATH'].split('/', 3)[3])['ResponseMetadata']))"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    result = subprocess.run(
        [
            str(BIN / "lakestow"),
            "instance",
            "run",
            "--server",
            live.url,
            "--token-file",
            str(token_file),
            "--home",
            str(home),
            "--interval",
            "1",
            "--",
            sys.executable,
            "-c",
            child,
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    folder = f"customer-{live.ids['alice']}"
    assert (home / "hello.txt").read_text() == f"s3://lakestow/acme/data/{folder}/"
    creds = json.loads(lakestow(live.data_dir, "credentials", "issue", "alice"))
    import boto3

    s3 = boto3.client(
        "s3",
        endpoint_url=live.endpoint,
        region_name="us-east-1",
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
    )
    synced = s3.get_object(Bucket="lakestow", Key=f"acme/notebooks/{folder}/hello.txt")
    assert synced["Body"].read().decode() == f"s3://lakestow/acme/data/{folder}/"
