"""signing.keys: the development PKI generator and loading a signing key."""

from __future__ import annotations

import hashlib
import stat
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from signing import SigningKey, generate_dev_pki, load_signing_key
from tests.signing.conftest import NOW, issue_leaf, make_ca


def _certificate(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def test_dev_pki_writes_a_ca_and_two_leaves(tmp_path: Path) -> None:
    pki = generate_dev_pki(tmp_path, now=NOW)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == [
        "ca.key.pem",
        "ca.pem",
        "ec-signing.key.pem",
        "ec-signing.pem",
        "rsa-signing.key.pem",
        "rsa-signing.pem",
    ]
    for key_file in ("ca.key.pem", "ec-signing.key.pem", "rsa-signing.key.pem"):
        assert stat.S_IMODE((tmp_path / key_file).stat().st_mode) == 0o600, key_file

    ca = _certificate(pki.ca_cert)
    constraints = ca.extensions.get_extension_for_class(x509.BasicConstraints)
    assert constraints.value.ca
    assert constraints.critical
    ca_usage = ca.extensions.get_extension_for_class(x509.KeyUsage).value
    assert ca_usage.key_cert_sign
    assert ca_usage.crl_sign
    assert "DEVELOPMENT ONLY" in ca.subject.rfc4514_string()

    for cert_path, _ in (pki.rsa, pki.ec):
        leaf = _certificate(cert_path)
        assert leaf.issuer == ca.subject
        leaf.verify_directly_issued_by(ca)
        usage = leaf.extensions.get_extension_for_class(x509.KeyUsage)
        assert usage.critical
        assert usage.value.digital_signature
        assert not leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
        assert leaf.not_valid_before_utc <= NOW <= leaf.not_valid_after_utc

    rsa_key = load_signing_key(pki.rsa[1], pki.rsa[0])
    ec_key = load_signing_key(pki.ec[1], pki.ec[0])
    assert isinstance(rsa_key.private_key, rsa.RSAPrivateKey)
    assert rsa_key.private_key.key_size == 3072
    assert isinstance(ec_key.private_key, ec.EllipticCurvePrivateKey)
    assert isinstance(ec_key.private_key.curve, ec.SECP256R1)
    assert (rsa_key.algorithm, ec_key.algorithm) == ("RS256", "ES256")


def test_dev_pki_is_idempotent_and_keeps_existing_files(tmp_path: Path) -> None:
    generate_dev_pki(tmp_path, now=NOW)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    generate_dev_pki(tmp_path, now=NOW + timedelta(days=3))
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


def test_dev_pki_reissues_a_deleted_leaf_from_the_kept_ca(tmp_path: Path) -> None:
    pki = generate_dev_pki(tmp_path, now=NOW)
    ca_before = pki.ca_cert.read_bytes()
    pki.ec[0].unlink()
    pki.ec[1].unlink()
    generate_dev_pki(tmp_path, now=NOW)
    assert pki.ca_cert.read_bytes() == ca_before
    _certificate(pki.ec[0]).verify_directly_issued_by(_certificate(pki.ca_cert))


def test_dev_pki_refuses_a_half_pair(tmp_path: Path) -> None:
    pki = generate_dev_pki(tmp_path, now=NOW)
    pki.rsa[1].unlink()
    with pytest.raises(ValueError, match="missing"):
        generate_dev_pki(tmp_path, now=NOW)


def test_dev_pki_refuses_leaves_of_another_ca(tmp_path: Path) -> None:
    pki = generate_dev_pki(tmp_path, now=NOW)
    pki.ca_cert.unlink()
    (tmp_path / "ca.key.pem").unlink()
    with pytest.raises(ValueError, match="without its CA"):
        generate_dev_pki(tmp_path, now=NOW)


def test_key_id_is_the_sha256_of_the_leaf_der(tmp_path: Path) -> None:
    pki = generate_dev_pki(tmp_path, now=NOW)
    key = load_signing_key(pki.ec[1], pki.ec[0])
    der = key.certificate.public_bytes(serialization.Encoding.DER)
    assert key.key_id == hashlib.sha256(der).hexdigest()
    assert key.key_id == key.key_id.lower()
    assert len(key.key_id) == 64
    assert key.chain == ()


def _write(path: Path, *items: bytes) -> Path:
    path.write_bytes(b"".join(items))
    return path


def _pem(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(serialization.Encoding.PEM)


def _key_pem(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey, password: bytes | None = None) -> bytes:
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(password) if password else serialization.NoEncryption()
    )
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)


def test_load_reads_the_chain_after_the_leaf_and_an_encrypted_key(tmp_path: Path) -> None:
    root = make_ca(x509.Name.from_rfc4514_string("CN=root"))
    intermediate = make_ca(x509.Name.from_rfc4514_string("CN=intermediate"), issuer=root)
    key, leaf = issue_leaf(intermediate, "leaf")
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    cert_file = _write(tmp_path / "leaf.pem", _pem(leaf), _pem(intermediate.certificate))
    key_file = _write(tmp_path / "leaf.key.pem", _key_pem(key, b"secret"))
    loaded = load_signing_key(key_file, cert_file, password=b"secret")
    assert loaded.certificate == leaf
    assert loaded.chain == (intermediate.certificate,)


def test_load_refuses_a_certificate_of_another_key(tmp_path: Path) -> None:
    authority = make_ca(x509.Name.from_rfc4514_string("CN=ca"))
    _, leaf = issue_leaf(authority, "leaf")
    other = ec.generate_private_key(ec.SECP256R1())
    with pytest.raises(ValueError, match="does not belong"):
        load_signing_key(_write(tmp_path / "k.pem", _key_pem(other)), _write(tmp_path / "c.pem", _pem(leaf)))


def test_load_refuses_a_certificate_without_digital_signature(tmp_path: Path) -> None:
    authority = make_ca(x509.Name.from_rfc4514_string("CN=ca"))
    key, leaf = issue_leaf(authority, "leaf", digital_signature=False)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    with pytest.raises(ValueError, match="digitalSignature"):
        load_signing_key(_write(tmp_path / "k.pem", _key_pem(key)), _write(tmp_path / "c.pem", _pem(leaf)))


@pytest.mark.parametrize(
    ("make_key", "message"),
    [
        (lambda: ec.generate_private_key(ec.SECP384R1()), "P-256"),
        (lambda: rsa.generate_private_key(public_exponent=65537, key_size=1024), "at least 2048"),  # noqa: S505 - the weak key is the point
    ],
    ids=["ec-p384", "rsa-1024"],
)
def test_load_refuses_keys_outside_the_profile(tmp_path: Path, make_key: object, message: str) -> None:
    assert callable(make_key)
    key = make_key()
    authority = make_ca(x509.Name.from_rfc4514_string("CN=ca"))
    _, leaf = issue_leaf(authority, "leaf", key)
    with pytest.raises(ValueError, match=message):
        load_signing_key(_write(tmp_path / "k.pem", _key_pem(key)), _write(tmp_path / "c.pem", _pem(leaf)))


def test_signing_key_algorithm_follows_the_key_type() -> None:
    authority = make_ca(x509.Name.from_rfc4514_string("CN=ca"))
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    _, leaf = issue_leaf(authority, "leaf", rsa_key)
    assert SigningKey(private_key=rsa_key, certificate=leaf).algorithm == "RS256"


def test_dev_pki_refuses_a_leaf_the_kept_ca_did_not_issue(tmp_path: Path) -> None:
    pki = generate_dev_pki(tmp_path, now=NOW)
    other = generate_dev_pki(tmp_path / "other", now=NOW)
    pki.ec[0].write_bytes(other.ec[0].read_bytes())
    pki.ec[1].write_bytes(other.ec[1].read_bytes())
    with pytest.raises(ValueError, match="not issued by"):
        generate_dev_pki(tmp_path, now=NOW)
