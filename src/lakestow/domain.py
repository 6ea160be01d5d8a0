"""The catalog's records as the rest of lakestow sees them: organizations, members, tokens,
operators. Plain frozen dataclasses, built by `lakestow.services` from the ORM rows.

This module sits below everything but the policy: it imports `auth.policy` and nothing of
`services`, `catalog`, the front doors or the store, so `warehouse`, `s3api` and `console`
can use these types without depending on the service layer.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from lakestow.auth.policy import Principal

DEFAULT_RETENTION = 30 * 86400
"""Seconds an organization keeps overwritten and deleted objects unless told otherwise."""


@dataclass(frozen=True)
class OrgInfo:
    """An organization and the root of its warehouse, `s3://bucket/prefix/`, which keeps
    overwritten and deleted objects for `retention` seconds (0: not at all)."""

    id: int
    name: str
    bucket: str
    prefix: str
    retention: int = DEFAULT_RETENTION

    @property
    def root_uri(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}/" if self.prefix else f"s3://{self.bucket}/"

    def uri(self, path: str) -> str:
        return self.root_uri + path

    @property
    def retention_text(self) -> str:
        """The retention as the CLI takes it: `30d`, `12h`, `90s`; `0` for none."""
        for unit, seconds in (("d", 86400), ("h", 3600), ("m", 60)):
            if self.retention and self.retention % seconds == 0:
                return f"{self.retention // seconds}{unit}"
        return f"{self.retention}s" if self.retention else "0"

    @property
    def key_prefix(self) -> str:
        """Every key of the warehouse starts with this: `prefix/`, or nothing for a root
        that is a whole bucket."""
        return f"{self.prefix}/" if self.prefix else ""


@dataclass(frozen=True)
class MemberInfo:
    """A member of an organization, as the catalog holds them (never their password)."""

    id: int
    name: str
    org: OrgInfo
    admin: bool
    disabled: bool
    has_password: bool

    @property
    def principal(self) -> Principal:
        return Principal(self.id, self.org.id, admin=self.admin, disabled=self.disabled)

    @property
    def folder(self) -> str:
        return f"customer-{self.id}"

    @property
    def paths(self) -> dict[str, str]:
        """A notebook instance's paths (DESIGN.md section 1): s3:// URIs ending in /."""
        return {
            "USER_S3_PATH": self.org.uri(f"data/{self.folder}/"),
            "USER_S3_SHARED_PATH": self.org.uri("data/shared/"),
            "USER_WAREHOUSE_PATH": self.org.uri(f"data/{self.folder}/warehouse/"),
            "USER_NOTEBOOKS_PATH": self.org.uri(f"notebooks/{self.folder}/"),
        }


@dataclass(frozen=True)
class TokenInfo:
    """An instance token as listed: never the token itself, only its hash is stored."""

    id: int
    label: str
    created: datetime
    expires: datetime | None
    revoked: bool

    def as_row(self) -> dict[str, object]:
        return {
            "id": self.id,
            "label": self.label,
            "created": self.created.isoformat(),
            "expires": self.expires.isoformat() if self.expires else None,
            "revoked": self.revoked,
        }


@dataclass(frozen=True)
class OperatorInfo:
    """An operator as listed: never its secret."""

    name: str
    access_key_id: str
    disabled: bool

    def as_row(self) -> dict[str, object]:
        return {"name": self.name, "access_key_id": self.access_key_id, "disabled": self.disabled}


@dataclass(frozen=True)
class OperatorKeys:
    """A new operator's key pair: the secret is shown this once."""

    access_key_id: str
    secret_access_key: str
