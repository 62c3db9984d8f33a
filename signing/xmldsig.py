"""The XMLDSig profile (DESIGN §6, ADR 0009): enveloped signatures over whole trade documents.

Signing and verification both pin the profile explicitly, never signxml's defaults: one Reference with ``URI=""``,
transforms exactly enveloped-signature then exclusive C14N, SHA-2 digests, RSA or ECDSA with SHA-2, the signer's
certificate (then its intermediates) in KeyInfo. The signature sits at a fixed place per document family.

Verification runs in this order, and nothing expensive runs before the cheap checks have passed:

1. parse with the one hardened parser (``schemas.xmlparse``);
2. exactly one ``ds:Signature``, at the placement's fixed parent path; no duplicate ID attributes;
3. KeyInfo bounded (size, number of certificates) and read;
4. trust and validity of those certificates (``signing.trust``) — no digest involved;
5. the SignedInfo pre-check: one Reference, its URI, the two transforms, algorithm allow-lists. signxml digests
   every Reference before counting them and silently skips transforms it does not know (XSLT, XPath), so this
   check is what stops those signatures, before any digest is computed;
6. the cryptography: signxml with the fixed ``location``, ``expect_references=1`` and the allow-lists, or — for a
   partner in compatibility mode whose References omit ``URI`` — this module's own narrow verifier.

Data is read only from ``signed_xml``: the canonical bytes the digest covered.
"""

from __future__ import annotations

import base64
import binascii
import copy
import hmac
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from cryptography import x509
from cryptography.exceptions import InvalidSignature as CryptoInvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils
from lxml import etree
from signxml.algorithms import CanonicalizationMethod, DigestAlgorithm, SignatureConstructionMethod, SignatureMethod
from signxml.exceptions import InvalidCertificate, InvalidDigest, InvalidInput, InvalidSignature
from signxml.signer import XMLSigner
from signxml.verifier import SignatureConfiguration, VerifyResult, XMLVerifier

from schemas.errors import DocumentError
from schemas.xmlparse import parse_xml
from signing._result import Check, CheckStatus, SignatureVerification, not_checked
from signing.keys import SigningKey
from signing.trust import SignerAssessment, TrustAnchors, assess_signer, load_pem_certificates, utc

__all__ = [
    "ALLOWED_DIGEST_METHODS",
    "ALLOWED_SIGNATURE_METHODS",
    "ALLOWED_SIGNED_INFO_C14N",
    "Check",
    "CheckStatus",
    "SignaturePlacement",
    "SignatureVerification",
    "TrustAnchors",
    "load_pem_certificates",
    "sign_xml",
    "verify_xml",
]

DS = "http://www.w3.org/2000/09/xmldsig#"
DSIG11 = "http://www.w3.org/2009/xmldsig11#"
EC_NS = "http://www.w3.org/2001/10/xml-exc-c14n#"
EXT = "urn:oasis:names:specification:ubl:schema:xsd:CommonExtensionComponents-2"
SIG = "urn:oasis:names:specification:ubl:schema:xsd:CommonSignatureComponents-2"
SAC = "urn:oasis:names:specification:ubl:schema:xsd:SignatureAggregateComponents-2"
SBC = "urn:oasis:names:specification:ubl:schema:xsd:SignatureBasicComponents-2"
CBC = "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2"
CAC = "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2"
_NS = {"ds": DS}

ENVELOPED = "http://www.w3.org/2000/09/xmldsig#enveloped-signature"
EXC_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"
C14N_10 = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315"
C14N_11 = "http://www.w3.org/2006/12/xml-c14n11"

# UBL's signature extension: the identifiers UBL's own examples use for an enveloped (non-XAdES) signature.
UBL_SIGNATURE_EXTENSION_URI = "urn:oasis:names:specification:ubl:dsig:enveloped"
UBL_SIGNATURE_ID = "urn:oasis:names:specification:ubl:signature:1"

# Allow-lists (ADR 0009). SHA-1, SHA-224, HMAC (a shared secret is no partner identity: keyed with a public
# certificate it is forgeable by anyone), DSA and RSA-PSS/SHA-3 variants nobody exchanges are all refused.
ALLOWED_SIGNATURE_METHODS: dict[str, tuple[str, type[hashes.HashAlgorithm]]] = {
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256": ("rsa", hashes.SHA256),
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384": ("rsa", hashes.SHA384),
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512": ("rsa", hashes.SHA512),
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256": ("ecdsa", hashes.SHA256),
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha384": ("ecdsa", hashes.SHA384),
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha512": ("ecdsa", hashes.SHA512),
}
ALLOWED_DIGEST_METHODS: dict[str, type[hashes.HashAlgorithm]] = {
    "http://www.w3.org/2001/04/xmlenc#sha256": hashes.SHA256,
    "http://www.w3.org/2001/04/xmldsig-more#sha384": hashes.SHA384,
    "http://www.w3.org/2001/04/xmlenc#sha512": hashes.SHA512,
}
# SignedInfo may be canonicalised inclusively (.NET's and Java's default signers do), because SignedInfo is a
# structure the pre-check has already pinned down; the document itself only through exclusive C14N.
# The #WithComments variants are refused everywhere: comments must never count as signed content.
ALLOWED_SIGNED_INFO_C14N = frozenset({EXC_C14N, C14N_10, C14N_11})
_REFERENCE_TRANSFORMS = (ENVELOPED, EXC_C14N)

# Bounds checked before anything is decoded or digested (THREATS row 18). A certificate is 1–2 KB in practice.
MAX_KEYINFO_BYTES = 64 * 1024
MAX_CERTIFICATES = 4
MAX_CERTIFICATE_BYTES = 16 * 1024
MAX_SIGNED_INFO_BYTES = 16 * 1024
MAX_SIGNATURE_VALUE_CHARS = 2048  # base64 of an 8192-bit RSA signature is 1368 characters
_KEYINFO_CHILDREN = frozenset({f"{{{DS}}}X509Data", f"{{{DS}}}KeyName", f"{{{DS}}}KeyValue"})
_X509DATA_CHILDREN = frozenset(
    {
        f"{{{DS}}}X509Certificate",
        f"{{{DS}}}X509IssuerSerial",
        f"{{{DS}}}X509SubjectName",
        f"{{{DS}}}X509SKI",
        f"{{{DSIG11}}}X509Digest",
    }
)
# signxml resolves "#id" references by these attribute names in any namespace; one value twice is refused.
_ID_ATTRIBUTES = etree.XPath("//@*[local-name()='Id' or local-name()='ID' or local-name()='id']")
_ALL_SIGNATURES = etree.XPath("//ds:Signature", namespaces=_NS)
_COUNT_REFERENCES = etree.XPath("count(.//ds:Reference)", namespaces=_NS)
_COUNT_ELEMENTS = etree.XPath("count(.//*)")


class SignaturePlacement(StrEnum):
    """Where the one ds:Signature of a document sits; verification accepts it there and nowhere else."""

    UBL_EXTENSION = "ubl-extension"
    ROOT_LAST_CHILD = "root-last-child"

    @property
    def parent_tags(self) -> tuple[str, ...]:
        """Clark names from the root's child down to the signature's parent (empty: the root is the parent)."""
        if self is SignaturePlacement.UBL_EXTENSION:
            return (
                f"{{{EXT}}}UBLExtensions",
                f"{{{EXT}}}UBLExtension",
                f"{{{EXT}}}ExtensionContent",
                f"{{{SIG}}}UBLDocumentSignatures",
                f"{{{SAC}}}SignatureInformation",
            )
        return ()

    @property
    def parent_path(self) -> str:
        """signxml's ``location``: the fixed parent path relative to the root, never the default ``.//``."""
        return "./" + "".join(f"{tag}/" for tag in self.parent_tags)


# --- signing ---------------------------------------------------------------------------------------------------


def _ubl_placeholder(root: etree._Element) -> etree._Element:
    extensions = root.find(f"{{{EXT}}}UBLExtensions")
    if extensions is None:
        # The XSD wants ext:UBLExtensions first; its tail takes over the indentation that preceded the old first
        # child, so the business content keeps its exact layout.
        extensions = etree.Element(f"{{{EXT}}}UBLExtensions", nsmap={"ext": EXT})
        if root.text is not None and not root.text.strip():
            extensions.tail = root.text
        root.insert(0, extensions)
    elif root.index(extensions) != 0:
        raise ValueError("ext:UBLExtensions is not the first child of the root; the document is not UBL-valid")
    extension = etree.SubElement(extensions, f"{{{EXT}}}UBLExtension")
    etree.SubElement(extension, f"{{{EXT}}}ExtensionURI").text = UBL_SIGNATURE_EXTENSION_URI
    content = etree.SubElement(extension, f"{{{EXT}}}ExtensionContent")
    nsmap = {"sig": SIG, "sac": SAC}
    if CBC not in root.nsmap.values():
        nsmap["cbc"] = CBC
    # UBL links the extension's signature to a cac:Signature of the body through sbc:ReferencedSignatureID; both
    # are optional, and the link is only made when the issuer put exactly one such cac:Signature in the body.
    body_ids = root.findall(f"{{{CAC}}}Signature/{{{CBC}}}ID")
    if len(body_ids) == 1 and body_ids[0].text:
        nsmap["sbc"] = SBC
    signatures = etree.SubElement(content, f"{{{SIG}}}UBLDocumentSignatures", nsmap=nsmap)
    information = etree.SubElement(signatures, f"{{{SAC}}}SignatureInformation")
    etree.SubElement(information, f"{{{CBC}}}ID").text = UBL_SIGNATURE_ID
    if "sbc" in nsmap:
        etree.SubElement(information, f"{{{SBC}}}ReferencedSignatureID").text = body_ids[0].text
    return etree.SubElement(information, f"{{{DS}}}Signature", nsmap={"ds": DS}, Id="placeholder")


def _place_placeholder(root: etree._Element, placement: SignaturePlacement) -> None:
    # signxml fills an empty <ds:Signature Id="placeholder"/> where it is, instead of appending to the root.
    if placement is SignaturePlacement.UBL_EXTENSION:
        _ubl_placeholder(root)
    else:
        etree.SubElement(root, f"{{{DS}}}Signature", nsmap={"ds": DS}, Id="placeholder")


def sign_xml(data: bytes, key: SigningKey, placement: SignaturePlacement) -> bytes:
    """Sign a whole document with the profile; return the signed bytes (UTF-8 with an XML declaration).

    A document that already carries a ds:Signature is refused (``ValueError``): v1 has one signature per document. So
    is one that exclusive canonicalisation cannot process, such as one declaring a relative namespace URI (which an
    extension's content may do and still be valid).
    """
    root = parse_xml(data).getroot()
    if _ALL_SIGNATURES(root):
        raise ValueError("the document already carries a ds:Signature; one signature per document")
    if root.get("Id") is not None or root.get("ID") is not None:
        # signxml would then reference "#<id>" instead of URI="", which this profile (and its verifier) refuses.
        raise ValueError("the root element has an Id attribute; the profile signs the whole document with URI=''")
    _place_placeholder(root, placement)
    signature_method = SignatureMethod.RSA_SHA256 if key.algorithm == "RS256" else SignatureMethod.ECDSA_SHA256
    signer = XMLSigner(
        method=SignatureConstructionMethod.enveloped,
        signature_algorithm=signature_method,
        digest_algorithm=DigestAlgorithm.SHA256,
        c14n_algorithm=CanonicalizationMethod.EXCLUSIVE_XML_CANONICALIZATION_1_0,
    )
    try:
        signed_root = signer.sign(root, key=key.private_key, cert=[key.certificate, *key.chain])
    except etree.C14NError as exc:
        raise ValueError(f"the document cannot be canonicalised (a relative namespace URI?): {exc}") from None
    # Post-condition: what leaves here passes our own pre-check, so a change of signxml's defaults cannot ship
    # signatures that partners (or we) would reject.
    try:
        signature = _locate(signed_root, placement)
        _read_key_info(signature)
        _precheck(signature, allow_omitted_uri=False)
    except _Rejected as exc:
        raise RuntimeError(f"signxml produced a signature outside the profile: {exc.reason}: {exc.detail}") from None
    return etree.tostring(signed_root, xml_declaration=True, encoding="UTF-8")


# --- verification: structural checks ---------------------------------------------------------------------------


class _Rejected(Exception):
    """A check failed; ``reason`` is the stable code reported to the caller."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class _Profile:
    """What the pre-check established about SignedInfo, for the verifier that runs after it."""

    c14n_method: str
    c14n_prefixes: list[str] | None
    signature_method: str
    digest_method: str
    transform_prefixes: list[str] | None
    reference_uri: str | None
    digest_value: bytes
    signature_value: bytes


def _elements(parent: etree._Element) -> list[etree._Element]:
    # Comments and processing instructions inside the signature carry no meaning; only elements count.
    return [child for child in parent if isinstance(child.tag, str)]


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _locate(root: etree._Element, placement: SignaturePlacement) -> etree._Element:
    found = _ALL_SIGNATURES(root)
    signatures = [node for node in found if isinstance(node, etree._Element)] if isinstance(found, list) else []
    if not signatures:
        raise _Rejected("no-signature", "the document carries no ds:Signature")
    if len(signatures) > 1:
        raise _Rejected("multiple-signatures", f"{len(signatures)} ds:Signature elements; exactly one is accepted")
    signature = signatures[0]
    path: list[str] = []
    node = signature.getparent()
    while node is not None and node is not root:
        path.append(str(node.tag))
        node = node.getparent()
    if node is not root or tuple(reversed(path)) != placement.parent_tags:
        where = "/".join(_local(tag) for tag in reversed(path)) or "(the root itself)"
        expected = "/".join(_local(tag) for tag in placement.parent_tags) or "the root"
        raise _Rejected(
            "signature-location", f"ds:Signature sits under {where}; {placement.value} expects it under {expected}"
        )
    if signature.tail is not None and signature.tail.strip():
        # Text after the signature is signed content, but signxml cannot re-read the signature with it; refusing
        # it keeps the strict and the compatibility paths giving the same answer.
        raise _Rejected("signature-structure", "text follows ds:Signature inside its parent")
    return signature


def _check_unique_ids(root: etree._Element) -> None:
    found = _ID_ATTRIBUTES(root)
    values = [str(value) for value in found] if isinstance(found, list) else []
    duplicates = sorted(value for value, count in Counter(values).items() if count > 1)
    if duplicates:
        shown = ", ".join(repr(value) for value in duplicates[:5])
        raise _Rejected("duplicate-id", f"ID attribute values used more than once: {shown}")


def _b64(text: str | None, what: str, limit: int) -> bytes:
    compact = "".join((text or "").split())
    if len(compact) > limit:
        raise _Rejected("signature-structure", f"{what} is {len(compact)} characters, over the limit of {limit}")
    try:
        return base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError):
        raise _Rejected("signature-structure", f"{what} is not base64") from None


def _read_key_info(signature: etree._Element) -> list[x509.Certificate]:
    key_infos = [child for child in _elements(signature) if child.tag == f"{{{DS}}}KeyInfo"]
    if len(key_infos) != 1:
        raise _Rejected("no-certificate", "the profile needs exactly one ds:KeyInfo carrying the signer's certificate")
    key_info = key_infos[0]
    size = len(etree.tostring(key_info))
    if size > MAX_KEYINFO_BYTES:
        raise _Rejected("keyinfo-too-large", f"ds:KeyInfo is {size} bytes, over the limit of {MAX_KEYINFO_BYTES}")
    children = _elements(key_info)
    unexpected = sorted({_local(str(child.tag)) for child in children if child.tag not in _KEYINFO_CHILDREN})
    if unexpected:
        # RetrievalMethod and friends would point the verifier elsewhere; the profile carries the certificate.
        raise _Rejected("keyinfo-not-allowed", f"ds:KeyInfo children not allowed: {', '.join(unexpected)}")
    x509_data = [child for child in children if child.tag == f"{{{DS}}}X509Data"]
    if len(x509_data) != 1:
        raise _Rejected("no-certificate", f"{len(x509_data)} ds:X509Data elements; exactly one is required")
    entries = _elements(x509_data[0])
    unexpected = sorted({_local(str(entry.tag)) for entry in entries if entry.tag not in _X509DATA_CHILDREN})
    if unexpected:
        raise _Rejected("keyinfo-not-allowed", f"ds:X509Data children not allowed: {', '.join(unexpected)}")
    blobs = [entry for entry in entries if entry.tag == f"{{{DS}}}X509Certificate"]
    if not blobs:
        raise _Rejected("no-certificate", "ds:X509Data carries no ds:X509Certificate")
    if len(blobs) > MAX_CERTIFICATES:
        raise _Rejected("keyinfo-too-large", f"{len(blobs)} certificates, over the limit of {MAX_CERTIFICATES}")
    certificates = []
    for blob in blobs:
        try:
            der = _b64(blob.text, "X509Certificate", (MAX_CERTIFICATE_BYTES + 2) // 3 * 4)
        except _Rejected as exc:
            reason = "keyinfo-too-large" if "limit" in exc.detail else "bad-certificate"
            raise _Rejected(reason, exc.detail) from None
        try:
            certificates.append(x509.load_der_x509_certificate(der))
        except ValueError as exc:
            raise _Rejected("bad-certificate", f"an X509Certificate does not decode: {exc}") from None
    return certificates


def _inclusive_prefixes(method: etree._Element, algorithm: str, where: str) -> list[str] | None:
    children = _elements(method)
    if not children:
        return None
    if algorithm != EXC_C14N or len(children) != 1 or children[0].tag != f"{{{EC_NS}}}InclusiveNamespaces":
        raise _Rejected("signature-structure", f"unexpected content in {where}")
    prefix_list = children[0].get("PrefixList")
    return prefix_list.split() if prefix_list else None


def _expect_children(parent: etree._Element, names: tuple[str, ...], reason: str) -> list[etree._Element]:
    children = _elements(parent)
    found = tuple(str(child.tag) for child in children)
    expected = tuple(f"{{{DS}}}{name}" for name in names)
    if found != expected:
        shown = ", ".join(_local(tag) for tag in found) or "nothing"
        raise _Rejected(reason, f"ds:{_local(str(parent.tag))} holds {shown}; expected {', '.join(names)}")
    return children


def _precheck(signature: etree._Element, *, allow_omitted_uri: bool) -> _Profile:
    """Pin SignedInfo to the profile without digesting anything (THREATS rows 5, 8, 18)."""
    signature_children = _expect_children(signature, ("SignedInfo", "SignatureValue", "KeyInfo"), "signature-structure")
    signed_info, signature_value = signature_children[0], signature_children[1]
    # Counted first and in C: signxml would digest every Reference before comparing the count.
    counted = _COUNT_REFERENCES(signed_info)
    references = int(counted) if isinstance(counted, float) else 0
    if references == 0:
        raise _Rejected("no-reference", "SignedInfo has no Reference")
    if references > 1:
        raise _Rejected("too-many-references", f"SignedInfo has {references} References; exactly one is accepted")
    size = len(etree.tostring(signed_info))
    if size > MAX_SIGNED_INFO_BYTES:
        raise _Rejected("signature-structure", f"SignedInfo is {size} bytes, over the limit of {MAX_SIGNED_INFO_BYTES}")
    c14n, method, reference = _expect_children(
        signed_info, ("CanonicalizationMethod", "SignatureMethod", "Reference"), "signature-structure"
    )

    c14n_algorithm = c14n.get("Algorithm", "")
    if c14n_algorithm not in ALLOWED_SIGNED_INFO_C14N:
        raise _Rejected("algorithm-not-allowed", f"CanonicalizationMethod {c14n_algorithm!r} is not allowed")
    c14n_prefixes = _inclusive_prefixes(c14n, c14n_algorithm, "CanonicalizationMethod")
    signature_algorithm = method.get("Algorithm", "")
    if signature_algorithm not in ALLOWED_SIGNATURE_METHODS:
        raise _Rejected("algorithm-not-allowed", f"SignatureMethod {signature_algorithm!r} is not allowed")
    if _elements(method):
        raise _Rejected("signature-structure", "unexpected content in SignatureMethod")

    uri = reference.get("URI")
    if uri is None and not allow_omitted_uri:
        raise _Rejected(
            "reference-uri-not-allowed", "the Reference omits URI (accepted only in a partner's compatibility mode)"
        )
    if uri is not None and uri != "":
        raise _Rejected("reference-uri-not-allowed", f'Reference URI {uri!r}; only URI="" (the whole document)')
    if set(reference.keys()) - {"URI", "Id", "Type"}:
        raise _Rejected("signature-structure", "unexpected attributes on Reference")

    reference_children = _elements(reference)
    if not reference_children or reference_children[0].tag != f"{{{DS}}}Transforms":
        raise _Rejected("transform-not-allowed", "the Reference declares no Transforms (enveloped + exc-c14n needed)")
    transforms = _elements(reference_children[0])
    algorithms = tuple(t.get("Algorithm", "") if t.tag == f"{{{DS}}}Transform" else str(t.tag) for t in transforms)
    if algorithms != _REFERENCE_TRANSFORMS:
        raise _Rejected(
            "transform-not-allowed",
            f"transforms {list(algorithms)}; exactly enveloped-signature then exclusive C14N are accepted",
        )
    if _elements(transforms[0]):
        raise _Rejected("transform-not-allowed", "unexpected content in the enveloped-signature transform")
    try:
        transform_prefixes = _inclusive_prefixes(transforms[1], EXC_C14N, "the exclusive C14N transform")
    except _Rejected as exc:
        raise _Rejected("transform-not-allowed", exc.detail) from None

    _, digest_method, digest_value = _expect_children(
        reference, ("Transforms", "DigestMethod", "DigestValue"), "signature-structure"
    )
    digest_algorithm = digest_method.get("Algorithm", "")
    if digest_algorithm not in ALLOWED_DIGEST_METHODS:
        raise _Rejected("algorithm-not-allowed", f"DigestMethod {digest_algorithm!r} is not allowed")
    if _elements(digest_method):
        raise _Rejected("signature-structure", "unexpected content in DigestMethod")
    expected_digest = _b64(digest_value.text, "DigestValue", 128)
    if len(expected_digest) != ALLOWED_DIGEST_METHODS[digest_algorithm]().digest_size:
        raise _Rejected("signature-structure", "DigestValue length does not match the DigestMethod")
    return _Profile(
        c14n_method=c14n_algorithm,
        c14n_prefixes=c14n_prefixes,
        signature_method=signature_algorithm,
        digest_method=digest_algorithm,
        transform_prefixes=transform_prefixes,
        reference_uri=uri,
        digest_value=expected_digest,
        signature_value=_b64(signature_value.text, "SignatureValue", MAX_SIGNATURE_VALUE_CHARS),
    )


# --- verification: cryptography ---------------------------------------------------------------------------------


def _digest(data: bytes, algorithm: str) -> bytes:
    """The one digest of the compatibility path (tests watch it to prove the pre-check ran first)."""
    hasher = hashes.Hash(ALLOWED_DIGEST_METHODS[algorithm]())
    hasher.update(data)
    return hasher.finalize()


def _signxml_config(placement: SignaturePlacement, leaf: x509.Certificate, at: datetime) -> SignatureConfiguration:
    return SignatureConfiguration(
        require_x509=True,
        location=placement.parent_path,
        expect_references=1,
        signature_methods=frozenset(SignatureMethod(uri) for uri in ALLOWED_SIGNATURE_METHODS),
        digest_algorithms=frozenset(DigestAlgorithm(uri) for uri in ALLOWED_DIGEST_METHODS),
        ignore_ambiguous_key_info=False,
        # The validity window is judged by signing.trust at ``at`` with its own reason codes; signxml gets a time
        # inside the window so that its answer is about integrity alone.
        verification_time=min(max(at, leaf.not_valid_before_utc), leaf.not_valid_after_utc),
        default_reference_c14n_method=CanonicalizationMethod.EXCLUSIVE_XML_CANONICALIZATION_1_0,
    )


def _verify_with_signxml(
    root: etree._Element, placement: SignaturePlacement, leaf: x509.Certificate, at: datetime
) -> bytes:
    try:
        # x509_cert: the key is the certificate that signing.trust judged, never another one from the document.
        result = XMLVerifier().verify(root, x509_cert=leaf, expect_config=_signxml_config(placement, leaf, at))
    except InvalidDigest as exc:
        raise _Rejected("digest-mismatch", str(exc)) from None
    except InvalidCertificate as exc:
        raise _Rejected("bad-signature", str(exc)) from None
    except InvalidSignature as exc:
        raise _Rejected("bad-signature", str(exc)) from None
    except InvalidInput as exc:
        raise _Rejected("malformed-signature", str(exc)) from None
    except etree.DocumentInvalid as exc:  # signxml checks the signature against the xmldsig schema
        raise _Rejected("malformed-signature", f"ds:Signature is not schema-valid: {exc}") from None
    if not isinstance(result, VerifyResult) or result.signed_xml is None:
        raise _Rejected("malformed-signature", "the signed data is not an XML document")
    return result.signed_data


def _c14n(node: etree._Element, algorithm: str, prefixes: list[str] | None) -> bytes:
    return etree.tostring(
        node,
        method="c14n",
        exclusive=algorithm == EXC_C14N,
        with_comments=False,
        inclusive_ns_prefixes=prefixes,
    )


def _check_signature_value(leaf: x509.Certificate, profile: _Profile, signed_info: bytes) -> None:
    kind, hash_class = ALLOWED_SIGNATURE_METHODS[profile.signature_method]
    key = leaf.public_key()
    try:
        if kind == "rsa" and isinstance(key, rsa.RSAPublicKey):
            key.verify(profile.signature_value, signed_info, padding.PKCS1v15(), hash_class())
            return
        if kind == "ecdsa" and isinstance(key, ec.EllipticCurvePublicKey):
            # XMLDSig carries ECDSA as r‖s, each padded to the curve's byte length (RFC 4051 §3.3).
            half = (key.curve.key_size + 7) // 8
            if len(profile.signature_value) != 2 * half:
                raise _Rejected("bad-signature", "the ECDSA SignatureValue has the wrong length for the key")
            r = int.from_bytes(profile.signature_value[:half], "big")
            s = int.from_bytes(profile.signature_value[half:], "big")
            key.verify(utils.encode_dss_signature(r, s), signed_info, ec.ECDSA(hash_class()))
            return
    except CryptoInvalidSignature:
        raise _Rejected("bad-signature", "SignatureValue does not verify with the signer's key") from None
    raise _Rejected("bad-signature", f"the signer's {type(key).__name__} does not fit {profile.signature_method}")


def _verify_omitted_uri(
    root: etree._Element,
    signature: etree._Element,
    placement: SignaturePlacement,
    profile: _Profile,
    leaf: x509.Certificate,
) -> bytes:
    """Compatibility mode: a Reference without ``URI``, read as the enveloping document.

    signxml refuses such a Reference, and adding ``URI=""`` to a copy is no way round it: SignedInfo is what the
    signature covers, so it is verified exactly as received. The pre-check has already pinned everything else to
    the profile, so what remains is small: SignatureValue over the canonical SignedInfo first, then the digest of
    the document with the signature removed (enveloped-signature) in exclusive C14N without comments.
    """
    signed_info = signature.find("ds:SignedInfo", _NS)
    if signed_info is None:  # excluded by the pre-check; kept for the type checker
        raise _Rejected("signature-structure", "no SignedInfo")
    _check_signature_value(leaf, profile, _c14n(signed_info, profile.c14n_method, profile.c14n_prefixes))
    document = copy.deepcopy(root)
    enveloped = _locate(document, placement)
    parent = enveloped.getparent()
    if parent is None:  # excluded by _locate
        raise _Rejected("signature-location", "the signature is the root")
    # Removing an element must not take the text that follows it (its tail) along: that text is signed content.
    previous = enveloped.getprevious()
    if enveloped.tail:
        if previous is not None:
            previous.tail = (previous.tail or "") + enveloped.tail
        else:
            parent.text = (parent.text or "") + enveloped.tail
    parent.remove(enveloped)
    payload = _c14n(document, EXC_C14N, profile.transform_prefixes)
    if not hmac.compare_digest(_digest(payload, profile.digest_method), profile.digest_value):
        raise _Rejected("digest-mismatch", "the document's digest does not match the Reference's DigestValue")
    return payload


def _result(
    integrity: Check, assessment: SignerAssessment | None, signed: bytes | None, at: datetime
) -> SignatureVerification:
    if assessment is None:
        skipped = not_checked(f"integrity check failed first ({integrity.reason})")
        return SignatureVerification(integrity, skipped, skipped, None, None, None, (), at)
    return assessment.verification(integrity, signed, at)


def _verify(
    data: bytes, anchors: TrustAnchors, placement: SignaturePlacement, at: datetime, allow_omitted_uri: bool
) -> SignatureVerification:
    try:
        root = parse_xml(data).getroot()
    except DocumentError as exc:
        return _result(Check.invalid("malformed-document", str(exc)), None, None, at)
    try:
        signature = _locate(root, placement)
        _check_unique_ids(root)
        certificates = _read_key_info(signature)
    except _Rejected as exc:
        return _result(Check.invalid(exc.reason, exc.detail), None, None, at)

    # Who signed is answered whatever the integrity outcome: the answers are independent.
    assessment = assess_signer(certificates, anchors, at)
    leaf = assessment.signer
    if leaf is None:  # assess_signer only returns no signer for an empty list, excluded above
        return _result(Check.invalid("no-certificate", "no signer certificate"), assessment, None, at)
    try:
        profile = _precheck(signature, allow_omitted_uri=allow_omitted_uri)
        if profile.reference_uri is None:
            signed = _verify_omitted_uri(root, signature, placement, profile, leaf)
        else:
            signed = _verify_with_signxml(root, placement, leaf, at)
    except _Rejected as exc:
        return _result(Check.invalid(exc.reason, exc.detail), assessment, None, at)
    except Exception as exc:  # whatever a library raises, the answer is ERROR, never VALID
        return _result(Check.error("internal-error", f"{type(exc).__name__}: {exc}"), assessment, None, at)
    detail = "compatibility mode: Reference without URI" if profile.reference_uri is None else ""
    return _result(Check.valid(detail), assessment, signed, at)


def verify_xml(
    data: bytes,
    anchors: TrustAnchors,
    placement: SignaturePlacement,
    *,
    at: datetime | None = None,
    allow_omitted_reference_uri: bool = False,
) -> SignatureVerification:
    """Verify the one enveloped signature of ``data`` against one partner's ``anchors`` as of ``at`` (default now).

    Never raises for a bad document: every outcome is a :class:`SignatureVerification` whose ``ok`` is True only
    when integrity, trust and validity are all VALID. Read the document's data from ``signed_xml`` only.
    """
    moment = utc(at) if at is not None else datetime.now(UTC)
    try:
        return _verify(data, anchors, placement, moment, allow_omitted_reference_uri)
    except Exception as exc:  # a bug must surface as ERROR, not as an exception mid-workflow
        failed = Check.error("internal-error", f"{type(exc).__name__}: {exc}")
        return SignatureVerification(failed, failed, failed, None, None, None, (), moment)
