"""A test PKI made once per session, the documents to sign, and a builder for signatures of any shape.

Every attack test signs with a key that the anchors trust, so a rejection cannot come from trust failing by
accident: the builder (:func:`resign`) makes *real* signatures — correct digest, correct SignatureValue — for
SignedInfo shapes that ``sign_xml`` would never produce (XSLT transforms, SHA-1, 1000 References, no URI …).
"""

from __future__ import annotations

import base64
import copy
import hmac
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, padding, rsa, utils
from cryptography.x509.oid import NameOID
from lxml import etree

from schemas.xmlparse import parse_xml
from signing import SigningKey, TrustAnchors, generate_dev_pki, load_signing_key
from tests.conftest import CORPUS, FIXTURES

# All verification in these tests happens at fixed times around NOW, never at the wall clock.
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)

DS = "http://www.w3.org/2000/09/xmldsig#"
NS = {
    "ds": DS,
    "cbc": "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2",
    "cac": "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2",
    "ext": "urn:oasis:names:specification:ubl:schema:xsd:CommonExtensionComponents-2",
    "ram": "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:21",
}
ENVELOPED = "http://www.w3.org/2000/09/xmldsig#enveloped-signature"
EXC_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"
XSLT = "http://www.w3.org/TR/1999/REC-xslt-19991116"
XPATH = "http://www.w3.org/TR/1999/REC-xpath-19991116"
RSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
ECDSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256"
RSA_SHA1 = "http://www.w3.org/2000/09/xmldsig#rsa-sha1"
HMAC_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#hmac-sha256"
DSA_SHA256 = "http://www.w3.org/2009/xmldsig11#dsa-sha256"
SHA256 = "http://www.w3.org/2001/04/xmlenc#sha256"
SHA1 = "http://www.w3.org/2000/09/xmldsig#sha1"

COO = FIXTURES / "coo" / "valid-10.xml"
APPLICATION_RESPONSE = FIXTURES / "signing" / "application-response.xml"
SPS = CORPUS / "sps-ecert-17" / "samples" / "SPSCertificate.xml"


# --- the PKI ---------------------------------------------------------------------------------------------------


def _name(common_name: str, organisation: str = "Test") -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _usage(*, digital_signature: bool = False, ca: bool = False) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=digital_signature,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )


AnyPrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | dsa.DSAPrivateKey


@dataclass(frozen=True)
class Authority:
    key: ec.EllipticCurvePrivateKey
    certificate: x509.Certificate


def make_ca(
    name: x509.Name,
    *,
    issuer: Authority | None = None,
    not_before: datetime = NOW - timedelta(days=400),
    not_after: datetime = NOW + timedelta(days=3650),
) -> Authority:
    """A root (no issuer) or an intermediate CA with what the Web PKI CA policy asks for."""
    key = ec.generate_private_key(ec.SECP256R1())
    signer_key, issuer_name = (issuer.key, issuer.certificate.subject) if issuer else (key, name)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None if issuer is None else 0), critical=True)
        .add_extension(_usage(ca=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    if issuer is not None:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key()), critical=False
        )
    return Authority(key, builder.sign(signer_key, hashes.SHA256()))


def issue_leaf(
    authority: Authority,
    common_name: str,
    key: AnyPrivateKey | None = None,
    *,
    not_before: datetime = NOW - timedelta(days=30),
    not_after: datetime = NOW + timedelta(days=335),
    digital_signature: bool = True,
) -> tuple[AnyPrivateKey, x509.Certificate]:
    key = key or ec.generate_private_key(ec.SECP256R1())
    certificate = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(authority.certificate.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_usage(digital_signature=digital_signature), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(authority.key.public_key()), critical=False)
        .sign(authority.key, hashes.SHA256())
    )
    return key, certificate


def signing_key(
    authority: Authority,
    common_name: str,
    *,
    chain: tuple[x509.Certificate, ...] = (),
    not_before: datetime = NOW - timedelta(days=30),
    not_after: datetime = NOW + timedelta(days=335),
    digital_signature: bool = True,
) -> SigningKey:
    key, certificate = issue_leaf(
        authority,
        common_name,
        not_before=not_before,
        not_after=not_after,
        digital_signature=digital_signature,
    )
    assert isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey)
    return SigningKey(private_key=key, certificate=certificate, chain=chain)


@dataclass(frozen=True)
class Pki:
    ours: Authority  # "TH": the partner whose documents we verify
    dev_dir: Path
    rsa: SigningKey  # RSA-3072, from generate_dev_pki
    ec: SigningKey  # P-256, from generate_dev_pki
    previous: SigningKey  # the key used before the last rotation, same CA
    second_root: x509.Certificate  # our second root, which has an intermediate
    intermediate_signed: SigningKey  # leaf under that intermediate; chain = (intermediate,)
    path_too_long: SigningKey  # leaf under an intermediate the pathLen-0 development CA may not have
    partner_b: SigningKey  # a valid certificate of another partner
    partner_b_ca: x509.Certificate
    self_made: SigningKey  # leaf under a self-made CA, which the signature carries as its chain
    impostor: SigningKey  # leaf under a self-made CA that copies our CA's name
    expired: SigningKey
    not_yet_valid: SigningKey
    no_digital_signature: SigningKey
    revoked: SigningKey
    crl: x509.CertificateRevocationList
    dsa_key: dsa.DSAPrivateKey
    dsa_certificate: x509.Certificate
    revoked_at: datetime

    @property
    def anchors(self) -> TrustAnchors:
        return TrustAnchors("TH", ca_certificates=(self.ours.certificate, self.second_root))

    @property
    def anchors_with_crl(self) -> TrustAnchors:
        return TrustAnchors("TH", ca_certificates=(self.ours.certificate, self.second_root), crls=(self.crl,))


def make_crl(
    authority: Authority,
    revoked: Sequence[tuple[int, datetime]],
    *,
    last_update: datetime,
    next_update: datetime,
    signer: ec.EllipticCurvePrivateKey | None = None,
) -> x509.CertificateRevocationList:
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(authority.certificate.subject)
        .last_update(last_update)
        .next_update(next_update)
    )
    for serial, when in revoked:
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(when).build()
        )
    return builder.sign(signer or authority.key, hashes.SHA256())


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    dev_dir = tmp_path_factory.mktemp("dev-pki")
    # Our partner's CA and its two production-shaped keys come from the development PKI generator itself.
    dev = generate_dev_pki(dev_dir, common_name="TH customs", now=NOW - timedelta(days=30))
    ca_key = serialization.load_pem_private_key((dev_dir / "ca.key.pem").read_bytes(), password=None)
    assert isinstance(ca_key, ec.EllipticCurvePrivateKey)
    ours = Authority(ca_key, x509.load_pem_x509_certificate(dev.ca_cert.read_bytes()))
    # The development CA has pathLen 0 (it issues leaves only), so intermediates hang under a second root of ours.
    second_root = make_ca(_name("TH customs root CA 2"))
    intermediate = make_ca(_name("TH customs issuing CA 2"), issuer=second_root)
    under_dev_ca = make_ca(_name("TH customs issuing CA (not allowed)"), issuer=ours)
    partner_b = make_ca(_name("ID customs CA", "Partner B"))
    self_made = make_ca(_name("Totally legitimate CA", "Attacker"))
    impostor = make_ca(ours.certificate.subject)  # same name as our CA, different key

    revoked = signing_key(ours, "TH signer (revoked)")
    revoked_at = NOW - timedelta(days=2)
    crl = make_crl(
        ours,
        [(revoked.certificate.serial_number, revoked_at)],
        last_update=NOW - timedelta(days=1),
        next_update=NOW + timedelta(days=6),
    )
    dsa_key = dsa.generate_private_key(key_size=2048)
    _, dsa_certificate = issue_leaf(ours, "TH signer (DSA)", dsa_key)
    assert isinstance(dsa_certificate, x509.Certificate)
    return Pki(
        ours=ours,
        dev_dir=dev_dir,
        rsa=load_signing_key(dev.rsa[1], dev.rsa[0]),
        ec=load_signing_key(dev.ec[1], dev.ec[0]),
        previous=signing_key(ours, "TH signer 2025", not_before=NOW - timedelta(days=400)),
        second_root=second_root.certificate,
        intermediate_signed=signing_key(intermediate, "TH signer via issuing CA", chain=(intermediate.certificate,)),
        path_too_long=signing_key(
            under_dev_ca, "TH signer via a CA nobody may issue", chain=(under_dev_ca.certificate,)
        ),
        partner_b=signing_key(partner_b, "ID signer"),
        partner_b_ca=partner_b.certificate,
        self_made=signing_key(self_made, "TH signer", chain=(self_made.certificate,)),
        impostor=signing_key(impostor, "TH signer"),
        expired=signing_key(
            ours, "TH signer (expired)", not_before=NOW - timedelta(days=400), not_after=NOW - timedelta(days=1)
        ),
        not_yet_valid=signing_key(
            ours, "TH signer (future)", not_before=NOW + timedelta(days=1), not_after=NOW + timedelta(days=300)
        ),
        no_digital_signature=signing_key(ours, "TH signer (no digitalSignature)", digital_signature=False),
        revoked=revoked,
        crl=crl,
        dsa_key=dsa_key,
        dsa_certificate=dsa_certificate,
        revoked_at=revoked_at,
    )


@pytest.fixture(scope="session")
def sps_path() -> Path:
    if not SPS.is_file():
        pytest.skip(f"the shared corpus is not at {CORPUS}")
    return SPS


# --- a builder for signatures of any shape -------------------------------------------------------------------


def find_signature(root: etree._Element) -> etree._Element:
    found = root.findall(f".//{{{DS}}}Signature")
    assert len(found) == 1
    return found[0]


def digest_of_document(root: etree._Element, hash_class: type[hashes.HashAlgorithm]) -> bytes:
    """What an enveloped-signature + exclusive C14N Reference with URI="" covers, hashed."""
    document = copy.deepcopy(root)
    signature = find_signature(document)
    parent = signature.getparent()
    assert parent is not None
    previous = signature.getprevious()
    if signature.tail:
        if previous is not None:
            previous.tail = (previous.tail or "") + signature.tail
        else:
            parent.text = (parent.text or "") + signature.tail
    parent.remove(signature)
    hasher = hashes.Hash(hash_class())
    hasher.update(etree.tostring(document, method="c14n", exclusive=True, with_comments=False))
    return hasher.finalize()


Transform = str | etree._Element


def transform(algorithm: str, *children: etree._Element) -> etree._Element:
    element = etree.Element(f"{{{DS}}}Transform", Algorithm=algorithm)
    element.extend(children)
    return element


def xslt_transform() -> etree._Element:
    xsl = "http://www.w3.org/1999/XSL/Transform"
    stylesheet = etree.Element(f"{{{xsl}}}stylesheet", version="1.0", nsmap={"xsl": xsl})
    template = etree.SubElement(stylesheet, f"{{{xsl}}}template", match="/")
    etree.SubElement(template, f"{{{xsl}}}copy-of", select="document('file:///etc/hostname')")
    return transform(XSLT, stylesheet)


def xpath_false_transform() -> etree._Element:
    xpath = etree.Element(f"{{{DS}}}XPath")
    xpath.text = "false()"
    return transform(XPATH, xpath)


def _raw_dss(der_signature: bytes, size_bits: int) -> bytes:
    r, s = utils.decode_dss_signature(der_signature)
    half = (size_bits + 7) // 8
    return r.to_bytes(half, "big") + s.to_bytes(half, "big")


def signature_value(
    key: AnyPrivateKey | bytes, method: str, data: bytes, hash_class: type[hashes.HashAlgorithm]
) -> bytes:
    if method.startswith("http://www.w3.org/2001/04/xmldsig-more#hmac") or isinstance(key, bytes):
        assert isinstance(key, bytes)
        return hmac.new(key, data, hash_class().name).digest()
    if isinstance(key, rsa.RSAPrivateKey):
        return key.sign(data, padding.PKCS1v15(), hash_class())
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return _raw_dss(key.sign(data, ec.ECDSA(hash_class())), key.curve.key_size)
    return _raw_dss(key.sign(data, hash_class()), key.parameters().parameter_numbers().q.bit_length())


def resign(
    signed: bytes,
    key: AnyPrivateKey | bytes,
    *,
    signature_method: str | None = None,
    digest_method: str = SHA256,
    hash_class: type[hashes.HashAlgorithm] = hashes.SHA256,
    transforms: Sequence[Transform] = (ENVELOPED, EXC_C14N),
    reference_uri: str | None = "",
    references: int = 1,
    signed_info_c14n: str = EXC_C14N,
    certificates: Sequence[x509.Certificate] | None = None,
    edit_document: Callable[[etree._Element], None] | None = None,
) -> bytes:
    """Replace the SignedInfo of a signed document by one of the given shape, with a real digest and signature.

    ``edit_document`` changes the document first (e.g. adds an element), so the new digest covers the change.
    The digest is computed the way signxml does for these shapes (unknown transforms skipped), i.e. the way a
    verifier without the pre-check would find it correct.
    """
    root = parse_xml(signed).getroot()
    if edit_document is not None:
        edit_document(root)
    signature = find_signature(root)
    for child in list(signature):
        if child.tag in (f"{{{DS}}}SignedInfo", f"{{{DS}}}SignatureValue"):
            signature.remove(child)
    if signature_method is None:
        signature_method = RSA_SHA256 if isinstance(key, rsa.RSAPrivateKey) else ECDSA_SHA256
    signed_info = etree.Element(f"{{{DS}}}SignedInfo")
    etree.SubElement(signed_info, f"{{{DS}}}CanonicalizationMethod", Algorithm=signed_info_c14n)
    etree.SubElement(signed_info, f"{{{DS}}}SignatureMethod", Algorithm=signature_method)
    digest = base64_text(digest_of_document(root, hash_class))
    for _ in range(references):
        reference = etree.SubElement(signed_info, f"{{{DS}}}Reference")
        if reference_uri is not None:
            reference.set("URI", reference_uri)
        transforms_element = etree.SubElement(reference, f"{{{DS}}}Transforms")
        for item in transforms:
            transforms_element.append(copy.deepcopy(item) if isinstance(item, etree._Element) else transform(item))
        etree.SubElement(reference, f"{{{DS}}}DigestMethod", Algorithm=digest_method)
        etree.SubElement(reference, f"{{{DS}}}DigestValue").text = digest
    signature.insert(0, signed_info)
    value = etree.Element(f"{{{DS}}}SignatureValue")
    signature.insert(1, value)
    # In document context, the way a signer canonicalises SignedInfo (inclusive C14N takes in-scope namespaces).
    canonical = etree.tostring(signed_info, method="c14n", exclusive=signed_info_c14n == EXC_C14N, with_comments=False)
    value.text = base64_text(signature_value(key, signature_method, canonical, hash_class))
    if certificates is not None:
        replace_certificates(signature, certificates)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def base64_text(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def replace_certificates(signature: etree._Element, certificates: Sequence[x509.Certificate]) -> None:
    x509_data = signature.find(f"{{{DS}}}KeyInfo/{{{DS}}}X509Data")
    assert x509_data is not None
    for child in list(x509_data):
        x509_data.remove(child)
    for certificate in certificates:
        etree.SubElement(x509_data, f"{{{DS}}}X509Certificate").text = base64_text(
            certificate.public_bytes(serialization.Encoding.DER)
        )


def edit_signed(signed: bytes, edit: Callable[[etree._Element], None]) -> bytes:
    """Change a signed document without re-signing (the attacker's move)."""
    root = parse_xml(signed).getroot()
    edit(root)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def text_of(xml: bytes, path: str) -> str:
    found = parse_xml(xml).getroot().find(path, NS)
    assert found is not None, path
    return found.text or ""
