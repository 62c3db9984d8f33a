"""Certificates and CRLs for the gateway tests, valid around the real current time.

A thin layer over the builders of the signing tests (``tests/signing/conftest.py``), which work at a fixed moment:
the partner directory checks anchors against the wall clock, so these are issued around now.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tests.signing.conftest import Authority, issue_leaf
from tests.signing.conftest import make_ca as _make_ca
from tests.signing.conftest import make_crl as _make_crl

NOW = datetime.now(UTC)


@dataclass(frozen=True)
class Issued:
    certificate: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    @property
    def authority(self) -> Authority:
        return Authority(self.key, self.certificate)

    @property
    def pem(self) -> str:
        return self.certificate.public_bytes(Encoding.PEM).decode("ascii")

    @property
    def sha256(self) -> str:
        return self.certificate.fingerprint(hashes.SHA256()).hex()

    def write(self, directory: Path, stem: str) -> tuple[Path, Path]:
        """``<stem>.pem`` and ``<stem>.key.pem`` in ``directory``, as TLS servers and clients load them."""
        directory.mkdir(parents=True, exist_ok=True)
        certificate, key = directory / f"{stem}.pem", directory / f"{stem}.key.pem"
        certificate.write_text(self.pem)
        key.write_bytes(self.key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()))
        return certificate, key


def make_ca(common_name: str) -> Issued:
    """A root CA named only by its common name, valid from 30 days ago for ten years."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    ca = _make_ca(name, not_before=NOW - timedelta(days=30), not_after=NOW + timedelta(days=3650))
    return Issued(ca.certificate, ca.key)


def make_leaf(ca: Issued, common_name: str) -> Issued:
    key, certificate = issue_leaf(
        ca.authority, common_name, not_before=NOW - timedelta(days=1), not_after=NOW + timedelta(days=364)
    )
    assert isinstance(key, ec.EllipticCurvePrivateKey)  # issue_leaf's default key
    return Issued(certificate, key)


def make_crl(ca: Issued, revoked: list[x509.Certificate]) -> str:
    crl = _make_crl(
        ca.authority,
        [(certificate.serial_number, NOW - timedelta(hours=1)) for certificate in revoked],
        last_update=NOW - timedelta(days=1),
        next_update=NOW + timedelta(days=30),
    )
    return crl.public_bytes(Encoding.PEM).decode("ascii")


def _tls_leaf(ca: Issued, common_name: str, usage: x509.ObjectIdentifier, address: str | None) -> Issued:
    key = ec.generate_private_key(ec.SECP256R1())
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
        .issuer_name(ca.certificate.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - timedelta(days=1))
        .not_valid_after(NOW + timedelta(days=364))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    )
    if address is not None:
        # Clients check the server's name against its subjectAltName (the common name is not looked at).
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(address))]), critical=False
        )
    return Issued(builder.sign(ca.key, hashes.SHA256()), key)


def make_tls_server(ca: Issued, address: str = "127.0.0.1") -> Issued:
    """A TLS server certificate for ``address``."""
    return _tls_leaf(ca, f"gateway at {address}", ExtendedKeyUsageOID.SERVER_AUTH, address)


def make_tls_client(ca: Issued, common_name: str) -> Issued:
    """A TLS client certificate (extended key usage clientAuth)."""
    return _tls_leaf(ca, common_name, ExtendedKeyUsageOID.CLIENT_AUTH, None)
