"""The click commands in-process, and credentials that refresh themselves."""

from __future__ import annotations

import hashlib
import os
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from lakestow.sync.commands import main
from lakestow.sync.credentials import Credentials, CredentialSource, ProcessCredentials
from lakestow.sync.errors import RemoteError
from lakestow.sync.remote import Endpoint, Remote
from sync.conftest import BUCKET, Home, tree


def run(member: Home, *args: str) -> tuple[int, str, str]:
    c = member.credentials()
    env = {
        "AWS_ACCESS_KEY_ID": c.access_key_id,
        "AWS_SECRET_ACCESS_KEY": c.secret_access_key,
        "AWS_SESSION_TOKEN": c.session_token or "",
        "AWS_ENDPOINT_URL": member.server.endpoint,
        "LAKESTOW_SYNC_REMOTE": member.remote_uri,
        "AWS_CONFIG_FILE": "/nonexistent",
        "AWS_PROFILE": None,
        "LAKESTOW_CREDENTIAL_PROCESS": None,
    }
    result = CliRunner().invoke(main, list(args), env=env)  # type: ignore[arg-type]
    return result.exit_code, result.stdout, result.stderr


def test_home_sync_dry_run_then_sync_then_restore(member: Home, tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "a.txt").write_text("a")
    code, out, err = run(member, "home", "sync", "--home", str(home), "--dry-run")
    assert code == 0 and out == "upload (new) a.txt\n" and "1 new" in err
    assert member.objects() == {}
    code, out, err = run(member, "home", "sync", "--home", str(home))
    assert code == 0 and "1 uploaded" in err
    code, out, err = run(member, "home", "restore", "--home", str(tmp_path / "copy"))
    assert code == 0 and "restored 1 files" in err
    assert tree(tmp_path / "copy") == {"a.txt": b"a"}


def test_home_sync_refused_exits_1(member: Home, tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("a")
    assert run(member, "home", "sync", "--home", str(tmp_path))[0] == 0
    (tmp_path / "a.txt").unlink()
    code, _, err = run(member, "home", "sync", "--home", str(tmp_path))
    assert code == 1 and "refused" in err and "--force" in err
    code, _, _ = run(member, "home", "sync", "--home", str(tmp_path), "--force")
    assert code == 0 and set(member.objects()) == {".lakestow-sync-status.json"}


def remote_of(member: Home, source: CredentialSource) -> Remote:
    return Remote(Endpoint(member.server.endpoint, "us-east-1", source), BUCKET, member.prefix)


def test_credentials_are_refreshed_before_they_expire(member: Home) -> None:
    """Both kinds of request, obstore's (a file) and the signed ones (a folder marker)."""
    real = member.credentials()
    calls: list[datetime] = []

    def source() -> Credentials:
        calls.append(datetime.now(UTC))
        expiration = datetime.now(UTC) + timedelta(seconds=1)
        return Credentials(
            real.access_key_id, real.secret_access_key, real.session_token, expiration
        )

    remote = remote_of(member, source)
    first = remote.put("x", b"1", new=True)
    remote.put("d/", b"", new=True)
    assert len(calls) == 1  # one source call for both clients
    time.sleep(1.2)
    remote.put("x", b"2", if_match=first)
    assert len(calls) == 2
    assert remote.head("d/") is not None
    assert remote.requests == 4
    assert member.objects()["x"] == b"2"


def test_short_lived_process_credentials_keep_working(member: Home) -> None:
    remote = remote_of(member, ProcessCredentials(member.credential_process + " --duration 3"))
    remote.put("x", b"1")
    time.sleep(3.5)  # the first credentials have expired by now
    remote.put("y", b"2", new=True)
    remote.put("z/", b"", new=True)
    assert {"x", "y", "z/"} <= set(member.objects())


def test_a_part_goes_unsigned_and_is_checked_by_its_md5(member: Home) -> None:
    """UploadPart carries Content-MD5 and UNSIGNED-PAYLOAD (the part hashed once, not also
    with SHA-256): a part whose bytes do not match the MD5 is refused."""
    remote = member.remote()
    data = os.urandom(5 * 2**20)
    upload_id = remote.start_upload("parts.bin")
    with pytest.raises(RemoteError) as refused:
        remote.put_part("parts.bin", upload_id, 1, data, hashlib.md5(b"other").digest())
    assert refused.value.code in ("BadDigest", "InvalidDigest")
    etag = remote.put_part("parts.bin", upload_id, 1, data, hashlib.md5(data).digest())
    remote.complete("parts.bin", upload_id, [etag], new=True)
    assert member.objects()["parts.bin"] == data
