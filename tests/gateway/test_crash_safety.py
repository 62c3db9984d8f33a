"""Crash safety (issue 9): API replicas and delivery workers on one database lose nothing and double nothing when
processes are killed with SIGKILL in the middle of the traffic.

On PostgreSQL: 2 ``tradegw serve --no-delivery`` replicas and 2 ``tradegw worker`` processes; on SQLite: one of each.
A fake partner (tests/fake_partner.py, a real process) stores what it receives and answers with signed receipts.
Client threads submit a few hundred certificates of origin to the replicas, each with its own Idempotency-Key, and
retry whatever fails — connection refused, 5xx, 409 in flight, 429 — with the same key. While they do, one worker
and one replica are killed with SIGKILL and started again. Then:

- every submission ended ``acknowledged`` exactly once: one exchange per key, none left queued, sending or retrying;
- the partner stored each certificate under one Message-ID (a delivery repeated after a crash is the same message);
- the audit log is dense, verifies offline (``tradegw audit verify``), and holds exactly the recorded events:
  one ``exchange.submitted`` and one ``certificate.registered`` per exchange, one ``delivery.started`` per attempt
  begun, one ``delivery.attempted`` per attempt row.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from sqlalchemy import create_engine, text

from tests.conftest import DatabaseFactory
from tests.fake_partner import FakePartnerProcess
from tests.gateway.test_certificates import certificate
from tests.harness import ROOT, GatewayProcess, WorkerProcess, free_port
from tests.pki import make_ca, make_leaf

SUBMISSIONS = {"postgresql": 240, "sqlite": 120}
CLIENT_THREADS = 8
DEADLINE_S = 240.0
FINAL = {"acknowledged", "acknowledged_with_warnings", "rejected_by_partner", "failed"}


@dataclass
class Clients:
    """Client threads submitting (key, document) pairs to the replicas, retrying each with its own key."""

    replicas: list[GatewayProcess]
    platform_key: str
    work: queue.Queue[tuple[str, bytes]] = field(default_factory=queue.Queue)
    accepted: dict[str, str] = field(default_factory=dict)  # Idempotency-Key → exchange id
    retries: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def run(self, deadline: float) -> None:
        turn = 0
        with httpx.Client(timeout=30, headers={"Authorization": f"Bearer {self.platform_key}"}) as http:
            while True:
                try:
                    key, body = self.work.get_nowait()
                except queue.Empty:
                    return
                while time.monotonic() < deadline:
                    replica = self.replicas[turn % len(self.replicas)]
                    turn += 1
                    try:
                        answer = http.post(
                            f"{replica.base_url}/v1/exchanges",
                            params={"to": "TH"},
                            content=body,
                            headers={"Content-Type": "application/xml", "Idempotency-Key": key},
                        )
                    except httpx.HTTPError as exc:
                        self._retry(type(exc).__name__)
                        continue
                    if answer.status_code in (200, 202):
                        with self.lock:
                            self.accepted[key] = answer.json()["id"]
                        break
                    if answer.status_code in (409, 429) or answer.status_code >= 500:
                        self._retry(str(answer.status_code))
                        continue
                    raise AssertionError(f"{key}: {answer.status_code} {answer.text[:500]}")

    def _retry(self, reason: str) -> None:
        with self.lock:
            self.retries[reason] += 1
        time.sleep(0.2)


def _admin(replica: GatewayProcess) -> httpx.Client:
    return httpx.Client(base_url=replica.base_url, headers={"Authorization": f"Bearer {replica.admin_key}"}, timeout=60)


def _restart(process: GatewayProcess | WorkerProcess) -> None:
    process.kill()
    time.sleep(0.5)
    process.start()


def _count(engine_url: str, query: str) -> int:
    engine = create_engine(engine_url)
    with engine.connect() as connection:
        value = int(connection.execute(text(query)).scalar_one())
    engine.dispose()
    return value


def test_nothing_is_lost_or_doubled_when_replicas_and_workers_are_killed(
    database_factory: DatabaseFactory, tmp_path: Path
) -> None:
    backend = database_factory.backend
    replicas_n, workers_n = (2, 2) if backend == "postgresql" else (1, 1)
    total = SUBMISSIONS[backend]
    url = database_factory.new()
    data_dir = tmp_path / "jp"
    ca = make_ca("fake TH CA")
    th_cert, th_key = make_leaf(ca, "fake TH gateway").write(tmp_path / "th", "receipts")
    partner = FakePartnerProcess(free_port(), tmp_path / "th" / "received.db", tmp_path / "th" / "partner.log")
    env = {
        "GATEWAY_RUN_WORKER": "false",  # replicas only serve; the workers deliver
        "GATEWAY_DELIVERY_LEASE_SECONDS": "3",  # a killed worker's claim is free again soon
    }
    replicas = [GatewayProcess("JP", "JP", data_dir, url, env=env, name=f"replica-{i}") for i in range(replicas_n)]
    workers = [WorkerProcess(replicas[0], name=f"worker-{i}") for i in range(workers_n)]
    try:
        partner.start(th_key, th_cert)
        replicas[0].start()  # development mode: creates the shared keys and admin key before the others start
        for replica in replicas[1:]:
            replica.start()
        with httpx.Client(
            base_url=replicas[0].base_url, headers={"Authorization": f"Bearer {replicas[0].admin_key}"}
        ) as admin:
            registered = admin.post("/v1/partners", json=partner.registration(ca.pem, ["ubl-coo-2.1"]))
            assert registered.status_code == 201, registered.text
            platform = admin.post("/v1/clients", json={"name": "crash test", "role": "platform"}).json()["key"]
        for worker in workers:
            worker.start()

        clients = Clients(replicas, platform)
        keys = [f"crash-{uuid.uuid4()}" for _ in range(total)]
        for index, key in enumerate(keys):
            clients.work.put((key, certificate(f"CRASH-{backend[:2].upper()}-{index:04d}")))
        deadline = time.monotonic() + DEADLINE_S
        threads = [threading.Thread(target=clients.run, args=(deadline,)) for _ in range(CLIENT_THREADS)]
        for thread in threads:
            thread.start()
        while len(clients.accepted) < total // 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        # The middle of the traffic: submissions in flight, deliveries claimed and on the wire.
        _restart(workers[0])
        _restart(replicas[0])
        for thread in threads:
            thread.join(DEADLINE_S)
        assert len(clients.accepted) == total, f"accepted {len(clients.accepted)} of {total}: {clients.retries}"
        assert clients.retries["ConnectError"] > 0, "the killed replica was in the middle of the traffic"

        # Every exchange reaches a final state (the workers, one of them restarted, drain the queue).
        while time.monotonic() < deadline:
            pending = _count(url, "SELECT count(*) FROM exchanges WHERE state IN ('queued', 'sending', 'retrying')")
            if pending == 0:
                break
            time.sleep(0.25)
        engine = create_engine(url)
        with engine.connect() as connection:
            states: dict[str, int] = dict(
                connection.execute(text("SELECT state, count(*) FROM exchanges GROUP BY state")).all()
            )
            numbers = connection.execute(text("SELECT count(DISTINCT certificate_number) FROM exchanges")).scalar_one()
            keyed = connection.execute(
                text("SELECT count(*), count(DISTINCT exchange_id) FROM idempotency_keys WHERE exchange_id IS NOT NULL")
            ).one()
            actions: dict[str, int] = dict(
                connection.execute(text("SELECT action, count(*) FROM audit_entries GROUP BY action")).all()
            )
            indexes = [row[0] for row in connection.execute(text('SELECT "index" FROM audit_entries ORDER BY 1'))]
            head = connection.execute(text("SELECT size FROM audit_head")).scalar_one()
            attempts_begun = connection.execute(text("SELECT coalesce(sum(attempts), 0) FROM exchanges")).scalar_one()
            attempt_rows = connection.execute(text("SELECT count(*) FROM delivery_attempts")).scalar_one()
        engine.dispose()
        assert states == {"acknowledged": total}, states
        assert numbers == total
        assert tuple(keyed) == (total, total), "one exchange per Idempotency-Key, one key per exchange"
        assert len(set(clients.accepted.values())) == total

        received = partner.received()
        certificates = Counter(number for _, number, _ in received)
        assert len(certificates) == total, "every certificate reached the partner"
        assert set(certificates.values()) == {1}, "each under one Message-ID: stored once"

        # The audit log: dense, in commit order from several processes, exactly the recorded events.
        assert indexes == list(range(head))
        assert actions["exchange.submitted"] == total
        assert actions["certificate.registered"] == total
        assert actions["delivery.started"] == attempts_begun
        assert actions["delivery.attempted"] == attempt_rows
        expected = {"exchange.submitted", "certificate.registered", "delivery.started", "delivery.attempted"}
        assert set(actions) - {"delivery.abandoned"} == expected, actions

        cli_env = replicas[0].environment()
        signed = subprocess.run(
            [sys.executable, "-m", "gateway", "audit", "checkpoint"], env=cli_env, cwd=ROOT,
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        assert signed.returncode == 0, signed.stderr
        verifier = subprocess.run(
            [sys.executable, "-m", "gateway", "audit", "key"], env=cli_env, cwd=ROOT,
            capture_output=True, text=True, timeout=60, check=True,
        ).stdout.strip().splitlines()[-1]  # fmt: skip
        with httpx.Client(
            base_url=replicas[0].base_url, headers={"Authorization": f"Bearer {replicas[0].admin_key}"}
        ) as admin:
            bundle = admin.get("/v1/audit/export")
        assert bundle.status_code == 200, bundle.text
        assert json.loads(bundle.content)["to"] == head
        path = tmp_path / "audit-export.json"
        path.write_bytes(bundle.content)
        verified = subprocess.run(
            [sys.executable, "-m", "gateway", "audit", "verify", str(path), "--key", verifier],
            cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
            env={k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")},
        )  # fmt: skip
        assert verified.returncode == 0, verified.stderr
    finally:
        for worker in workers:
            worker.kill()
        for replica in replicas:
            replica.kill()
        partner.stop()
        database_factory.drop(url)
