"""`lakestow serve --workers N`: N processes serving one data directory, every core busy.

    supervisor (this process)                     each worker (a fork of it)
    initialize the data directory, bootstrap
    hold the local store (lock, migrations,
      orphan collection: start-up work, once)
    bind the S3 and console sockets        ->     its own runtime and event loop over the same
    fork N workers; restart one that dies          catalog and store (`server.serve_worker`),
    SIGTERM/SIGINT: pass it on, wait for            accepting on the inherited sockets
      every worker to drain; mark the store
      clean if every one ended cleanly

Why fork: the workers inherit the listening sockets (the kernel spreads connections over the
processes accepting on them) and the store's lock (held while any of them lives), and a
restart costs milliseconds, not a new interpreter's imports. The supervisor forks before it
starts any thread or event loop, and stays a single-threaded loop around `waitpid`.

Everything a worker knows that another needs is in the catalog or the store's index (sessions,
sign-in counters, revocations, multipart uploads), as between replicas; each worker reloads
revocations every `revocation_refresh` seconds. A worker dies with its supervisor (Linux's
parent-death signal), so a kill -9 of the supervisor leaves no worker serving on its own.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import socket
import sys
import time
from collections.abc import Callable
from types import FrameType

logger = logging.getLogger("lakestow")

MAX_WORKERS = 8
CRASHES = 5
"""Workers that may die within `CRASH_WINDOW` seconds before the supervisor gives up (a worker
that cannot start would otherwise be restarted forever)."""
CRASH_WINDOW = 30.0
STOP_TIMEOUT = 60.0
"""Seconds the supervisor waits for workers to drain after SIGTERM before it kills them."""


def count(setting: int) -> int:
    """The number of workers a `workers` setting asks for: 0 is one per core, at most 8."""
    if setting > 0:
        return setting
    return max(1, min(MAX_WORKERS, len(os.sched_getaffinity(0))))


def listen(address: str) -> socket.socket:
    """A listening TCP socket on HOST:PORT (as uvicorn binds one), inherited by the workers."""
    host, _, port = address.rpartition(":")
    host = host.strip("[]")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, int(port)))
    except OSError as exc:
        sock.close()
        raise SystemExit(f"could not listen on {address}: {exc.strerror}") from exc
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


class Supervisor:
    """Forks `size` workers running `work(number)` and keeps them running until told to stop."""

    def __init__(self, size: int, work: Callable[[int], int]) -> None:
        self.size = size
        self._work = work
        self._workers: dict[int, int] = {}  # pid -> worker number
        self._stopping = False
        self._crashes: list[float] = []
        self.clean = True  # every worker that ended so far ended by itself, exit code 0

    def run(self) -> int:
        """Serve until SIGTERM or SIGINT (then drain), or until workers keep dying; returns
        the exit code."""
        previous = {sig: signal.signal(sig, self._stop) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            for number in range(self.size):
                self._start(number)
            while self._workers:
                try:
                    pid, status = os.waitpid(-1, 0)
                except ChildProcessError:
                    break
                if pid not in self._workers:
                    continue
                number = self._workers.pop(pid)
                code = os.waitstatus_to_exitcode(status)
                if code != 0 or not self._stopping:
                    self.clean = False
                if self._stopping:
                    continue
                logger.error("worker %d (pid %d) %s; starting another", number, pid, _ended(code))
                if self._crashed():
                    logger.error("%d workers died within %g s: stopping", CRASHES, CRASH_WINDOW)
                    self._stop(signal.SIGTERM, None)
                    continue
                self._start(number)
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        return 0 if self.clean else 1

    def _start(self, number: int) -> None:
        parent = os.getpid()
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:  # the worker: never returns into the supervisor's code
            code = 1
            try:
                for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGALRM):
                    signal.signal(sig, signal.SIG_DFL)  # the supervisor's are not the worker's
                _die_with(parent)
                code = self._work(number)
            except BaseException:
                logger.exception("worker %d failed", number)
            finally:
                with contextlib.suppress(Exception):
                    sys.stdout.flush()
                    sys.stderr.flush()
                os._exit(code)
        self._workers[pid] = number

    def _stop(self, signum: int, frame: FrameType | None) -> None:
        """Pass SIGTERM on to every worker (each drains and exits); a second signal kills."""
        if self._stopping:
            sig = signal.SIGKILL
        else:
            self._stopping, sig = True, signal.SIGTERM
            signal.signal(signal.SIGALRM, lambda *_: self._stop(signal.SIGALRM, None))
            signal.setitimer(signal.ITIMER_REAL, STOP_TIMEOUT)  # alarm() takes whole seconds
        for pid in list(self._workers):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)

    def _crashed(self) -> bool:
        now = time.monotonic()
        self._crashes = [t for t in self._crashes if now - t < CRASH_WINDOW] + [now]
        return len(self._crashes) >= CRASHES


def _ended(code: int) -> str:
    if code < 0:
        return f"was killed by {signal.Signals(-code).name}"
    return f"exited with code {code}"


PR_SET_PDEATHSIG = 1


def _die_with(parent: int) -> None:
    """Have the kernel kill this process when its parent dies (Linux); if the parent is
    already gone, exit now."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:
        os._exit(1)
