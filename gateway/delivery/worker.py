"""The delivery worker: claims jobs with a lease, sends outside any transaction, finishes with compare-and-set.

One attempt:
1. **Claim** (short write transaction): the oldest due job whose lease is free or expired — ``FOR UPDATE SKIP
   LOCKED`` on PostgreSQL, the database lock of ``BEGIN IMMEDIATE`` on SQLite — gets a new token and a lease
   measured on the database clock; the exchange becomes ``sending``.
2. **Send** (no transaction open): the signed document to the partner's inbox with the wire protocol v1 headers.
3. **Finish** (short write transaction): only if the job still carries our token. A worker whose lease expired
   and was taken over finds no row and writes nothing, so it cannot overwrite the new owner's result.
   A verified receipt is final (acknowledged, with warnings, or rejected by the partner); timeouts, connection
   errors, 408/429/5xx and receipts that do not verify are retried with backoff until the attempts run out;
   any other 4xx ends ``failed``.
Every attempt is a row in ``delivery_attempts``; every state change an audit entry.
"""

from __future__ import annotations

import hashlib
import random
import threading
import time
import uuid
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

import httpx
import structlog
from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col

import gateway.models  # noqa: F401  (every table: a worker process alone must know the whole schema's foreign keys)
from adapters import AdapterError, Receipt, ReceiptOutcome, parse_receipt
from gateway.audit.checkpoints import PublishedCheckpoint
from gateway.audit.log import SYSTEM, record
from gateway.audit.witness import receive_checkpoint
from gateway.db import unit_of_work, utcnow
from gateway.delivery.http import AnswerRefused, PartnerClients, read_capped
from gateway.delivery.wire import Outcome, backoff, classify_status, delivery_headers, retry_after
from gateway.directory.keyring import KeyRing
from gateway.documents.blobs import get_blob, put_blob
from gateway.documents.service import partner_trust
from gateway.exchanges import idempotency
from gateway.exchanges.models import DeliveryAttempt, DeliveryJob, Exchange, State
from gateway.partners.models import Partner
from gateway.settings import Settings
from signing.xmldsig import SignaturePlacement, verify_xml

__all__ = ["DeliveryWorker", "db_now"]

log = structlog.get_logger("gateway.delivery")

_RECEIPT_STATES = {
    ReceiptOutcome.ACCEPTED: State.acknowledged,
    ReceiptOutcome.ACCEPTED_WITH_WARNINGS: State.acknowledged_with_warnings,
    ReceiptOutcome.REJECTED: State.rejected_by_partner,
}
MAX_RECEIPT_BYTES = 2 * 1024 * 1024
PURGE_EVERY = timedelta(minutes=5)


def db_now(session: Session) -> datetime:
    """The database clock on PostgreSQL (leases must not depend on which host's clock runs fast); the local
    clock on SQLite, whose database is on this host."""
    if session.get_bind().dialect.name == "postgresql":
        moment: datetime = session.execute(select(func.now())).scalar_one()
        return moment
    return utcnow()


@dataclass(frozen=True)
class Claim:
    exchange_id: uuid.UUID
    token: uuid.UUID
    attempt: int
    message_id: uuid.UUID
    partner_code: str
    sent_format: str
    sent_sha256: str


@dataclass(frozen=True)
class Result:
    outcome: str  # a final State value, or Outcome.TRANSIENT / Outcome.FINAL
    http_status: int | None = None
    error: str | None = None
    receipt: Receipt | None = None
    receipt_bytes: bytes | None = None
    receipt_check: dict[str, Any] | None = None
    hint: timedelta | None = None
    checkpoint: str | None = None  # the partner's Audit-Checkpoint header beside a verified receipt


class DeliveryWorker:
    def __init__(
        self,
        settings: Settings,
        db: Engine,
        keyring: KeyRing | None,
        *,
        client: httpx.Client | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.settings = settings
        self.db = db
        self.keyring = keyring
        self.clients = PartnerClients(settings.delivery_timeout_seconds, client, settings.delivery_identity)
        self.published = PublishedCheckpoint(db, settings.audit_checkpoint_seconds)
        self.rng = rng or random.Random()  # noqa: S311  # jitter spreads retries; nothing secret depends on it
        self._stop = threading.Event()
        # Set when this process queued a job: idle threads wake at once instead of at their next poll.
        self._wake = threading.Event()
        self._threads: list[threading.Thread] = []
        self._last_purge = datetime.min.replace(tzinfo=utcnow().tzinfo)
        self._lock = threading.Lock()

    # ----- running ----------------------------------------------------------------------------------------
    def start(self) -> None:
        for number in range(self.settings.delivery_concurrency):
            thread = threading.Thread(target=self._loop, name=f"delivery-{number}", daemon=True)
            thread.start()
            self._threads.append(thread)
        log.info("delivery worker started", threads=len(self._threads))

    def notify(self) -> None:
        """A job was queued in this process: wake an idle thread now (jobs queued elsewhere wait for the poll)."""
        self._wake.set()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(deadline - time.monotonic(), 0.1))
        self._threads.clear()
        self.clients.close()
        log.info("delivery worker stopped")

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                worked = self.run_once()
                self._purge()
            except Exception:  # one bad job must not stop the worker; the lease returns it to the queue
                log.exception("delivery attempt crashed")
                worked = False
            if not worked and not self._stop.is_set():
                self._wake.wait(self.settings.delivery_poll_seconds)
                self._wake.clear()

    def run_once(self) -> bool:
        """Claim, send and finish one due job; False when none was due."""
        claim = self.claim()
        if claim is None:
            return False
        started = utcnow()
        clock = time.monotonic()
        try:
            result = self.send(claim)
        except Exception as exc:  # a bug or a bad configuration must still end the attempt
            log.exception("delivery attempt failed unexpectedly", exchange=str(claim.exchange_id))
            result = Result(Outcome.TRANSIENT, error=f"internal error: {type(exc).__name__}: {exc}"[:500])
        duration = int((time.monotonic() - clock) * 1000)
        self.finish(claim, result, started, duration)
        return True

    def _purge(self) -> None:
        now = utcnow()
        with self._lock:
            if now - self._last_purge < PURGE_EVERY:
                return
            self._last_purge = now
        with unit_of_work(self.db, write=True) as session:
            purged = idempotency.purge(session, now)
        if purged:
            log.info("idempotency keys purged", count=purged)

    # ----- 1. claim -----------------------------------------------------------------------------------------
    def claim(self) -> Claim | None:
        # A read first: an idle worker polls often, and on SQLite a write transaction would take the database's
        # write lock (BEGIN IMMEDIATE) from the submissions on every poll.
        with unit_of_work(self.db) as session:
            if session.execute(_due(db_now(session)).with_only_columns(col(DeliveryJob.exchange_id))).first() is None:
                return None
        with unit_of_work(self.db, write=True) as session:
            now = db_now(session)
            query = _due(now)
            if session.get_bind().dialect.name == "postgresql":
                query = query.with_for_update(skip_locked=True)
            job = session.execute(query).scalar_one_or_none()
            if job is None:
                return None
            exchange = session.get(Exchange, job.exchange_id)
            assert exchange is not None
            assert exchange.sent_sha256 is not None
            assert exchange.sent_format is not None
            if exchange.attempts >= self.settings.delivery_max_attempts:
                # Attempts that never finished (a process killed mid-send, over and over) still count.
                session.delete(job)
                exchange.state = State.failed
                exchange.last_error = f"{exchange.attempts} attempts started, none finished"
                exchange.updated_at = now
                record(
                    session,
                    actor=SYSTEM,
                    action="delivery.abandoned",
                    outcome=State.failed,
                    exchange_id=exchange.id,
                    partner=exchange.partner_code,
                    certificate=exchange.certificate_number,
                    detail={"attempts": exchange.attempts},
                )
                return None
            token = uuid.uuid4()
            job.lease_token = token
            job.lease_until = now + timedelta(seconds=self.settings.delivery_lease_seconds)
            exchange.attempts += 1
            exchange.state = State.sending
            exchange.updated_at = now
            record(
                session,
                actor=SYSTEM,
                action="delivery.started",
                outcome=State.sending,
                exchange_id=exchange.id,
                partner=exchange.partner_code,
                certificate=exchange.certificate_number,
                detail={"attempt": exchange.attempts},
            )
            return Claim(
                exchange.id,
                token,
                exchange.attempts,
                exchange.message_id,
                exchange.partner_code,
                exchange.sent_format,
                exchange.sent_sha256,
            )

    # ----- 2. send ------------------------------------------------------------------------------------------
    def send(self, claim: Claim) -> Result:
        now = utcnow()
        with unit_of_work(self.db) as session:
            partner = session.get(Partner, claim.partner_code)
            blob = get_blob(session, claim.sent_sha256)
            if partner is None or blob is None:
                return Result(Outcome.FINAL, error="the partner or the document to send no longer exists")
            inbox, tls_ca = partner.inbox_url, partner.tls_ca_pem
            body, media_type = blob.data, blob.media_type
        if self.keyring is None or (entry := self.keyring.signing_key(now)) is None:
            return Result(Outcome.TRANSIENT, error="no signing key in force: cannot sign the delivery")
        headers = delivery_headers(
            inbox_url=inbox,
            body=body,
            media_type=media_type,
            message_id=str(claim.message_id),
            sender=self.settings.gateway_code,
            receiver=claim.partner_code,
            document_type=claim.sent_format,
            key=entry.key,
            now=now,
            checkpoint=self.published.note(),
        )
        try:
            answer = read_capped(
                self.clients.get(claim.partner_code, tls_ca),
                "POST",
                inbox,
                max_bytes=MAX_RECEIPT_BYTES,
                seconds=self.settings.delivery_timeout_seconds,
                content=body,
                headers=headers,
            )
        except AnswerRefused as refused:
            return Result(Outcome.TRANSIENT, http_status=refused.status, error=str(refused))
        except httpx.TimeoutException as exc:
            return Result(Outcome.TRANSIENT, error=f"timeout: {exc}")
        except httpx.HTTPError as exc:
            return Result(Outcome.TRANSIENT, error=f"connection failed: {type(exc).__name__}: {exc}")
        if answer.status != 200:
            return Result(
                classify_status(answer.status),
                http_status=answer.status,
                error=_problem_summary(answer.status, answer.body),
                hint=retry_after(answer.headers.get("Retry-After"), utcnow()),
            )
        result = self._read_receipt(claim, answer.body)
        if result.receipt is not None:
            # The note carries its own signature; it is taken only beside a receipt that verified, so an answer that
            # is not the partner's stores nothing.
            result = replace(result, checkpoint=answer.headers.get("Audit-Checkpoint"))
        return result

    def _read_receipt(self, claim: Claim, data: bytes) -> Result:
        now = utcnow()
        with unit_of_work(self.db) as session:
            anchors, compat = partner_trust(session, claim.partner_code, now)
        try:
            verification = verify_xml(
                data, anchors, SignaturePlacement.UBL_EXTENSION, at=now, allow_omitted_reference_uri=compat
            )
        except ValueError as exc:
            return Result(Outcome.TRANSIENT, http_status=200, error=f"unreadable receipt: {exc}", receipt_bytes=data)
        check = verification.as_dict()
        failed = verification.failure
        if failed is not None or verification.signed_xml is None:
            return Result(
                Outcome.TRANSIENT,
                http_status=200,
                error=f"the receipt's signature does not verify ({failed.reason if failed else 'nothing signed'})",
                receipt_bytes=data,
                receipt_check=check,
            )
        try:
            receipt = parse_receipt(verification.signed_xml)
        except AdapterError as exc:
            return Result(Outcome.TRANSIENT, http_status=200, error=f"not a receipt: {exc}", receipt_bytes=data)
        problems = []
        if receipt.message_id != claim.message_id:
            problems.append(f"it answers message {receipt.message_id}, not {claim.message_id}")
        if receipt.received_sha256 != claim.sent_sha256:
            problems.append("it quotes another document digest than the one sent")
        if receipt.sender != claim.partner_code or receipt.receiver != self.settings.gateway_code:
            problems.append(f"it is from {receipt.sender} to {receipt.receiver}")
        if problems:
            return Result(
                Outcome.TRANSIENT,
                http_status=200,
                error="the receipt does not match the delivery: " + "; ".join(problems),
                receipt_bytes=data,
                receipt_check=check,
            )
        return Result(
            _RECEIPT_STATES[receipt.outcome], http_status=200, receipt=receipt, receipt_bytes=data, receipt_check=check
        )

    # ----- 3. finish ----------------------------------------------------------------------------------------
    def finish(self, claim: Claim, result: Result, started: datetime, duration_ms: int) -> bool:
        """Record the attempt and the new state; False (nothing written) when the lease was lost meanwhile."""
        with unit_of_work(self.db, write=True) as session:
            now = db_now(session)
            exchange = session.get(Exchange, claim.exchange_id)
            assert exchange is not None
            final_states = set(_RECEIPT_STATES.values())
            retry = result.outcome == Outcome.TRANSIENT and claim.attempt < self.settings.delivery_max_attempts
            if retry:
                wait = backoff(
                    claim.attempt,
                    self.settings.delivery_backoff_seconds,
                    self.settings.delivery_backoff_max_seconds,
                    result.hint,
                    self.rng,
                )
                owned = session.execute(
                    update(DeliveryJob)
                    .where(
                        col(DeliveryJob.exchange_id) == claim.exchange_id, col(DeliveryJob.lease_token) == claim.token
                    )
                    .values(run_after=now + wait, lease_token=None, lease_until=None)
                ).rowcount  # type: ignore[attr-defined]
                state = State.retrying
            else:
                owned = session.execute(
                    delete(DeliveryJob).where(
                        col(DeliveryJob.exchange_id) == claim.exchange_id,
                        col(DeliveryJob.lease_token) == claim.token,
                    )
                ).rowcount  # type: ignore[attr-defined]
                state = State(result.outcome) if result.outcome in final_states else State.failed
            if owned != 1:
                log.warning("lease lost: the result of this attempt is discarded", exchange=str(claim.exchange_id))
                session.rollback()
                return False
            documents: dict[str, str] = {}
            if result.receipt_bytes is not None:
                digest = put_blob(session, result.receipt_bytes, "application/xml")
                documents["receipt"] = digest
                if result.receipt is not None:
                    exchange.receipt_sha256 = digest
            if result.receipt is not None:
                exchange.receipt = {
                    "outcome": result.receipt.outcome,
                    "receipt_id": str(result.receipt.receipt_id),
                    "issued_at": result.receipt.issued_at.isoformat(),
                    "findings": [f.model_dump(mode="json") for f in result.receipt.findings],
                    "findings_omitted": result.receipt.findings_omitted,
                    "verification": result.receipt_check,
                }
            receive_checkpoint(session, claim.partner_code, result.checkpoint)
            exchange.state = state
            exchange.last_error = result.error
            exchange.updated_at = now
            session.add(
                DeliveryAttempt(
                    exchange_id=claim.exchange_id,
                    number=claim.attempt,
                    started_at=started,
                    duration_ms=duration_ms,
                    http_status=result.http_status,
                    outcome=result.outcome,
                    error=result.error,
                )
            )
            detail: dict[str, Any] = {"attempt": claim.attempt, "http_status": result.http_status}
            if result.error is not None:
                detail["error"] = result.error[:500]
            if retry:
                detail["next_attempt_after"] = (now + wait).isoformat()
            record(
                session,
                actor=SYSTEM,
                action="delivery.attempted",
                outcome=state,
                exchange_id=exchange.id,
                partner=exchange.partner_code,
                certificate=exchange.certificate_number,
                documents=documents,
                detail=detail,
            )
        log.info(
            "delivery attempt",
            exchange=str(claim.exchange_id),
            attempt=claim.attempt,
            outcome=result.outcome,
            state=state,
            http_status=result.http_status,
            duration_ms=duration_ms,
        )
        return True


def _due(now: datetime) -> Any:
    """The oldest job due at ``now`` whose lease is free or has expired."""
    return (
        select(DeliveryJob)
        .where(
            col(DeliveryJob.run_after) <= now,
            or_(col(DeliveryJob.lease_until).is_(None), col(DeliveryJob.lease_until) < now),
        )
        .order_by(col(DeliveryJob.run_after))
        .limit(1)
    )


def _problem_summary(status: int, body: bytes) -> str:
    # The partner's words, shortened and reduced to printable characters: they end up in logs and API answers.
    text = "".join(c if c.isprintable() else " " for c in body[:300].decode("utf-8", "replace"))
    digest = hashlib.sha256(body).hexdigest()[:12] if body else "-"
    return f"HTTP {status} from the partner: {text} (body sha256 {digest}…)"
