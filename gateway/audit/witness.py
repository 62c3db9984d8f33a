"""Partners as witnesses of each other's audit logs (DESIGN §7, wire protocol v1).

Every delivery and every receipt carries the sender's latest signed checkpoint (``Audit-Checkpoint``). This gateway
keeps each partner's checkpoints (:func:`receive_checkpoint`, in the transaction that handles the delivery or the
receipt: a signature check and at most one small insert), and a background checker (:class:`WitnessChecker`)
compares each new one with the partner's last consistent checkpoint:

- the same size with another root is a **fork** — two versions of the partner's history were signed; no network
  is needed to see it;
- otherwise the checker fetches a consistency proof from the partner's audit API (``GET {audit_url}/consistency``)
  and verifies it against the two *signed* roots. A partner cannot produce a proof for a history it rewrote.

An inconsistency is an alert: the checkpoint is marked ``inconsistent`` with the reason, an entry goes into our own
audit log (``audit.witness_alert``), an error is logged, ``gateway_audit_witness_alerts`` counts it, and
``GET /v1/partners/{code}`` shows it. Nothing stops deliveries: whether to keep exchanging with a partner whose log
forked is the operators' decision, made on this evidence. A proof that cannot be fetched (the partner is down, the
answer is malformed) leaves the checkpoint pending and is retried with backoff.

The first checkpoint witnessed from a partner is taken as it is (trust on first use, like its capability document).
"""

from __future__ import annotations

import base64
import binascii
import json
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

import httpx
import structlog
from sqlalchemy import func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session
from sqlmodel import col

from gateway.audit.log import SYSTEM, record
from gateway.audit.merkle import HASH_SIZE, verify_consistency
from gateway.audit.models import PartnerCheckpoint
from gateway.db import unit_of_work, utcnow
from gateway.delivery.http import AnswerRefused, PartnerClients, read_capped
from gateway.delivery.wire import read_checkpoint_header
from gateway.partners.models import Partner
from gateway.partners.schemas import WitnessedCheckpoint, WitnessOut
from signing.checkpoint import MalformedKey, NoteRefused, open_note, parse_verifier_key

__all__ = [
    "ALERT_ACTION",
    "CONSISTENT",
    "INCONSISTENT",
    "PENDING",
    "Seen",
    "WitnessChecker",
    "alert_counts",
    "judge_pair",
    "receive_checkpoint",
    "witness_view",
]

log = structlog.get_logger("gateway.audit.witness")

PENDING: Final = "pending"
CONSISTENT: Final = "consistent"
INCONSISTENT: Final = "inconsistent"
ALERT_ACTION: Final = "audit.witness_alert"
# A consistency proof has at most 2·log2(n) hashes: 128 base64 hashes are under 6 KiB.
MAX_PROOF_BYTES: Final = 64 * 1024
MAX_PROOF_HASHES: Final = 128
# Checkpoints judged per round: a partner that sends many is worked through over several rounds.
BATCH: Final = 200


@dataclass(frozen=True)
class Seen:
    """A partner checkpoint as the witness knows it: size and root (from a note whose signature verified)."""

    size: int
    root: bytes

    def __str__(self) -> str:
        return f"size {self.size}, root {base64.b64encode(self.root).decode()}"


def receive_checkpoint(session: Session, partner_code: str, header: str | None, now: datetime | None = None) -> str:
    """Keep the partner's checkpoint from an ``Audit-Checkpoint`` header, for the witness to check.

    Returns what happened: ``absent`` (no header), ``no-key`` (the partner publishes no audit key), ``refused``
    (not a checkpoint signed by the partner's key, logged), ``known`` (already held), or ``stored``."""
    if header is None:
        return "absent"
    partner = session.get(Partner, partner_code)
    if partner is None or partner.audit_verifier_key is None:
        return "no-key"
    try:
        verifier = parse_verifier_key(partner.audit_verifier_key)
        note = read_checkpoint_header(header)
        checkpoint = open_note(note, verifier)
    except (ValueError, NoteRefused, MalformedKey) as exc:
        log.warning("partner checkpoint refused", partner=partner_code, reason=str(exc)[:300])
        return "refused"
    if checkpoint.origin != verifier.name:
        log.warning("partner checkpoint refused", partner=partner_code, reason=f"origin {checkpoint.origin!r}")
        return "refused"
    key = (partner_code, checkpoint.size, checkpoint.root_hash)
    if session.get(PartnerCheckpoint, key) is not None:
        return "known"
    values = {
        "partner_code": partner_code,
        "size": checkpoint.size,
        "root": checkpoint.root_hash,
        # As received, signature lines included (it verified, so it is UTF-8): evidence to check again later.
        "note": note.decode("utf-8"),
        "received_at": now or utcnow(),
        "state": PENDING,
        "failures": 0,
    }
    # Two deliveries carrying the same new checkpoint may race: the second insert does nothing instead of
    # failing (and rolling back) the transaction that stores a delivery.
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    session.execute(dialect.insert(PartnerCheckpoint).values(values).on_conflict_do_nothing())
    return "stored"


def judge_pair(base: Seen, candidate: Seen, path: Sequence[bytes] | None) -> str | None:
    """Whether ``candidate`` and ``base`` (both signed by the partner) can be one history; None when they can, else
    the reason. ``path``: the consistency proof from the smaller to the larger (ignored for equal sizes)."""
    if candidate.size == base.size:
        if candidate.root == base.root:
            return None
        return f"fork: two checkpoints of {base.size} entries with different roots ({base} and {candidate})"
    first, second = (candidate, base) if candidate.size < base.size else (base, candidate)
    if verify_consistency(first.size, second.size, first.root, second.root, path or []):
        return None
    return f"the log of {second} does not extend the log of {first}: the partner's history changed"


class ProofUnavailable(Exception):
    """The partner did not answer with a usable consistency proof (retried later)."""


def _read_proof(body: bytes, first: int, second: int) -> list[bytes]:
    try:
        answer = json.loads(body)
    except (UnicodeDecodeError, ValueError):
        raise ProofUnavailable("the consistency proof is not JSON") from None
    if not isinstance(answer, dict) or answer.get("first") != first or answer.get("second") != second:
        raise ProofUnavailable(f"the answer is not a consistency proof from {first} to {second}")
    path = answer.get("path")
    if not isinstance(path, list) or len(path) > MAX_PROOF_HASHES or not all(isinstance(h, str) for h in path):
        raise ProofUnavailable("the proof's path is not a list of base64 hashes")
    try:
        hashes = [base64.b64decode(h, validate=True) for h in path]
    except (binascii.Error, ValueError):
        raise ProofUnavailable("the proof's path is not base64") from None
    if any(len(h) != HASH_SIZE for h in hashes):
        raise ProofUnavailable("the proof holds a hash that is not SHA-256 sized")
    return hashes


@dataclass(frozen=True)
class _Due:
    partner: str
    seen: Seen
    audit_url: str | None
    tls_ca: str | None
    failures: int


class WitnessChecker:
    """Checks the partners' pending checkpoints every ``settings.audit_witness_seconds`` (a thread)."""

    def __init__(
        self,
        db: Engine,
        *,
        interval: float,
        timeout: float,
        clients: PartnerClients | None = None,
        retry_base: timedelta = timedelta(seconds=30),
        retry_cap: timedelta = timedelta(hours=1),
    ) -> None:
        self.db = db
        self.interval = interval
        self.timeout = timeout
        self.clients = clients or PartnerClients(timeout)
        self.retry_base = retry_base
        self.retry_cap = retry_cap
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="audit-witness", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)
        self.clients.close()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.run_once()
            except Exception:  # the next round tries again; a witness must not die of one bad answer
                log.exception("witness round failed")

    def run_once(self) -> int:
        """Judge the checkpoints that are due; the number judged (consistent or inconsistent)."""
        now = utcnow()
        with unit_of_work(self.db) as session:
            due = [
                _Due(row.partner_code, Seen(row.size, row.root), audit_url, tls_ca, row.failures)
                for row, audit_url, tls_ca in session.execute(
                    select(PartnerCheckpoint, col(Partner.audit_url), col(Partner.tls_ca_pem))
                    .join(Partner, col(Partner.code) == col(PartnerCheckpoint.partner_code))
                    .where(
                        col(PartnerCheckpoint.state) == PENDING,
                        or_(
                            col(PartnerCheckpoint.next_check_at).is_(None), col(PartnerCheckpoint.next_check_at) <= now
                        ),
                    )
                    .order_by(col(PartnerCheckpoint.partner_code), col(PartnerCheckpoint.size))
                    .limit(BATCH)
                ).all()
            ]
            bases = {code: _base(session, code) for code in {d.partner for d in due}}
        judged = 0
        for item in due:
            base = bases[item.partner]
            if base is None:
                self._settle(item, CONSISTENT, "the first checkpoint witnessed from this partner", None)
                bases[item.partner] = item.seen
                judged += 1
                continue
            path: list[bytes] | None = None
            if item.seen.size != base.size and min(item.seen.size, base.size) > 0:
                try:
                    path = self._fetch(item, min(item.seen.size, base.size), max(item.seen.size, base.size))
                except ProofUnavailable as exc:
                    self._defer(item, str(exc), now)
                    continue
            reason = judge_pair(base, item.seen, path)
            if reason is None:
                self._settle(item, CONSISTENT, f"consistent with {base}", None)
                if item.seen.size > base.size:
                    bases[item.partner] = item.seen
            else:
                self._settle(item, INCONSISTENT, reason, base)
            judged += 1
        return judged

    def _fetch(self, item: _Due, first: int, second: int) -> list[bytes]:
        if item.audit_url is None:
            raise ProofUnavailable("the partner publishes no audit URL to fetch a consistency proof from")
        url = item.audit_url.rstrip("/") + "/consistency"
        try:
            answer = read_capped(
                self.clients.get(item.partner, item.tls_ca),
                "GET",
                url,
                max_bytes=MAX_PROOF_BYTES,
                seconds=self.timeout,
                params={"first": first, "second": second},
            )
        except AnswerRefused as exc:
            raise ProofUnavailable(f"{url}: {exc}") from None
        except httpx.HTTPError as exc:
            raise ProofUnavailable(f"{url}: {type(exc).__name__}: {exc}") from None
        if answer.status != 200:
            raise ProofUnavailable(f"{url} answered HTTP {answer.status}")
        return _read_proof(answer.body, first, second)

    def _defer(self, item: _Due, reason: str, now: datetime) -> None:
        wait = min(self.retry_base * 2 ** min(item.failures, 16), self.retry_cap)
        with unit_of_work(self.db, write=True) as session:
            session.execute(
                update(PartnerCheckpoint)
                .where(*_key(item), col(PartnerCheckpoint.state) == PENDING)
                .values(failures=item.failures + 1, detail=reason[:1000], next_check_at=now + wait)
            )
        log.warning("partner checkpoint not checked yet", partner=item.partner, size=item.seen.size, reason=reason)

    def _settle(self, item: _Due, state: str, detail: str, base: Seen | None) -> None:
        with unit_of_work(self.db, write=True) as session:
            changed = session.execute(
                update(PartnerCheckpoint)
                .where(*_key(item), col(PartnerCheckpoint.state) == PENDING)
                .values(state=state, detail=detail, checked_at=utcnow(), next_check_at=None)
            ).rowcount  # type: ignore[attr-defined]
            if changed != 1 or state != INCONSISTENT:
                return  # another witness process judged it first, or there is nothing to raise
            assert base is not None
            record(
                session,
                actor=SYSTEM,
                action=ALERT_ACTION,
                outcome=INCONSISTENT,
                partner=item.partner,
                detail={"checkpoint": _seen(item.seen), "against": _seen(base), "reason": detail},
            )
        log.error("partner audit log inconsistent", partner=item.partner, reason=detail)


def _key(item: _Due) -> tuple[Any, ...]:
    return (
        col(PartnerCheckpoint.partner_code) == item.partner,
        col(PartnerCheckpoint.size) == item.seen.size,
        col(PartnerCheckpoint.root) == item.seen.root,
    )


def _seen(seen: Seen) -> dict[str, Any]:
    return {"size": seen.size, "root": base64.b64encode(seen.root).decode()}


def _base(session: Session, partner_code: str) -> Seen | None:
    """The partner's largest consistent checkpoint: every consistent one is a prefix of it."""
    row = session.execute(
        select(col(PartnerCheckpoint.size), col(PartnerCheckpoint.root))
        .where(col(PartnerCheckpoint.partner_code) == partner_code, col(PartnerCheckpoint.state) == CONSISTENT)
        .order_by(col(PartnerCheckpoint.size).desc())
        .limit(1)
    ).first()
    return Seen(row[0], row[1]) if row is not None else None


def alert_counts(session: Session) -> dict[str, int]:
    """Inconsistent checkpoints per partner (the alert metric, computed from the database at scrape time)."""
    rows = session.execute(
        select(col(PartnerCheckpoint.partner_code), func.count())
        .where(col(PartnerCheckpoint.state) == INCONSISTENT)
        .group_by(col(PartnerCheckpoint.partner_code))
    ).all()
    return {code: count for code, count in rows}


def witness_view(session: Session, partner_code: str) -> WitnessOut:
    """What this gateway, as the partner's witness, holds of its log: shown in ``GET /v1/partners/{code}``."""
    counts = dict(
        session.execute(
            select(col(PartnerCheckpoint.state), func.count())
            .where(col(PartnerCheckpoint.partner_code) == partner_code)
            .group_by(col(PartnerCheckpoint.state))
        ).all()
    )
    verified = session.execute(
        select(PartnerCheckpoint)
        .where(col(PartnerCheckpoint.partner_code) == partner_code, col(PartnerCheckpoint.state) == CONSISTENT)
        .order_by(col(PartnerCheckpoint.size).desc())
        .limit(1)
    ).scalar()
    alerts = session.execute(
        select(PartnerCheckpoint)
        .where(col(PartnerCheckpoint.partner_code) == partner_code, col(PartnerCheckpoint.state) == INCONSISTENT)
        .order_by(col(PartnerCheckpoint.checked_at).desc())
        .limit(10)
    ).scalars()
    return WitnessOut(
        checkpoints=sum(counts.values()),
        pending=counts.get(PENDING, 0),
        inconsistent=counts.get(INCONSISTENT, 0),
        verified=_checkpoint_out(verified) if verified is not None else None,
        alerts=[_checkpoint_out(row) for row in alerts],
    )


def _checkpoint_out(row: PartnerCheckpoint) -> WitnessedCheckpoint:
    return WitnessedCheckpoint(
        size=row.size,
        root=base64.b64encode(row.root).decode(),
        received_at=row.received_at,
        checked_at=row.checked_at,
        detail=row.detail,
    )
