"""What a signer certificate must be, beyond chaining to the partner: a strong key, an end entity meant for
signing documents, and no revoked CA above it. Each case verifies intact (integrity VALID) with a chain the partner
trusts, so only the policy under test can refuse it."""

from __future__ import annotations

from datetime import timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID

from signing import SignaturePlacement, TrustAnchors, sign_json, verify_json, verify_xml
from signing.keys import SigningKey
from tests.conftest import FIXTURES
from tests.signing.conftest import NOW, Authority, Pki, _name, make_ca, make_crl, resign

UBL = SignaturePlacement.UBL_EXTENSION
COO = (FIXTURES / "coo" / "valid-10.xml").read_bytes()


def _leaf(
    authority: Authority,
    key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey,
    *,
    ca: bool = False,
    usages: list[x509.ObjectIdentifier] | None = None,
) -> x509.Certificate:
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name("signer under test"))
        .issuer_name(authority.certificate.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - timedelta(days=1))
        .not_valid_after(NOW + timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(True, False, False, False, False, ca, ca, False, False), critical=True)
    )
    if usages is not None:
        builder = builder.add_extension(x509.ExtendedKeyUsage(usages), critical=False)
    return builder.sign(authority.key, hashes.SHA256())


@pytest.fixture(scope="module")
def signed_coo(pki: Pki) -> bytes:
    from signing import sign_xml

    return sign_xml(COO, pki.rsa, UBL)


@pytest.mark.parametrize(
    "key",
    [
        pytest.param(lambda: rsa.generate_private_key(65537, 1024), id="rsa-1024"),  # noqa: S505 (the point)
        pytest.param(lambda: ec.generate_private_key(ec.SECP224R1()), id="p-224"),
        pytest.param(lambda: ec.generate_private_key(ec.SECP256K1()), id="secp256k1"),
        pytest.param(lambda: ec.generate_private_key(ec.BrainpoolP256R1()), id="brainpool-p256"),
    ],
)
def test_a_weak_or_off_profile_signer_key_is_refused(pki: Pki, signed_coo: bytes, key: object) -> None:
    private = key()  # type: ignore[operator]
    certificate = _leaf(pki.ours, private)
    result = verify_xml(resign(signed_coo, private, certificates=[certificate]), pki.anchors, UBL, at=NOW)
    assert (result.integrity.status, result.trust.status) == ("VALID", "VALID")
    assert (result.validity.status, result.validity.reason) == ("INVALID", "key-strength")


@pytest.mark.parametrize(
    "usages",
    [[ExtendedKeyUsageOID.SERVER_AUTH], [ExtendedKeyUsageOID.CLIENT_AUTH], [ExtendedKeyUsageOID.CODE_SIGNING]],
    ids=["tls-server", "tls-client", "code-signing"],
)
def test_a_certificate_meant_for_another_purpose_does_not_sign_documents(
    pki: Pki, signed_coo: bytes, usages: list[x509.ObjectIdentifier]
) -> None:
    private = ec.generate_private_key(ec.SECP256R1())
    certificate = _leaf(pki.ours, private, usages=usages)
    xml = verify_xml(resign(signed_coo, private, certificates=[certificate]), pki.anchors, UBL, at=NOW)
    assert (xml.integrity.status, xml.trust.status, xml.validity.reason) == ("VALID", "VALID", "key-purpose")
    key = SigningKey(private_key=private, certificate=certificate)
    json_result = verify_json({"a": 1}, sign_json({"a": 1}, key), pki.anchors, at=NOW)
    assert json_result.validity.reason == "key-purpose"


def test_a_document_signing_purpose_is_accepted(pki: Pki, signed_coo: bytes) -> None:
    private = ec.generate_private_key(ec.SECP256R1())
    certificate = _leaf(pki.ours, private, usages=[x509.ObjectIdentifier("1.3.6.1.5.5.7.3.36")])
    assert verify_xml(resign(signed_coo, private, certificates=[certificate]), pki.anchors, UBL, at=NOW).ok


def test_a_ca_certificate_does_not_sign_documents(signed_coo: bytes) -> None:
    root = make_ca(_name("TH root for the CA-as-signer case"))
    private = ec.generate_private_key(ec.SECP256R1())
    sub_ca = _leaf(root, private, ca=True)
    anchors = TrustAnchors("TH", ca_certificates=(root.certificate,))
    result = verify_xml(resign(signed_coo, private, certificates=[sub_ca]), anchors, UBL, at=NOW)
    assert (result.validity.status, result.validity.reason) == ("INVALID", "key-purpose")


def test_a_revoked_issuing_ca_takes_its_signers_down(signed_coo: bytes) -> None:
    root = make_ca(_name("TH root with a revoked issuing CA"))
    issuing = make_ca(_name("TH issuing CA (compromised)"), issuer=root)
    private = ec.generate_private_key(ec.SECP256R1())
    leaf = _leaf(issuing, private)
    root_crl = make_crl(
        root,
        [(issuing.certificate.serial_number, NOW - timedelta(hours=6))],
        last_update=NOW - timedelta(days=1),
        next_update=NOW + timedelta(days=30),
    )
    issuing_crl = make_crl(issuing, [], last_update=NOW - timedelta(days=1), next_update=NOW + timedelta(days=30))
    anchors = TrustAnchors("TH", ca_certificates=(root.certificate,), crls=(root_crl, issuing_crl))
    signed = resign(signed_coo, private, certificates=[leaf, issuing.certificate])
    result = verify_xml(signed, anchors, UBL, at=NOW)
    assert (result.integrity.status, result.trust.status) == ("VALID", "VALID")
    assert (result.validity.status, result.validity.reason) == ("INVALID", "revoked")
    before = verify_xml(signed, anchors, UBL, at=NOW - timedelta(hours=12))
    assert before.ok, before.as_dict()


def test_text_after_the_signature_is_refused_on_both_paths(pki: Pki, signed_coo: bytes) -> None:
    tailed = signed_coo.replace(b"</ds:Signature>", b"</ds:Signature>tail", 1)
    assert b"tail" in tailed
    for compatible in (False, True):
        result = verify_xml(tailed, pki.anchors, UBL, at=NOW, allow_omitted_reference_uri=compatible)
        assert (result.integrity.status, result.integrity.reason) == ("INVALID", "signature-structure")
