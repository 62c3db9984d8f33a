"""Detached JWS (RFC 7515 appendix F) over the RFC 8785 canonical form of a JSON value: the JSON side of signing.

The compact form travels without its payload (``<header>..<signature>``); the signature covers the canonical bytes
of the value the receiver holds, so member order and whitespace of the transmitted JSON never matter, its content
does. The profile is fixed like the XML one: RS256 for RSA keys, ES256 for P-256 keys, a protected header of exactly
``alg``, ``kid`` (SHA-256 of the leaf certificate) and ``x5c`` (leaf, then chain). Trust and validity of the signer
come from the same code as for XML signatures.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from datetime import UTC, datetime
from typing import Any, Final, Literal

import rfc8785
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import Encoding
from joserfc import jws as jose
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, RSAKey

from signing._result import Check, SignatureVerification, not_checked
from signing.keys import MIN_RSA_BITS, SigningKey
from signing.trust import TrustAnchors, assess_signer, pick_leaf, utc
from signing.xmldsig import MAX_CERTIFICATE_BYTES, MAX_CERTIFICATES, MAX_KEYINFO_BYTES

__all__ = ["sign_json", "verify_json"]

Algorithm = Literal["RS256", "ES256"]
ALGORITHMS: Final[frozenset[str]] = frozenset({"RS256", "ES256"})
# The protected header carries exactly these members. ``crit`` (extensions nobody here understands), ``b64``
# (RFC 7797: changes what is signed), ``jwk``/``jku``/``x5u`` (a key chosen or fetched by the sender) are refused.
HEADER_MEMBERS: Final = frozenset({"alg", "kid", "x5c"})
# Bounds on x5c: the same numbers as on ds:KeyInfo in an XML signature (base64 characters count towards the total).
# base64url of a header holding that much x5c: checked before anything is decoded.
MAX_HEADER_SEGMENT: Final = (MAX_KEYINFO_BYTES + 1024) * 4 // 3
# ES256 signatures are 64 bytes, RS256 ones the modulus size: 1368 base64url characters hold RSA-8192.
MAX_SIGNATURE_SEGMENT: Final = 1368

_BASE64URL = re.compile(r"[A-Za-z0-9_-]*")


def _registry(algorithm: str) -> jose.JWSRegistry:
    registry = jose.JWSRegistry(algorithms=[algorithm])
    # joserfc's defaults (512-byte header, 1 KB signature) are too small for an x5c with an RSA-3072 certificate.
    registry.max_header_length = MAX_HEADER_SEGMENT
    registry.max_signature_length = MAX_SIGNATURE_SEGMENT
    registry.max_payload_length = 0  # detached: an attached payload segment is never accepted
    return registry


_REGISTRIES: Final = {algorithm: _registry(algorithm) for algorithm in ALGORITHMS}


class _Refused(Exception):
    """The JWS fails the profile; ``reason`` is the stable code reported in the integrity check."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


def _canonical_bytes(value: object) -> bytes:
    """RFC 8785 bytes; ValueError (rfc8785.CanonicalizationError) for a value JSON cannot carry exactly."""
    json_value: Any = value  # rfc8785 types its input as JSON values; callers hand parsed JSON as ``object``
    return rfc8785.dumps(json_value)


# ----- signing ---------------------------------------------------------------------------------------------


def _jose_key(
    key: rsa.RSAPrivateKey | rsa.RSAPublicKey | ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey,
) -> RSAKey | ECKey:
    # joserfc wraps cryptography key objects directly: no PEM round trip per call.
    if isinstance(key, rsa.RSAPrivateKey | rsa.RSAPublicKey):
        return RSAKey(key, key)
    return ECKey(key, key)


def _algorithm_for(public_key: object) -> Algorithm | None:
    """The one algorithm the profile allows for a key, or None for a key the profile does not sign with."""
    if isinstance(public_key, rsa.RSAPublicKey) and public_key.key_size >= MIN_RSA_BITS:
        return "RS256"
    if isinstance(public_key, ec.EllipticCurvePublicKey) and isinstance(public_key.curve, ec.SECP256R1):
        return "ES256"
    return None


def sign_json(value: object, key: SigningKey) -> str:
    """Sign the RFC 8785 form of ``value``; returns the detached compact JWS ``"<header>..<signature>"``.

    Raises ValueError for a value that has no canonical form (NaN, integers beyond 2**53, non-string keys,
    types JSON does not have) and for a key outside the profile (RSA under 2048 bits, a curve other than P-256).
    """
    payload = _canonical_bytes(value)
    algorithm = _algorithm_for(key.private_key.public_key())
    if algorithm is None or algorithm != key.algorithm:
        raise ValueError(f"the signing key is not an RSA-{MIN_RSA_BITS}+ or P-256 key for {key.algorithm}")
    header = {
        "alg": algorithm,
        "kid": key.key_id,
        "x5c": [
            base64.b64encode(cert.public_bytes(Encoding.DER)).decode("ascii") for cert in (key.certificate, *key.chain)
        ],
    }
    compact = jose.serialize_compact(header, payload, _jose_key(key.private_key), registry=_REGISTRIES[algorithm])
    return jose.detach_content(compact)


# ----- verification: integrity -----------------------------------------------------------------------------


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for name, member in pairs:
        if name in result:  # RFC 7515 §5.2: reject, rather than let two parsers pick different members
            raise _Refused("malformed", f"the protected header repeats {name!r}")
        result[name] = member
    return result


def _split(jws: str) -> tuple[str, str]:
    if not isinstance(jws, str):
        raise _Refused("malformed", f"a JWS is a string, not {type(jws).__name__}")
    parts = jws.split(".")
    if len(parts) != 3:
        raise _Refused("malformed", f"a compact JWS has 3 parts, this one has {len(parts)}")
    header_segment, payload_segment, signature_segment = parts
    if len(header_segment) > MAX_HEADER_SEGMENT or len(signature_segment) > MAX_SIGNATURE_SEGMENT:
        raise _Refused("keyinfo-too-large", "the protected header or the signature is over its size limit")
    if not all(_BASE64URL.fullmatch(part) for part in parts):
        raise _Refused("malformed", "a part of the JWS is not unpadded base64url")
    if payload_segment:
        raise _Refused("payload-not-detached", "the JWS carries a payload; the profile signs the value detached")
    return header_segment, signature_segment


def _decode_header(segment: str) -> dict[str, Any]:
    try:
        raw = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
        header = json.loads(raw.decode("utf-8"), object_pairs_hook=_no_duplicates)
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise _Refused("malformed", f"the protected header is not base64url JSON: {exc}") from None
    if not isinstance(header, dict):
        raise _Refused("malformed", "the protected header is not a JSON object")
    return header


def _check_header(header: dict[str, Any]) -> Algorithm:
    algorithm = header.get("alg")
    if not isinstance(algorithm, str):
        raise _Refused("malformed", "the protected header has no alg")
    if algorithm.lower() == "none":
        raise _Refused("algorithm-none", "alg 'none': the JWS is not signed")
    if algorithm not in ALGORITHMS:
        raise _Refused("algorithm-not-allowed", f"alg {algorithm!r} is not one of {sorted(ALGORITHMS)}")
    if "crit" in header:
        raise _Refused("crit-not-understood", f"critical header extensions {header['crit']!r} are not understood")
    extra = sorted(set(header) - HEADER_MEMBERS)
    if extra:
        raise _Refused("header-not-allowed", f"header members {extra} are outside the profile (alg, kid, x5c)")
    return "RS256" if algorithm == "RS256" else "ES256"


def _certificates(header: dict[str, Any]) -> tuple[x509.Certificate, ...]:
    x5c = header.get("x5c")
    if not isinstance(x5c, list) or not x5c or not all(isinstance(item, str) for item in x5c):
        raise _Refused("no-certificate", "the protected header has no x5c with the signer's certificate")
    if len(x5c) > MAX_CERTIFICATES:
        raise _Refused("keyinfo-too-large", f"x5c holds {len(x5c)} certificates, over the limit of {MAX_CERTIFICATES}")
    if sum(len(item) for item in x5c) > MAX_KEYINFO_BYTES:
        raise _Refused("keyinfo-too-large", f"x5c is over the limit of {MAX_KEYINFO_BYTES} characters")
    certificates: list[x509.Certificate] = []
    for index, item in enumerate(x5c):
        if len(item) > (MAX_CERTIFICATE_BYTES + 2) // 3 * 4:
            raise _Refused("keyinfo-too-large", f"x5c[{index}] is over the limit of {MAX_CERTIFICATE_BYTES} bytes")
        try:
            certificates.append(x509.load_der_x509_certificate(base64.b64decode(item, validate=True)))
        except (binascii.Error, ValueError) as exc:
            raise _Refused("bad-certificate", f"x5c[{index}] is not a base64 DER certificate: {exc}") from None
    if pick_leaf(certificates)[0] is not certificates[0]:
        # RFC 7515 §4.1.6: the signing certificate comes first. Were it not the end entity, the key that verifies
        # the signature and the certificate judged for trust and validity would be different certificates.
        raise _Refused("x5c-order", "x5c[0] issued another certificate in x5c, so it is not the signer's leaf")
    return tuple(certificates)


def _canonical(value: object) -> bytes:
    try:
        return _canonical_bytes(value)
    except ValueError as exc:  # rfc8785.CanonicalizationError and its subclasses
        raise _Refused("not-canonicalizable", f"the JSON value has no RFC 8785 form: {exc}") from None


def _check_kid(header: dict[str, Any], leaf: x509.Certificate) -> None:
    expected = hashlib.sha256(leaf.public_bytes(Encoding.DER)).hexdigest()
    kid = header.get("kid")
    if kid != expected:
        raise _Refused("kid-mismatch", f"kid {kid!r} is not the SHA-256 of the x5c leaf ({expected})")


def _check_signature(jws: str, payload: bytes, algorithm: Algorithm, leaf: x509.Certificate) -> None:
    public_key = leaf.public_key()
    if (
        not isinstance(public_key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey)
        or _algorithm_for(public_key) != algorithm
    ):
        raise _Refused(
            "algorithm-key-mismatch",
            f"alg {algorithm} does not match the x5c leaf's {type(public_key).__name__} "
            f"(RS256 needs RSA-{MIN_RSA_BITS}+, ES256 a P-256 key)",
        )
    registry = _REGISTRIES[algorithm]
    try:
        compact = jose.extract_compact(jws.encode("ascii"), payload, registry)
        valid = jose.validate_compact(compact, _jose_key(public_key), registry=registry)
    except JoseError as exc:
        raise _Refused("malformed", f"joserfc refused the JWS: {exc}") from None
    if not valid:
        raise _Refused("bad-signature", "the signature does not verify over the canonical JSON with the x5c leaf key")


# ----- verification ----------------------------------------------------------------------------------------


def verify_json(value: object, jws: str, anchors: TrustAnchors, *, at: datetime | None = None) -> SignatureVerification:
    """Verify a detached compact JWS made by :func:`sign_json` over ``value``; three independent answers.

    ``value`` is the parsed JSON (dicts, lists, str, int, float, bool, None), not JSON text: its RFC 8785 form is
    what the signature must cover, however the text it came from was laid out.

    integrity: the header is inside the profile (alg RS256/ES256 matching the x5c leaf's key, kid = SHA-256 of that
    leaf, no other members, no ``crit``), and the signature verifies over the RFC 8785 bytes of ``value``.
    trust and validity: the x5c leaf against ``anchors`` at ``at`` (default now), the same checks as for an XML
    signature. ``signed_xml`` carries the canonical JSON bytes that the signature covers, only when integrity holds.
    Nothing raises: anything unexpected is an ERROR answer, never VALID.
    """
    verified_at = utc(at or datetime.now(UTC))
    try:
        return _verify(value, jws, anchors, verified_at)
    except Exception as exc:  # a verdict must never come from an unexpected path
        failure = Check.error("verifier-error", f"{type(exc).__name__}: {exc}")
        return SignatureVerification(failure, failure, failure, None, None, None, (), verified_at)


def _verify(value: object, jws: str, anchors: TrustAnchors, verified_at: datetime) -> SignatureVerification:
    certificates: tuple[x509.Certificate, ...] = ()
    signed: bytes | None = None
    try:
        header_segment, _ = _split(jws)
        header = _decode_header(header_segment)
        algorithm = _check_header(header)
        certificates = _certificates(header)
        _check_kid(header, certificates[0])
        payload = _canonical(value)
        _check_signature(jws, payload, algorithm, certificates[0])
        integrity = Check.valid()
        signed = payload
    except _Refused as refused:
        integrity = Check.invalid(refused.reason, refused.detail)
    if not certificates:
        skipped = not_checked(f"no signer certificate to check (integrity: {integrity.reason})")
        return SignatureVerification(integrity, skipped, skipped, None, None, None, (), verified_at)
    return assess_signer(certificates, anchors, verified_at).verification(integrity, signed, verified_at)
