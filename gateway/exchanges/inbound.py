"""Receiving a delivery from a partner gateway (wire protocol v1, DESIGN §4) and answering with a signed receipt.

Transport checks first, each a refusal without a receipt (the sender's delivery is not a document we hold):
the ``From`` partner is known, the RFC 9421 signature and ``Content-Digest`` verify with **that partner's**
anchors, the TLS client certificate matches the partner's binding when it has one (ADR 0015), ``Date`` is within
the allowed skew, ``To`` is this gateway, ``Exchange-Protocol`` is 1 and ``Message-ID`` a UUID. A (partner,
Message-ID) seen before is answered from the record: the same bytes get the stored receipt, other bytes 409.
Everything after that is a business outcome answered with a signed UBL ApplicationResponse and recorded: a document
type we do not accept, a document signature that does not verify with the partner's anchors, or an invalid document
is *rejected*; warnings only make it *accepted with warnings*.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

import structlog
from cryptography import x509
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col

from adapters import (
    ADAPTERS,
    AdapterError,
    CertificateOfOrigin,
    NoticeStatus,
    Receipt,
    ReceiptFinding,
    ReceiptOutcome,
    StatusNotice,
    parse_status_notice,
    render_receipt,
)
from adapters.notices import STATUS_NOTICE_FORMAT
from gateway.audit.log import Actor, record
from gateway.auth.client_certificates import check_binding
from gateway.certificates.models import CertificateState, Origin
from gateway.certificates.service import Facts, apply_notice, conflict_of, find, note_exchange, register
from gateway.delivery.wire import PROTOCOL, parse_http_date
from gateway.documents.blobs import get_blob, put_blob
from gateway.documents.service import Verification, partner_trust, verify_document
from gateway.errors import NotFound, ProblemError, Unauthorized
from gateway.exchanges.models import Direction, Exchange, State
from gateway.partners.models import Partner
from schemas.engine import ValidationEngine
from schemas.errors import UnsupportedFormat
from schemas.report import Finding
from signing._result import CheckStatus
from signing.httpsig import verify_request
from signing.keys import SigningKey
from signing.trust import TrustAnchors
from signing.xmldsig import SignaturePlacement, sign_xml

log = structlog.get_logger("gateway.inbox")

__all__ = [
    "Answer",
    "Authenticated",
    "Delivery",
    "InboxRefusal",
    "Judgement",
    "MessageConflict",
    "build_receipt",
    "check_registry",
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

    def __init__(self, reason: str, detail: str, *, internal: str | None = None, partner: str | None = None) -> None:
        super().__init__(detail, reason=reason)
        self.reason = reason
        # Set once the signature held: the refusal of an authenticated partner goes into the audit log.
        self.partner = partner
        # What metrics and logs record; the caller sees only ``reason`` and ``detail``.
        self.internal = internal or reason
        self.headers = {}


# Before the signature holds, every refusal looks the same: an anonymous caller must not learn which partner codes
# exist, which anchors a partner has, or which check failed (the specific reason is counted and logged).
_NOT_AUTHENTICATED = ("not-authenticated", "the delivery is not signed by a partner of this gateway")


class MessageConflict(ProblemError):
    status, slug, title = 409, "message-id-conflict", "This Message-ID was delivered before with other content"


@dataclass(frozen=True)
class Delivery:
    """What the HTTP layer hands over: the raw request as received."""

    headers: Sequence[tuple[str, str]]
    body: bytes
    target_uri: str
    client_certificate: x509.Certificate | None = None  # TLS, or a trusted proxy's header


@dataclass(frozen=True)
class Answer:
    receipt: bytes
    exchange_id: uuid.UUID
    replayed: bool


def _header(headers: Sequence[tuple[str, str]], name: str) -> str | None:
    values = [v for k, v in headers if k.lower() == name]
    return values[0].strip() if len(values) == 1 else None


@dataclass(frozen=True)
class Authenticated:
    """A delivery that passed the transport checks."""

    partner: str
    message_id: uuid.UUID
    document_type: str
    transport: dict[str, Any]  # the HTTP signature check, kept on the exchange
    trust: tuple[TrustAnchors, bool]  # the partner's anchors and compatibility mode, also for the document
    checkpoint: str | None = None  # its Audit-Checkpoint header (covered by the signature whenever present)


def check_transport(
    session: Session, delivery: Delivery, our_code: str, now: datetime, max_skew: timedelta
) -> Authenticated:
    """The transport checks, with the sending partner's anchors (read once, for the document signature too)."""
    sender = _header(delivery.headers, "from")
    partner = session.get(Partner, sender) if sender else None
    if partner is None:
        raise InboxRefusal(*_NOT_AUTHENTICATED, internal="unknown-sender")
    trust = partner_trust(session, partner.code, now)
    anchors = trust[0]
    checked = verify_request(
        method="POST",
        target_uri=delivery.target_uri,
        headers=delivery.headers,
        body=delivery.body,
        anchors=anchors,
        at=now,
    )
    if not checked.ok:
        log.info("delivery refused", sender=partner.code, reason=checked.reason, detail=checked.detail[:300])
        raise InboxRefusal(*_NOT_AUTHENTICATED, internal=checked.reason)
    # After the signature: the sender is known, so a certificate refusal is recorded like the refusals below.
    binding = check_binding(partner, delivery.client_certificate, now)
    if binding.status is not CheckStatus.VALID:
        raise InboxRefusal(binding.reason, binding.detail, partner=partner.code)
    date = parse_http_date(_header(delivery.headers, "date") or "")
    if date is None or abs(date - now) > max_skew:
        raise InboxRefusal(
            "stale-date",
            f"Date is missing or more than {int(max_skew.total_seconds())} s from now",
            partner=partner.code,
        )
    if _header(delivery.headers, "to") != our_code:
        raise InboxRefusal(
            "wrong-recipient", f"the delivery is addressed to {_header(delivery.headers, 'to')!r}", partner=partner.code
        )
    if _header(delivery.headers, "exchange-protocol") != PROTOCOL:
        raise InboxRefusal(
            "unsupported-protocol", f"this gateway speaks Exchange-Protocol {PROTOCOL}", partner=partner.code
        )
    try:
        message_id = uuid.UUID(_header(delivery.headers, "message-id") or "")
    except ValueError:
        raise InboxRefusal("bad-message-id", "Message-ID must be a UUID", partner=partner.code) from None
    document_type = _header(delivery.headers, "document-type") or ""
    return Authenticated(
        partner.code,
        message_id,
        document_type,
        checked.verification.as_dict(),
        trust,
        _header(delivery.headers, "audit-checkpoint"),
    )


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
    document_name: str | None = None  # the document type (e.g. CertificateOfOrigin), from the format's pack
    certificate: CertificateOfOrigin | None = None  # a certificate of origin, read from the signed content
    notice: StatusNotice | None = None  # a status notice about a certificate the partner sent us

    def refused(self, code: str, message: str) -> Judgement:
        """The same delivery, rejected for a reason found after judging (the certificate registry)."""
        finding = ReceiptFinding(severity="error", code=code, message=message)
        return replace(self, outcome=ReceiptOutcome.REJECTED, findings=[*self.findings, finding])


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

    # Status notices are part of the protocol: accepted whatever document formats this gateway takes.
    protocol = document_type == STATUS_NOTICE_FORMAT
    if engine.catalog.get(document_type) is None or (accepted and document_type not in accepted and not protocol):
        return rejected("document-type", f"this gateway does not accept {document_type!r} documents")
    # A body the hardened parser refuses (DOCTYPE, depth, size, not well-formed) is not answered with a receipt:
    # the DocumentError propagates as a 4xx problem and the caller records the refusal.
    try:
        verification = verify_document(engine, trust, body, document_type, now)
    except UnsupportedFormat as exc:  # well formed, but not a document of the type the delivery names
        return rejected("document-type", exc.message, document_type)
    except ProblemError as exc:  # e.g. a format that carries no signature the gateway verifies
        return rejected("document", exc.detail, document_type)
    result = verification.result
    failed = result.failure
    if failed is not None:
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
    report, content = verification.report, verification.content
    assert report is not None
    assert content is not None
    number = country = None
    certificate: CertificateOfOrigin | None = None
    notice: StatusNotice | None = None
    if document_type in ADAPTERS:
        try:
            certificate = ADAPTERS[document_type].parse(content).certificate
            number, country = certificate.number, certificate.issuing_country
        except AdapterError:
            pass
    elif protocol and report.valid:
        try:
            notice = parse_status_notice(content)
            number, country = notice.certificate_number, notice.certificate_country
        except AdapterError as exc:
            return rejected("notice", str(exc), document_type)
    errors = [f for f in report.findings if f.severity == "error"]
    warnings = [f for f in report.findings if f.severity == "warning"]
    if not report.valid or errors:
        outcome = ReceiptOutcome.REJECTED
    elif warnings:
        outcome = ReceiptOutcome.ACCEPTED_WITH_WARNINGS
    else:
        outcome = ReceiptOutcome.ACCEPTED
    pack = engine.catalog.get(document_type)
    name = pack.document_types[0] if pack is not None and pack.document_types else None
    return Judgement(
        outcome, _findings(errors + warnings), document_type, number, country, verification, name, certificate, notice
    )


def check_registry(session: Session, judgement: Judgement, partner_code: str, received_sha256: str) -> Judgement:
    """Refuse what the certificate registry cannot take: another document under a registered number and version, a
    replacement of a certificate no longer current, a notice about a certificate this partner did not send us."""
    if judgement.outcome is ReceiptOutcome.REJECTED:
        return judgement
    if judgement.certificate is not None:
        problem = conflict_of(session, Facts.of(judgement.certificate, received_sha256))
        if problem is not None:
            return judgement.refused(problem.slug, problem.detail)
    notice = judgement.notice
    if notice is not None:
        known = find(session, notice.certificate_country, notice.certificate_number, notice.certificate_version)
        if known is None:
            return judgement.refused(
                "unknown-certificate",
                f"no certificate {notice.certificate_country} {notice.certificate_number} version "
                f"{notice.certificate_version} was received here",
            )
        if known.origin != Origin.received or known.partner_code != partner_code:
            return judgement.refused(
                "not-the-sender", f"certificate {notice.certificate_number} was not delivered here by {partner_code}"
            )
        if known.sha256 != notice.certificate_sha256:
            return judgement.refused(
                "other-document", "the notice names another document digest than the certificate received here"
            )
    return judgement


def record_refusal(
    session: Session, partner_code: str, message_id: str | None, body: bytes, code: str, reason: str
) -> None:
    """An authenticated delivery refused without a receipt (its body refused by the parser, a stale Date, another
    recipient, a Message-ID conflict): an audit entry, nothing stored as received."""
    record(
        session,
        actor=Actor("partner", partner_code),
        action="inbox.refused",
        outcome=code,
        partner=partner_code,
        detail={
            "message_id": message_id,
            "sha256": hashlib.sha256(body).hexdigest(),
            "bytes": len(body),
            "reason": reason[:500],
        },
    )


def _update_registry(
    session: Session, exchange: Exchange, judgement: Judgement, partner_code: str, original: str, now: datetime
) -> None:
    actor = Actor("partner", partner_code)
    if judgement.certificate is not None:
        facts = Facts.of(judgement.certificate, original)
        registration = register(session, facts, origin=Origin.received, partner=partner_code, actor=actor, now=now)
        exchange.certificate_id = registration.certificate.id
        note_exchange(session, registration.certificate, "received", exchange.id, partner_code, now)
    notice = judgement.notice
    if notice is not None:
        certificate = find(session, notice.certificate_country, notice.certificate_number, notice.certificate_version)
        assert certificate is not None  # check_registry ran before the receipt was signed
        exchange.certificate_id = certificate.id
        status = CertificateState.withdrawn if notice.status is NoticeStatus.WITHDRAWN else CertificateState.replaced
        apply_notice(session, certificate, status, notice.reason, notice.replaced_by, partner_code, exchange.id, now)
    session.add(exchange)


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
        document_type=judgement.document_name,
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
    if judgement.outcome is not ReceiptOutcome.REJECTED:
        _update_registry(session, exchange, judgement, partner_code, original, now)
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
