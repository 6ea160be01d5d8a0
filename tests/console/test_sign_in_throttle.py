"""Sign-in throttling attacked as an attacker would: concurrent guesses, guesses from many
addresses, one address spraying many names; on SQLite, and on PostgreSQL with two replicas.

Every client here connects from its own loopback address (127.0.0.N), which the server sees
as the client's address; the password checks made are counted in the audit log, where every
checked attempt is `denied` and every refused one `locked`.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from lakestow.cli import cli
from lakestow.console.throttle import ADDRESS, NAME, PAIR, client_address
from live import free_port, serve
from postgres import fresh_database

PASSWORD = "correct horse battery"
NAMES = ("dora", "erin", "fred", "gina", "hank", "ivan")


@dataclass
class Site:
    """One or two `lakestow serve` sharing a catalog, configured by their environment."""

    env: dict[str, str] = field(repr=False)
    consoles: list[str] = field(default_factory=list)
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def cli(self, *args: str, input: str | None = None) -> str:
        """The admin command line, in-process, configured like the servers."""
        settings = {k: v for k, v in self.env.items() if k.startswith("LAKESTOW_")}
        result = CliRunner().invoke(cli, list(args), input=input, env=settings)
        assert result.exit_code == 0, f"lakestow {' '.join(args)}: {result.output}"
        return result.stdout

    def start(self, data_dir: Path) -> None:
        data_dir.mkdir(parents=True, exist_ok=True)
        console_port = free_port()
        self.processes.append(serve(data_dir, free_port(), console_port, env=self.env))
        self.consoles.append(f"http://127.0.0.1:{console_port}")

    def client(self, address: str, replica: int = 0) -> httpx.Client:
        """A client connecting from `address` (any 127.0.0.N reaches the server)."""
        transport = httpx.HTTPTransport(local_address=address)
        url = self.consoles[replica % len(self.consoles)]
        return httpx.Client(base_url=url, transport=transport, timeout=60)

    def sign_in(self, address: str, name: str, password: str, replica: int = 0) -> httpx.Response:
        with self.client(address, replica) as http:
            return http.post("/api/session", json={"name": name, "password": password})

    def outcomes(self, name: str) -> list[str]:
        """The outcomes of the audited sign-ins for `name`, oldest first."""
        rows = json.loads(self.cli("audit", "--limit", "1000", "--json"))
        return [
            row["outcome"]
            for row in reversed(rows)
            if row["action"] == "console.sign-in" and row["target"] == name
        ]


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def site(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Site]:
    root = tmp_path_factory.mktemp(f"throttle-{request.param}")
    base = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "LAKESTOW_"))}
    with fresh_database() if request.param == "postgresql" else nullcontext("") as catalog_url:
        env = {**base, "LAKESTOW_DATA_DIR": str(root / "a")}
        if catalog_url:
            env |= {
                "LAKESTOW_CATALOG_URL": catalog_url,
                "LAKESTOW_KEY_FILE": str(root / "secrets" / "server.key"),
            }
        site = Site(env)
        if catalog_url:
            site.cli("keys", "generate", env["LAKESTOW_KEY_FILE"])
        site.cli("init")
        site.cli("org", "create", "acme")
        for name in NAMES:
            site.cli("user", "create", name, "--org", "acme", "--password-stdin", input=PASSWORD)
        site.start(root / "a")
        if catalog_url:  # a second replica on the same catalog
            site.start(root / "b")
        try:
            yield site
        finally:
            for process in site.processes:
                process.terminate()
                process.wait(timeout=30)


def test_concurrent_guesses_get_at_most_the_limit_of_password_checks(site: Site) -> None:
    def guess(n: int) -> int:
        return site.sign_in("127.0.0.11", "dora", f"wrong-{n}", replica=n).status_code

    with ThreadPoolExecutor(40) as pool:
        statuses = list(pool.map(guess, range(40)))
    assert sorted(set(statuses)) == [401, 429]
    outcomes = site.outcomes("dora")
    assert len(outcomes) == 40  # every attempt is audited
    assert outcomes.count("denied") == PAIR.attempts == statuses.count(401)
    assert outcomes.count("locked") == 40 - PAIR.attempts
    # The stranger is refused even with the right password, and told when to come back ...
    locked = site.sign_in("127.0.0.11", "dora", PASSWORD)
    assert locked.status_code == 429
    assert 0 < int(locked.headers["retry-after"]) <= 15 * 60
    assert "try again in" in locked.json()["message"]
    # ... but has not locked dora out: she signs in from her own address.
    assert site.sign_in("127.0.0.12", "dora", PASSWORD, replica=1).status_code == 201


def test_the_locked_form_says_when_to_try_again(site: Site) -> None:
    with site.client("127.0.0.21") as http:
        for n in range(PAIR.attempts):
            wrong = http.post("/signin", data={"name": "erin", "password": f"wrong-{n}"})
            assert wrong.status_code == 401
        locked = http.post("/signin", data={"name": "erin", "password": PASSWORD})
    assert locked.status_code == 429
    assert 0 < int(locked.headers["retry-after"]) <= 15 * 60
    assert "try again in" in locked.text and "<form" in locked.text
    with site.client("127.0.0.22") as http:
        own = http.post("/signin", data={"name": "erin", "password": PASSWORD})
    assert own.status_code == 303


def test_one_address_spraying_many_names_is_stopped(site: Site) -> None:
    def spray(n: int) -> int:
        return site.sign_in("127.0.0.31", f"nobody-{n}", "password1", replica=n).status_code

    with ThreadPoolExecutor(16) as pool:
        statuses = list(pool.map(spray, range(ADDRESS.attempts + 5)))
    assert statuses.count(401) == ADDRESS.attempts and statuses.count(429) == 5
    sprayed = site.sign_in("127.0.0.31", "fred", PASSWORD)
    assert sprayed.status_code == 429 and int(sprayed.headers["retry-after"]) > 0
    assert site.sign_in("127.0.0.32", "fred", PASSWORD).status_code == 201


def test_guesses_from_many_addresses_are_capped_per_name(site: Site) -> None:
    addresses = [f"127.0.1.{n}" for n in range(NAME.attempts // PAIR.attempts + 2)]

    def guess(n: int) -> int:
        address = addresses[n % len(addresses)]
        return site.sign_in(address, "gina", f"wrong-{n}", replica=n).status_code

    with ThreadPoolExecutor(16) as pool:
        statuses = list(pool.map(guess, range(len(addresses) * PAIR.attempts)))
    assert statuses.count(401) == NAME.attempts
    assert site.outcomes("gina").count("denied") == NAME.attempts
    capped = site.sign_in("127.0.1.200", "gina", PASSWORD)
    assert capped.status_code == 429
    assert 0 < int(capped.headers["retry-after"]) <= 5 * 60


def test_a_success_clears_the_failures_of_its_address(site: Site) -> None:
    for _ in range(3):
        for n in range(PAIR.attempts - 1):
            assert site.sign_in("127.0.0.41", "hank", f"wrong-{n}").status_code == 401
        assert site.sign_in("127.0.0.41", "hank", PASSWORD).status_code == 201
    assert site.outcomes("hank").count("locked") == 0


@pytest.mark.parametrize(
    ("host", "counted_as"),
    [
        ("192.0.2.7", "192.0.2.7"),
        ("2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"),
        ("2001:db8:1:2:bbbb::9", "2001:db8:1:2::/64"),  # the same host, another address
        ("::ffff:192.0.2.7", "192.0.2.7"),
        (None, "unknown"),
    ],
)
def test_attempts_are_counted_by_address_and_ipv6_by_its_64(
    host: str | None, counted_as: str
) -> None:
    assert client_address(host) == counted_as
