"""The append-only audit log: every change and every credential issued, never a secret."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from lakestow.catalog.models import AuditEvent, utcnow

_SECRET_WORDS = ("secret", "password", "token")


@dataclass(frozen=True)
class Entry:
    at: datetime
    actor: str
    action: str
    target: str
    outcome: str
    detail: dict[str, Any]

    def as_json(self) -> dict[str, Any]:
        return {**self.__dict__, "at": self.at.isoformat()}


def record(
    session: Session, actor: str, action: str, target: str, outcome: str = "ok", **detail: Any
) -> None:
    """Append one event, in the caller's transaction: the change and its record commit together."""
    leaked = [key for key in detail if any(word in key.lower() for word in _SECRET_WORDS)]
    if leaked:
        raise ValueError(f"refusing to write possible secrets to the audit log: {leaked}")
    session.add(
        AuditEvent(
            at=utcnow(), actor=actor, action=action, target=target, outcome=outcome, detail=detail
        )
    )


def recent(session: Session, limit: int = 100) -> list[Entry]:
    rows = session.scalars(select(AuditEvent).order_by(AuditEvent.id.desc()).limit(limit))
    return [
        Entry(row.at, row.actor, row.action, row.target, row.outcome, dict(row.detail))
        for row in rows
    ]
