"""Signed checkpoints and the auditor's proofs, on both databases; tampering through SQL is refused by the signer."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine

from gateway.audit.bundle import verify_bundle
from gateway.audit.checkpoints import CheckpointSigner, SignerRefused, init_audit_key
from gateway.audit.log import SYSTEM, record
from gateway.audit.merkle import leaf_hash, node_hash, verify_consistency, verify_inclusion
from gateway.db import make_engine, unit_of_work
from schemas.engine import ValidationEngine
from signing.checkpoint import open_note, parse_verifier_key
from tests.gateway.conftest import Gateway, running_gateway


@pytest.fixture
def db(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def signer(tmp_path: Path) -> CheckpointSigner:
    init_audit_key(tmp_path / "keys", "trade-gateway/JP")
    loaded = CheckpointSigner.load(tmp_path / "keys")
    assert loaded is not None
    return loaded


def _append(db: Engine, count: int, partner: str | None = None) -> None:
    for _ in range(count):
        with unit_of_work(db, write=True) as session:
            record(session, actor=SYSTEM, action="test", outcome="ok", partner=partner, exchange_id=uuid.uuid4())


def _one_exchange(db: Engine, steps: int) -> None:
    """``steps`` entries of one exchange, each in its own transaction: a chain of previous-entry links."""
    exchange = uuid.uuid4()
    for step in range(steps):
        with unit_of_work(db, write=True) as session:
            record(session, actor=SYSTEM, action=f"step{step}", outcome="ok", exchange_id=exchange)


def _sign(db: Engine, signer: CheckpointSigner) -> bytes:
    with unit_of_work(db, write=True) as session:
        return signer.sign(session, datetime.now(UTC)).note.encode()


def test_a_checkpoint_is_a_signed_note_over_the_committed_log(db: Engine, signer: CheckpointSigner) -> None:
    _append(db, 5)
    checkpoint = open_note(_sign(db, signer), parse_verifier_key(signer.verifier_key()))
    assert (checkpoint.origin, checkpoint.size) == ("trade-gateway/JP", 5)
    _append(db, 3)
    later = open_note(_sign(db, signer), parse_verifier_key(signer.verifier_key()))
    assert later.size == 8


def test_the_signer_refuses_a_restored_backup(db: Engine, signer: CheckpointSigner) -> None:
    _append(db, 6)
    _sign(db, signer)
    with db.begin() as connection:  # the database as it was before the last two entries
        connection.execute(text('DELETE FROM audit_entries WHERE "index" >= 4'))
        connection.execute(text('DELETE FROM audit_subtrees WHERE "index" * (1 << level) + (1 << level) > 4'))
        connection.execute(text("UPDATE audit_head SET size = 4"))
    with pytest.raises(SignerRefused, match="older backup"):
        _sign(db, signer)


@pytest.mark.parametrize("grow", [0, 3], ids=["same-size", "extended"])
def test_the_signer_refuses_rewritten_history(db: Engine, signer: CheckpointSigner, grow: int) -> None:
    _append(db, 6)
    _sign(db, signer)
    with db.begin() as connection:  # a superuser rewrites entry 2 and the hashes above it, consistently
        connection.execute(
            text('UPDATE audit_subtrees SET hash = :h WHERE level = 0 AND "index" = 2'), {"h": b"\0" * 32}
        )
        connection.execute(text('DELETE FROM audit_subtrees WHERE level > 0 AND "index" = 0'))
    with unit_of_work(db, write=True) as session:
        rows = dict(
            ((level, index), digest)
            for level, index, digest in session.execute(text('SELECT level, "index", hash FROM audit_subtrees'))
        )
        level1 = node_hash(rows[(0, 2)], rows[(0, 3)])
        session.execute(text('UPDATE audit_subtrees SET hash = :h WHERE level = 1 AND "index" = 1'), {"h": level1})
        session.execute(
            text('INSERT INTO audit_subtrees (level, "index", hash) VALUES (1, 0, :a), (2, 0, :b)'),
            {"a": node_hash(rows[(0, 0)], rows[(0, 1)]), "b": node_hash(node_hash(rows[(0, 0)], rows[(0, 1)]), level1)},
        )
    _append(db, grow)
    with pytest.raises(SignerRefused, match="history changed"):
        _sign(db, signer)


# ----- the auditor's API ------------------------------------------------------------------------------------------


@pytest.fixture
def app(database_url: str, tmp_path: Path, engine: ValidationEngine) -> Iterator[Gateway]:
    init_audit_key(tmp_path / "keys", "trade-gateway/LOCAL")
    with running_gateway(database_url, tmp_path, engine, keys_dir=tmp_path / "keys") as gateway:
        yield gateway


def test_proofs_from_the_api_verify_against_signed_checkpoints(app: Gateway, tmp_path: Path) -> None:
    db = make_engine(app.database_url)
    signer = CheckpointSigner.load(tmp_path / "keys")
    assert signer is not None
    assert app.client.get("/v1/audit/checkpoint").status_code == 404
    _append(db, 7, partner="TH")
    first = open_note(_sign(db, signer), parse_verifier_key(signer.verifier_key()))
    _append(db, 6)
    note = app.client.get("/v1/audit/checkpoint")  # public: partners are the log's witnesses
    assert note.status_code == 200
    assert open_note(note.content, parse_verifier_key(signer.verifier_key())).size == 7
    second = open_note(_sign(db, signer), parse_verifier_key(signer.verifier_key()))
    assert app.client.get("/v1/audit/checkpoint").text.startswith("trade-gateway/LOCAL\n13\n")
    entries = app.client.get("/v1/audit/entries", headers=app.headers("auditor")).json()["entries"]
    assert [e["index"] for e in entries] == list(range(13))
    for entry in entries:
        proof = app.client.get(f"/v1/audit/entries/{entry['index']}/proof", headers=app.headers("auditor")).json()
        assert proof["tree_size"] == 13
        path = [base64.b64decode(h) for h in proof["path"]]
        assert verify_inclusion(leaf_hash(base64.b64decode(entry["leaf"])), entry["index"], 13, path, second.root_hash)
    consistency = app.client.get("/v1/audit/consistency", params={"first": 7, "second": 13}).json()
    path = [base64.b64decode(h) for h in consistency["path"]]
    assert verify_consistency(first.size, second.size, first.root_hash, second.root_hash, path)
    # A partner sees only the entries about itself (the test's partner key is TH's).
    mine = app.client.get("/v1/audit/entries", headers=app.headers("partner")).json()["entries"]
    assert [e["index"] for e in mine] == list(range(7))
    assert app.client.get("/v1/audit/entries/8/proof", headers=app.headers("partner")).status_code == 404
    assert app.client.get("/v1/audit/consistency", params={"first": 9, "second": 99}).status_code == 400
    db.dispose()


# ----- export bundles and the offline verifier ----------------------------------------------------------------------


def _exported(app: Gateway, **params: int) -> bytes:
    answer = app.client.get("/v1/audit/export", params=params, headers=app.headers("auditor"))
    assert answer.status_code == 200, answer.text
    content: bytes = answer.content
    return content


def _verify_cli(bundle: Path, key: str, previous: Path | None = None) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "gateway", "audit", "verify", str(bundle), "--key", key]
    if previous is not None:
        command += ["--previous", str(previous)]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)


def test_a_full_export_verifies_offline_and_every_tampering_is_reported(app: Gateway, tmp_path: Path) -> None:
    db = make_engine(app.database_url)
    signer = CheckpointSigner.load(tmp_path / "keys")
    assert signer is not None
    _one_exchange(db, steps=9)
    older = _sign(db, signer)
    _append(db, 4)
    _sign(db, signer)
    key = signer.verifier_key()
    raw = _exported(app)
    verdict = verify_bundle(raw, key, older)
    assert verdict.ok, verdict.problems
    assert verdict.entries == 13
    good = tmp_path / "bundle.json"
    good.write_bytes(raw)
    (tmp_path / "older.note").write_bytes(older)
    passed = _verify_cli(good, key, tmp_path / "older.note")
    assert passed.returncode == 0, passed.stderr
    assert "all checks hold" in passed.stdout

    bundle = json.loads(raw)
    tampered: dict[str, Callable[[dict[str, Any]], object]] = {
        "one byte of a leaf": lambda b: b["entries"][3].update(leaf=_flip(b["entries"][3]["leaf"])),
        "an entry deleted": lambda b: b["entries"].pop(5),
        "two entries swapped": lambda b: b["entries"].insert(2, b["entries"].pop(4)),
        "a proof truncated": lambda b: b["entries"][0]["proof"].pop(),
    }
    for name, change in tampered.items():
        copy = json.loads(json.dumps(bundle))
        change(copy)
        verdict = verify_bundle(json.dumps(copy).encode(), key)
        assert not verdict.ok, name
    copy = json.loads(json.dumps(bundle))
    copy["entries"][3]["leaf"] = _flip(copy["entries"][3]["leaf"])
    bad = tmp_path / "tampered.json"
    bad.write_text(json.dumps(copy))
    failed = _verify_cli(bad, key)
    assert failed.returncode == 1
    assert "FAILED: entry 3" in failed.stderr
    # A checkpoint signed by another key is not this log's.
    stranger_keys = tmp_path / "stranger"
    init_audit_key(stranger_keys, "trade-gateway/LOCAL")
    stranger = CheckpointSigner.load(stranger_keys)
    assert stranger is not None
    assert not verify_bundle(raw, stranger.verifier_key()).ok
    db.dispose()


def test_a_leaf_rewritten_through_sql_fails_the_offline_verification(app: Gateway, tmp_path: Path) -> None:
    db = make_engine(app.database_url)
    signer = CheckpointSigner.load(tmp_path / "keys")
    assert signer is not None
    _append(db, 6)
    _sign(db, signer)
    with db.begin() as connection:
        connection.execute(
            text("""UPDATE audit_entries SET leaf = :leaf WHERE "index" = 2"""), {"leaf": b'{"v":1,"forged":true}'}
        )
    verdict = verify_bundle(_exported(app), signer.verifier_key())
    assert not verdict.ok
    assert any("entry 2" in problem for problem in verdict.problems)
    assert any("root recomputed" in problem for problem in verdict.problems)
    db.dispose()


def _flip(leaf: str) -> str:
    data = bytearray(base64.b64decode(leaf))
    data[0] ^= 0x01
    return base64.b64encode(bytes(data)).decode()


def _flip_one_byte(connection: Connection) -> None:
    leaf = connection.execute(text('SELECT leaf FROM audit_entries WHERE "index" = 3')).scalar_one()
    changed = bytes(leaf).replace(b'"step3"', b'"stepX"')
    connection.execute(text('UPDATE audit_entries SET leaf = :leaf WHERE "index" = 3'), {"leaf": changed})


def _statements(*statements: str) -> Callable[[Connection], None]:
    def run(connection: Connection) -> None:
        for statement in statements:
            connection.execute(text(statement), {"zeros": b"\0" * 32} if ":zeros" in statement else {})

    return run


_SQL_TAMPERING: dict[str, Callable[[Connection], None]] = {
    "one byte of a leaf": _flip_one_byte,
    "a deleted entry": _statements('DELETE FROM audit_entries WHERE "index" = 4'),
    "two swapped entries": _statements(
        'UPDATE audit_entries SET "index" = -1 WHERE "index" = 2',
        'UPDATE audit_entries SET "index" = 2 WHERE "index" = 5',
        'UPDATE audit_entries SET "index" = 5 WHERE "index" = -1',
    ),
    "a rewritten subtree hash": _statements('UPDATE audit_subtrees SET hash = :zeros WHERE level = 1 AND "index" = 0'),
}


@pytest.mark.parametrize("tamper", _SQL_TAMPERING.values(), ids=_SQL_TAMPERING.keys())
def test_tampering_through_sql_is_reported_by_the_offline_verifier(
    app: Gateway, tmp_path: Path, tamper: Callable[[Connection], None]
) -> None:
    """Whoever writes to the database directly, bypassing the app, cannot produce an export that verifies against
    the checkpoint signed before."""
    db = make_engine(app.database_url)
    signer = CheckpointSigner.load(tmp_path / "keys")
    assert signer is not None
    _one_exchange(db, steps=9)
    _sign(db, signer)
    assert verify_bundle(_exported(app), signer.verifier_key()).ok
    with db.begin() as connection:
        tamper(connection)
    verdict = verify_bundle(_exported(app), signer.verifier_key())
    assert not verdict.ok
    assert verdict.problems
    db.dispose()


def test_proofs_count_only_against_the_signed_root_and_size(app: Gateway, tmp_path: Path) -> None:
    """Proofs that hold in another tree (the older, smaller one) do not prove inclusion in the signed one, and a
    checkpoint whose size and root are changed to fit them is no longer signed."""
    db = make_engine(app.database_url)
    signer = CheckpointSigner.load(tmp_path / "keys")
    assert signer is not None
    _append(db, 9)
    older = open_note(_sign(db, signer), parse_verifier_key(signer.verifier_key()))
    _append(db, 4)
    _sign(db, signer)
    bundle = json.loads(_exported(app, to=9))
    for entry in bundle["entries"]:  # each proof now proves inclusion in the tree of 9 entries, not of 13
        proof = app.client.get(
            f"/v1/audit/entries/{entry['index']}/proof", params={"size": 9}, headers=app.headers("auditor")
        ).json()
        assert verify_inclusion(
            leaf_hash(base64.b64decode(entry["leaf"])),
            entry["index"],
            9,
            [base64.b64decode(h) for h in proof["path"]],
            older.root_hash,
        )
        entry["proof"] = proof["path"]
    verdict = verify_bundle(json.dumps(bundle).encode(), signer.verifier_key())
    assert not verdict.ok
    assert sum("not included in the signed tree of 13" in p for p in verdict.problems) == 9
    # The note rewritten to the size and root those proofs fit: its signature no longer verifies.
    lines = bundle["checkpoint"].split("\n")
    lines[1], lines[2] = "9", base64.b64encode(older.root_hash).decode()
    bundle["checkpoint"] = "\n".join(lines)
    verdict = verify_bundle(json.dumps(bundle).encode(), signer.verifier_key())
    assert not verdict.ok
    assert "signature" in verdict.problems[0]
    db.dispose()


@pytest.mark.parametrize(
    ("params", "status"),
    [
        ({"action": "inbox\x00received"}, 422),  # PostgreSQL cannot compare a NUL (a server error there)
        ({"after": str(2**63)}, 422),  # past the BIGINT index (a server error on both databases)
        ({"since": "9999-12-31T23:00:00-05:00"}, 400),  # in year 10000 once in UTC, where times are compared
        ({"exchange": "not-a-uuid"}, 400),
    ],
    ids=["nul", "index-past-bigint", "since-past-year-9999", "exchange-not-uuid"],
)
def test_a_query_no_database_can_answer_is_a_problem(app: Gateway, params: dict[str, str], status: int) -> None:
    answer = app.client.get("/v1/audit/entries", params=params, headers=app.headers("auditor"))
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
