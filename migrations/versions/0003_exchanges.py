"""Exchanges: content-addressed blobs, exchanges with their delivery jobs and attempts, idempotency keys, and the
audit log's entries and head (the head starts at size 0).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from gateway.db import UTCDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit_entries",
        sa.Column("index", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("leaf", sa.LargeBinary(), nullable=False),
        sa.Column("exchange_id", sa.Uuid(), nullable=True),
        sa.Column("previous_index", sa.BigInteger(), nullable=True),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("outcome", sa.String(length=64), nullable=False),
        sa.Column("partner_code", sa.String(length=16), nullable=True),
        sa.Column("certificate_number", sa.String(length=128), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("index"),
    )
    op.create_index("ix_audit_entries_certificate_number", "audit_entries", ["certificate_number"])
    op.create_index("ix_audit_entries_created_at", "audit_entries", ["created_at"])
    op.create_index("ix_audit_entries_exchange_id", "audit_entries", ["exchange_id"])
    op.create_index("ix_audit_entries_partner_code", "audit_entries", ["partner_code"])

    op.create_table(
        "audit_head",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("id = 1", name="ck_audit_head_single_row"),
        sa.PrimaryKeyConstraint("id"),
    )
    # The one row of the log head: an empty log.
    op.bulk_insert(
        sa.table("audit_head", sa.column("id", sa.Integer()), sa.column("size", sa.BigInteger())),
        [{"id": 1, "size": 0}],
    )
    op.create_table(
        "blobs",
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("media_type", sa.String(length=100), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("sha256"),
    )
    op.create_table(
        "idempotency_keys",
        sa.Column("client_id", sa.Uuid(), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("locked_until", UTCDateTime(), nullable=False),
        sa.Column("response_status", sa.Integer(), nullable=True),
        sa.Column("response_body", sa.LargeBinary(), nullable=True),
        sa.Column("response_type", sa.String(length=100), nullable=True),
        sa.Column("exchange_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.CheckConstraint("state IN ('in_flight', 'completed')", name="ck_idempotency_keys_state"),
        sa.PrimaryKeyConstraint("client_id", "key"),
    )
    op.create_index("ix_idempotency_keys_expires_at", "idempotency_keys", ["expires_at"])

    op.create_table(
        "exchanges",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("direction", sa.String(length=8), nullable=False),
        sa.Column("state", sa.String(length=32), nullable=False),
        sa.Column("partner_code", sa.String(length=16), nullable=False),
        sa.Column("client_id", sa.Uuid(), nullable=True),
        sa.Column("message_id", sa.Uuid(), nullable=False),
        sa.Column("document_type", sa.String(length=64), nullable=True),
        sa.Column("source_format", sa.String(length=64), nullable=True),
        sa.Column("sent_format", sa.String(length=64), nullable=True),
        sa.Column("certificate_number", sa.String(length=128), nullable=True),
        sa.Column("certificate_country", sa.String(length=2), nullable=True),
        sa.Column("original_sha256", sa.String(length=64), nullable=False),
        sa.Column("sent_sha256", sa.String(length=64), nullable=True),
        sa.Column("receipt_sha256", sa.String(length=64), nullable=True),
        sa.Column("validation", sa.JSON(), nullable=True),
        sa.Column("sent_validation", sa.JSON(), nullable=True),
        sa.Column("signature", sa.JSON(), nullable=True),
        sa.Column("losses", sa.JSON(), nullable=True),
        sa.Column("transport", sa.JSON(), nullable=True),
        sa.Column("receipt", sa.JSON(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.CheckConstraint("direction IN ('outbound', 'inbound')", name="ck_exchanges_direction"),
        sa.CheckConstraint(
            "state IN ('rejected', 'queued', 'sending', 'retrying', 'failed', 'acknowledged', "
            "'acknowledged_with_warnings', 'rejected_by_partner', 'accepted', 'accepted_with_warnings')",
            name="ck_exchanges_state",
        ),
        sa.ForeignKeyConstraint(
            ["original_sha256"],
            ["blobs.sha256"],
        ),
        sa.ForeignKeyConstraint(["partner_code"], ["partners.code"], name="fk_exchange_partner"),
        sa.ForeignKeyConstraint(
            ["receipt_sha256"],
            ["blobs.sha256"],
        ),
        sa.ForeignKeyConstraint(
            ["sent_sha256"],
            ["blobs.sha256"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("partner_code", "direction", "message_id", name="uq_exchanges_partner_message"),
    )
    op.create_index("ix_exchanges_certificate_number", "exchanges", ["certificate_number"])
    op.create_index("ix_exchanges_client_id", "exchanges", ["client_id"])
    op.create_index("ix_exchanges_listing", "exchanges", ["created_at", "id"])
    op.create_index("ix_exchanges_partner_code", "exchanges", ["partner_code"])
    op.create_index("ix_exchanges_state", "exchanges", ["state"])

    op.create_table(
        "delivery_attempts",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("exchange_id", sa.Uuid(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        sa.Column("http_status", sa.Integer(), nullable=True),
        sa.Column("outcome", sa.String(length=32), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["exchange_id"], ["exchanges.id"], name="fk_delivery_attempt_exchange"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("exchange_id", "number", name="uq_delivery_attempts_number"),
    )
    op.create_index("ix_delivery_attempts_exchange_id", "delivery_attempts", ["exchange_id"])

    op.create_table(
        "delivery_jobs",
        sa.Column("exchange_id", sa.Uuid(), nullable=False),
        sa.Column("run_after", UTCDateTime(), nullable=False),
        sa.Column("lease_token", sa.Uuid(), nullable=True),
        sa.Column("lease_until", UTCDateTime(), nullable=True),
        sa.Column("request_id", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(["exchange_id"], ["exchanges.id"], name="fk_delivery_job_exchange"),
        sa.PrimaryKeyConstraint("exchange_id"),
    )
    op.create_index("ix_delivery_jobs_run_after", "delivery_jobs", ["run_after"])


def downgrade() -> None:
    op.drop_index("ix_delivery_jobs_run_after", table_name="delivery_jobs")

    op.drop_table("delivery_jobs")
    op.drop_index("ix_delivery_attempts_exchange_id", table_name="delivery_attempts")

    op.drop_table("delivery_attempts")
    op.drop_index("ix_exchanges_state", table_name="exchanges")
    op.drop_index("ix_exchanges_partner_code", table_name="exchanges")
    op.drop_index("ix_exchanges_listing", table_name="exchanges")
    op.drop_index("ix_exchanges_client_id", table_name="exchanges")
    op.drop_index("ix_exchanges_certificate_number", table_name="exchanges")

    op.drop_table("exchanges")
    op.drop_index("ix_idempotency_keys_expires_at", table_name="idempotency_keys")

    op.drop_table("idempotency_keys")
    op.drop_table("blobs")
    op.drop_table("audit_head")
    op.drop_index("ix_audit_entries_partner_code", table_name="audit_entries")
    op.drop_index("ix_audit_entries_exchange_id", table_name="audit_entries")
    op.drop_index("ix_audit_entries_created_at", table_name="audit_entries")
    op.drop_index("ix_audit_entries_certificate_number", table_name="audit_entries")

    op.drop_table("audit_entries")
