"""Signing keys and certificates: loading a key pair once, and a development PKI for local runs and tests.

A PEM parse costs tens of milliseconds and a signature one to four, so callers load a :class:`SigningKey` once and
reuse it. Everything here is ``cryptography``; no XML.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

__all__ = ["DevPki", "SigningKey", "generate_dev_pki", "load_signing_key"]

# New RSA keys are 3072 bits (DESIGN §6); an existing 2048-bit partner-issued key can still be loaded, anything
# weaker cannot (the verifier refuses such signers too: `key-strength` in signing/trust.py).
NEW_RSA_BITS = 3072
MIN_RSA_BITS = 2048
_CA_VALIDITY_FACTOR = 2


@dataclass(frozen=True)
class SigningKey:
    """A private key with its leaf certificate and the intermediates a verifier needs to reach a trust anchor."""

    private_key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
    certificate: x509.Certificate
    chain: tuple[x509.Certificate, ...] = ()

    @property
    def key_id(self) -> str:
        """Lowercase hex SHA-256 of the leaf certificate's DER: stable across re-encodings of the PEM file."""
        return hashlib.sha256(self.certificate.public_bytes(serialization.Encoding.DER)).hexdigest()

    @property
    def algorithm(self) -> Literal["RS256", "ES256"]:
        # Only RSA and P-256 keys can be constructed through load_signing_key, so the two names cover every key.
        return "RS256" if isinstance(self.private_key, rsa.RSAPrivateKey) else "ES256"


@dataclass(frozen=True)
class DevPki:
    """Paths of a development PKI written by :func:`generate_dev_pki`; ``rsa`` and ``ec`` are (certificate, key)."""

    ca_cert: Path
    rsa: tuple[Path, Path]
    ec: tuple[Path, Path]


def _check_key_type(key: object) -> rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey:
    if isinstance(key, rsa.RSAPrivateKey):
        if key.key_size < MIN_RSA_BITS:
            raise ValueError(f"RSA key of {key.key_size} bits; at least {MIN_RSA_BITS} are required")
        return key
    if isinstance(key, ec.EllipticCurvePrivateKey):
        # ES256 in JWS and ecdsa-sha256 in XMLDSig are only defined for P-256 in this profile.
        if not isinstance(key.curve, ec.SECP256R1):
            raise ValueError(f"EC key on {key.curve.name}; only P-256 (secp256r1) is supported")
        return key
    raise ValueError(f"unsupported key type {type(key).__name__}; use RSA or EC P-256")


def _require_digital_signature(certificate: x509.Certificate) -> None:
    try:
        usage = certificate.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        raise ValueError("the signing certificate has no keyUsage extension (digitalSignature is required)") from None
    if not usage.digital_signature:
        raise ValueError("the signing certificate's keyUsage does not include digitalSignature")


def _public_der(key: object) -> bytes:
    if not isinstance(key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey):
        raise ValueError("the certificate's public key is neither RSA nor EC")
    return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def load_signing_key(key_pem: Path, cert_pem: Path, password: bytes | None = None) -> SigningKey:
    """Load a private key and its certificate file (leaf first, then any intermediates) into a :class:`SigningKey`.

    Raises ``ValueError`` when the key type is not supported, the certificate does not belong to the key, or the
    certificate does not allow digitalSignature: a key that cannot make a verifiable signature fails at start-up,
    not at the first document.
    """
    private_key = _check_key_type(serialization.load_pem_private_key(key_pem.read_bytes(), password=password))
    certificates = x509.load_pem_x509_certificates(cert_pem.read_bytes())
    leaf, chain = certificates[0], tuple(certificates[1:])
    if _public_der(leaf.public_key()) != _public_der(private_key.public_key()):
        raise ValueError(f"the first certificate in {cert_pem} does not belong to the key in {key_pem}")
    _require_digital_signature(leaf)
    return SigningKey(private_key=private_key, certificate=leaf, chain=chain)


# --- development PKI -------------------------------------------------------------------------------------------

# The subject says what it is: nobody should mistake these for production keys in a partner's trust store.
_DEV_ORGANISATION = "DEVELOPMENT ONLY - not for production"
# Backdating absorbs small clock differences between the machine that makes the keys and one that verifies.
_BACKDATE = timedelta(minutes=5)


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, _DEV_ORGANISATION),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _write_new(path: Path, data: bytes, mode: int) -> None:
    # O_EXCL: never overwrite (the PKI is idempotent); the mode is set at creation, so a key is never briefly
    # readable by others between write and chmod.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def _key_pem(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _cert_pem(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(serialization.Encoding.PEM)


def _existing_pair(cert_path: Path, key_path: Path) -> bool:
    present = cert_path.exists(), key_path.exists()
    if present[0] != present[1]:
        missing = key_path if present[0] else cert_path
        raise ValueError(f"{missing} is missing but its pair exists; delete both to have them generated again")
    return present[0]


def _make_ca(common_name: str, now: datetime, days: int) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = _name(f"{common_name} CA")
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _BACKDATE)
        .not_valid_after(now + timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return key, certificate


def _issue_leaf(
    common_name: str,
    key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey,
    ca_key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey,
    ca_cert: x509.Certificate,
    now: datetime,
    days: int,
) -> x509.Certificate:
    # A leaf never outlives its CA: the chain would stop verifying before the leaf expires.
    not_after = min(now + timedelta(days=days), ca_cert.not_valid_after_utc)
    return (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _BACKDATE)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )


def _load_ca(
    cert_path: Path, key_path: Path
) -> tuple[rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise ValueError(f"{key_path} holds neither an RSA nor an EC key")
    return key, x509.load_pem_x509_certificate(cert_path.read_bytes())


def generate_dev_pki(
    directory: Path,
    *,
    common_name: str = "trade-gateway development",
    now: datetime | None = None,
    validity_days: int = 365,
) -> DevPki:
    """Write a development CA and two signing leaves (RSA-3072, EC P-256) under ``directory``; keep existing files.

    Files: ``ca.pem``/``ca.key.pem``, ``rsa-signing.pem``/``rsa-signing.key.pem``, ``ec-signing.pem``/
    ``ec-signing.key.pem``; keys are written with mode 0600. Each (certificate, key) pair is kept when both exist and
    generated when neither does; a half pair, or a kept leaf that the kept CA did not issue, is a ``ValueError``
    rather than a silently broken chain. Only for development mode and tests: the subject says so.
    """
    now = (now or datetime.now(UTC)).astimezone(UTC)
    directory.mkdir(parents=True, exist_ok=True)
    pki = DevPki(
        ca_cert=directory / "ca.pem",
        rsa=(directory / "rsa-signing.pem", directory / "rsa-signing.key.pem"),
        ec=(directory / "ec-signing.pem", directory / "ec-signing.key.pem"),
    )
    ca_key_path = directory / "ca.key.pem"
    kept_leaves = [pair for pair in (pki.rsa, pki.ec) if _existing_pair(*pair)]
    if _existing_pair(pki.ca_cert, ca_key_path):
        ca_key, ca_cert = _load_ca(pki.ca_cert, ca_key_path)
    elif kept_leaves:
        # A new CA could not have issued them; refusing before writing anything leaves the directory as it was.
        raise ValueError(f"{kept_leaves[0][0]} exists without its CA; delete the leaves too to regenerate the PKI")
    else:
        # The CA outlives the first leaves, so leaves issued later from the same CA still get a useful lifetime.
        ca_key, ca_cert = _make_ca(common_name, now, validity_days * _CA_VALIDITY_FACTOR)
        _write_new(ca_key_path, _key_pem(ca_key), 0o600)
        _write_new(pki.ca_cert, _cert_pem(ca_cert), 0o644)

    for (cert_path, key_path), kind in ((pki.rsa, "RSA"), (pki.ec, "EC")):
        if (cert_path, key_path) in kept_leaves:
            try:
                x509.load_pem_x509_certificate(cert_path.read_bytes()).verify_directly_issued_by(ca_cert)
            except (ValueError, TypeError, InvalidSignature):
                raise ValueError(
                    f"{cert_path} was not issued by {pki.ca_cert}; delete the leaf to have it reissued"
                ) from None
            continue
        key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey = (
            rsa.generate_private_key(public_exponent=65537, key_size=NEW_RSA_BITS)
            if kind == "RSA"
            else ec.generate_private_key(ec.SECP256R1())
        )
        certificate = _issue_leaf(f"{common_name} {kind} signing", key, ca_key, ca_cert, now, validity_days)
        _write_new(key_path, _key_pem(key), 0o600)
        _write_new(cert_path, _cert_pem(certificate), 0o644)
    return pki
