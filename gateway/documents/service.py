"""Signing and verifying documents: validate first, sign with the key in force, verify against a partner's trust."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography import x509
from sqlmodel import Session

from gateway.directory.keyring import KeyRing
from gateway.errors import BadRequest, ServiceUnavailable, Unprocessable
from gateway.partners.repository import PartnerRepository
from gateway.partners.service import get_partner
from schemas.engine import ParsedDocument, ValidationEngine, parse_json
from schemas.report import ValidationReport
from schemas.xmlparse import XmlLimits
from signing.jws import sign_json, verify_json
from signing.keys import SigningKey
from signing.trust import TrustAnchors
from signing.xmldsig import SignaturePlacement, SignatureVerification, sign_xml, verify_xml

__all__ = [
    "InvalidDocument",
    "SignedDocument",
    "Verification",
    "partner_trust",
    "prepare_signing",
    "sign_prepared",
    "verify_document",
]


class InvalidDocument(Unprocessable):
    """The document failed validation, so it is not signed; the problem carries the report."""

    slug = "invalid-document"
    title = "The document is not valid"

    def __init__(self, report: ValidationReport) -> None:
        super().__init__(
            f"{report.format.id}: {sum(f.severity == 'error' for f in report.findings)} error(s); nothing was signed",
            report=report.model_dump(mode="json"),
        )


@dataclass(frozen=True)
class SignedDocument:
    body: bytes
    media_type: str
    format_id: str
    key_id: str


@dataclass(frozen=True)
class Verification:
    result: SignatureVerification
    format_id: str
    report: ValidationReport | None  # the validation of what the signature covers, when integrity held
    # What the signature covers, for reading the document's data (the signed XML, or the JSON document of an
    # envelope as validated); None when integrity failed. Never the submitted bytes, which may carry more.
    content: bytes | None = None


def prepare_signing(engine: ValidationEngine, data: bytes, format_id: str | None) -> ParsedDocument:
    """Parse and validate a document to be signed: invalid → :class:`InvalidDocument`, unsignable → 422."""
    parsed = engine.parse(data, format_id)
    report = engine.validate_parsed(parsed)
    if not report.valid:
        raise InvalidDocument(report)
    if parsed.pack.signature is None:
        raise Unprocessable(f"format {parsed.pack.id} has no signature placement; the gateway does not sign it")
    return parsed


def sign_prepared(parsed: ParsedDocument, key: SigningKey) -> SignedDocument:
    """Sign a document that passed :func:`prepare_signing` where its format puts the signature."""
    placement = parsed.pack.signature
    assert placement is not None
    if placement == "jws-detached":
        signed = {"document": parsed.tree, "signature": sign_json(parsed.tree, key)}
        return SignedDocument(json.dumps(signed).encode("utf-8"), "application/json", parsed.pack.id, key.key_id)
    try:
        body = sign_xml(parsed.data, key, SignaturePlacement(placement))
    except ValueError as exc:  # e.g. the document already carries a signature
        raise Unprocessable(str(exc)) from None
    return SignedDocument(body, "application/xml", parsed.pack.id, key.key_id)


def current_key(keyring: KeyRing | None, at: datetime) -> SigningKey:
    if keyring is None:
        raise ServiceUnavailable("this gateway has no signing keys configured (tradegw keys init, or a keyring)")
    entry = keyring.signing_key(at)
    if entry is None:
        raise ServiceUnavailable("no signing key is valid at this moment; check the keyring's windows")
    return entry.key


def partner_trust(session: Session, code: str, at: datetime) -> tuple[TrustAnchors, bool]:
    """A partner's anchors in force at ``at`` (history rows make past moments answerable) and its compatibility mode."""
    partner = get_partner(session, code)
    anchors = [
        a
        for a in PartnerRepository(session).anchors(code)
        if a.added_at <= at and (a.retired_at is None or a.retired_at > at)
    ]
    cas = tuple(x509.load_pem_x509_certificate(a.certificate_pem.encode()) for a in anchors if a.kind == "ca")
    pinned = tuple(x509.load_pem_x509_certificate(a.certificate_pem.encode()) for a in anchors if a.kind == "pinned")
    crls = tuple(x509.load_pem_x509_crl(a.crl_pem.encode()) for a in anchors if a.crl_pem is not None)
    return TrustAnchors(label=code, ca_certificates=cas, pinned_certificates=pinned, crls=crls), (
        partner.allow_omitted_reference_uri
    )


def _json_envelope(data: bytes, limits: XmlLimits) -> tuple[Any, str]:
    # The one hardened JSON parse: size and depth caps, duplicate members refused, no 5,000-digit integers.
    envelope = parse_json(data, limits)
    if not isinstance(envelope, dict) or set(envelope) != {"document", "signature"}:
        raise BadRequest('a signed JSON document is {"document": ..., "signature": "<detached JWS>"}')
    if not isinstance(envelope["signature"], str):
        raise BadRequest("signature must be a detached JWS in compact form")
    return envelope["document"], envelope["signature"]


TrustSource = Callable[[], tuple[TrustAnchors, bool]]


def verify_document(
    engine: ValidationEngine, trust: TrustSource, data: bytes, format_id: str | None, at: datetime
) -> Verification:
    """Verify a signed document and validate what its signature covers.

    ``trust`` gives the anchors and whether the compatibility mode applies; it is called only after the document
    has passed the hardened parse, so hostile input is refused before any directory lookup.
    """
    if data.lstrip()[:1] == b"{":
        document, signature = _json_envelope(data, engine.limits)
        content = json.dumps(document).encode("utf-8")
        pack = engine.parse(content, format_id).pack
        anchors, _ = trust()
        result = verify_json(document, signature, anchors, at=at)
        if result.integrity.status != "VALID":
            return Verification(result, pack.id, None)
        return Verification(result, pack.id, engine.validate(content, pack.id), content)
    parsed = engine.parse(data, format_id)
    if parsed.pack.signature not in ("ubl-extension", "root-last-child"):
        raise Unprocessable(f"format {parsed.pack.id} carries no XML signature the gateway verifies")
    anchors, allow_omitted_reference_uri = trust()
    result = verify_xml(
        data,
        anchors,
        SignaturePlacement(parsed.pack.signature),
        at=at,
        allow_omitted_reference_uri=allow_omitted_reference_uri,
    )
    # The report is about the signed content only: never about bytes the signature does not cover.
    report = engine.validate(result.signed_xml, parsed.pack.id) if result.signed_xml is not None else None
    return Verification(result, parsed.pack.id, report, result.signed_xml)
