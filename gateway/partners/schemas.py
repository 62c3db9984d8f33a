"""Request and response models of the partner directory API."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from gateway.inputs import RequestBody


class TrustAnchorIn(RequestBody):
    kind: Literal["ca", "pinned"] = Field(description="ca: signers chain to it; pinned: the signer is exactly it")
    certificate_pem: str = Field(min_length=1, max_length=65536)
    crl_url: str | None = Field(default=None, max_length=2048, description="where the CRL is published")
    crl_pem: str | None = Field(default=None, max_length=4 * 1024 * 1024, description="the current CRL (kind ca)")


class TrustAnchorOut(BaseModel):
    id: uuid.UUID
    kind: str
    sha256: str
    subject: str
    not_after: datetime
    crl_url: str | None
    has_crl: bool
    added_at: datetime
    retired_at: datetime | None


class PartnerCreate(RequestBody):
    code: str = Field(pattern=r"^[A-Z0-9]{2,16}$", description="connection code, e.g. TH")
    name: str = Field(min_length=1, max_length=200)
    country: str = Field(pattern=r"^[A-Z]{2}$", description="ISO 3166-1 alpha-2")
    inbox_url: str = Field(max_length=2048)
    formats: list[str] = Field(min_length=1, description="format ids it accepts, most preferred first")
    document_types: list[str] = Field(default_factory=list)
    outbound_credential_ref: str | None = Field(
        default=None, max_length=512, description='"file:/path" or "env:NAME" holding our credential for its inbox'
    )
    tls_ca_pem: str | None = Field(default=None, max_length=262144)
    allow_omitted_reference_uri: bool = False
    audit_verifier_key: str | None = Field(
        default=None, max_length=512, description="C2SP verifier key of its audit checkpoints (name+keyhash+base64)"
    )
    audit_url: str | None = Field(
        default=None, max_length=2048, description="base URL of its audit API (…/v1/audit), for consistency proofs"
    )
    trust: list[TrustAnchorIn] = Field(min_length=1, max_length=32)
    client_cert_sha256: list[str] = Field(
        default_factory=list,
        max_length=32,
        description="SHA-256 fingerprints (hex, colons allowed) of the TLS client certificates that may act for the "
        "partner: its API clients and its deliveries to the inbox (ADR 0015)",
    )
    client_ca_pem: str | None = Field(
        default=None,
        max_length=262144,
        description="PEM bundle of CA certificates: a client certificate that chains to one may act for the partner",
    )


class PartnerUpdate(RequestBody):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    inbox_url: str | None = Field(default=None, max_length=2048)
    formats: list[str] | None = Field(default=None, min_length=1)
    document_types: list[str] | None = None
    outbound_credential_ref: str | None = Field(default=None, max_length=512)
    tls_ca_pem: str | None = Field(default=None, max_length=262144)
    allow_omitted_reference_uri: bool | None = None
    audit_verifier_key: str | None = Field(default=None, max_length=512)
    audit_url: str | None = Field(default=None, max_length=2048)
    add_trust: list[TrustAnchorIn] = Field(default_factory=list, max_length=32)
    retire_trust: list[uuid.UUID] = Field(default_factory=list, max_length=32)
    client_cert_sha256: list[str] | None = Field(
        default=None, max_length=32, description="replaces the pinned client certificate fingerprints ([] removes them)"
    )
    client_ca_pem: str | None = Field(
        default=None, max_length=262144, description="replaces the client CA bundle (null removes it)"
    )


class WitnessedCheckpoint(BaseModel):
    size: int
    root: str = Field(description="base64")
    received_at: datetime
    checked_at: datetime | None
    detail: str | None = Field(description="how it was judged, or why it could not be checked yet")


class WitnessOut(BaseModel):
    """This gateway as the witness of the partner's audit log (the checkpoints its deliveries and receipts carry)."""

    checkpoints: int = Field(description="distinct checkpoints received")
    pending: int = Field(description="received, not checked yet (a consistency proof is fetched from the partner)")
    inconsistent: int = Field(description="checkpoints that do not fit the partner's earlier history: alerts")
    verified: WitnessedCheckpoint | None = Field(description="the largest checkpoint found consistent")
    alerts: list[WitnessedCheckpoint] = Field(description="the latest inconsistent checkpoints, with the reason")


class ClientCaOut(BaseModel):
    sha256: str
    subject: str
    not_after: datetime


class ClientCertificatesOut(BaseModel):
    """The client certificates that may act for the partner; when both lists are empty, none is asked for."""

    sha256: list[str] = Field(description="pinned fingerprints")
    ca: list[ClientCaOut] = Field(description="CAs a client certificate may chain to")


class PartnerOut(BaseModel):
    code: str
    name: str
    country: str
    inbox_url: str
    formats: list[str]
    document_types: list[str]
    outbound_credential_ref: str | None
    has_tls_ca: bool
    allow_omitted_reference_uri: bool
    audit_verifier_key: str | None
    audit_url: str | None
    created_at: datetime
    updated_at: datetime
    trust: list[TrustAnchorOut] = Field(description="every anchor ever added, retired ones included")
    client_certificates: ClientCertificatesOut
    witness: WitnessOut


class PartnerList(BaseModel):
    partners: list[PartnerOut]
