"""The exchange workflow's database side: storing a submission or its rejection, state changes, queries.

Every state change goes with an audit entry in the same transaction (gateway.audit.log.record).
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, or_, select
from sqlmodel import Session, col

from adapters import NoticeStatus, StatusNotice, render_status_notice
from adapters.notices import STATUS_NOTICE_FORMAT as NOTICE_FORMAT
from gateway.audit.log import record
from gateway.audit.models import AuditEntry
from gateway.auth.models import Role
from gateway.auth.service import Identity
from gateway.certificates.models import Certificate, CertificateState, Origin
from gateway.certificates.service import Facts, note_exchange, register
from gateway.documents.blobs import put_blob
from gateway.errors import BadRequest, NotFound, ProblemError
from gateway.exchanges.models import DeliveryAttempt, DeliveryJob, Direction, Exchange, State
from gateway.exchanges.outbound import Prepared, Rejection
from gateway.inputs import in_utc
from signing.keys import SigningKey
from signing.xmldsig import SignaturePlacement, sign_xml

__all__ = [
    "ExchangeFilter",
    "get_exchange",
    "list_exchanges",
    "record_rejection",
    "requeue",
    "store_submission",
    "visible",
]


@dataclass(frozen=True)
class Stored:
    exchange: Exchange
    created: bool  # False: the same certificate document was sent to this partner before; that exchange is it
    certificate: Certificate | None
    replaced: Certificate | None = None  # the certificate this submission's certificate replaced, just now


def store_submission(
    session: Session,
    prepared: Prepared,
    partner_code: str,
    identity: Identity,
    now: datetime,
    *,
    detail: dict[str, Any] | None = None,
) -> Stored:
    """One transaction: the certificate's registry entry, blobs, the exchange (queued), its delivery job, and the
    audit entries. Raises DuplicateCertificate / ReplacementRefused (the caller records the rejection)."""
    certificate = replaced = None
    if prepared.certificate is not None:
        facts = Facts.of(prepared.certificate, prepared.original_sha256)
        registration = register(session, facts, origin=Origin.sent, partner=None, actor=identity.actor, now=now)
        certificate, replaced = registration.certificate, registration.replaced
        if not registration.created:
            earlier = sent_to(session, certificate.id, partner_code)
            if earlier is not None:
                return Stored(earlier, False, certificate)
    original = put_blob(session, prepared.original, prepared.original_media_type)
    sent = put_blob(session, prepared.sent, prepared.sent_media_type)
    exchange = Exchange(
        direction=Direction.outbound,
        state=State.queued,
        partner_code=partner_code,
        client_id=identity.client_id,
        document_type=prepared.document_type,
        source_format=prepared.source_format,
        sent_format=prepared.sent_format,
        certificate_number=prepared.certificate_number,
        certificate_country=prepared.certificate_country,
        certificate_id=certificate.id if certificate is not None else None,
        original_sha256=original,
        sent_sha256=sent,
        validation=prepared.report.model_dump(mode="json"),
        sent_validation=prepared.sent_report.model_dump(mode="json"),
        signature=prepared.signature,
        losses=prepared.losses,
        created_at=now,
        updated_at=now,
    )
    session.add(exchange)
    session.flush()
    session.add(DeliveryJob(exchange_id=exchange.id, run_after=now))
    record(
        session,
        actor=identity.actor,
        action="exchange.submitted",
        outcome=State.queued,
        exchange_id=exchange.id,
        partner=partner_code,
        certificate=prepared.certificate_number,
        documents={"original": original, "sent": sent},
        starts_exchange=True,
        detail={
            "source_format": prepared.source_format,
            "sent_format": prepared.sent_format,
            "losses": len(prepared.losses),
            "signing_key": prepared.signing_key_id,
            "issuer_signature": "verified" if prepared.signature is not None else "none",
            **(detail or {}),
        },
    )
    if certificate is not None:
        note_exchange(session, certificate, "sent", exchange.id, partner_code, now)
    return Stored(exchange, True, certificate, replaced)


def sent_to(session: Session, certificate_id: uuid.UUID, partner_code: str) -> Exchange | None:
    """The outbound exchange that carried this certificate to this partner (a rejected submission does not count)."""
    found: Exchange | None = session.execute(
        select(Exchange)
        .where(
            col(Exchange.certificate_id) == certificate_id,
            col(Exchange.partner_code) == partner_code,
            col(Exchange.direction) == Direction.outbound,
            col(Exchange.state) != State.rejected,
        )
        .order_by(col(Exchange.created_at))
        .limit(1)
    ).scalar()
    return found


def recipients(session: Session, certificate_id: uuid.UUID) -> list[str]:
    """Every partner the certificate was sent to (or is being sent to), in the order it was first sent."""
    rows = session.execute(
        select(col(Exchange.partner_code), col(Exchange.created_at))
        .where(
            col(Exchange.certificate_id) == certificate_id,
            col(Exchange.direction) == Direction.outbound,
            col(Exchange.state) != State.rejected,
            col(Exchange.sent_format) != NOTICE_FORMAT,
        )
        .order_by(col(Exchange.created_at))
    ).all()
    return list(dict.fromkeys(row[0] for row in rows))


def record_rejection(
    session: Session, rejection: Rejection, data: bytes, partner_code: str, identity: Identity, now: datetime
) -> Exchange:
    """A refused submission, recorded in its own transaction so that the request's rollback cannot erase it."""
    media_type = "application/json" if data.lstrip()[:1] in (b"{", b"[") else "application/xml"
    original = put_blob(session, data, media_type)
    exchange = Exchange(
        direction=Direction.outbound,
        state=State.rejected,
        partner_code=partner_code,
        client_id=identity.client_id,
        source_format=rejection.source_format,
        certificate_number=rejection.certificate_number,
        original_sha256=original,
        validation=rejection.report.model_dump(mode="json") if rejection.report is not None else None,
        signature=rejection.signature,
        losses=rejection.losses or None,
        last_error=f"{rejection.reason}: {rejection.detail}",
        created_at=now,
        updated_at=now,
    )
    session.add(exchange)
    session.flush()
    record(
        session,
        actor=identity.actor,
        action="exchange.rejected",
        outcome=State.rejected,
        exchange_id=exchange.id,
        partner=partner_code,
        certificate=rejection.certificate_number,
        documents={"original": original},
        detail={"reason": rejection.reason},
        starts_exchange=True,
    )
    return exchange


class NotRetryable(ProblemError):
    status, slug, title = 409, "not-retryable", "The exchange is not in a state that can be retried"


def requeue(session: Session, exchange_id: uuid.UUID, identity: Identity, now: datetime) -> Exchange:
    """An operator sends a failed exchange again (same Message-ID, so the partner never stores it twice)."""
    exchange = session.get(Exchange, exchange_id, with_for_update=True)
    if exchange is None or exchange.direction != Direction.outbound:
        raise NotFound(f"no outbound exchange {exchange_id}")
    if exchange.state != State.failed:
        raise NotRetryable(f"exchange {exchange_id} is {exchange.state}; only failed exchanges are requeued")
    exchange.state = State.queued
    exchange.updated_at = now
    session.add(DeliveryJob(exchange_id=exchange.id, run_after=now))
    record(
        session,
        actor=identity.actor,
        action="exchange.requeued",
        outcome=State.queued,
        exchange_id=exchange.id,
        partner=exchange.partner_code,
        certificate=exchange.certificate_number,
    )
    return exchange


# ----- queries ----------------------------------------------------------------------------------------------


def visible(identity: Identity) -> Any:
    """The exchanges a caller may see: admins and auditors all, a platform its own submissions, a partner those
    exchanged with it. Another caller's exchange is answered 404, as if absent."""
    if identity.role in (Role.admin, Role.auditor):
        return True
    if identity.role is Role.platform:
        return col(Exchange.client_id) == identity.client_id
    # A partner sees what it sent us and what we sent (or are sending) it; a submission refused here never left.
    return and_(
        col(Exchange.partner_code) == identity.partner_code,
        or_(col(Exchange.direction) == Direction.inbound, col(Exchange.state) != State.rejected),
    )


def get_exchange(session: Session, exchange_id: uuid.UUID, identity: Identity) -> Exchange:
    exchange: Exchange | None = session.execute(
        select(Exchange).where(col(Exchange.id) == exchange_id, visible(identity))
    ).scalar_one_or_none()
    if exchange is None:
        raise NotFound(f"no exchange {exchange_id}")
    return exchange


def attempts_of(session: Session, exchange_id: uuid.UUID) -> list[DeliveryAttempt]:
    return list(
        session.execute(
            select(DeliveryAttempt)
            .where(col(DeliveryAttempt.exchange_id) == exchange_id)
            .order_by(col(DeliveryAttempt.number))
        ).scalars()
    )


def history_of(session: Session, exchange_id: uuid.UUID) -> list[AuditEntry]:
    return list(
        session.execute(
            select(AuditEntry).where(col(AuditEntry.exchange_id) == exchange_id).order_by(col(AuditEntry.index))
        ).scalars()
    )


@dataclass(frozen=True)
class ExchangeFilter:
    partner: str | None = None
    direction: str | None = None
    state: str | None = None
    certificate_number: str | None = None
    since: datetime | None = None
    until: datetime | None = None


def encode_cursor(exchange: Exchange) -> str:
    raw = json.dumps([exchange.created_at.isoformat(), str(exchange.id)]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        created, ident = json.loads(raw)
        return in_utc(datetime.fromisoformat(created)), uuid.UUID(ident)
    except (binascii.Error, ValueError, TypeError, UnicodeDecodeError) as exc:
        raise BadRequest(f"cursor is not one this API returned: {exc}") from None


def list_exchanges(
    session: Session, identity: Identity, filters: ExchangeFilter, limit: int, cursor: str | None
) -> tuple[list[Exchange], str | None]:
    """Newest first, keyset-paginated on (created_at, id): stable under concurrent inserts, O(limit) per page."""
    query = select(Exchange).where(visible(identity))
    if filters.partner is not None:
        query = query.where(col(Exchange.partner_code) == filters.partner)
    if filters.direction is not None:
        query = query.where(col(Exchange.direction) == filters.direction)
    if filters.state is not None:
        query = query.where(col(Exchange.state) == filters.state)
    if filters.certificate_number is not None:
        query = query.where(col(Exchange.certificate_number) == filters.certificate_number)
    if filters.since is not None:
        query = query.where(col(Exchange.created_at) >= filters.since)
    if filters.until is not None:
        query = query.where(col(Exchange.created_at) < filters.until)
    if cursor is not None:
        created, ident = _decode_cursor(cursor)
        query = query.where(
            or_(
                col(Exchange.created_at) < created,
                and_(col(Exchange.created_at) == created, col(Exchange.id) < ident),
            )
        )
    query = query.order_by(col(Exchange.created_at).desc(), col(Exchange.id).desc()).limit(limit + 1)
    rows = list(session.execute(query).scalars())
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, encode_cursor(rows[-1]) if more and rows else None


def queue_status_notice(
    session: Session,
    certificate: Certificate,
    carried_by: Exchange,
    *,
    our_code: str,
    key: SigningKey,
    identity: Identity,
    now: datetime,
) -> Exchange:
    """A signed UBL DocumentStatus about ``certificate`` for the partner ``carried_by`` took it to, queued for
    delivery like any exchange. The notice names the digest of exactly what that partner received."""
    assert carried_by.sent_sha256 is not None
    notice = StatusNotice(
        notice_id=uuid.uuid4(),
        issued_at=now,
        sender=our_code,
        receiver=carried_by.partner_code,
        certificate_country=certificate.issuing_country,
        certificate_number=certificate.number,
        certificate_version=certificate.version,
        status=NoticeStatus.WITHDRAWN if certificate.status == CertificateState.withdrawn else NoticeStatus.REPLACED,
        reason=certificate.status_reason or certificate.status,
        replaced_by=certificate.replaced_by_number,
        certificate_sha256=carried_by.sent_sha256,
    )
    signed = sign_xml(render_status_notice(notice), key, SignaturePlacement.UBL_EXTENSION)
    digest = put_blob(session, signed, "application/xml")
    exchange = Exchange(
        direction=Direction.outbound,
        state=State.queued,
        partner_code=carried_by.partner_code,
        client_id=identity.client_id,
        document_type="DocumentStatus",
        source_format=NOTICE_FORMAT,
        sent_format=NOTICE_FORMAT,
        certificate_number=certificate.number,
        certificate_country=certificate.issuing_country,
        certificate_id=certificate.id,
        original_sha256=digest,
        sent_sha256=digest,
        created_at=now,
        updated_at=now,
    )
    session.add(exchange)
    session.flush()
    session.add(DeliveryJob(exchange_id=exchange.id, run_after=now))
    note_exchange(session, certificate, "notice-sent", exchange.id, carried_by.partner_code, now)
    record(
        session,
        actor=identity.actor,
        action="notice.submitted",
        outcome=State.queued,
        exchange_id=exchange.id,
        partner=carried_by.partner_code,
        certificate=certificate.number,
        documents={"sent": digest},
        starts_exchange=True,
        detail={"status": notice.status, "notice_id": str(notice.notice_id), "about_exchange": str(carried_by.id)},
    )
    return exchange


def notify_recipients(
    session: Session, certificate: Certificate, *, our_code: str, key: SigningKey, identity: Identity, now: datetime
) -> list[Exchange]:
    """One signed status notice about ``certificate`` (as it now stands) for every partner that received it."""
    notices = []
    for code in recipients(session, certificate.id):
        carried_by = sent_to(session, certificate.id, code)
        assert carried_by is not None  # recipients() lists the partners of such exchanges
        notices.append(
            queue_status_notice(
                session, certificate, carried_by, our_code=our_code, key=key, identity=identity, now=now
            )
        )
    return notices
