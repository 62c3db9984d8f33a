"""Response models of the exchange API."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from gateway.audit.log import decode_leaf
from gateway.audit.models import AuditEntry
from gateway.exchanges.models import DeliveryAttempt, Exchange


class ExchangeLinks(BaseModel):
    self: str
    original: str
    sent: str | None = None
    receipt: str | None = None


class ReplacementDelivery(BaseModel):
    partner: str
    id: uuid.UUID


class ExchangeAccepted(BaseModel):
    """202: the submission is valid, signed and queued for delivery (200: this certificate document was sent to this
    partner before, and that exchange is the answer)."""

    id: uuid.UUID
    state: str
    partner: str
    message_id: uuid.UUID
    sent_format: str
    certificate_number: str | None
    losses: int = Field(description="entries in the loss report (GET the exchange for the report)")
    links: ExchangeLinks
    created: bool = Field(default=True, description="false: the same document was sent to this partner before")
    replacement_deliveries: list[ReplacementDelivery] = Field(
        default_factory=list,
        description="a replacement certificate is also queued for every other partner that received the one it "
        "replaces",
    )
    replacement_notices: list[ReplacementDelivery] = Field(
        default_factory=list,
        description="and every partner that received the replaced certificate gets a signed 'replaced' notice "
        "(UBL DocumentStatus)",
    )


class ExchangeSummary(BaseModel):
    id: uuid.UUID
    direction: str
    state: str
    partner: str
    message_id: uuid.UUID
    document_type: str | None = Field(description="what was exchanged: CertificateOfOrigin, DocumentStatus, …")
    certificate_number: str | None
    source_format: str | None
    sent_format: str | None
    attempts: int
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, e: Exchange) -> ExchangeSummary:
        return cls(
            id=e.id,
            direction=e.direction,
            state=e.state,
            partner=e.partner_code,
            message_id=e.message_id,
            document_type=e.document_type,
            certificate_number=e.certificate_number,
            source_format=e.source_format,
            sent_format=e.sent_format,
            attempts=e.attempts,
            created_at=e.created_at,
            updated_at=e.updated_at,
        )


class ExchangeList(BaseModel):
    exchanges: list[ExchangeSummary]
    next_cursor: str | None = Field(description="pass as ?cursor= for the next page; null on the last page")


class AttemptOut(BaseModel):
    number: int
    started_at: datetime
    duration_ms: int
    http_status: int | None
    outcome: str
    error: str | None

    @classmethod
    def of(cls, a: DeliveryAttempt) -> AttemptOut:
        return cls(
            number=a.number,
            started_at=a.started_at,
            duration_ms=a.duration_ms,
            http_status=a.http_status,
            outcome=a.outcome,
            error=a.error,
        )


class HistoryEntry(BaseModel):
    index: int = Field(description="the entry's index in the audit log")
    time: str
    actor: str
    action: str
    outcome: str
    previous: int | None
    detail: dict[str, Any]

    @classmethod
    def of(cls, entry: AuditEntry) -> HistoryEntry:
        leaf = decode_leaf(entry.leaf)
        return cls(
            index=entry.index,
            time=leaf["time"],
            actor=leaf["actor"],
            action=leaf["action"],
            outcome=leaf["outcome"],
            previous=leaf["previous"],
            detail=leaf["detail"],
        )


class DocumentDigests(BaseModel):
    original: str
    sent: str | None
    receipt: str | None


class ExchangeDetail(ExchangeSummary):
    client_id: uuid.UUID | None
    certificate_country: str | None
    documents: DocumentDigests
    validation: dict[str, Any] | None = Field(description="validation report of the original (inbound: received)")
    sent_validation: dict[str, Any] | None = Field(description="validation report of the translation that was sent")
    signature: dict[str, Any] | None = Field(description="the document signature check (issuer's, or sender's)")
    losses: list[dict[str, Any]] | None = Field(description="the translation's loss report")
    transport: dict[str, Any] | None = Field(description="inbound: the HTTP signature check of the delivery")
    receipt: dict[str, Any] | None = Field(description="the receipt: outcome, findings, its verification")
    last_error: str | None
    attempt_log: list[AttemptOut]
    history: list[HistoryEntry] = Field(description="the exchange's audit entries, oldest first")
    links: ExchangeLinks

    @classmethod
    def build(
        cls, e: Exchange, attempts: list[DeliveryAttempt], history: list[AuditEntry], links: ExchangeLinks
    ) -> ExchangeDetail:
        return cls(
            **ExchangeSummary.of(e).model_dump(),
            client_id=e.client_id,
            certificate_country=e.certificate_country,
            documents=DocumentDigests(original=e.original_sha256, sent=e.sent_sha256, receipt=e.receipt_sha256),
            validation=e.validation,
            sent_validation=e.sent_validation,
            signature=e.signature,
            losses=e.losses,
            transport=e.transport,
            receipt=e.receipt,
            last_error=e.last_error,
            attempt_log=[AttemptOut.of(a) for a in attempts],
            history=[HistoryEntry.of(h) for h in history],
            links=links,
        )


def links_for(e: Exchange) -> ExchangeLinks:
    base = f"/v1/exchanges/{e.id}"
    return ExchangeLinks(
        self=base,
        original=f"{base}/documents/original",
        sent=f"{base}/documents/sent" if e.sent_sha256 else None,
        receipt=f"{base}/documents/receipt" if e.receipt_sha256 else None,
    )
