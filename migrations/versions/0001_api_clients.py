"""API clients: one row per key, the key stored only as its SHA-256.

Revision ID: 0001
Revises:
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from gateway.db import UTCDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "api_clients",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("partner_code", sa.String(length=16), nullable=True),
        sa.Column("key_id", sa.String(length=32), nullable=False),
        sa.Column("key_sha256", sa.String(length=64), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("revoked_at", UTCDateTime(), nullable=True),
        sa.CheckConstraint("(role = 'partner') = (partner_code IS NOT NULL)", name="ck_api_clients_partner_code"),
        sa.CheckConstraint("role IN ('admin', 'platform', 'partner', 'auditor')", name="ck_api_clients_role"),
        sa.PrimaryKeyConstraint("id", name="pk_api_clients"),
        sa.UniqueConstraint("key_id", name="uq_api_clients_key_id"),
    )


def downgrade() -> None:
    op.drop_table("api_clients")
