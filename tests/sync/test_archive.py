"""A restore of a home the agent knows nothing of (a new instance's) takes the whole remote copy
in one answer, lakestow's archive (`s3api.archive`), and falls back to a GET per file on an
endpoint that does not know it (moto's S3 server here); an archive cut short fails the
restore rather than passing for a smaller home."""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import signal
import subprocess
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from lakestow.s3api.archive import END_NAME as END
from lakestow.s3api.archive import header
from lakestow.sync import restore as restore_module
from lakestow.sync.agent import Agent
from lakestow.sync.credentials import Credentials
from lakestow.sync.errors import RemoteError
from lakestow.sync.remote import ARCHIVE, Archived, Endpoint, Remote, _members
from lakestow.sync.state import State
from live import serve
from storage.upstream import Upstream, moto_server
from sync.conftest import BIN, Home, Server, free_port, tree
from sync.test_metadata import files_of, make_home
from sync.test_pass import SMALL_PARTS, write

NONE = Credentials("none", "none")


def test_a_new_home_comes_in_one_answer_as_it_was(member: Home, tmp_path: Path) -> None:
    source, target = tmp_path / "source", tmp_path / "target"
    make_home(source)  # modes, mtimes, links, a file in parts
    write(source, {f"many/f{i}.txt": os.urandom(i * 100) for i in range(60)})
    (source / "empty-folder").mkdir()
    assert member.agent(source, tuning=SMALL_PARTS).sync().ok
    with member.agent(target) as agent:
        restored = agent.restore()
        assert not restored.errors and agent.remote.requests <= 4  # not one a file: the archive
        entries = agent.state.entries()
    assert files_of(target) == files_of(source)
    assert (target / "empty-folder").is_dir()
    big = (source / "data/big.bin").read_bytes()  # its ETag is a multipart one: hashed
    assert entries["data/big.bin"].checksum == hashlib.md5(big).hexdigest()
    idle = member.agent(target).sync()
    assert idle.ok and idle.requests == 0


@pytest.fixture(scope="module")
def moto() -> Iterator[Upstream]:
    with moto_server(5 * 2**20) as upstream:
        yield upstream


def test_an_endpoint_without_archives_gets_a_get_per_file(moto: Upstream, tmp_path: Path) -> None:
    client = boto3.client(
        "s3",
        endpoint_url=moto.endpoint_url,
        region_name="us-east-1",
        aws_access_key_id=moto.access_key_id,
        aws_secret_access_key=moto.secret_access_key,
    )
    client.create_bucket(Bucket="homes")
    files = {"run.sh": b"#!/bin/sh\n", "nb/a.ipynb": b"{}", "data/x.bin": os.urandom(70_000)}
    for name, data in files.items():
        meta = {"mode": "100755", "mtime": "1700000000.5"} if name == "run.sh" else {}
        client.put_object(Bucket="homes", Key=f"home/{name}", Body=data, Metadata=meta)
    creds = Credentials(moto.access_key_id, moto.secret_access_key)
    remote = Remote(Endpoint(moto.endpoint_url, "us-east-1", lambda: creds), "homes", "home/")
    with Agent(tmp_path, remote) as agent:
        restored = agent.restore()
    assert not restored.errors and sorted(restored.downloaded) == sorted(files)
    assert remote.requests >= 2 + len(files)  # the archive asked, a listing, a GET each
    for name, data in files.items():
        assert (tmp_path / name).read_bytes() == data
    run = (tmp_path / "run.sh").stat()
    assert run.st_mode & 0o777 == 0o755 and run.st_mtime_ns == 1_700_000_000_500_000_000


def test_an_archive_cut_short_is_an_error(member: Home, tmp_path: Path) -> None:
    """A real archive, cut where a stream that ends early would end: before the end member
    (a whole member's boundary, which a tar reader takes for the end) and inside a member."""
    write(tmp_path, {f"f{i}": os.urandom(2000) for i in range(5)})
    assert member.agent(tmp_path).sync().ok
    remote = member.remote()
    with remote.signer.open("GET", remote.bucket, "", ARCHIVE | {"prefix": member.prefix}) as got:
        body = got.read()
    assert len(_read(body, member.prefix)) == 6  # 5 files and the status object
    with tarfile.open(fileobj=io.BytesIO(body), mode="r|") as tar:
        end = [m.offset for m in tar if m.name == ".lakestow-archive-end"]
    wrong_count = header(END, 0, 0, False, {"LAKESTOW.end": "99"})
    for cut in (
        body[: end[0]],  # cut where a member ends
        body[: len(body) // 2],  # cut inside one
        body[: end[0]] + bytes(1024),  # ended as a tar ends, without the end member
        body[: end[0]] + wrong_count + bytes(1024),
    ):
        with pytest.raises(RemoteError):
            _read(cut, member.prefix)


def test_a_local_file_made_during_a_restore_is_kept(
    member: Home, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The home is read once before the archive comes: a file made after that read, where
    the archive then brings one, is kept (here the read is made to miss it)."""
    source, target = tmp_path / "source", tmp_path / "target"
    write(source, {"notes.md": b"theirs", "other.md": b"other"})
    assert member.agent(source).sync().ok
    write(target, {"notes.md": b"mine, just written"})
    monkeypatch.setattr(restore_module, "_files", lambda home, rules: {})
    with member.agent(target) as agent:
        result = agent.restore()
    assert result.kept == ["notes.md"] and result.downloaded == ["other.md"]
    assert (target / "notes.md").read_bytes() == b"mine, just written"
    assert not list(target.glob(".lakestow-partial-*"))


class Hostile(Remote):
    """An endpoint answering an archive of the given members (a broken or hostile server)."""

    def __init__(self, members: dict[str, bytes]) -> None:
        super().__init__(Endpoint("http://127.0.0.1:9", "us-east-1", lambda: NONE), "b", "p/")
        self.body = b"".join(
            header(name, len(data), 0, False, {"LAKESTOW.etag": "e"})
            + data
            + bytes(-len(data) % 512)
            for name, data in members.items()
        )
        self.body += header(END, 0, 0, False, {"LAKESTOW.end": str(len(members))}) + bytes(1024)

    def head(self, path: str) -> str | None:
        return None

    @contextlib.contextmanager
    def archive(self) -> Iterator[Iterator[Archived] | None]:
        yield _members(self.prefix, io.BytesIO(self.body))


def test_an_archive_cannot_write_outside_the_home(tmp_path: Path) -> None:
    home = tmp_path / "home"
    absolute = str(tmp_path / "absolute.txt")
    names = ["../outside.txt", absolute, "a/../../up.txt", "a/./b", "a//b", "n\0ul"]
    remote = Hostile({**{name: b"bad" for name in names}, "ok.txt": b"ok"})
    result = restore_module.restore(home, remote, State.for_home(home, remote.uri))
    assert result.downloaded == ["ok.txt"] and sorted(result.errors) == sorted(names)
    assert [p.name for p in tmp_path.rglob("*") if p.is_file() and ".lakestow" not in str(p)] == [
        "ok.txt"
    ]


def _read(body: bytes, prefix: str) -> list[bytes]:
    """Every member's bytes, read as a restore reads them."""
    found = []
    for member in _members(prefix, io.BytesIO(body)):
        data = member.data or b""
        found.append(data if isinstance(data, bytes) else b"".join(data))
    return found


def test_a_server_killed_mid_archive_fails_the_restore_and_the_next_one_finishes(
    tmp_path: Path,
) -> None:
    """`home restore` from a server that is SIGKILLed while the archive flows: the command
    fails, with an error, rather than passing a part for the whole; once the server is back
    the next restore brings the rest and the home is the original."""
    server = Server(tmp_path / "data", free_port()).start()
    try:
        alice = Home(server, "alice", server.ids["alice"], "killed/")
        source, target = tmp_path / "source", tmp_path / "target"
        write(source, {f"d{i % 20}/f{i}.bin": os.urandom(200_000) for i in range(300)})
        assert alice.agent(source).sync().ok
        args = [str(BIN / "lakestow"), "home", "restore", *alice.sync_args(target)]
        restore = subprocess.Popen(args, env=alice.sync_env(), stderr=subprocess.PIPE)
        deadline = time.monotonic() + 30
        while not any(target.glob("d*/f*.bin")) and time.monotonic() < deadline:
            time.sleep(0.005)
        restore.send_signal(signal.SIGSTOP)  # the server blocks once the socket's buffers fill
        assert server.process is not None
        server.process.kill()  # SIGKILL: its workers die with it
        server.process.wait()
        restore.send_signal(signal.SIGCONT)
        _, stderr = restore.communicate(timeout=60)
        written = len(list(target.glob("d*/f*.bin")))
        assert restore.returncode != 0 and 0 < written < 300, (written, stderr)
        assert b"the connection closed" in stderr
        server.process = serve(server.data_dir, server.port, free_port())
        again = subprocess.run(args, env=alice.sync_env(), capture_output=True, check=False)
        assert again.returncode == 0, again.stderr
        assert tree(target) == tree(source)
    finally:
        server.stop()
