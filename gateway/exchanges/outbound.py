"""Preparing a submission for a partner: everything CPU-bound, before any transaction (DESIGN §3).

parse → detect → validate → verify the issuer's signature if the original carries one → translate into the
format the partner accepts (loss report kept) → validate the translation → sign. The result either is a
:class:`Prepared` submission ready to be stored and queued, or a :class:`Rejection` saying why not, with the
reports gathered so far; the caller records either in the database.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from adapters import ADAPTERS, AdapterError, CertificateOfOrigin, translate
from gateway.documents.service import sign_prepared, verify_document
from gateway.documents.translation import loss_entry_dict
from schemas.engine import ParsedDocument, ValidationEngine
from schemas.report import ValidationReport
from signing.keys import SigningKey
from signing.trust import TrustAnchors

__all__ = ["Prepared", "Rejection", "choose_target", "prepare_submission"]

_DSIG_NS = b"http://www.w3.org/2000/09/xmldsig#"


@dataclass
class Rejection(Exception):
    """The submission cannot be sent; ``reason`` is a stable code, ``detail`` says why in words."""

    reason: str
    detail: str
    status: int = 422
    source_format: str | None = None
    report: ValidationReport | None = None
    signature: dict[str, Any] | None = None
    losses: list[dict[str, Any]] = field(default_factory=list)
    certificate_number: str | None = None

    def __str__(self) -> str:
        return self.detail


@dataclass(frozen=True)
class Prepared:
    original: bytes
    original_media_type: str
    source_format: str
    document_type: str | None
    report: ValidationReport
    signature: dict[str, Any] | None  # the issuer signature check, None when the original is unsigned
    sent: bytes
    sent_media_type: str
    sent_format: str
    sent_report: ValidationReport
    losses: list[dict[str, Any]]
    certificate_number: str | None
    certificate_country: str | None
    signing_key_id: str
    certificate: CertificateOfOrigin | None = None  # the canonical certificate, when the document is one

    @property
    def original_sha256(self) -> str:
        return hashlib.sha256(self.original).hexdigest()


def choose_target(source_format: str, partner_formats: list[str], *, signed: bool) -> str | None:
    """The first format the partner accepts that we can produce from ``source_format``.

    The same format is sent as submitted when it is unsigned (nothing is lost); a signed original of the same
    format is re-rendered through its adapter, because one document carries one signature (ours) in v1.
    """
    for target in partner_formats:
        if target == source_format and (not signed or source_format not in ADAPTERS):
            return target
        if source_format in ADAPTERS and target in ADAPTERS:
            return target
    return None


def _is_signed(parsed: ParsedDocument) -> bool:
    if parsed.pack.syntax == "json":
        return False  # a submitted JSON document is the bare document; signed JSON arrives as an envelope
    return _DSIG_NS in parsed.data and bool(
        parsed.tree.getroot().xpath("//ds:Signature", namespaces={"ds": _DSIG_NS.decode()})
    )


def _is_envelope(data: bytes) -> bool:
    head = data.lstrip()[:1]
    return head == b"{" and b'"signature"' in data and b'"document"' in data


def prepare_submission(
    engine: ValidationEngine,
    data: bytes,
    *,
    format_id: str | None,
    partner_formats: list[str],
    issuer_trust: TrustAnchors | None,
    key: Callable[[], SigningKey],
    at: datetime,
) -> Prepared:
    """Run the pure part of a submission; raises :class:`Rejection` (or a DocumentError for unreadable input).

    ``key`` is asked for only when there is something valid to sign: a gateway without a key in force still
    refuses (and records) invalid submissions, and a hostile document never gets that far."""
    signature: dict[str, Any] | None = None
    content = data
    if _is_envelope(data):
        # A signed JSON original: {"document": …, "signature": "<detached JWS>"}; its document is what is sent.
        signature, content = _verify_issuer(engine, data, format_id, issuer_trust, at)
    parsed = engine.parse(content, format_id)
    if signature is None and _is_signed(parsed):
        # From here on only what the issuer's signature covers is read: a comment or other markup that
        # canonicalisation ignores must not change a value between the check and the translation.
        signature, content = _verify_issuer(engine, data, parsed.pack.id, issuer_trust, at)
        parsed = engine.parse(content, parsed.pack.id)
    report = engine.validate_parsed(parsed)
    source = parsed.pack.id
    if not report.valid:
        raise Rejection("invalid-document", f"{source}: the document is not valid", source_format=source, report=report)
    signed = signature is not None
    target = choose_target(source, partner_formats, signed=signed)
    if target is None:
        raise Rejection(
            "no-common-format",
            f"the partner accepts {', '.join(partner_formats)}; a {source} document cannot be sent in any of them",
            source_format=source,
            report=report,
            signature=signature,
        )
    certificate: CertificateOfOrigin | None = None
    losses: list[dict[str, Any]] = []
    if target == source and not signed:
        outgoing = parsed
        if source in ADAPTERS:
            certificate = _read_certificate(content, source)
    else:
        try:
            translation = translate(content, source, target)
        except AdapterError as exc:
            raise Rejection(
                "untranslatable", f"cannot translate {source} into {target}: {exc}", source_format=source, report=report
            ) from None
        certificate = translation.certificate
        losses = [loss_entry_dict(e) for e in translation.losses]
        outgoing = engine.parse(translation.data, target)
    sent_report = engine.validate_parsed(outgoing)
    number = certificate.number if certificate is not None else None
    if not sent_report.valid:
        raise Rejection(
            "translation-invalid",
            f"the {target} rendering of this document is not valid, so it cannot be sent",
            source_format=source,
            report=sent_report,
            signature=signature,
            losses=losses,
            certificate_number=number,
        )
    signing_key = key()
    signed_document = sign_prepared(outgoing, signing_key)
    return Prepared(
        original=data,
        original_media_type="application/json" if parsed.pack.syntax == "json" else "application/xml",
        source_format=source,
        document_type=parsed.pack.document_types[0] if parsed.pack.document_types else None,
        report=report,
        signature=signature,
        sent=signed_document.body,
        sent_media_type=signed_document.media_type,
        sent_format=target,
        sent_report=sent_report,
        losses=losses,
        certificate_number=number,
        certificate_country=certificate.issuing_country if certificate is not None else None,
        signing_key_id=signing_key.key_id,
        certificate=certificate,
    )


def _read_certificate(data: bytes, format_id: str) -> CertificateOfOrigin | None:
    try:
        return ADAPTERS[format_id].parse(data).certificate
    except AdapterError:
        return None


def _verify_issuer(
    engine: ValidationEngine, data: bytes, format_id: str | None, trust: TrustAnchors | None, at: datetime
) -> tuple[dict[str, Any], bytes]:
    """Verify the issuing body's signature on a submitted original; a signature that does not hold is a rejection.

    Returns the check and the content to go on with: only what the signature covers (the signed XML, or the
    document of a JSON envelope), never unsigned bytes beside it.
    """
    if trust is None:
        raise Rejection(
            "issuer-signature-unverifiable",
            "the document carries a signature but no issuer trust is configured (GATEWAY_ISSUER_TRUST)",
        )
    verification = verify_document(engine, lambda: (trust, False), data, format_id, at)
    result = verification.result
    failed = result.failure
    if failed is not None:
        raise Rejection(
            "issuer-signature-invalid",
            f"the issuer's signature does not verify: {failed.reason}"
            + (f" ({failed.detail})" if failed.detail else ""),
            source_format=verification.format_id,
            signature=result.as_dict(),
        )
    assert verification.content is not None  # integrity held
    return result.as_dict(), verification.content
