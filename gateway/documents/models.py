"""Content-addressed document storage: every original, sent document and receipt, stored once by its SHA-256."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Integer, LargeBinary, String
from sqlmodel import Field, SQLModel

from gateway.db import UTCDateTime, utcnow


class Blob(SQLModel, table=True):
    __tablename__ = "blobs"

    sha256: str = Field(sa_column=Column(String(64), primary_key=True))
    media_type: str = Field(sa_column=Column(String(100), nullable=False))
    size: int = Field(sa_column=Column(Integer, nullable=False))
    data: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
