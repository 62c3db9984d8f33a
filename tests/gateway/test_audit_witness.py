"""This gateway as its partners' witness: partner checkpoints are stored from Audit-Checkpoint headers and each new one
is checked against the last consistent one — a fork or a rewritten history is an alert (metric, log, audit entry,
visible on the partner), a partner that cannot be reached is asked again later.

The partner's log is simulated at the network edge (an httpx transport serving its consistency proofs); everything
on this side — database, checker, API — is real, on both databases."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import select, text
from sqlmodel import col

from gateway.audit.merkle import MemoryTree, consistency_proof
from gateway.audit.models import AuditEntry, PartnerCheckpoint
from gateway.audit.witness import ALERT_ACTION, Seen, WitnessChecker, judge_pair, receive_checkpoint
from gateway.db import make_engine, unit_of_work
from gateway.delivery.http import PartnerClients
from gateway.delivery.wire import checkpoint_header, read_checkpoint_header
from schemas.engine import ValidationEngine
from signing.checkpoint import Checkpoint, NoteSigner
from tests.gateway.conftest import Gateway, register_partner, register_thai_partner, running_gateway

AUDIT_URL = "https://th.example/v1/audit"


class PartnerLog:
    """The Thai gateway's audit log, as far as a witness can see it: signed notes and consistency proofs."""

    def __init__(self, entries: int) -> None:
        self.signer = NoteSigner("trade-gateway/TH", Ed25519PrivateKey.generate())
        self.leaves = [f'{{"entry":{i}}}'.encode() for i in range(entries)]
        self.requests: list[httpx.Request] = []
        self.down = False

    def note(self, size: int, leaves: list[bytes] | None = None) -> str:
        tree = MemoryTree.from_leaves((leaves or self.leaves)[:size])
        return self.signer.sign(Checkpoint(self.signer.name, size, tree.root()).body()).decode()

    def header(self, size: int, leaves: list[bytes] | None = None) -> str:
        return checkpoint_header(self.note(size, leaves))

    def rewrite(self, index: int) -> None:
        """What a superuser of the partner's database could do: change one entry and recompute every hash."""
        self.leaves[index] = b'{"entry":"forged"}'

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.down:
            return httpx.Response(503, json={"title": "down for maintenance"})
        assert request.url.path == "/v1/audit/consistency"
        first, second = int(request.url.params["first"]), int(request.url.params["second"])
        path = consistency_proof(first, second, MemoryTree.from_leaves(self.leaves[:second]))
        return httpx.Response(
            200, json={"first": first, "second": second, "path": [base64.b64encode(h).decode() for h in path]}
        )


@pytest.fixture
def thai_log() -> PartnerLog:
    return PartnerLog(40)


@pytest.fixture
def app(database_url: str, tmp_path: Path, engine: ValidationEngine, thai_log: PartnerLog) -> Iterator[Gateway]:
    with running_gateway(database_url, tmp_path, engine) as gateway:
        register_thai_partner(database_url)
        answer = gateway.client.patch(
            "/v1/partners/TH",
            json={"audit_verifier_key": thai_log.signer.verifier_key(), "audit_url": AUDIT_URL},
            headers=gateway.headers("admin"),
        )
        assert answer.status_code == 200, answer.text
        yield gateway


@pytest.fixture
def witness(app: Gateway, thai_log: PartnerLog) -> Iterator[WitnessChecker]:
    db = make_engine(app.database_url)
    clients = PartnerClients(5.0, httpx.Client(transport=httpx.MockTransport(thai_log.handle)))
    checker = WitnessChecker(db, interval=60, timeout=5.0, clients=clients)
    yield checker
    checker.stop()
    db.dispose()


def _receive(app: Gateway, header: str | None, partner: str = "TH") -> str:
    db = make_engine(app.database_url)
    with unit_of_work(db, write=True) as session:
        outcome = receive_checkpoint(session, partner, header)
    db.dispose()
    return outcome


def _states(app: Gateway) -> dict[int, str]:
    db = make_engine(app.database_url)
    with unit_of_work(db) as session:
        rows = session.execute(select(col(PartnerCheckpoint.size), col(PartnerCheckpoint.state))).all()
    db.dispose()
    return {size: state for size, state in rows}


def _alerts(app: Gateway) -> list[dict[str, object]]:
    db = make_engine(app.database_url)
    with unit_of_work(db) as session:
        leaves = session.execute(
            select(col(AuditEntry.leaf)).where(col(AuditEntry.action) == ALERT_ACTION).order_by(col(AuditEntry.index))
        ).scalars()
        found = [json.loads(leaf) for leaf in leaves]
    db.dispose()
    return found


def _witness_of(app: Gateway) -> dict[str, object]:
    answer = app.client.get("/v1/partners/TH", headers=app.headers("admin"))
    assert answer.status_code == 200
    view: dict[str, object] = answer.json()["witness"]
    return view


# ----- the header -----------------------------------------------------------------------------------------------


def test_the_checkpoint_header_is_a_byte_sequence_of_the_note(thai_log: PartnerLog) -> None:
    note = thai_log.note(3)
    value = checkpoint_header(note)
    assert "\n" not in value
    assert (value[0], value[-1]) == (":", ":")
    assert read_checkpoint_header(value) == note.encode()
    for junk in ("", "::x", note, ":not base64!:", ":" + "A" * 9000 + ":"):
        with pytest.raises(ValueError, match="Audit-Checkpoint"):
            read_checkpoint_header(junk)


# ----- receiving --------------------------------------------------------------------------------------------------


def test_only_checkpoints_signed_by_the_partners_audit_key_are_kept(app: Gateway, thai_log: PartnerLog) -> None:
    assert _receive(app, None) == "absent"
    assert _receive(app, thai_log.header(5)) == "stored"
    assert _receive(app, thai_log.header(5)) == "known"
    stranger = PartnerLog(5)  # another key claiming to be TH's log
    assert _receive(app, stranger.header(5)) == "refused"
    assert _receive(app, ":bm90IGEgbm90ZQo=:") == "refused"
    assert _receive(app, "no byte sequence") == "refused"
    # A partner that publishes no audit key has no checkpoints to witness.
    register_partner(app.database_url, "VN", "Vietnamese customs")
    assert _receive(app, thai_log.header(5), partner="VN") == "no-key"
    assert _states(app) == {5: "pending"}


# ----- judging ----------------------------------------------------------------------------------------------------


def test_judging_a_pair_needs_a_proof_except_for_equal_sizes(thai_log: PartnerLog) -> None:
    small = Seen(8, MemoryTree.from_leaves(thai_log.leaves[:8]).root())
    large = Seen(20, MemoryTree.from_leaves(thai_log.leaves[:20]).root())
    proof = consistency_proof(8, 20, MemoryTree.from_leaves(thai_log.leaves[:20]))
    assert judge_pair(small, large, proof) is None
    assert judge_pair(large, small, proof) is None  # the order they arrived in does not matter
    assert judge_pair(small, large, proof[:-1]) is not None
    assert judge_pair(small, large, None) is not None
    reason = judge_pair(large, Seen(20, bytes(32)), None)
    assert str(reason).startswith("fork")


def test_a_growing_log_stays_consistent_and_nothing_is_raised(
    app: Gateway, witness: WitnessChecker, thai_log: PartnerLog
) -> None:
    _receive(app, thai_log.header(5))
    assert witness.run_once() == 1  # the first checkpoint is the baseline: no proof is needed
    assert thai_log.requests == []
    _receive(app, thai_log.header(17))
    _receive(app, thai_log.header(11))  # arrived late, after a larger one: still checked
    assert witness.run_once() == 2
    assert _states(app) == {5: "consistent", 11: "consistent", 17: "consistent"}
    asked = [(int(r.url.params["first"]), int(r.url.params["second"])) for r in thai_log.requests]
    assert asked == [(5, 11), (11, 17)]
    view = _witness_of(app)
    assert view["verified"]["size"] == 17  # type: ignore[index]
    assert (view["alerts"], view["inconsistent"], view["pending"]) == ([], 0, 0)
    assert _alerts(app) == []


def test_a_fork_is_an_alert(app: Gateway, witness: WitnessChecker, thai_log: PartnerLog) -> None:
    _receive(app, thai_log.header(12))
    witness.run_once()
    forked = list(thai_log.leaves)
    forked[3] = b'{"entry":"another history"}'
    assert _receive(app, thai_log.header(12, forked)) == "stored"  # same size, another root, both signed
    assert witness.run_once() == 1
    assert thai_log.requests == []  # a fork needs no proof to be seen
    alerts = _alerts(app)
    assert len(alerts) == 1
    assert (alerts[0]["partner"], alerts[0]["outcome"]) == ("TH", "inconsistent")
    assert str(alerts[0]["detail"]["reason"]).startswith("fork")  # type: ignore[index]
    view = _witness_of(app)
    assert view["inconsistent"] == 1
    assert view["alerts"][0]["size"] == 12  # type: ignore[index]
    assert view["verified"]["size"] == 12  # type: ignore[index]  # the first one stays the consistent history
    metrics = app.client.get("/metrics", headers=app.headers("admin")).text
    assert 'gateway_audit_witness_alerts{partner="TH"} 1.0' in metrics


def test_a_rewritten_history_is_an_alert(app: Gateway, witness: WitnessChecker, thai_log: PartnerLog) -> None:
    _receive(app, thai_log.header(10))
    witness.run_once()
    thai_log.rewrite(4)  # entry 4 changed, every hash above it recomputed: the partner's proofs now describe this
    _receive(app, thai_log.header(25))
    assert witness.run_once() == 1
    assert _states(app) == {10: "consistent", 25: "inconsistent"}
    (alert,) = _alerts(app)
    assert "does not extend" in str(alert["detail"]["reason"])  # type: ignore[index]
    assert alert["detail"]["against"]["size"] == 10  # type: ignore[index]
    # Later checkpoints are still judged against the last consistent one, not against the forged history.
    _receive(app, thai_log.header(30))
    witness.run_once()
    assert _states(app)[30] == "inconsistent"


def test_an_unreachable_partner_is_asked_again_later_without_an_alert(
    app: Gateway, witness: WitnessChecker, thai_log: PartnerLog
) -> None:
    _receive(app, thai_log.header(6))
    witness.run_once()
    thai_log.down = True
    _receive(app, thai_log.header(9))
    assert witness.run_once() == 0
    assert witness.run_once() == 0  # not due again yet: the retry waits
    assert len(thai_log.requests) == 1
    db = make_engine(app.database_url)
    with unit_of_work(db) as session:
        row = session.get(PartnerCheckpoint, ("TH", 9, MemoryTree.from_leaves(thai_log.leaves[:9]).root()))
        assert row is not None
        assert (row.state, row.failures) == ("pending", 1)
        assert "503" in str(row.detail)
    with unit_of_work(db, write=True) as session:  # time passes
        session.execute(text("UPDATE partner_checkpoints SET next_check_at = NULL"))
    db.dispose()
    thai_log.down = False
    assert witness.run_once() == 1
    assert _states(app) == {6: "consistent", 9: "consistent"}
    assert _alerts(app) == []
