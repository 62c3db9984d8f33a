"""Request and response models of the certificate status service."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from adapters.model import Text
from adapters.notices import MAX_REASON
from gateway.inputs import RequestBody


class ExchangeRef(BaseModel):
    id: uuid.UUID
    direction: str
    partner: str
    state: str
    document_type: str | None


class HistoryEvent(BaseModel):
    at: datetime
    event: str = Field(description="registered, sent, received, notice-sent, replaced, withdrawn")
    partner: str | None
    exchange_id: uuid.UUID | None
    detail: dict[str, Any]


class CertificateVersion(BaseModel):
    version: int
    status: str = Field(description="issued, replaced or withdrawn")
    status_at: datetime
    status_reason: str | None
    sha256: str = Field(description="SHA-256 of the certificate document as sent (or received) here")
    origin: str = Field(description="sent (submitted here) or received (from a partner)")
    received_from: str | None
    replaces: str | None
    replaced_by: str | None
    registered_at: datetime
    exchanges: list[ExchangeRef]
    history: list[HistoryEvent]


class CertificateStatusOut(BaseModel):
    country: str
    number: str
    current: CertificateVersion = Field(description="the newest version")
    versions: list[CertificateVersion] = Field(description="every version, oldest first")


class WithdrawRequest(RequestBody):
    # The reason and version travel in the signed UBL notice: text XML can carry, a version of at most nine digits.
    reason: Text = Field(min_length=1, max_length=MAX_REASON, description="why; sent to every partner in the notice")
    version: int | None = Field(
        default=None, ge=1, le=999_999_999, description="the version to withdraw (default: the newest)"
    )


class NoticeRef(BaseModel):
    partner: str
    id: uuid.UUID = Field(description="the exchange carrying the signed DocumentStatus notice")


class WithdrawOut(BaseModel):
    certificate: CertificateVersion
    notices: list[NoticeRef] = Field(description="one queued notice per partner that received the certificate")
