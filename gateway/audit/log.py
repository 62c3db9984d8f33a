"""Appending audit entries: queued on the session by the workflow, written under the log-head lock at commit.

``record()`` only queues an entry on the session. A ``before_commit`` hook then, as the last work of the
transaction, locks the one-row log head (``SELECT … FOR UPDATE`` on PostgreSQL; on SQLite every writer already holds
the database lock from ``BEGIN IMMEDIATE``), numbers the queued entries from the head's size, links each to the
previous entry of its exchange, and inserts them. Because the head stays locked until COMMIT, the next transaction
numbers its entries only after this one has committed: indexes are dense and in commit order (DESIGN §7;
PostgreSQL sequences would give gaps and a different order). A rolled-back transaction writes nothing, so an entry
exists exactly when its state change does.

The entry is RFC 8785 canonical JSON; its bytes are stored as they are hashed (the Merkle leaf of the audit-log
issue)::

    {"action": "exchange.submitted", "actor": "client:…", "certificate": "JP-2026-0001", "detail": {…},
     "documents": {"original": "<sha256>", "sent": "<sha256>"}, "exchange": "<uuid>", "outcome": "queued",
     "partner": "TH", "previous": 41, "time": "2026-11-30T12:00:00.000000Z", "v": 1}
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import rfc8785
from sqlalchemy import bindparam, event, func, insert, select, update
from sqlalchemy.orm import Session as OrmSession

from gateway.audit.models import AuditEntry, AuditHead
from gateway.audit.tree import append_leaves
from gateway.db import utcnow

__all__ = ["ENTRY_VERSION", "SYSTEM", "Actor", "decode_leaf", "record"]

ENTRY_VERSION = 1
_PENDING = "audit_pending"


@dataclass(frozen=True)
class Actor:
    """Who caused a state change: an API client, a partner gateway (by its verified signature), or the gateway."""

    kind: str  # "client" | "partner" | "system"
    id: str

    def __str__(self) -> str:
        return f"{self.kind}:{self.id}"


SYSTEM = Actor("system", "gateway")


@dataclass
class _Pending:
    actor: Actor
    action: str
    outcome: str
    exchange_id: uuid.UUID | None
    partner: str | None
    certificate: str | None
    documents: dict[str, str]
    detail: dict[str, Any]
    starts_exchange: bool = False
    time: datetime = field(default_factory=utcnow)


def record(
    session: OrmSession,
    *,
    actor: Actor,
    action: str,
    outcome: str,
    exchange_id: uuid.UUID | None = None,
    partner: str | None = None,
    certificate: str | None = None,
    documents: dict[str, str] | None = None,
    detail: dict[str, Any] | None = None,
    starts_exchange: bool = False,
) -> None:
    """Queue one entry; it is written, numbered and linked when (and only if) the session commits.

    ``starts_exchange``: the exchange is created in this transaction, so it has no earlier entry to look up (the
    lookup runs under the log-head lock, which every writer waits for)."""
    pending: list[_Pending] = session.info.setdefault(_PENDING, [])
    pending.append(
        _Pending(
            actor,
            action,
            outcome,
            exchange_id,
            partner,
            certificate,
            dict(documents or {}),
            dict(detail or {}),
            starts_exchange,
        )
    )


def _time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _leaf(entry: _Pending, previous: int | None) -> bytes:
    return rfc8785.dumps(
        {
            "v": ENTRY_VERSION,
            "time": _time(entry.time),
            "actor": str(entry.actor),
            "action": entry.action,
            "outcome": entry.outcome,
            "exchange": str(entry.exchange_id) if entry.exchange_id is not None else None,
            "partner": entry.partner,
            "certificate": entry.certificate,
            "documents": entry.documents,
            "previous": previous,
            "detail": entry.detail,
        }
    )


def decode_leaf(leaf: bytes) -> dict[str, Any]:
    value: dict[str, Any] = json.loads(leaf)
    return value


_ENTRIES = AuditEntry.__table__  # type: ignore[attr-defined]
_HEAD = AuditHead.__table__  # type: ignore[attr-defined]
_HEAD_FOR_UPDATE = select(_HEAD.c.size).where(_HEAD.c.id == 1).with_for_update()
_LAST_OF_EXCHANGE = select(func.max(_ENTRIES.c["index"])).where(_ENTRIES.c.exchange_id == bindparam("exchange_id"))


@event.listens_for(OrmSession, "before_commit")
def _append_pending(session: OrmSession) -> None:
    pending: list[_Pending] = session.info.pop(_PENDING, [])
    if not pending:
        return
    session.flush()  # the state changes first, so the head lock is the last thing taken before COMMIT
    # Core statements on the session's own connection (same transaction): the ORM's execution layer cost more
    # than the statements themselves, on every transaction that records anything.
    connection = session.connection()
    head = connection.execute(_HEAD_FOR_UPDATE).scalar_one()
    last: dict[uuid.UUID, int | None] = {}
    rows = []
    for offset, entry in enumerate(pending):
        index = head + offset
        previous: int | None = None
        if entry.exchange_id is not None:
            if entry.starts_exchange:
                last.setdefault(entry.exchange_id, None)
            if entry.exchange_id not in last:
                last[entry.exchange_id] = connection.execute(
                    _LAST_OF_EXCHANGE, {"exchange_id": entry.exchange_id}
                ).scalar_one_or_none()
            previous = last[entry.exchange_id]
            last[entry.exchange_id] = index
        rows.append(
            {
                "index": index,
                "leaf": _leaf(entry, previous),
                "exchange_id": entry.exchange_id,
                "previous_index": previous,
                "action": entry.action,
                "outcome": entry.outcome,
                "partner_code": entry.partner,
                "certificate_number": entry.certificate,
                "created_at": entry.time,
            }
        )
    connection.execute(insert(_ENTRIES), rows)
    # The Merkle tree grows with the log, under the same lock: it always covers exactly the committed entries.
    append_leaves(connection, head, [row["leaf"] for row in rows])
    connection.execute(update(_HEAD).where(_HEAD.c.id == 1).values(size=head + len(pending)))


@event.listens_for(OrmSession, "after_rollback")
def _drop_pending(session: OrmSession) -> None:
    session.info.pop(_PENDING, None)
