"""The sync agent against `rclone sync` and `aws s3 sync --delete`, same server, same home.

    .venv/bin/python bench/sync_bench.py [--files 5000] [--big 3] [--dir TMP]

Run by hand. Starts a fresh lakestow, builds a synthetic home
(FILES files, log-uniform 1-200 KiB, nested, plus BIG files of 50 MiB), and times for each
tool, into its own prefix: the first sync, a pass with nothing changed, and a pass after 20
edits, 10 new files and 5 deletions. "agent pass" is one pass of a running agent (what
`instance run` does every interval); "agent CLI" is `lakestow home sync` as a new process.
Prints the load average before and after: other work on the machine skews every column.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1]))

from lakestow.sync.agent import Agent

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from sync.conftest import BIN, BUCKET, Member, Server, free_port, lakestow


def build(home: Path, files: int, big: int, rng: random.Random) -> int:
    total = 0
    for i in range(files):
        folder = home / f"proj{i % 40}" / f"part{i % 7}"
        folder.mkdir(parents=True, exist_ok=True)
        size = int(1024 * 200 ** rng.random())
        (folder / f"file{i}.dat").write_bytes(rng.randbytes(size))
        total += size
    for i in range(big):
        (home / f"big{i}.bin").write_bytes(os.urandom(50 * 2**20))
        total += 50 * 2**20
    return total


def mutate(home: Path, rng: random.Random) -> None:
    files = sorted(p for p in home.rglob("*.dat"))
    chosen = rng.sample(files, 25)
    for path in chosen[:20]:
        path.write_bytes(rng.randbytes(path.stat().st_size + 10))
    for path in chosen[20:]:
        path.unlink()
    for i in range(10):
        (home / "proj0" / f"new{i}.dat").write_bytes(rng.randbytes(5000))


def timed(run: Callable[[], object]) -> float:
    """Seconds `run` takes, dirty pages written out first: the writeback of the home just built
    (or of the previous tool's uploads) must not land on whichever tool comes next."""
    os.sync()
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def shell(args: list[str], env: dict[str, str]) -> None:
    subprocess.run(args, env=env, check=True, capture_output=True)


def restore_row(root: Path, alice: Member, base: str, env: dict[str, str]) -> dict[str, float]:
    """Each tool brings its own remote copy down into an empty directory."""

    def agent() -> None:
        with Agent(root / "r-agent", alice.remote()) as restoring:
            assert not restoring.restore().errors

    aws = [
        str(BIN / "aws"),
        "s3",
        "sync",
        "--only-show-errors",
        f"s3://{base}/aws/",
        str(root / "r-aws"),
    ]
    rclone = [str(BIN / "rclone"), "copy", f"ls:{base}/rclone", str(root / "r-rclone")]
    return {
        "agent pass": timed(agent),
        "rclone": timed(lambda: shell(rclone, env)),
        "aws": timed(lambda: shell(aws, env)),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=5000)
    parser.add_argument("--big", type=int, default=3)
    parser.add_argument("--dir", type=Path, default=None)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(dir=args.dir, prefix="bench-sync-"))
    server = Server(root / "data", free_port())
    (root / "data").mkdir()
    server.start()
    try:
        print("load average before:", Path("/proc/loadavg").read_text().strip())
        run(server, root, args)
        print("load average after: ", Path("/proc/loadavg").read_text().strip())
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


def run(server: Server, root: Path, args: argparse.Namespace) -> None:
    rng = random.Random(5)
    home = root / "home"
    size = build(home, args.files, args.big, rng)
    doc = lakestow(server.data_dir, "credentials", "issue", "alice", "--duration", "12h")
    alice = Member(server, "alice", server.ids["alice"], "agent/")
    creds = alice.credentials()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "RCLONE_"))}
    env.update(
        AWS_ACCESS_KEY_ID=creds.access_key_id,
        AWS_SECRET_ACCESS_KEY=creds.secret_access_key,
        AWS_SESSION_TOKEN=creds.session_token or "",
        AWS_ENDPOINT_URL=server.endpoint,
        AWS_DEFAULT_REGION="us-east-1",
        AWS_CONFIG_FILE=str(root / "none"),
        RCLONE_CONFIG_LS_TYPE="s3",
        RCLONE_CONFIG_LS_PROVIDER="Other",
        RCLONE_CONFIG_LS_ENDPOINT=server.endpoint,
        RCLONE_CONFIG_LS_ACCESS_KEY_ID=creds.access_key_id,
        RCLONE_CONFIG_LS_SECRET_ACCESS_KEY=creds.secret_access_key,
        RCLONE_CONFIG_LS_SESSION_TOKEN=creds.session_token or "",
        RCLONE_CONFIG_LS_REGION="us-east-1",
    )
    del doc
    base = f"{BUCKET}/acme/notebooks/customer-{alice.id}"
    aws = [
        str(BIN / "aws"),
        "s3",
        "sync",
        "--delete",
        "--only-show-errors",
        "--exclude",
        ".lakestow/*",
        str(home),
        f"s3://{base}/aws/",
    ]
    rclone = [
        str(BIN / "rclone"),
        "sync",
        "--exclude",
        ".lakestow/**",
        str(home),
        f"ls:{base}/rclone",
    ]
    cli = [
        sys.executable,
        "-m",
        "lakestow.sync",
        "home",
        "sync",
        "--home",
        str(home),
        "--remote",
        alice.remote_uri,
        "--endpoint-url",
        server.endpoint,
    ]
    rows: dict[str, dict[str, float]] = {}
    for row in ("first sync", "no change", "incremental"):
        if row == "incremental":
            mutate(home, rng)
        with Agent(home, alice.remote()) as agent:
            assert agent.remote.client  # a running agent has its client already
            rows[row] = {"agent pass": timed(agent.sync)}
        rows[row] |= {
            "rclone": timed(lambda: shell(rclone, env)),
            "aws": timed(lambda: shell(aws, env)),
        }
        if row != "first sync":  # the CLI on the same state: a no-change pass by then
            rows[row]["agent CLI (no change)"] = timed(lambda: shell(cli, env))
    rows["restore"] = restore_row(root, alice, base, env)
    print(
        f"home: {args.files} files + {args.big} x 50 MiB, {size / 2**20:.0f} MiB; "
        f"{os.cpu_count()} CPUs"
    )
    cols = ["agent pass", "agent CLI (no change)", "rclone", "aws"]
    print(f"{'':12} " + " ".join(f"{c:>22}" for c in cols) + "   ratio vs faster peer")
    for row, times in rows.items():
        cells = " ".join(f"{times[c]:>21.3f}s" if c in times else f"{'-':>22}" for c in cols)
        ratio = min(times["rclone"], times["aws"]) / times["agent pass"]
        print(f"{row:12} {cells}   {ratio:.1f}x")


if __name__ == "__main__":
    main()
