"""Replicas that ride out faults (issue 19): two `lakestow serve` replicas over PostgreSQL and an
`rclone serve s3` upstream, under a bounded client load spread over both, while the catalog
goes away (within and past the staleness bound), the upstream stalls (SIGSTOP), and the
upstream is killed and started again. After each fault, every acknowledged PUT reads back
through both replicas.

The catalog outage is private to the suite: the replicas reach PostgreSQL through a TCP proxy
the test cuts, so the machine's PostgreSQL keeps serving every other test. The tests run in
order on one worker (one xdist group) and share one deployment.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import boto3
import httpx
import pytest
from botocore.client import BaseClient
from botocore.config import Config
from botocore.exceptions import ClientError

from faults import CuttableProxy, Load
from live import BIN, BUCKET
from postgres import fresh_database
from replicas.conftest import WORKERS, Replica, over_rclone
from storage.upstream import Rclone

STALENESS = 12.0  # seconds: longer than the 10 s outage that must cost nothing
REFRESH = 0.5  # seconds between reloads of revocations
DEADLINE = 2.0  # seconds the upstream has to answer

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("faults")]


@dataclass
class Lake:
    a: Replica
    b: Replica
    proxy: CuttableProxy
    rclone: Rclone
    env: dict[str, str] = field(repr=False)
    home: str  # alice's folder
    issued: dict[str, str] = field(repr=False)  # alice's credentials

    @property
    def replicas(self) -> tuple[Replica, Replica]:
        return self.a, self.b

    def clients(self, credentials: dict[str, Any] | None = None) -> dict[str, BaseClient]:
        """A client of each replica that never retries: what each request got is seen."""
        issued = credentials or self.issued
        return {
            r.name: boto3.client(
                "s3",
                endpoint_url=r.endpoint,
                region_name="us-east-1",
                aws_access_key_id=issued["AccessKeyId"],
                aws_secret_access_key=issued["SecretAccessKey"],
                aws_session_token=issued["SessionToken"],
                config=Config(
                    s3={"addressing_style": "path"},
                    retries={"total_max_attempts": 1},
                    read_timeout=30,
                ),
            )
            for r in self.replicas
        }

    def issue(self) -> dict[str, str]:
        issued: dict[str, str] = json.loads(self.a.cli("credentials", "issue", "alice"))
        return issued

    def ready(self, replica: Replica) -> httpx.Response:
        return httpx.get(f"{replica.console}/health/ready", timeout=10)

    def logs(self) -> list[str]:
        return [(r.data_dir / "server.log").read_text() for r in self.replicas]

    def quiet_logs(self) -> None:
        for log in self.logs():
            assert "Traceback" not in log and "never retrieved" not in log, log

    def outages_logged(self) -> list[tuple[int, int]]:
        """Per replica: catalog outages logged as begun, and as ended."""
        return [
            (
                log.count("catalog unreachable, serving from the last snapshot"),
                log.count("catalog reachable again"),
            )
            for log in self.logs()
        ]


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lake]:
    root = tmp_path_factory.mktemp("faults")
    proxy, rclone = CuttableProxy(5432), Rclone(root / "upstream")
    upstream = rclone.start()
    upstream.client().create_bucket(Bucket=upstream.bucket)
    try:
        with fresh_database() as catalog_url:
            env, a, b, home = over_rclone(
                root,
                upstream,
                catalog_url.replace(":5432/", f":{proxy.port}/"),
                LAKESTOW_STORE_REQUEST_TIMEOUT=str(DEADLINE),
                LAKESTOW_CATALOG_STALENESS=str(STALENESS),
                LAKESTOW_REVOCATION_REFRESH=str(REFRESH),
            )
            a.start()
            b.start()
            try:
                issued = json.loads(a.cli("credentials", "issue", "alice"))
                yield Lake(a, b, proxy, rclone, env, home, issued)
            finally:
                a.stop()
                b.stop()
                proxy.restore()
    finally:
        rclone.stop()


def _put_status(client: BaseClient, key: str, **condition: str) -> tuple[int, str | None]:
    """A PUT's status and Retry-After."""
    try:
        client.put_object(Bucket=BUCKET, Key=key, Body=b"{}", **condition)
    except ClientError as error:
        answer = error.response["ResponseMetadata"]
        return answer["HTTPStatusCode"], answer["HTTPHeaders"].get("retry-after")
    return 200, None


def _status(client: BaseClient, key: str) -> int:
    try:
        client.get_object(Bucket=BUCKET, Key=key)["Body"].read()
    except ClientError as error:
        return int(error.response["ResponseMetadata"]["HTTPStatusCode"])
    return 200


def test_each_replica_says_the_upstream_does_not_enforce_conditional_writes(lake: Lake) -> None:
    """`rclone serve s3` answers 200 to a second If-None-Match: * PUT: each replica found it
    out at start (issue 21's probe), says so in its start-up lines, its log and its
    readiness, and left no scratch key behind."""
    for replica, log in zip(lake.replicas, lake.logs(), strict=True):
        said = lake.ready(replica).json()["conditional_writes"]
        assert said == (
            "not enforced (If-None-Match and If-Match not refused) by the upstream; "
            "serialized per key through the catalog"
        ), said
        assert f"conditional writes (If-None-Match, If-Match): {said}" in log
    upstream = lake.rclone.upstream.client()
    assert not upstream.list_objects_v2(Bucket="upstream", Prefix="lake/.lakestow/probe/").get(
        "Contents"
    )


def test_a_10_second_catalog_outage_costs_no_request(lake: Lake) -> None:
    victim = lake.issue()  # revoked once the catalog is back
    logged = lake.outages_logged()
    probe = f"{lake.home}faults/probe"
    lake.clients()["a"].put_object(Bucket=BUCKET, Key=probe, Body=b"probe")
    with Load(lake.clients(), f"{lake.home}faults/catalog-10s/") as load:
        time.sleep(1)
        lake.proxy.cut()
        cut = time.monotonic()
        # What needs the catalog itself says so, at once: sign-in 503, the CLI one line.
        signin = httpx.post(
            f"{lake.a.console}/api/session", json={"name": "alice", "password": "x"}
        )
        assert signin.status_code == 503 and signin.headers["retry-after"], signin.text
        cli = subprocess.run(
            [str(BIN / "lakestow"), "credentials", "issue", "alice"],
            env=lake.env,
            capture_output=True,
            text=True,
            check=False,
        )
        assert cli.returncode == 1 and len(cli.stderr.strip().splitlines()) == 1, cli.stderr
        assert f"port {lake.proxy.port}" in cli.stderr, cli.stderr
        # A conditional write needs the catalog's lock on this upstream: 503, nothing written.
        commit = f"{lake.home}faults/_delta_log/00000000000000000001.json"
        for client in lake.clients().values():
            assert _put_status(client, commit, IfNoneMatch="*") == (503, "5")
        assert _status(lake.clients()["a"], commit) == 404
        for replica in lake.replicas:  # ready: within the bound
            health = lake.ready(replica)
            assert health.status_code == 200, health.text
            assert health.json()["catalog_reload_failures"] > 0, health.text
        time.sleep(max(0.0, 10 - (time.monotonic() - cut)))
        lake.proxy.restore()
        restored_at, restored = time.time(), time.monotonic()
        time.sleep(1)
    print("catalog stopped 10 s:", load.summary(cut, restored))
    during = load.between(cut, restored)
    assert {o.op for o in during} == {"PUT", "GET", "LIST"} and len(during) > 100, len(during)
    assert load.failures == [], load.failures[:10]

    # The reload loop lived through it: each replica shows a reload after the recovery ...
    for replica in lake.replicas:
        deadline = time.monotonic() + 3
        while True:
            health = lake.ready(replica).json()
            reloaded = health["catalog_reloaded"]
            if reloaded and datetime.fromisoformat(reloaded).timestamp() >= restored_at:
                break
            assert time.monotonic() < deadline, f"{replica.name} did not reload: {health}"
            time.sleep(0.1)
        assert health["ready"] is True and health["catalog_reload_failures"] == 0, health
    # ... and a revocation made after the recovery applies on both within a second.
    victims = lake.clients(victim)
    assert {_status(client, probe) for client in victims.values()} == {200}
    lake.a.cli("credentials", "revoke", "--access-key-id", victim["AccessKeyId"])
    revoked = time.monotonic()
    for name, client in victims.items():
        while _status(client, probe) == 200:
            time.sleep(0.02)
        took = time.monotonic() - revoked
        assert took < 1.0, f"the revocation took {took:.2f} s to apply on {name}"
    load.check_acknowledged(lake.clients())
    once = WORKERS  # every worker of a replica logs the outage's beginning and its end
    assert lake.outages_logged() == [(begun + once, ended + once) for begun, ended in logged]
    assert _put_status(lake.clients()["b"], commit, IfNoneMatch="*") == (200, None)
    lake.quiet_logs()


def test_a_catalog_outage_past_the_staleness_bound_answers_503_never_500(lake: Lake) -> None:
    logged = lake.outages_logged()
    with Load(lake.clients(), f"{lake.home}faults/catalog-long/") as load:
        time.sleep(0.5)
        lake.proxy.cut()
        cut = time.monotonic()
        time.sleep(STALENESS + 1.5)
        for replica in lake.replicas:  # not ready past the bound, and still alive
            health = lake.ready(replica)
            assert health.status_code == 503 and health.json()["catalog"] == "unreachable"
            assert httpx.get(f"{replica.console}/health/live").status_code == 200
        lake.proxy.restore()
        restored = time.monotonic()
        time.sleep(2)
    print(f"catalog stopped {STALENESS + 1.5:g} s:", load.summary(cut, restored))
    failures = load.failures
    assert failures, "nothing was refused past the staleness bound"
    assert {(o.status, o.retry_after) for o in failures} == {(503, "5")}, failures[:10]
    # The bound runs from the last reload, at most one refresh before the cut.
    first, last = min(o.started for o in failures), max(o.ended for o in failures)
    assert first > cut + STALENESS - REFRESH - 0.5, f"refused {first - cut:.1f} s after the cut"
    assert last < restored + 1.0, f"refused until {last - restored:.1f} s after the recovery"
    assert {o.replica for o in failures} == {"a", "b"}
    load.check_acknowledged(lake.clients())
    once = WORKERS  # every worker of a replica logs the outage's beginning and its end
    assert lake.outages_logged() == [(begun + once, ended + once) for begun, ended in logged]
    lake.quiet_logs()


def test_a_stalled_upstream_answers_503_within_the_deadline(lake: Lake) -> None:
    with Load(lake.clients(), f"{lake.home}faults/stall/") as load:
        time.sleep(0.5)
        pid = lake.rclone.upstream.pid
        os.kill(pid, signal.SIGSTOP)
        stopped = time.monotonic()
        try:
            time.sleep(DEADLINE + 3)
        finally:
            os.kill(pid, signal.SIGCONT)
        resumed = time.monotonic()
        time.sleep(2)
    print(f"upstream stopped {DEADLINE + 3:g} s:", load.summary(stopped, resumed))
    stalled = [o for o in load.outcomes if o.ended > stopped and o.started < resumed]
    failures = load.failures
    assert failures and {o.status for o in failures} == {503}, failures[:10]
    slowest = max(stalled, key=lambda o: o.ended - max(o.started, stopped))
    assert slowest.ended - max(slowest.started, stopped) < DEADLINE + 1.0, slowest
    assert all(o.started < resumed + 1.0 for o in failures), "no recovery within a second"
    load.check_acknowledged(lake.clients())
    lake.quiet_logs()


def test_an_upstream_killed_and_restarted_fails_only_requests_until_it_is_back(
    lake: Lake,
) -> None:
    with Load(lake.clients(), f"{lake.home}faults/kill/", threads=8) as load:
        time.sleep(1)
        lake.rclone.kill()
        killed = time.monotonic()
        time.sleep(2)
        lake.rclone.start()  # same port, same files
        restarted = time.monotonic()
        time.sleep(2)
    print("upstream killed, back 2 s later:", load.summary(killed, restarted))
    failures = load.failures
    assert failures and {o.status for o in failures} <= {503, 0}, failures[:10]
    assert all(killed - 1.0 < o.started < restarted for o in failures), "failed out of the fault"
    assert len(load.between(restarted, restarted + 2)) > 50  # and all of them answered
    load.check_acknowledged(lake.clients())
    on_disk = lake.rclone.root / "upstream" / "lake" / BUCKET
    for key, body in load.acknowledged.items():
        assert (on_disk / key).read_bytes() == body, key
    lake.quiet_logs()
