"""Running the real `lakestow` as users do: the command line, and `serve` on free ports.

Shared by the live-server suites (s3api, console, sync), which each add their own members.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from pathlib import Path

BIN = Path(sys.executable).parent
BUCKET = "lakestow"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


IN_PROCESS = frozenset({"init", "org", "user", "credentials", "operator", "audit", "token"})
"""Admin commands `lakestow` runs in this process (Click's runner, the same code path from
the command line in): a new Python process costs 0.7 s of imports, and the suites' set-up runs
thousands of them. Whatever starts servers, agents or exchanges tokens over HTTP stays a
process of its own."""
_in_process = threading.Lock()  # the runner swaps sys.stdout and os.environ while it runs


def lakestow(data_dir: Path, *args: str, input: str | None = None) -> str:
    """Run the real `lakestow` command on `data_dir`; its stdout, or AssertionError."""
    if args and args[0] in IN_PROCESS:
        from click.testing import CliRunner

        from lakestow.cli import cli

        with _in_process:
            ran = CliRunner().invoke(cli, ["--data-dir", str(data_dir), *args], input=input)
        if ran.exit_code != 0:
            raise AssertionError(f"lakestow {' '.join(args)}: {ran.stderr}{ran.exception!r}")
        return ran.stdout
    result = subprocess.run(
        [str(BIN / "lakestow"), "--data-dir", str(data_dir), *args],
        input=input,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise AssertionError(f"lakestow {' '.join(args)}: {result.stderr}")
    return result.stdout


def serve(
    data_dir: Path,
    s3_port: int,
    console_port: int,
    env: Mapping[str, str] | None = None,
    workers: int | None = None,
) -> subprocess.Popen[bytes]:
    """Start `lakestow serve` logging to DATA_DIR/server.log; returns once it listens.

    `env` is the server's whole environment (None: this process's). `workers`: `serve
    --workers N` (None: the default, one worker process per core).
    """
    log = open(data_dir / "server.log", "ab")  # noqa: SIM115 (lives as long as the server)
    process = subprocess.Popen(
        [
            *(str(BIN / "lakestow"), "--data-dir", str(data_dir), "serve"),
            *("--s3-address", f"127.0.0.1:{s3_port}"),
            *("--console-address", f"127.0.0.1:{console_port}"),
            *(() if workers is None else ("--workers", str(workers))),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
    )
    log.close()
    wait_for_port(process, s3_port, data_dir)
    wait_for_port(process, console_port, data_dir)
    return process


def serving(pid: int) -> list[int]:
    """The server process `pid` and the worker processes it forked (`serve --workers N`)."""
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        children = []
    return [pid, *map(int, children)]


def wait_for_port(process: subprocess.Popen[bytes], port: int, data_dir: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            log = (data_dir / "server.log").read_text(errors="replace")
            raise AssertionError(f"lakestow serve exited: {log}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"lakestow serve did not listen on {port} within 30 s")


HEAVY = ("sqlalchemy", "alembic", "starlette", "uvicorn", "boto3", "botocore")
"""What the agent's commands must never import: the server's catalog and web framework, boto3."""


def imported_by(
    args: list[str], env: Mapping[str, str] | None = None
) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    """Run `python -X importtime -m lakestow ARGS`; its result and every module it imported
    (parsed from importtime's report on stderr)."""
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "lakestow", *args],
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )
    modules = {
        line.rpartition("|")[2].strip()
        for line in result.stderr.splitlines()
        if line.startswith("import time:")
    }
    return result, modules


def heavy(modules: set[str]) -> set[str]:
    """The modules of `modules` that belong to one of the HEAVY packages."""
    return {m for m in modules if m.split(".")[0] in HEAVY}
