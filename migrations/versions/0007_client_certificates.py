"""Client certificates bound to a partner: SHA-256 fingerprints and a CA bundle (ADR 0015).

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("partners") as batch:
        # Existing partners bind nothing: the default fills their rows, so nothing changes for them.
        batch.add_column(sa.Column("client_cert_sha256", sa.JSON(), nullable=False, server_default=sa.text("'[]'")))
        batch.add_column(sa.Column("client_ca_pem", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("partners") as batch:
        batch.drop_column("client_ca_pem")
        batch.drop_column("client_cert_sha256")
