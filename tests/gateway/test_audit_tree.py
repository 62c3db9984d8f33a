"""The stored Merkle tree follows the audit log: same root as the leaves recomputed, proofs that verify, on both
databases, whatever the sizes of the transactions that appended the entries."""

from __future__ import annotations

import uuid

from sqlalchemy import select, text
from sqlmodel import col

from gateway.audit.log import SYSTEM, record
from gateway.audit.merkle import (
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    root,
    verify_consistency,
    verify_inclusion,
)
from gateway.audit.models import AuditEntry
from gateway.audit.tree import StoredTree
from gateway.db import make_engine, unit_of_work

BATCHES = [1, 2, 1, 5, 3, 8, 1, 1, 13, 2]  # 37 entries, committed in transactions of these sizes


def _fill(database_url: str) -> list[bytes]:
    db = make_engine(database_url)
    exchange = uuid.uuid4()
    for number, size in enumerate(BATCHES):
        with unit_of_work(db, write=True) as session:
            for part in range(size):
                record(session, actor=SYSTEM, action=f"t{number}.{part}", outcome="ok", exchange_id=exchange)
    with unit_of_work(db) as session:
        leaves = list(session.execute(select(col(AuditEntry.leaf)).order_by(col(AuditEntry.index))).scalars())
    db.dispose()
    return leaves


def test_the_stored_tree_has_the_root_of_the_leaves_and_answers_proofs(database_url: str) -> None:
    leaves = _fill(database_url)
    total = len(leaves)
    assert total == sum(BATCHES)
    db = make_engine(database_url)
    with unit_of_work(db) as session:
        for size in range(1, total + 1):
            tree = StoredTree(session, size)
            expected = root(leaves[:size])
            assert tree.root() == expected, size
        tree = StoredTree(session, total)
        head = tree.root()
        for index, leaf in enumerate(leaves):
            path = inclusion_proof(index, total, tree)
            assert verify_inclusion(leaf_hash(leaf), index, total, path, head)
        for first in range(1, total):
            path = consistency_proof(first, total, tree)
            assert verify_consistency(first, total, root(leaves[:first]), head, path)
    db.dispose()


def test_a_leaf_rewritten_in_the_database_no_longer_proves_its_inclusion(database_url: str) -> None:
    leaves = _fill(database_url)
    db = make_engine(database_url)
    with db.begin() as connection:  # bypassing the application, as a database superuser would
        connection.execute(text('UPDATE audit_entries SET leaf = :leaf WHERE "index" = 3'), {"leaf": b"{}"})
    with unit_of_work(db) as session:
        tree = StoredTree(session, len(leaves))
        head = tree.root()
        forged = session.execute(select(col(AuditEntry.leaf)).where(col(AuditEntry.index) == 3)).scalar_one()
        assert not verify_inclusion(leaf_hash(forged), 3, len(leaves), inclusion_proof(3, len(leaves), tree), head)
        assert head == root(leaves), "the stored tree still commits to what was written"
    db.dispose()
