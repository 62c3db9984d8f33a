"""Who signed, and may they: per-partner trust anchors, chain building, validity window, key usage, revocation.

Two answers are kept apart on purpose (THREATS rows 9 and 10):

- **trust** — does the signer's certificate belong to *this* partner: it is one of the partner's pinned certificates,
  or it chains (with the intermediates the signature carries) to one of the partner's CA certificates. Another
  partner's perfectly valid certificate is therefore untrusted here.
- **validity** — is the certificate usable at the verification time ``at``: inside its validity window (and its
  issuers' windows), keyUsage digitalSignature, not revoked by a CRL the partner's anchors carry.

Chains are built with ``cryptography.x509.verification`` at a time when the certificates on the path are valid, so
that an expired leaf or CA is reported as *expired* (validity) rather than as *untrusted*; windows are judged at
``at`` by the validity check.
No XML here: the XMLDSig and JWS verifiers both hand over the certificates they found.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509 import verification

from signing._result import Check, SignatureVerification, certificate_sha256, not_checked

__all__ = ["SignerAssessment", "TrustAnchors", "assess_signer", "load_pem_certificates", "pick_leaf", "utc"]


@dataclass(frozen=True)
class TrustAnchors:
    """One partner's anchors. ``label`` (e.g. the partner code) prefixes the anchor named in results."""

    label: str
    ca_certificates: tuple[x509.Certificate, ...] = ()
    pinned_certificates: tuple[x509.Certificate, ...] = ()
    crls: tuple[x509.CertificateRevocationList, ...] = ()


def load_pem_certificates(data: bytes) -> list[x509.Certificate]:
    """All certificates of a PEM bundle, in file order; ``ValueError`` when there is none."""
    return x509.load_pem_x509_certificates(data)


@dataclass(frozen=True)
class SignerAssessment:
    """Trust and validity of the certificates a signature carried, independent of whether the signature is intact."""

    signer: x509.Certificate | None
    trust: Check
    validity: Check
    anchor: str | None
    chain: tuple[x509.Certificate, ...]

    def verification(self, integrity: Check, signed: bytes | None, at: datetime) -> SignatureVerification:
        """The answer of a verifier (XML or JWS): its integrity check joined with this trust and validity."""
        return SignatureVerification(
            integrity=integrity,
            trust=self.trust,
            validity=self.validity,
            signer=self.signer,
            anchor=self.anchor,
            signed_xml=signed,
            chain=self.chain,
            verified_at=at,
        )


def utc(moment: datetime) -> datetime:
    """Aware UTC; a naive time is taken to be UTC already (the way the gateway stores times)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def pick_leaf(certificates: Sequence[x509.Certificate]) -> tuple[x509.Certificate, list[x509.Certificate]]:
    """The end-entity certificate and the others.

    XMLDSig puts no order on X509Certificate elements (xmldsig-core §4.5.4), so the leaf is the certificate that
    issued none of the others; with several such, the first in document order (the usual leaf-first layout).
    """
    if not certificates:
        raise ValueError("no certificate")

    def issues_another(candidate: x509.Certificate) -> bool:
        return any(other != candidate and other.issuer == candidate.subject for other in certificates)

    leaf = next((c for c in certificates if not issues_another(c)), certificates[0])
    return leaf, [c for c in certificates if c is not leaf]


def _anchor_name(anchors: TrustAnchors, certificate: x509.Certificate) -> str:
    return f"{anchors.label}:{certificate_sha256(certificate)}"


def _chain_time(
    leaf: x509.Certificate, others: Sequence[x509.Certificate], anchors: TrustAnchors, at: datetime
) -> datetime:
    """When to build the chain: the moment nearest ``at`` at which every certificate on the likely path is valid.

    "Does this certificate belong to the partner" must not depend on validity windows — validity answers that, at
    ``at``, with its own reason codes. So the path is first followed by name and issuer signature (leaf, the
    presented intermediates, then an anchor), and the chain is built inside the intersection of those windows;
    without an intersection, inside the leaf's window, and the chain builder reports what is wrong.
    """
    path, current = [leaf], leaf
    candidates = [*others, *anchors.ca_certificates]
    for _ in range(len(candidates)):
        if current.subject == current.issuer and _issued_by(current, current):
            break
        parent = next((c for c in candidates if c not in path and _issued_by(current, c)), None)
        if parent is None:
            break
        path.append(parent)
        current = parent
    earliest = max(c.not_valid_before_utc for c in path)
    latest = min(c.not_valid_after_utc for c in path)
    if earliest > latest:
        earliest, latest = leaf.not_valid_before_utc, leaf.not_valid_after_utc
    return min(max(at, earliest), latest)


def _describe(certificate: x509.Certificate) -> str:
    try:
        subject = certificate.subject.rfc4514_string()
    except ValueError:
        subject = "<unreadable subject>"
    return f"{subject} (serial {certificate.serial_number:x})"


@functools.lru_cache(maxsize=4096)
def _issued_by(child: x509.Certificate, parent: x509.Certificate) -> bool:
    # A pure function of two certificates (hashed by their DER): a partner signs thousands of documents with one
    # certificate, and this signature check was a tenth of a small document's verification time.
    try:
        child.verify_directly_issued_by(parent)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def _why_untrusted(
    leaf: x509.Certificate, others: Sequence[x509.Certificate], anchors: TrustAnchors, error: str
) -> Check:
    """Tell apart the ways a chain can fail to reach the anchors, so each attack has its own reason code."""
    # Follow the presented certificates upwards by name (bounded: a loop of certificates cannot spin forever).
    top, seen = leaf, [leaf]
    for _ in range(len(others)):
        parent = next((c for c in others if c.subject == top.issuer and c not in seen), None)
        if parent is None:
            break
        top = parent
        seen.append(parent)
    named = [ca for ca in anchors.ca_certificates if ca.subject == top.issuer]
    if named:
        if any(_issued_by(top, ca) for ca in named):
            return Check.invalid("chain-invalid", f"the chain reaches {anchors.label}'s CA but fails policy: {error}")
        return Check.invalid(
            "forged-issuer",
            f"{_describe(top)} names {anchors.label}'s CA as issuer, but that CA's key did not sign it",
        )
    if top.subject == top.issuer:
        return Check.invalid(
            "untrusted-root",
            f"the signature brings its own root {_describe(top)}, which is not one of {anchors.label}'s anchors",
        )
    return Check.invalid(
        "untrusted-signer",
        f"{_describe(leaf)} does not chain to any CA of {anchors.label} (issuer {top.issuer.rfc4514_string()})",
    )


def _ca_policy() -> verification.ExtensionPolicy:
    # Web PKI rules for CAs (basicConstraints CA, keyCertSign, …) are what every CA should meet anyway.
    return verification.ExtensionPolicy.webpki_defaults_ca()


def _ee_policy() -> verification.ExtensionPolicy:
    # The client verifier would require the TLS clientAuth usage through the default end-entity policy; a document
    # signing certificate has none. keyUsage is checked by validity below, with its own reason code.
    return verification.ExtensionPolicy.permit_all()


def _trust(
    leaf: x509.Certificate, others: list[x509.Certificate], anchors: TrustAnchors, at: datetime
) -> tuple[Check, str | None, tuple[x509.Certificate, ...]]:
    if not anchors.ca_certificates and not anchors.pinned_certificates:
        return Check.invalid("no-anchors", f"no trust anchors are configured for {anchors.label}"), None, ()
    for pinned in anchors.pinned_certificates:
        if pinned == leaf:
            return Check.valid("pinned certificate"), _anchor_name(anchors, pinned), (leaf,)
    if not anchors.ca_certificates:
        return (
            Check.invalid("untrusted-signer", f"{_describe(leaf)} is not a pinned certificate of {anchors.label}"),
            None,
            (),
        )
    verifier = (
        verification.PolicyBuilder()
        .store(verification.Store(list(anchors.ca_certificates)))
        .time(_chain_time(leaf, others, anchors, at))
        .extension_policies(ca_policy=_ca_policy(), ee_policy=_ee_policy())
        .build_client_verifier()
    )
    try:
        verified = verifier.verify(leaf, others)
    except verification.VerificationError as exc:
        return _why_untrusted(leaf, others, anchors, str(exc)), None, ()
    chain = tuple(verified.chain)
    return Check.valid(f"chains to {_describe(chain[-1])}"), _anchor_name(anchors, chain[-1]), chain


def _window(certificate: x509.Certificate, at: datetime, role: str) -> Check | None:
    if at < certificate.not_valid_before_utc:
        return Check.invalid(
            "not-yet-valid",
            f"{role} {_describe(certificate)} is valid from {certificate.not_valid_before_utc.isoformat()}, "
            f"verification time {at.isoformat()}",
        )
    if at > certificate.not_valid_after_utc:
        return Check.invalid(
            "expired",
            f"{role} {_describe(certificate)} expired {certificate.not_valid_after_utc.isoformat()}, "
            f"verification time {at.isoformat()}",
        )
    return None


def _key_usage(leaf: x509.Certificate) -> Check | None:
    try:
        usage = leaf.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return Check.invalid("key-usage", f"{_describe(leaf)} has no keyUsage extension (digitalSignature required)")
    if not usage.digital_signature:
        return Check.invalid("key-usage", f"{_describe(leaf)} keyUsage does not allow digitalSignature")
    return None


# Signer keys the profile accepts (DESIGN §6: RSA, 3072 bits for new keys, 2048 still seen in the field; P-256 and
# the larger NIST curves). Anything else is refused whatever the chain says.
MIN_SIGNER_RSA_BITS = 2048
_SIGNER_CURVES = (ec.SECP256R1, ec.SECP384R1, ec.SECP521R1)
# Extended key usages that mean "may sign documents"; a certificate without the extension is not restricted.
_DOCUMENT_SIGNING_USAGES = {
    x509.ObjectIdentifier("1.3.6.1.5.5.7.3.36"),  # id-kp-documentSigning (RFC 9336)
    x509.ObjectIdentifier("1.3.6.1.5.5.7.3.4"),  # id-kp-emailProtection (S/MIME signers)
    x509.ObjectIdentifier("2.5.29.37.0"),  # anyExtendedKeyUsage
}


def _key_strength(leaf: x509.Certificate) -> Check | None:
    key = leaf.public_key()
    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size >= MIN_SIGNER_RSA_BITS:
            return None
        return Check.invalid("key-strength", f"{_describe(leaf)} has a {key.key_size}-bit RSA key")
    if isinstance(key, ec.EllipticCurvePublicKey):
        if isinstance(key.curve, _SIGNER_CURVES):
            return None
        return Check.invalid("key-strength", f"{_describe(leaf)} uses the curve {key.curve.name}")
    return Check.invalid("key-strength", f"{_describe(leaf)} has a {type(key).__name__}, not RSA or EC")


def _key_purpose(leaf: x509.Certificate, anchors: TrustAnchors) -> Check | None:
    """The signer must be an end entity meant for signing documents, not a CA or a TLS certificate."""
    try:
        if leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca:
            return Check.invalid("key-purpose", f"{_describe(leaf)} is a CA certificate; CAs do not sign documents")
    except x509.ExtensionNotFound:
        pass
    if leaf in anchors.ca_certificates:
        return Check.invalid("key-purpose", f"{_describe(leaf)} is a trust anchor itself, not a signer")
    try:
        usages = set(leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)
    except x509.ExtensionNotFound:
        return None
    if usages & _DOCUMENT_SIGNING_USAGES:
        return None
    named = ", ".join(sorted(u.dotted_string for u in usages))
    return Check.invalid("key-purpose", f"{_describe(leaf)} is restricted to other purposes ({named})")


def _issuer_key(
    leaf: x509.Certificate, chain: tuple[x509.Certificate, ...], anchors: TrustAnchors
) -> rsa.RSAPublicKey | ec.EllipticCurvePublicKey | None:
    # A CRL counts only when signed by the leaf's real issuer: taken from the verified chain, else from the anchors.
    candidates = [*chain[1:2], *(ca for ca in anchors.ca_certificates if ca.subject == leaf.issuer)]
    for issuer in candidates:
        if _issued_by(leaf, issuer):
            key = issuer.public_key()
            if isinstance(key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey):
                return key
    return None


def _revoked(
    certificate: x509.Certificate,
    issuer_key: rsa.RSAPublicKey | ec.EllipticCurvePublicKey | None,
    anchors: TrustAnchors,
    at: datetime,
    *,
    required: bool,
) -> Check | None:
    """Check one certificate against its issuer's CRLs: None when not revoked at ``at``.

    ``required``: a partner with CRLs configured must have one for the signer's issuer; for the CAs above the
    signer, a CRL is used when the partner has one from their issuer.
    """
    mine = [crl for crl in anchors.crls if crl.issuer == certificate.issuer]
    if not mine:
        if not required:
            return None
        return Check.invalid(
            "crl-unavailable",
            f"{anchors.label} has CRLs configured but none from {certificate.issuer.rfc4514_string()}",
        )
    if issuer_key is None:
        return Check.invalid("crl-unavailable", "the CRL issuer's certificate is not among the trusted certificates")
    usable = [
        crl
        for crl in mine
        if crl.is_signature_valid(issuer_key) and (crl.next_update_utc is None or at <= crl.next_update_utc)
    ]
    if not usable:
        return Check.invalid(
            "crl-unavailable",
            f"no CRL from {certificate.issuer.rfc4514_string()} is both correctly signed and current",
        )
    for crl in usable:
        entry = crl.get_revoked_certificate_by_serial_number(certificate.serial_number)
        # A revocation dated after ``at`` does not touch a signature checked as of ``at`` (re-checks of old documents).
        if entry is not None and entry.revocation_date_utc <= at:
            return Check.invalid(
                "revoked",
                f"{_describe(certificate)} revoked {entry.revocation_date_utc.isoformat()} (CRL of {crl.issuer})",
            )
    return None


def _revocation(
    leaf: x509.Certificate, chain: tuple[x509.Certificate, ...], anchors: TrustAnchors, at: datetime
) -> Check | None:
    """None when neither the signer nor a CA between it and the anchor is revoked at ``at`` (or no CRLs are set)."""
    if not anchors.crls:
        return None
    failure = _revoked(leaf, _issuer_key(leaf, chain, anchors), anchors, at, required=True)
    if failure is not None:
        return failure
    # An issuing CA revoked by its parent takes every certificate it issued down with it.
    for index in range(1, len(chain) - 1):
        key = chain[index + 1].public_key()
        issuer_key = key if isinstance(key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey) else None
        failure = _revoked(chain[index], issuer_key, anchors, at, required=False)
        if failure is not None:
            return failure
    return None


def _validity(
    leaf: x509.Certificate, chain: tuple[x509.Certificate, ...], anchors: TrustAnchors, at: datetime
) -> Check:
    revocation = _revocation(leaf, chain, anchors, at)
    if revocation is not None and revocation.reason == "revoked":
        return revocation
    failure = _window(leaf, at, "signer") or _key_strength(leaf) or _key_usage(leaf) or _key_purpose(leaf, anchors)
    if failure is None:
        for issuer in chain[1:]:
            failure = _window(issuer, at, "issuer")
            if failure is not None:
                break
    return failure or revocation or Check.valid()


def assess_signer(certificates: Sequence[x509.Certificate], anchors: TrustAnchors, at: datetime) -> SignerAssessment:
    """Trust and validity for the certificates a signature carried (leaf anywhere in the list)."""
    at = utc(at)
    if not certificates:
        missing = Check.invalid("no-certificate", "the signature carries no X.509 certificate")
        return SignerAssessment(None, missing, not_checked("no certificate"), None, ())
    leaf, others = pick_leaf(certificates)
    trust, anchor, chain = _trust(leaf, others, anchors, at)
    validity = _validity(leaf, chain, anchors, at)
    return SignerAssessment(leaf, trust, validity, anchor, chain or tuple([leaf, *others]))
