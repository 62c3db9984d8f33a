"""HTTP surface of exchanges: submit for a partner, the partner-facing inbox, queries and stored documents."""

from __future__ import annotations

import hashlib
import re
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, Path, Query, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy import or_, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col
from starlette.concurrency import run_in_threadpool

from adapters.model import CertificateStatus
from gateway.audit.witness import receive_checkpoint
from gateway.auth.client_certificates import presented_certificate
from gateway.auth.models import Role
from gateway.auth.service import Identity
from gateway.certificates.service import DuplicateCertificate, ReplacementRefused, find
from gateway.db import unit_of_work, utcnow
from gateway.delivery.wire import checkpoint_header
from gateway.deps import PUBLIC, DbEngineDep, MetricsDep, SettingsDep, ValidationEngineDep, allow
from gateway.documents.blobs import get_blob
from gateway.documents.intake import DOCUMENT_BODY, DOCUMENT_REFUSALS, document_work, read_document
from gateway.documents.service import current_key
from gateway.errors import PROBLEM_JSON, BadRequest, DocumentProblem, NotFound, ProblemError, problem_response
from gateway.exchanges import idempotency
from gateway.exchanges.inbound import (
    Answer,
    Delivery,
    InboxRefusal,
    MessageConflict,
    build_receipt,
    check_registry,
    check_transport,
    judge,
    record_refusal,
    replay_or_conflict,
    store_inbound,
)
from gateway.exchanges.models import Direction, Exchange, State
from gateway.exchanges.outbound import Prepared, Rejection, prepare_submission
from gateway.exchanges.schemas import (
    ExchangeAccepted,
    ExchangeDetail,
    ExchangeList,
    ExchangeSummary,
    ReplacementDelivery,
    links_for,
)
from gateway.exchanges.service import (
    ExchangeFilter,
    Stored,
    attempts_of,
    get_exchange,
    history_of,
    list_exchanges,
    notify_recipients,
    recipients,
    record_rejection,
    requeue,
    store_submission,
    visible,
)
from gateway.exchanges.trust import issuer_trust
from gateway.inputs import STORABLE_TEXT, time_window
from gateway.ops.metrics import GatewayMetrics
from gateway.partners.service import get_partner
from gateway.settings import Settings
from schemas.engine import ValidationEngine
from schemas.errors import DocumentError

router = APIRouter(prefix="/v1", tags=["exchanges"])

_PROBLEM = {"content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}}}
_IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")
DocumentKind = Literal["original", "sent", "receipt"]


@router.post(
    "/exchanges",
    operation_id="submitExchange",
    status_code=202,
    response_model=ExchangeAccepted,
    openapi_extra={"requestBody": DOCUMENT_BODY},
    responses={
        200: {
            "description": "this certificate document was sent to this partner before: that exchange (created false)"
        },
        202: {"description": "valid, translated, signed and queued for delivery (replayed for a used key)"},
        400: {"description": "malformed, refused construct, over a cap, unknown format", **_PROBLEM},
        404: {"description": "no such partner", **_PROBLEM},
        409: {"description": "a request with this Idempotency-Key is in progress", **_PROBLEM},
        413: {"description": "body over the size limit", **_PROBLEM},
        422: {
            "description": "rejected and recorded (invalid document, issuer signature, no common format, another "
            "document under a registered certificate number and version, a replacement of a certificate that is not "
            "current), or the Idempotency-Key was used for another request",
            **_PROBLEM,
        },
        503: {"description": "no signing key in force", **_PROBLEM},
        **DOCUMENT_REFUSALS,
    },
)
async def submit(
    request: Request,
    engine: ValidationEngineDep,
    db: DbEngineDep,
    settings: SettingsDep,
    metrics: MetricsDep,
    identity: Annotated[Identity, Depends(allow(Role.admin, Role.platform))],
    to: Annotated[str, Query(pattern=r"^[A-Z0-9]{2,16}$", description="the partner's connection code")],
    format: Annotated[str | None, Query(max_length=64, description="source format id; overrides detection")] = None,
    idempotency_key: Annotated[
        str | None,
        Header(description="makes a retried submission safe: the same key and body replay the first answer"),
    ] = None,
) -> Response:
    """Submit a document for a partner: validated, translated into a format the partner accepts, signed, queued."""
    body = await read_document(request)
    if idempotency_key is not None and not _IDEMPOTENCY_KEY.match(idempotency_key):
        raise BadRequest("Idempotency-Key is 1 to 255 visible ASCII characters")
    submission = _Submission(
        request, engine, db, settings, metrics, identity, to, format, idempotency_key, body, utcnow()
    )
    # Everything after reading the body blocks (database, XSD, signing): one thread-pool call keeps it all off the
    # event loop, so a slow commit never stalls other requests.
    return await document_work(request, submission.run)


@dataclass
class _Submission:
    request: Request
    engine: ValidationEngine
    db: Engine
    settings: Settings
    metrics: GatewayMetrics
    identity: Identity
    partner: str
    format_id: str | None
    key: str | None
    body: bytes
    now: datetime
    reservation: idempotency.Reservation | None = None

    def run(self) -> Response:
        with unit_of_work(self.db) as session:
            partner_formats = list(get_partner(session, self.partner).formats)
        if self.key is not None:
            replay = self._reserve()
            if replay is not None:
                return Response(replay.body, status_code=replay.status, media_type=replay.media_type, headers=_REPLAYED)
        try:
            try:
                prepared = self._prepare(partner_formats)
                # A replacement goes to every partner that received the certificate it replaces (issue 6).
                also = [(code, self._prepare(formats)) for code, formats in self._replacement_recipients(prepared)]
            except DocumentError as exc:
                return self._rejected(Rejection(exc.code, exc.message, status=DocumentProblem(exc).status))
            except Rejection as rejection:
                return self._rejected(rejection)
            try:
                with unit_of_work(self.db, write=True) as session:
                    stored = store_submission(session, prepared, self.partner, self.identity, self.now)
                    fanout = [
                        store_submission(
                            session, extra, code, self.identity, self.now, detail={"replacement_for_partner": code}
                        )
                        for code, extra in also
                    ]
                    exchange = stored.exchange
                    notices = self._replacement_notices(session, stored)
                    accepted = ExchangeAccepted(
                        id=exchange.id,
                        state=exchange.state,
                        partner=self.partner,
                        message_id=exchange.message_id,
                        sent_format=exchange.sent_format or prepared.sent_format,
                        certificate_number=prepared.certificate_number,
                        losses=len(exchange.losses or []),
                        links=links_for(exchange),
                        created=stored.created,
                        replacement_deliveries=[
                            ReplacementDelivery(partner=f.exchange.partner_code, id=f.exchange.id) for f in fanout
                        ],
                        replacement_notices=[ReplacementDelivery(partner=n.partner_code, id=n.id) for n in notices],
                    )
                    status = 202 if stored.created else 200
                    payload = accepted.model_dump_json().encode()
                    self._complete(session, status, payload, "application/json", exchange.id)
            except (DuplicateCertificate, ReplacementRefused) as refused:
                number = prepared.certificate_number
                return self._rejected(Rejection(refused.slug, refused.detail, certificate_number=number))
        except BaseException:
            if self.key is not None and self.reservation is not None:
                with unit_of_work(self.db, write=True) as session:
                    idempotency.release(session, self.identity.client_id, self.key, self.reservation)
            raise
        self.metrics.submissions.labels(outcome="queued" if stored.created else "already-sent").inc()
        worker = self.request.app.state.worker
        if worker is not None:
            worker.notify()
        headers = {"Location": accepted.links.self}
        return Response(payload, status_code=status, media_type="application/json", headers=headers)

    def _prepare(self, partner_formats: list[str]) -> Prepared:
        keyring = self.request.app.state.keyring
        return prepare_submission(
            self.engine,
            self.body,
            format_id=self.format_id,
            partner_formats=partner_formats,
            issuer_trust=issuer_trust(self.settings),
            key=lambda: current_key(keyring, self.now),
            at=self.now,
        )

    def _replacement_notices(self, session: Session, stored: Stored) -> list[Exchange]:
        """A signed "replaced" notice about the old certificate to every partner that received it: what travels
        whatever the partner's format (UN/CEFACT JSON, say, has no element naming a replaced certificate)."""
        replaced = stored.replaced
        if replaced is None:
            return []
        return notify_recipients(
            session,
            replaced,
            our_code=self.settings.gateway_code,
            key=current_key(self.request.app.state.keyring, self.now),
            identity=self.identity,
            now=self.now,
        )

    def _replacement_recipients(self, prepared: Prepared) -> list[tuple[str, list[str]]]:
        """Partners (other than this submission's) that received the certificate ``prepared`` replaces."""
        certificate = prepared.certificate
        if certificate is None or certificate.status is not CertificateStatus.REPLACEMENT or not certificate.replaces:
            return []
        with unit_of_work(self.db) as session:
            replaced = find(session, certificate.issuing_country, certificate.replaces)
            if replaced is None:
                return []
            codes = [code for code in recipients(session, replaced.id) if code != self.partner]
            return [(code, list(get_partner(session, code).formats)) for code in codes]

    def _reserve(self) -> idempotency.Replay | None:
        assert self.key is not None
        print_ = idempotency.fingerprint(self.partner.encode(), (self.format_id or "").encode(), self.body)
        with unit_of_work(self.db, write=True) as session:
            held = idempotency.reserve(
                session,
                self.identity.client_id,
                self.key,
                print_,
                self.now,
                timedelta(seconds=self.settings.idempotency_lock_seconds),
                timedelta(hours=self.settings.idempotency_retention_hours),
            )
        if isinstance(held, idempotency.Replay):
            return held
        self.reservation = held
        return None

    def _complete(self, session: Session, status: int, payload: bytes, media_type: str, exchange_id: uuid.UUID) -> None:
        if self.key is not None and self.reservation is not None:
            idempotency.complete(
                session, self.identity.client_id, self.key, self.reservation, status, payload, media_type, exchange_id
            )

    def _rejected(self, rejection: Rejection) -> JSONResponse:
        """Record the rejection in its own transaction and answer with it (stored for replay under the key)."""
        with unit_of_work(self.db, write=True) as session:
            exchange = record_rejection(session, rejection, self.body, self.partner, self.identity, utcnow())
            extensions: dict[str, Any] = {"reason": rejection.reason, "exchange_id": str(exchange.id)}
            if rejection.report is not None:
                extensions["report"] = rejection.report.model_dump(mode="json")
            if rejection.signature is not None:
                extensions["signature"] = rejection.signature
            if rejection.losses:
                extensions["losses"] = rejection.losses
            response = problem_response(
                self.request,
                status=rejection.status,
                slug=rejection.reason,
                title="The submission is rejected",
                detail=rejection.detail,
                **extensions,
            )
            self._complete(session, rejection.status, bytes(response.body), PROBLEM_JSON, exchange.id)
        self.metrics.submissions.labels(outcome=rejection.reason).inc()
        return response


_REPLAYED = {"Idempotent-Replayed": "true"}


@router.post(
    "/inbox",
    operation_id="receiveDelivery",
    openapi_extra={
        "requestBody": DOCUMENT_BODY,
        "parameters": [
            {"name": name, "in": "header", "required": True, "schema": {"type": "string"}}
            for name in (
                "Message-ID",
                "Date",
                "From",
                "To",
                "Document-Type",
                "Exchange-Protocol",
                "Content-Digest",
                "Signer-Certificate",
                "Signature-Input",
                "Signature",
            )
        ]
        + [
            {
                "name": "Audit-Checkpoint",
                "in": "header",
                "required": False,
                "description": "the sender's latest signed audit checkpoint (C2SP signed note) as an RFC 8941 byte "
                "sequence; covered by the HTTP signature when present",
                "schema": {"type": "string"},
            }
        ],
    },
    response_class=Response,
    responses={
        200: {
            "description": "a signed UBL ApplicationResponse: accepted, accepted with warnings, or rejected with the "
            "findings; a repeated delivery gets the stored receipt (Receipt-Replayed: true)",
            "content": {"application/xml": {}},
            "headers": {
                "Audit-Checkpoint": {
                    "description": "our latest signed audit checkpoint (C2SP signed note, RFC 8941 byte sequence)",
                    "schema": {"type": "string"},
                }
            },
        },
        400: {
            "description": "the body is refused before it is judged (malformed, a forbidden construct, over a "
            "structural cap, not what its Content-Type says): no receipt",
            **_PROBLEM,
        },
        401: {
            "description": "refused at the transport level (signature, client certificate, Date, To, protocol)",
            **_PROBLEM,
        },
        409: {"description": "this Message-ID was delivered before with another body", **_PROBLEM},
        413: {"description": "body over the size limit", **_PROBLEM},
        503: {"description": "no signing key in force to sign the receipt", **_PROBLEM},
        **DOCUMENT_REFUSALS,
    },
)
async def inbox(
    request: Request,
    engine: ValidationEngineDep,
    db: DbEngineDep,
    settings: SettingsDep,
    metrics: MetricsDep,
    _public: Annotated[None, Depends(PUBLIC)],
) -> Response:
    """Wire protocol v1: a partner gateway delivers a signed document; the answer is our signed receipt.

    Authenticated by the HTTP message signature (RFC 9421) with the sending partner's trust anchors, not by an
    API key; a partner bound to client certificates must also present one of them (TLS, or a trusted proxy)."""
    body = await read_document(request)
    delivery = Delivery(
        headers=list(request.headers.items()),
        body=body,
        target_uri=settings.public_inbox_url,
        client_certificate=presented_certificate(request),
    )
    now = utcnow()
    keyring = request.app.state.keyring

    def refused(partner_code: str, message_id: str | None, code: str, reason: str) -> None:
        with unit_of_work(db, write=True) as session:
            record_refusal(session, partner_code, message_id, body, code, reason)

    def work() -> Answer:
        try:
            with unit_of_work(db) as session:
                sender = check_transport(
                    session, delivery, settings.gateway_code, now, timedelta(seconds=settings.inbox_max_skew_seconds)
                )
                replay = replay_or_conflict(session, sender.partner, sender.message_id, body)
        except InboxRefusal as refusal:
            if refusal.partner is not None:
                refused(refusal.partner, request.headers.get("message-id"), refusal.reason, refusal.detail)
            raise
        except MessageConflict as conflict:
            refused(sender.partner, str(sender.message_id), conflict.slug, conflict.detail)
            raise
        if replay is not None:
            return replay
        partner, message_id = sender.partner, sender.message_id
        try:
            judgement = judge(engine, body, sender.document_type, settings.accepted_formats, lambda: sender.trust, now)
        except DocumentError as error:
            refused(partner, str(message_id), error.code, error.message)
            raise
        with unit_of_work(db) as session:
            judgement = check_registry(session, judgement, partner, hashlib.sha256(body).hexdigest())
        # Only an authenticated delivery learns whether we can sign a receipt right now (503 otherwise).
        key = current_key(keyring, now)
        receipt = build_receipt(judgement, settings.gateway_code, partner, message_id, body, key, now)
        media_type = "application/json" if body.lstrip()[:1] == b"{" else "application/xml"
        try:
            with unit_of_work(db, write=True) as session:
                receive_checkpoint(session, partner, sender.checkpoint, now)
                return store_inbound(
                    session,
                    partner_code=partner,
                    message_id=message_id,
                    body=body,
                    media_type=media_type,
                    judgement=judgement,
                    transport=sender.transport,
                    receipt=receipt,
                    now=now,
                )
        except IntegrityError:
            # The same Message-ID arrived concurrently and the other request committed first.
            with unit_of_work(db) as session:
                again = replay_or_conflict(session, partner, message_id, body)
            if again is None:
                raise
            return again

    try:
        answer = await document_work(request, work)
    except InboxRefusal as refusal:
        metrics.inbox.labels(outcome=refusal.internal).inc()
        raise
    except DocumentError as error:
        metrics.inbox.labels(outcome=error.code).inc()
        raise
    except ProblemError as problem:
        metrics.inbox.labels(outcome=problem.slug).inc()
        raise
    metrics.inbox.labels(outcome="replayed" if answer.replayed else "received").inc()
    headers = {"Exchange-Id": str(answer.exchange_id)}
    if answer.replayed:
        headers["Receipt-Replayed"] = "true"
    note = await run_in_threadpool(request.app.state.published_checkpoint.note)
    if note is not None:
        headers["Audit-Checkpoint"] = checkpoint_header(note)
    return Response(answer.receipt, media_type="application/xml", headers=headers)


# ----- queries ------------------------------------------------------------------------------------------------

ReaderDep = Annotated[Identity, Depends(allow(Role.admin, Role.auditor, Role.platform, Role.partner))]


@router.get(
    "/exchanges",
    operation_id="listExchanges",
    response_model=ExchangeList,
    responses={
        400: {"description": "since or until without a zone or out of range, or a cursor not from this API", **_PROBLEM}
    },
)
def exchanges(
    db: DbEngineDep,
    identity: ReaderDep,
    partner: Annotated[str | None, Query(pattern=r"^[A-Z0-9]{2,16}$")] = None,
    direction: Annotated[Direction | None, Query()] = None,
    state: Annotated[State | None, Query()] = None,
    certificate_number: Annotated[str | None, Query(max_length=128, pattern=STORABLE_TEXT)] = None,
    since: Annotated[datetime | None, Query(description="created at or after (ISO 8601 with zone)")] = None,
    until: Annotated[datetime | None, Query(description="created before (ISO 8601 with zone)")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=512, description="next_cursor of the previous page")] = None,
) -> ExchangeList:
    """Exchanges the caller may see, newest first: a platform its submissions, a partner those with it."""
    filters = ExchangeFilter(partner, direction, state, certificate_number, *time_window(since, until))
    with unit_of_work(db) as session:
        rows, next_cursor = list_exchanges(session, identity, filters, limit, cursor)
        return ExchangeList(exchanges=[ExchangeSummary.of(e) for e in rows], next_cursor=next_cursor)


IdPath = Annotated[uuid.UUID, Path(description="exchange id")]


@router.get(
    "/exchanges/{exchange_id}",
    operation_id="getExchange",
    response_model=ExchangeDetail,
    responses={404: {"description": "no such exchange (or not the caller's)", **_PROBLEM}},
)
def exchange(exchange_id: IdPath, db: DbEngineDep, identity: ReaderDep) -> ExchangeDetail:
    """State, history (audit entries), attempts, loss report, receipt and verification results of one exchange."""
    with unit_of_work(db) as session:
        found = get_exchange(session, exchange_id, identity)
        return ExchangeDetail.build(
            found, attempts_of(session, found.id), history_of(session, found.id), links_for(found)
        )


@router.get(
    "/exchanges/{exchange_id}/documents/{kind}",
    operation_id="getExchangeDocument",
    response_class=Response,
    responses={
        200: {"description": "the exact stored bytes", "content": {"application/xml": {}, "application/json": {}}},
        404: {"description": "no such exchange, or it has no such document", **_PROBLEM},
    },
)
def exchange_document(exchange_id: IdPath, kind: DocumentKind, db: DbEngineDep, identity: ReaderDep) -> Response:
    """The original as submitted (or received), the document sent, or the receipt: byte for byte."""
    with unit_of_work(db) as session:
        found = get_exchange(session, exchange_id, identity)
        digest = {"original": found.original_sha256, "sent": found.sent_sha256, "receipt": found.receipt_sha256}[kind]
        blob = get_blob(session, digest) if digest is not None else None
        if blob is None:
            raise NotFound(f"exchange {exchange_id} has no {kind} document")
        return Response(blob.data, media_type=blob.media_type, headers={"Digest-SHA256": blob.sha256})


@router.get(
    "/documents/{sha256}",
    operation_id="getDocument",
    response_class=Response,
    responses={
        200: {"description": "the exact stored bytes", "content": {"application/xml": {}, "application/json": {}}},
        404: {"description": "no such document among the caller's exchanges", **_PROBLEM},
    },
)
def document(
    sha256: Annotated[str, Path(pattern=r"^[0-9a-f]{64}$", description="lowercase hex SHA-256")],
    db: DbEngineDep,
    identity: ReaderDep,
) -> Response:
    """A stored document by digest — only one that belongs to an exchange the caller may see (partner-scoped)."""
    with unit_of_work(db) as session:
        referenced = session.execute(
            select(col(Exchange.id))
            .where(
                visible(identity),
                or_(
                    col(Exchange.original_sha256) == sha256,
                    col(Exchange.sent_sha256) == sha256,
                    col(Exchange.receipt_sha256) == sha256,
                ),
            )
            .limit(1)
        ).first()
        blob = get_blob(session, sha256) if referenced is not None else None
        if blob is None:
            raise NotFound(f"no document {sha256}")
        return Response(blob.data, media_type=blob.media_type)


@router.post(
    "/exchanges/{exchange_id}/retry",
    operation_id="retryExchange",
    status_code=202,
    response_model=ExchangeSummary,
    responses={
        404: {"description": "no such outbound exchange", **_PROBLEM},
        409: {"description": "the exchange is not failed", **_PROBLEM},
    },
)
def retry(
    exchange_id: IdPath, db: DbEngineDep, identity: Annotated[Identity, Depends(allow(Role.admin))]
) -> ExchangeSummary:
    """Requeue a failed outbound exchange (same Message-ID: the partner answers a repeat with its stored receipt)."""
    with unit_of_work(db, write=True) as session:
        return ExchangeSummary.of(requeue(session, exchange_id, identity, utcnow()))


__all__ = ["router"]
