"""The certificate registry: certificates (unique per issuing country, number and version) with their history, and
the link from each exchange to the certificate it carried.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from gateway.db import UTCDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "certificates",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("issuing_country", sa.String(length=2), nullable=False),
        sa.Column("number", sa.String(length=128), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("origin", sa.String(length=8), nullable=False),
        sa.Column("partner_code", sa.String(length=16), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("status_at", UTCDateTime(), nullable=False),
        sa.Column("status_reason", sa.Text(), nullable=True),
        sa.Column("replaces_number", sa.String(length=128), nullable=True),
        sa.Column("replaced_by", sa.Uuid(), nullable=True),
        sa.Column("replaced_by_number", sa.String(length=128), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.CheckConstraint("origin IN ('sent', 'received')", name="ck_certificates_origin"),
        sa.CheckConstraint("status IN ('issued', 'replaced', 'withdrawn')", name="ck_certificates_status"),
        sa.ForeignKeyConstraint(["replaced_by"], ["certificates.id"], name="fk_certificate_replaced_by"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("issuing_country", "number", "version", name="uq_certificates_country_number_version"),
    )
    op.create_index("ix_certificates_number", "certificates", ["number"])

    op.create_table(
        "certificate_events",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("certificate_id", sa.Uuid(), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("event", sa.String(length=32), nullable=False),
        sa.Column("exchange_id", sa.Uuid(), nullable=True),
        sa.Column("partner_code", sa.String(length=16), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["certificate_id"], ["certificates.id"], name="fk_certificate_event_certificate"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_certificate_events_certificate_id", "certificate_events", ["certificate_id"])

    # batch mode: SQLite rebuilds the table to add a foreign key.
    with op.batch_alter_table("exchanges", schema=None) as batch_op:
        batch_op.add_column(sa.Column("certificate_id", sa.Uuid(), nullable=True))
        batch_op.create_index(batch_op.f("ix_exchanges_certificate_id"), ["certificate_id"], unique=False)
        batch_op.create_foreign_key("fk_exchange_certificate", "certificates", ["certificate_id"], ["id"])


def downgrade() -> None:
    with op.batch_alter_table("exchanges", schema=None) as batch_op:
        batch_op.drop_constraint("fk_exchange_certificate", type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_exchanges_certificate_id"))
        batch_op.drop_column("certificate_id")

    op.drop_index("ix_certificate_events_certificate_id", table_name="certificate_events")

    op.drop_table("certificate_events")
    op.drop_index("ix_certificates_number", table_name="certificates")

    op.drop_table("certificates")
