"""Where the sync agent's S3 credentials come from, and the clients that refresh them.

A `CredentialSource` is any callable returning fresh `Credentials`; the clients ask it again
shortly before the current ones expire. Sources here: the environment / an AWS profile, and a
`credential_process` command. The server token exchange plugs in as one more callable.

Two clients share a source: boto3 for most requests, and obstore (Rust) for the many small
PUTs of a pass, which take botocore about four times the CPU per request.
"""

from __future__ import annotations

import json
import shlex
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from lakestow.sync.errors import SyncError
from lakestow.sync.remote import S3Client

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


def _refresher(source: CredentialSource) -> Any:
    def refresh() -> dict[str, str]:
        c = source()
        # botocore wants an expiry; static credentials are refreshed once a day, harmlessly.
        expiry = min(c.expiration, datetime.now(UTC) + timedelta(days=1))
        return {
            "access_key": c.access_key_id,
            "secret_key": c.secret_access_key,
            "token": c.session_token or "",
            "expiry_time": expiry.isoformat(),
        }

    return refresh


def s3_client(
    endpoint_url: str | None, region: str, source: CredentialSource, max_pool: int = 32
) -> S3Client:
    """A thread-safe boto3 S3 client whose credentials refresh themselves from `source`.

    boto3 is imported here, on first use, so that a pass with nothing to do never pays for it.
    """
    import boto3  # type: ignore[import-untyped, unused-ignore]
    from botocore.config import Config  # type: ignore[import-untyped, unused-ignore]
    from botocore.credentials import (  # type: ignore[import-untyped, unused-ignore]
        RefreshableCredentials,
    )
    from botocore.handlers import add_expect_header  # type: ignore[import-untyped, unused-ignore]
    from botocore.session import (  # type: ignore[import-untyped, unused-ignore]
        Session as BotocoreSession,
    )

    refresh = _refresher(source)
    credentials = RefreshableCredentials.create_from_metadata(
        metadata=refresh(), refresh_using=refresh, method="lakestow-sync"
    )
    botocore_session = BotocoreSession()
    botocore_session._credentials = credentials  # type: ignore[attr-defined, unused-ignore]
    session = boto3.Session(botocore_session=botocore_session, region_name=region)
    config = Config(
        s3={"addressing_style": "path"},
        retries={"max_attempts": 4, "mode": "standard"},
        max_pool_connections=max_pool,
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
    )
    client = session.client("s3", endpoint_url=endpoint_url, config=config)
    # `Expect: 100-continue` costs a round trip per upload; lakestow answers errors either way.
    client.meta.events.unregister("before-call.s3", add_expect_header)
    return client


def _provider(source: CredentialSource) -> Any:
    """obstore's credential provider: `source`, with an expiry brought forward so that obstore
    asks again before the credentials really expire (a quarter of their life, at most 5 min)."""

    def provide() -> S3Credential:
        c = source()
        expires_at = None
        if c.expiration != NEVER:
            life = max(c.expiration - datetime.now(UTC), timedelta(0))  # already expired: as is
            expires_at = c.expiration - min(life / 4, timedelta(minutes=5))
        return {
            "access_key_id": c.access_key_id,
            "secret_access_key": c.secret_access_key,
            "token": c.session_token,
            "expires_at": expires_at,
        }

    return provide


def s3_store(
    endpoint_url: str | None, region: str, source: CredentialSource, bucket: str, max_pool: int = 32
) -> S3Store:
    """An obstore store of `bucket` whose credentials refresh themselves from `source`."""
    from obstore.store import S3Store

    options = {"pool_max_idle_per_host": str(max_pool), "timeout": "300s"}
    if endpoint_url and endpoint_url.startswith("http://"):
        options["allow_http"] = "true"
    return S3Store(
        bucket,
        endpoint=endpoint_url,
        region=region,
        virtual_hosted_style_request=False,
        credential_provider=_provider(source),
        client_options=options,  # type: ignore[arg-type]
    )
