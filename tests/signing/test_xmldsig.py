"""signing.xmldsig: the profile a signature gets, where it goes, round trips, tampering, compatibility mode."""

from __future__ import annotations

import base64
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from lxml import etree

from schemas.engine import ValidationEngine
from schemas.xmlparse import parse_xml
from signing import (
    CheckStatus,
    SignaturePlacement,
    SigningKey,
    TrustAnchors,
    load_pem_certificates,
    sign_xml,
    verify_xml,
)
from tests.signing.conftest import (
    APPLICATION_RESPONSE,
    COO,
    DS,
    ECDSA_SHA256,
    ENVELOPED,
    EXC_C14N,
    NOW,
    NS,
    RSA_SHA256,
    SHA256,
    Pki,
    edit_signed,
    find_signature,
    resign,
    text_of,
)

UBL = SignaturePlacement.UBL_EXTENSION
ROOT = SignaturePlacement.ROOT_LAST_CHILD
EXT = NS["ext"]
SIGNATURE_PATH = (
    "ext:UBLExtensions/ext:UBLExtension/ext:ExtensionContent/sig:UBLDocumentSignatures/"
    "sac:SignatureInformation/ds:Signature"
)
UBL_NS = {
    **NS,
    "sig": "urn:oasis:names:specification:ubl:schema:xsd:CommonSignatureComponents-2",
    "sac": "urn:oasis:names:specification:ubl:schema:xsd:SignatureAggregateComponents-2",
    "sbc": "urn:oasis:names:specification:ubl:schema:xsd:SignatureBasicComponents-2",
}


def _key(pki: Pki, kind: str) -> SigningKey:
    return pki.rsa if kind == "rsa" else pki.ec


def _canonical(element: etree._Element) -> bytes:
    return etree.tostring(element, method="c14n", exclusive=True, with_comments=False)


def _without_extensions(xml: bytes) -> bytes:
    root = parse_xml(xml).getroot()
    extensions = root.find("ext:UBLExtensions", NS)
    assert extensions is not None
    root.remove(extensions)  # lxml removes the element with its tail: the layout before signing comes back
    return _canonical(root)


# --- round trips --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["rsa", "ec"])
@pytest.mark.parametrize("document", [COO, APPLICATION_RESPONSE], ids=["coo", "application-response"])
def test_ubl_round_trip_stays_xsd_valid(pki: Pki, engine: ValidationEngine, kind: str, document: Path) -> None:
    data = document.read_bytes()
    assert engine.validate(data).valid, "the unsigned fixture must be valid to begin with"
    signed = sign_xml(data, _key(pki, kind), UBL)
    report = engine.validate(signed)
    assert report.valid, [finding.message for finding in report.findings]

    result = verify_xml(signed, pki.anchors, UBL, at=NOW)
    assert result.ok, result.as_dict()
    assert result.signer == _key(pki, kind).certificate
    assert result.anchor == f"TH:{pki.ours.certificate.fingerprint(hashes.SHA256()).hex()}"
    assert result.chain == (_key(pki, kind).certificate, pki.ours.certificate)
    assert result.verified_at == NOW
    # signed_xml is the document's content: the original, plus the extension scaffold the signature sits in.
    assert result.signed_xml is not None
    assert _without_extensions(result.signed_xml) == _canonical(parse_xml(data).getroot())


def test_a_ubl_2_1_rendering_stays_valid_against_the_2_1_schema(pki: Pki, engine: ValidationEngine) -> None:
    def as_ubl_2_1(root: etree._Element) -> None:
        version = root.find("cbc:UBLVersionID", NS)
        assert version is not None
        version.text = "2.1"
        for job_title in root.findall(".//cbc:JobTitle", NS):  # a UBL 2.2+ element
            parent = job_title.getparent()
            assert parent is not None
            parent.remove(job_title)

    data = edit_signed(COO.read_bytes(), as_ubl_2_1)
    assert engine.validate(data, "ubl-coo-2.1").valid
    signed = sign_xml(data, pki.ec, UBL)
    report = engine.validate(signed, "ubl-coo-2.1")
    assert report.valid, [finding.message for finding in report.findings]
    assert verify_xml(signed, pki.anchors, UBL, at=NOW).ok


@pytest.mark.parametrize("kind", ["rsa", "ec"])
def test_sps_round_trip_stays_xsd_valid(pki: Pki, engine: ValidationEngine, sps_path: Path, kind: str) -> None:
    data = sps_path.read_bytes()
    signed = sign_xml(data, _key(pki, kind), ROOT)
    report = engine.validate(signed)
    assert report.valid, [finding.message for finding in report.findings]
    root = parse_xml(signed).getroot()
    assert root[-1].tag == f"{{{DS}}}Signature", "SPS INTERCOM: the signature is the root's last child"

    result = verify_xml(signed, pki.anchors, ROOT, at=NOW)
    assert result.ok, result.as_dict()
    # The signature covers the whole certificate exactly as it was before signing.
    assert result.signed_xml == _canonical(parse_xml(data).getroot())


def test_the_signature_follows_the_profile(pki: Pki) -> None:
    signed = sign_xml(COO.read_bytes(), pki.intermediate_signed, UBL)
    root = parse_xml(signed).getroot()
    signature = root.find(SIGNATURE_PATH, UBL_NS)
    assert signature is not None
    assert signature.find("ds:SignedInfo/ds:CanonicalizationMethod", NS).get("Algorithm") == EXC_C14N  # type: ignore[union-attr]
    assert signature.find("ds:SignedInfo/ds:SignatureMethod", NS).get("Algorithm") == ECDSA_SHA256  # type: ignore[union-attr]
    references = signature.findall("ds:SignedInfo/ds:Reference", NS)
    assert len(references) == 1
    assert references[0].get("URI") == ""
    transforms = [t.get("Algorithm") for t in references[0].findall("ds:Transforms/ds:Transform", NS)]
    assert transforms == [ENVELOPED, EXC_C14N]
    assert references[0].find("ds:DigestMethod", NS).get("Algorithm") == SHA256  # type: ignore[union-attr]
    assert signature.find("ds:KeyInfo/ds:KeyValue", NS) is None
    blobs = [b.text or "" for b in signature.findall("ds:KeyInfo/ds:X509Data/ds:X509Certificate", NS)]
    certificates = [x509.load_der_x509_certificate(_b64(blob)) for blob in blobs]
    assert certificates == [pki.intermediate_signed.certificate, *pki.intermediate_signed.chain]
    assert signature.get("Id") is None, "the placeholder marker must not survive"


def _b64(text: str) -> bytes:
    return base64.b64decode("".join(text.split()))


def test_rsa_keys_sign_with_rsa_sha256(pki: Pki) -> None:
    signed = sign_xml(COO.read_bytes(), pki.rsa, UBL)
    method = parse_xml(signed).getroot().find(f"{SIGNATURE_PATH}/ds:SignedInfo/ds:SignatureMethod", UBL_NS)
    assert method is not None
    assert method.get("Algorithm") == RSA_SHA256


def test_signed_bytes_are_utf8_with_a_declaration(pki: Pki) -> None:
    signed = sign_xml(COO.read_bytes(), pki.ec, UBL)
    assert signed.startswith(b"<?xml version='1.0' encoding='UTF-8'?>")
    signed.decode("utf-8")


def test_a_signature_through_an_intermediate_verifies_against_the_root(pki: Pki) -> None:
    signed = sign_xml(COO.read_bytes(), pki.intermediate_signed, UBL)
    result = verify_xml(signed, pki.anchors, UBL, at=NOW)
    assert result.ok, result.as_dict()
    assert len(result.chain) == 3


# --- placement --------------------------------------------------------------------------------------------------


def test_ubl_extensions_become_the_first_child(pki: Pki) -> None:
    root = parse_xml(sign_xml(COO.read_bytes(), pki.ec, UBL)).getroot()
    assert root[0].tag == f"{{{EXT}}}UBLExtensions"
    assert root.find(SIGNATURE_PATH, UBL_NS) is not None
    assert text_of(etree.tostring(root), "ext:UBLExtensions/ext:UBLExtension/ext:ExtensionURI") == (
        "urn:oasis:names:specification:ubl:dsig:enveloped"
    )
    information = root.find(
        "ext:UBLExtensions/ext:UBLExtension/ext:ExtensionContent/sig:UBLDocumentSignatures/sac:SignatureInformation",
        UBL_NS,
    )
    assert information is not None
    assert information.findtext("cbc:ID", namespaces=NS) == "urn:oasis:names:specification:ubl:signature:1"
    # The CoO carries no cac:Signature in its body, so there is nothing to reference.
    assert information.find("sbc:ReferencedSignatureID", UBL_NS) is None


def test_the_extension_points_at_the_bodys_cac_signature(pki: Pki) -> None:
    root = parse_xml(sign_xml(APPLICATION_RESPONSE.read_bytes(), pki.ec, UBL)).getroot()
    referenced = root.findtext(
        "ext:UBLExtensions/ext:UBLExtension/ext:ExtensionContent/sig:UBLDocumentSignatures/"
        "sac:SignatureInformation/sbc:ReferencedSignatureID",
        namespaces=UBL_NS,
    )
    assert referenced == root.findtext("cac:Signature/cbc:ID", namespaces=NS)


def test_existing_ubl_extensions_are_kept_and_extended(pki: Pki, engine: ValidationEngine) -> None:
    def add_extension(root: etree._Element) -> None:
        extensions = etree.Element(f"{{{EXT}}}UBLExtensions", nsmap={"ext": EXT})
        extension = etree.SubElement(extensions, f"{{{EXT}}}UBLExtension")
        content = etree.SubElement(extension, f"{{{EXT}}}ExtensionContent")
        etree.SubElement(content, "{urn:example:partner}Routing").text = "lane 7"
        root.insert(0, extensions)

    data = edit_signed(COO.read_bytes(), add_extension)
    signed = sign_xml(data, pki.ec, UBL)
    root = parse_xml(signed).getroot()
    extensions = root.findall("ext:UBLExtension", {"ext": EXT})
    assert not extensions
    assert len(root[0]) == 2, "the signature's extension is appended after the existing one"
    assert engine.validate(signed).valid
    assert verify_xml(signed, pki.anchors, UBL, at=NOW).ok


def test_a_signed_document_cannot_be_signed_again(pki: Pki) -> None:
    signed = sign_xml(COO.read_bytes(), pki.ec, UBL)
    with pytest.raises(ValueError, match="already carries"):
        sign_xml(signed, pki.ec, UBL)


def test_a_root_with_an_id_is_refused(pki: Pki) -> None:
    data = edit_signed(COO.read_bytes(), lambda root: root.set("Id", "doc"))
    with pytest.raises(ValueError, match="Id attribute"):
        sign_xml(data, pki.ec, UBL)


def test_a_document_canonicalisation_cannot_process_is_refused(pki: Pki, engine: ValidationEngine) -> None:
    # An extension's content may declare a relative namespace URI and the document still validates; exclusive
    # canonicalisation refuses it, which used to escape as a C14NError (a server error at POST /v1/sign).
    def add_extension(root: etree._Element) -> None:
        extensions = etree.Element(f"{{{EXT}}}UBLExtensions", nsmap={"ext": EXT})
        extension = etree.SubElement(extensions, f"{{{EXT}}}UBLExtension")
        content = etree.SubElement(extension, f"{{{EXT}}}ExtensionContent")
        etree.SubElement(content, "{partner-routing}Routing").text = "lane 7"
        root.insert(0, extensions)

    data = edit_signed(COO.read_bytes(), add_extension)
    assert engine.validate(data).valid
    with pytest.raises(ValueError, match="cannot be canonicalised"):
        sign_xml(data, pki.ec, UBL)


def test_verifying_at_the_wrong_placement_is_a_location_failure(pki: Pki, sps_path: Path) -> None:
    signed = sign_xml(COO.read_bytes(), pki.ec, UBL)
    result = verify_xml(signed, pki.anchors, ROOT, at=NOW)
    assert result.integrity.reason == "signature-location"
    sps_signed = sign_xml(sps_path.read_bytes(), pki.ec, ROOT)
    assert verify_xml(sps_signed, pki.anchors, UBL, at=NOW).integrity.reason == "signature-location"


def test_placement_paths_are_fixed_clark_paths() -> None:
    assert ROOT.parent_path == "./"
    assert UBL.parent_path == (
        "./{urn:oasis:names:specification:ubl:schema:xsd:CommonExtensionComponents-2}UBLExtensions/"
        "{urn:oasis:names:specification:ubl:schema:xsd:CommonExtensionComponents-2}UBLExtension/"
        "{urn:oasis:names:specification:ubl:schema:xsd:CommonExtensionComponents-2}ExtensionContent/"
        "{urn:oasis:names:specification:ubl:schema:xsd:CommonSignatureComponents-2}UBLDocumentSignatures/"
        "{urn:oasis:names:specification:ubl:schema:xsd:SignatureAggregateComponents-2}SignatureInformation/"
    )


# --- tampering and unusable input ------------------------------------------------------------------------------


def test_one_flipped_byte_in_a_signed_value_breaks_integrity(pki: Pki) -> None:
    signed = sign_xml(COO.read_bytes(), pki.rsa, UBL)
    tampered = signed.replace(b"TH-D-2026-0014873", b"TH-D-2026-0014874", 1)
    assert tampered != signed
    result = verify_xml(tampered, pki.anchors, UBL, at=NOW)
    assert result.integrity.status is CheckStatus.INVALID
    assert result.integrity.reason == "digest-mismatch"
    assert result.signed_xml is None
    # Trust and validity still answer: the certificate itself is fine.
    assert result.trust.status is CheckStatus.VALID
    assert result.validity.status is CheckStatus.VALID
    assert not result.ok


def test_one_flipped_byte_in_the_signature_value_breaks_integrity(pki: Pki) -> None:
    signed = sign_xml(COO.read_bytes(), pki.ec, UBL)
    root = parse_xml(signed).getroot()
    value = find_signature(root).find("ds:SignatureValue", NS)
    assert value is not None
    raw = bytearray(_b64(value.text or ""))
    raw[5] ^= 0x01
    value.text = base64.b64encode(bytes(raw)).decode()
    result = verify_xml(etree.tostring(root), pki.anchors, UBL, at=NOW)
    assert result.integrity.reason == "bad-signature"
    assert result.trust.status is CheckStatus.VALID


def test_an_unsigned_document_has_no_signature(pki: Pki) -> None:
    result = verify_xml(COO.read_bytes(), pki.anchors, UBL, at=NOW)
    assert result.integrity.reason == "no-signature"
    assert result.trust.reason == "not-checked"
    assert result.validity.reason == "not-checked"
    assert not result.ok


@pytest.mark.parametrize(
    "data",
    [b"<a><b></a>", b'<!DOCTYPE a [<!ENTITY x SYSTEM "file:///etc/hostname">]><a>&x;</a>', b""],
    ids=["malformed", "doctype", "empty"],
)
def test_unparseable_input_is_refused_by_the_one_parser(pki: Pki, data: bytes) -> None:
    result = verify_xml(data, pki.anchors, UBL, at=NOW)
    assert result.integrity.reason == "malformed-document"
    assert not result.ok


def test_an_unexpected_failure_is_an_error_never_valid(pki: Pki, monkeypatch: pytest.MonkeyPatch) -> None:
    signed = sign_xml(COO.read_bytes(), pki.ec, UBL)

    def explode(*args: object, **kwargs: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr("signing.xmldsig.XMLVerifier.verify", explode)
    result = verify_xml(signed, pki.anchors, UBL, at=NOW)
    assert result.integrity.status is CheckStatus.ERROR
    assert not result.ok
    monkeypatch.setattr("signing.xmldsig.assess_signer", explode)
    result = verify_xml(signed, pki.anchors, UBL, at=NOW)
    assert {result.integrity.status, result.trust.status, result.validity.status} == {CheckStatus.ERROR}


def test_as_dict_has_the_contract_shape(pki: Pki) -> None:
    result = verify_xml(sign_xml(COO.read_bytes(), pki.ec, UBL), pki.anchors, UBL, at=NOW)
    shape = result.as_dict()
    assert set(shape) == {"integrity", "trust", "validity", "signer", "verified_at"}
    assert shape["integrity"] == {"status": "VALID", "reason": "ok", "detail": ""}
    assert shape["trust"]["anchor"] == result.anchor
    assert set(shape["signer"]) == {"subject", "issuer", "serial", "sha256", "not_before", "not_after"}
    assert shape["signer"]["sha256"] == pki.ec.key_id
    assert datetime.fromisoformat(shape["verified_at"]) == NOW


def test_a_naive_time_is_taken_as_utc(pki: Pki) -> None:
    signed = sign_xml(COO.read_bytes(), pki.ec, UBL)
    result = verify_xml(signed, pki.anchors, UBL, at=NOW.replace(tzinfo=None))
    assert result.ok
    assert result.verified_at == NOW


def test_without_a_time_the_current_time_is_used(pki: Pki) -> None:
    signed = sign_xml(COO.read_bytes(), pki.ec, UBL)
    result = verify_xml(signed, pki.anchors, UBL)
    assert result.verified_at.tzinfo is not None
    assert abs(result.verified_at - datetime.now(result.verified_at.tzinfo)) < timedelta(minutes=5)


def test_anchor_bundles_load_from_pem(pki: Pki) -> None:
    bundle = pki.ours.certificate.public_bytes(serialization.Encoding.PEM) + pki.partner_b_ca.public_bytes(
        serialization.Encoding.PEM
    )
    certificates = load_pem_certificates(bundle)
    assert certificates == [pki.ours.certificate, pki.partner_b_ca]
    anchors = TrustAnchors("TH", ca_certificates=tuple(certificates))
    assert verify_xml(sign_xml(COO.read_bytes(), pki.ec, UBL), anchors, UBL, at=NOW).ok


# --- compatibility mode: a Reference without URI -----------------------------------------------------------------


@pytest.fixture(params=["rsa", "ec"])
def omitted_uri(request: pytest.FixtureRequest, pki: Pki) -> tuple[bytes, SigningKey]:
    key = _key(pki, str(request.param))
    # A real signature of the partner's shape: SignedInfo built without URI, digest and SignatureValue computed.
    return resign(sign_xml(COO.read_bytes(), key, UBL), key.private_key, reference_uri=None), key


def test_an_omitted_uri_is_refused_by_default(pki: Pki, omitted_uri: tuple[bytes, SigningKey]) -> None:
    signed, _ = omitted_uri
    reference = find_signature(parse_xml(signed).getroot()).find("ds:SignedInfo/ds:Reference", NS)
    assert reference is not None
    assert "URI" not in reference.attrib
    result = verify_xml(signed, pki.anchors, UBL, at=NOW)
    assert result.integrity.reason == "reference-uri-not-allowed"
    assert result.trust.status is CheckStatus.VALID


def test_an_omitted_uri_verifies_in_compatibility_mode(pki: Pki, omitted_uri: tuple[bytes, SigningKey]) -> None:
    signed, key = omitted_uri
    result = verify_xml(signed, pki.anchors, UBL, at=NOW, allow_omitted_reference_uri=True)
    assert result.ok, result.as_dict()
    assert "compatibility" in result.integrity.detail
    assert result.signer == key.certificate
    assert result.signed_xml is not None
    assert _without_extensions(result.signed_xml) == _canonical(parse_xml(COO.read_bytes()).getroot())


def test_compatibility_mode_still_detects_tampering(pki: Pki, omitted_uri: tuple[bytes, SigningKey]) -> None:
    signed, _ = omitted_uri
    tampered = signed.replace(b"TH-D-2026-0014873", b"TH-D-2026-0014874", 1)
    result = verify_xml(tampered, pki.anchors, UBL, at=NOW, allow_omitted_reference_uri=True)
    assert result.integrity.reason == "digest-mismatch"
    assert result.signed_xml is None

    def other_signed_info(root: etree._Element) -> None:
        digest = find_signature(root).find("ds:SignedInfo/ds:Reference/ds:DigestValue", NS)
        assert digest is not None
        digest.text = "A" * 43 + "="  # another 32-byte digest: SignedInfo no longer matches SignatureValue

    result = verify_xml(
        edit_signed(signed, other_signed_info), pki.anchors, UBL, at=NOW, allow_omitted_reference_uri=True
    )
    assert result.integrity.reason == "bad-signature"


def test_compatibility_mode_keeps_the_rest_of_the_profile(pki: Pki) -> None:
    signed = sign_xml(COO.read_bytes(), pki.ec, UBL)
    other_uri = resign(signed, pki.ec.private_key, reference_uri="#doc")
    result = verify_xml(other_uri, pki.anchors, UBL, at=NOW, allow_omitted_reference_uri=True)
    assert result.integrity.reason == "reference-uri-not-allowed"
    two = resign(signed, pki.ec.private_key, reference_uri=None, references=2)
    result = verify_xml(two, pki.anchors, UBL, at=NOW, allow_omitted_reference_uri=True)
    assert result.integrity.reason == "too-many-references"


def test_compatibility_mode_for_sps(pki: Pki, sps_path: Path) -> None:
    signed = resign(sign_xml(sps_path.read_bytes(), pki.rsa, ROOT), pki.rsa.private_key, reference_uri=None)
    result = verify_xml(signed, pki.anchors, ROOT, at=NOW, allow_omitted_reference_uri=True)
    assert result.ok, result.as_dict()
    assert result.signed_xml == _canonical(parse_xml(sps_path.read_bytes()).getroot())


@pytest.mark.parametrize(
    "c14n",
    ["http://www.w3.org/TR/2001/REC-xml-c14n-20010315", "http://www.w3.org/2006/12/xml-c14n11", EXC_C14N],
    ids=["c14n-1.0", "c14n-1.1", "exc-c14n"],
)
@pytest.mark.parametrize("compatibility", [False, True], ids=["uri", "omitted-uri"])
def test_signed_info_may_be_canonicalised_inclusively(pki: Pki, c14n: str, compatibility: bool) -> None:
    # .NET's and Java's default signers canonicalise SignedInfo with inclusive C14N; the document stays exclusive.
    signed = resign(
        sign_xml(COO.read_bytes(), pki.rsa, UBL),
        pki.rsa.private_key,
        signed_info_c14n=c14n,
        reference_uri=None if compatibility else "",
    )
    result = verify_xml(signed, pki.anchors, UBL, at=NOW, allow_omitted_reference_uri=compatibility)
    assert result.ok, result.as_dict()
