"""Registering certificates, replacing and withdrawing them, and answering for their status.

A certificate is (issuing country, number, version) with the SHA-256 of its document. The same document again is the
same certificate (nothing new is stored); another document under the same number and version is refused. A
certificate whose canonical status is ``replacement`` names the number it replaces: the current version of that
number becomes ``replaced`` when the replacement is registered. Withdrawal is an operator's act on a current
certificate. Every change is a history row and an audit entry, in the caller's transaction.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlmodel import Session, col

from adapters import CertificateOfOrigin
from adapters.model import CertificateStatus
from gateway.audit.log import Actor, record
from gateway.certificates.models import Certificate, CertificateEvent, CertificateState, Origin
from gateway.errors import NotFound, ProblemError, Unprocessable

__all__ = [
    "CertificateConflict",
    "DuplicateCertificate",
    "Facts",
    "ReplacementRefused",
    "apply_notice",
    "conflict_of",
    "find",
    "register",
    "withdraw",
]


class DuplicateCertificate(Unprocessable):
    slug = "duplicate-certificate"
    title = "Another document is registered under this certificate number and version"


class ReplacementRefused(Unprocessable):
    slug = "replacement-refused"
    title = "The certificate this one replaces cannot be replaced"


class CertificateConflict(ProblemError):
    status, slug, title = 409, "certificate-state", "The certificate is not in a state that allows this"


@dataclass(frozen=True)
class Facts:
    """What the registry needs of a certificate document."""

    country: str
    number: str
    version: int
    sha256: str
    replaces: str | None

    @classmethod
    def of(cls, certificate: CertificateOfOrigin, sha256: str) -> Facts:
        replaces = certificate.replaces if certificate.status is CertificateStatus.REPLACEMENT else None
        return cls(certificate.issuing_country, certificate.number, certificate.version, sha256, replaces)


def find(session: Session, country: str, number: str, version: int | None = None) -> Certificate | None:
    """A version of a certificate, or (no version given) its newest version."""
    query = select(Certificate).where(col(Certificate.issuing_country) == country, col(Certificate.number) == number)
    if version is not None:
        query = query.where(col(Certificate.version) == version)
    found: Certificate | None = session.execute(query.order_by(col(Certificate.version).desc()).limit(1)).scalar()
    return found


def versions(session: Session, country: str, number: str) -> list[Certificate]:
    query = select(Certificate).where(col(Certificate.issuing_country) == country, col(Certificate.number) == number)
    return list(session.execute(query.order_by(col(Certificate.version))).scalars())


def _replaced(session: Session, facts: Facts) -> Certificate | None:
    """The current certificate ``facts`` replaces; None when the gateway has never seen that number."""
    if facts.replaces is None:
        return None
    candidates = [
        c
        for c in versions(session, facts.country, facts.replaces)
        if (c.number, c.version) != (facts.number, facts.version)
    ]
    if not candidates:
        return None
    current = candidates[-1]
    if current.status == CertificateState.replaced and current.replaced_by_number == facts.number:
        return None  # already marked by the partner's notice, which may arrive before the replacement itself
    if current.status != CertificateState.issued:
        raise ReplacementRefused(
            f"certificate {facts.country} {facts.replaces} version {current.version} is already {current.status}"
            + (f" by {current.replaced_by_number}" if current.replaced_by_number else "")
        )
    return current


def _duplicate(facts: Facts, existing: Certificate | None) -> DuplicateCertificate | None:
    if existing is None or existing.sha256 == facts.sha256:
        return None
    return DuplicateCertificate(
        f"certificate {facts.country} {facts.number} version {facts.version} is registered with another document; "
        "a correction is a new version or a replacement certificate"
    )


def conflict_of(session: Session, facts: Facts) -> ProblemError | None:
    """Why ``facts`` could not be registered, without changing anything (None: it can be)."""
    existing = find(session, facts.country, facts.number, facts.version)
    duplicate = _duplicate(facts, existing)
    if duplicate is not None:
        return duplicate
    if existing is None:
        try:
            _replaced(session, facts)
        except ReplacementRefused as exc:
            return exc
    return None


def _event(
    session: Session,
    certificate: Certificate,
    event: str,
    now: datetime,
    *,
    exchange_id: uuid.UUID | None = None,
    partner: str | None = None,
    **detail: Any,
) -> None:
    session.add(
        CertificateEvent(
            certificate_id=certificate.id,
            at=now,
            event=event,
            exchange_id=exchange_id,
            partner_code=partner,
            detail={k: v for k, v in detail.items() if v is not None},
        )
    )


@dataclass(frozen=True)
class Registration:
    certificate: Certificate
    created: bool
    replaced: Certificate | None


def register(
    session: Session,
    facts: Facts,
    *,
    origin: Origin,
    partner: str | None,
    actor: Actor,
    now: datetime,
) -> Registration:
    """The registry entry for ``facts``: the existing one for the same document, or a new one (which marks the
    certificate it replaces). Raises DuplicateCertificate / ReplacementRefused, rolling the caller back."""
    existing = find(session, facts.country, facts.number, facts.version)
    duplicate = _duplicate(facts, existing)
    if duplicate is not None:
        raise duplicate
    if existing is not None:
        return Registration(existing, False, None)
    replaced = _replaced(session, facts)
    certificate = Certificate(
        issuing_country=facts.country,
        number=facts.number,
        version=facts.version,
        sha256=facts.sha256,
        origin=origin,
        partner_code=partner if origin is Origin.received else None,
        status=CertificateState.issued,
        status_at=now,
        replaces_number=facts.replaces,
        created_at=now,
    )
    session.add(certificate)
    session.flush()
    _event(session, certificate, "registered", now, partner=partner, origin=origin, replaces=facts.replaces)
    record(
        session,
        actor=actor,
        action="certificate.registered",
        outcome=CertificateState.issued,
        partner=partner,
        certificate=facts.number,
        documents={"certificate": facts.sha256},
        detail={"country": facts.country, "version": facts.version, "origin": origin, "replaces": facts.replaces},
    )
    if replaced is not None:
        _set_status(session, replaced, CertificateState.replaced, now, actor, replaced_by=certificate)
    return Registration(certificate, True, replaced)


def _set_status(
    session: Session,
    certificate: Certificate,
    status: CertificateState,
    now: datetime,
    actor: Actor,
    *,
    reason: str | None = None,
    replaced_by: Certificate | None = None,
    replaced_by_number: str | None = None,
    exchange_id: uuid.UUID | None = None,
    partner: str | None = None,
) -> None:
    certificate.status = status
    certificate.status_at = now
    certificate.status_reason = reason
    if replaced_by is not None:
        certificate.replaced_by = replaced_by.id
        certificate.replaced_by_number = replaced_by.number
    elif replaced_by_number is not None:
        certificate.replaced_by_number = replaced_by_number
    session.add(certificate)
    _event(
        session,
        certificate,
        status,
        now,
        exchange_id=exchange_id,
        partner=partner,
        reason=reason,
        replaced_by=certificate.replaced_by_number,
    )
    record(
        session,
        actor=actor,
        action=f"certificate.{status}",
        outcome=status,
        exchange_id=exchange_id,
        partner=partner,
        certificate=certificate.number,
        documents={"certificate": certificate.sha256},
        detail={
            "country": certificate.issuing_country,
            "version": certificate.version,
            "reason": reason,
            "replaced_by": certificate.replaced_by_number,
        },
    )


def withdraw(
    session: Session, country: str, number: str, version: int | None, reason: str, actor: Actor, now: datetime
) -> Certificate:
    certificate = find(session, country, number, version)
    if certificate is None:
        which = f" version {version}" if version is not None else ""
        raise NotFound(f"no certificate {country} {number}{which}")
    if certificate.status != CertificateState.issued:
        raise CertificateConflict(
            f"certificate {country} {number} version {certificate.version} is {certificate.status}; "
            "only a current (issued) certificate is withdrawn"
        )
    _set_status(session, certificate, CertificateState.withdrawn, now, actor, reason=reason)
    return certificate


def note_exchange(
    session: Session, certificate: Certificate, event: str, exchange_id: uuid.UUID, partner: str, now: datetime
) -> None:
    """A certificate (or a notice about it) was sent to, or received from, a partner."""
    _event(session, certificate, event, now, exchange_id=exchange_id, partner=partner)


def apply_notice(
    session: Session,
    certificate: Certificate,
    status: CertificateState,
    reason: str,
    replaced_by: str | None,
    partner: str,
    exchange_id: uuid.UUID,
    now: datetime,
) -> None:
    """A partner's status notice about a certificate it sent us. The same status again changes nothing."""
    if certificate.status == status:
        return
    _set_status(
        session,
        certificate,
        status,
        now,
        Actor("partner", partner),
        reason=reason,
        replaced_by_number=replaced_by,
        exchange_id=exchange_id,
        partner=partner,
    )
