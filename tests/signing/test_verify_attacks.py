"""THREATS rows 5–8, 11 and 18 against verify_xml. Every forged signature is made with a key the anchors trust.

Where a rejection must happen *before any digest*, the ``digests`` fixture counts every digest signxml or the
compatibility path computes and every call into signxml's verifier; the test asserts the counts stayed at zero.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from lxml import etree
from signxml.processor import XMLSignatureProcessor
from signxml.verifier import SignatureConfiguration, XMLVerifier

import signing.xmldsig
from schemas.xmlparse import parse_xml
from signing import CheckStatus, SignaturePlacement, SignatureVerification, sign_xml, verify_xml
from tests.signing.conftest import (
    COO,
    DS,
    DSA_SHA256,
    ENVELOPED,
    EXC_C14N,
    HMAC_SHA256,
    NOW,
    NS,
    RSA_SHA1,
    SHA1,
    Pki,
    edit_signed,
    find_signature,
    replace_certificates,
    resign,
    text_of,
    transform,
    xpath_false_transform,
    xslt_transform,
)

UBL = SignaturePlacement.UBL_EXTENSION
ROOT = SignaturePlacement.ROOT_LAST_CHILD
GENUINE_ID = "TH-D-2026-0014873"


@dataclass
class DigestSpy:
    digests: list[str] = field(default_factory=list)
    signxml_calls: int = 0

    @property
    def untouched(self) -> bool:
        return not self.digests and self.signxml_calls == 0


@pytest.fixture
def digests(monkeypatch: pytest.MonkeyPatch) -> DigestSpy:
    spy = DigestSpy()
    signxml_digest = XMLSignatureProcessor._get_digest
    own_digest = signing.xmldsig._digest
    signxml_verify = XMLVerifier.verify

    def counted_signxml_digest(self: XMLSignatureProcessor, data: bytes, algorithm: object) -> bytes:
        spy.digests.append("signxml")
        return signxml_digest(self, data, algorithm)  # type: ignore[no-any-return, arg-type]

    def counted_own_digest(data: bytes, algorithm: str) -> bytes:
        spy.digests.append("compatibility path")
        return own_digest(data, algorithm)

    def counted_verify(self: XMLVerifier, *args: object, **kwargs: object) -> object:
        spy.signxml_calls += 1
        return signxml_verify(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(XMLSignatureProcessor, "_get_digest", counted_signxml_digest)
    monkeypatch.setattr(signing.xmldsig, "_digest", counted_own_digest)
    monkeypatch.setattr(XMLVerifier, "verify", counted_verify)
    return spy


@pytest.fixture(scope="module")
def signed_coo(pki: Pki) -> bytes:
    return sign_xml(COO.read_bytes(), pki.rsa, UBL)


@pytest.fixture(scope="module")
def signed_sps(pki: Pki, sps_path: Path) -> bytes:
    return sign_xml(sps_path.read_bytes(), pki.ec, ROOT)


def _verify(pki: Pki, data: bytes, placement: SignaturePlacement = UBL) -> SignatureVerification:
    return verify_xml(data, pki.anchors, placement, at=NOW)


def test_the_genuine_documents_verify_with_the_keys_the_attacks_use(
    pki: Pki, signed_coo: bytes, signed_sps: bytes, digests: DigestSpy
) -> None:
    """The baseline: everything below is rejected for its shape, not because the key is untrusted."""
    assert _verify(pki, signed_coo).ok
    assert _verify(pki, signed_sps, ROOT).ok
    assert digests.digests == ["signxml", "signxml"], "the spy sees digests when they happen"


# --- row 5: transforms signxml would silently skip ---------------------------------------------------------------


def _signxml_alone_accepts(pki: Pki, data: bytes) -> None:
    """What a verifier without the pre-check would do: signxml skips the unknown transform and finds it valid."""
    root = parse_xml(data).getroot()
    config = SignatureConfiguration(location=UBL.parent_path, expect_references=1)
    result = XMLVerifier().verify(root, x509_cert=pki.rsa.certificate, expect_config=config)
    assert result is not None


@pytest.mark.parametrize(
    "extra",
    [xslt_transform, xpath_false_transform],
    ids=["xslt", "xpath-false"],
)
def test_xslt_and_xpath_transforms_are_rejected_before_any_digest(
    pki: Pki, signed_coo: bytes, digests: DigestSpy, extra: object
) -> None:
    assert callable(extra)
    forged = resign(signed_coo, pki.rsa.private_key, transforms=(extra(), ENVELOPED, EXC_C14N))
    _signxml_alone_accepts(pki, forged)
    digests.digests.clear()
    digests.signxml_calls = 0

    result = _verify(pki, forged)
    assert result.integrity.status is CheckStatus.INVALID
    assert result.integrity.reason == "transform-not-allowed"
    assert result.trust.status is CheckStatus.VALID, "the forged signature is by a trusted key"
    assert result.signed_xml is None
    assert digests.untouched, digests


@pytest.mark.parametrize(
    "transforms",
    [
        (EXC_C14N, ENVELOPED),
        (ENVELOPED,),
        (ENVELOPED, EXC_C14N, EXC_C14N),
        (ENVELOPED, "http://www.w3.org/2001/10/xml-exc-c14n#WithComments"),
        (ENVELOPED, "http://www.w3.org/TR/2001/REC-xml-c14n-20010315"),
        (ENVELOPED, "http://www.w3.org/2000/09/xmldsig#base64"),
    ],
    ids=["reversed", "enveloped-only", "three", "with-comments", "inclusive", "base64"],
)
def test_only_enveloped_then_exclusive_c14n_is_accepted(
    pki: Pki, signed_coo: bytes, digests: DigestSpy, transforms: tuple[str, ...]
) -> None:
    result = _verify(pki, resign(signed_coo, pki.rsa.private_key, transforms=transforms))
    assert result.integrity.reason == "transform-not-allowed"
    assert digests.untouched


def test_content_inside_the_enveloped_transform_is_rejected(pki: Pki, signed_coo: bytes) -> None:
    xpath = etree.Element(f"{{{DS}}}XPath")
    xpath.text = "false()"
    forged = resign(signed_coo, pki.rsa.private_key, transforms=(transform(ENVELOPED, xpath), EXC_C14N))
    assert _verify(pki, forged).integrity.reason == "transform-not-allowed"


# --- row 8: algorithm downgrade -----------------------------------------------------------------------------------


def test_sha1_is_rejected(pki: Pki, signed_coo: bytes, digests: DigestSpy) -> None:
    forged = resign(
        signed_coo, pki.rsa.private_key, signature_method=RSA_SHA1, digest_method=SHA1, hash_class=hashes.SHA1
    )
    result = _verify(pki, forged)
    assert result.integrity.reason == "algorithm-not-allowed"
    assert result.trust.status is CheckStatus.VALID
    assert digests.untouched


def test_a_sha1_digest_under_a_sha256_signature_is_rejected(pki: Pki, signed_coo: bytes) -> None:
    forged = resign(signed_coo, pki.rsa.private_key, digest_method=SHA1, hash_class=hashes.SHA1)
    assert _verify(pki, forged).integrity.reason == "algorithm-not-allowed"


def test_hmac_keyed_with_the_public_certificate_is_rejected(pki: Pki, signed_coo: bytes, digests: DigestSpy) -> None:
    # Anyone holding the (public) certificate could compute this "signature": it proves nothing about the signer.
    secret = pki.rsa.certificate.public_bytes(serialization.Encoding.PEM)
    forged = resign(signed_coo, secret, signature_method=HMAC_SHA256)
    result = _verify(pki, forged)
    assert result.integrity.reason == "algorithm-not-allowed"
    assert result.trust.status is CheckStatus.VALID, "the KeyInfo still names the trusted certificate"
    assert digests.untouched


def test_dsa_is_rejected(pki: Pki, signed_coo: bytes, digests: DigestSpy) -> None:
    forged = resign(signed_coo, pki.dsa_key, signature_method=DSA_SHA256, certificates=[pki.dsa_certificate])
    anchors = type(pki.anchors)("TH", pinned_certificates=(pki.dsa_certificate,))
    result = verify_xml(forged, anchors, UBL, at=NOW)
    assert result.trust.status is CheckStatus.VALID, "the DSA certificate is pinned: trusted"
    assert result.integrity.reason == "algorithm-not-allowed"
    assert digests.untouched


@pytest.mark.parametrize(
    "c14n",
    ["http://www.w3.org/2001/10/xml-exc-c14n#WithComments", "http://www.w3.org/2006/12/xml-c14n11#WithComments"],
)
def test_signed_info_canonicalisation_with_comments_is_rejected(pki: Pki, signed_coo: bytes, c14n: str) -> None:
    def with_comments(root: etree._Element) -> None:
        method = find_signature(root).find("ds:SignedInfo/ds:CanonicalizationMethod", NS)
        assert method is not None
        method.set("Algorithm", c14n)

    assert _verify(pki, edit_signed(signed_coo, with_comments)).integrity.reason == "algorithm-not-allowed"


# --- row 18: expensive verification -------------------------------------------------------------------------------


def test_a_thousand_references_are_rejected_before_any_digest(pki: Pki, signed_coo: bytes, digests: DigestSpy) -> None:
    forged = resign(signed_coo, pki.rsa.private_key, references=1000)
    assert len(find_signature(parse_xml(forged).getroot()).findall("ds:SignedInfo/ds:Reference", NS)) == 1000
    result = _verify(pki, forged)
    assert result.integrity.reason == "too-many-references"
    assert result.trust.status is CheckStatus.VALID
    assert digests.untouched


def _stuff_key_info(signed: bytes, blobs: list[str]) -> bytes:
    def stuff(root: etree._Element) -> None:
        x509_data = find_signature(root).find("ds:KeyInfo/ds:X509Data", NS)
        assert x509_data is not None
        for blob in blobs:
            etree.SubElement(x509_data, f"{{{DS}}}X509Certificate").text = blob

    return edit_signed(signed, stuff)


def test_a_megabyte_certificate_is_rejected(pki: Pki, signed_coo: bytes, digests: DigestSpy) -> None:
    result = _verify(pki, _stuff_key_info(signed_coo, ["A" * (1024 * 1024)]))
    assert result.integrity.reason == "keyinfo-too-large"
    assert digests.untouched


def test_a_hundred_certificates_are_rejected(pki: Pki, signed_coo: bytes, digests: DigestSpy) -> None:
    certificate = "".join(pki.rsa.certificate.public_bytes(serialization.Encoding.PEM).decode().splitlines()[1:-1])
    result = _verify(pki, _stuff_key_info(signed_coo, [certificate] * 100))
    assert result.integrity.reason == "keyinfo-too-large"
    assert digests.untouched


def test_five_small_certificates_are_over_the_count(pki: Pki, signed_coo: bytes) -> None:
    root = parse_xml(signed_coo).getroot()
    replace_certificates(find_signature(root), [pki.rsa.certificate] * 5)
    result = _verify(pki, etree.tostring(root))
    assert result.integrity.reason == "keyinfo-too-large"


def test_a_certificate_just_over_16_kib_is_rejected(pki: Pki, signed_coo: bytes) -> None:
    result = _verify(pki, _stuff_key_info(signed_coo, ["A" * (16 * 1024 * 4 // 3 + 8)]))
    assert result.integrity.reason == "keyinfo-too-large"


def test_keyinfo_that_points_elsewhere_is_rejected(pki: Pki, signed_coo: bytes) -> None:
    def retrieval(root: etree._Element) -> None:
        key_info = find_signature(root).find("ds:KeyInfo", NS)
        assert key_info is not None
        etree.SubElement(key_info, f"{{{DS}}}RetrievalMethod", URI="http://attacker.example/key")

    assert _verify(pki, edit_signed(signed_coo, retrieval)).integrity.reason == "keyinfo-not-allowed"


def test_an_object_in_the_signature_is_rejected(pki: Pki, signed_coo: bytes) -> None:
    def add_object(root: etree._Element) -> None:
        etree.SubElement(find_signature(root), f"{{{DS}}}Object").text = "unsigned text a reader might trust"

    assert _verify(pki, edit_signed(signed_coo, add_object)).integrity.reason == "signature-structure"


def test_a_garbage_certificate_is_reported_as_such(pki: Pki, signed_coo: bytes) -> None:
    def garbage(root: etree._Element) -> None:
        blob = find_signature(root).find("ds:KeyInfo/ds:X509Data/ds:X509Certificate", NS)
        assert blob is not None
        blob.text = "QUJD"

    result = _verify(pki, edit_signed(signed_coo, garbage))
    assert result.integrity.reason == "bad-certificate"
    assert not result.ok


# --- row 6: signature wrapping -------------------------------------------------------------------------------------


def _genuine_or_rejected(result: SignatureVerification) -> None:
    """The THREATS row 6 property: verification fails, or what it hands over is the genuine data."""
    if result.ok:
        assert result.signed_xml is not None
        assert text_of(result.signed_xml, "cbc:ID") == GENUINE_ID
    else:
        assert result.signed_xml is None


def _evil_body(root: etree._Element) -> None:
    identifier = root.find("cbc:ID", NS)
    assert identifier is not None
    identifier.text = "EVIL-0001"


def test_moved_original_beside_an_evil_body(pki: Pki, signed_coo: bytes) -> None:
    """The genuine document moves into an extension; the body is the attacker's; the signature stays in place."""

    def wrap(root: etree._Element) -> None:
        original = copy.deepcopy(root)
        original.remove(original[0])  # its signature stays where the verifier looks for it
        _evil_body(root)
        extension = etree.SubElement(root[0], f"{{{NS['ext']}}}UBLExtension")
        etree.SubElement(extension, f"{{{NS['ext']}}}ExtensionContent").append(original)

    forged = edit_signed(signed_coo, wrap)
    result = _verify(pki, forged)
    _genuine_or_rejected(result)
    assert result.integrity.reason == "digest-mismatch"
    assert result.trust.status is CheckStatus.VALID


def test_evil_root_wrapping_the_original(pki: Pki, signed_coo: bytes) -> None:
    """An evil document of the same type whose extension holds the whole genuine signed document."""
    genuine = parse_xml(signed_coo).getroot()
    evil = copy.deepcopy(genuine)
    evil.remove(evil[0])
    _evil_body(evil)
    extensions = etree.Element(f"{{{NS['ext']}}}UBLExtensions")
    content = etree.SubElement(
        etree.SubElement(extensions, f"{{{NS['ext']}}}UBLExtension"), f"{{{NS['ext']}}}ExtensionContent"
    )
    content.append(genuine)
    evil.insert(0, extensions)
    result = _verify(pki, etree.tostring(evil))
    _genuine_or_rejected(result)
    assert result.integrity.reason == "signature-location"


def test_evil_root_with_the_signature_lifted_to_the_right_place(pki: Pki, signed_coo: bytes) -> None:
    """As above, but the genuine signature is also copied where the verifier looks."""
    genuine = parse_xml(signed_coo).getroot()
    evil = copy.deepcopy(genuine)
    _evil_body(evil)
    holder = etree.SubElement(evil[0], f"{{{NS['ext']}}}UBLExtension")
    etree.SubElement(holder, f"{{{NS['ext']}}}ExtensionContent").append(copy.deepcopy(genuine))
    result = _verify(pki, etree.tostring(evil))
    _genuine_or_rejected(result)
    assert result.integrity.reason == "multiple-signatures"

    find_signature(genuine).getparent().remove(find_signature(genuine))  # type: ignore[union-attr]
    evil_single = copy.deepcopy(evil)
    evil_single[0][-1][0].clear()
    evil_single[0][-1][0].append(genuine)
    result = _verify(pki, etree.tostring(evil_single))
    _genuine_or_rejected(result)
    assert result.integrity.reason == "digest-mismatch"


def test_sps_evil_root_wrapping_the_original(pki: Pki, signed_sps: bytes) -> None:
    genuine = parse_xml(signed_sps).getroot()
    evil = copy.deepcopy(genuine)
    evil.remove(evil[-1])
    evil_id = evil.find("rsm:SPSExchangedDocument/ram:ID", {**NS, "rsm": genuine.nsmap["rsm"]})
    assert evil_id is not None
    evil_id.text = "EVIL"
    evil.insert(0, genuine)
    result = _verify(pki, etree.tostring(evil), ROOT)
    assert not result.ok
    assert result.integrity.reason == "signature-location"


def test_an_evil_sibling_after_the_signature_breaks_the_digest(pki: Pki, signed_sps: bytes) -> None:
    def sibling(root: etree._Element) -> None:
        root.append(copy.deepcopy(root[0]))

    result = _verify(pki, edit_signed(signed_sps, sibling), ROOT)
    assert result.integrity.reason == "digest-mismatch"


def test_duplicate_ids_are_rejected(pki: Pki, signed_coo: bytes, digests: DigestSpy) -> None:
    def duplicate(root: etree._Element) -> None:
        root.find("cac:ExporterParty", NS).set("Id", "party")  # type: ignore[union-attr]
        root.find("cac:ImporterParty", NS).set("Id", "party")  # type: ignore[union-attr]

    # Signed after the Ids were added: the digest is right, the duplicate alone must be the reason.
    forged = resign(signed_coo, pki.rsa.private_key, edit_document=duplicate)
    result = _verify(pki, forged)
    _genuine_or_rejected(result)
    assert result.integrity.reason == "duplicate-id"
    assert digests.untouched


def test_a_reference_to_an_id_is_rejected_even_without_a_duplicate(pki: Pki, signed_coo: bytes) -> None:
    def mark(root: etree._Element) -> None:
        root.find("cac:ExporterParty", NS).set("Id", "party")  # type: ignore[union-attr]

    forged = resign(signed_coo, pki.rsa.private_key, reference_uri="#party", edit_document=mark)
    result = _verify(pki, forged)
    assert result.integrity.reason == "reference-uri-not-allowed"
    assert result.trust.status is CheckStatus.VALID


@pytest.mark.parametrize("uri", ["#xpointer(/)", "http://attacker.example/coo.xml", "file:///etc/hostname"])
def test_other_reference_uris_are_rejected(pki: Pki, signed_coo: bytes, uri: str, digests: DigestSpy) -> None:
    result = _verify(pki, resign(signed_coo, pki.rsa.private_key, reference_uri=uri))
    assert result.integrity.reason == "reference-uri-not-allowed"
    assert digests.untouched


# --- signature location --------------------------------------------------------------------------------------------


def test_a_signature_in_the_body_is_rejected(pki: Pki, signed_coo: bytes, digests: DigestSpy) -> None:
    def move(root: etree._Element) -> None:
        signature = find_signature(root)
        party = root.find("cac:ExporterParty", NS)
        assert party is not None
        party.append(signature)

    result = _verify(pki, edit_signed(signed_coo, move))
    assert result.integrity.reason == "signature-location"
    assert digests.untouched


def test_a_signature_deeper_in_an_sps_certificate_is_rejected(pki: Pki, signed_sps: bytes) -> None:
    def move(root: etree._Element) -> None:
        root[0].append(find_signature(root))

    assert _verify(pki, edit_signed(signed_sps, move), ROOT).integrity.reason == "signature-location"


def test_two_signatures_are_rejected(pki: Pki, signed_sps: bytes) -> None:
    def twice(root: etree._Element) -> None:
        root.append(copy.deepcopy(find_signature(root)))

    result = _verify(pki, edit_signed(signed_sps, twice), ROOT)
    assert result.integrity.reason == "multiple-signatures"


def test_an_enveloping_signature_is_not_at_the_location(pki: Pki, signed_sps: bytes) -> None:
    signature = find_signature(parse_xml(signed_sps).getroot())
    assert _verify(pki, etree.tostring(signature), ROOT).integrity.reason == "signature-location"


# --- row 7: comments ------------------------------------------------------------------------------------------------


def test_a_comment_in_a_signed_value_cannot_truncate_what_is_read(pki: Pki, signed_coo: bytes) -> None:
    def comment(root: etree._Element) -> None:
        identifier = root.find("cbc:ID", NS)
        assert identifier is not None
        identifier.text = GENUINE_ID[:12]
        marker = etree.Comment(" inserted ")
        marker.tail = GENUINE_ID[12:]
        identifier.append(marker)

    tampered = edit_signed(signed_coo, comment)
    assert b"TH-D-2026-00<!-- inserted -->14873" in tampered
    # The trap: a naive reader of the submitted document sees only the text before the comment.
    assert parse_xml(tampered).getroot().find("cbc:ID", NS).text == "TH-D-2026-00"  # type: ignore[union-attr]

    result = _verify(pki, tampered)
    if result.ok:  # comments are not signed content under exclusive C14N: the signature still holds …
        assert result.signed_xml is not None
        assert text_of(result.signed_xml, "cbc:ID") == GENUINE_ID  # … and what is read from it is whole
        assert b"<!--" not in result.signed_xml
    else:
        assert result.integrity.status is CheckStatus.INVALID


def test_a_comment_in_an_sps_value(pki: Pki, signed_sps: bytes) -> None:
    rsm = {"rsm": "urn:un:unece:uncefact:data:standard:SPSCertificate:17", **NS}

    def comment(root: etree._Element) -> None:
        identifier = root.find("rsm:SPSExchangedDocument/ram:ID", rsm)
        assert identifier is not None
        marker = etree.Comment("")
        marker.tail = (identifier.text or "")[4:]
        identifier.text = (identifier.text or "")[:4]
        identifier.append(marker)

    result = _verify(pki, edit_signed(signed_sps, comment), ROOT)
    assert result.ok
    assert result.signed_xml is not None
    found = parse_xml(result.signed_xml).getroot().find("rsm:SPSExchangedDocument/ram:ID", rsm)
    assert found is not None
    assert found.text == "123456789CO"
