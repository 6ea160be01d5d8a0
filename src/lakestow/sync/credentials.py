"""Where the sync agent's S3 credentials come from, and the obstore store that uses them.

A `CredentialSource` is any callable returning fresh `Credentials`; `CachedCredentials` asks it
again shortly before the current ones expire, and is shared by obstore and the signed requests
(`signed`), so that a pass runs a `credential_process` once. Sources here: the environment /
an AWS profile, and a `credential_process` command. The server token exchange plugs in through
`lakestow aws-credentials`, a `credential_process`.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from lakestow.sync.errors import SyncError

if TYPE_CHECKING:
    from obstore.store import S3Credential, S3Store

NEVER = datetime(9999, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Credentials:
    """One set of AWS-shaped credentials; `expiration` is timezone-aware (NEVER for static)."""

    access_key_id: str
    secret_access_key: str
    session_token: str | None = None
    expiration: datetime = NEVER


class CredentialSource(Protocol):
    """A callable returning fresh credentials; called again before they expire."""

    def __call__(self) -> Credentials: ...


def parse_process_document(text: str) -> Credentials:
    """Credentials from the JSON a `credential_process` command prints."""
    import json

    try:
        doc = json.loads(text)
        expiration = doc.get("Expiration")
        return Credentials(
            access_key_id=doc["AccessKeyId"],
            secret_access_key=doc["SecretAccessKey"],
            session_token=doc.get("SessionToken"),
            expiration=_parse_time(expiration) if expiration else NEVER,
        )
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise SyncError(f"credential process printed an invalid document: {exc}") from exc


def _parse_time(value: str) -> datetime:
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@dataclass(frozen=True)
class ProcessCredentials:
    """Runs a `credential_process` command (a shell-style string) for each refresh."""

    command: str

    def __call__(self) -> Credentials:
        import shlex
        import subprocess

        result = subprocess.run(
            shlex.split(self.command), capture_output=True, text=True, check=False, timeout=60
        )
        if result.returncode != 0:
            raise SyncError(f"credential process failed: {result.stderr.strip()[-300:]}")
        return parse_process_document(result.stdout)


@dataclass(frozen=True)
class EnvironmentCredentials:
    """The standard AWS chain: environment variables, then the given (or default) profile."""

    profile: str | None = None

    def __call__(self) -> Credentials:
        key, secret = os.environ.get("AWS_ACCESS_KEY_ID"), os.environ.get("AWS_SECRET_ACCESS_KEY")
        if key and secret and self.profile is None:  # the common case, without botocore
            return Credentials(key, secret, os.environ.get("AWS_SESSION_TOKEN") or None)
        # profiles, SSO, instance metadata: only botocore knows them all
        from botocore.session import Session  # type: ignore[import-untyped, unused-ignore]

        session = Session(profile=self.profile)
        found = session.get_credentials()
        if found is None:
            raise SyncError("no AWS credentials found in the environment or profile")
        frozen = found.get_frozen_credentials()
        expiry = getattr(found, "_expiry_time", None)
        return Credentials(
            str(frozen.access_key), str(frozen.secret_key), frozen.token, expiry or NEVER
        )


class CachedCredentials:
    """`source`'s credentials, kept until shortly before they expire (a quarter of their
    life, at most 5 min, before), then asked for again; thread-safe."""

    def __init__(self, source: CredentialSource) -> None:
        self.source = source
        self.current: Credentials | None = None
        self.refresh_at: datetime | None = None  # None: never
        self._lock = threading.Lock()

    def __call__(self) -> Credentials:
        with self._lock:
            now = datetime.now(UTC)
            if self.current is None or (self.refresh_at is not None and now >= self.refresh_at):
                self.current = self.source()
                self.refresh_at = None
                if self.current.expiration != NEVER:
                    life = max(self.current.expiration - now, timedelta(0))
                    self.refresh_at = self.current.expiration - min(life / 4, timedelta(minutes=5))
            return self.current


def _provider(credentials: CachedCredentials) -> Any:
    """obstore's credential provider: asks again at the cache's refresh time."""

    def provide() -> S3Credential:
        c = credentials()
        return {
            "access_key_id": c.access_key_id,
            "secret_access_key": c.secret_access_key,
            "token": c.session_token,
            "expires_at": credentials.refresh_at,
        }

    return provide


def s3_store(
    endpoint_url: str | None,
    region: str,
    credentials: CachedCredentials,
    bucket: str,
    max_pool: int = 32,
) -> S3Store:
    """An obstore store of `bucket` whose credentials refresh themselves."""
    from obstore.store import S3Store

    options = {"pool_max_idle_per_host": str(max_pool), "timeout": "300s"}
    if endpoint_url and endpoint_url.startswith("http://"):
        options["allow_http"] = "true"
    return S3Store(
        bucket,
        endpoint=endpoint_url,
        region=region,
        virtual_hosted_style_request=False,
        credential_provider=_provider(credentials),
        client_options=options,  # type: ignore[arg-type]
    )
