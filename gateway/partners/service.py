"""Partner directory workflow: checks every field a partner is registered with, keeps trust as history."""

from __future__ import annotations

import hashlib
import ipaddress
import re
from collections.abc import Collection, Iterable
from datetime import datetime
from urllib.parse import urlsplit

import pycountry
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from sqlmodel import Session

from gateway.audit.witness import witness_view
from gateway.db import utcnow
from gateway.errors import BadRequest, NotFound
from gateway.partners.models import Partner, TrustAnchor
from gateway.partners.repository import PartnerRepository
from gateway.partners.schemas import (
    ClientCaOut,
    ClientCertificatesOut,
    PartnerCreate,
    PartnerOut,
    PartnerUpdate,
    TrustAnchorIn,
    TrustAnchorOut,
)
from signing._result import certificate_sha256
from signing.checkpoint import MalformedKey, parse_verifier_key

__all__ = [
    "PARTNER_CODE",
    "create_partner",
    "get_partner",
    "partner_out",
    "update_partner",
]

PARTNER_CODE = re.compile(r"^[A-Z0-9]{2,16}$")
_CREDENTIAL_REF = re.compile(r"^(file:/\S+|env:[A-Z_][A-Z0-9_]*)$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


def _check_country(code: str) -> None:
    if pycountry.countries.get(alpha_2=code) is None:
        raise BadRequest(f"country {code!r} is not an ISO 3166-1 alpha-2 code")


def _check_url(url: str, what: str = "inbox URL") -> None:
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return
    if parts.scheme == "http" and parts.hostname:
        # Plain HTTP only to this machine (tests, a local partner simulator): documents never cross a network in clear.
        host = parts.hostname
        if host == "localhost" or (_is_ip(host) and ipaddress.ip_address(host).is_loopback):
            return
    raise BadRequest(f"{what} {url!r} must be https:// (http:// only for a loopback address)")


def _check_audit(verifier_key: str | None, url: str | None) -> None:
    if verifier_key is not None:
        try:
            parse_verifier_key(verifier_key)
        except MalformedKey as exc:
            raise BadRequest(f"audit verifier key: {exc}") from None
    if url is not None:
        _check_url(url, "audit URL")


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _check_formats(formats: Iterable[str], known: Collection[str]) -> list[str]:
    chosen = list(dict.fromkeys(formats))
    unknown = [f for f in chosen if f not in known]
    if unknown:
        raise BadRequest(f"unknown formats {unknown}; known: {sorted(known)}")
    return chosen


def _check_credential_ref(ref: str | None) -> None:
    if ref is not None and not _CREDENTIAL_REF.match(ref):
        raise BadRequest('outbound credential must be a reference, "file:/path" or "env:NAME", never the secret')


def _check_tls_bundle(pem: str | None) -> None:
    if pem is not None:
        _certificates(pem, "TLS CA bundle")


def _certificates(pem: str, what: str) -> list[x509.Certificate]:
    try:
        certificates = x509.load_pem_x509_certificates(pem.encode("ascii"))
    except (ValueError, UnicodeEncodeError):
        certificates = []
    if not certificates:
        raise BadRequest(f"{what}: no certificate found (expected PEM 'BEGIN CERTIFICATE' blocks)")
    return certificates


def _is_ca(certificate: x509.Certificate) -> bool:
    try:
        constraints = certificate.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        return False
    return constraints.ca


def _check_client_fingerprints(fingerprints: Iterable[str]) -> list[str]:
    """Lower-case hex without separators: the form ``certificate_sha256`` computes (``openssl x509 -fingerprint``
    prints upper case with colons, which is accepted)."""
    normalised = []
    for fingerprint in fingerprints:
        value = fingerprint.strip().replace(":", "").lower()
        if not _SHA256.match(value):
            raise BadRequest(
                f"client certificate fingerprint {fingerprint!r} is not a SHA-256 fingerprint (64 hex digits)"
            )
        normalised.append(value)
    return list(dict.fromkeys(normalised))


def _check_client_ca(pem: str | None, now: datetime) -> None:
    if pem is None:
        return
    for certificate in _certificates(pem, "client CA bundle"):
        subject = certificate.subject.rfc4514_string()
        if not _is_ca(certificate):
            raise BadRequest(f"client CA bundle: {subject} is not a CA certificate (pin a leaf by its fingerprint)")
        if certificate.not_valid_after_utc <= now:
            raise BadRequest(f"client CA bundle: {subject} expired on {certificate.not_valid_after_utc}")


def _anchor_rows(code: str, anchor: TrustAnchorIn, now: datetime) -> list[TrustAnchor]:
    certificates = _certificates(anchor.certificate_pem, f"trust anchor ({anchor.kind})")
    crl_pem: str | None = None
    if anchor.crl_pem is not None:
        if anchor.kind != "ca":
            raise BadRequest("a CRL belongs to a CA anchor, not to a pinned certificate")
        try:
            crl = x509.load_pem_x509_crl(anchor.crl_pem.encode("ascii"))
        except (ValueError, UnicodeEncodeError) as exc:
            raise BadRequest(f"CRL: not a PEM CRL ({exc})") from None
        if not any(crl.issuer == c.subject and crl.is_signature_valid(c.public_key()) for c in certificates):  # type: ignore[arg-type]
            raise BadRequest("CRL: not issued and signed by the CA it is attached to")
        crl_pem = anchor.crl_pem
    rows = []
    for certificate in certificates:
        if anchor.kind == "ca" and not _is_ca(certificate):
            raise BadRequest(f"{certificate.subject.rfc4514_string()}: a CA anchor must be a CA certificate")
        if certificate.not_valid_after_utc <= now:
            raise BadRequest(f"{certificate.subject.rfc4514_string()}: expired on {certificate.not_valid_after_utc}")
        rows.append(
            TrustAnchor(
                partner_code=code,
                kind=anchor.kind,
                certificate_pem=certificate.public_bytes(Encoding.PEM).decode("ascii"),
                sha256=hashlib.sha256(certificate.public_bytes(Encoding.DER)).hexdigest(),
                subject=certificate.subject.rfc4514_string(),
                not_after=certificate.not_valid_after_utc,
                crl_url=anchor.crl_url,
                crl_pem=crl_pem,
                added_at=now,
            )
        )
    return rows


def create_partner(session: Session, body: PartnerCreate, known_formats: Collection[str]) -> Partner:
    repository = PartnerRepository(session)
    if repository.get(body.code) is not None:
        raise BadRequest(f"partner {body.code} already exists; change it with PATCH /v1/partners/{body.code}")
    _check_country(body.country)
    _check_url(body.inbox_url)
    _check_credential_ref(body.outbound_credential_ref)
    _check_tls_bundle(body.tls_ca_pem)
    _check_audit(body.audit_verifier_key, body.audit_url)
    now = utcnow()
    client_cert_sha256 = _check_client_fingerprints(body.client_cert_sha256)
    _check_client_ca(body.client_ca_pem, now)
    anchors = [row for anchor in body.trust for row in _anchor_rows(body.code, anchor, now)]
    partner = repository.add(
        Partner(
            code=body.code,
            name=body.name,
            country=body.country,
            inbox_url=body.inbox_url,
            formats=_check_formats(body.formats, known_formats),
            document_types=list(dict.fromkeys(body.document_types)),
            outbound_credential_ref=body.outbound_credential_ref,
            tls_ca_pem=body.tls_ca_pem,
            allow_omitted_reference_uri=body.allow_omitted_reference_uri,
            audit_verifier_key=body.audit_verifier_key,
            audit_url=body.audit_url,
            client_cert_sha256=client_cert_sha256,
            client_ca_pem=body.client_ca_pem,
            created_at=now,
            updated_at=now,
        )
    )
    for row in anchors:
        repository.add_anchor(row)
    return partner


def update_partner(session: Session, code: str, body: PartnerUpdate, known_formats: Collection[str]) -> Partner:
    repository = PartnerRepository(session)
    partner = repository.get(code)
    if partner is None:
        raise NotFound(f"no partner {code}")
    now = utcnow()
    if body.name is not None:
        partner.name = body.name
    if body.inbox_url is not None:
        _check_url(body.inbox_url)
        partner.inbox_url = body.inbox_url
    if body.formats is not None:
        partner.formats = _check_formats(body.formats, known_formats)
    if body.document_types is not None:
        partner.document_types = list(dict.fromkeys(body.document_types))
    if "outbound_credential_ref" in body.model_fields_set:
        _check_credential_ref(body.outbound_credential_ref)
        partner.outbound_credential_ref = body.outbound_credential_ref
    if "tls_ca_pem" in body.model_fields_set:
        _check_tls_bundle(body.tls_ca_pem)
        partner.tls_ca_pem = body.tls_ca_pem
    if body.allow_omitted_reference_uri is not None:
        partner.allow_omitted_reference_uri = body.allow_omitted_reference_uri
    if "audit_verifier_key" in body.model_fields_set:
        _check_audit(body.audit_verifier_key, None)
        partner.audit_verifier_key = body.audit_verifier_key
    if "audit_url" in body.model_fields_set:
        _check_audit(None, body.audit_url)
        partner.audit_url = body.audit_url
    if "client_cert_sha256" in body.model_fields_set:
        partner.client_cert_sha256 = _check_client_fingerprints(body.client_cert_sha256 or [])
    if "client_ca_pem" in body.model_fields_set:
        _check_client_ca(body.client_ca_pem, now)
        partner.client_ca_pem = body.client_ca_pem
    active = {a.id: a for a in repository.anchors(code, active_only=True)}
    for anchor_id in body.retire_trust:
        if anchor_id not in active:
            raise BadRequest(f"trust anchor {anchor_id} is not an active anchor of partner {code}")
    added = [row for anchor in body.add_trust for row in _anchor_rows(code, anchor, now)]
    if len(active) - len(set(body.retire_trust)) + len(added) < 1:
        raise BadRequest("the change would leave the partner with no active trust anchor")
    for anchor_id in dict.fromkeys(body.retire_trust):
        repository.retire_anchor(active[anchor_id], now)
    for row in added:
        repository.add_anchor(row)
    partner.updated_at = now
    repository.save(partner)
    return partner


def get_partner(session: Session, code: str) -> Partner:
    partner = PartnerRepository(session).get(code)
    if partner is None:
        raise NotFound(f"no partner {code}")
    return partner


def partner_out(session: Session, partner: Partner) -> PartnerOut:
    anchors = PartnerRepository(session).anchors(partner.code)
    return PartnerOut(
        code=partner.code,
        name=partner.name,
        country=partner.country,
        inbox_url=partner.inbox_url,
        formats=list(partner.formats),
        document_types=list(partner.document_types),
        outbound_credential_ref=partner.outbound_credential_ref,
        has_tls_ca=partner.tls_ca_pem is not None,
        allow_omitted_reference_uri=partner.allow_omitted_reference_uri,
        audit_verifier_key=partner.audit_verifier_key,
        audit_url=partner.audit_url,
        created_at=partner.created_at,
        updated_at=partner.updated_at,
        trust=[
            TrustAnchorOut(
                id=a.id,
                kind=a.kind,
                sha256=a.sha256,
                subject=a.subject,
                not_after=a.not_after,
                crl_url=a.crl_url,
                has_crl=a.crl_pem is not None,
                added_at=a.added_at,
                retired_at=a.retired_at,
            )
            for a in anchors
        ],
        client_certificates=ClientCertificatesOut(
            sha256=list(partner.client_cert_sha256),
            ca=[
                ClientCaOut(
                    sha256=certificate_sha256(c), subject=c.subject.rfc4514_string(), not_after=c.not_valid_after_utc
                )
                for c in (_certificates(partner.client_ca_pem, "client CA bundle") if partner.client_ca_pem else [])
            ],
        ),
        witness=witness_view(session, partner.code),
    )
