"""A partner registration read from its signed capability document (``GET /v1/directory/self``): trust on first use.

The document names the partner, its inbox, the formats and document types it accepts and the certificates it signs
with ("current") or will sign with ("next"); a detached JWS made with a current key covers it. This module checks
that a document is well formed, of a protocol version we speak, and signed by one of the current certificates it
lists itself, and turns it into a :class:`PartnerCreate` whose trust anchors are *pinned* copies of every listed
certificate, so a published next key is trusted before it starts signing.

What a self-signed document cannot prove is that it comes from the partner: anyone can publish one. The operator
compares the SHA-256 fingerprints of the summary with the partner out of band before relying on them. How a
re-import relates to the trust already held is ``gateway.partners.importing``'s business.

Pure: no database, no network, the clock passed in.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final, Literal

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import Encoding
from pydantic import ValidationError

from gateway.errors import BadRequest, DocumentProblem, PayloadTooLarge, Unprocessable
from gateway.inputs import in_utc
from gateway.partners.schemas import PartnerCreate, TrustAnchorIn
from schemas.engine import parse_json
from schemas.errors import DocumentError
from schemas.xmlparse import XmlLimits
from signing._result import CheckStatus, certificate_sha256
from signing.checkpoint import MalformedKey, parse_verifier_key
from signing.jws import verify_json
from signing.trust import TrustAnchors, utc
from signing.xmldsig import MAX_CERTIFICATE_BYTES, MAX_CERTIFICATES

__all__ = [
    "MAX_CAPABILITY_BYTES",
    "SUPPORTED_PROTOCOL_VERSION",
    "CapabilityImport",
    "CapabilityRefused",
    "ListedCertificate",
    "partner_from_capability",
]

# The protocol this code reads; gateway.directory.service publishes the same number.
SUPPORTED_PROTOCOL_VERSION: Final = 1
# A real document is a few kilobytes per certificate: a megabyte leaves room for long format lists and chains,
# and keeps a hostile answer from a partner URL small.
MAX_CAPABILITY_BYTES: Final = 1024 * 1024
# The document nests five levels deep (envelope, document, certificates, entry, x5c).
_LIMITS: Final = XmlLimits(max_bytes=MAX_CAPABILITY_BYTES, max_depth=16)
# More than current + next plus a few overlapping keys is not a rotation, and PartnerCreate takes at most 32 anchors.
MAX_LISTED_CERTIFICATES: Final = 16
# Two gateways' clocks disagree a little; a document dated further ahead than this was not made "now".
CLOCK_SKEW: Final = timedelta(minutes=5)

Status = Literal["current", "next"]


class CapabilityRefused(Unprocessable):
    """A well-formed capability document that cannot be used; ``reason`` is a stable code clients may branch on.

    Reasons: protocol-version, code-mismatch, issued-in-future, certificates-expired, bad-signature,
    signer-not-current, signer-invalid, no-common-format, untrusted-update (gateway.partners.importing).
    """

    slug = "capability-refused"
    title = "The capability document is refused"

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail, reason=reason)
        self.reason = reason


@dataclass(frozen=True)
class ListedCertificate:
    """One certificate of the document's ``certificates`` list (its x5c leaf)."""

    status: Status
    certificate: x509.Certificate
    signs_from: str | None  # as published; shown to the operator, never used for a decision

    @property
    def sha256(self) -> str:
        return certificate_sha256(self.certificate)

    @property
    def subject(self) -> str:
        return self.certificate.subject.rfc4514_string()

    @property
    def not_after(self) -> datetime:
        return self.certificate.not_valid_after_utc

    @property
    def pem(self) -> str:
        return self.certificate.public_bytes(Encoding.PEM).decode("ascii")

    @property
    def key_description(self) -> str:
        key = self.certificate.public_key()
        if isinstance(key, rsa.RSAPublicKey):
            return f"RSA-{key.key_size}"
        if isinstance(key, ec.EllipticCurvePublicKey):
            return f"EC {key.curve.name}"
        return type(key).__name__


@dataclass(frozen=True)
class CapabilityImport:
    """A checked capability document: the registration it asks for, and what the operator must confirm."""

    partner: PartnerCreate
    certificates: tuple[ListedCertificate, ...]  # the ones pinned, in document order
    signer_sha256: str
    issued_at: datetime
    notes: tuple[str, ...]  # what was left out, and why
    # The signed value and its JWS, kept so that a re-import can be verified against the partner's existing trust.
    document: dict[str, Any]
    signature: str

    def summary(self) -> list[str]:
        """Lines for the operator: identity, endpoints, and each certificate's fingerprint to confirm out of band."""
        p = self.partner
        lines = [
            f"partner        {p.code}  {p.name} ({p.country})",
            f"issued at      {self.issued_at:%Y-%m-%dT%H:%M:%SZ}",
            f"inbox          {p.inbox_url}",
            f"formats        {', '.join(p.formats)}",
            f"document types {', '.join(p.document_types) or '-'}",
            f"signed by      {self.signer_sha256}",
            f"audit log      {p.audit_verifier_key or '- (publishes no checkpoint key)'}",
            "certificates to pin (compare each SHA-256 fingerprint with the partner, out of band):",
        ]
        for c in self.certificates:
            starts = f", signs from {c.signs_from}" if c.status == "next" and c.signs_from else ""
            lines.append(f"  {c.status:7} sha256 {c.sha256}")
            lines.append(f"          {c.subject}, {c.key_description}, not after {c.not_after:%Y-%m-%d}{starts}")
        lines += [f"note: {note}" for note in self.notes]
        return [shown(line) for line in lines]


def shown(text: str) -> str:
    """``text`` with control characters escaped: the document's strings reach the operator's terminal, and an
    escape sequence there could redraw the very fingerprint lines the operator is asked to compare."""
    return "".join(ch if ch.isprintable() else ascii(ch)[1:-1] for ch in text)


def _member(container: dict[str, Any], name: str, kind: type | tuple[type, ...], where: str) -> Any:
    value = container.get(name)
    # bool is an int in Python; JSON true is never a number here.
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is int):
        raise BadRequest(f"capability document: {where}{name} is missing or not a {_kind_name(kind)}")
    return value


def _kind_name(kind: type | tuple[type, ...]) -> str:
    names = {str: "string", int: "integer", dict: "JSON object", list: "JSON array"}
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join(names.get(k, k.__name__) for k in kinds)


def _strings(value: list[Any], where: str) -> list[str]:
    if not all(isinstance(item, str) for item in value):
        raise BadRequest(f"capability document: {where} must hold strings only")
    return list(value)


def _envelope(raw: bytes) -> tuple[dict[str, Any], str]:
    if len(raw) > MAX_CAPABILITY_BYTES:
        raise PayloadTooLarge(f"a capability document is at most {MAX_CAPABILITY_BYTES} bytes; this one is {len(raw)}")
    try:
        envelope = parse_json(raw, _LIMITS)
    except DocumentError as exc:
        raise DocumentProblem(exc) from None
    if not isinstance(envelope, dict) or set(envelope) != {"document", "signature"}:
        raise BadRequest('a capability document is {"document": {...}, "signature": "<detached JWS>"}, nothing else')
    document, signature = envelope["document"], envelope["signature"]
    if not isinstance(document, dict):
        raise BadRequest("capability document: document must be a JSON object")
    if not isinstance(signature, str):
        raise BadRequest("capability document: signature must be a detached JWS in compact form (a string)")
    return document, signature


def _issued_at(document: dict[str, Any], now: datetime) -> datetime:
    text = _member(document, "issued_at", str, "")
    try:
        issued = datetime.fromisoformat(text)
    except ValueError:
        raise BadRequest(f"capability document: issued_at {text!r} is not an ISO 8601 time") from None
    if issued.tzinfo is None:
        raise BadRequest(f"capability document: issued_at {text!r} has no time zone")
    try:
        issued = in_utc(issued)
    except ValueError as exc:
        raise BadRequest(f"capability document: issued_at: {exc}") from None
    if issued > now + CLOCK_SKEW:
        raise CapabilityRefused("issued-in-future", f"the document is dated {text}, later than now ({now:%FT%TZ})")
    return issued


def _listed_certificate(entry: object, index: int) -> ListedCertificate:
    where = f"certificates[{index}]."
    if not isinstance(entry, dict):
        raise BadRequest(f"capability document: certificates[{index}] must be a JSON object")
    status = _member(entry, "status", str, where)
    if status not in ("current", "next"):
        raise BadRequest(f"capability document: {where}status is {status!r}, not 'current' or 'next'")
    x5c = _strings(_member(entry, "x5c", list, where), f"{where}x5c")
    if not x5c or len(x5c) > MAX_CERTIFICATES:
        raise BadRequest(f"capability document: {where}x5c must hold 1 to {MAX_CERTIFICATES} certificates")
    if len(x5c[0]) > (MAX_CERTIFICATE_BYTES + 2) // 3 * 4:
        raise BadRequest(f"capability document: {where}x5c[0] is over {MAX_CERTIFICATE_BYTES} bytes")
    try:
        # Only the leaf is pinned: with a pinned anchor the signer must be exactly this certificate, so the chain
        # above it (also in x5c) plays no part in trust.
        leaf = x509.load_der_x509_certificate(base64.b64decode(x5c[0], validate=True))
    except (binascii.Error, ValueError) as exc:
        raise BadRequest(f"capability document: {where}x5c[0] is not a base64 DER certificate: {exc}") from None
    listed = ListedCertificate(
        status, leaf, entry.get("signs_from") if isinstance(entry.get("signs_from"), str) else None
    )
    # The kid is how the partner's operator names the key (tradegw keys list); a kid for another certificate means
    # the document was put together wrongly, and the fingerprints read out on the phone would not match.
    if entry.get("kid") != listed.sha256:
        raise BadRequest(f"capability document: {where}kid is not the SHA-256 of its x5c[0] ({listed.sha256})")
    return listed


def _certificates(document: dict[str, Any], now: datetime) -> tuple[list[ListedCertificate], list[str]]:
    """(the certificates to pin, notes); the expired ones are left out with a note."""
    entries = _member(document, "certificates", list, "")
    if not entries:
        raise BadRequest("capability document: certificates is empty")
    if len(entries) > MAX_LISTED_CERTIFICATES:
        raise BadRequest(f"capability document: more than {MAX_LISTED_CERTIFICATES} certificates listed")
    listed = [_listed_certificate(entry, index) for index, entry in enumerate(entries)]
    if len({c.sha256 for c in listed}) != len(listed):
        raise BadRequest("capability document: a certificate is listed twice")
    if not any(c.status == "current" for c in listed):
        raise BadRequest("capability document: no certificate has status 'current'")
    usable = [c for c in listed if c.not_after > now]
    notes = [
        f"{c.status} certificate {c.sha256} ({c.subject}) expired on {c.not_after:%Y-%m-%d}; not pinned"
        for c in listed
        if c.not_after <= now
    ]
    if not usable:
        raise CapabilityRefused("certificates-expired", "every certificate the document lists has expired")
    return usable, notes


def _check_signature(
    document: dict[str, Any], signature: str, listed: list[ListedCertificate], code: str, now: datetime
) -> str:
    """The SHA-256 of the signer, which must be a current certificate of the document itself; else refused."""
    # Expired current certificates stay in the pin set here, so that a document signed with one is reported as
    # signed with an expired certificate (validity) rather than by a stranger (trust).
    current = tuple(c.certificate for c in listed if c.status == "current")
    result = verify_json(document, signature, TrustAnchors(label=code, pinned_certificates=current), at=now)
    if result.integrity.status is not CheckStatus.VALID:
        raise CapabilityRefused(
            "bad-signature",
            f"the signature does not verify over the document: {result.integrity.reason}: {result.integrity.detail}",
        )
    assert result.signer is not None  # integrity held, so the JWS carried its signer
    signer = certificate_sha256(result.signer)
    if result.trust.status is not CheckStatus.VALID:
        raise CapabilityRefused(
            "signer-not-current",
            f"the document is signed by certificate {signer}, which it does not list as a current certificate",
        )
    if result.validity.status is not CheckStatus.VALID:
        raise CapabilityRefused(
            "signer-invalid",
            f"the signing certificate is not usable now: {result.validity.reason}: {result.validity.detail}",
        )
    return signer


def _formats(document: dict[str, Any], formats_we_send: Collection[str] | None) -> tuple[list[str], list[str]]:
    """(format ids to register, notes): the partner's ids in its order, restricted to the ones we can send."""
    ids: list[str] = []
    for index, entry in enumerate(_member(document, "formats", list, "")):
        if not isinstance(entry, dict):
            raise BadRequest(f"capability document: formats[{index}] must be a JSON object")
        ids.append(_member(entry, "id", str, f"formats[{index}]."))
    ids = list(dict.fromkeys(ids))
    if formats_we_send is None:
        return ids, []
    kept = [f for f in ids if f in formats_we_send]
    left_out = [f for f in ids if f not in formats_we_send]
    if not kept:
        raise CapabilityRefused(
            "no-common-format",
            f"none of the partner's formats {ids} is in our format catalog; nothing could be sent to it",
        )
    return kept, [f"format {f} is not in our format catalog; not registered" for f in left_out]


def _audit(document: dict[str, Any]) -> tuple[str | None, str | None]:
    """(verifier key, audit URL) of the optional ``audit`` member: how to witness the partner's audit log."""
    if "audit" not in document:
        return None, None
    audit = _member(document, "audit", dict, "")
    key = _member(audit, "verifier_key", str, "audit.")
    try:
        parse_verifier_key(key)
    except MalformedKey as exc:
        raise BadRequest(f"capability document: audit.verifier_key: {exc}") from None
    return key, _member(audit, "url", str, "audit.")


def partner_from_capability(
    raw: bytes, *, expected_code: str | None, formats_we_send: Collection[str] | None, now: datetime
) -> CapabilityImport:
    """Check a capability document (the bytes of ``{"document": ..., "signature": ...}``) and read a registration.

    ``expected_code``: the partner code the operator expects, when known. ``formats_we_send``: the format ids we
    could send (our catalog); the partner's others are left out with a note, None keeps them all. Raises
    PayloadTooLarge (413), DocumentProblem or BadRequest (400) for a malformed document, and CapabilityRefused
    (422) for one that is well formed but cannot be used.
    """
    now = utc(now)
    document, signature = _envelope(raw)
    version = _member(document, "protocol_version", int, "")
    if version != SUPPORTED_PROTOCOL_VERSION:
        raise CapabilityRefused(
            "protocol-version",
            f"the document is protocol version {version}; this gateway reads version {SUPPORTED_PROTOCOL_VERSION}",
        )
    gateway = _member(document, "gateway", dict, "")
    code = _member(gateway, "code", str, "gateway.")
    if expected_code is not None and code != expected_code:
        raise CapabilityRefused("code-mismatch", f"the document is for partner {code!r}, not {expected_code!r}")
    country = gateway.get("country")
    if not isinstance(country, str):
        raise BadRequest("capability document: gateway.country is missing; the partner must publish its country")
    issued_at = _issued_at(document, now)
    listed, notes = _certificates(document, now)
    signer = _check_signature(document, signature, listed, code, now)
    formats, format_notes = _formats(document, formats_we_send)
    audit_key, audit_url = _audit(document)
    try:
        partner = PartnerCreate(
            code=code,
            name=_member(gateway, "name", str, "gateway."),
            country=country,
            inbox_url=_member(document, "inbox_url", str, ""),
            formats=formats,
            document_types=_strings(_member(document, "document_types", list, ""), "document_types"),
            trust=[TrustAnchorIn(kind="pinned", certificate_pem=c.pem) for c in listed],
            audit_verifier_key=audit_key,
            audit_url=audit_url,
        )
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise BadRequest(f"capability document: {problems}") from None
    return CapabilityImport(
        partner=partner,
        certificates=tuple(listed),
        signer_sha256=signer,
        issued_at=issued_at,
        notes=(*notes, *format_notes),
        document=document,
        signature=signature,
    )
