"""Two gateways talking wire protocol v1: JP delivers certificates of origin to TH (issue 5's end-to-end story).

Two ``tradegw serve`` processes on loopback ports, each with its own database and development keys, each registered
as the other's partner from its signed capability document. TH accepts UN/CEFACT JSON or the UBL 2.1 profile.
Everything runs once on SQLite and once on PostgreSQL.
"""

from __future__ import annotations

import hashlib
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from adapters import NoticeStatus, StatusNotice, parse_receipt, render_status_notice
from gateway.delivery.wire import delivery_headers
from signing.keys import SigningKey, load_signing_key
from signing.xmldsig import SignaturePlacement, sign_xml
from tests.conftest import FIXTURES, DatabaseFactory
from tests.gateway.test_certificates import COUNTRY, certificate, replacement
from tests.harness import ROOT, GatewayProcess, link, wait_for_state

COO = FIXTURES / "coo"
FINAL = {"acknowledged", "acknowledged_with_warnings", "rejected_by_partner", "failed"}


@dataclass
class Pair:
    jp: GatewayProcess
    th: GatewayProcess
    platform_key: str  # a platform client at JP

    def submit(self, data: bytes, **headers: str) -> httpx.Response:
        with self.jp.client(self.platform_key) as http:
            return http.post(
                "/v1/exchanges",
                params={"to": "TH"},
                content=data,
                headers={"Content-Type": "application/xml", **headers},
            )

    def jp_key(self) -> SigningKey:
        keys = self.jp.data_dir / "keys"
        return load_signing_key(keys / "rsa-signing.key.pem", keys / "rsa-signing.pem")

    def inbound_at_th(self, message_id: str) -> list[dict[str, object]]:
        with self.th.client() as http:
            listing = http.get("/v1/exchanges", params={"direction": "inbound", "partner": "JP", "limit": 200}).json()
        return [e for e in listing["exchanges"] if e["message_id"] == message_id]


@pytest.fixture(scope="module")
def pair(database_factory: DatabaseFactory, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    root = tmp_path_factory.mktemp(f"e2e-{database_factory.backend}")
    jp_db, th_db = database_factory.new(), database_factory.new()
    jp = GatewayProcess("JP", "JP", root / "jp", jp_db)
    th = GatewayProcess(
        "TH", "TH", root / "th", th_db, env={"GATEWAY_ACCEPTED_FORMATS": '["edi3-coo-json", "ubl-coo-2.1"]'}
    )
    try:
        jp.start()
        th.start()
        link(jp, th)
        link(th, jp)
        yield Pair(jp, th, jp.add_client("platform"))
    finally:
        jp.stop()
        th.stop()
        database_factory.drop(jp_db)
        database_factory.drop(th_db)


def _fixture(name: str = "valid-10.xml") -> bytes:
    return (COO / name).read_bytes()


def _with_number(data: bytes, number: str) -> bytes:
    """The fixture as another certificate (its number replaced), so each test exchanges a distinct document."""
    original = b"TH-D-2026-0014873" if b"TH-D-2026-0014873" in data else None
    assert original is not None, "fixture number not found"
    return data.replace(original, number.encode())


# ----- the story ------------------------------------------------------------------------------------------------


def test_a_certificate_travels_from_jp_to_th_and_jp_ends_acknowledged(pair: Pair) -> None:
    submitted = pair.submit(_with_number(_fixture(), "JP-E2E-0001"))
    assert submitted.status_code == 202, submitted.text
    accepted = submitted.json()
    assert accepted["state"] == "queued"
    assert accepted["sent_format"] == "edi3-coo-json"  # TH's first preference, which JP can render

    detail = wait_for_state(pair.jp, accepted["id"], FINAL)
    assert detail["state"] == "acknowledged", detail["last_error"]
    assert detail["receipt"]["outcome"] == "accepted"
    assert detail["losses"], "a UBL 2.4 → edi3 translation loses values, and says which"
    assert [h["action"] for h in detail["history"]] == ["exchange.submitted", "delivery.started", "delivery.attempted"]
    # Each history entry links to the previous one of the same exchange.
    assert [h["previous"] for h in detail["history"]] == [
        None,
        detail["history"][0]["index"],
        detail["history"][1]["index"],
    ]

    with pair.jp.client() as http:
        sent = http.get(f"/v1/exchanges/{accepted['id']}/documents/sent").content
        receipt = http.get(f"/v1/exchanges/{accepted['id']}/documents/receipt").content
    inbound = pair.inbound_at_th(accepted["message_id"])
    assert len(inbound) == 1
    assert inbound[0]["state"] == "accepted"
    assert inbound[0]["certificate_number"] == "JP-E2E-0001"
    with pair.th.client() as http:
        received = http.get(f"/v1/exchanges/{inbound[0]['id']}/documents/original").content
        th_receipt = http.get(f"/v1/exchanges/{inbound[0]['id']}/documents/receipt").content
    assert received == sent, "TH stores exactly the bytes JP sent"
    assert th_receipt == receipt, "JP keeps exactly the receipt TH signed"
    answer = parse_receipt(receipt)
    assert answer.received_sha256 == hashlib.sha256(sent).hexdigest()
    assert str(answer.message_id) == accepted["message_id"]


def test_retries_while_th_is_down_then_delivers_once(pair: Pair) -> None:
    pair.th.stop()
    try:
        submitted = pair.submit(_with_number(_fixture(), "JP-E2E-0002"))
        assert submitted.status_code == 202, submitted.text
        exchange_id = submitted.json()["id"]
        detail = wait_for_state(pair.jp, exchange_id, {"retrying"})
        with pair.jp.client() as http:
            while len(detail["attempt_log"]) < 2:
                detail = http.get(f"/v1/exchanges/{exchange_id}").json()
        assert all(a["outcome"] == "transient" for a in detail["attempt_log"])
        assert "connection failed" in detail["attempt_log"][0]["error"]
    finally:
        pair.th.start()
    detail = wait_for_state(pair.jp, exchange_id, FINAL)
    assert detail["state"] == "acknowledged", detail["last_error"]
    assert len(pair.inbound_at_th(detail["message_id"])) == 1, "delivered once, however many attempts it took"


def test_a_document_th_does_not_accept_ends_rejected_by_partner_with_findings(pair: Pair) -> None:
    # JP's directory entry for TH is stale: it says TH takes UBL 2.4, which TH no longer accepts.
    with pair.jp.client() as http:
        http.patch("/v1/partners/TH", json={"formats": ["ubl-coo-2.4"]}).raise_for_status()
    try:
        submitted = pair.submit(_with_number(_fixture(), "JP-E2E-0003"))
        assert submitted.status_code == 202, submitted.text
        detail = wait_for_state(pair.jp, submitted.json()["id"], FINAL)
    finally:
        with pair.jp.client() as http:
            http.patch("/v1/partners/TH", json={"formats": ["edi3-coo-json", "ubl-coo-2.1"]}).raise_for_status()
    assert detail["state"] == "rejected_by_partner"
    assert detail["receipt"]["outcome"] == "rejected"
    assert detail["receipt"]["findings"][0]["code"] == "document-type"
    assert len(detail["attempt_log"]) == 1, "a signed receipt is final, even a rejecting one: never retried"
    inbound = pair.inbound_at_th(detail["message_id"])
    assert [e["state"] for e in inbound] == ["rejected"]


def test_the_ubl_21_profile_is_sent_when_th_prefers_it(pair: Pair) -> None:
    with pair.jp.client() as http:
        http.patch("/v1/partners/TH", json={"formats": ["ubl-coo-2.1"]}).raise_for_status()
    try:
        submitted = pair.submit(_with_number(_fixture(), "JP-E2E-0004"))
        assert submitted.status_code == 202, submitted.text
        assert submitted.json()["sent_format"] == "ubl-coo-2.1"
        detail = wait_for_state(pair.jp, submitted.json()["id"], FINAL)
    finally:
        with pair.jp.client() as http:
            http.patch("/v1/partners/TH", json={"formats": ["edi3-coo-json", "ubl-coo-2.1"]}).raise_for_status()
    assert detail["state"] == "acknowledged", detail["last_error"]
    assert any(loss["kind"] == "filled" for loss in detail["losses"]), "UBL 2.1 requires a Shipment ID: filled"


# ----- the same delivery twice, tampering, and stale requests, sent straight to TH's inbox -----------------------


def _delivery(
    pair: Pair,
    body: bytes,
    *,
    message_id: str | None = None,
    now: datetime | None = None,
    receiver: str = "TH",
    document_type: str = "ubl-coo-2.1",
) -> dict[str, str]:
    """The headers JP's worker would send with ``body``, signed with JP's key."""
    return delivery_headers(
        inbox_url=f"{pair.th.base_url}/v1/inbox",
        body=body,
        media_type="application/xml",
        message_id=message_id or str(uuid.uuid4()),
        sender="JP",
        receiver=receiver,
        document_type=document_type,
        key=pair.jp_key(),
        now=now or datetime.now(UTC),
    )


def _signed_21(pair: Pair, number: str) -> bytes:
    """A UBL 2.1 CoO signed by JP's key, as JP's worker would send it."""
    with pair.jp.client() as http:
        translated = http.post("/v1/translate", params={"to": "ubl-coo-2.1"}, content=_with_number(_fixture(), number))
        translated.raise_for_status()
        signed = http.post("/v1/sign", content=translated.json()["document"].encode())
        signed.raise_for_status()
        return signed.content


def test_the_same_delivery_twice_is_one_exchange_with_identical_receipts(pair: Pair) -> None:
    body = _signed_21(pair, "JP-E2E-0005")
    headers = _delivery(pair, body)
    inbox = f"{pair.th.base_url}/v1/inbox"
    first = httpx.post(inbox, content=body, headers=headers)
    second = httpx.post(inbox, content=body, headers=headers)
    assert first.status_code == 200, first.text
    assert second.status_code == 200
    assert second.content == first.content
    assert second.headers["Receipt-Replayed"] == "true"
    assert parse_receipt(first.content).outcome == "accepted"
    assert len(pair.inbound_at_th(headers["Message-ID"])) == 1

    other = _signed_21(pair, "JP-E2E-0006")
    conflict = httpx.post(inbox, content=other, headers=_delivery(pair, other, message_id=headers["Message-ID"]))
    assert conflict.status_code == 409
    assert conflict.headers["Content-Type"] == "application/problem+json"


def test_a_document_of_another_type_than_announced_gets_a_rejecting_receipt(pair: Pair) -> None:
    # Well formed and signed, but not a certificate of origin: a business outcome, answered with a receipt like any
    # document TH does not take (it used to be a 422 problem, which the inbox neither documented nor recorded).
    other = (FIXTURES / "signing" / "application-response.xml").read_bytes()
    body = sign_xml(other, pair.jp_key(), SignaturePlacement.UBL_EXTENSION)
    headers = _delivery(pair, body, document_type="ubl-coo-2.1")
    answer = httpx.post(f"{pair.th.base_url}/v1/inbox", content=body, headers=headers)
    assert answer.status_code == 200, answer.text
    receipt = parse_receipt(answer.content)
    assert (receipt.outcome, [f.code for f in receipt.findings]) == ("rejected", ["document-type"])
    assert [e["state"] for e in pair.inbound_at_th(headers["Message-ID"])] == ["rejected"]


@pytest.mark.parametrize("attack", ["tampered-body", "unsigned", "old-date", "not-for-th"])
def test_th_refuses_deliveries_that_fail_the_transport_checks(pair: Pair, attack: str) -> None:
    body = _signed_21(pair, f"JP-E2E-ATTACK-{attack}".upper())
    headers = _delivery(pair, body)
    if attack == "tampered-body":
        body = body.replace(b"JP-E2E", b"JP-E2X", 1)
    elif attack == "unsigned":
        headers = {k: v for k, v in headers.items() if k not in ("Signature", "Signature-Input")}
    elif attack == "old-date":
        headers = _delivery(pair, body, now=datetime.now(UTC) - timedelta(minutes=10))
    elif attack == "not-for-th":
        headers = _delivery(pair, body, receiver="ID")
    refused = httpx.post(f"{pair.th.base_url}/v1/inbox", content=body, headers=headers)
    assert refused.status_code == 401, refused.text
    assert refused.headers["Content-Type"] == "application/problem+json"
    assert pair.inbound_at_th(headers["Message-ID"]) == [], "nothing stored for a refused delivery"
    if attack == "not-for-th":
        # The signature held, so the partner is known: its refused delivery is in TH's audit log.
        from sqlalchemy import create_engine, text

        engine = create_engine(pair.th.database_url)
        with engine.connect() as connection:
            refusals = connection.execute(
                text(
                    "SELECT count(*) FROM audit_entries WHERE action = 'inbox.refused' AND outcome = 'wrong-recipient'"
                )
            ).scalar_one()
        engine.dispose()
        assert refusals >= 1


def test_jp_fails_when_th_refuses_its_signature_and_an_admin_requeue_delivers(pair: Pair) -> None:
    with pair.th.client() as http:
        trust = http.get("/v1/partners/JP").json()["trust"]
        active = [a["id"] for a in trust if a["retired_at"] is None]
        # TH now trusts a certificate that is not JP's (a partner always keeps at least one anchor).
        stranger = (pair.th.data_dir / "keys" / "ec-signing.pem").read_text()
        http.patch(
            "/v1/partners/JP",
            json={"retire_trust": active, "add_trust": [{"kind": "pinned", "certificate_pem": stranger}]},
        ).raise_for_status()
    submitted = pair.submit(_with_number(_fixture(), "JP-E2E-0007"))
    detail = wait_for_state(pair.jp, submitted.json()["id"], FINAL)
    assert detail["state"] == "failed", "a 401 is not retried: the partner refuses our signature"
    assert detail["attempt_log"][-1]["http_status"] == 401
    # The operator confirms JP's certificate out of band, pins it again at TH, and requeues at JP.
    with pair.th.client() as http:
        jp_certificate = (pair.jp.data_dir / "keys" / "rsa-signing.pem").read_text()
        http.patch(
            "/v1/partners/JP", json={"add_trust": [{"kind": "pinned", "certificate_pem": jp_certificate}]}
        ).raise_for_status()
    with pair.jp.client() as http:
        assert http.post(f"/v1/exchanges/{detail['id']}/retry").status_code == 202
    detail = wait_for_state(pair.jp, detail["id"], {"acknowledged"})
    assert len(pair.inbound_at_th(detail["message_id"])) == 1


# ----- submissions at JP: rejection and idempotency --------------------------------------------------------------


def test_an_invalid_submission_is_rejected_with_its_report_and_recorded(pair: Pair) -> None:
    invalid = (COO / "invalid" / "hs-code-5-digits.xml").read_bytes()
    answer = pair.submit(invalid)
    assert answer.status_code == 422
    problem = answer.json()
    assert problem["reason"] == "invalid-document"
    assert problem["report"]["valid"] is False
    with pair.jp.client() as http:
        recorded = http.get(f"/v1/exchanges/{problem['exchange_id']}").json()
    assert recorded["state"] == "rejected"
    assert [h["action"] for h in recorded["history"]] == ["exchange.rejected"]


def test_an_idempotency_key_replays_the_first_answer_and_refuses_another_body(pair: Pair) -> None:
    data = _with_number(_fixture(), "JP-E2E-0008")
    key = f"order-{uuid.uuid4()}"
    first = pair.submit(data, **{"Idempotency-Key": key})
    again = pair.submit(data, **{"Idempotency-Key": key})
    assert first.status_code == again.status_code == 202
    assert again.json()["id"] == first.json()["id"]
    assert again.headers["Idempotent-Replayed"] == "true"
    other = pair.submit(_with_number(_fixture(), "JP-E2E-0009"), **{"Idempotency-Key": key})
    assert other.status_code == 422
    assert other.json()["type"].endswith("idempotency-key-reused")
    with pair.jp.client() as http:
        listing = http.get("/v1/exchanges", params={"certificate_number": "JP-E2E-0008"}).json()
    assert len(listing["exchanges"]) == 1


def test_partners_see_only_their_own_exchanges_and_documents(pair: Pair) -> None:
    submitted = pair.submit(_with_number(_fixture(), "JP-E2E-0010"))
    detail = wait_for_state(pair.jp, submitted.json()["id"], FINAL)
    th_key_at_jp = pair.jp.add_client("partner", partner="TH")
    with pair.jp.client(th_key_at_jp) as http:
        mine = http.get(f"/v1/exchanges/{detail['id']}")
        assert mine.status_code == 200
        assert http.get(f"/v1/documents/{detail['documents']['sent']}").status_code == 200
        assert http.get(f"/v1/documents/{'0' * 64}").status_code == 404
    # A platform sees its own submissions only: another platform client gets 404.
    other_platform = pair.jp.add_client("platform")
    with pair.jp.client(other_platform) as http:
        assert http.get(f"/v1/exchanges/{detail['id']}").status_code == 404
        assert http.get(f"/v1/documents/{detail['documents']['original']}").status_code == 404


def test_the_audit_log_is_dense_and_links_each_exchange(pair: Pair) -> None:
    """Every state change wrote one entry; indexes run 0..n-1 without gaps (checked in the database itself)."""
    from sqlalchemy import create_engine, text

    for gateway in (pair.jp, pair.th):
        engine = create_engine(gateway.database_url)
        with engine.connect() as connection:
            indexes = [row[0] for row in connection.execute(text('SELECT "index" FROM audit_entries ORDER BY 1'))]
            size = connection.execute(text("SELECT size FROM audit_head")).scalar_one()
        engine.dispose()
        assert indexes == list(range(len(indexes)))
        assert size == len(indexes)


def _witness(gateway: GatewayProcess, partner: str) -> dict[str, Any]:
    with gateway.client() as http:
        view: dict[str, Any] = http.get(f"/v1/partners/{partner}").json()["witness"]
        return view


def test_each_gateway_witnesses_the_others_log_and_its_export_verifies_offline(pair: Pair, tmp_path: Path) -> None:
    """Deliveries carry JP's checkpoints to TH, receipts carry TH's to JP; each side checks the other's with
    consistency proofs fetched from it, and an auditor verifies each log's export with no server."""
    views: dict[str, dict[str, Any]] = {}
    for round_ in range(10):  # until each side has checked at least two checkpoints of the other
        submitted = pair.submit(_with_number(_fixture(), f"JP-E2E-W{round_:03}"))
        assert submitted.status_code == 202, submitted.text
        assert wait_for_state(pair.jp, submitted.json()["id"], FINAL)["state"] == "acknowledged"
        time.sleep(1.5)  # a checkpoint is signed every second; the witnesses look every half second
        views = {"JP holds TH's": _witness(pair.jp, "TH"), "TH holds JP's": _witness(pair.th, "JP")}
        if all(v["checkpoints"] >= 2 and v["pending"] == 0 for v in views.values()):
            break
    for side, view in views.items():
        assert view["checkpoints"] >= 2, f"{side}: {view}"
        assert (view["pending"], view["inconsistent"], view["alerts"]) == (0, 0, []), f"{side}: {view}"
        assert view["verified"]["size"] > 0, f"{side}: {view}"
    for gateway, witness in ((pair.jp, pair.th), (pair.th, pair.jp)):
        with gateway.client() as http:
            bundle = http.get("/v1/audit/export")
            assert bundle.status_code == 200, bundle.text
        # The verifier key the partner imported from the capability document is the log's own.
        with witness.client() as http:
            key = http.get(f"/v1/partners/{gateway.code}").json()["audit_verifier_key"]
        path = tmp_path / f"{gateway.code}-bundle.json"
        path.write_bytes(bundle.content)
        verified = subprocess.run(
            [sys.executable, "-m", "gateway", "audit", "verify", str(path), "--key", key],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert verified.returncode == 0, verified.stderr
        assert "all checks hold" in verified.stdout


def test_a_separate_worker_process_delivers_for_a_server_that_runs_none(
    pair: Pair, database_factory: DatabaseFactory, tmp_path: Path
) -> None:
    """`tradegw serve --no-delivery` (here GATEWAY_RUN_WORKER=false) only queues; `tradegw worker` delivers."""
    database = database_factory.new()
    jw = GatewayProcess("JW", "JP", tmp_path / "jw", database, env={"GATEWAY_RUN_WORKER": "false"})
    worker: subprocess.Popen[bytes] | None = None
    try:
        jw.start()
        link(jw, pair.th)
        link(pair.th, jw)
        platform = jw.add_client("platform")
        with jw.client(platform) as http:
            submitted = http.post(
                "/v1/exchanges",
                params={"to": "TH"},
                content=_with_number(_fixture(), "JW-E2E-0001"),
                headers={"Content-Type": "application/xml"},
            )
        assert submitted.status_code == 202, submitted.text
        exchange_id = submitted.json()["id"]
        time.sleep(1.0)
        with jw.client() as http:
            assert http.get(f"/v1/exchanges/{exchange_id}").json()["state"] == "queued", "nobody delivers yet"
        log = (tmp_path / "worker.log").open("wb")
        worker = subprocess.Popen(
            [sys.executable, "-m", "gateway", "worker"], cwd=ROOT, env=jw.environment(), stdout=log, stderr=log
        )
        log.close()
        detail = wait_for_state(jw, exchange_id, FINAL)
        assert detail["state"] == "acknowledged", detail["last_error"]
    finally:
        if worker is not None:
            worker.send_signal(signal.SIGTERM)
            assert worker.wait(20) == 0, (tmp_path / "worker.log").read_text()
        jw.stop()
        database_factory.drop(database)


# ----- the certificate registry on both gateways (issue 6) --------------------------------------------------------


def _certificate_at(gateway: GatewayProcess, number: str) -> dict[str, object]:
    with gateway.client() as http:
        answer = http.get(f"/v1/certificates/{COUNTRY}/{number}")
    assert answer.status_code == 200, answer.text
    current: dict[str, object] = answer.json()["current"]
    return current


def test_a_replacement_chain_is_seen_the_same_on_both_gateways(pair: Pair) -> None:
    chain = [("CHAIN-A", certificate("CHAIN-A")), ("CHAIN-B", replacement("CHAIN-B", "CHAIN-A"))]
    chain.append(("CHAIN-C", replacement("CHAIN-C", "CHAIN-B")))
    for _, data in chain:
        submitted = pair.submit(data)
        assert submitted.status_code == 202, submitted.text
        assert wait_for_state(pair.jp, submitted.json()["id"], FINAL)["state"] == "acknowledged"
    expected = [("CHAIN-A", "replaced", "CHAIN-B"), ("CHAIN-B", "replaced", "CHAIN-C"), ("CHAIN-C", "issued", None)]
    for gateway, origin in ((pair.jp, "sent"), (pair.th, "received")):
        seen = [(n, _certificate_at(gateway, n)) for n, _ in chain]
        assert [(n, c["status"], c["replaced_by"]) for n, c in seen] == expected, gateway.code
        assert {c["origin"] for _, c in seen} == {origin}


def test_a_withdrawal_reaches_th_with_retries_while_it_is_down(pair: Pair) -> None:
    submitted = pair.submit(certificate("WITHDRAW-1"))
    assert wait_for_state(pair.jp, submitted.json()["id"], FINAL)["state"] == "acknowledged"
    pair.th.stop()
    try:
        with pair.jp.client() as http:
            answer = http.post(f"/v1/certificates/{COUNTRY}/WITHDRAW-1/withdraw", json={"reason": "goods re-exported"})
        assert answer.status_code == 202, answer.text
        [notice] = answer.json()["notices"]
        assert notice["partner"] == "TH"
        retrying = wait_for_state(pair.jp, notice["id"], {"retrying"})
        assert retrying["attempt_log"][0]["outcome"] == "transient"
    finally:
        pair.th.start()
    delivered = wait_for_state(pair.jp, notice["id"], FINAL)
    assert delivered["state"] == "acknowledged", delivered["last_error"]
    at_th = _certificate_at(pair.th, "WITHDRAW-1")
    assert (at_th["status"], at_th["status_reason"]) == ("withdrawn", "goods re-exported")
    assert _certificate_at(pair.jp, "WITHDRAW-1")["status"] == "withdrawn"


def test_a_notice_about_a_certificate_th_never_received_is_rejected(pair: Pair) -> None:
    notice = StatusNotice(
        notice_id=uuid.uuid4(),
        issued_at=datetime.now(UTC),
        sender="JP",
        receiver="TH",
        certificate_country=COUNTRY,
        certificate_number="NEVER-SENT",
        certificate_version=1,
        status=NoticeStatus.WITHDRAWN,
        reason="no such certificate",
        certificate_sha256="0" * 64,
    )
    body = sign_xml(render_status_notice(notice), pair.jp_key(), SignaturePlacement.UBL_EXTENSION)
    headers = _delivery(pair, body, document_type="ubl-document-status-2.4")
    answer = httpx.post(f"{pair.th.base_url}/v1/inbox", content=body, headers=headers)
    assert answer.status_code == 200, answer.text
    receipt = parse_receipt(answer.content)
    assert receipt.outcome == "rejected"
    assert [f.code for f in receipt.findings] == ["unknown-certificate"]
