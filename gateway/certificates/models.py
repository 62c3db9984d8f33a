"""The certificate registry: every certificate this gateway sent or received, one row per (country, number, version)."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, CheckConstraint, Column, ForeignKey, Integer, String, Text, UniqueConstraint, Uuid
from sqlmodel import Field, SQLModel

from gateway.db import UTCDateTime, utcnow


class CertificateState(StrEnum):
    """Business state (DESIGN §3): issued → replaced (by a newer certificate that names it) | withdrawn."""

    issued = "issued"
    replaced = "replaced"
    withdrawn = "withdrawn"


class Origin(StrEnum):
    sent = "sent"  # submitted here and sent to partners
    received = "received"  # delivered to us by a partner


class Certificate(SQLModel, table=True):
    __tablename__ = "certificates"
    __table_args__ = (
        # One document per certificate version, across every process writing to the database.
        UniqueConstraint("issuing_country", "number", "version", name="uq_certificates_country_number_version"),
        CheckConstraint("status IN ('issued', 'replaced', 'withdrawn')", name="ck_certificates_status"),
        CheckConstraint("origin IN ('sent', 'received')", name="ck_certificates_origin"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, sa_column=Column(Uuid, primary_key=True))
    issuing_country: str = Field(sa_column=Column(String(2), nullable=False))
    number: str = Field(sa_column=Column(String(128), nullable=False, index=True))
    version: int = Field(sa_column=Column(Integer, nullable=False))
    # SHA-256 of the certificate document as submitted (sent) or as received.
    sha256: str = Field(sa_column=Column(String(64), nullable=False))
    origin: str = Field(sa_column=Column(String(8), nullable=False))
    # The partner that delivered it (received certificates): only it may send notices about it.
    partner_code: str | None = Field(default=None, sa_column=Column(String(16), nullable=True))
    status: str = Field(sa_column=Column(String(16), nullable=False))
    status_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    status_reason: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    replaces_number: str | None = Field(default=None, sa_column=Column(String(128), nullable=True))
    replaced_by: uuid.UUID | None = Field(
        default=None, sa_column=Column(Uuid, ForeignKey("certificates.id", name="fk_certificate_replaced_by"))
    )
    replaced_by_number: str | None = Field(default=None, sa_column=Column(String(128), nullable=True))
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))


class CertificateEvent(SQLModel, table=True):
    """The certificate's history as its status service shows it (the audit log holds the same facts, signed)."""

    __tablename__ = "certificate_events"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, sa_column=Column(Uuid, primary_key=True))
    certificate_id: uuid.UUID = Field(
        sa_column=Column(
            Uuid, ForeignKey("certificates.id", name="fk_certificate_event_certificate"), nullable=False, index=True
        )
    )
    at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    # registered | sent | received | replaced | withdrawn | notice-sent
    event: str = Field(sa_column=Column(String(32), nullable=False))
    exchange_id: uuid.UUID | None = Field(default=None, sa_column=Column(Uuid, nullable=True))
    partner_code: str | None = Field(default=None, sa_column=Column(String(16), nullable=True))
    detail: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
