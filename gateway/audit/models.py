"""Audit tables. ``audit_entries`` is append-only; ``audit_head`` is the one-row log head that orders the appends."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, Column, ForeignKey, Integer, LargeBinary, String, Text, Uuid
from sqlmodel import Field, SQLModel

from gateway.db import UTCDateTime


class AuditEntry(SQLModel, table=True):
    __tablename__ = "audit_entries"

    # Dense from 0, in commit order: assigned under the log-head lock at the end of the writing transaction.
    index: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    # The exact RFC 8785 bytes: the Merkle leaf of the audit-log issue, and the only copy of the entry's content.
    leaf: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    # Copies of leaf fields for queries; never the source of truth.
    exchange_id: uuid.UUID | None = Field(default=None, sa_column=Column(Uuid, nullable=True, index=True))
    previous_index: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    action: str = Field(sa_column=Column(String(64), nullable=False))
    outcome: str = Field(sa_column=Column(String(64), nullable=False))
    partner_code: str | None = Field(default=None, sa_column=Column(String(16), nullable=True, index=True))
    certificate_number: str | None = Field(default=None, sa_column=Column(String(128), nullable=True, index=True))
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False, index=True))


class AuditHead(SQLModel, table=True):
    __tablename__ = "audit_head"
    __table_args__ = (CheckConstraint("id = 1", name="ck_audit_head_single_row"),)

    id: int = Field(sa_column=Column(Integer, primary_key=True, autoincrement=False))
    size: int = Field(sa_column=Column(BigInteger, nullable=False))


class AuditSubtree(SQLModel, table=True):
    """The hash of a complete, aligned block of 2^level leaves starting at index·2^level (level 0: leaf hashes)."""

    __tablename__ = "audit_subtrees"

    level: int = Field(sa_column=Column(Integer, primary_key=True, autoincrement=False))
    index: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    hash: bytes = Field(sa_column=Column(LargeBinary, nullable=False))


class AuditCheckpoint(SQLModel, table=True):
    """Signed checkpoints, as published (the signer's own record of the last one lives beside its key)."""

    __tablename__ = "audit_checkpoints"

    size: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    root: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    note: str = Field(sa_column=Column(Text, nullable=False))
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class PartnerCheckpoint(SQLModel, table=True):
    """A partner's signed checkpoint as received on a delivery or a receipt: this gateway is the partner's witness.

    ``state`` is ``pending`` until the witness has checked it against the partner's last consistent checkpoint
    (with a consistency proof fetched from the partner), then ``consistent`` or ``inconsistent`` (an alert)."""

    __tablename__ = "partner_checkpoints"
    __table_args__ = (
        CheckConstraint("state IN ('pending', 'consistent', 'inconsistent')", name="ck_partner_checkpoints_state"),
    )

    partner_code: str = Field(
        sa_column=Column(
            String(16), ForeignKey("partners.code", name="fk_partner_checkpoint_partner"), primary_key=True
        )
    )
    size: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    root: bytes = Field(sa_column=Column(LargeBinary, primary_key=True))
    note: str = Field(sa_column=Column(Text, nullable=False))
    received_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    state: str = Field(sa_column=Column(String(16), nullable=False, index=True))
    checked_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    # Why it is inconsistent, or why the last check could not be made.
    detail: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    failures: int = Field(default=0, sa_column=Column(Integer, nullable=False))
    next_check_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
