"""`instance run`: restore the home, start the notebook command, sync it until it stops.

1. restore the remote copy into the home;
2. write an AWS config file (endpoint, region, `credential_process`) into `HOME/.lakestow/`
   and start CMD with the instance environment, cwd and HOME the home directory;
3. one sync pass every interval;
4. on CMD's exit, SIGTERM or SIGINT (forwarded to CMD, which is waited for): a final pass,
   which reconciles (lists the remote copy, see `agent`), then exit with CMD's status.

Each step is logged: CMD's start (its command line and pid), its exit status (and, when it
exits within `EARLY` seconds, that it did: a command refusing to run leaves a trace), and the
final pass's result.
"""

from __future__ import annotations

import logging
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from lakestow.sync.agent import Agent
from lakestow.sync.ignore import STATE_DIR
from lakestow.sync.restore import Progress

log = logging.getLogger("lakestow.sync")
NOTEBOOKS = re.compile(r"^s3://(?P<root>[^/]+/(?:.+/)?)notebooks/(?P<folder>[^/]+)/$")
EARLY = 10.0
"""A CMD that exits within this many seconds of its start is reported as exiting early."""
AWS_SECRETS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE")


@dataclass(frozen=True)
class ChildSettings:
    """How CMD reaches lakestow: endpoint, region, and the command printing credentials."""

    endpoint_url: str | None
    region: str
    credential_process: str | None


def instance_paths(remote_uri: str) -> dict[str, str]:
    """USER_S3_PATH and friends, from the notebooks folder `s3://B/P/notebooks/customer-N/`."""
    match = NOTEBOOKS.match(remote_uri)
    if not match:
        return {}
    data = f"s3://{match['root']}data/{match['folder']}/"
    return {
        "USER_S3_PATH": data,
        "USER_S3_SHARED_PATH": f"s3://{match['root']}data/shared/",
        "USER_WAREHOUSE_PATH": f"{data}warehouse/",
    }


def aws_config_text(child: ChildSettings) -> str:
    """The `[default]` profile of the AWS config file written for CMD."""
    lines = ["[default]", f"region = {child.region}"]
    if child.endpoint_url:
        lines.append(f"endpoint_url = {child.endpoint_url}")
    if child.credential_process:
        lines.append(f"credential_process = {child.credential_process}")
    lines += ["s3 =", "    addressing_style = path", ""]
    return "\n".join(lines)


def child_environment(
    base: Mapping[str, str], home: Path, remote_uri: str, child: ChildSettings, config: Path
) -> dict[str, str]:
    """CMD's environment: `base`, plus the instance paths and the AWS set-up."""
    env = dict(base)
    if child.credential_process:  # credentials come from the config file, refreshed
        for name in AWS_SECRETS:
            env.pop(name, None)
    env.update(instance_paths(remote_uri))
    env.update(
        HOME=str(home),
        AWS_CONFIG_FILE=str(config),
        AWS_SHARED_CREDENTIALS_FILE=str(config.parent / "aws-credentials-unused"),
        AWS_REGION=child.region,
        AWS_DEFAULT_REGION=child.region,
    )
    if child.endpoint_url:
        env["AWS_ENDPOINT_URL"] = child.endpoint_url
    return env


def write_aws_config(home: Path, child: ChildSettings) -> Path:
    path = home / STATE_DIR / "aws-config"
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(aws_config_text(child))
    return path


def exit_status(returncode: int) -> int:
    """A shell-style status: 128 + N for a child killed by signal N."""
    return returncode if returncode >= 0 else 128 - returncode


def _log_exit(status: int, seconds: float, stop_signal: int | None) -> None:
    """CMD's exit status; an exit nobody asked for within EARLY seconds is a warning."""
    if stop_signal is None and seconds < EARLY:
        log.warning(
            "CMD exited early, %.1f s after its start, with status %d: see its output above",
            seconds,
            status,
        )
    else:
        log.info("CMD exited with status %d after %.1f s", status, seconds)


class Instance:
    """Runs CMD next to a sync agent; see the module docstring."""

    def __init__(
        self,
        agent: Agent,
        command: Sequence[str],
        child: ChildSettings,
        interval: float = 120.0,
        stop_timeout: float = 30.0,
    ) -> None:
        self.agent, self.command, self.child = agent, list(command), child
        agent.interval = interval
        agent.status_every = min(agent.status_every, 2 * interval)
        self.interval, self.stop_timeout = interval, stop_timeout
        self.process: subprocess.Popen[bytes] | None = None
        self.stop_signal: int | None = None
        self.stop_at = 0.0

    def run(self, progress: Progress | None = None) -> int:
        previous = {s: signal.signal(s, self._on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
        try:
            restored = self.agent.restore(progress)
            if progress is not None:
                sys.stderr.write("\n")  # the end of the progress line
            log.info(
                "restore: %d files downloaded, %d kept",
                len(restored.downloaded),
                len(restored.kept),
            )
            if self.stop_signal is not None:
                return 128 + self.stop_signal
            status = self._supervise()
            final = self.agent.sync(reconcile=True)  # the last word: others' objects go too
            log.info(
                "final sync pass: %s", "ok" if final.ok else final.refused or "failed, see above"
            )
            return status
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _supervise(self) -> int:
        home = self.agent.home
        config = write_aws_config(home, self.child)
        env = child_environment(os.environ, home, self.agent.remote.uri, self.child, config)
        try:
            self.process = subprocess.Popen(self.command, cwd=home, env=env)
        except OSError as exc:
            log.error("cannot start CMD %s: %s", shlex.join(self.command), exc.strerror or exc)
            return 127 if isinstance(exc, FileNotFoundError) else 126
        started = time.monotonic()
        log.info("started CMD (pid %d): %s", self.process.pid, shlex.join(self.command))
        next_pass = started + self.interval
        while True:
            wait = min(max(next_pass - time.monotonic(), 0.0), 0.5)
            try:
                status = exit_status(self.process.wait(timeout=wait))
            except subprocess.TimeoutExpired:
                pass
            else:
                _log_exit(status, time.monotonic() - started, self.stop_signal)
                return status
            if self.stop_signal is not None:
                self._escalate()
            elif time.monotonic() >= next_pass:
                self.agent.sync()
                next_pass = time.monotonic() + self.interval

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        if self.stop_signal is None:
            self.stop_signal, self.stop_at = signum, time.monotonic()
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signum)

    def _escalate(self) -> None:
        if self.process is not None and time.monotonic() - self.stop_at > self.stop_timeout:
            log.warning("CMD did not stop within %.0f s: killing it", self.stop_timeout)
            self.process.kill()
