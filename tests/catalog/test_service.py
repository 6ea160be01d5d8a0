"""Organizations, members and the audit log, on SQLite and on PostgreSQL."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError

from lakestow.auth.passwords import verify_password
from lakestow.catalog.db import Catalog
from lakestow.catalog.models import AuditEvent, Member
from lakestow.errors import AlreadyExists, InvalidInput, NotFound
from lakestow.services import Services, parse_duration


def test_upgrade_is_idempotent(catalog: Catalog) -> None:
    catalog.upgrade()
    assert catalog.is_current()


def test_org_defaults_and_root(service: Services) -> None:
    org = service.orgs.create_org("acme")
    assert (org.bucket, org.prefix, org.root_uri) == ("lakestow", "acme", "s3://lakestow/acme/")
    custom = service.orgs.create_org("globex", bucket="warehouse", prefix="/tenants/globex/")
    assert custom.root_uri == "s3://warehouse/tenants/globex/"
    assert [o.name for o in service.orgs.list_orgs()] == ["acme", "globex"]


@pytest.mark.parametrize(
    ("name", "bucket", "prefix"),
    [
        ("Acme", "lakestow", None),
        ("a_b", "lakestow", None),
        ("", "lakestow", None),
        ("ok", "Bad_Bucket", None),
        ("ok", "ab", None),
        ("ok", "lakestow", "a/../b"),
        ("ok", "lakestow", "a//b"),
        ("ok", "lakestow", "bad\x01prefix"),
    ],
)
def test_invalid_org_input_changes_nothing(
    service: Services, name: str, bucket: str, prefix: str | None
) -> None:
    with pytest.raises(InvalidInput):
        service.orgs.create_org(name, bucket, prefix)
    assert service.orgs.list_orgs() == []
    assert service.audit_log() == []


def test_org_roots_never_overlap(service: Services) -> None:
    service.orgs.create_org("acme", prefix="tenants/acme")
    for name, prefix in [
        ("acme2", "tenants/acme"),
        ("t", "tenants"),
        ("deep", "tenants/acme/x"),
        ("all", ""),
    ]:
        with pytest.raises(AlreadyExists):
            service.orgs.create_org(name, prefix=prefix)
    service.orgs.create_org("acme-b", prefix="tenants/acme-b")  # a sibling, not a parent
    service.orgs.create_org("other", bucket="elsewhere", prefix="")
    assert len(service.orgs.list_orgs()) == 3


def test_members_get_immutable_ids_and_unique_names(service: Services) -> None:
    service.orgs.create_org("acme")
    service.orgs.create_org("globex")
    alice = service.orgs.create_member("alice", "acme", admin=True)
    bob = service.orgs.create_member("bob", "globex")
    assert alice.id != bob.id
    assert alice.folder == f"customer-{alice.id}"
    with pytest.raises(AlreadyExists):
        service.orgs.create_member("alice", "globex")
    with pytest.raises(NotFound):
        service.orgs.create_member("dave", "nowhere")
    with pytest.raises(InvalidInput):
        service.orgs.create_member("Not Valid", "acme")
    assert [m.name for m in service.orgs.list_members()] == ["alice", "bob"]
    assert [m.name for m in service.orgs.list_members("globex")] == ["bob"]
    assert service.orgs.get_member("alice").admin


def test_passwords_are_stored_as_argon2_hashes(service: Services) -> None:
    service.orgs.create_org("acme")
    service.orgs.create_member("alice", "acme", password="correct horse")
    with service.orgs.catalog.session() as session:
        stored = session.scalar(sa.select(Member.password_hash).where(Member.name == "alice"))
    assert stored is not None and stored.startswith("$argon2id$")
    assert verify_password(stored, "correct horse")
    assert not verify_password(stored, "wrong horse")
    service.orgs.set_password("alice", "battery staple")
    with service.orgs.catalog.session() as session:
        changed = session.scalar(sa.select(Member.password_hash).where(Member.name == "alice"))
    assert verify_password(changed, "battery staple") and not verify_password(
        changed, "correct horse"
    )
    with pytest.raises(InvalidInput, match="too short"):
        service.orgs.set_password("alice", "short")


def test_the_audit_log_records_every_change_without_secrets(service: Services) -> None:
    service.orgs.create_org("acme")
    service.orgs.create_member("alice", "acme", password="s3cret-password")
    service.orgs.set_password("alice", "another-s3cret")
    issued = service.credentials.issue_credentials("alice", seconds=600, read_only=True)
    service.credentials.revoke_key(issued.access_key_id)
    service.credentials.revoke_member("alice")
    service.orgs.set_disabled("alice")
    entries = list(reversed(service.audit_log()))
    assert [e.action for e in entries] == [
        "org.create",
        "member.create",
        "member.passwd",
        "credentials.issue",
        "credentials.revoke",
        "credentials.revoke",
        "member.disable",
    ]
    assert all(e.actor == "test:admin" and e.outcome == "ok" for e in entries)
    issue = entries[3]
    assert issue.detail["access_key_id"] == issued.access_key_id
    assert issue.detail["read_only"] is True
    dump = repr([e.as_json() for e in entries])
    for secret in (
        "s3cret-password",
        "another-s3cret",
        issued.secret_access_key,
        issued.session_token,
    ):
        assert secret not in dump


def test_the_audit_log_is_append_only(service: Services) -> None:
    service.orgs.create_org("acme")
    for statement in (sa.update(AuditEvent).values(actor="someone else"), sa.delete(AuditEvent)):
        with (
            pytest.raises(DBAPIError, match="append-only"),
            service.orgs.catalog.session() as session,
        ):
            session.execute(statement)
    assert len(service.audit_log()) == 1


def test_the_catalog_never_holds_a_secret(service: Services, catalog_url: str) -> None:
    service.orgs.create_org("acme")
    service.orgs.create_member("alice", "acme", password="plain-text-password")
    issued = service.credentials.issue_credentials("alice")
    with service.orgs.catalog.engine.connect() as connection:
        tables = [
            sa.text(f"SELECT * FROM {t}")  # noqa: S608 (fixed table names)
            for t in ("members", "issued_credentials", "audit_log")
        ]
        everything = repr([list(connection.execute(t)) for t in tables])
    for secret in ("plain-text-password", issued.secret_access_key, issued.session_token):
        assert secret not in everything


@pytest.mark.parametrize(
    ("text", "seconds"), [("3600", 3600), ("1h", 3600), ("90s", 90), ("30m", 1800), ("12h", 43200)]
)
def test_parse_duration(text: str, seconds: int) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["0", "13h", "43201", "1d", "-5", "1.5h", "soon", ""])
def test_parse_duration_refuses(text: str) -> None:
    with pytest.raises(InvalidInput):
        parse_duration(text)
