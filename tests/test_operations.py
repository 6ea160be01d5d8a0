"""The object changes both doors share (lakestow.operations), asked through each door in
process: the same key gets the same treatment, only the protocol of the answer differs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from inprocess import InProcess, in_process
from lakestow import config, datadir

BUCKET = "lakestow"
PASSWORD = "alice-password-1"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[InProcess, dict[str, str]]]:
    settings = config.load(Path(tmp_path_factory.mktemp("operations")), environ={})
    datadir.initialize(settings)
    with datadir.opened(settings) as opened:
        services = opened.services("test")
        services.orgs.create_org("acme")
        services.orgs.create_member("alice", "acme", password=PASSWORD)
        services.orgs.create_member("bob", "acme")
        creds = services.credentials.issue_credentials("alice").credential_process()
        with in_process(opened) as app:
            yield app, creds


def _keys(app: InProcess) -> list[str]:
    async def listed() -> list[str]:
        page = await app.runtime.store.list(BUCKET, prefix="acme/")
        return [o.key for o in page.objects]

    keys: list[str] = app.call(listed)
    return keys


FIXED = ["data/", "data/shared/", "data/customer-1/", "notebooks/customer-1/", "spark-logs/"]


@pytest.mark.parametrize("folder", FIXED)
def test_a_fixed_folder_exists_through_both_doors_and_nothing_is_written(
    world: tuple[InProcess, dict[str, str]], folder: str
) -> None:
    app, creds = world
    put = app.s3(creds, "PUT", f"/{BUCKET}/acme/{folder}")
    assert put.status_code == 200, put.text  # S3 tools make markers of existing folders
    session = app.sign_in("alice", PASSWORD)
    made = app.console(session, "POST", "/api/folder", json={"path": folder})
    assert made.status_code == 409, made.text  # the console's answer for an existing folder
    assert made.json()["error"] == "AlreadyExists"
    assert f"acme/{folder}" not in _keys(app)


def test_another_members_folder_is_refused_through_both_doors(
    world: tuple[InProcess, dict[str, str]],
) -> None:
    app, creds = world
    assert app.s3(creds, "PUT", f"/{BUCKET}/acme/data/customer-2/").status_code == 403
    session = app.sign_in("alice", PASSWORD)
    made = app.console(session, "POST", "/api/folder", json={"path": "data/customer-2/"})
    assert made.status_code == 403
    assert "acme/data/customer-2/" not in _keys(app)


def test_a_new_folder_is_a_marker_through_both_doors(
    world: tuple[InProcess, dict[str, str]],
) -> None:
    app, creds = world
    assert app.s3(creds, "PUT", f"/{BUCKET}/acme/data/customer-1/by-s3/").status_code == 200
    session = app.sign_in("alice", PASSWORD)
    made = app.console(session, "POST", "/api/folder", json={"path": "data/customer-1/by-ui/"})
    assert made.status_code == 201, made.text
    keys = _keys(app)
    assert "acme/data/customer-1/by-s3/" in keys and "acme/data/customer-1/by-ui/" in keys
    again = app.console(session, "POST", "/api/folder", json={"path": "data/customer-1/by-s3/"})
    assert again.status_code == 409


def test_a_non_empty_body_at_a_fixed_folder_is_refused(
    world: tuple[InProcess, dict[str, str]],
) -> None:
    app, creds = world
    refused = app.s3(creds, "PUT", f"/{BUCKET}/acme/data/", body=b"x")
    assert refused.status_code == 403
    assert "acme/data/" not in _keys(app)
