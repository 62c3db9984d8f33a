"""Partner directory: partners and their trust anchors (history rows: added, retired, never overwritten).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from gateway.db import UTCDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "partners",
        sa.Column("code", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("country", sa.String(length=2), nullable=False),
        sa.Column("inbox_url", sa.String(length=2048), nullable=False),
        sa.Column("formats", sa.JSON(), nullable=False),
        sa.Column("document_types", sa.JSON(), nullable=False),
        sa.Column("outbound_credential_ref", sa.String(length=512), nullable=True),
        sa.Column("tls_ca_pem", sa.Text(), nullable=True),
        sa.Column("allow_omitted_reference_uri", sa.Boolean(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("code", name="pk_partners"),
    )
    op.create_table(
        "partner_trust_anchors",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("partner_code", sa.String(length=16), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("certificate_pem", sa.Text(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("subject", sa.String(length=1024), nullable=False),
        sa.Column("not_after", UTCDateTime(), nullable=False),
        sa.Column("crl_url", sa.String(length=2048), nullable=True),
        sa.Column("crl_pem", sa.Text(), nullable=True),
        sa.Column("added_at", UTCDateTime(), nullable=False),
        sa.Column("retired_at", UTCDateTime(), nullable=True),
        sa.CheckConstraint("kind IN ('ca', 'pinned')", name="ck_partner_trust_anchors_kind"),
        sa.ForeignKeyConstraint(["partner_code"], ["partners.code"], name="fk_trust_anchor_partner"),
        sa.PrimaryKeyConstraint("id", name="pk_partner_trust_anchors"),
    )
    op.create_index("ix_partner_trust_anchors_partner_code", "partner_trust_anchors", ["partner_code"])


def downgrade() -> None:
    op.drop_index("ix_partner_trust_anchors_partner_code", table_name="partner_trust_anchors")
    op.drop_table("partner_trust_anchors")
    op.drop_table("partners")
