"""Instance tokens: long-lived, stored hashed, revocable, exchanged for temporary credentials."""

from __future__ import annotations

import time

import pytest
import sqlalchemy as sa

from lakestow.auth.credentials import Verifier
from lakestow.errors import InvalidInput, NotFound, Unauthenticated
from lakestow.services import Services


@pytest.fixture
def alice(service: Services) -> Services:
    service.orgs.create_org("acme")
    service.orgs.create_member("alice", "acme")
    return service


def test_a_token_exchanges_for_working_credentials(alice: Services) -> None:
    token = alice.credentials.issue_token("alice", label="notebook")
    member, issued = alice.credentials.exchange_token(token, seconds=900)
    assert member.name == "alice"
    principal, _ = Verifier(
        alice.credentials.keyring, alice.snapshot.catalog_snapshot, max_age=0
    ).verify(issued.access_key_id, issued.session_token)
    assert principal.member_id == member.id
    assert abs(issued.expiration.timestamp() - time.time() - 900) < 5


def test_tokens_are_stored_hashed_and_never_audited(alice: Services) -> None:
    token = alice.credentials.issue_token("alice")
    with alice.orgs.catalog.engine.connect() as connection:
        dump = repr(list(connection.execute(sa.text("SELECT * FROM instance_tokens"))))
        dump += repr(list(connection.execute(sa.text("SELECT * FROM audit_log"))))
    assert token not in dump and token[4:] not in dump


def test_revoked_expired_unknown_and_disabled_are_refused(alice: Services) -> None:
    revoked = alice.credentials.issue_token("alice")
    kept = alice.credentials.issue_token("alice")
    token_id = alice.credentials.list_tokens("alice")[0].id
    assert isinstance(token_id, int)
    assert alice.credentials.revoke_tokens("alice", token_id) == 1
    with pytest.raises(Unauthenticated):
        alice.credentials.exchange_token(revoked)
    alice.credentials.exchange_token(kept)
    with pytest.raises(Unauthenticated):
        alice.credentials.exchange_token("lkt_not-a-real-token")
    short = alice.credentials.issue_token("alice", seconds=1)
    time.sleep(1.1)
    with pytest.raises(Unauthenticated):
        alice.credentials.exchange_token(short)
    alice.orgs.set_disabled("alice")
    with pytest.raises(InvalidInput, match="disabled"):
        alice.credentials.exchange_token(kept)
    with pytest.raises(InvalidInput, match="disabled"):
        alice.credentials.issue_token("alice")


def test_revoking_all_tokens(alice: Services) -> None:
    tokens = [alice.credentials.issue_token("alice") for _ in range(3)]
    assert alice.credentials.revoke_tokens("alice") == 3
    for token in tokens:
        with pytest.raises(Unauthenticated):
            alice.credentials.exchange_token(token)
    with pytest.raises(NotFound):
        alice.credentials.revoke_tokens("alice", 12345)
    actions = [e.action for e in alice.audit_log()]
    assert actions.count("token.issue") == 3 and actions.count("token.revoke") == 1
