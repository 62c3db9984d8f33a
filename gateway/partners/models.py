"""Partner tables. Trust anchors are history: rows are added and retired, never updated or deleted."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, CheckConstraint, Column, ForeignKey, String, Text, text
from sqlmodel import Field, SQLModel

from gateway.db import UTCDateTime, utcnow


class Partner(SQLModel, table=True):
    __tablename__ = "partners"

    code: str = Field(sa_column=Column(String(16), primary_key=True))
    name: str = Field(max_length=200)
    country: str = Field(sa_column=Column(String(2), nullable=False))
    inbox_url: str = Field(sa_column=Column(String(2048), nullable=False))
    # Format ids (catalog) and document types the partner accepts, most preferred first.
    formats: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    document_types: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    # Where our credential for its inbox lives ("file:/path" or "env:NAME"); the secret is never in the database.
    outbound_credential_ref: str | None = Field(default=None, sa_column=Column(String(512), nullable=True))
    # PEM bundle that authenticates its HTTPS endpoint (None: the system's CA store).
    tls_ca_pem: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    # Compatibility: accept a single Reference without a URI attribute (some real ePhyto signers emit it).
    allow_omitted_reference_uri: bool = Field(default=False, sa_column=Column(Boolean, nullable=False))
    # Its audit log (from its capability document): the C2SP verifier key of its checkpoints, and the base URL of
    # its audit API, where this gateway, as its witness, fetches consistency proofs.
    audit_verifier_key: str | None = Field(default=None, sa_column=Column(String(512), nullable=True))
    audit_url: str | None = Field(default=None, sa_column=Column(String(2048), nullable=True))
    # Client certificates that may act for the partner (its API clients, its deliveries; ADR 0015): SHA-256
    # fingerprints, and a PEM bundle of CAs to chain to. Neither set: no client certificate is asked for.
    client_cert_sha256: list[str] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False, server_default=text("'[]'"))
    )
    client_ca_pem: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    updated_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))


class TrustAnchor(SQLModel, table=True):
    __tablename__ = "partner_trust_anchors"
    __table_args__ = (CheckConstraint("kind IN ('ca', 'pinned')", name="ck_partner_trust_anchors_kind"),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    partner_code: str = Field(
        sa_column=Column(
            String(16), ForeignKey("partners.code", name="fk_trust_anchor_partner"), nullable=False, index=True
        )
    )
    # ca: signers must chain to this certificate; pinned: the signer must be exactly this certificate.
    kind: str = Field(sa_column=Column(String(8), nullable=False))
    certificate_pem: str = Field(sa_column=Column(Text, nullable=False))
    sha256: str = Field(sa_column=Column(String(64), nullable=False))
    subject: str = Field(sa_column=Column(String(1024), nullable=False))
    not_after: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    crl_url: str | None = Field(default=None, sa_column=Column(String(2048), nullable=True))
    crl_pem: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    added_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    retired_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))

    def summary(self) -> dict[str, Any]:
        return {"id": str(self.id), "kind": self.kind, "sha256": self.sha256, "subject": self.subject}
