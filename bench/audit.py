"""The audit log's cost: its append inside the submission transaction, and inclusion proofs as the log grows.

Issue 7's speed targets, measured in one run:

- **append**: the in-process submission (``prepare_submission`` for TH + ``store_submission`` in one write
  transaction, as ``bench/exchange.py``'s floor with translation) with the audit log and without it. "Without"
  removes the ``before_commit`` hook that numbers, inserts and hashes the entries under the log-head lock, so the
  transaction is the same minus the log. Rounds alternate with and without; the best of each is kept. Also the
  hook's own time per transaction (timed inside the hook). Target: the log costs the submit path at most 10 % of
  its throughput (``with / without ≥ 0.9``).
- **proofs**: a log of 10³ entries is built, then grown to 10⁵ and 10⁶ (entries shaped like real ones, written
  in bulk through the same ``append_leaves`` that stores the tree in the commit hook). At each size, inclusion
  proofs for random entries, computed exactly as ``GET /v1/audit/entries/{index}/proof`` does (one read
  transaction, the stored subtree hashes), and the cost of appending one entry in its own transaction at that
  size. Target: a proof at 10⁶ entries ≤ 2× the time at 10³.

SQLite by default (a temporary file), PostgreSQL with ``--postgres`` (a temporary database on the local
server, dropped at the end). Prints one JSON object on stdout, progress on stderr. See bench/README.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import rfc8785
from sqlalchemy import event, insert, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session as OrmSession
from sqlmodel import col

from bench._common import BenchError, print_result, rate
from bench.exchange import FIXTURE, Databases, Floor
from gateway.audit import log as audit_log
from gateway.audit.log import SYSTEM, record
from gateway.audit.models import AuditEntry, AuditHead
from gateway.audit.tree import StoredTree, append_leaves
from gateway.db import make_engine, unit_of_work
from gateway.migrate import upgrade
from schemas.catalog import load_catalog
from schemas.engine import ValidationEngine
from signing import load_signing_key
from signing.keys import generate_dev_pki

DEFAULT_SIZES = "1000,100000,1000000"
MAX_SIZE = 2_000_000
APPEND_TARGET = 0.9  # with the log ≥ 90 % of the throughput without it
PROOF_TARGET = 2.0  # a proof at the largest size ≤ 2× the time at the smallest
BUILD_CHUNK = 50_000


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# ----- the append inside the submission transaction ---------------------------------------------------------------


class HookSwitch:
    """Turns the audit log's commit hook off and on, and times it while it is on."""

    def __init__(self) -> None:
        self.original = audit_log._append_pending  # the bench measures exactly this hook
        self.seconds: list[float] = []
        event.remove(OrmSession, "before_commit", self.original)
        self.installed: Callable[[OrmSession], None] | None = None

    def _timed(self, session: OrmSession) -> None:
        # The hook flushes the transaction's pending rows first; that flush is the submission's, not the log's,
        # and happens at commit without the hook too. Flushed here, it is not counted.
        session.flush()
        start = time.perf_counter()
        self.original(session)
        self.seconds.append(time.perf_counter() - start)

    def on(self) -> None:
        if self.installed is None:
            self.installed = self._timed
            event.listen(OrmSession, "before_commit", self.installed)

    def off(self) -> None:
        if self.installed is not None:
            event.remove(OrmSession, "before_commit", self.installed)
            self.installed = None

    def restore(self) -> None:
        self.off()
        event.listen(OrmSession, "before_commit", self.original)


def measure_append(floor: Floor, seconds: float, rounds: int) -> dict[str, Any]:
    switch = HookSwitch()
    hook: list[float] = []
    with_log: list[float] = []
    without_log: list[float] = []
    try:
        for index in range(rounds):
            order = [("with", True), ("without", False)]
            if index % 2:
                order.reverse()
            for name, enabled in order:
                (switch.on if enabled else switch.off)()
                rate(floor.with_translation, min(0.5, seconds / 4))  # warm-up
                switch.seconds.clear()
                per_s = rate(floor.with_translation, seconds)
                (with_log if enabled else without_log).append(per_s)
                _log(f"submission {name} the audit log, round {index + 1}: {per_s:.1f}/s")
                if enabled:
                    hook = sorted(switch.seconds)
    finally:
        switch.restore()
    best_with, best_without = max(with_log), max(without_log)
    ratio = best_with / best_without
    hook_ms = 1000 * sum(hook) / len(hook)
    return {
        "what": "prepare_submission for TH + store_submission (one write transaction), with and without the "
        "audit log's commit hook",
        "with_log_per_s": round(best_with, 1),
        "without_log_per_s": round(best_without, 1),
        "with_rounds_per_s": [round(v, 1) for v in with_log],
        "without_rounds_per_s": [round(v, 1) for v in without_log],
        "ratio_with_to_without": round(ratio, 3),
        "hook_ms_per_transaction": {
            "mean": round(hook_ms, 3),
            "p50": round(1000 * hook[len(hook) // 2], 3),
            "p99": round(1000 * hook[min(len(hook) - 1, int(len(hook) * 0.99))], 3),
        },
        "hook_share_of_submission": round(hook_ms / (1000 / best_with), 4),
        "target": {"min_ratio": APPEND_TARGET, "met": ratio >= APPEND_TARGET},
    }


# ----- proofs as the log grows ------------------------------------------------------------------------------------


def _leaf(index: int, moment: datetime, exchange: uuid.UUID) -> bytes:
    # The shape and size of a real entry (gateway.audit.log): what the hashes and the page cache see.
    return rfc8785.dumps(
        {
            "v": 1,
            "time": moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "actor": "system:gateway",
            "action": "delivery.attempted",
            "outcome": "acknowledged",
            "exchange": str(exchange),
            "partner": "TH",
            "certificate": f"JP-BENCH-{index:09d}",
            "documents": {"receipt": f"{index:064x}"},
            "previous": index - 1 if index else None,
            "detail": {"attempt": 1, "http_status": 200},
        }
    )


def grow(db: Engine, size: int, target: int) -> None:
    """Append entries ``size``…``target - 1`` in bulk: the entries table, the stored tree and the head."""
    start = datetime(2026, 1, 1, tzinfo=UTC)
    for first in range(size, target, BUILD_CHUNK):
        count = min(BUILD_CHUNK, target - first)
        rows: list[dict[str, Any]] = []
        leaves: list[bytes] = []
        for index in range(first, first + count):
            moment = start + timedelta(seconds=index)
            exchange = uuid.UUID(int=index // 4)
            leaves.append(_leaf(index, moment, exchange))
            rows.append(
                {
                    "index": index,
                    "leaf": leaves[-1],
                    "exchange_id": exchange,
                    "previous_index": index - 1 if index % 4 else None,
                    "action": "delivery.attempted",
                    "outcome": "acknowledged",
                    "partner_code": "TH",
                    "certificate_number": f"JP-BENCH-{index:09d}",
                    "created_at": moment,
                }
            )
        with unit_of_work(db, write=True) as session:
            session.execute(insert(AuditEntry), rows)
            append_leaves(session.connection(), first, leaves)
            session.execute(update(AuditHead).where(col(AuditHead.id) == 1).values(size=first + count))


def _prove(db: Engine, size: int, rng: random.Random) -> Callable[[], object]:
    def once() -> list[bytes]:
        index = rng.randrange(size)
        with unit_of_work(db) as session:
            return StoredTree(session, size).inclusion(index)

    return once


def _append_one(db: Engine) -> Callable[[], object]:
    def once() -> object:
        with unit_of_work(db, write=True) as session:
            record(session, actor=SYSTEM, action="bench.append", outcome="ok", exchange_id=uuid.uuid4())
        return None

    return once


def measure_proofs(db: Engine, sizes: list[int], seconds: float, rounds: int) -> dict[str, Any]:
    rng = random.Random(7)  # which entries are proven: reproducible, nothing secret
    results: dict[str, Any] = {}
    size = 0
    for target in sizes:
        started = time.perf_counter()
        grow(db, size, target)
        size = target
        build_s = time.perf_counter() - started
        _log(f"log grown to {size} entries in {build_s:.1f} s")
        proof_rates = []
        for index in range(rounds):
            rate(_prove(db, size, rng), min(0.5, seconds / 4))
            proof_rates.append(rate(_prove(db, size, rng), seconds))
            _log(f"proofs at {size}, round {index + 1}: {proof_rates[-1]:.0f}/s")
        # One entry per transaction at this size; the next size grows from the head these appends leave.
        append_per_s = rate(_append_one(db), min(seconds, 2.0), max_calls=5000)
        with unit_of_work(db) as session:
            head = session.get(AuditHead, 1)
            assert head is not None
            size = head.size
        best = max(proof_rates)
        results[str(target)] = {
            "build_s": round(build_s, 1),
            "proof_per_s": round(best, 1),
            "proof_us": round(1e6 / best, 1),
            "proof_rounds_per_s": [round(v, 1) for v in proof_rates],
            "append_one_entry_transaction_ms": round(1000 / append_per_s, 3),
        }
    smallest, largest = str(sizes[0]), str(sizes[-1])
    ratio = results[largest]["proof_us"] / results[smallest]["proof_us"]
    return {
        "what": "inclusion proof of a random entry as GET /v1/audit/entries/{index}/proof computes it "
        "(one read transaction over the stored subtree hashes)",
        "sizes": results,
        f"ratio_{largest}_to_{smallest}": round(ratio, 3),
        "target": {"max_ratio": PROOF_TARGET, "met": ratio <= PROOF_TARGET},
    }


# ----- the run ----------------------------------------------------------------------------------------------------


@contextmanager
def _databases(postgres_url: str | None) -> Iterator[Databases]:
    with tempfile.TemporaryDirectory(prefix="tradegw-bench-audit-") as directory:
        databases = Databases(Path(directory), postgres_url)
        try:
            yield databases
        finally:
            databases.drop_all()


def run(args: argparse.Namespace) -> dict[str, Any]:
    started = time.perf_counter()
    sizes = sorted({int(s) for s in args.sizes.split(",")})
    if not sizes or sizes[0] < 1 or sizes[-1] > MAX_SIZE:
        raise BenchError(f"--sizes must be between 1 and {MAX_SIZE}")
    engine = ValidationEngine(load_catalog())
    engine.warm_up()
    with tempfile.TemporaryDirectory(prefix="tradegw-bench-keys-") as keys, _databases(args.postgres) as databases:
        generate_dev_pki(Path(keys), common_name="Japan Customs (bench)", now=datetime.now(UTC) - timedelta(days=1))
        key = load_signing_key(Path(keys) / "rsa-signing.key.pem", Path(keys) / "rsa-signing.pem")
        floor = Floor(engine, key, databases.new("submissions"), FIXTURE.read_bytes())
        try:
            append = measure_append(floor, args.seconds, args.rounds)
        finally:
            floor.close()
        url = databases.new("log")
        upgrade(url)
        db = make_engine(url)
        try:
            proofs = measure_proofs(db, sizes, args.seconds, args.rounds)
        finally:
            db.dispose()
    return {
        "benchmark": "audit",
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
        "load_average_1m": round(os.getloadavg()[0], 2),
        "database": databases.backend,
        "seconds_per_measure": args.seconds,
        "rounds": args.rounds,
        "elapsed_s": round(time.perf_counter() - started, 1),
        "append": append,
        "proofs": proofs,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seconds", type=float, default=2.0, help="length of each timed loop (default 2)")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds, best kept (default 3)")
    parser.add_argument("--sizes", default=DEFAULT_SIZES, help=f"log sizes for proofs (default {DEFAULT_SIZES})")
    parser.add_argument(
        "--postgres",
        metavar="URL",
        help="run on PostgreSQL: an admin URL (e.g. postgresql+psycopg://postgres@127.0.0.1:5432/postgres); "
        "two fresh databases are created there and dropped at the end (default: SQLite files)",
    )
    args = parser.parse_args()
    if not 0 < args.seconds <= 60 or not 1 <= args.rounds <= 20:
        parser.error("--seconds must be in (0, 60] and --rounds between 1 and 20")
    if args.postgres is not None and not args.postgres.startswith("postgresql"):
        parser.error("--postgres takes a postgresql:// (or postgresql+psycopg://) URL")
    return print_result(lambda: run(args))


if __name__ == "__main__":
    sys.exit(main())
