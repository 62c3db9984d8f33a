"""Interoperability with libxmlsec1's command line: what the gateway signs verifies there, and the reverse.

``xmlsec1`` is an independent XMLDSig implementation (the one behind many partners' stacks). Both directions use
the gateway's profile: one Reference ``URI=""``, enveloped-signature + exclusive C14N, SHA-256, RSA/ECDSA-SHA256,
the certificate in X509Data, the signature at the placement the gateway fixes. Each positive case has a negative
control next to it (another partner's CA, a changed byte), so a verifier that accepts everything cannot pass.

Outside CI a missing ``xmlsec1`` skips these tests with the command to install it; under CI it fails them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from lxml import etree

from schemas.xmlparse import parse_xml
from signing import SignaturePlacement, SigningKey, TrustAnchors, sign_xml, verify_xml
from tests.signing.conftest import COO, DS, NOW, SPS, Pki

XMLSEC1_TIMEOUT_S = 60
# Both sides check certificates at the same fixed time, inside every fixture certificate's window.
XMLSEC1_TIME = NOW.strftime("%Y-%m-%d %H:%M:%S")
# (document, placement, a string from the document's business content that the signed data must carry)
DOCUMENTS = [
    pytest.param(COO, SignaturePlacement.UBL_EXTENSION, "TH-D-2026-0014873", id="ubl-coo"),
    pytest.param(SPS, SignaturePlacement.ROOT_LAST_CHILD, "123456789CO", id="sps-certificate"),
]
SIGNATURE_METHODS = {
    "rsa": "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
    "ec": "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256",
}


@pytest.fixture(scope="module")
def xmlsec1() -> str:
    path = shutil.which("xmlsec1")
    if path is None:
        message = "xmlsec1 not installed: apt-get install xmlsec1 (.ci/run installs it)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path


@dataclass(frozen=True)
class Party:
    """Key material as files (for xmlsec1) and as objects (for the gateway)."""

    ca_pem: Path
    anchors: TrustAnchors
    files: dict[str, tuple[Path, Path]]  # kind -> (certificate, key)
    keys: dict[str, SigningKey]


@pytest.fixture(scope="module")
def ours(pki: Pki) -> Party:
    """The partner's development PKI (generate_dev_pki): CA, RSA-3072 and P-256 signing keys."""
    dev = pki.dev_dir
    return Party(
        ca_pem=dev / "ca.pem",
        anchors=pki.anchors,
        files={
            "rsa": (dev / "rsa-signing.pem", dev / "rsa-signing.key.pem"),
            "ec": (dev / "ec-signing.pem", dev / "ec-signing.key.pem"),
        },
        keys={"rsa": pki.rsa, "ec": pki.ec},
    )


@pytest.fixture(scope="module")
def foreign(pki: Pki, tmp_path_factory: pytest.TempPathFactory) -> Party:
    """Another partner, with a valid P-256 key under its own CA, written out for xmlsec1."""
    directory = tmp_path_factory.mktemp("foreign-pki")
    key = pki.partner_b
    pem = serialization.Encoding.PEM
    ca_pem, cert_pem, key_pem = directory / "ca.pem", directory / "ec-signing.pem", directory / "ec-signing.key.pem"
    ca_pem.write_bytes(pki.partner_b_ca.public_bytes(pem))
    cert_pem.write_bytes(key.certificate.public_bytes(pem))
    key_pem.write_bytes(
        key.private_key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return Party(
        ca_pem=ca_pem,
        anchors=TrustAnchors("ID", ca_certificates=(pki.partner_b_ca,)),
        files={"ec": (cert_pem, key_pem)},
        keys={"ec": key},
    )


def _read(document: Path) -> bytes:
    if not document.is_file():
        pytest.skip(f"{document} is not there (the shared corpus sits beside the repository checkout)")
    return document.read_bytes()


def _run(command: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, timeout=XMLSEC1_TIMEOUT_S, check=False)


def _xmlsec1_verify(xmlsec1: str, document: Path, ca_pem: Path) -> subprocess.CompletedProcess[str]:
    # --enabled-reference-uris empty: only URI="" (the whole document) may be referenced.
    # --enabled-key-data x509: the key must come from an X509Certificate that chains to --trusted-pem (no KeyValue,
    # no key given on the command line), which is what "trusted by this CA" means for the gateway too.
    return _run(
        [
            xmlsec1,
            "--verify",
            "--trusted-pem",
            str(ca_pem),
            "--enabled-reference-uris",
            "empty",
            "--enabled-key-data",
            "x509",
            "--verification-gmt-time",
            XMLSEC1_TIME,
            str(document),
        ]
    )


def _flip_business_byte(signed: bytes, marker: str) -> bytes:
    changed = signed.replace(marker.encode(), marker[:-1].encode() + b"X", 1)
    assert changed != signed
    return changed


# ----- (a) the gateway signs, xmlsec1 verifies ---------------------------------------------------------------


@pytest.mark.parametrize("kind", ["rsa", "ec"])
@pytest.mark.parametrize(("document", "placement", "marker"), DOCUMENTS)
def test_what_the_gateway_signs_verifies_with_xmlsec1(
    xmlsec1: str,
    ours: Party,
    tmp_path: Path,
    kind: str,
    document: Path,
    placement: SignaturePlacement,
    marker: str,
) -> None:
    signed = tmp_path / "signed.xml"
    signed.write_bytes(sign_xml(_read(document), ours.keys[kind], placement))

    result = _xmlsec1_verify(xmlsec1, signed, ours.ca_pem)

    assert result.returncode == 0, result.stderr
    assert "SignedInfo References (ok/all): 1/1" in result.stdout + result.stderr


@pytest.mark.parametrize(("document", "placement", "marker"), DOCUMENTS)
def test_xmlsec1_refuses_the_gateways_signature_under_another_ca_or_after_a_change(
    xmlsec1: str,
    ours: Party,
    foreign: Party,
    tmp_path: Path,
    document: Path,
    placement: SignaturePlacement,
    marker: str,
) -> None:
    signed_bytes = sign_xml(_read(document), ours.keys["rsa"], placement)
    signed = tmp_path / "signed.xml"
    signed.write_bytes(signed_bytes)
    changed = tmp_path / "changed.xml"
    changed.write_bytes(_flip_business_byte(signed_bytes, marker))

    assert _xmlsec1_verify(xmlsec1, signed, foreign.ca_pem).returncode != 0
    assert _xmlsec1_verify(xmlsec1, changed, ours.ca_pem).returncode != 0


# ----- (b) xmlsec1 signs a template, the gateway verifies ----------------------------------------------------


def _signature_template(signature_method: str) -> etree._Element:
    """An empty ds:Signature in the gateway's profile, for ``xmlsec1 --sign`` to fill in."""

    def ds(parent: etree._Element, name: str, **attributes: str) -> etree._Element:
        return etree.SubElement(parent, f"{{{DS}}}{name}", attributes)

    signature = etree.Element(f"{{{DS}}}Signature", nsmap={"ds": DS})
    signed_info = ds(signature, "SignedInfo")
    ds(signed_info, "CanonicalizationMethod", Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#")
    ds(signed_info, "SignatureMethod", Algorithm=signature_method)
    reference = ds(signed_info, "Reference", URI="")
    transforms = ds(reference, "Transforms")
    ds(transforms, "Transform", Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature")
    ds(transforms, "Transform", Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#")
    ds(reference, "DigestMethod", Algorithm="http://www.w3.org/2001/04/xmlenc#sha256")
    ds(reference, "DigestValue")
    ds(signature, "SignatureValue")
    ds(ds(ds(signature, "KeyInfo"), "X509Data"), "X509Certificate")  # xmlsec1 writes the certificate here
    return signature


def _template(document: Path, placement: SignaturePlacement, signature_method: str) -> bytes:
    """The document with the template at the placement's fixed parent path (the first child chain for UBL)."""
    root = parse_xml(_read(document)).getroot()
    parent = root
    for depth, tag in enumerate(placement.parent_tags):
        child = etree.Element(tag)
        if depth == 0:
            root.insert(0, child)  # ext:UBLExtensions is the first child of a UBL document
        else:
            parent.append(child)
        parent = child
    parent.append(_signature_template(signature_method))
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def _xmlsec1_sign(xmlsec1: str, party: Party, kind: str, template: bytes, directory: Path) -> bytes:
    source, output = directory / "template.xml", directory / "signed-by-xmlsec1.xml"
    source.write_bytes(template)
    cert, key = party.files[kind]
    result = _run([xmlsec1, "--sign", "--privkey-pem", f"{key},{cert}", "--output", str(output), str(source)])
    assert result.returncode == 0, result.stderr
    return output.read_bytes()


@pytest.mark.parametrize("kind", ["rsa", "ec"])
@pytest.mark.parametrize(("document", "placement", "marker"), DOCUMENTS)
def test_what_xmlsec1_signs_from_a_template_verifies_with_the_gateway(
    xmlsec1: str,
    ours: Party,
    tmp_path: Path,
    kind: str,
    document: Path,
    placement: SignaturePlacement,
    marker: str,
) -> None:
    signed = _xmlsec1_sign(xmlsec1, ours, kind, _template(document, placement, SIGNATURE_METHODS[kind]), tmp_path)

    result = verify_xml(signed, ours.anchors, placement, at=NOW)

    assert result.ok, result.as_dict()
    assert result.signer == ours.keys[kind].certificate
    assert result.signed_xml is not None
    assert marker.encode() in result.signed_xml


@pytest.mark.parametrize(("document", "placement", "marker"), DOCUMENTS)
def test_the_gateway_tells_apart_a_changed_and_a_foreign_xmlsec1_signature(
    xmlsec1: str,
    ours: Party,
    foreign: Party,
    tmp_path: Path,
    document: Path,
    placement: SignaturePlacement,
    marker: str,
) -> None:
    template = _template(document, placement, SIGNATURE_METHODS["ec"])
    (tmp_path / "ours").mkdir()
    (tmp_path / "foreign").mkdir()
    signed_by_us = _xmlsec1_sign(xmlsec1, ours, "ec", template, tmp_path / "ours")
    signed_by_them = _xmlsec1_sign(xmlsec1, foreign, "ec", template, tmp_path / "foreign")

    changed = verify_xml(_flip_business_byte(signed_by_us, marker), ours.anchors, placement, at=NOW)
    untrusted = verify_xml(signed_by_them, ours.anchors, placement, at=NOW)

    assert (changed.integrity.status.value, changed.integrity.reason) == ("INVALID", "digest-mismatch")
    assert changed.trust.status.value == "VALID"
    assert untrusted.integrity.status.value == "VALID"
    assert (untrusted.trust.status.value, untrusted.trust.reason) == ("INVALID", "untrusted-signer")
