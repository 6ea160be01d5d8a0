"""The sync agent against `rclone sync` and `aws s3 sync --delete`: same server, same home.

    .venv/bin/python bench/sync_bench.py --cli [--quick] [--files 5000] [--big 3] [--dir TMP]
        [--restore-dir DIR]

Run by hand. Starts a fresh `lakestow serve`, builds a synthetic home (FILES files,
log-uniform 1-200 KiB, nested in 280 folders, plus BIG files of 50 MiB: 5,000 files and
~377 MiB by default, the home of issue 16; `--quick`: 1,000 files and one big file), and times,
each tool into its own prefix of alice's notebooks folder:

- first: the first sync of the whole home;
- no change: a pass with nothing to do (best of 3);
- incremental: a pass after 20 edits, 10 new files and 5 deletions (best of 3 rounds, each
  round a fresh set of changes that every tool then syncs);
- restore: each tool's copy brought down into an empty directory (`home restore` against
  `rclone copy`, and `aws s3 sync`), best of 3 rounds, each round into new directories with
  the tools' order turned by one, so that no tool always goes first (one restore measured
  0.9-1.2x rclone from run to run). `--restore-dir /dev/shm` restores into memory (tmpfs),
  which takes the disk's cost of creating files (large on a disk that has deleted many
  recently) out of the comparison.

With `--cli` every tool runs as a new process, the way users and `instance run` start them
(`lakestow home sync` through the installed `lakestow` command beside this Python, credentials
from the environment for all three); without it the agent
runs in this process, as one pass of a running agent. Python tools (lakestow, aws) run with
their bytecode cached, as an installed package has it. Prints the load average before and
after (other work on the machine skews every column) and a markdown table with the ratio of
the faster peer's time to lakestow's (above 1: lakestow is faster).
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

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "tests"))

from lakestow.sync.agent import Agent  # noqa: E402
from sync.conftest import BIN, BUCKET, Home, Server, free_port  # noqa: E402

GOALS = {"first": 1.0, "no change": 10.0, "incremental": 5.0, "restore": 1.0}
Runner = Callable[[], None]


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


def mutate(home: Path, rng: random.Random, round_: int) -> None:
    """20 files edited, 5 deleted, 10 new."""
    files = sorted(home.rglob("*.dat"))
    chosen = rng.sample(files, 25)
    for path in chosen[:20]:
        path.write_bytes(rng.randbytes(path.stat().st_size + 10))
    for path in chosen[20:]:
        path.unlink()
    for i in range(10):
        (home / "proj0" / f"new{round_}-{i}.dat").write_bytes(rng.randbytes(5000))


def timed(run: Runner) -> float:
    """Seconds `run` takes, dirty pages written out first (the writeback of the home just
    changed must not land on whichever tool comes next)."""
    os.sync()
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def shell(args: list[str], env: dict[str, str]) -> Runner:
    def run() -> None:
        result = subprocess.run(args, env=env, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise SystemExit(f"{' '.join(args[:4])} failed: {result.stderr[-2000:]}")

    return run


def environment(root: Path, home: Home) -> dict[str, str]:
    """Every tool's environment: alice's credentials, the endpoint, cached bytecode."""
    c = home.credentials()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "RCLONE_"))}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.update(
        PYTHONPYCACHEPREFIX=str(root / "pycache"),
        AWS_ACCESS_KEY_ID=c.access_key_id,
        AWS_SECRET_ACCESS_KEY=c.secret_access_key,
        AWS_SESSION_TOKEN=c.session_token or "",
        AWS_ENDPOINT_URL=home.server.endpoint,
        AWS_DEFAULT_REGION="us-east-1",
        AWS_CONFIG_FILE=str(root / "none"),
        RCLONE_CONFIG_LS_TYPE="s3",
        RCLONE_CONFIG_LS_PROVIDER="Other",
        RCLONE_CONFIG_LS_ENDPOINT=home.server.endpoint,
        RCLONE_CONFIG_LS_ACCESS_KEY_ID=c.access_key_id,
        RCLONE_CONFIG_LS_SECRET_ACCESS_KEY=c.secret_access_key,
        RCLONE_CONFIG_LS_SESSION_TOKEN=c.session_token or "",
        RCLONE_CONFIG_LS_REGION="us-east-1",
    )
    return env


class Tools:
    """The three tools, each syncing `home` into its own prefix."""

    def __init__(
        self, root: Path, home: Path, alice: Home, cli: bool, restore_dir: Path | None = None
    ) -> None:
        self.root, self.home, self.alice, self.cli = root, home, alice, cli
        # where restores go: beside the rest (removed with it), or in `restore_dir`
        self.into = root
        if restore_dir is not None:
            self.into = Path(tempfile.mkdtemp(dir=restore_dir, prefix="bench-"))
        self.env = environment(root, alice)
        self.base = f"{BUCKET}/{alice.prefix}"
        script = Path(sys.executable).with_name("lakestow")  # the command users run
        lakestow = [str(script)] if script.exists() else [sys.executable, "-m", "lakestow"]
        self.agent_args = [*lakestow, "home", "sync", "--home", str(home)]
        self.agent_args += ["--remote", f"s3://{self.base}agent/"]
        self.restore_args = [*lakestow, "home", "restore", "--remote", f"s3://{self.base}agent/"]
        subprocess.run([*lakestow, "--help"], env=self.env, capture_output=True, check=True)
        subprocess.run([str(BIN / "aws"), "--version"], env=self.env, capture_output=True)

    def syncs(self) -> dict[str, Runner]:
        exclude = [".lakestow/*"]
        aws = [str(BIN / "aws"), "s3", "sync", "--delete", "--only-show-errors"]
        aws += ["--exclude", *exclude, str(self.home), f"s3://{self.base}aws/"]
        rclone = [str(BIN / "rclone"), "sync", "--exclude", ".lakestow/**"]
        rclone += [str(self.home), f"ls:{self.base}rclone"]
        return {
            "lakestow": shell(self.agent_args, self.env) if self.cli else self._in_process,
            "rclone": shell(rclone, self.env),
            "aws": shell(aws, self.env),
        }

    def _in_process(self) -> None:
        alice = Home(self.alice.server, "alice", self.alice.id, "agent/", self.alice.credentials())
        with Agent(self.home, alice.remote()) as agent:
            result = agent.sync()
        if not result.ok:
            raise SystemExit(result.line())

    def restores(self, round_: int) -> dict[str, Runner]:
        into = self.into / f"restore{round_}"
        lakestow = [*self.restore_args, "--home", str(into / "lakestow")]
        rclone = [str(BIN / "rclone"), "copy", f"ls:{self.base}rclone", str(into / "rclone")]
        aws = [str(BIN / "aws"), "s3", "sync", "--only-show-errors"]
        aws += [f"s3://{self.base}aws/", str(into / "aws")]
        tools = [
            ("lakestow", shell(lakestow, self.env)),
            ("rclone", shell(rclone, self.env)),
            ("aws", shell(aws, self.env)),
        ]
        turn = round_ % len(tools)
        return dict(tools[turn:] + tools[:turn])


def best(
    rounds: int, prepare: Callable[[int], None], runners: Callable[[int], dict[str, Runner]]
) -> dict[str, float]:
    """Each tool's best time over `rounds`, `prepare(round)` run before each round."""
    times: dict[str, float] = {}
    for r in range(rounds):
        prepare(r)
        for tool, run in runners(r).items():
            times[tool] = min(times.get(tool, float("inf")), timed(run))
    return times


def table(rows: dict[str, dict[str, float]], cli: bool) -> str:
    agent = "lakestow `home sync`" if cli else "lakestow (one pass in process)"
    lines = [
        f"| pass | {agent} | rclone | aws s3 sync | lakestow vs faster peer | goal |",
        "|---|---|---|---|---|---|",
    ]
    for name, t in rows.items():
        peers = ("rclone",) if name == "restore" else ("rclone", "aws")
        ratio = min(t[p] for p in peers) / t["lakestow"]
        goal = GOALS[name]
        verdict = "met" if ratio >= goal else "not met"
        lines.append(
            f"| {name} | {t['lakestow']:.2f} s | {t['rclone']:.2f} s | {t['aws']:.2f} s"
            f" | {ratio:.1f}x | {goal:g}x: {verdict} |"
        )
    return "\n".join(lines)


def run(server: Server, root: Path, args: argparse.Namespace) -> None:
    rng = random.Random(5)
    home = root / "home"
    size = build(home, args.files, args.big, rng)
    alice = Home(server, "alice", server.ids["alice"])
    tools = Tools(root, home, alice, args.cli, args.restore_dir)
    nothing: Callable[[int], None] = lambda _: None  # noqa: E731
    rows = {
        "first": best(1, nothing, lambda _: tools.syncs()),
        "no change": best(3, nothing, lambda _: tools.syncs()),
        "incremental": best(3, lambda r: mutate(home, rng, r), lambda _: tools.syncs()),
    }
    if args.cli:
        rows["restore"] = best(3, nothing, tools.restores)
        check_restore(home, tools.into / "restore0" / "lakestow")
        if tools.into != root:
            shutil.rmtree(tools.into)
    print(
        f"\nhome: {args.files} files + {args.big} x 50 MiB = {size / 2**20:.0f} MiB;"
        f" {os.cpu_count()} CPUs; {'each tool a new process' if args.cli else 'agent in process'}"
    )
    print(table(rows, args.cli))


def check_restore(home: Path, restored: Path) -> None:
    """The restored home has every file of the original, byte for byte in size and mtime."""
    for path in home.rglob("*"):
        rel = path.relative_to(home)
        if path.is_file() and not rel.parts[0].startswith(".lakestow"):
            got = (restored / rel).stat()
            want = path.stat()
            if (got.st_size, got.st_mtime_ns) != (want.st_size, want.st_mtime_ns):
                raise SystemExit(f"restore differs at {rel}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cli", action="store_true", help="every tool as a new process")
    parser.add_argument("--quick", action="store_true", help="1,000 files and one big file")
    parser.add_argument("--files", type=int, default=5000)
    parser.add_argument("--big", type=int, default=3)
    parser.add_argument("--dir", type=Path, default=None)
    parser.add_argument("--restore-dir", type=Path, default=None, help="restore into DIR")
    args = parser.parse_args()
    if args.quick:
        args.files, args.big = 1000, 1
    root = Path(tempfile.mkdtemp(dir=args.dir, prefix="bench-sync-"))
    (root / "data").mkdir()
    server = Server(root / "data", free_port()).start()
    try:
        print("load average before:", Path("/proc/loadavg").read_text().strip())
        run(server, root, args)
        print("load average after: ", Path("/proc/loadavg").read_text().strip())
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
