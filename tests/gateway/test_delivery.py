"""The delivery worker against a fake partner at the network edge (httpx.MockTransport), on both databases.

What is real: the database, the worker's claim/finish transactions, the signatures (the fake partner signs its
receipts with a key the partner record trusts). What is fake: only the partner's HTTP endpoint.
"""

from __future__ import annotations

import hashlib
import random
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlmodel import col

from adapters import Receipt, ReceiptOutcome, render_receipt
from gateway.audit.models import AuditEntry
from gateway.db import make_engine, unit_of_work
from gateway.delivery.wire import backoff, classify_status, retry_after
from gateway.delivery.worker import DeliveryWorker
from gateway.directory.keyring import KeyRing, init_development_keyring
from gateway.documents.blobs import put_blob
from gateway.exchanges.models import DeliveryAttempt, DeliveryJob, Direction, Exchange, State
from signing.keys import SigningKey
from signing.xmldsig import SignaturePlacement, sign_xml
from tests.gateway.conftest import make_settings, register_thai_partner
from tests.pki import make_ca, make_leaf

Responder = Callable[[httpx.Request], httpx.Response]


@dataclass
class Rig:
    db: Engine
    worker: DeliveryWorker
    partner_key: SigningKey
    requests: list[httpx.Request]
    respond: Responder

    def exchange(self) -> uuid.UUID:
        """An outbound exchange to TH, queued with a job due now."""
        body = f"<doc>{uuid.uuid4()}</doc>".encode()
        now = datetime.now(UTC)
        with unit_of_work(self.db, write=True) as session:
            digest = put_blob(session, body, "application/xml")
            exchange = Exchange(
                direction=Direction.outbound,
                state=State.queued,
                partner_code="TH",
                original_sha256=digest,
                sent_sha256=digest,
                sent_format="ubl-coo-2.1",
            )
            session.add(exchange)
            session.flush()
            session.add(DeliveryJob(exchange_id=exchange.id, run_after=now))
            return exchange.id

    def state(self, exchange_id: uuid.UUID) -> tuple[Exchange, list[DeliveryAttempt], DeliveryJob | None]:
        with unit_of_work(self.db) as session:
            exchange = session.get(Exchange, exchange_id)
            assert exchange is not None
            attempts = list(
                session.execute(
                    select(DeliveryAttempt).where(col(DeliveryAttempt.exchange_id) == exchange_id)
                ).scalars()
            )
            return exchange, attempts, session.get(DeliveryJob, exchange_id)

    def make_due(self, exchange_id: uuid.UUID) -> None:
        with unit_of_work(self.db, write=True) as session:
            job = session.get(DeliveryJob, exchange_id)
            assert job is not None
            job.run_after = datetime.now(UTC) - timedelta(seconds=1)

    def receipt(
        self, request: httpx.Request, outcome: ReceiptOutcome = ReceiptOutcome.ACCEPTED, **changes: object
    ) -> bytes:
        fields: dict[str, object] = {
            "receipt_id": uuid.uuid4(),
            "issued_at": datetime.now(UTC),
            "sender": "TH",
            "receiver": "LOCAL",
            "outcome": outcome,
            "message_id": uuid.UUID(request.headers["Message-ID"]),
            "certificate_number": None,
            "document_type": "ubl-coo-2.1",
            "received_sha256": hashlib.sha256(request.content).hexdigest(),
            **changes,
        }
        return sign_xml(render_receipt(Receipt(**fields)), self.partner_key, SignaturePlacement.UBL_EXTENSION)


@pytest.fixture
def rig(database_url: str, tmp_path: Path) -> Iterator[Rig]:
    partner_key = register_thai_partner(database_url)
    keys = tmp_path / "keys"
    init_development_keyring(keys)
    settings = make_settings(
        database_url,
        tmp_path,
        keys_dir=keys,
        delivery_max_attempts=3,
        delivery_backoff_seconds=2.0,
        delivery_backoff_max_seconds=60.0,
    )
    db = make_engine(database_url)
    requests: list[httpx.Request] = []
    holder: dict[str, Responder] = {}

    def handler(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        return holder["respond"](request)

    client = httpx.Client(transport=httpx.MockTransport(handler))
    worker = DeliveryWorker(settings, db, KeyRing.load(keys, timedelta(0)), client=client, rng=random.Random(7))
    rig = Rig(db, worker, partner_key, requests, lambda r: httpx.Response(500))
    holder["respond"] = lambda request: rig.respond(request)
    yield rig
    client.close()
    db.dispose()


def test_a_verified_receipt_ends_the_exchange_acknowledged_and_is_kept(rig: Rig) -> None:
    rig.respond = lambda request: httpx.Response(200, content=rig.receipt(request))
    exchange_id = rig.exchange()
    assert rig.worker.run_once()
    exchange, attempts, job = rig.state(exchange_id)
    assert exchange.state == State.acknowledged
    assert job is None, "a finished exchange has no job left"
    assert [a.outcome for a in attempts] == ["acknowledged"]
    assert exchange.receipt_sha256 is not None
    sent = rig.requests[0]
    assert sent.headers["To"] == "TH"
    assert sent.headers["Message-ID"] == str(exchange.message_id)
    assert "tgw=" in sent.headers["Signature"]
    assert rig.worker.run_once() is False, "nothing else is due"


def test_a_rejecting_receipt_is_final(rig: Rig) -> None:
    rig.respond = lambda request: httpx.Response(200, content=rig.receipt(request, ReceiptOutcome.REJECTED))
    exchange_id = rig.exchange()
    rig.worker.run_once()
    exchange, attempts, job = rig.state(exchange_id)
    assert exchange.state == State.rejected_by_partner
    assert job is None
    assert len(attempts) == 1


def test_transient_failures_honour_retry_after_then_fail_when_attempts_run_out(rig: Rig) -> None:
    rig.respond = lambda request: httpx.Response(503, headers={"Retry-After": "30"})
    exchange_id = rig.exchange()
    before = datetime.now(UTC)
    rig.worker.run_once()
    exchange, attempts, job = rig.state(exchange_id)
    assert exchange.state == State.retrying
    assert job is not None
    assert job.lease_token is None
    assert job.run_after >= before + timedelta(seconds=30), "the partner asked for 30 s"
    assert rig.worker.run_once() is False, "not due before its time"
    for _ in range(2):
        rig.make_due(exchange_id)
        assert rig.worker.run_once()
    exchange, attempts, job = rig.state(exchange_id)
    assert exchange.state == State.failed
    assert job is None
    assert [a.outcome for a in attempts] == ["transient"] * 3
    assert [a.http_status for a in attempts] == [503] * 3


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 413, 422])
def test_other_client_errors_are_final(rig: Rig, status: int) -> None:
    rig.respond = lambda request: httpx.Response(status, json={"detail": "no"})
    exchange_id = rig.exchange()
    rig.worker.run_once()
    exchange, attempts, _ = rig.state(exchange_id)
    assert exchange.state == State.failed
    assert attempts[0].outcome == "final"


def test_connection_errors_are_transient(rig: Rig) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    rig.respond = refuse
    exchange_id = rig.exchange()
    rig.worker.run_once()
    exchange, attempts, _ = rig.state(exchange_id)
    assert exchange.state == State.retrying
    assert attempts[0].error is not None
    assert "connection failed" in attempts[0].error


@pytest.mark.parametrize(
    "spoil",
    ["unsigned", "signed-by-stranger", "other-message", "other-digest", "garbage"],
)
def test_a_receipt_that_does_not_prove_the_delivery_is_retried_and_kept(rig: Rig, spoil: str) -> None:
    stranger = make_leaf(make_ca("Someone else"), "Not Thai customs")

    def respond(request: httpx.Request) -> httpx.Response:
        if spoil == "unsigned":
            receipt = rig.receipt(request).replace(b"SignatureValue>", b"SignatureValueX>", 1)
        elif spoil == "signed-by-stranger":
            fields = {"receipt_id": uuid.uuid4(), "issued_at": datetime.now(UTC), "sender": "TH", "receiver": "LOCAL"}
            unsigned = render_receipt(
                Receipt(
                    **fields,
                    outcome=ReceiptOutcome.ACCEPTED,
                    message_id=uuid.UUID(request.headers["Message-ID"]),
                    certificate_number=None,
                    document_type="ubl-coo-2.1",
                    received_sha256=hashlib.sha256(request.content).hexdigest(),
                )
            )
            receipt = sign_xml(
                unsigned, SigningKey(stranger.key, stranger.certificate), SignaturePlacement.UBL_EXTENSION
            )
        elif spoil == "other-message":
            receipt = rig.receipt(request, message_id=uuid.uuid4())
        elif spoil == "other-digest":
            receipt = rig.receipt(request, received_sha256="0" * 64)
        else:
            receipt = b"<not-a-receipt/>"
        return httpx.Response(200, content=receipt)

    rig.respond = respond
    exchange_id = rig.exchange()
    rig.worker.run_once()
    exchange, attempts, job = rig.state(exchange_id)
    assert exchange.state == State.retrying, "an unproven receipt does not end the exchange"
    assert job is not None
    assert attempts[0].outcome == "transient"
    assert exchange.receipt_sha256 is None
    with unit_of_work(rig.db) as session:
        kept = (
            session.execute(
                select(AuditEntry).where(col(AuditEntry.exchange_id) == exchange_id).order_by(col(AuditEntry.index))
            )
            .scalars()
            .all()
        )
    if spoil != "garbage":
        assert "receipt" in kept[-1].leaf.decode(), "the doubtful receipt's digest is in the audit entry"


def test_a_worker_whose_lease_was_taken_over_writes_nothing(rig: Rig) -> None:
    rig.respond = lambda request: httpx.Response(200, content=rig.receipt(request))
    exchange_id = rig.exchange()
    slow = rig.worker.claim()
    assert slow is not None
    # The slow worker's lease expires; another worker claims the job and finishes it.
    with unit_of_work(rig.db, write=True) as session:
        job = session.get(DeliveryJob, exchange_id)
        assert job is not None
        job.lease_until = datetime.now(UTC) - timedelta(seconds=1)
    assert rig.worker.run_once()
    exchange, attempts, _ = rig.state(exchange_id)
    assert exchange.state == State.acknowledged
    # The slow worker comes back with a failure: compare-and-set on its token finds nothing to update.
    from gateway.delivery.worker import Result

    assert rig.worker.finish(slow, Result("transient", error="late"), datetime.now(UTC), 5) is False
    exchange, attempts_after, _ = rig.state(exchange_id)
    assert exchange.state == State.acknowledged
    assert len(attempts_after) == len(attempts) == 1


# ----- the rules, as pure functions -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        (408, "transient"),
        (425, "transient"),
        (429, "transient"),
        (500, "transient"),
        (503, "transient"),
        (400, "final"),
        (401, "final"),
        (404, "final"),
        (409, "final"),
        (422, "final"),
    ],
)
def test_status_classification(status: int, outcome: str) -> None:
    assert classify_status(status) == outcome


def test_retry_after_reads_seconds_and_http_dates() -> None:
    now = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
    assert retry_after("120", now) == timedelta(seconds=120)
    assert retry_after("Mon, 30 Nov 2026 12:01:00 GMT", now) == timedelta(seconds=60)
    assert retry_after("Mon, 30 Nov 2026 11:00:00 GMT", now) == timedelta(0)
    assert retry_after("soon", now) is None
    assert retry_after(None, now) is None


def test_backoff_doubles_with_jitter_and_respects_hint_and_cap() -> None:
    rng = random.Random(1)
    for attempt in range(1, 8):
        delay = backoff(attempt, 2.0, 60.0, None, rng).total_seconds()
        step = min(60.0, 2.0 * 2 ** (attempt - 1))
        assert step / 2 <= delay <= step
    assert backoff(1, 2.0, 60.0, timedelta(seconds=30), rng) >= timedelta(seconds=30)
    assert backoff(1, 2.0, 60.0, timedelta(hours=5), rng) == timedelta(seconds=60)


@pytest.mark.parametrize("hint", ["\u00b2", "99999999999999999999", "soon", ""])
def test_a_malformed_retry_after_never_stops_the_attempt_from_finishing(rig: Rig, hint: str) -> None:
    rig.respond = lambda request: httpx.Response(503, headers={"Retry-After": hint})
    exchange_id = rig.exchange()
    before = datetime.now(UTC)
    assert rig.worker.run_once()
    exchange, attempts, job = rig.state(exchange_id)
    assert exchange.state == State.retrying
    assert job is not None
    assert job.run_after <= before + timedelta(days=1, minutes=1), "a partner's hint is capped"
    assert [a.outcome for a in attempts] == ["transient"]


def test_an_answer_over_the_size_cap_is_not_read_to_the_end(rig: Rig) -> None:
    rig.respond = lambda request: httpx.Response(200, content=b"<x>" + b" " * (3 * 1024 * 1024) + b"</x>")
    exchange_id = rig.exchange()
    rig.worker.run_once()
    exchange, attempts, _ = rig.state(exchange_id)
    assert exchange.state == State.retrying
    assert attempts[0].error == "answer too large"


def test_an_unexpected_error_while_sending_still_ends_the_attempt(rig: Rig) -> None:
    def explode(request: httpx.Request) -> httpx.Response:
        raise RuntimeError("a bug")

    rig.respond = explode
    exchange_id = rig.exchange()
    assert rig.worker.run_once()
    exchange, attempts, _ = rig.state(exchange_id)
    assert exchange.state == State.retrying, "not left in sending for the lease to expire"
    assert attempts[0].error is not None
    assert "internal error" in attempts[0].error


def test_attempts_that_never_finished_count_towards_the_limit(rig: Rig) -> None:
    exchange_id = rig.exchange()
    with unit_of_work(rig.db, write=True) as session:
        exchange = session.get(Exchange, exchange_id)
        assert exchange is not None
        exchange.attempts = 3  # three claims whose process died before finishing
    assert rig.worker.claim() is None
    exchange, _, job = rig.state(exchange_id)
    assert exchange.state == State.failed
    assert job is None
