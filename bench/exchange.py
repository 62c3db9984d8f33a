"""Submissions through two gateways on loopback (JP → TH), next to the in-process floor of the same work.

Issue 5's speed target. The bench starts two ``tradegw serve`` processes on 127.0.0.1 (tests/harness.py: each
with its own data directory, development keys and database; SQLite by default, PostgreSQL with ``--postgres``),
links them both ways from their capability documents and creates a platform client at JP. Then, in one run:

- the **floor**, in this process: for the CoO ``tests/fixtures/coo/valid-10.xml`` (a distinct certificate
  number each call), ``ValidationEngine.parse`` + ``validate_parsed`` (XSD and the CoO Schematron: the engine's
  validation of UBL 2.4 CoO, what a submission runs on its original), ``sign_prepared`` with JP's own RSA-3072
  key (XMLDSig at the UBL placement), and one insert (the signed bytes as a blob, in its own write transaction,
  into a migrated database of the same backend). The floor does **no translation**;
- the **floor with translation**, in this process: ``prepare_submission`` exactly as JP's ``POST /v1/exchanges``
  calls it for TH (parse, validate, translate UBL 2.4 → UN/CEFACT edi3 JSON, validate that, sign it with a
  detached JWS) plus ``store_submission`` of its output (two blobs, the exchange, its delivery job, the audit
  entry) in one write transaction. A submission does all of that, so this second reference shows how much of
  the distance between the floor and the HTTP figures is the translation and the bookkeeping, and how much is
  HTTP, the server and the delivery running beside it;
- the **load**, for each concurrency level (default 1, 8, 32): that many client threads, one keep-alive
  ``httpx.Client`` each, submit distinct certificates to ``POST /v1/exchanges?to=TH`` for ``--seconds``. Every
  answer must be 202; anything else is counted as an error. Reported: 202s per second of wall time, p50/p95/p99
  of the 202's latency, and, once the level's exchanges have all reached a final state at JP, the time from each
  202 to the moment JP recorded TH's receipt (the exchange's ``updated_at`` when acknowledged), and the CPU
  seconds the JP and TH server processes spent per accepted submission (``/proc/<pid>/stat``, before the level
  and after its queue drained, so delivery and TH's inbox are included).

Floor rounds alternate plain and with-translation and are split before and after the load, so they bracket it
in time; the best round of each is kept (noise only slows a loop down). The target is a ratio within the run:
at 8 clients, submissions per second ≥ 50 % of the plain floor's documents per second (``target``). On a miss, a
cProfile run of the in-process submission (prepare + store) says where its time goes (``profile``).

The machine is shared: the bench's own client threads, JP (API and delivery worker) and TH all run on the same
cores during the load, and the floor has a core to itself. Prints one JSON object on stdout, progress on stderr.
See bench/README.md.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import platform
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine, make_url

from bench._common import BenchError, check_arguments, print_result, profile, rate
from gateway.auth.models import Role
from gateway.auth.service import Identity
from gateway.db import make_engine, unit_of_work, utcnow
from gateway.documents.blobs import put_blob
from gateway.documents.service import sign_prepared
from gateway.exchanges.outbound import prepare_submission
from gateway.exchanges.service import store_submission
from gateway.migrate import upgrade
from gateway.partners.models import Partner
from gateway.settings import Settings
from schemas.catalog import load_catalog
from schemas.engine import ValidationEngine
from signing import SigningKey, load_signing_key

# bench/ is an installed package, tests/ is not: make the checkout importable when run as `python bench/exchange.py`.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.harness import GatewayProcess, link

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = ROOT / "tests" / "fixtures" / "coo" / "valid-10.xml"
FIXTURE_NUMBER = b"TH-D-2026-0014873"  # replaced per submission: each one is a distinct certificate
TH_FORMATS = ["edi3-coo-json", "ubl-coo-2.1"]
EXPECTED_SENT_FORMAT = "edi3-coo-json"  # TH's first preference; JP translates the UBL 2.4 CoO into it

TARGET_CLIENTS = 8
TARGET_RATIO = 0.5
DEFAULT_LEVELS = "1,8,32"
MAX_CLIENTS = 64
DEFAULT_SECONDS = 10.0
DEFAULT_ROUNDS = 2
FLOOR_SECONDS = 3.0  # each floor loop; shorter than --seconds when that is long, the floor is steady
PROFILE_SECONDS = 3.0
# Bounds next to the time budget, so a very fast gateway or a clock hiccup cannot run away.
MAX_REQUESTS_PER_LEVEL = 20_000
DRAIN_TIMEOUT_S = 120.0
DRAIN_POLL_S = 0.25
REQUEST_TIMEOUT_S = 60.0

PENDING_STATES = ("queued", "sending", "retrying")
ACKNOWLEDGED = {"acknowledged", "acknowledged_with_warnings"}  # a positive signed receipt from TH

STAGES = {  # (path relative to the repository, function) → the stage of a submission it stands for
    ("schemas/engine.py", "parse"): "parse (original and translation)",
    ("schemas/engine.py", "validate_parsed"): "validate (original and translation)",
    ("adapters/base.py", "translate"): "translate",
    ("gateway/documents/service.py", "sign_prepared"): "sign",
    ("gateway/exchanges/service.py", "store_submission"): "store (statements only)",
}
PROFILE_TOP = 10


def _log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def _with_number(data: bytes, number: str) -> bytes:
    return data.replace(FIXTURE_NUMBER, number.encode("ascii"))


def _percentile(ordered: list[float], q: float) -> float | None:
    """Linear interpolation between closest ranks (numpy's default), on an already sorted list."""
    if not ordered:
        return None
    position = (len(ordered) - 1) * q
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def _ms(ordered_s: list[float], q: float) -> float | None:
    """A percentile of durations in seconds, in milliseconds to 0.1."""
    value = _percentile(ordered_s, q)
    return None if value is None else round(1000 * value, 1)


# ----- databases: SQLite files in the temporary directory, or fresh PostgreSQL databases --------------------


class Databases:
    """Hands out empty databases of one backend and removes the PostgreSQL ones at the end.

    The servers migrate their own database on start (development mode); the floor's is migrated here.
    """

    def __init__(self, directory: Path, postgres_url: str | None) -> None:
        self.directory = directory
        self.postgres_url = postgres_url
        self.backend = "postgresql" if postgres_url else "sqlite"
        self._created: list[str] = []
        self._prefix = f"bench_exchange_{uuid.uuid4().hex[:10]}"

    def _admin(self) -> Engine:
        assert self.postgres_url is not None
        return create_engine(self.postgres_url, isolation_level="AUTOCOMMIT")

    def new(self, name: str) -> str:
        if self.postgres_url is None:
            return f"sqlite:///{self.directory / f'{name}.db'}"
        database = f"{self._prefix}_{name}"  # made of hex and a fixed word: safe inside the quotes
        admin = self._admin()
        try:
            with admin.connect() as connection:
                connection.execute(text(f'CREATE DATABASE "{database}"'))
        finally:
            admin.dispose()
        self._created.append(database)
        return make_url(self.postgres_url).set(database=database).render_as_string(hide_password=False)

    def drop_all(self) -> None:
        if self.postgres_url is None or not self._created:
            return
        admin = self._admin()
        try:
            with admin.connect() as connection:
                for database in self._created:
                    # FORCE: a server killed mid-request may leave a connection behind.
                    connection.execute(text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
        finally:
            admin.dispose()
        self._created.clear()


# ----- CPU time of the server processes -------------------------------------------------------------------


def _stat_fields(pid: int) -> list[str] | None:
    """Fields of /proc/<pid>/stat after the command name (which may hold spaces and parentheses)."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return raw.rsplit(")", 1)[1].split()


def _descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = defaultdict(list)
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = _stat_fields(int(entry.name))
            if fields is not None:
                children[int(fields[1])].append(int(entry.name))
    found: list[int] = []
    pending = [pid]
    while pending:
        for child in children.get(pending.pop(), []):
            found.append(child)
            pending.append(child)
    return found


def process_cpu_seconds(pid: int) -> float:
    """utime + stime of a process and its live descendants, plus what its waited-for children used (cutime,
    cstime): ``tradegw serve`` runs uvicorn in-process with one worker, but would fork with ``--workers``."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for member in (pid, *_descendants(pid)):
        fields = _stat_fields(member)
        if fields is not None:
            # After the name: state is field 3 of the man page, so utime (14) … cstime (17) are indexes 11-14.
            total += sum(int(value) for value in fields[11:15])
    return total / ticks


def _pid(gateway: GatewayProcess) -> int:
    if gateway.process is None:
        raise BenchError(f"{gateway.code} is not running")
    return gateway.process.pid


# ----- the in-process references ---------------------------------------------------------------------------


class Floor:
    """The two in-process references over one engine, JP's signing key and a migrated database of their own."""

    def __init__(self, engine: ValidationEngine, key: SigningKey, database_url: str, data: bytes) -> None:
        self.engine = engine
        self.key = key
        self.data = data
        upgrade(database_url)
        self.db = make_engine(database_url)
        # store_submission writes an exchange whose partner must exist (foreign key); nothing else is needed.
        with unit_of_work(self.db, write=True) as session:
            session.add(Partner(code="TH", name="TH (bench)", country="TH", inbox_url="http://127.0.0.1:9/v1/inbox"))
        self.identity = Identity(client_id=uuid.uuid4(), name="bench", role=Role.platform, partner_code=None)
        self._serial = 0

    def _document(self) -> bytes:
        # A distinct certificate each call: distinct bytes, so every insert is a real row, never a no-op conflict.
        self._serial += 1
        return _with_number(self.data, f"FLOOR-{self._serial:09d}")

    def plain(self) -> None:
        parsed = self.engine.parse(self._document())
        if not self.engine.validate_parsed(parsed).valid:
            raise BenchError("the floor's document is not valid")
        signed = sign_prepared(parsed, self.key)
        with unit_of_work(self.db, write=True) as session:
            put_blob(session, signed.body, signed.media_type)

    def with_translation(self) -> str:
        now = utcnow()
        prepared = prepare_submission(
            self.engine,
            self._document(),
            format_id=None,
            partner_formats=TH_FORMATS,
            issuer_trust=None,
            key=lambda: self.key,  # loaded once, as the server loads its keyring
            at=now,
        )
        with unit_of_work(self.db, write=True) as session:
            store_submission(session, prepared, "TH", self.identity, now)
        return prepared.sent_format

    def close(self) -> None:
        self.db.dispose()


@dataclass
class FloorSamples:
    rates: list[float] = field(default_factory=list)
    cpu_per_call: list[float] = field(default_factory=list)

    def measure(self, call: Callable[[], object], seconds: float) -> float:
        calls = 0

        def counted() -> None:
            nonlocal calls
            call()
            calls += 1

        cpu = time.process_time()
        per_s = rate(counted, seconds)
        self.cpu_per_call.append((time.process_time() - cpu) / calls)
        self.rates.append(per_s)
        return per_s

    def summary(self, what: str) -> dict[str, Any]:
        best = max(self.rates)
        return {
            "what": what,
            "per_s": round(best, 1),
            "ms": round(1000 / best, 2),
            "cpu_s_per_doc": round(min(self.cpu_per_call), 4),
            "rounds_per_s": [round(v, 1) for v in self.rates],
        }


FLOOR_WHAT = "parse + validate (XSD, CoO Schematron) + XMLDSig sign (RSA-3072) + one blob insert; no translation"
WITH_TRANSLATION_WHAT = (
    "prepare_submission for TH (parse, validate, translate to edi3 JSON, validate, JWS sign) + store_submission"
)


def _floor_round(floor: Floor, samples: dict[str, FloorSamples], seconds: float, index: int) -> None:
    calls: list[tuple[str, Callable[[], object]]] = [("floor", floor.plain), ("with", floor.with_translation)]
    if index % 2:
        calls.reverse()  # alternate which reference goes first
    for name, call in calls:
        rate(call, min(0.5, seconds / 4))  # warm-up: caches, the allocator, the database file
        per_s = samples[name].measure(call, seconds)
        _log(f"{'floor' if name == 'floor' else 'floor_with_translation'} round {index + 1}: {per_s:.1f}/s")


# ----- the load ---------------------------------------------------------------------------------------------


@dataclass
class ClientResult:
    latencies_s: list[float] = field(default_factory=list)
    accepted_at: dict[str, float] = field(default_factory=dict)  # exchange id → wall-clock time of its 202
    errors: Counter[str] = field(default_factory=Counter)
    first_errors: list[str] = field(default_factory=list)
    warm_up: str | None = None  # None when the warm-up submission got its 202; otherwise why not


@dataclass
class LevelRun:
    """Shared between the main thread and a level's client threads."""

    clients: int
    base_url: str
    key: str
    data: bytes
    tag: str
    cap_per_client: int
    barrier: threading.Barrier
    stop: threading.Event = field(default_factory=threading.Event)
    deadline: float = 0.0  # perf_counter; set by the main thread before it releases the barrier


def _submit(http: httpx.Client, body: bytes) -> httpx.Response:
    return http.post("/v1/exchanges", params={"to": "TH"}, content=body, headers={"Content-Type": "application/xml"})


def _client_thread(run: LevelRun, index: int, result: ClientResult) -> None:
    clock = time.perf_counter
    headers = {"Authorization": f"Bearer {run.key}"}
    with httpx.Client(base_url=run.base_url, headers=headers, timeout=REQUEST_TIMEOUT_S) as http:
        try:
            # Warm-up: opens the keep-alive connection and runs the whole path once before anything is timed.
            answer = _submit(http, _with_number(run.data, f"{run.tag}-{run.clients:02d}-{index:02d}-W"))
            if answer.status_code != 202:
                result.warm_up = f"{answer.status_code} {answer.text[:300]}"
            elif answer.json().get("sent_format") != EXPECTED_SENT_FORMAT:
                result.warm_up = f"sent as {answer.json().get('sent_format')}, not {EXPECTED_SENT_FORMAT}"
        except Exception as exc:  # any failure is reported by the main thread; the thread must reach the barrier
            result.warm_up = f"{type(exc).__name__}: {exc}"
        try:
            run.barrier.wait()
        except threading.BrokenBarrierError:
            return  # the main thread gave up (a failed warm-up, an interrupt)
        sent = 0
        while not run.stop.is_set() and clock() < run.deadline and sent < run.cap_per_client:
            body = _with_number(run.data, f"{run.tag}-{run.clients:02d}-{index:02d}-{sent:06d}")
            sent += 1
            started = clock()
            try:
                answer = _submit(http, body)
            except httpx.HTTPError as exc:
                reason = type(exc).__name__
                detail = str(exc)
            else:
                if answer.status_code == 202:
                    result.latencies_s.append(clock() - started)
                    result.accepted_at[answer.json()["id"]] = time.time()
                    continue
                reason = str(answer.status_code)
                detail = answer.text[:300]
            result.errors[reason] += 1
            if len(result.first_errors) < 3:
                result.first_errors.append(f"{reason}: {detail}")


def _pending(admin: httpx.Client) -> int:
    """How many of JP's outbound exchanges are not final yet, counting up to one page per state."""
    count = 0
    for state in PENDING_STATES:
        answer = admin.get("/v1/exchanges", params={"direction": "outbound", "state": state, "limit": 200})
        answer.raise_for_status()
        count += len(answer.json()["exchanges"])
    return count


def _drain(admin: httpx.Client, timeout: float) -> tuple[float, bool]:
    """Wait until JP has nothing left to deliver; returns (seconds waited, drained)."""
    started = time.perf_counter()
    while True:
        if _pending(admin) == 0:
            return time.perf_counter() - started, True
        if time.perf_counter() - started > timeout:
            return time.perf_counter() - started, False
        time.sleep(DRAIN_POLL_S)


def _outbound_since(admin: httpx.Client, since: datetime) -> dict[str, dict[str, Any]]:
    """JP's outbound exchanges created at or after ``since``, by id (all pages)."""
    found: dict[str, dict[str, Any]] = {}
    cursor: str | None = None
    for _ in range(MAX_REQUESTS_PER_LEVEL // 200 + 2):
        params: dict[str, Any] = {"direction": "outbound", "since": since.isoformat(), "limit": 200}
        if cursor is not None:
            params["cursor"] = cursor
        answer = admin.get("/v1/exchanges", params=params)
        answer.raise_for_status()
        page = answer.json()
        found.update({e["id"]: e for e in page["exchanges"]})
        cursor = page["next_cursor"]
        if cursor is None:
            break
    return found


def _level(
    jp: GatewayProcess,
    th: GatewayProcess,
    admin: httpx.Client,
    platform_key: str,
    data: bytes,
    clients: int,
    seconds: float,
) -> dict[str, Any]:
    run = LevelRun(
        clients=clients,
        base_url=jp.base_url,
        key=platform_key,
        data=data,
        tag=f"JPB-{uuid.uuid4().hex[:6].upper()}",
        cap_per_client=max(1, MAX_REQUESTS_PER_LEVEL // clients),
        barrier=threading.Barrier(clients + 1),
    )
    results = [ClientResult() for _ in range(clients)]
    threads = [
        threading.Thread(target=_client_thread, args=(run, i, results[i]), name=f"client-{i}", daemon=True)
        for i in range(clients)
    ]
    try:
        for thread in threads:
            thread.start()
        # Wait for every client's warm-up: they reach the barrier once their first answer is in.
        while run.barrier.n_waiting < clients:  # bounded: each warm-up request has a timeout
            time.sleep(0.05)
        failed = [r.warm_up for r in results if r.warm_up is not None]
        if failed:
            raise BenchError(f"{clients} clients: a warm-up submission failed: {failed[0]}")
        # The warm-ups' deliveries must not run inside the measured window (nor their CPU in its figures).
        waited, drained = _drain(admin, DRAIN_TIMEOUT_S)
        if not drained:
            raise BenchError(f"{clients} clients: the warm-up exchanges were not delivered in {waited:.0f} s")
        cpu_before = {"jp": process_cpu_seconds(_pid(jp)), "th": process_cpu_seconds(_pid(th))}
        client_cpu_before = time.process_time()
        since = datetime.now(UTC)
        started = time.perf_counter()
        run.deadline = started + seconds
        run.barrier.wait()
        for thread in threads:
            thread.join()
        load_wall = time.perf_counter() - started
        client_cpu = time.process_time() - client_cpu_before
    finally:
        run.stop.set()
        run.barrier.abort()  # releases clients still waiting at the barrier when the main thread failed
    _log(f"{clients} clients: load done in {load_wall:.1f} s; waiting for deliveries")
    drain_s, drained = _drain(admin, DRAIN_TIMEOUT_S)
    cpu_after = {"jp": process_cpu_seconds(_pid(jp)), "th": process_cpu_seconds(_pid(th))}

    latencies = sorted(x for r in results for x in r.latencies_s)
    accepted_at = {k: v for r in results for k, v in r.accepted_at.items()}
    errors: Counter[str] = Counter()
    for r in results:
        errors.update(r.errors)
    exchanges = _outbound_since(admin, since)
    states: Counter[str] = Counter()
    to_ack: list[float] = []
    last_ack = since.timestamp()
    for exchange_id, accepted in accepted_at.items():
        entry = exchanges.get(exchange_id)
        state = entry["state"] if entry is not None else "missing"
        states[state] += 1
        if entry is not None and state in ACKNOWLEDGED:
            acknowledged = datetime.fromisoformat(entry["updated_at"]).timestamp()
            to_ack.append(acknowledged - accepted)
            last_ack = max(last_ack, acknowledged)
    to_ack.sort()
    accepted_count = len(latencies)
    per_s = accepted_count / load_wall
    cpu = {side: cpu_after[side] - cpu_before[side] for side in ("jp", "th")}

    def per_submission(seconds: float) -> float | None:
        return round(seconds / accepted_count, 4) if accepted_count else None

    return {
        "submitted": accepted_count + sum(errors.values()),
        "accepted_202": accepted_count,
        "errors": sum(errors.values()),
        "errors_by_kind": dict(errors),
        "first_errors": [e for r in results for e in r.first_errors][:3],
        "load_s": round(load_wall, 2),
        "per_s": round(per_s, 1),
        "p50_ms": _ms(latencies, 0.50),
        "p95_ms": _ms(latencies, 0.95),
        "p99_ms": _ms(latencies, 0.99),
        "ratio_to_floor": None,  # filled in once the floor's best round is known
        "time_to_acknowledged_ms": {
            "p50": _ms(to_ack, 0.50),
            "p95": _ms(to_ack, 0.95),
            "max": _ms(to_ack, 1.0),
        },
        "not_acknowledged": accepted_count - len(to_ack),
        # Whether delivery keeps up: receipts per second from the level's start to its last receipt. Below per_s,
        # a queue builds during the load and time_to_acknowledged grows with --seconds.
        "acknowledged_per_s": round(len(to_ack) / (last_ack - since.timestamp()), 1) if to_ack else None,
        "final_states": dict(states),
        "drain_s": round(drain_s, 1),
        "drained": drained,
        "cpu_s_per_submission": {
            "jp": per_submission(cpu["jp"]),
            "th": per_submission(cpu["th"]),
            "total": per_submission(cpu["jp"] + cpu["th"]),
        },
        "bench_client_cpu_s_per_submission": per_submission(client_cpu),
    }


# ----- where the time of one in-process submission goes -------------------------------------------------------


def _relative(filename: str) -> str | None:
    path = Path(filename)
    return path.relative_to(ROOT).as_posix() if path.is_relative_to(ROOT) else None


def _area(filename: str, name: str) -> str:
    """Whose code a function is: a top-level package of the repository, a site package, or the C built-ins."""
    if filename == "~":
        return "builtins (C)" if "lxml" not in name else "lxml (C)"
    path = Path(filename)
    if "site-packages" in path.parts:
        return path.parts[path.parts.index("site-packages") + 1].split(".")[0]
    relative = _relative(filename)
    return relative.split("/")[0] if relative is not None else "stdlib"


def _where(function: tuple[str, int, str]) -> str:
    filename, line, name = function
    return f"{_relative(filename) or Path(filename).name}:{line}({name})"


def _profile(call: Callable[[], object], seconds: float) -> dict[str, Any]:
    """Cumulative time per stage and self time by area. cProfile slows Python more than C: read shares."""
    run = profile(call, seconds)
    stages: dict[str, float] = {}
    commit_ms = 0.0
    for (filename, _, name), entry in run.stats.items():
        stage = STAGES.get((_relative(filename) or "", name))
        if stage is not None:
            stages[stage] = run.ms_per_call(entry[3])
        if name == "commit" and filename.endswith("sqlalchemy/orm/session.py"):
            commit_ms = max(commit_ms, run.ms_per_call(entry[3]))  # where the flush and the audit entry happen
    stages["commit (flush, audit entry)"] = commit_ms
    return {
        "what": "prepare_submission + store_submission in process, under cProfile",
        "profiled_calls": run.calls,
        "profiled_ms_per_call": run.ms_per_call(run.total),
        "stages_cumulative_ms_per_call": stages,
        "self_time_share_by_area": run.area_shares(lambda f: _area(f[0], f[2]), limit=10),
        "top_self_time": run.top_self_time(_where, PROFILE_TOP),
    }


# ----- driver -------------------------------------------------------------------------------------------------


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--seconds", type=float, default=DEFAULT_SECONDS, help=f"load per level (default {DEFAULT_SECONDS:g})"
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=DEFAULT_ROUNDS,
        help=f"floor rounds, split before and after the load, best kept (default {DEFAULT_ROUNDS})",
    )
    parser.add_argument(
        "--levels", default=DEFAULT_LEVELS, help=f"comma-separated client counts (default {DEFAULT_LEVELS})"
    )
    parser.add_argument(
        "--postgres",
        metavar="URL",
        help="run on PostgreSQL: an admin URL (e.g. postgresql+psycopg://postgres@127.0.0.1:5432/postgres); "
        "three fresh databases are created there and dropped at the end (default: SQLite files)",
    )
    parser.set_defaults(docs=None)  # check_arguments' --docs: one fixed document here
    args = check_arguments(parser, parser.parse_args(argv), [])
    try:
        levels = [int(level) for level in args.levels.split(",") if level.strip()]
    except ValueError:
        parser.error("--levels is a comma-separated list of client counts, e.g. 1,8,32")
    if not levels or any(not 1 <= level <= MAX_CLIENTS for level in levels) or len(set(levels)) != len(levels):
        parser.error(f"--levels: distinct client counts between 1 and {MAX_CLIENTS}")
    args.levels = levels
    if args.postgres is not None and not args.postgres.startswith("postgresql"):
        parser.error("--postgres takes a postgresql:// (or postgresql+psycopg://) URL")
    return args


def _start(gateway: GatewayProcess) -> None:
    started = time.perf_counter()
    try:
        gateway.start()
    except RuntimeError as exc:
        raise BenchError(str(exc)) from None
    _log(f"{gateway.code} ready on {gateway.base_url} in {time.perf_counter() - started:.1f} s")


def _measure(args: argparse.Namespace, temporary: Path, stack: contextlib.ExitStack) -> dict[str, Any]:
    data = FIXTURE.read_bytes()
    if FIXTURE_NUMBER not in data:
        raise BenchError(f"{FIXTURE.name} no longer carries {FIXTURE_NUMBER.decode()}; cannot make distinct documents")
    databases = Databases(temporary, args.postgres)
    stack.callback(databases.drop_all)
    jp = GatewayProcess("JP", "JP", temporary / "jp", databases.new("jp"))
    th = GatewayProcess(
        "TH", "TH", temporary / "th", databases.new("th"), env={"GATEWAY_ACCEPTED_FORMATS": json.dumps(TH_FORMATS)}
    )
    # Registered before starting, so a start that fails half-way still stops (callbacks run in reverse order).
    stack.callback(th.stop)
    stack.callback(jp.stop)
    _start(jp)
    _start(th)
    try:
        link(jp, th)
        link(th, jp)
        platform_key = jp.add_client("platform")
    except (RuntimeError, httpx.HTTPError) as exc:
        raise BenchError(f"linking the two gateways: {exc}") from None

    keys = jp.data_dir / "keys"
    key = load_signing_key(keys / "rsa-signing.key.pem", keys / "rsa-signing.pem")  # the key JP signs with
    floor = Floor(ValidationEngine(load_catalog()), key, databases.new("floor"), data)
    stack.callback(floor.close)
    if (sent_format := floor.with_translation()) != EXPECTED_SENT_FORMAT:
        raise BenchError(f"in process the CoO goes out as {sent_format}, not {EXPECTED_SENT_FORMAT}")
    floor.plain()

    samples = {"floor": FloorSamples(), "with": FloorSamples()}
    floor_seconds = min(args.seconds, FLOOR_SECONDS)
    before = math.ceil(args.rounds / 2)
    for index in range(before):
        _floor_round(floor, samples, floor_seconds, index)

    admin = stack.enter_context(jp.client())
    levels: dict[str, dict[str, Any]] = {}
    for clients in args.levels:
        _log(f"{clients} clients: warming up")
        levels[str(clients)] = entry = _level(jp, th, admin, platform_key, data, clients, args.seconds)
        _log(
            f"{clients} clients: {entry['per_s']}/s, p50 {entry['p50_ms']} ms, p99 {entry['p99_ms']} ms, "
            f"{entry['errors']} errors, acknowledged p50 {entry['time_to_acknowledged_ms']['p50']} ms, "
            f"CPU/submission {entry['cpu_s_per_submission']}"
        )

    for index in range(before, args.rounds):
        _floor_round(floor, samples, floor_seconds, index)
    floor_summary = samples["floor"].summary(FLOOR_WHAT)
    with_summary = samples["with"].summary(WITH_TRANSLATION_WHAT)
    for entry in levels.values():
        entry["ratio_to_floor"] = round(entry["per_s"] / floor_summary["per_s"], 3)
        entry["ratio_to_floor_with_translation"] = round(entry["per_s"] / with_summary["per_s"], 3)

    target: dict[str, Any] = {"clients": TARGET_CLIENTS, "min_ratio": TARGET_RATIO, "ratio": None, "met": None}
    profile: dict[str, Any] = {}
    if str(TARGET_CLIENTS) in levels:
        ratio = levels[str(TARGET_CLIENTS)]["ratio_to_floor"]
        target.update(ratio=ratio, met=ratio >= TARGET_RATIO)
        if not target["met"]:
            _log("target missed: profiling one in-process submission")
            profile = _profile(floor.with_translation, PROFILE_SECONDS)

    settings = Settings.model_fields
    return {
        "database": databases.backend,
        "parameters": {
            "seconds_per_level": args.seconds,
            "levels": args.levels,
            "floor_rounds": args.rounds,
            "floor_seconds": floor_seconds,
            "document": FIXTURE.relative_to(ROOT).as_posix(),
            "document_bytes": len(data),
            "th_accepts": TH_FORMATS,
            "sent_format": EXPECTED_SENT_FORMAT,
            "max_requests_per_level": MAX_REQUESTS_PER_LEVEL,
            # The harness's delivery settings (tests/harness.py) and the worker's default concurrency.
            "delivery_poll_s": float(jp.environment()["GATEWAY_DELIVERY_POLL_SECONDS"]),
            "delivery_concurrency": settings["delivery_concurrency"].default,
        },
        "floor": floor_summary,
        "floor_with_translation": with_summary,
        "levels": levels,
        "target": target,
        "profile": profile,
    }


def run(argv: list[str] | None = None) -> dict[str, Any]:
    args = _parse_args(argv)
    started = time.perf_counter()
    with (
        tempfile.TemporaryDirectory(prefix="bench-exchange-") as temporary,
        contextlib.ExitStack() as stack,  # stops the gateways and drops databases, also on error or Ctrl-C
    ):
        output = _measure(args, Path(temporary), stack)
    return {
        "benchmark": "exchange",
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
        "load_average_1m": round(os.getloadavg()[0], 2),
        **output,
        "elapsed_s": round(time.perf_counter() - started, 1),
    }


def main() -> int:
    return print_result(run)


if __name__ == "__main__":
    sys.exit(main())
