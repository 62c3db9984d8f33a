"""Receiving a delivery from a partner gateway (wire protocol v1, DESIGN §4) and answering with a signed receipt.

Transport checks first, each a refusal without a receipt (the sender's delivery is not a document we hold):
the ``From`` partner is known, the RFC 9421 signature and ``Content-Digest`` verify with **that partner's**
anchors, ``Date`` is within the allowed skew, ``To`` is this gateway, ``Exchange-Protocol`` is 1 and
``Message-ID`` a UUID. A (partner, Message-ID) seen before is answered from the record: the same bytes get the
stored receipt, other bytes 409. Everything after that is a business outcome answered with a signed UBL
ApplicationResponse and recorded: a document type we do not accept, a document signature that does not verify
with the partner's anchors, or an invalid document is *rejected*; warnings only make it *accepted with warnings*.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col

from adapters import ADAPTERS, AdapterError, Receipt, ReceiptFinding, ReceiptOutcome, render_receipt
from gateway.audit.log import Actor, record
from gateway.delivery.wire import PROTOCOL, parse_http_date
from gateway.documents.blobs import get_blob, put_blob
from gateway.documents.service import Verification, partner_trust, verify_document
from gateway.errors import NotFound, ProblemError, Unauthorized
from gateway.exchanges.models import Direction, Exchange, State
from gateway.partners.models import Partner
from schemas.engine import ValidationEngine, parse_json
from schemas.errors import DocumentError
from schemas.report import Finding
from signing.httpsig import verify_request
from signing.keys import SigningKey
from signing.xmldsig import SignaturePlacement, sign_xml

__all__ = [
    "Answer",
    "Delivery",
    "InboxRefusal",
    "Judgement",
    "MessageConflict",
    "build_receipt",
    "check_transport",
    "judge",
    "record_refusal",
    "replay_or_conflict",
    "store_inbound",
]

_OUTCOME_STATES = {
    ReceiptOutcome.ACCEPTED: State.accepted,
    ReceiptOutcome.ACCEPTED_WITH_WARNINGS: State.accepted_with_warnings,
    ReceiptOutcome.REJECTED: State.rejected,
}


class InboxRefusal(Unauthorized):
    """A delivery refused at the transport level (no receipt): the reason is a stable code."""

    slug = "delivery-refused"
    title = "The delivery is refused"

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail, reason=reason)
        self.reason = reason
        self.headers = {}


class MessageConflict(ProblemError):
    status, slug, title = 409, "message-id-conflict", "This Message-ID was delivered before with other content"


@dataclass(frozen=True)
class Delivery:
    """What the HTTP layer hands over: the raw request as received."""

    headers: Sequence[tuple[str, str]]
    body: bytes
    target_uri: str


@dataclass(frozen=True)
class Answer:
    receipt: bytes
    exchange_id: uuid.UUID
    replayed: bool


def _header(headers: Sequence[tuple[str, str]], name: str) -> str | None:
    values = [v for k, v in headers if k.lower() == name]
    return values[0].strip() if len(values) == 1 else None


def check_transport(
    session: Session, delivery: Delivery, our_code: str, now: datetime, max_skew: timedelta
) -> tuple[Partner, uuid.UUID, str, dict[str, Any]]:
    """The transport checks; returns the partner, the Message-ID, the document type and the signature check."""
    sender = _header(delivery.headers, "from")
    partner = session.get(Partner, sender) if sender else None
    if partner is None:
        # Not "unknown partner": an anonymous caller learns nothing about who our partners are.
        raise InboxRefusal("unknown-sender", "the delivery is not signed by a partner of this gateway")
    anchors, _ = partner_trust(session, partner.code, now)
    checked = verify_request(
        method="POST",
        target_uri=delivery.target_uri,
        headers=delivery.headers,
        body=delivery.body,
        anchors=anchors,
        at=now,
    )
    if not checked.ok:
        raise InboxRefusal(
            checked.reason, f"the HTTP signature does not hold: {checked.reason} {checked.detail}".strip()
        )
    date = parse_http_date(_header(delivery.headers, "date") or "")
    if date is None or abs(date - now) > max_skew:
        raise InboxRefusal("stale-date", f"Date is missing or more than {int(max_skew.total_seconds())} s from now")
    if _header(delivery.headers, "to") != our_code:
        raise InboxRefusal("wrong-recipient", f"the delivery is addressed to {_header(delivery.headers, 'to')!r}")
    if _header(delivery.headers, "exchange-protocol") != PROTOCOL:
        raise InboxRefusal("unsupported-protocol", f"this gateway speaks Exchange-Protocol {PROTOCOL}")
    try:
        message_id = uuid.UUID(_header(delivery.headers, "message-id") or "")
    except ValueError:
        raise InboxRefusal("bad-message-id", "Message-ID must be a UUID") from None
    document_type = _header(delivery.headers, "document-type") or ""
    return partner, message_id, document_type, checked.verification.as_dict()


def replay_or_conflict(session: Session, partner_code: str, message_id: uuid.UUID, body: bytes) -> Answer | None:
    """A Message-ID seen before: its stored receipt when the bytes are the same, 409 when they are not."""
    exchange = session.execute(
        select(Exchange).where(
            col(Exchange.partner_code) == partner_code,
            col(Exchange.direction) == Direction.inbound,
            col(Exchange.message_id) == message_id,
        )
    ).scalar_one_or_none()
    if exchange is None:
        return None
    if exchange.original_sha256 != hashlib.sha256(body).hexdigest():
        raise MessageConflict(f"Message-ID {message_id} was delivered before with a different body")
    assert exchange.receipt_sha256 is not None
    blob = get_blob(session, exchange.receipt_sha256)
    if blob is None:
        raise NotFound("the stored receipt is missing")
    return Answer(blob.data, exchange.id, replayed=True)


def _findings(findings: Sequence[Finding]) -> list[ReceiptFinding]:
    return [
        ReceiptFinding(severity=f.severity, code=f.rule or f.area, message=f.message or f.area, line=f.line)
        for f in findings
    ]


@dataclass(frozen=True)
class Judgement:
    outcome: ReceiptOutcome
    findings: list[ReceiptFinding]
    format_id: str | None
    certificate_number: str | None
    certificate_country: str | None
    verification: Verification | None


def judge(
    engine: ValidationEngine,
    body: bytes,
    document_type: str,
    accepted: Sequence[str],
    trust: Any,
    now: datetime,
) -> Judgement:
    """The business outcome of a delivery that passed the transport checks (CPU-bound, no database)."""

    def rejected(code: str, message: str, format_id: str | None = None) -> Judgement:
        finding = ReceiptFinding(severity="error", code=code, message=message)
        return Judgement(ReceiptOutcome.REJECTED, [finding], format_id, None, None, None)

    if engine.catalog.get(document_type) is None or (accepted and document_type not in accepted):
        return rejected("document-type", f"this gateway does not accept {document_type!r} documents")
    # A body the hardened parser refuses (DOCTYPE, depth, size, not well-formed) is not answered with a receipt:
    # the DocumentError propagates as a 4xx problem and the caller records the refusal.
    try:
        verification = verify_document(engine, trust, body, document_type, now)
    except ProblemError as exc:  # e.g. a format that carries no signature the gateway verifies
        return rejected("document", exc.detail, document_type)
    result = verification.result
    if not result.ok:
        failed = next(c for c in (result.integrity, result.trust, result.validity) if c.status.value != "VALID")
        return Judgement(
            ReceiptOutcome.REJECTED,
            [
                ReceiptFinding(
                    severity="error", code=f"signature:{failed.reason}", message=failed.detail or failed.reason
                )
            ],
            document_type,
            None,
            None,
            verification,
        )
    report = verification.report
    assert report is not None
    assert result.signed_xml is not None
    number = country = None
    if document_type in ADAPTERS:
        try:
            certificate = ADAPTERS[document_type].parse(_signed_content(engine, body, result.signed_xml)).certificate
            number, country = certificate.number, certificate.issuing_country
        except AdapterError:
            pass
    errors = [f for f in report.findings if f.severity == "error"]
    warnings = [f for f in report.findings if f.severity == "warning"]
    if not report.valid or errors:
        outcome = ReceiptOutcome.REJECTED
    elif warnings:
        outcome = ReceiptOutcome.ACCEPTED_WITH_WARNINGS
    else:
        outcome = ReceiptOutcome.ACCEPTED
    return Judgement(outcome, _findings(errors + warnings), document_type, number, country, verification)


def _signed_content(engine: ValidationEngine, body: bytes, signed: bytes) -> bytes:
    # XML: only the bytes the signature covers are read. JSON: the JWS covers the canonical form of the envelope's
    # document, which the verifier has just checked, so that document is what is read.
    if body.lstrip()[:1] == b"{":
        envelope = parse_json(body, engine.limits)
        return json.dumps(envelope["document"], ensure_ascii=False).encode("utf-8")
    return signed


def record_refusal(
    session: Session, partner_code: str, message_id: uuid.UUID, body: bytes, error: DocumentError
) -> None:
    """An authenticated delivery whose body the parser refused: an audit entry, nothing stored as received."""
    record(
        session,
        actor=Actor("partner", partner_code),
        action="inbox.refused",
        outcome=error.code,
        partner=partner_code,
        detail={
            "message_id": str(message_id),
            "sha256": hashlib.sha256(body).hexdigest(),
            "bytes": len(body),
            "reason": error.message[:500],
        },
    )


def build_receipt(
    judgement: Judgement,
    our_code: str,
    partner_code: str,
    message_id: uuid.UUID,
    body: bytes,
    key: SigningKey,
    now: datetime,
) -> bytes:
    receipt = Receipt(
        receipt_id=uuid.uuid4(),
        issued_at=now,
        sender=our_code,
        receiver=partner_code,
        outcome=judgement.outcome,
        message_id=message_id,
        certificate_number=judgement.certificate_number,
        document_type=judgement.format_id or "unknown",
        received_sha256=hashlib.sha256(body).hexdigest(),
        findings=tuple(judgement.findings),
    )
    return sign_xml(render_receipt(receipt), key, SignaturePlacement.UBL_EXTENSION)


def store_inbound(
    session: Session,
    *,
    partner_code: str,
    message_id: uuid.UUID,
    body: bytes,
    media_type: str,
    judgement: Judgement,
    transport: dict[str, Any],
    receipt: bytes,
    now: datetime,
) -> Answer:
    """One transaction: the received bytes, the receipt, the exchange in its final state, the audit entry. A
    concurrent delivery of the same Message-ID loses on the unique constraint and is answered from the winner."""
    original = put_blob(session, body, media_type)
    receipt_digest = put_blob(session, receipt, "application/xml")
    state = _OUTCOME_STATES[judgement.outcome]
    verification = judgement.verification
    exchange = Exchange(
        direction=Direction.inbound,
        state=state,
        partner_code=partner_code,
        message_id=message_id,
        document_type=judgement.format_id,
        source_format=judgement.format_id,
        certificate_number=judgement.certificate_number,
        certificate_country=judgement.certificate_country,
        original_sha256=original,
        receipt_sha256=receipt_digest,
        validation=verification.report.model_dump(mode="json") if verification and verification.report else None,
        signature=verification.result.as_dict() if verification is not None else None,
        transport=transport,
        receipt={
            "outcome": judgement.outcome,
            "findings": [f.model_dump(mode="json") for f in judgement.findings],
        },
        created_at=now,
        updated_at=now,
    )
    session.add(exchange)
    try:
        session.flush()
    except IntegrityError:
        session.rollback()
        raise
    record(
        session,
        actor=Actor("partner", partner_code),
        action="inbox.received",
        outcome=state,
        exchange_id=exchange.id,
        partner=partner_code,
        certificate=judgement.certificate_number,
        documents={"original": original, "receipt": receipt_digest},
        starts_exchange=True,
        detail={"message_id": str(message_id), "format": judgement.format_id, "findings": len(judgement.findings)},
    )
    return Answer(receipt, exchange.id, replayed=False)
