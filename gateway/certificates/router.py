"""HTTP surface of the certificate registry: the status service and withdrawal."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Depends, Path, Request
from sqlalchemy import select
from sqlmodel import Session, col
from starlette.concurrency import run_in_threadpool

from gateway.auth.models import Role
from gateway.auth.service import Identity
from gateway.certificates.models import Certificate, CertificateEvent
from gateway.certificates.schemas import (
    CertificateStatusOut,
    CertificateVersion,
    ExchangeRef,
    HistoryEvent,
    NoticeRef,
    WithdrawOut,
    WithdrawRequest,
)
from gateway.certificates.service import versions, withdraw
from gateway.db import unit_of_work, utcnow
from gateway.deps import DbEngineDep, SettingsDep, allow
from gateway.documents.service import current_key
from gateway.errors import PROBLEM_JSON, NotFound
from gateway.exchanges.models import Exchange
from gateway.exchanges.service import notify_recipients, visible
from gateway.inputs import STORABLE_TEXT

router = APIRouter(prefix="/v1", tags=["certificates"])

_PROBLEM = {"content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}}}
CountryPath = Annotated[str, Path(pattern=r"^[A-Z]{2}$", description="issuing country, ISO 3166-1 alpha-2")]
NumberPath = Annotated[str, Path(min_length=1, max_length=128, pattern=STORABLE_TEXT, description="certificate number")]


def _version(session: Session, certificate: Certificate, identity: Identity) -> CertificateVersion:
    exchanges = list(
        session.execute(
            select(Exchange)
            .where(col(Exchange.certificate_id) == certificate.id, visible(identity))
            .order_by(col(Exchange.created_at))
        ).scalars()
    )
    events = session.execute(
        select(CertificateEvent)
        .where(col(CertificateEvent.certificate_id) == certificate.id)
        .order_by(col(CertificateEvent.at), col(CertificateEvent.event))
    ).scalars()
    own = identity.partner_code if identity.role is Role.partner else None
    return CertificateVersion(
        version=certificate.version,
        status=certificate.status,
        status_at=certificate.status_at,
        status_reason=certificate.status_reason,
        sha256=certificate.sha256,
        origin=certificate.origin,
        received_from=certificate.partner_code,
        replaces=certificate.replaces_number,
        replaced_by=certificate.replaced_by_number,
        registered_at=certificate.created_at,
        exchanges=[
            ExchangeRef(
                id=e.id, direction=e.direction, partner=e.partner_code, state=e.state, document_type=e.document_type
            )
            for e in exchanges
        ],
        # A partner sees the certificate's own events and those about itself, never which other partners got it.
        history=[
            HistoryEvent(at=e.at, event=e.event, partner=e.partner_code, exchange_id=e.exchange_id, detail=e.detail)
            for e in events
            if own is None or e.partner_code in (None, own)
        ],
    )


def _visible_versions(session: Session, country: str, number: str, identity: Identity) -> list[Certificate]:
    found = versions(session, country, number)
    if identity.role in (Role.admin, Role.auditor):
        return found
    # A platform sees certificates it submitted; a partner those exchanged with it. Others: 404, as if absent.
    return [
        c
        for c in found
        if session.execute(
            select(col(Exchange.id)).where(col(Exchange.certificate_id) == c.id, visible(identity)).limit(1)
        ).first()
        is not None
    ]


@router.get(
    "/certificates/{country}/{number}",
    operation_id="getCertificateStatus",
    response_model=CertificateStatusOut,
    responses={404: {"description": "no such certificate (or not one exchanged with the caller)", **_PROBLEM}},
)
def certificate_status(
    country: CountryPath,
    number: NumberPath,
    db: DbEngineDep,
    identity: Annotated[Identity, Depends(allow(Role.admin, Role.auditor, Role.platform, Role.partner))],
) -> CertificateStatusOut:
    """Is this the current certificate? Status, version, current digest and history, from what this gateway sent
    or received. A partner sees certificates exchanged with it; a platform its own submissions."""
    with unit_of_work(db) as session:
        found = _visible_versions(session, country, number, identity)
        if not found:
            raise NotFound(f"no certificate {country} {number}")
        rendered = [_version(session, c, identity) for c in found]
        return CertificateStatusOut(country=country, number=number, current=rendered[-1], versions=rendered)


@router.post(
    "/certificates/{country}/{number}/withdraw",
    operation_id="withdrawCertificate",
    status_code=202,
    response_model=WithdrawOut,
    responses={
        400: {"description": "the body is not UTF-8 text", **_PROBLEM},
        404: {"description": "no such certificate (version)", **_PROBLEM},
        409: {"description": "the certificate is already replaced or withdrawn", **_PROBLEM},
        503: {"description": "no signing key in force to sign the notices", **_PROBLEM},
    },
)
async def withdraw_certificate(
    request: Request,
    country: CountryPath,
    number: NumberPath,
    body: Annotated[WithdrawRequest, Body()],
    db: DbEngineDep,
    settings: SettingsDep,
    identity: Annotated[Identity, Depends(allow(Role.admin))],
) -> WithdrawOut:
    """Withdraw a current certificate: it is marked withdrawn, and every partner that received it is sent a signed
    UBL DocumentStatus notice (wire protocol v1, retried like any delivery, receipted)."""
    now = utcnow()
    key = current_key(request.app.state.keyring, now)

    def work() -> WithdrawOut:
        with unit_of_work(db, write=True) as session:
            certificate = withdraw(session, country, number, body.version, body.reason, identity.actor, now)
            notices = notify_recipients(
                session, certificate, our_code=settings.gateway_code, key=key, identity=identity, now=now
            )
            return WithdrawOut(
                certificate=_version(session, certificate, identity),
                notices=[NoticeRef(partner=n.partner_code, id=n.id) for n in notices],
            )

    answer = await run_in_threadpool(work)
    worker = request.app.state.worker
    if worker is not None:
        worker.notify()
    return answer
