"""Keys and certificates, the XMLDSig and JWS profiles (DESIGN §6, ADR 0009). No web framework, no database.

key = load_signing_key(key_pem, cert_pem)                        # once per process: a PEM parse is the slow part
signed = sign_xml(data, key, SignaturePlacement.UBL_EXTENSION)
result = verify_xml(signed, anchors, SignaturePlacement.UBL_EXTENSION, at=received_at)
result.ok; result.signed_xml                                     # read the document's data from signed_xml only
jws = sign_json(value, key); verify_json(value, jws, anchors)
headers |= sign_request(method=..., target_uri=..., headers=headers, body=body, key=key, now=now)  # wire protocol v1
"""

from signing.httpsig import HttpSignatureVerification, content_digest, sign_request, verify_request
from signing.jws import sign_json, verify_json
from signing.keys import DevPki, SigningKey, generate_dev_pki, load_signing_key
from signing.xmldsig import (
    Check,
    CheckStatus,
    SignaturePlacement,
    SignatureVerification,
    TrustAnchors,
    load_pem_certificates,
    sign_xml,
    verify_xml,
)

__all__ = [
    "Check",
    "CheckStatus",
    "DevPki",
    "HttpSignatureVerification",
    "SignaturePlacement",
    "SignatureVerification",
    "SigningKey",
    "TrustAnchors",
    "content_digest",
    "generate_dev_pki",
    "load_pem_certificates",
    "load_signing_key",
    "sign_json",
    "sign_request",
    "sign_xml",
    "verify_json",
    "verify_request",
    "verify_xml",
]
