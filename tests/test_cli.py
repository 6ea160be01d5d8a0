"""The admin command line: names and outputs that later parts and users rely on."""

from __future__ import annotations

import configparser
import json
import os
import stat
import subprocess
import sys
import tomllib
from datetime import UTC, datetime
from pathlib import Path

import pytest

from conftest import Cli
from lakestow import config


def _state(lakestow: Cli) -> tuple[str, str, str]:
    """Everything a failed command must leave as it was."""
    return (
        lakestow("org", "list", "--json").stdout,
        lakestow("user", "list", "--json").stdout,
        lakestow("audit", "--json", "--limit", "1000").stdout,
    )


@pytest.fixture
def acme(lakestow: Cli) -> Cli:
    lakestow("org", "create", "acme")
    lakestow(
        "user", "create", "alice", "--org", "acme", "--password-stdin", input="alice-password\n"
    )
    lakestow("user", "create", "bob", "--org", "acme", "--admin")
    return lakestow


def test_init_creates_the_data_directory_once(tmp_path: Path) -> None:
    lakestow = Cli(tmp_path / "fresh")
    lakestow("init")
    key = tmp_path / "fresh" / "keys" / "server.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert stat.S_IMODE(key.parent.stat().st_mode) == 0o700
    settings = tomllib.loads((tmp_path / "fresh" / "lakestow.toml").read_text())
    assert set(settings) == {name for name, _, _ in config.documented()}
    before = {
        p: p.read_bytes()
        for p in (tmp_path / "fresh").rglob("*")
        if p.is_file() and p.suffix != ".db"
    }
    lakestow("init")
    assert {p: p.read_bytes() for p in before} == before


def test_the_config_file_documents_every_setting(data_dir: Path) -> None:
    text = (data_dir / "lakestow.toml").read_text()
    for name, _, help in config.documented():
        assert f"# {help}\n{name} = " in text


def test_commands_refuse_an_uninitialized_data_dir(tmp_path: Path) -> None:
    result = Cli(tmp_path / "nothing-here")("org", "list", ok=False)
    assert result.exit_code == 1
    assert "lakestow init" in result.stderr
    assert not (tmp_path / "nothing-here").exists()


def test_org_create_and_list(lakestow: Cli) -> None:
    assert lakestow("org", "create", "acme").stdout == "s3://lakestow/acme/\n"
    lakestow("org", "create", "globex", "--bucket", "warehouse", "--prefix", "t/globex")
    orgs = lakestow.json("org", "list", "--json")
    assert [(o["name"], o["bucket"], o["prefix"], o["root"]) for o in orgs] == [
        ("acme", "lakestow", "acme", "s3://lakestow/acme/"),
        ("globex", "warehouse", "t/globex", "s3://warehouse/t/globex/"),
    ]
    assert "s3://warehouse/t/globex/" in lakestow("org", "list").stdout


def test_org_retention_is_set_and_shown(lakestow: Cli) -> None:
    lakestow("org", "create", "acme")
    lakestow("org", "create", "globex", "--retention", "12h")
    changed = lakestow("org", "set", "acme", "--retention", "7d")
    assert changed.stderr == "acme keeps overwritten and deleted objects for 7d\n"
    assert "not at all" in lakestow("org", "set", "globex", "--retention", "0").stderr
    orgs = lakestow.json("org", "list", "--json")
    assert [(o["name"], o["retention"], o["retention_seconds"]) for o in orgs] == [
        ("acme", "7d", 7 * 86400),
        ("globex", "0", 0),
    ]
    table = [line.split() for line in lakestow("org", "list").stdout.splitlines()]
    assert table == [
        ["name", "root", "retention"],
        ["acme", "s3://lakestow/acme/", "7d"],
        ["globex", "s3://lakestow/globex/", "0"],
    ]
    assert [e["action"] for e in lakestow.json("audit", "--json")][:2] == ["org.retention"] * 2


def test_user_create_prints_the_id(lakestow: Cli) -> None:
    lakestow("org", "create", "acme")
    first = lakestow("user", "create", "alice", "--org", "acme").stdout
    second = lakestow("user", "create", "bob", "--org", "acme", "--admin").stdout
    assert first.strip().isdigit() and second.strip().isdigit() and first != second
    users = lakestow.json("user", "list", "--json")
    assert [(u["name"], u["id"], u["admin"], u["folder"]) for u in users] == [
        ("alice", int(first), False, f"customer-{int(first)}"),
        ("bob", int(second), True, f"customer-{int(second)}"),
    ]


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (["org", "create", "acme"], None, "already exists"),
        (["org", "create", "Bad_Name"], None, "invalid organization name"),
        (["org", "create", "x", "--bucket", "no"], None, "invalid bucket name"),
        (["org", "create", "x", "--retention", "1w"], None, "invalid retention '1w'"),
        (["org", "create", "x", "--retention", "3651d"], None, "at most 3650d"),
        (["org", "set", "acme", "--retention", "-1"], None, "invalid retention '-1'"),
        (["org", "set", "acme", "--retention", "soon"], None, "invalid retention 'soon'"),
        (["org", "set", "nowhere", "--retention", "7d"], None, "no organization named"),
        (["org", "purge", "nowhere"], None, "no organization named"),
        (["org", "purge", "acme", "--older-than", "old"], None, "invalid --older-than 'old'"),
        (["user", "create", "carol", "--org", "nowhere"], None, "no organization named"),
        (["user", "create", "alice", "--org", "acme"], None, "already taken"),
        (["user", "create", "Carol!", "--org", "acme"], None, "invalid member name"),
        (["user", "create", "carol", "--org", "acme", "--password-stdin"], "short\n", "too short"),
        (["user", "disable", "nobody"], None, "no member named"),
        (
            ["user", "passwd", "nobody", "--password-stdin"],
            "long-enough-password\n",
            "no member named",
        ),
        (["user", "list", "--org", "nowhere"], None, "no organization named"),
        (["credentials", "issue", "nobody"], None, "no member named"),
        (["credentials", "issue", "alice", "--duration", "13h"], None, "12 hours"),
        (["credentials", "issue", "alice", "--duration", "43201"], None, "12 hours"),
        (["credentials", "issue", "alice", "--duration", "forever"], None, "invalid duration"),
        (["credentials", "issue", "alice", "--scope", "/data/customer-2/"], None, "outside"),
        (["credentials", "issue", "alice", "--scope", "/other/"], None, "outside"),
        (
            ["credentials", "revoke", "--access-key-id", "ASIANOTISSUED0000000"],
            None,
            "no credentials",
        ),
        (["credentials", "revoke", "--user", "nobody"], None, "no member named"),
        (["env", "nobody"], None, "no member named"),
    ],
)
def test_errors_exit_nonzero_with_one_line_and_change_nothing(
    acme: Cli, args: list[str], stdin: str | None, message: str
) -> None:
    before = _state(acme)
    result = acme(*args, input=stdin, ok=False)
    assert result.exit_code != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.stderr
    assert result.stdout == ""
    assert _state(acme) == before


def test_revoke_needs_exactly_one_target(acme: Cli) -> None:
    for args in ([], ["--access-key-id", "A", "--user", "alice"]):
        result = acme("credentials", "revoke", *args, ok=False)
        assert result.exit_code == 2 and "exactly one" in result.stderr


def test_credentials_issue_json_is_a_credential_process_document(acme: Cli) -> None:
    document = acme.json("credentials", "issue", "alice", "--duration", "1h")
    assert set(document) == {
        "Version",
        "AccessKeyId",
        "SecretAccessKey",
        "SessionToken",
        "Expiration",
    }
    assert document["Version"] == 1
    expires = datetime.strptime(document["Expiration"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    assert 3590 < (expires - datetime.now(UTC)).total_seconds() <= 3600


def test_credentials_issue_env_and_ini(acme: Cli) -> None:
    env = acme("credentials", "issue", "alice", "--format", "env").stdout
    exported = dict(
        line.removeprefix("export ").split("=", 1)
        for line in env.splitlines()
        if line.startswith("export ")
    )
    assert {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"} <= set(exported)
    ini = acme("credentials", "issue", "alice", "--format", "ini", "--profile", "acme").stdout
    parser = configparser.ConfigParser()
    parser.read_string(ini)
    assert set(parser["acme"]) == {
        "aws_access_key_id",
        "aws_secret_access_key",
        "aws_session_token",
    }


def test_credentials_are_audited_and_revocable(acme: Cli) -> None:
    document = acme.json("credentials", "issue", "alice", "--scope", "/data/shared/", "--read-only")
    entry = acme.json("audit", "--json", "--limit", "1")[0]
    assert entry["action"] == "credentials.issue" and entry["target"] == "alice"
    assert entry["detail"]["access_key_id"] == document["AccessKeyId"]
    assert entry["detail"]["scopes"] == ["s3://lakestow/acme/data/shared/"]
    acme("credentials", "revoke", "--access-key-id", document["AccessKeyId"])
    acme("credentials", "revoke", "--user", "alice")
    actions = [e["action"] for e in acme.json("audit", "--json", "--limit", "2")]
    assert actions == ["credentials.revoke", "credentials.revoke"]
    audit_text = acme("audit", "--json", "--limit", "1000").stdout
    assert (
        document["SecretAccessKey"] not in audit_text and document["SessionToken"] not in audit_text
    )


def test_env_prints_the_notebook_paths(acme: Cli) -> None:
    alice = next(u for u in acme.json("user", "list", "--json") if u["name"] == "alice")
    exported = dict(
        line.removeprefix("export ").split("=", 1)
        for line in acme("env", "alice").stdout.splitlines()
    )
    folder = f"customer-{alice['id']}"
    assert exported["USER_S3_PATH"] == f"s3://lakestow/acme/data/{folder}/"
    assert exported["USER_S3_SHARED_PATH"] == "s3://lakestow/acme/data/shared/"
    assert exported["USER_WAREHOUSE_PATH"] == f"s3://lakestow/acme/data/{folder}/warehouse/"
    assert exported["AWS_ENDPOINT_URL"] == "http://127.0.0.1:9000"


def test_user_disable_and_passwd(acme: Cli) -> None:
    acme("user", "disable", "alice")
    assert next(u for u in acme.json("user", "list", "--json") if u["name"] == "alice")["disabled"]
    result = acme("credentials", "issue", "alice", ok=False)
    assert result.exit_code == 1 and "disabled" in result.stderr
    acme("user", "passwd", "bob", "--password-stdin", input="bobs-new-password\n")
    assert next(u for u in acme.json("user", "list", "--json") if u["name"] == "bob")[
        "has_password"
    ]


def test_settings_come_from_the_environment(acme: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAKESTOW_PUBLIC_S3_URL", "https://s3.example.test")
    assert "export AWS_ENDPOINT_URL=https://s3.example.test\n" in acme("env", "alice").stdout
    monkeypatch.setenv("LAKESTOW_CREDENTIAL_DURATION", "not-a-number")
    result = acme("env", "alice", ok=False)
    assert result.exit_code == 1 and "credential_duration must be a int" in result.stderr


def test_the_installed_console_script(tmp_path: Path) -> None:
    """The real `lakestow` executable, as a shell user runs it, with LAKESTOW_DATA_DIR."""
    executable = Path(sys.executable).parent / "lakestow"
    env = {**os.environ, "LAKESTOW_DATA_DIR": str(tmp_path / "d")}

    def run(*args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(executable), *args],
            env=env,
            input=input,
            capture_output=True,
            text=True,
            check=False,
        )

    assert run("init").returncode == 0
    assert run("org", "create", "acme").returncode == 0
    assert run("user", "create", "alice", "--org", "acme").stdout.strip().isdigit()
    issued = json.loads(run("credentials", "issue", "alice").stdout)
    shell = f'eval "$({executable} env alice)"; echo "$USER_WAREHOUSE_PATH"'
    out = subprocess.run(["bash", "-c", shell], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.startswith("s3://lakestow/acme/data/customer-")
    failed = run("org", "create", "acme")
    assert failed.returncode == 1 and failed.stderr.count("\n") == 1
    assert issued["SecretAccessKey"] not in (tmp_path / "d" / "catalog.db").read_bytes().decode(
        "latin-1"
    )


def test_token_issue_prints_only_the_token(acme: Cli) -> None:
    out = acme("token", "issue", "alice", "--expires", "7d", "--label", "nb").stdout
    assert out.count("\n") == 1 and out.startswith("lkt_")
    listed = acme.json("token", "list", "alice", "--json")
    assert [(t["label"], t["revoked"]) for t in listed] == [("nb", False)]
    assert out.strip() not in acme("audit", "--json", "--limit", "1000").stdout
    acme("token", "revoke", "alice")
    assert acme.json("token", "list", "alice", "--json")[0]["revoked"] is True
    bad = acme("token", "issue", "alice", "--expires", "400d", ok=False)
    assert bad.exit_code == 1 and "invalid duration" in bad.stderr


def test_token_issue_output_writes_a_private_file(acme: Cli, tmp_path: Path) -> None:
    target = tmp_path / "token"
    target.write_text("an older, world-readable file")
    target.chmod(0o644)
    result = acme("token", "issue", "alice", "--output", str(target))
    assert result.stdout == "" and "mode 0600" in result.stderr
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    token = target.read_text()
    assert token.startswith("lkt_") and token.count("\n") == 1
    fresh = tmp_path / "fresh-token"
    acme("token", "issue", "alice", "--output", str(fresh))
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o600 and fresh.read_text() != token


def test_an_unreachable_catalog_is_one_line_naming_where(data_dir: Path) -> None:
    """Admin commands against a catalog that is down: one line on stderr naming the host and
    port (never the password), exit 1 — as a new process, as an operator runs them."""
    executable = Path(sys.executable).parent / "lakestow"
    env = {
        **os.environ,
        "LAKESTOW_DATA_DIR": str(data_dir),
        "LAKESTOW_CATALOG_URL": "postgresql+psycopg://lakestow:s3cret-pw@127.0.0.1:1/catalog",
    }
    for args in (("org", "list"), ("user", "create", "dave", "--org", "acme")):
        result = subprocess.run(
            [str(executable), *args], env=env, capture_output=True, text=True, check=False
        )
        assert result.returncode == 1, result.stderr
        assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
        assert "catalog cannot be reached" in result.stderr
        assert '"127.0.0.1", port 1' in result.stderr and "s3cret-pw" not in result.stderr
