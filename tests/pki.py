"""Certificates and CRLs for the gateway tests, valid around the real current time.

A thin layer over the builders of the signing tests (``tests/signing/conftest.py``), which work at a fixed moment:
the partner directory checks anchors against the wall clock, so these are issued around now.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

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
