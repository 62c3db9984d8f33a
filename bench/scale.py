"""Scale-out on one PostgreSQL database: 1 API replica + 1 worker against 2 + 2, in the same run.

Issue 9's speed targets. For each fleet the bench starts ``tradegw serve --no-delivery`` replicas and ``tradegw
worker`` processes (tests/harness.py) on a fresh PostgreSQL database, with a fake partner (tests/fake_partner.py,
a real process that stores each delivery and answers with a signed receipt) as TH. Client threads submit distinct
certificates of origin round-robin to the replicas for ``--seconds``; every answer must be 202. Then the queue is
drained (every exchange acknowledged) and the bench reports, per fleet:

- ``per_s``: 202s per second of the load, and p50/p95/p99 latency;
- ``cpu_s_per_submission``: CPU seconds (utime + stime from /proc) of every gateway process and every PostgreSQL
  process, from before the load until the queue is drained, per accepted submission (``gateway``, ``postgres``,
  ``total``); the fake partner is reported apart (it is the partner's cost, not ours);
- the same for the in-process floor of bench/exchange.py (parse, validate, sign, one insert; no translation) and
  the floor with translation, measured in this run.

Targets (``target``): 2+2 ≥ 1.3 × the throughput of 1+1; CPU seconds per submission ≤ 2 × the floor's CPU per
document. The machine is shared and small (the bench's own client threads, every replica and worker, PostgreSQL
and the fake partner all run on its cores): read ``load_average_1m`` before trusting a ratio. Prints one JSON
object on stdout, progress on stderr. See bench/README.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, text

from bench._common import BenchError, print_result, rate
from bench.exchange import FIXTURE, Databases, Floor, _ms, _stat_fields, process_cpu_seconds
from schemas.catalog import load_catalog
from schemas.engine import ValidationEngine
from signing import load_signing_key
from signing.keys import generate_dev_pki

# bench/ is an installed package, tests/ is not: make the checkout importable when run as `python bench/scale.py`.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.fake_partner import FakePartnerProcess
from tests.harness import GatewayProcess, WorkerProcess, free_port
from tests.pki import make_ca, make_leaf

FLEETS = ((1, 1), (2, 2))
TARGET_SPEEDUP = 1.3
TARGET_CPU_RATIO = 2.0
MAX_REQUESTS = 20_000
DRAIN_TIMEOUT_S = 180.0
FIXTURE_NUMBER = b"TH-D-2026-0014873"


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def postgres_cpu_seconds() -> float:
    """utime + stime of every process named postgres (the server and its backends) now running."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            name = (entry / "comm").read_text().strip()
        except OSError:
            continue
        if name == "postgres":
            fields = _stat_fields(int(entry.name))
            if fields is not None:
                total += sum(int(value) for value in fields[11:13])
    return total / ticks


@dataclass
class Load:
    replicas: list[GatewayProcess]
    key: str
    deadline: float = 0.0
    latencies: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    serial: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def next_document(self, tag: str) -> bytes:
        with self.lock:
            self.serial += 1
            number = f"SCALE-{tag}-{self.serial:07d}"
        return FIXTURE.read_bytes().replace(FIXTURE_NUMBER, number.encode())

    def client(self, index: int, tag: str) -> None:
        turn = index
        with httpx.Client(timeout=60, headers={"Authorization": f"Bearer {self.key}"}) as http:
            while time.monotonic() < self.deadline and self.serial < MAX_REQUESTS:
                replica = self.replicas[turn % len(self.replicas)]
                turn += 1
                body = self.next_document(tag)
                started = time.perf_counter()
                try:
                    answer = http.post(
                        f"{replica.base_url}/v1/exchanges",
                        params={"to": "TH"},
                        content=body,
                        headers={"Content-Type": "application/xml"},
                    )
                except httpx.HTTPError as exc:
                    with self.lock:
                        self.errors[type(exc).__name__] += 1
                    continue
                elapsed = time.perf_counter() - started
                with self.lock:
                    if answer.status_code == 202:
                        self.latencies.append(elapsed)
                    else:
                        self.errors[str(answer.status_code)] += 1


def run_fleet(
    replicas_n: int, workers_n: int, databases: Databases, root: Path, clients: int, seconds: float
) -> dict[str, Any]:
    tag = f"{replicas_n}x{workers_n}"
    url = databases.new(f"fleet_{replicas_n}_{workers_n}")
    data_dir = root / tag
    ca = make_ca(f"fake TH CA {tag}")
    cert, key = make_leaf(ca, "fake TH").write(data_dir / "th", "receipts")
    partner = FakePartnerProcess(free_port(), data_dir / "th" / "received.db", data_dir / "th" / "partner.log")
    env = {"GATEWAY_RUN_WORKER": "false", "GATEWAY_RATE_LIMIT_PER_SECOND": "0", "GATEWAY_LOG_LEVEL": "WARNING"}
    replicas = [GatewayProcess("JP", "JP", data_dir, url, env=env, name=f"replica-{i}") for i in range(replicas_n)]
    workers = [WorkerProcess(replicas[0], name=f"worker-{i}") for i in range(workers_n)]
    try:
        partner.start(key, cert)
        for replica in replicas:
            replica.start()
        with httpx.Client(
            base_url=replicas[0].base_url, headers={"Authorization": f"Bearer {replicas[0].admin_key}"}, timeout=30
        ) as admin:
            partner_formats = ["edi3-coo-json", "ubl-coo-2.1"]
            admin.post("/v1/partners", json=partner.registration(ca.pem, partner_formats)).raise_for_status()
            platform_key = admin.post("/v1/clients", json={"name": "bench", "role": "platform"}).json()["key"]
        for worker in workers:
            worker.start()
        time.sleep(2.0)  # workers connected and idle
        running = [r.process for r in replicas] + [w.process for w in workers]
        pids = [process.pid for process in running if process is not None]
        gateway_before = sum(process_cpu_seconds(pid) for pid in pids)
        postgres_before = postgres_cpu_seconds()
        assert partner.process is not None
        partner_before = process_cpu_seconds(partner.process.pid)
        load = Load(replicas, platform_key, deadline=time.monotonic() + seconds)
        started = time.perf_counter()
        threads = [threading.Thread(target=load.client, args=(i, tag)) for i in range(clients)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(seconds + 120)
        load_s = time.perf_counter() - started
        engine = create_engine(url)
        drained_at = time.monotonic() + DRAIN_TIMEOUT_S
        while time.monotonic() < drained_at:
            with engine.connect() as connection:
                pending = connection.execute(
                    text("SELECT count(*) FROM exchanges WHERE state IN ('queued', 'sending', 'retrying')")
                ).scalar_one()
            if pending == 0:
                break
            time.sleep(0.25)
        with engine.connect() as connection:
            query = text("SELECT state, count(*) FROM exchanges GROUP BY state")
            states: dict[str, int] = dict(connection.execute(query).all())
        engine.dispose()
        accepted = len(load.latencies)
        gateway_cpu = sum(process_cpu_seconds(pid) for pid in pids) - gateway_before
        postgres_cpu = postgres_cpu_seconds() - postgres_before
        partner_cpu = process_cpu_seconds(partner.process.pid) - partner_before
        ordered = sorted(load.latencies)
        if accepted == 0:
            raise BenchError(f"{tag}: no submission accepted: {dict(load.errors)}")
        return {
            "replicas": replicas_n,
            "workers": workers_n,
            "clients": clients,
            "accepted_202": accepted,
            "errors": dict(load.errors),
            "load_s": round(load_s, 1),
            "per_s": round(accepted / load_s, 1),
            "p50_ms": _ms(ordered, 0.5),
            "p95_ms": _ms(ordered, 0.95),
            "p99_ms": _ms(ordered, 0.99),
            "final_states": states,
            "cpu_s_per_submission": {
                "gateway": round(gateway_cpu / accepted, 4),
                "postgres": round(postgres_cpu / accepted, 4),
                "total": round((gateway_cpu + postgres_cpu) / accepted, 4),
                "fake_partner": round(partner_cpu / accepted, 4),
            },
        }
    finally:
        for worker in workers:
            worker.stop()
        for replica in replicas:
            replica.stop()
        partner.stop()


def floor_cpu(databases: Databases, engine: ValidationEngine, keys: Path, seconds: float) -> dict[str, float]:
    generate_dev_pki(keys, common_name="Japan Customs (bench)", now=datetime.now(UTC) - timedelta(days=1))
    key = load_signing_key(keys / "rsa-signing.key.pem", keys / "rsa-signing.pem")
    floor = Floor(engine, key, databases.new("floor"), FIXTURE.read_bytes())
    try:
        results = {}
        for name, call in (("floor", floor.plain), ("floor_with_translation", floor.with_translation)):
            rate(call, 0.5)
            cpu = time.process_time()
            calls = 0

            def counted(call: Any = call) -> None:
                nonlocal calls
                call()
                calls += 1

            rate(counted, seconds)
            results[name] = round((time.process_time() - cpu) / calls, 4)
        return results
    finally:
        floor.close()


def run(args: argparse.Namespace) -> dict[str, Any]:
    started = time.perf_counter()
    engine = ValidationEngine(load_catalog())
    engine.warm_up()
    with tempfile.TemporaryDirectory(prefix="tradegw-bench-scale-") as directory:
        root = Path(directory)
        databases = Databases(root, args.postgres)
        try:
            floors = floor_cpu(databases, engine, root / "keys", 3.0)
            _log(f"floor CPU per document: {floors}")
            fleets = {}
            for replicas_n, workers_n in FLEETS:
                _log(f"fleet {replicas_n}+{workers_n}: starting")
                result = run_fleet(replicas_n, workers_n, databases, root, args.clients, args.seconds)
                _log(f"fleet {replicas_n}+{workers_n}: {result['per_s']}/s, p99 {result['p99_ms']} ms")
                fleets[f"{replicas_n}+{workers_n}"] = result
        finally:
            databases.drop_all()
    speedup = fleets["2+2"]["per_s"] / fleets["1+1"]["per_s"]
    cpu_ratio = fleets["2+2"]["cpu_s_per_submission"]["total"] / floors["floor"]
    return {
        "benchmark": "scale",
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
        "load_average_1m": round(os.getloadavg()[0], 2),
        "database": "postgresql",
        "seconds_per_fleet": args.seconds,
        "elapsed_s": round(time.perf_counter() - started, 1),
        "floor_cpu_s_per_doc": floors,
        "fleets": fleets,
        "target": {
            "speedup_2x2_over_1x1": round(speedup, 3),
            "min_speedup": TARGET_SPEEDUP,
            "speedup_met": speedup >= TARGET_SPEEDUP,
            "cpu_per_submission_over_floor": round(cpu_ratio, 2),
            "max_cpu_ratio": TARGET_CPU_RATIO,
            "cpu_met": cpu_ratio <= TARGET_CPU_RATIO,
        },
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seconds", type=float, default=20.0, help="load per fleet (default 20)")
    parser.add_argument("--clients", type=int, default=8, help="client threads (default 8)")
    parser.add_argument(
        "--postgres",
        metavar="URL",
        default=os.environ.get("GATEWAY_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"),
        help="an admin URL of the PostgreSQL server; fresh databases are created there and dropped at the end",
    )
    args = parser.parse_args()
    if not 1 <= args.seconds <= 300 or not 1 <= args.clients <= 64:
        parser.error("--seconds in [1, 300], --clients in [1, 64]")
    if not args.postgres.startswith("postgresql"):
        parser.error("--postgres takes a postgresql:// (or postgresql+psycopg://) URL")
    return print_result(lambda: run(args))


if __name__ == "__main__":
    sys.exit(main())
