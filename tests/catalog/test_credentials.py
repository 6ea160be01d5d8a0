"""Temporary credentials: issued by the service, verified from the token, refused precisely."""

from __future__ import annotations

import asyncio
import base64
import time
from pathlib import Path

import pytest

from lakestow import server
from lakestow.auth import keys
from lakestow.auth.credentials import (
    CredentialRefused,
    LookupNeeded,
    MemberState,
    Refusal,
    TemporaryCredentials,
    Verifier,
    mint,
)
from lakestow.errors import InvalidInput, NotFound, Unavailable
from lakestow.services import Services


@pytest.fixture
def alice(service: Services) -> int:
    service.orgs.create_org("acme")
    service.orgs.create_org("globex")
    service.orgs.create_member("bob", "acme")
    service.orgs.create_member("carol", "globex")
    return service.orgs.create_member("alice", "acme").id


def _verifier(service: Services, clock: float | None = None) -> Verifier:
    return Verifier(
        service.credentials.keyring,
        service.snapshot.catalog_snapshot,
        max_age=0,
        clock=(lambda: clock) if clock is not None else time.time,
    )


def _refusal(verifier: Verifier, access_key_id: str, token: str | None) -> Refusal:
    with pytest.raises(CredentialRefused) as caught:
        verifier.verify(access_key_id, token)
    return caught.value.reason


def test_issued_credentials_verify_to_their_member(service: Services, alice: int) -> None:
    issued = service.credentials.issue_credentials("alice", seconds=900)
    principal, grant = _verifier(service).verify(issued.access_key_id, issued.session_token)
    assert (principal.member_id, principal.org_id) == (alice, service.orgs.get_org("acme").id)
    assert grant.secret_access_key == issued.secret_access_key
    assert principal.scopes == () and not principal.read_only
    assert abs(issued.expiration.timestamp() - time.time() - 900) < 5


def test_credential_process_document_is_aws_shaped(service: Services, alice: int) -> None:
    document = service.credentials.issue_credentials("alice").credential_process()
    assert set(document) == {
        "Version",
        "AccessKeyId",
        "SecretAccessKey",
        "SessionToken",
        "Expiration",
    }
    assert document["Version"] == 1
    assert document["AccessKeyId"].startswith("ASIA") and len(document["AccessKeyId"]) == 20
    assert document["Expiration"].endswith("Z")


def test_scope_and_read_only_travel_in_the_token(service: Services, alice: int) -> None:
    issued = service.credentials.issue_credentials(
        "alice",
        scopes=(f"/data/customer-{alice}/proj", "s3://lakestow/acme/data/shared/"),
        read_only=True,
    )
    principal, _ = _verifier(service).verify(issued.access_key_id, issued.session_token)
    assert principal.scopes == (f"data/customer-{alice}/proj/", "data/shared/")
    assert principal.read_only


@pytest.mark.parametrize(
    "scope",
    [
        "/data/customer-2/",
        "/data/customer-999/",
        "/elsewhere/",
        "s3://lakestow/globex/data/",
        "/data/../x/",
    ],
)
def test_a_scope_outside_the_members_folders_is_refused(
    service: Services, alice: int, scope: str
) -> None:
    before = len(service.audit_log())
    with pytest.raises(InvalidInput):
        service.credentials.issue_credentials("alice", scopes=(scope,))
    assert len(service.audit_log()) == before


def test_tampered_tokens_are_refused(service: Services, alice: int) -> None:
    issued = service.credentials.issue_credentials("alice")
    verifier = _verifier(service)
    token = issued.session_token
    middle = len(token) // 2
    flipped = token[:middle] + ("A" if token[middle] != "A" else "B") + token[middle + 1 :]
    for bad in (flipped, token[:-4], token + "AAAA", "LKS1" + "A" * 200, "garbage", "LKS1!!!"):
        assert _refusal(verifier, issued.access_key_id, bad) is Refusal.TAMPERED


def test_a_token_forged_with_another_key_is_refused(
    service: Services, alice: int, tmp_path: Path
) -> None:
    keys.generate(tmp_path / "other.key")
    other_data_dir = Services.open(service.orgs.catalog, keys.load(tmp_path / "other.key"), "test")
    issued = other_data_dir.credentials.issue_credentials("alice")
    assert (
        _refusal(_verifier(service), issued.access_key_id, issued.session_token) is Refusal.TAMPERED
    )


def test_the_same_key_id_under_another_key_is_refused(
    service: Services, alice: int, tmp_path: Path
) -> None:
    """A server key that happens to carry the same key id still cannot open the box."""
    keys.generate(tmp_path / "twin.key")
    twin = keys.load(tmp_path / "twin.key")
    twin = keys.Keyring(((service.credentials.keyring.keys[0][0], twin.keys[0][1]),))
    issued = Services.open(service.orgs.catalog, twin, "test").credentials.issue_credentials(
        "alice"
    )
    assert (
        _refusal(_verifier(service), issued.access_key_id, issued.session_token) is Refusal.TAMPERED
    )


def test_a_token_presented_with_another_access_key_is_refused(
    service: Services, alice: int
) -> None:
    first = service.credentials.issue_credentials("alice")
    second = service.credentials.issue_credentials("alice")
    refusal = _refusal(_verifier(service), second.access_key_id, first.session_token)
    assert refusal is Refusal.MISMATCH


@pytest.mark.parametrize(
    ("access_key_id", "token"),
    [
        ("AKIAIOSFODNN7EXAMPLE", "LKS1x"),
        ("ASIAIOSFODNN7EXAMPLE", None),
        ("ASIAIOSFODNN7EXAMPLE", ""),
    ],
)
def test_unknown_access_keys_are_refused(
    service: Services, access_key_id: str, token: str | None
) -> None:
    assert _refusal(_verifier(service), access_key_id, token) is Refusal.UNKNOWN


def test_expired_credentials_are_refused(service: Services, alice: int) -> None:
    issued = service.credentials.issue_credentials("alice", seconds=60)
    assert _verifier(service, clock=time.time() + 59).verify(
        issued.access_key_id, issued.session_token
    )
    refusal = _refusal(
        _verifier(service, clock=time.time() + 61), issued.access_key_id, issued.session_token
    )
    assert refusal is Refusal.EXPIRED


def test_revoking_one_key_leaves_the_others(service: Services, alice: int) -> None:
    revoked = service.credentials.issue_credentials("alice")
    kept = service.credentials.issue_credentials("alice")
    verifier = _verifier(service)
    service.credentials.revoke_key(revoked.access_key_id)
    assert _refusal(verifier, revoked.access_key_id, revoked.session_token) is Refusal.REVOKED
    verifier.verify(kept.access_key_id, kept.session_token)


def test_revoking_an_unknown_key_is_an_error(service: Services, alice: int) -> None:
    with pytest.raises(NotFound):
        service.credentials.revoke_key("ASIANEVERISSUED00000")


def test_revoking_a_member_revokes_what_they_hold_not_what_comes_next(
    service: Services, alice: int
) -> None:
    old = service.credentials.issue_credentials("alice")
    bobs = service.credentials.issue_credentials("bob")
    time.sleep(0.002)
    service.credentials.revoke_member("alice")
    time.sleep(0.002)
    new = service.credentials.issue_credentials("alice")
    verifier = _verifier(service)
    assert _refusal(verifier, old.access_key_id, old.session_token) is Refusal.REVOKED
    verifier.verify(new.access_key_id, new.session_token)
    verifier.verify(bobs.access_key_id, bobs.session_token)


def test_a_disabled_member_is_refused_and_gets_no_new_credentials(
    service: Services, alice: int
) -> None:
    issued = service.credentials.issue_credentials("alice")
    verifier = _verifier(service)
    service.orgs.set_disabled("alice")
    assert _refusal(verifier, issued.access_key_id, issued.session_token) is Refusal.DISABLED
    with pytest.raises(InvalidInput, match="disabled"):
        service.credentials.issue_credentials("alice")
    service.orgs.set_disabled("alice", False)  # enabled again, but what was issued stays dead
    assert _refusal(verifier, issued.access_key_id, issued.session_token) is Refusal.REVOKED
    time.sleep(0.002)
    fresh = service.credentials.issue_credentials("alice")
    verifier.verify(fresh.access_key_id, fresh.session_token)


def test_refusals_map_to_the_s3_codes_clients_act_on() -> None:
    codes = {reason: reason.s3_code for reason in Refusal}
    assert codes[Refusal.UNKNOWN] == "InvalidAccessKeyId"
    assert codes[Refusal.EXPIRED] == "ExpiredToken"
    assert codes[Refusal.TAMPERED] == "InvalidToken"
    assert codes[Refusal.DISABLED] == "AccessDenied"


def test_revocations_reach_a_cached_verifier_on_its_next_refresh(
    service: Services, alice: int
) -> None:
    issued = service.credentials.issue_credentials("alice")
    verifier = Verifier(
        service.credentials.keyring, service.snapshot.catalog_snapshot, max_age=3600
    )
    verifier.verify(issued.access_key_id, issued.session_token)
    service.credentials.revoke_key(issued.access_key_id)
    verifier.verify(issued.access_key_id, issued.session_token)  # still cached, by design
    verifier.refresh()
    assert _refusal(verifier, issued.access_key_id, issued.session_token) is Refusal.REVOKED


@pytest.mark.parametrize("seconds", [0, -1, 12 * 3600 + 1])
def test_durations_outside_the_limits_are_refused(
    service: Services, alice: int, seconds: int
) -> None:
    with pytest.raises(InvalidInput):
        service.credentials.issue_credentials("alice", seconds=seconds)


def test_the_session_token_does_not_show_the_secret(service: Services, alice: int) -> None:
    issued: TemporaryCredentials = service.credentials.issue_credentials("alice")
    raw = base64.urlsafe_b64decode(issued.session_token[4:] + "==")
    assert issued.secret_access_key.encode() not in raw
    assert issued.secret_access_key not in issued.session_token


class _Outage:
    """The catalog's real snapshot loader, failing as an unreachable catalog does while `down`."""

    def __init__(self, service: Services) -> None:
        self.load = service.snapshot.catalog_snapshot
        self.down = False

    def __call__(self):  # type: ignore[no-untyped-def]
        if self.down:
            raise ConnectionRefusedError("connection to 127.0.0.1:5432 refused")
        return self.load()


def test_an_outage_is_served_from_the_last_snapshot_for_a_bounded_time(
    service: Services, alice: int
) -> None:
    issued = service.credentials.issue_credentials("alice")
    catalog = _Outage(service)
    verifier = Verifier(service.credentials.keyring, catalog, max_age=0.05, staleness=0.6)
    verifier.verify(issued.access_key_id, issued.session_token)
    catalog.down = True
    time.sleep(0.1)  # past max_age: the reload fails, the last snapshot serves
    verifier.verify(issued.access_key_id, issued.session_token)
    assert verifier.health.failures >= 1 and "5432" in verifier.health.last_error
    time.sleep(0.6)  # past the staleness bound: refused as unavailable, never a 500
    with pytest.raises(Unavailable) as caught:
        verifier.verify(issued.access_key_id, issued.session_token)
    assert caught.value.status == 503 and caught.value.headers["Retry-After"] == "5"
    catalog.down = False
    service.credentials.revoke_key(issued.access_key_id)  # made once the catalog is back
    time.sleep(1.0)  # the request path waits a second between reloads after a failure
    assert _refusal(verifier, issued.access_key_id, issued.session_token) is Refusal.REVOKED
    assert verifier.health.failures == 0 and verifier.health.last_success is not None


def test_the_reload_loop_outlives_an_outage(service: Services, alice: int) -> None:
    catalog = _Outage(service)
    verifier = Verifier(service.credentials.keyring, catalog, max_age=3600)
    verifier.refresh()
    catalog.down = True

    async def run() -> None:
        loop = asyncio.create_task(server.refresh_revocations(verifier, 0.05))
        await asyncio.sleep(0.3)
        assert verifier.health.failures >= 2 and not loop.done()
        catalog.down = False
        await asyncio.sleep(0.3)
        assert verifier.health.failures == 0 and not loop.done()
        loop.cancel()

    before = verifier.health.last_success
    asyncio.run(run())
    assert verifier.health.last_success is not None and verifier.health.last_success != before


def test_a_member_newer_than_the_snapshot_is_looked_up_once_off_the_request(
    service: Services, alice: int
) -> None:
    """`verify` never queries the catalog itself: a member the snapshot does not hold asks
    the caller to look it up (in a thread, for a server); what it finds, or that nothing is
    there, is kept until the next reload."""
    lookups: list[int] = []

    def member_state(member_id: int) -> MemberState | None:
        lookups.append(member_id)
        return service.snapshot.member_state(member_id)

    verifier = Verifier(
        service.credentials.keyring,
        service.snapshot.catalog_snapshot,
        max_age=3600,
        lookup_member=member_state,
    )
    verifier.refresh()
    dave = service.orgs.create_member("dave", "acme").id  # after the snapshot
    issued = service.credentials.issue_credentials("dave")
    with pytest.raises(LookupNeeded) as needed:
        verifier.verify(issued.access_key_id, issued.session_token)
    needed.value.look_up()
    for _ in range(3):
        principal, _grant = verifier.verify(issued.access_key_id, issued.session_token)
        assert principal.member_id == dave
    assert lookups == [dave]

    # A member the catalog does not hold (a token of the server's key naming a member id
    # that is not there): looked up once, then refused from memory until the next reload.
    ghost, _grant = mint(service.credentials.keyring, member_id=9999, org_id=1, seconds=60)
    with pytest.raises(LookupNeeded) as needed:
        verifier.verify(ghost.access_key_id, ghost.session_token)
    needed.value.look_up()
    for _ in range(3):
        assert _refusal(verifier, ghost.access_key_id, ghost.session_token) is Refusal.UNKNOWN
    assert lookups == [dave, 9999]
    verifier.refresh()  # the snapshot now holds dave; the ghost is looked for again
    verifier.verify(issued.access_key_id, issued.session_token)
    with pytest.raises(LookupNeeded):
        verifier.verify(ghost.access_key_id, ghost.session_token)
    assert lookups == [dave, 9999]


def test_a_lookup_while_the_catalog_is_down_is_a_503(service: Services, alice: int) -> None:
    def unreachable(member_id: int) -> MemberState | None:
        raise ConnectionRefusedError("connection to 127.0.0.1:5432 refused")

    keyring = service.credentials.keyring
    verifier = Verifier(keyring, service.snapshot.catalog_snapshot, lookup_member=unreachable)
    verifier.refresh()
    service.orgs.create_member("erin", "acme")
    issued = service.credentials.issue_credentials("erin")
    with pytest.raises(LookupNeeded) as needed:
        verifier.verify(issued.access_key_id, issued.session_token)
    with pytest.raises(Unavailable) as caught:
        needed.value.look_up()
    assert caught.value.status == 503 and caught.value.headers["Retry-After"] == "5"
