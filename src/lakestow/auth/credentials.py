"""Temporary credentials: minted AWS-shaped, verified by any replica from the token alone.

The session token is a sealed box (AES-256-GCM under the server keys) holding the secret, the
member, the expiry and the scope, so verifying it needs no catalog lookup. What can change
after issuing (revocations, disabled members) comes from a `CatalogSnapshot` snapshot that the
verifier reloads from the catalog every few seconds. While the catalog cannot be reached, the
last snapshot keeps serving for a bounded time (`staleness`), then requests are refused with
503 until a reload succeeds: a revocation made during an outage takes at most that long.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, TypeVar

from lakestow.auth.keys import Keyring, Unsealable
from lakestow.auth.policy import Principal
from lakestow.errors import Unauthenticated, Unavailable

log = logging.getLogger(__name__)
T = TypeVar("T")
S = TypeVar("S")

ACCESS_KEY_PREFIX = "ASIA"  # temporary credentials, as AWS STS
OPERATOR_KEY_PREFIX = "AKIA"  # long-lived operator keys, as AWS IAM users
_OPERATOR_PURPOSE = b"lakestow operator secret v1"
TOKEN_PREFIX = "LKS1"  # noqa: S105 (a marker, not a secret)
_PURPOSE = b"lakestow session token v1"
UNSEALED_CACHE_SIZE = 4096
LOOKED_UP_CACHE_SIZE = 4096  # members and operators newer than the snapshot, or absent
_BASE32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"


class Refusal(StrEnum):
    """Why a credential was refused, with the S3 error code a client acts on."""

    UNKNOWN = "unknown"
    TAMPERED = "tampered"
    MISMATCH = "mismatch"
    EXPIRED = "expired"
    REVOKED = "revoked"
    DISABLED = "disabled"

    @property
    def s3_code(self) -> str:
        return _S3_CODES[self]


_S3_CODES = {
    Refusal.UNKNOWN: "InvalidAccessKeyId",
    Refusal.TAMPERED: "InvalidToken",
    Refusal.MISMATCH: "InvalidToken",
    Refusal.EXPIRED: "ExpiredToken",
    Refusal.REVOKED: "InvalidToken",
    Refusal.DISABLED: "AccessDenied",
}


class CredentialRefused(Unauthenticated):
    """Credentials that lakestow does not accept, with the precise `reason`."""

    def __init__(self, reason: Refusal, message: str) -> None:
        super().__init__(message, code=reason.s3_code)
        self.reason = reason


@dataclass(frozen=True)
class Grant:
    """What a session token says: who, until when, where."""

    access_key_id: str
    secret_access_key: str
    member_id: int
    org_id: int
    issued_ms: int
    expires_ms: int
    scopes: tuple[str, ...] = ()
    read_only: bool = False

    @property
    def expiration(self) -> datetime:
        return datetime.fromtimestamp(self.expires_ms / 1000, UTC)


@dataclass(frozen=True)
class TemporaryCredentials:
    access_key_id: str
    secret_access_key: str
    session_token: str
    expiration: datetime

    def credential_process(self) -> dict[str, Any]:
        """The document an AWS `credential_process` prints."""
        return {
            "Version": 1,
            "AccessKeyId": self.access_key_id,
            "SecretAccessKey": self.secret_access_key,
            "SessionToken": self.session_token,
            "Expiration": self.expiration.strftime("%Y-%m-%dT%H:%M:%SZ"),
        }


def mint(
    keyring: Keyring,
    *,
    member_id: int,
    org_id: int,
    seconds: int,
    scopes: tuple[str, ...] = (),
    read_only: bool = False,
    now_ms: int | None = None,
) -> tuple[TemporaryCredentials, Grant]:
    issued = now_ms if now_ms is not None else int(time.time() * 1000)
    grant = Grant(
        access_key_id=ACCESS_KEY_PREFIX + "".join(secrets.choice(_BASE32) for _ in range(16)),
        secret_access_key=secrets.token_urlsafe(30),
        member_id=member_id,
        org_id=org_id,
        issued_ms=issued,
        expires_ms=issued + seconds * 1000,
        scopes=scopes,
        read_only=read_only,
    )
    token = TOKEN_PREFIX + base64.urlsafe_b64encode(keyring.seal(_pack(grant), _PURPOSE)).decode()
    credentials = TemporaryCredentials(
        grant.access_key_id, grant.secret_access_key, token.rstrip("="), grant.expiration
    )
    return credentials, grant


def unseal(keyring: Keyring, access_key_id: str, session_token: str | None) -> Grant:
    """The grant inside `session_token`, if this server sealed it for `access_key_id`."""
    if not access_key_id.startswith(ACCESS_KEY_PREFIX) or not session_token:
        raise CredentialRefused(Refusal.UNKNOWN, "the access key id does not exist")
    if not session_token.startswith(TOKEN_PREFIX):
        raise CredentialRefused(Refusal.TAMPERED, "the session token is malformed")
    body = session_token[len(TOKEN_PREFIX) :]
    try:
        box = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        grant = _unpack(keyring.open(box, _PURPOSE))
    except (binascii.Error, ValueError, KeyError, TypeError, Unsealable) as exc:
        message = "the session token is invalid: tampered with, or not issued by this server"
        raise CredentialRefused(Refusal.TAMPERED, message) from exc
    if grant.access_key_id != access_key_id:
        raise CredentialRefused(Refusal.MISMATCH, "the session token belongs to another key")
    return grant


@dataclass(frozen=True)
class MemberState:
    org_id: int
    admin: bool = False
    disabled: bool = False
    not_before_ms: int = 0


@dataclass(frozen=True)
class OperatorState:
    id: int
    name: str
    sealed_secret: str
    disabled: bool = False


@dataclass(frozen=True)
class Operator:
    """A verified operator: owns the buckets it created, and nothing of any organization."""

    id: int
    name: str


@dataclass(frozen=True)
class CatalogSnapshot:
    """What the verifier needs from the catalog, reloaded every few seconds: members'
    states, revoked keys, operators by access key id, the buckets operators own and the
    buckets that hold organizations (which buckets exist, for the S3 endpoint)."""

    members: Mapping[int, MemberState] = field(default_factory=dict)
    revoked_keys: frozenset[str] = frozenset()
    operators: Mapping[str, OperatorState] = field(default_factory=dict)
    operator_buckets: Mapping[str, int] = field(default_factory=dict)
    org_buckets: frozenset[str] = frozenset()


def mint_operator(keyring: Keyring) -> tuple[str, str, str]:
    """A new operator key pair: (access key id, secret, the secret sealed for the catalog)."""
    access_key_id = OPERATOR_KEY_PREFIX + "".join(secrets.choice(_BASE32) for _ in range(16))
    secret = secrets.token_urlsafe(30)
    sealed = base64.b64encode(keyring.seal(secret.encode(), _OPERATOR_PURPOSE)).decode()
    return access_key_id, secret, sealed


class LookupNeeded(Exception):
    """`verify` met a member or operator the last snapshot does not hold (created since, or
    gone): the caller runs `look_up` (a catalog query: blocking, so in a thread) and verifies
    again. What it finds, absence too, is kept until the next reload."""

    def __init__(self, look_up: Callable[[], None]) -> None:
        super().__init__("a catalog lookup is needed")
        self.look_up = look_up


class Verifier:
    """Turns (access key id, session token) into the principal and grant, or refuses.

    Never touches the catalog itself except through `refresh` and a `LookupNeeded`'s
    `look_up`, both of which block: a server runs them off its event loop."""

    def __init__(
        self,
        keyring: Keyring,
        load_state: Callable[[], CatalogSnapshot],
        *,
        max_age: float = 2.0,
        staleness: float = 60.0,
        reloads_in_background: bool = False,
        clock: Callable[[], float] = time.time,
        lookup_operator: Callable[[str], OperatorState | None] | None = None,
        lookup_member: Callable[[int], MemberState | None] | None = None,
    ) -> None:
        self._lookup_operator = lookup_operator
        self._lookup_member = lookup_member
        self._keyring = keyring
        self._load_state = load_state
        self._max_age = max_age
        self._staleness = staleness
        self._background = reloads_in_background  # `serve`: requests never wait for a reload
        self._clock = clock
        self._state: CatalogSnapshot | None = None
        self._loaded_at = float("-inf")
        self._began_at = float("-inf")
        self._retry_at = float("-inf")  # after a failed reload, the request path waits a second
        self.health = ReloadHealth()
        self._operator_secrets: dict[str, str] = {}
        # A token's contents never change: opening it once per client, not per request, is enough.
        self._unsealed: dict[tuple[str, str | None], Grant] = {}
        # Rows looked up since the last reload (None: not in the catalog either).
        self._members: dict[int, MemberState | None] = {}
        self._operators: dict[str, OperatorState | None] = {}

    def refresh(self) -> None:
        """Reload the snapshot; on failure, the error is raised and counted in `health`."""
        began = time.monotonic()
        try:
            state = self._load_state()
        except Exception as exc:
            self.health.failed(exc)
            raise
        self._state = state
        self._loaded_at = time.monotonic()
        self._began_at = began
        self._members, self._operators = {}, {}  # the snapshot now holds what they held
        self.health.succeeded()

    def refresh_unless_since(self, started: float) -> None:
        """`refresh`, unless the snapshot's reload began at `started` (time.monotonic()) or
        later: it then holds whatever was committed before then."""
        if self._began_at < started:
            self.refresh()

    def verify(self, access_key_id: str, session_token: str | None) -> tuple[Principal, Grant]:
        grant = self._unsealed.get((access_key_id, session_token))
        if grant is None:
            grant = unseal(self._keyring, access_key_id, session_token)
            if len(self._unsealed) >= UNSEALED_CACHE_SIZE:
                self._unsealed.clear()
            self._unsealed[(access_key_id, session_token)] = grant
        if grant.expires_ms <= self._clock() * 1000:
            raise CredentialRefused(Refusal.EXPIRED, "the session token has expired")
        state = self._current()
        member = state.members.get(grant.member_id)
        if member is None and self._lookup_member is not None:  # created since?
            member = self._looked_up(self._members, self._lookup_member, grant.member_id)
        if member is None or member.org_id != grant.org_id:
            raise CredentialRefused(Refusal.UNKNOWN, "the member of these credentials is gone")
        if member.disabled:
            raise CredentialRefused(Refusal.DISABLED, "the member of these credentials is disabled")
        if access_key_id in state.revoked_keys or grant.issued_ms <= member.not_before_ms:
            raise CredentialRefused(Refusal.REVOKED, "these credentials have been revoked")
        principal = Principal(
            member_id=grant.member_id,
            org_id=grant.org_id,
            admin=member.admin,
            scopes=grant.scopes,
            read_only=grant.read_only,
        )
        return principal, grant

    def verify_operator(self, access_key_id: str) -> tuple[Operator, str]:
        """The operator holding `access_key_id` and its secret, or a refusal."""
        state = self.snapshot().operators.get(access_key_id)
        if state is None and self._lookup_operator is not None:  # created since?
            state = self._looked_up(self._operators, self._lookup_operator, access_key_id)
        if state is None:
            raise CredentialRefused(Refusal.UNKNOWN, "the access key id does not exist")
        if state.disabled:
            raise CredentialRefused(Refusal.DISABLED, "this operator is disabled")
        secret = self._operator_secrets.get(state.sealed_secret)
        if secret is None:
            box = base64.b64decode(state.sealed_secret)
            secret = self._keyring.open(box, _OPERATOR_PURPOSE).decode()
            self._operator_secrets[state.sealed_secret] = secret
        return Operator(state.id, state.name), secret

    def snapshot(self) -> CatalogSnapshot:
        """The catalog as last loaded, reloaded when older than `max_age`."""
        return self._current()

    def _current(self) -> CatalogSnapshot:
        now = time.monotonic()
        age = now - self._loaded_at
        if self._state is not None and (age < self._max_age or self._background):
            if age < self._max_age + self._staleness:
                return self._state
            raise _catalog_unavailable(
                f"the last revocations loaded are more than {self._staleness:g} s old"
            )
        if now >= self._retry_at:
            try:
                self.refresh()
            except Exception:  # any failure of the catalog; the last snapshot may still serve
                self._retry_at = now + 1.0
            else:
                return self._state  # type: ignore[return-value]  # refresh() set it
        if self._state is not None and age < self._max_age + self._staleness:
            return self._state
        raise _catalog_unavailable(
            f"the last revocations loaded are more than {self._staleness:g} s old"
        )

    @staticmethod
    def _looked_up(found: dict[T, S | None], lookup: Callable[[T], S | None], key: T) -> S | None:
        """The row `lookup` found for `key` since the last reload; LookupNeeded if none was
        looked for yet."""
        if key in found:
            return found[key]

        def look_up() -> None:
            try:
                row = lookup(key)
            except Exception as exc:
                raise _catalog_unavailable("a new member or operator cannot be looked up") from exc
            if len(found) >= LOOKED_UP_CACHE_SIZE:
                found.clear()
            found[key] = row

        raise LookupNeeded(look_up)


def _catalog_unavailable(why: str) -> Unavailable:
    return Unavailable(
        f"The catalog cannot be reached and {why}: try again in a few seconds."
    ).with_headers({"Retry-After": "5"})


@dataclass
class ReloadHealth:
    """How reloads of the catalog snapshot are going: what a readiness probe and the logs
    report. An outage is logged once when it begins and once when it ends."""

    last_success: float | None = None  # wall-clock time of the last successful reload
    failures: int = 0  # consecutive failed reloads
    last_error: str = ""

    def succeeded(self) -> None:
        if self.failures:
            log.warning(
                "catalog reachable again after %d failed reloads; revocations are current",
                self.failures,
            )
        self.last_success = time.time()
        self.failures = 0
        self.last_error = ""

    def failed(self, exc: BaseException) -> None:
        self.last_error = (str(exc).splitlines() or [type(exc).__name__])[0][:300]
        if not self.failures:
            log.warning("catalog unreachable, serving from the last snapshot: %s", self.last_error)
        self.failures += 1


def _pack(grant: Grant) -> bytes:
    document = {
        "k": grant.access_key_id,
        "s": grant.secret_access_key,
        "m": grant.member_id,
        "o": grant.org_id,
        "i": grant.issued_ms,
        "e": grant.expires_ms,
        "c": list(grant.scopes),
        "r": grant.read_only,
    }
    return json.dumps(document, separators=(",", ":")).encode()


def _unpack(data: bytes) -> Grant:
    d = json.loads(data)
    return Grant(
        access_key_id=str(d["k"]),
        secret_access_key=str(d["s"]),
        member_id=int(d["m"]),
        org_id=int(d["o"]),
        issued_ms=int(d["i"]),
        expires_ms=int(d["e"]),
        scopes=tuple(str(s) for s in d["c"]),
        read_only=bool(d["r"]),
    )
