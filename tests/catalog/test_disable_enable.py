"""`user disable` then `user enable` revives nothing issued before: credentials (refused as
revoked ones are), instance tokens, console sessions; on SQLite and on PostgreSQL."""

from __future__ import annotations

import time

import pytest

from lakestow.auth.credentials import CredentialRefused, Refusal, Verifier
from lakestow.console import sessions
from lakestow.errors import Unauthenticated
from lakestow.services import Services


@pytest.fixture
def service_with_alice(service: Services) -> Services:
    service.orgs.create_org("acme")
    service.orgs.create_member("alice", "acme", password="alice-password")
    return service


def test_disable_then_enable_leaves_everything_issued_before_dead(
    service_with_alice: Services,
) -> None:
    service = service_with_alice
    verifier = Verifier(service.credentials.keyring, service.snapshot.catalog_snapshot, max_age=0)
    old = service.credentials.issue_credentials("alice")
    token = service.credentials.issue_token("alice")
    session = sessions.sign_in(service.orgs.catalog, "alice", "alice-password", "192.0.2.1")
    service.orgs.set_disabled("alice")
    service.orgs.set_disabled("alice", False)

    with pytest.raises(CredentialRefused) as refused:
        verifier.verify(old.access_key_id, old.session_token)
    assert refused.value.reason is Refusal.REVOKED and refused.value.code == "InvalidToken"
    with pytest.raises(Unauthenticated, match="revoked"):
        service.credentials.exchange_token(token)
    assert [t.revoked for t in service.credentials.list_tokens("alice")] == [True]
    with pytest.raises(Unauthenticated):
        sessions.lookup(service.orgs.catalog, session.session_id)
    disable = next(e for e in service.audit_log() if e.action == "member.disable")
    assert disable.detail == {"instance_grants_revoked": 1, "console_sessions_ended": 1}

    time.sleep(0.002)
    fresh = service.credentials.issue_credentials("alice")
    verifier.verify(fresh.access_key_id, fresh.session_token)
    service.credentials.exchange_token(service.credentials.issue_token("alice"))
    again = sessions.sign_in(service.orgs.catalog, "alice", "alice-password", "192.0.2.1")
    assert sessions.lookup(service.orgs.catalog, again.session_id)[1].name == "alice"


def test_enabling_an_enabled_member_changes_nothing(service_with_alice: Services) -> None:
    service = service_with_alice
    kept = service.credentials.issue_credentials("alice")
    token = service.credentials.issue_token("alice")
    time.sleep(0.002)
    service.orgs.set_disabled("alice", False)
    Verifier(service.credentials.keyring, service.snapshot.catalog_snapshot, max_age=0).verify(
        kept.access_key_id, kept.session_token
    )
    service.credentials.exchange_token(token)
