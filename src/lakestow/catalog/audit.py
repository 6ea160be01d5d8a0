"""The append-only audit log: every change and every credential issued, never a secret."""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from lakestow.catalog.models import AuditEvent, utcnow

_SECRET_WORDS = ("secret", "password", "token")
logger = logging.getLogger(__name__)

MAX_PENDING = 100_000
"""Audit events kept in memory through a catalog outage, at most (the oldest go first)."""


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
    _check_no_secrets(detail)
    session.add(
        AuditEvent(
            at=utcnow(), actor=actor, action=action, target=target, outcome=outcome, detail=detail
        )
    )


def _check_no_secrets(detail: dict[str, Any]) -> None:
    leaked = [key for key in detail if any(word in key.lower() for word in _SECRET_WORDS)]
    if leaked:
        raise ValueError(f"refusing to write possible secrets to the audit log: {leaked}")


def recent(session: Session, limit: int = 100) -> list[Entry]:
    rows = session.scalars(select(AuditEvent).order_by(AuditEvent.id.desc()).limit(limit))
    return [
        Entry(row.at, row.actor, row.action, row.target, row.outcome, dict(row.detail))
        for row in rows
    ]


class AuditWriter:
    """Records events from the request path without waiting for the database.

    Events queue up and a thread writes them in batches, one transaction per batch, so an
    S3 PUT costs no extra fsync. The price: a crash loses at most the last `interval` of
    audit lines, never an object.
    """

    def __init__(
        self, sessions: Callable[[], AbstractContextManager[Session]], interval: float = 0.2
    ) -> None:
        self._sessions = sessions
        self._interval = interval
        self._queue: queue.SimpleQueue[dict[str, Any] | None] = queue.SimpleQueue()
        self._pending: list[dict[str, Any]] = []  # not yet written (kept through an outage)
        self._outage = False
        self._thread = threading.Thread(target=self._run, name="audit-writer", daemon=True)
        self._thread.start()

    def record(
        self, actor: str, action: str, target: str, outcome: str = "ok", **detail: Any
    ) -> None:
        _check_no_secrets(detail)
        row = {"actor": actor, "action": action, "target": target, "outcome": outcome}
        self._queue.put({**row, "at": utcnow(), "detail": detail})

    def close(self) -> None:
        """Write what is queued, then stop."""
        self._queue.put(None)
        self._thread.join()

    def _run(self) -> None:
        running = True
        while running:
            try:  # events kept through an outage are tried again every second
                batch = [self._queue.get(timeout=1.0 if self._pending else None)]
            except queue.Empty:
                batch = []
            time.sleep(self._interval)
            while not self._queue.empty():
                batch.append(self._queue.get())
            running = None not in batch
            self._pending += [event for event in batch if event is not None]
            if self._pending:
                self._write()
        if self._pending:
            logger.error("audit log: %d events could not be written", len(self._pending))

    def _write(self) -> None:
        events = self._pending
        try:
            with self._sessions() as session:  # a Core insert: the ORM's costs a third more
                session.execute(insert(AuditEvent.metadata.tables["audit_log"]), events)
        except OperationalError as exc:  # the catalog out of reach: kept, and tried again
            if not self._outage:
                reason = (str(exc.orig).strip().splitlines() or [""])[0]
                logger.warning("audit log: the catalog cannot be reached, events kept: %s", reason)
            self._outage = True
            if len(events) > MAX_PENDING:
                logger.error("audit log: %d events dropped", len(events) - MAX_PENDING)
                del events[: len(events) - MAX_PENDING]
            return
        except Exception:  # the log must not take the server down; say so loudly instead
            logger.exception("could not write %d audit events", len(events))
        else:
            if self._outage:
                logger.warning("audit log: the catalog is back, %d events written", len(events))
            self._outage = False
        self._pending = []
