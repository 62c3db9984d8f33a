"""API client table: one row per key; the key itself is never stored, only its SHA-256."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import CheckConstraint, Column, String
from sqlmodel import Field, SQLModel

from gateway.db import UTCDateTime, utcnow


class Role(StrEnum):
    admin = "admin"
    platform = "platform"
    partner = "partner"
    auditor = "auditor"


class ApiClient(SQLModel, table=True):
    __tablename__ = "api_clients"
    __table_args__ = (
        CheckConstraint("role IN ('admin', 'platform', 'partner', 'auditor')", name="ck_api_clients_role"),
        CheckConstraint("(role = 'partner') = (partner_code IS NOT NULL)", name="ck_api_clients_partner_code"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    name: str = Field(max_length=200)
    role: str = Field(sa_column=Column(String(16), nullable=False))
    partner_code: str | None = Field(default=None, max_length=16)
    # The public part of the key, used to find the row without scanning hashes.
    key_id: str = Field(sa_column=Column(String(32), nullable=False, unique=True))
    key_sha256: str = Field(sa_column=Column(String(64), nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    revoked_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
