"""Partners as witnesses: a partner's audit verifier key and audit URL, and the checkpoints received from it.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from gateway.db import UTCDateTime

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("partners") as batch:
        batch.add_column(sa.Column("audit_verifier_key", sa.String(512), nullable=True))
        batch.add_column(sa.Column("audit_url", sa.String(2048), nullable=True))
    op.create_table(
        "partner_checkpoints",
        sa.Column("partner_code", sa.String(16), nullable=False),
        sa.Column("size", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("root", sa.LargeBinary(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("received_at", UTCDateTime(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("checked_at", UTCDateTime(), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("next_check_at", UTCDateTime(), nullable=True),
        sa.CheckConstraint("state IN ('pending', 'consistent', 'inconsistent')", name="ck_partner_checkpoints_state"),
        sa.ForeignKeyConstraint(["partner_code"], ["partners.code"], name="fk_partner_checkpoint_partner"),
        sa.PrimaryKeyConstraint("partner_code", "size", "root"),
    )
    op.create_index("ix_partner_checkpoints_state", "partner_checkpoints", ["state"])


def downgrade() -> None:
    op.drop_index("ix_partner_checkpoints_state", table_name="partner_checkpoints")
    op.drop_table("partner_checkpoints")
    with op.batch_alter_table("partners") as batch:
        batch.drop_column("audit_url")
        batch.drop_column("audit_verifier_key")
