"""The audit log as a Merkle tree: stored hashes of complete aligned subtrees, and signed checkpoints. Entries that
exist already are hashed into the tree here, so the tree covers the whole log from the start.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from gateway.db import UTCDateTime

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit_subtrees",
        sa.Column("level", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("index", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("hash", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("level", "index"),
    )
    op.create_table(
        "audit_checkpoints",
        sa.Column("size", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("root", sa.LargeBinary(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("size"),
    )
    # Backfill: the leaves written before this revision, in index order, through the same code as new appends.
    from gateway.audit.tree import append_leaves

    connection = op.get_bind()
    leaves = [row[0] for row in connection.execute(sa.text('SELECT leaf FROM audit_entries ORDER BY "index"'))]
    append_leaves(connection, 0, leaves)


def downgrade() -> None:
    op.drop_table("audit_checkpoints")
    op.drop_table("audit_subtrees")
