"""Exchange tables: one row per document sent or received, its delivery job and attempts, and idempotency keys."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    Uuid,
)
from sqlmodel import Field, SQLModel

from gateway.db import UTCDateTime, utcnow


class Direction(StrEnum):
    outbound = "outbound"
    inbound = "inbound"


class State(StrEnum):
    """Transport states (DESIGN §3). Outbound: received → rejected | queued → sending → retrying … → failed |
    acknowledged | acknowledged_with_warnings | rejected_by_partner. Inbound: accepted | accepted_with_warnings |
    rejected."""

    rejected = "rejected"
    queued = "queued"
    sending = "sending"
    retrying = "retrying"
    failed = "failed"
    acknowledged = "acknowledged"
    acknowledged_with_warnings = "acknowledged_with_warnings"
    rejected_by_partner = "rejected_by_partner"
    accepted = "accepted"
    accepted_with_warnings = "accepted_with_warnings"


FINAL_OUTBOUND = frozenset(
    {State.rejected, State.failed, State.acknowledged, State.acknowledged_with_warnings, State.rejected_by_partner}
)


def _in(column: str, values: Any) -> str:
    return f"{column} IN ({', '.join(repr(str(v)) for v in values)})"


class Exchange(SQLModel, table=True):
    __tablename__ = "exchanges"
    __table_args__ = (
        CheckConstraint(_in("direction", Direction), name="ck_exchanges_direction"),
        CheckConstraint(_in("state", State), name="ck_exchanges_state"),
        # One exchange per wire message: a partner's retried delivery finds the first one (and its receipt).
        UniqueConstraint("partner_code", "direction", "message_id", name="uq_exchanges_partner_message"),
        Index("ix_exchanges_listing", "created_at", "id"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, sa_column=Column(Uuid, primary_key=True))
    direction: str = Field(sa_column=Column(String(8), nullable=False))
    state: str = Field(sa_column=Column(String(32), nullable=False, index=True))
    partner_code: str = Field(
        sa_column=Column(
            String(16), ForeignKey("partners.code", name="fk_exchange_partner"), nullable=False, index=True
        )
    )
    # The platform client that submitted it (outbound); None for inbound exchanges.
    client_id: uuid.UUID | None = Field(default=None, sa_column=Column(Uuid, nullable=True, index=True))
    message_id: uuid.UUID = Field(default_factory=uuid.uuid4, sa_column=Column(Uuid, nullable=False))
    document_type: str | None = Field(default=None, sa_column=Column(String(64), nullable=True))
    source_format: str | None = Field(default=None, sa_column=Column(String(64), nullable=True))
    sent_format: str | None = Field(default=None, sa_column=Column(String(64), nullable=True))
    certificate_number: str | None = Field(default=None, sa_column=Column(String(128), nullable=True, index=True))
    certificate_country: str | None = Field(default=None, sa_column=Column(String(2), nullable=True))
    # The registry entry of the certificate this exchange carried (or a notice was about).
    certificate_id: uuid.UUID | None = Field(
        default=None,
        sa_column=Column(
            Uuid, ForeignKey("certificates.id", name="fk_exchange_certificate"), nullable=True, index=True
        ),
    )
    original_sha256: str = Field(sa_column=Column(String(64), ForeignKey("blobs.sha256"), nullable=False))
    sent_sha256: str | None = Field(default=None, sa_column=Column(String(64), ForeignKey("blobs.sha256")))
    receipt_sha256: str | None = Field(default=None, sa_column=Column(String(64), ForeignKey("blobs.sha256")))
    # Reports kept as JSON: validation of the original (and of the sent translation), the issuer signature check,
    # the loss report, the request signature check (inbound), the receipt (outcome, findings, its verification).
    validation: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    sent_validation: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    signature: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    losses: list[dict[str, Any]] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    transport: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    receipt: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    last_error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    attempts: int = Field(default=0, sa_column=Column(Integer, nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    updated_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))


class DeliveryJob(SQLModel, table=True):
    """An outbound exchange waiting to be (re)sent. Deleted when the exchange reaches a final state."""

    __tablename__ = "delivery_jobs"

    exchange_id: uuid.UUID = Field(
        sa_column=Column(Uuid, ForeignKey("exchanges.id", name="fk_delivery_job_exchange"), primary_key=True)
    )
    run_after: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False, index=True))
    # The lease: who holds the job until when. Finishing compares the token (compare-and-set).
    lease_token: uuid.UUID | None = Field(default=None, sa_column=Column(Uuid, nullable=True))
    lease_until: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    request_id: str | None = Field(default=None, sa_column=Column(String(64), nullable=True))


class DeliveryAttempt(SQLModel, table=True):
    __tablename__ = "delivery_attempts"
    __table_args__ = (UniqueConstraint("exchange_id", "number", name="uq_delivery_attempts_number"),)

    id: int | None = Field(
        default=None, sa_column=Column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    )
    exchange_id: uuid.UUID = Field(
        sa_column=Column(
            Uuid, ForeignKey("exchanges.id", name="fk_delivery_attempt_exchange"), nullable=False, index=True
        )
    )
    number: int = Field(sa_column=Column(Integer, nullable=False))
    started_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    duration_ms: int = Field(sa_column=Column(Integer, nullable=False))
    http_status: int | None = Field(default=None, sa_column=Column(Integer, nullable=True))
    # acknowledged | acknowledged_with_warnings | rejected_by_partner | transient | final
    outcome: str = Field(sa_column=Column(String(32), nullable=False))
    error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))


class IdempotencyKey(SQLModel, table=True):
    """A client's Idempotency-Key (DESIGN §8): reserved before the work, then the response to replay."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (CheckConstraint("state IN ('in_flight', 'completed')", name="ck_idempotency_keys_state"),)

    client_id: uuid.UUID = Field(sa_column=Column(Uuid, primary_key=True))
    key: str = Field(sa_column=Column(String(255), primary_key=True))
    fingerprint: str = Field(sa_column=Column(String(64), nullable=False))
    state: str = Field(sa_column=Column(String(16), nullable=False))
    # While in flight: another request with the key is refused until then; after it, a crashed holder is replaced.
    locked_until: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    response_status: int | None = Field(default=None, sa_column=Column(Integer, nullable=True))
    response_body: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))
    response_type: str | None = Field(default=None, sa_column=Column(String(100), nullable=True))
    exchange_id: uuid.UUID | None = Field(default=None, sa_column=Column(Uuid, nullable=True))
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    expires_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False, index=True))
