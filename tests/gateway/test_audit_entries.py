"""Audit entries: written with the state change or not at all, dense indexes in commit order, linked per exchange."""

from __future__ import annotations

import json
import threading
import uuid

import pytest
import rfc8785
from sqlalchemy import select
from sqlmodel import col

from gateway.audit.log import SYSTEM, Actor, record
from gateway.audit.models import AuditEntry
from gateway.db import make_engine, unit_of_work


def _entries(database_url: str) -> list[AuditEntry]:
    db = make_engine(database_url)
    with unit_of_work(db) as session:
        rows = list(session.execute(select(AuditEntry).order_by(col(AuditEntry.index))).scalars())
    db.dispose()
    return rows


def test_an_entry_is_canonical_json_with_its_fields(database_url: str) -> None:
    db = make_engine(database_url)
    exchange = uuid.uuid4()
    with unit_of_work(db, write=True) as session:
        record(
            session,
            actor=Actor("client", "c-1"),
            action="exchange.submitted",
            outcome="queued",
            exchange_id=exchange,
            partner="TH",
            certificate="JP-1",
            documents={"original": "a" * 64},
            detail={"losses": 3, "note": "ไทย 日本"},
        )
    db.dispose()
    [entry] = _entries(database_url)
    leaf = json.loads(entry.leaf)
    assert entry.leaf == rfc8785.dumps(leaf), "stored exactly as RFC 8785 canonical bytes"
    assert leaf["v"] == 1
    assert leaf["actor"] == "client:c-1"
    assert leaf["exchange"] == str(exchange)
    assert leaf["previous"] is None
    assert leaf["time"].endswith("Z")
    assert entry.index == 0


def test_a_rolled_back_transaction_writes_no_entry(database_url: str) -> None:
    db = make_engine(database_url)

    def failing_change() -> None:
        with unit_of_work(db, write=True) as session:
            record(session, actor=SYSTEM, action="x", outcome="y")
            raise RuntimeError("the state change failed")

    with pytest.raises(RuntimeError):
        failing_change()
    with unit_of_work(db, write=True) as session:
        record(session, actor=SYSTEM, action="after", outcome="ok")
    db.dispose()
    assert [(e.index, e.action) for e in _entries(database_url)] == [(0, "after")]


def test_concurrent_writers_get_dense_indexes_and_complete_exchange_chains(database_url: str) -> None:
    """Eight threads, each committing 15 transactions of one to three entries over four exchanges."""
    db = make_engine(database_url, pool_size=8, max_overflow=0)
    exchanges = [uuid.uuid4() for _ in range(4)]
    errors: list[BaseException] = []

    def writer(number: int) -> None:
        try:
            for step in range(15):
                with unit_of_work(db, write=True) as session:
                    for part in range(1 + (number + step) % 3):
                        record(
                            session,
                            actor=SYSTEM,
                            action=f"w{number}.s{step}.p{part}",
                            outcome="ok",
                            exchange_id=exchanges[(number + step + part) % 4],
                        )
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    db.dispose()
    assert errors == []
    entries = _entries(database_url)
    expected = sum(1 + (n + s) % 3 for n in range(8) for s in range(15))
    assert [e.index for e in entries] == list(range(expected)), "dense, no gaps"
    # Each exchange's entries form one chain: every entry names the exchange's entry before it.
    for exchange in exchanges:
        chain = [e for e in entries if e.exchange_id == exchange]
        assert [e.previous_index for e in chain] == [None, *[e.index for e in chain[:-1]]]
        assert [json.loads(e.leaf)["previous"] for e in chain] == [e.previous_index for e in chain]
    # Entries of one transaction are consecutive: the head lock numbers a transaction's entries together.
    positions: dict[str, list[int]] = {}
    for entry in entries:
        transaction = entry.action.rsplit(".p", 1)[0]
        positions.setdefault(transaction, []).append(entry.index)
    for indexes in positions.values():
        assert indexes == list(range(indexes[0], indexes[0] + len(indexes)))
