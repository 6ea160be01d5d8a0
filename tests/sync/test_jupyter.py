"""A real Jupyter server as the instance's command: saved notebooks reach the warehouse."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

from sync.conftest import BUCKET, Home, free_port

TOKEN = "sync-test-token"


def save(port: int, name: str, text: str) -> None:
    notebook = {
        "cells": [{"cell_type": "markdown", "metadata": {}, "source": text}],
        "metadata": {},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    body = json.dumps({"type": "notebook", "format": "json", "content": notebook}).encode()
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/contents/{name}",
        data=body,
        method="PUT",
        headers={"Authorization": f"token {TOKEN}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310 (loopback)
        assert answer.status in (200, 201)


def wait_up(port: int, agent: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert agent.poll() is None, "instance run exited"
        try:
            url = f"http://127.0.0.1:{port}/api/status?token={TOKEN}"
            urllib.request.urlopen(url, timeout=1).close()
            return
        except OSError:
            time.sleep(0.2)
    raise AssertionError("jupyter server did not start")


def remote_notebook(member: Home, name: str) -> dict[str, Any] | None:
    try:
        body = member.client().get_object(Bucket=BUCKET, Key=member.prefix + name)["Body"].read()
    except member.client().exceptions.NoSuchKey:
        return None
    try:
        document: dict[str, Any] = json.loads(body)
    except json.JSONDecodeError:  # a pass caught the file while Jupyter was writing it;
        return None  # the next pass brings the saved one
    return document


def source(document: dict[str, Any] | None) -> str | None:
    return None if document is None else "".join(document["cells"][0]["source"])


def test_notebook_saved_in_jupyter_reaches_the_warehouse(dave: Home, tmp_path: Path) -> None:
    jupyter = shutil.which("jupyter-server", path=str(Path(sys.executable).parent))
    assert jupyter
    port, interval = free_port(), 2
    agent = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "lakestow.sync",
            "instance",
            "run",
            *dave.sync_args(tmp_path / "home"),
            "--interval",
            str(interval),
            "--",
            jupyter,
            f"--ServerApp.port={port}",
            "--ServerApp.ip=127.0.0.1",
            f"--IdentityProvider.token={TOKEN}",
            "--ServerApp.open_browser=False",
            "--allow-root",
        ],
        env=dave.sync_env(),
    )
    try:
        wait_up(port, agent)
        save(port, "analysis.ipynb", "first version")
        deadline = time.monotonic() + 2 * interval + 5  # one interval, and the pass itself
        while source(remote_notebook(dave, "analysis.ipynb")) != "first version":
            assert time.monotonic() < deadline, "the notebook did not reach the warehouse"
            time.sleep(0.2)
        save(port, "analysis.ipynb", "last version")
        agent.send_signal(signal.SIGTERM)
        agent.wait(timeout=60)
    finally:
        if agent.poll() is None:
            agent.kill()
    assert source(remote_notebook(dave, "analysis.ipynb")) == "last version"
    keys = {k[len(dave.prefix) :] for k in _keys(dave)}
    assert not any(".ipynb_checkpoints" in k or "jupyter/runtime" in k for k in keys), keys


def _keys(member: Home) -> list[str]:
    answer = member.client().list_objects_v2(Bucket=BUCKET, Prefix=member.prefix)
    return [item["Key"] for item in answer.get("Contents", [])]
