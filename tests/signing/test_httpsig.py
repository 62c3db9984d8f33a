"""Wire protocol v1 request signatures (RFC 9421, RFC 9530): known answers, round trips, and every refusal.

Forged requests are built here by hand — the signature base written out line by line, signatures made with
``cryptography`` — independently of signing.httpsig. So the tests also show that a request signed by another
implementation of the profile verifies, and that an attacker holding a key the receiver trusts still cannot get a
request past the profile (a component left uncovered, a parameter added, a window stretched).
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature
from cryptography.hazmat.primitives.serialization import Encoding, load_pem_public_key
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

from signing import (
    CheckStatus,
    HttpSignatureVerification,
    SigningKey,
    TrustAnchors,
    content_digest,
    sign_request,
    verify_request,
)
from signing.httpsig import ALGORITHMS, COVERED_COMPONENTS, PARAMETERS, signature_base
from tests.signing.conftest import NOW, Pki

METHOD = "POST"
TARGET = "https://gateway.customs.example.id/v1/inbox"
BODY = b'<?xml version="1.0"?>\n<Certificate id="TH-D-2026-0014873"/>\n'
APPLICATION: dict[str, str] = {
    "Content-Type": "application/xml",
    "Message-ID": "2f6b1c8e-7a4d-4f0b-9d8e-5c3a1b2e4f60",
    "Date": "Sun, 01 Mar 2026 12:00:00 GMT",
    "From": "TH",
    "To": "ID",
    "Document-Type": "ubl-coo-2.1",
    "Exchange-Protocol": "1",
    "Audit-Checkpoint": "1842 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
}
ALL_COMPONENTS = (*COVERED_COMPONENTS, "audit-checkpoint")
ALGORITHM = {"rsa": "rsa-pss-sha512", "ec": "ecdsa-p256-sha256"}
KINDS = ["rsa", "ec"]


@dataclass(frozen=True)
class Partner:
    anchors: TrustAnchors
    rsa: SigningKey
    ec: SigningKey


@pytest.fixture(scope="module")
def thailand(pki: Pki) -> Partner:
    """The sending gateway: the development PKI's RSA-3072 and P-256 keys under its CA."""
    return Partner(anchors=pki.anchors, rsa=pki.rsa, ec=pki.ec)


@pytest.fixture(scope="module")
def indonesia(pki: Pki) -> tuple[TrustAnchors, SigningKey]:
    """Another partner with a perfectly valid P-256 key of its own, under its own CA."""
    return TrustAnchors("ID", ca_certificates=(pki.partner_b_ca,)), pki.partner_b


# ----- requests, and building them by hand -----------------------------------------------------------------


@dataclass(frozen=True)
class Request:
    """A received request as the verifier sees it: header lines in order, duplicates kept."""

    headers: tuple[tuple[str, str], ...]
    body: bytes = BODY
    method: str = METHOD
    target_uri: str = TARGET

    def header(self, name: str) -> str:
        return next(value for key, value in self.headers if key.lower() == name.lower())

    def with_header(self, name: str, value: str | None) -> Request:
        """Every line of ``name`` replaced, where the first one stood, by one line of ``value`` (None: removed)."""
        lines: list[tuple[str, str]] = []
        for key, old in self.headers:
            if key.lower() != name.lower():
                lines.append((key, old))
            elif value is not None and all(k.lower() != name.lower() for k, _ in lines):
                lines.append((key, value))
        if value is not None and all(key.lower() != name.lower() for key, _ in self.headers):
            lines.append((name, value))
        return replace(self, headers=tuple(lines))

    def plus(self, name: str, value: str) -> Request:
        return replace(self, headers=(*self.headers, (name, value)))


def signed(key: SigningKey, headers: Mapping[str, str] = APPLICATION) -> Request:
    added = sign_request(method=METHOD, target_uri=TARGET, headers=headers, body=BODY, key=key, now=NOW)
    return Request((*headers.items(), *added.items()))


def verify(
    request: Request, anchors: TrustAnchors, *, at: timedelta = timedelta(0), max_skew: timedelta | None = None
) -> HttpSignatureVerification:
    skew = {} if max_skew is None else {"max_skew": max_skew}
    return verify_request(
        method=request.method,
        target_uri=request.target_uri,
        headers=request.headers,
        body=request.body,
        anchors=anchors,
        at=NOW + at,
        **skew,
    )


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _der(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(Encoding.DER)


def certificate_field(*certificates: x509.Certificate) -> str:
    return ", ".join(f":{_b64(_der(certificate))}:" for certificate in certificates)


def params_for(key: SigningKey, **changes: int | str | None) -> dict[str, int | str]:
    """The profile's parameters for a signature made at NOW; a change of None leaves that parameter out."""
    kind = "rsa" if isinstance(key.private_key, rsa.RSAPrivateKey) else "ec"
    created = int(NOW.timestamp())
    params: dict[str, int | str] = {
        "created": created,
        "expires": created + 300,
        "keyid": key.key_id,
        "alg": ALGORITHM[kind],
        "tag": "trade-gateway/1",
    }
    for name, value in changes.items():
        if value is None:
            params.pop(name)
        else:
            params[name] = value
    return params


def hand_base(components: Sequence[str], values: Mapping[str, str], signature_params: str) -> bytes:
    """RFC 9421 §2.5 written out: one ``"name": value`` line per component, then the parameters line."""
    lines = [f'"{name}": {values[name]}' for name in components]
    lines.append(f'"@signature-params": {signature_params}')
    return "\n".join(lines).encode("ascii")


def raw_signature(private_key: object, scheme: str, base: bytes) -> bytes:
    if scheme == "rsa-pss-sha512":
        assert isinstance(private_key, rsa.RSAPrivateKey)
        return private_key.sign(base, padding.PSS(padding.MGF1(hashes.SHA512()), 64), hashes.SHA512())
    if scheme == "rsa-pss-sha512-salt-32":
        assert isinstance(private_key, rsa.RSAPrivateKey)
        return private_key.sign(base, padding.PSS(padding.MGF1(hashes.SHA512()), 32), hashes.SHA512())
    if scheme == "rsa-v1_5-sha256":
        assert isinstance(private_key, rsa.RSAPrivateKey)
        return private_key.sign(base, padding.PKCS1v15(), hashes.SHA256())
    assert isinstance(private_key, ec.EllipticCurvePrivateKey)
    der = private_key.sign(base, ec.ECDSA(hashes.SHA256()))
    if scheme == "ecdsa-der":
        return der
    assert scheme == "ecdsa-p256-sha256"
    r, s = decode_dss_signature(der)
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")  # RFC 9421 §3.3.4: r || s, not DER


def forge(
    key: SigningKey,
    *,
    components: Sequence[str] = ALL_COMPONENTS,
    params: Mapping[str, int | str] | None = None,
    raw_params: str | None = None,
    headers: Mapping[str, str] = APPLICATION,
    digest: str | None = None,
    certificates: Sequence[x509.Certificate] | None = None,
    scheme: str | None = None,
    label: str = "tgw",
) -> Request:
    """A request signed the way another implementation (or an attacker with ``key``) would, with any shape.

    ``raw_params`` replaces the serialised parameters verbatim (for shapes a dict cannot express); ``scheme`` says
    how the signature bytes are made, by default as ``alg`` asks.
    """
    params = params_for(key) if params is None else params
    fields = {name.lower(): value for name, value in headers.items()}
    fields["content-digest"] = digest if digest is not None else f"sha-256=:{_b64(hashlib.sha256(BODY).digest())}:"
    fields["signer-certificate"] = certificate_field(*(certificates or (key.certificate, *key.chain)))
    serialised = "".join(
        f";{name}={value}" if isinstance(value, int) else f';{name}="{value}"' for name, value in params.items()
    )
    inner = (
        "("
        + " ".join(f'"{name}"' for name in components)
        + ")"
        + (raw_params if raw_params is not None else serialised)
    )
    values = {**fields, "@method": METHOD, "@target-uri": TARGET}
    base = hand_base(components, {name: values.get(name, "") for name in components}, inner)
    signature = raw_signature(key.private_key, scheme or str(params.get("alg")), base)
    added = {
        "Content-Digest": fields["content-digest"],
        "Signer-Certificate": fields["signer-certificate"],
        "Signature-Input": f"{label}={inner}",
        "Signature": f"{label}=:{_b64(signature)}:",
    }
    return Request((*headers.items(), *added.items()))


def refused(result: HttpSignatureVerification) -> str:
    """The reason of a refusal, after checking that it is one."""
    assert not result.ok
    if result.verification.integrity.status is not CheckStatus.VALID:
        assert result.verification.signed_xml is None  # nothing is reported as signed by a broken signature
    return result.reason


# ----- known answers -----------------------------------------------------------------------------------------

# RFC 9421 Appendix B.1.3, test-key-ecc-p256 (public half).
RFC_9421_P256 = b"""-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEqIVYZVLCrPZHGHjP17CTW0/+D9Lf
w0EkjqF7xB4FivAxzic30tMM4GF+hR6Dxh71Z50VGGdldkkDXZCnTNnoXQ==
-----END PUBLIC KEY-----
"""
# RFC 9421 Appendix B.2.4: the response's covered components and the published signature.
RFC_9421_B24_DIGEST = (
    "sha-512=:mEWXIS7MaLRuGgxOBdODa3xqM1XdEvxoYhvlCFJ41QJgJc4GTsPp29l5oGX69wWdXymyU0rjJuahq4l5aGgfLQ==:"
)
RFC_9421_B24_COMPONENTS = [
    ("@status", "200"),
    ("content-type", "application/json"),
    ("content-digest", RFC_9421_B24_DIGEST),
    ("content-length", "23"),
]
RFC_9421_B24_SIGNATURE = "wNmSUAhwb5LxtOtOpNa6W5xj067m5hFrj0XQ4fvpaCLx0NKocgPquLgyahnzDnDAUy5eCdlYUEkLIj+32oiasw=="


def test_rfc_9421_b_2_4_the_published_ecdsa_signature_verifies_over_the_base_built_here() -> None:
    base = signature_base(RFC_9421_B24_COMPONENTS, {"created": 1618884473, "keyid": "test-key-ecc-p256"})
    public_key = load_pem_public_key(RFC_9421_P256)
    assert isinstance(public_key, ec.EllipticCurvePublicKey)
    signature = base64.b64decode(RFC_9421_B24_SIGNATURE)
    r, s = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
    algorithm = ALGORITHMS["ecdsa-p256-sha256"]

    assert base == (
        b'"@status": 200\n'
        b'"content-type": application/json\n'
        b'"content-digest": sha-512=:mEWXIS7MaLRuGgxOBdODa3xqM1XdEvxoYhvlCFJ41QJgJc4GTsPp29l5oGX69wWdXymyU0rjJu'
        b"ahq4l5aGgfLQ==:\n"
        b'"content-length": 23\n'
        b'"@signature-params": ("@status" "content-type" "content-digest" "content-length")'
        b';created=1618884473;keyid="test-key-ecc-p256"'
    )
    assert algorithm.verify(public_key, signature, base)
    assert not algorithm.verify(public_key, signature, base.replace(b"200", b"201"))
    # The same r and s in DER, as a generic ECDSA API would hand them over: not the RFC 9421 encoding.
    assert not algorithm.verify(public_key, encode_dss_signature(r, s), base)


def test_rfc_9530_content_digest_example() -> None:
    assert content_digest(b'{"hello": "world"}\n') == "sha-256=:RK/0qy18MlBSVnWgjwz6lZEWjP/lF5HF9bvEF8FabDg=:"


def test_the_base_of_a_wire_request_lists_each_component_then_the_parameters() -> None:
    values = {
        "@method": "POST",
        "@target-uri": TARGET,
        "content-digest": "sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:",
        "content-type": "application/xml",
        "message-id": "2f6b1c8e-7a4d-4f0b-9d8e-5c3a1b2e4f60",
        "date": "Sun, 01 Mar 2026 12:00:00 GMT",
        "from": "TH",
        "to": "ID",
        "document-type": "ubl-coo-2.1",
        "exchange-protocol": "1",
        "signer-certificate": ":MIIB:, :MIIC:",
    }
    params: dict[str, int | str] = {
        "created": 1772366400,
        "expires": 1772366700,
        "keyid": "ab12",
        "alg": "ecdsa-p256-sha256",
        "tag": "trade-gateway/1",
    }

    base = signature_base(list(values.items()), params)

    assert base.decode("ascii") == (
        '"@method": POST\n'
        '"@target-uri": https://gateway.customs.example.id/v1/inbox\n'
        '"content-digest": sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:\n'
        '"content-type": application/xml\n'
        '"message-id": 2f6b1c8e-7a4d-4f0b-9d8e-5c3a1b2e4f60\n'
        '"date": Sun, 01 Mar 2026 12:00:00 GMT\n'
        '"from": TH\n'
        '"to": ID\n'
        '"document-type": ubl-coo-2.1\n'
        '"exchange-protocol": 1\n'
        '"signer-certificate": :MIIB:, :MIIC:\n'
        '"@signature-params": ("@method" "@target-uri" "content-digest" "content-type" "message-id" "date" "from" '
        '"to" "document-type" "exchange-protocol" "signer-certificate");created=1772366400;expires=1772366700'
        ';keyid="ab12";alg="ecdsa-p256-sha256";tag="trade-gateway/1"'
    )


@pytest.mark.parametrize(
    ("components", "problem"),
    [
        ([("date", "a\nb")], "line break"),
        ([("from", "Thaïland")], "non-ASCII"),
        ([("Date", "x")], "lowercase"),
        ([("date", "x"), ("date", "y")], "twice"),
    ],
)
def test_a_base_that_cannot_be_written_is_a_value_error(components: list[tuple[str, str]], problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        signature_base(components, {"created": 1})


# ----- signing ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_sign_request_adds_the_four_headers_of_the_profile(thailand: Partner, kind: str) -> None:
    key: SigningKey = getattr(thailand, kind)
    added = sign_request(method=METHOD, target_uri=TARGET, headers=APPLICATION, body=BODY, key=key, now=NOW)

    created = int(NOW.timestamp())
    assert set(added) == {"Content-Digest", "Signer-Certificate", "Signature-Input", "Signature"}
    assert added["Content-Digest"] == content_digest(BODY)
    assert added["Signer-Certificate"] == certificate_field(key.certificate, *key.chain)
    assert added["Signature-Input"] == (
        "tgw=(" + " ".join(f'"{name}"' for name in ALL_COMPONENTS) + ")"
        f';created={created};expires={created + 300};keyid="{key.key_id}";alg="{ALGORITHM[kind]}"'
        ';tag="trade-gateway/1"'
    )
    assert added["Signature"].startswith("tgw=:")
    assert added["Signature"].endswith(":")


@pytest.mark.parametrize("kind", KINDS)
def test_the_signature_is_over_exactly_the_rfc_9421_base_written_out_by_hand(thailand: Partner, kind: str) -> None:
    key: SigningKey = getattr(thailand, kind)
    added = sign_request(method=METHOD, target_uri=TARGET, headers=APPLICATION, body=BODY, key=key, now=NOW)
    values = {name.lower(): value for name, value in {**APPLICATION, **added}.items()}
    values |= {"@method": METHOD, "@target-uri": TARGET}
    base = hand_base(ALL_COMPONENTS, values, added["Signature-Input"].removeprefix("tgw="))
    signature = base64.b64decode(added["Signature"].removeprefix("tgw=:").removesuffix(":"))

    public_key = key.certificate.public_key()
    if isinstance(public_key, rsa.RSAPublicKey):
        public_key.verify(signature, base, padding.PSS(padding.MGF1(hashes.SHA512()), 64), hashes.SHA512())
    else:
        assert isinstance(public_key, ec.EllipticCurvePublicKey)
        assert len(signature) == 64
        r, s = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
        public_key.verify(encode_dss_signature(r, s), base, ec.ECDSA(hashes.SHA256()))


def test_without_an_audit_checkpoint_it_is_not_listed(thailand: Partner) -> None:
    headers = {name: value for name, value in APPLICATION.items() if name != "Audit-Checkpoint"}
    request = signed(thailand.ec, headers)

    assert "audit-checkpoint" not in request.header("Signature-Input")
    assert verify(request, thailand.anchors).covered_components == COVERED_COMPONENTS


@pytest.mark.parametrize("name", [name for name in APPLICATION if name != "Audit-Checkpoint"])
def test_signing_without_an_application_header_is_a_value_error(thailand: Partner, name: str) -> None:
    headers = {key: value for key, value in APPLICATION.items() if key != name}

    with pytest.raises(ValueError, match=name.lower()):
        sign_request(method=METHOD, target_uri=TARGET, headers=headers, body=BODY, key=thailand.ec, now=NOW)
    empty = {**APPLICATION, name: "  "}
    with pytest.raises(ValueError, match=name.lower()):
        sign_request(method=METHOD, target_uri=TARGET, headers=empty, body=BODY, key=thailand.ec, now=NOW)


@pytest.mark.parametrize(
    ("method", "target_uri", "extra", "message"),
    [
        ("POST", TARGET, {"Content-Digest": "sha-256=:AA==:"}, "made by sign_request"),
        ("POST", TARGET, {"signature": "x=:AA==:"}, "made by sign_request"),
        ("POST", TARGET, {"message-id": "again"}, "given twice"),
        ("POST", TARGET, {"From": "TH\r\nX-Injected: 1"}, "line break"),
        ("POST", "/v1/inbox", {}, "absolute URI"),
        ("POST", TARGET + "#fragment", {}, "absolute URI"),
        ("PO ST", TARGET, {}, "HTTP method"),
    ],
)
def test_signing_a_request_the_profile_cannot_carry_is_a_value_error(
    thailand: Partner, method: str, target_uri: str, extra: dict[str, str], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        sign_request(
            method=method, target_uri=target_uri, headers={**APPLICATION, **extra}, body=BODY, key=thailand.ec, now=NOW
        )


def test_a_key_outside_the_profile_does_not_sign(pki: Pki) -> None:
    p384 = ec.generate_private_key(ec.SECP384R1())
    key = SigningKey(private_key=p384, certificate=pki.ec.certificate)

    with pytest.raises(ValueError, match="P-256"):
        sign_request(method=METHOD, target_uri=TARGET, headers=APPLICATION, body=BODY, key=key, now=NOW)


# ----- round trips -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_a_signed_request_verifies_with_the_signer_assessed_as_for_documents(thailand: Partner, kind: str) -> None:
    key: SigningKey = getattr(thailand, kind)
    request = signed(key)

    result = verify(request, thailand.anchors)

    assert result.ok, result.as_dict()
    assert result.reason == "ok"
    assert result.key_id == key.key_id
    assert result.covered_components == ALL_COMPONENTS
    verification = result.verification
    assert verification.integrity.reason == verification.trust.reason == verification.validity.reason == "ok"
    assert verification.signer == key.certificate
    ca = thailand.anchors.ca_certificates[0]
    assert verification.anchor == f"TH:{hashlib.sha256(_der(ca)).hexdigest()}"
    assert verification.chain == (key.certificate, ca)
    assert verification.verified_at == NOW
    # What the signature covers is reported: the signature base, the request line and headers as signed.
    assert verification.signed_xml is not None
    assert verification.signed_xml.startswith(f'"@method": POST\n"@target-uri": {TARGET}\n'.encode())
    assert result.as_dict()["reason"] == "ok"
    assert result.as_dict()["key_id"] == key.key_id


@pytest.mark.parametrize("kind", KINDS)
def test_a_request_signed_by_another_implementation_verifies(thailand: Partner, kind: str) -> None:
    key: SigningKey = getattr(thailand, kind)

    assert verify(forge(key), thailand.anchors).ok


def test_components_in_another_order_and_extra_covered_headers_are_accepted(thailand: Partner) -> None:
    headers = {**APPLICATION, "Content-Length": str(len(BODY))}
    components = ("content-length", *reversed(ALL_COMPONENTS))

    result = verify(forge(thailand.ec, components=components, headers=headers), thailand.anchors)

    assert result.ok, result.as_dict()
    assert result.covered_components == components


def test_an_intermediate_travels_in_signer_certificate_after_the_leaf(pki: Pki) -> None:
    key = pki.intermediate_signed
    request = signed(key)

    assert request.header("Signer-Certificate") == certificate_field(key.certificate, *key.chain)
    assert verify(request, pki.anchors).ok


def test_safe_transformations_of_the_headers_do_not_matter(thailand: Partner) -> None:
    request = signed(thailand.rsa)
    # Names in other cases, whitespace around values, another order, a header added by a proxy on the way.
    moved = tuple(reversed([(name.upper(), f" \t{value}  ") for name, value in request.headers]))
    transformed = replace(request, headers=(*moved, ("Via", "1.1 proxy.example")))

    assert verify(transformed, thailand.anchors).ok
    assert verify_request(
        method=METHOD,
        target_uri=TARGET,
        headers=dict(request.headers),
        body=BODY,
        anchors=thailand.anchors,
        at=NOW,
    ).ok


def test_another_signature_beside_ours_is_left_alone(thailand: Partner) -> None:
    request = signed(thailand.ec)
    # A proxy's own signature, in the same fields: RFC 9421 allows several labels; only tgw is ours to judge.
    both = request.with_header(
        "Signature-Input", request.header("Signature-Input") + ', proxy=("@method");created=1'
    ).with_header("Signature", request.header("Signature") + ", proxy=:AAAA:")

    assert verify(both, thailand.anchors).ok


def test_content_digest_may_carry_other_algorithms_beside_sha_256(thailand: Partner) -> None:
    digest = f"sha-512=:{_b64(hashlib.sha512(BODY).digest())}:, {content_digest(BODY)}"

    assert verify(forge(thailand.ec, digest=digest), thailand.anchors).ok


# ----- tampering: each change refused with its reason --------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_a_changed_body_byte_is_a_content_digest_mismatch(thailand: Partner, kind: str) -> None:
    request = signed(getattr(thailand, kind))
    body = bytearray(BODY)
    body[10] ^= 0x01

    result = verify(replace(request, body=bytes(body)), thailand.anchors)

    assert refused(result) == "content-digest-mismatch"
    # The headers are intact and the signer is who they say: only the body is wrong.
    assert result.verification.trust.status is CheckStatus.VALID


@pytest.mark.parametrize("kind", KINDS)
def test_a_new_body_with_its_own_digest_breaks_the_signature(thailand: Partner, kind: str) -> None:
    body = BODY.replace(b"0014873", b"0014874")
    request = replace(signed(getattr(thailand, kind)), body=body).with_header("Content-Digest", content_digest(body))

    assert refused(verify(request, thailand.anchors)) == "signature-invalid"


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("name", list(APPLICATION))
def test_each_changed_covered_header_breaks_the_signature(thailand: Partner, kind: str, name: str) -> None:
    request = signed(getattr(thailand, kind))

    changed = request.with_header(name, request.header(name) + "0")

    assert refused(verify(changed, thailand.anchors)) == "signature-invalid"


@pytest.mark.parametrize("name", [*APPLICATION, "Content-Digest", "Signer-Certificate"])
def test_a_removed_covered_header_is_missing(thailand: Partner, name: str) -> None:
    # Audit-Checkpoint too: it is optional for the request, but this signature lists it, so it must be there.
    request = signed(thailand.ec).with_header(name, None)

    assert refused(verify(request, thailand.anchors)) == "missing-header"


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(
    ("method", "target_uri"),
    [
        ("PUT", TARGET),
        (METHOD, "https://gateway.customs.example.id/v1/inbox2"),
        (METHOD, "https://attacker.example/v1/inbox"),
        (METHOD, "http://gateway.customs.example.id/v1/inbox"),
        (METHOD, TARGET + "?replay=1"),
    ],
    ids=["method", "path", "host", "scheme", "query"],
)
def test_another_method_or_target_uri_breaks_the_signature(
    thailand: Partner, kind: str, method: str, target_uri: str
) -> None:
    request = replace(signed(getattr(thailand, kind)), method=method, target_uri=target_uri)

    assert refused(verify(request, thailand.anchors)) == "signature-invalid"


@pytest.mark.parametrize("kind", KINDS)
def test_a_flipped_signature_byte_is_an_invalid_signature(thailand: Partner, kind: str) -> None:
    request = signed(getattr(thailand, kind))
    signature = bytearray(base64.b64decode(request.header("Signature").removeprefix("tgw=:").removesuffix(":")))
    signature[len(signature) // 2] ^= 0x40

    flipped = request.with_header("Signature", f"tgw=:{_b64(bytes(signature))}:")

    assert refused(verify(flipped, thailand.anchors)) == "signature-invalid"


@pytest.mark.parametrize(("kind", "other"), [("rsa", "ec"), ("ec", "rsa")])
def test_an_alg_swapped_to_the_other_algorithm_does_not_fit_the_key(thailand: Partner, kind: str, other: str) -> None:
    request = signed(getattr(thailand, kind))
    swapped = request.with_header(
        "Signature-Input", request.header("Signature-Input").replace(ALGORITHM[kind], ALGORITHM[other])
    )

    assert refused(verify(swapped, thailand.anchors)) == "algorithm-key-mismatch"


@pytest.mark.parametrize("alg", ["hmac-sha256", "ed25519", "rsa-v1_5-sha256", "ecdsa-p384-sha384", "ES256", "none"])
def test_an_algorithm_outside_the_allow_list_is_refused_before_any_key(thailand: Partner, alg: str) -> None:
    request = forge(thailand.ec, params=params_for(thailand.ec, alg=alg), scheme="ecdsa-p256-sha256")

    assert refused(verify(request, thailand.anchors)) == "unsupported-algorithm"


@pytest.mark.parametrize(
    ("kind", "scheme"),
    [("rsa", "rsa-v1_5-sha256"), ("rsa", "rsa-pss-sha512-salt-32"), ("ec", "ecdsa-der")],
    ids=["pkcs1-v1_5", "pss-salt-32", "ecdsa-der"],
)
def test_a_signature_made_another_way_than_alg_says_is_invalid(thailand: Partner, kind: str, scheme: str) -> None:
    request = forge(getattr(thailand, kind), scheme=scheme)

    assert refused(verify(request, thailand.anchors)) == "signature-invalid"


def test_a_keyid_not_naming_the_certificate_is_refused(thailand: Partner) -> None:
    request = forge(thailand.ec, params=params_for(thailand.ec, keyid=thailand.rsa.key_id))

    result = verify(request, thailand.anchors)

    assert refused(result) == "keyid-mismatch"
    assert result.key_id == thailand.rsa.key_id  # what the request claimed, for the log


def test_signer_certificate_swapped_for_another_partners_is_refused(
    thailand: Partner, indonesia: tuple[TrustAnchors, SigningKey]
) -> None:
    _, other = indonesia
    request = signed(thailand.ec).with_header("Signer-Certificate", certificate_field(other.certificate))

    assert refused(verify(request, thailand.anchors)) == "keyid-mismatch"


def test_another_certificate_claimed_but_signed_with_another_key_is_invalid(
    thailand: Partner, indonesia: tuple[TrustAnchors, SigningKey]
) -> None:
    _, other = indonesia
    # The attacker signs with their own key while presenting (and naming) the Thai certificate.
    impersonation = SigningKey(private_key=other.private_key, certificate=thailand.ec.certificate)

    assert refused(verify(forge(impersonation), thailand.anchors)) == "signature-invalid"


def test_another_partners_intact_request_is_intact_but_untrusted(
    thailand: Partner, indonesia: tuple[TrustAnchors, SigningKey]
) -> None:
    anchors, other = indonesia
    request = signed(other)

    result = verify(request, thailand.anchors)

    assert refused(result) == "untrusted-signer"
    assert result.verification.integrity.status is CheckStatus.VALID
    assert result.verification.signer == other.certificate
    assert verify(request, anchors).ok


def test_the_leaf_must_come_first_in_signer_certificate(thailand: Partner) -> None:
    ca = thailand.anchors.ca_certificates[0]
    request = forge(thailand.ec, certificates=(ca, thailand.ec.certificate))

    assert refused(verify(request, thailand.anchors)) == "signer-certificate-order"


SIGNERS = [
    # (Pki attribute, the anchors to use, the reason of the refusal), as for a document signed by the same key
    ("previous", "anchors", "ok"),
    ("partner_b", "anchors", "untrusted-signer"),
    ("self_made", "anchors", "untrusted-root"),
    ("impostor", "anchors", "forged-issuer"),
    ("path_too_long", "anchors", "chain-invalid"),
    ("expired", "anchors", "expired"),
    ("not_yet_valid", "anchors", "not-yet-valid"),
    ("no_digital_signature", "anchors", "key-usage"),
    ("revoked", "anchors_with_crl", "revoked"),
    ("ec", "anchors_with_crl", "ok"),
]


@pytest.mark.parametrize(("signer", "anchors_name", "reason"), SIGNERS, ids=[s[0] for s in SIGNERS])
def test_trust_and_validity_of_the_signer_answer_as_for_documents(
    pki: Pki, signer: str, anchors_name: str, reason: str
) -> None:
    key: SigningKey = getattr(pki, signer)
    anchors: TrustAnchors = getattr(pki, anchors_name)

    result = verify(signed(key), anchors)

    assert result.reason == reason, result.as_dict()
    assert result.verification.integrity.status is CheckStatus.VALID


# ----- time ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("at", "reason"),
    [
        (timedelta(seconds=-300), "ok"),  # the receiver's clock 5 minutes behind: within the skew
        (timedelta(seconds=-301), "signature-not-yet-valid"),
        (timedelta(seconds=600), "ok"),  # expires (created + 300) plus the skew
        (timedelta(seconds=601), "signature-expired"),
        (timedelta(days=1), "signature-expired"),
    ],
)
def test_created_and_expires_are_judged_at_receipt_with_the_skew(thailand: Partner, at: timedelta, reason: str) -> None:
    assert verify(signed(thailand.ec), thailand.anchors, at=at).reason == reason


def test_the_skew_is_the_callers_to_choose(thailand: Partner) -> None:
    request = signed(thailand.ec)

    assert verify(request, thailand.anchors, at=timedelta(seconds=301), max_skew=timedelta(0)).reason == (
        "signature-expired"
    )
    assert verify(request, thailand.anchors, at=timedelta(seconds=-1), max_skew=timedelta(0)).reason == (
        "signature-not-yet-valid"
    )


@pytest.mark.parametrize("lifetime", [301, 86400, 0, -1])
def test_a_window_other_than_up_to_five_minutes_is_refused(thailand: Partner, lifetime: int) -> None:
    created = int(NOW.timestamp())
    request = forge(thailand.ec, params=params_for(thailand.ec, expires=created + lifetime))

    assert refused(verify(request, thailand.anchors)) == "signature-lifetime"


# ----- the profile: parameters, label and covered components -------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("dropped", COVERED_COMPONENTS)
def test_a_trusted_signer_leaving_a_mandatory_component_uncovered_is_refused(
    thailand: Partner, kind: str, dropped: str
) -> None:
    key: SigningKey = getattr(thailand, kind)
    request = forge(key, components=[name for name in ALL_COMPONENTS if name != dropped])

    result = verify(request, thailand.anchors)

    assert refused(result) == "component-not-covered"
    assert dropped in result.detail


def test_an_audit_checkpoint_added_on_the_way_is_not_covered(thailand: Partner) -> None:
    headers = {name: value for name, value in APPLICATION.items() if name != "Audit-Checkpoint"}
    request = signed(thailand.ec, headers).plus("Audit-Checkpoint", APPLICATION["Audit-Checkpoint"])

    assert refused(verify(request, thailand.anchors)) == "component-not-covered"


def test_a_trusted_signer_leaving_the_audit_checkpoint_uncovered_is_refused(thailand: Partner) -> None:
    request = forge(thailand.ec, components=COVERED_COMPONENTS)

    assert refused(verify(request, thailand.anchors)) == "component-not-covered"


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"nonce": "abc"}, "unknown-parameter"),
        ({"created": None}, "missing-parameter"),
        ({"expires": None}, "missing-parameter"),
        ({"keyid": None}, "missing-parameter"),
        ({"alg": None}, "missing-parameter"),
        ({"tag": None}, "missing-parameter"),
        ({"tag": "trade-gateway/2"}, "wrong-tag"),
        ({"tag": "another-app"}, "wrong-tag"),
        ({"created": "1772366400"}, "malformed-signature-input"),
        ({"keyid": 1234}, "malformed-signature-input"),
    ],
    ids=lambda value: str(value),
)
def test_parameters_outside_the_profile_are_refused(
    thailand: Partner, changes: dict[str, int | str | None], reason: str
) -> None:
    request = forge(thailand.ec, params=params_for(thailand.ec, **changes), scheme="ecdsa-p256-sha256")

    assert refused(verify(request, thailand.anchors)) == reason


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (
            ';created=?1;expires=1772366700;keyid="{kid}";alg="ecdsa-p256-sha256";tag="trade-gateway/1"',
            "malformed-signature-input",
        ),
        (
            ';created=1772366400;created=1772366400;expires=1772366700;keyid="{kid}";alg="ecdsa-p256-sha256"'
            ';tag="trade-gateway/1"',
            "malformed-signature-input",
        ),
        (
            ';created=1772366400;expires=1772366700;keyid="{kid}";alg=ecdsa-p256-sha256;tag="trade-gateway/1"',
            "malformed-signature-input",
        ),
    ],
    ids=["boolean-created", "repeated-created", "alg-as-token"],
)
def test_parameters_of_the_wrong_structured_type_are_refused(thailand: Partner, raw: str, reason: str) -> None:
    request = forge(thailand.ec, raw_params=raw.replace("{kid}", thailand.ec.key_id), scheme="ecdsa-p256-sha256")

    assert refused(verify(request, thailand.anchors)) == reason


@pytest.mark.parametrize(
    ("inner", "reason"),
    [
        ('"content-type";sf', "unsupported-component"),
        ('"signature";key="tgw"', "unsupported-component"),
        ('"@authority"', "unsupported-component"),
        ('"@signature-params"', "unsupported-component"),
        ('"@method"', "malformed-signature-input"),  # listed twice
        ('"Content-Type"', "malformed-signature-input"),
        ("date", "malformed-signature-input"),  # a Token, not a String
    ],
)
def test_covered_components_outside_the_profile_are_refused(thailand: Partner, inner: str, reason: str) -> None:
    request = signed(thailand.ec)
    value = request.header("Signature-Input").replace('("@method"', f'("@method" {inner}', 1)

    assert refused(verify(request.with_header("Signature-Input", value), thailand.anchors)) == reason


@pytest.mark.parametrize(
    "edit",
    [
        lambda r: r.with_header("Signature-Input", r.header("Signature-Input").replace("tgw=", "other=")).with_header(
            "Signature", r.header("Signature").replace("tgw=", "other=")
        ),
        lambda r: r.with_header("Signature", None),
        lambda r: r.with_header("Signature-Input", None),
        lambda r: r.with_header("Signature", r.header("Signature").replace("tgw=", "other=")),
    ],
    ids=["another-label-only", "no-signature", "no-signature-input", "signature-under-another-label"],
)
def test_a_request_without_a_tgw_signature_is_refused(thailand: Partner, edit: Callable[[Request], Request]) -> None:
    request = edit(signed(thailand.ec))

    result = verify(request, thailand.anchors)

    assert refused(result) == "missing-signature"
    assert result.verification.trust.reason == "not-checked"


def test_a_forged_request_with_only_another_label_is_refused(thailand: Partner) -> None:
    assert refused(verify(forge(thailand.ec, label="sig1"), thailand.anchors)) == "missing-signature"


# ----- hostile headers ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "duplicate",
    [
        lambda r: r.plus("Message-ID", "0d9e8f7a-0000-4000-8000-000000000000"),
        lambda r: r.plus("message-id", r.header("Message-ID")),  # even the same value, in another case
        lambda r: r.plus("To", "MY"),
        lambda r: r.plus("Content-Digest", r.header("Content-Digest")),
        lambda r: r.plus("Signer-Certificate", r.header("Signer-Certificate")),
        lambda r: r.plus("Audit-Checkpoint", "1843 00"),
    ],
    ids=["message-id", "message-id-same-value", "to", "content-digest", "signer-certificate", "audit-checkpoint"],
)
def test_a_repeated_single_valued_header_is_refused(thailand: Partner, duplicate: Callable[[Request], Request]) -> None:
    request = duplicate(signed(thailand.ec))

    assert refused(verify(request, thailand.anchors)) == "duplicate-header"


def test_a_mapping_cannot_hide_a_repeated_header_by_case(thailand: Partner) -> None:
    headers = {**dict(signed(thailand.ec).headers), "message-id": "0d9e8f7a-0000-4000-8000-000000000000"}

    result = verify_request(
        method=METHOD, target_uri=TARGET, headers=headers, body=BODY, anchors=thailand.anchors, at=NOW
    )

    assert refused(result) == "duplicate-header"


def test_a_repeated_signature_label_is_refused(thailand: Partner) -> None:
    request = signed(thailand.ec)
    # Structured fields let the last of two members win; two parsers could then judge different signatures.
    twice = request.plus("Signature-Input", request.header("Signature-Input").replace("expires=", "expires=1"))

    assert refused(verify(twice, thailand.anchors)) == "malformed-signature-input"


@pytest.mark.parametrize(
    ("name", "size", "reason"),
    [
        ("Signature-Input", 8 * 1024, "header-too-large"),
        ("Signature", 8 * 1024, "header-too-large"),
        ("From", 8 * 1024, "header-too-large"),
        ("Signer-Certificate", 64 * 1024 + 16, "header-too-large"),
    ],
)
def test_oversized_headers_are_refused_before_they_are_parsed(
    thailand: Partner, name: str, size: int, reason: str
) -> None:
    request = signed(thailand.ec)
    padding_member = ', pad="' + "x" * size + '"' if name.startswith("Signature") else " " + "x" * size
    if name == "Signer-Certificate":
        padding_member = ", :" + "A" * size + ":"

    result = verify(request.with_header(name, request.header(name) + padding_member), thailand.anchors)

    assert refused(result) == reason


def test_more_certificates_than_a_signature_may_carry_are_refused(thailand: Partner) -> None:
    leaf = thailand.ec.certificate
    request = forge(thailand.ec, certificates=(leaf,) * 5)

    assert refused(verify(request, thailand.anchors)) == "signer-certificate-too-large"


def test_an_oversized_certificate_is_refused(thailand: Partner) -> None:
    request = signed(thailand.ec)
    huge = request.header("Signer-Certificate") + ", :" + _b64(b"\x30" * (16 * 1024 + 1)) + ":"

    assert refused(verify(request.with_header("Signer-Certificate", huge), thailand.anchors)) == (
        "signer-certificate-too-large"
    )


GARBAGE = [
    ("Signature-Input", "tgw=(", "malformed-signature-input"),
    ("Signature-Input", "tgw=:AAAA:", "malformed-signature-input"),
    ("Signature-Input", 'tgw=("@method");created=1772366400;keyid="é"', "malformed-signature-input"),
    ("Signature-Input", "\x00\x01\x02", "malformed-signature-input"),
    ("Signature", "tgw=(", "malformed-signature"),
    ("Signature", 'tgw=("x")', "malformed-signature"),
    ("Signature", "tgw=::", "malformed-signature"),
    ("Signature", "tgw=:AAAA:;p=1", "malformed-signature"),
    ("Signature", "tgw=:%%%%:", "malformed-signature"),
    ("Signature", "tgw=:AAAA:", "signature-invalid"),
    ("Signer-Certificate", ":AAAA:", "malformed-signer-certificate"),
    ("Signer-Certificate", "MIIB", "malformed-signer-certificate"),
    ("Signer-Certificate", "", "malformed-signer-certificate"),
    ("Signer-Certificate", "(:AAAA:)", "malformed-signer-certificate"),
    ("Content-Digest", "sha-256", "signature-invalid"),  # covered: any change breaks the signature first
    ("From", "TH\r\nX-Injected: 1", "malformed-header"),
    ("From", "Thaïland", "malformed-header"),
    ("Date", "\x00", "malformed-header"),
]


@pytest.mark.parametrize(("name", "value", "reason"), GARBAGE, ids=[f"{n}-{i}" for i, (n, _, _) in enumerate(GARBAGE)])
def test_garbage_in_a_header_is_a_refusal_with_its_reason(
    thailand: Partner, name: str, value: str, reason: str
) -> None:
    request = signed(thailand.ec).with_header(name, value)

    assert refused(verify(request, thailand.anchors)) == reason


@pytest.mark.parametrize(
    ("digest", "reason"),
    [
        (f"sha-512=:{_b64(hashlib.sha512(BODY).digest())}:", "unsupported-digest-algorithm"),
        ("md5=:AAAAAAAAAAAAAAAAAAAAAA==:", "unsupported-digest-algorithm"),
        ("sha-256=:AAAA:", "malformed-content-digest"),
        ("sha-256=abc", "malformed-content-digest"),
        ("sha-256=:AAAA", "malformed-content-digest"),
        (f"sha-256=:{_b64(hashlib.sha256(b'another body').digest())}:", "content-digest-mismatch"),
    ],
)
def test_a_signed_content_digest_without_a_matching_sha_256_is_refused(
    thailand: Partner, digest: str, reason: str
) -> None:
    # Signed honestly by a trusted key: the refusal comes from the digest itself.
    request = forge(thailand.ec, digest=digest)

    result = verify(request, thailand.anchors)

    assert refused(result) == reason
    assert result.verification.trust.status is CheckStatus.VALID


@pytest.mark.parametrize(
    ("method", "target_uri"), [("POST", "/v1/inbox"), ("POST\r\n", TARGET), ("POST", "https://gw.example/ space")]
)
def test_a_request_line_the_base_cannot_carry_is_refused(thailand: Partner, method: str, target_uri: str) -> None:
    request = replace(signed(thailand.ec), method=method, target_uri=target_uri)

    assert refused(verify(request, thailand.anchors)) == "malformed-request"


# ----- never raising ---------------------------------------------------------------------------------------

HEADER_VALUES = st.one_of(
    st.text(max_size=300),
    st.binary(max_size=300).map(lambda data: data.decode("latin-1")),
    # Text made of structured-field punctuation gets past the tokenizer more often than random text does.
    st.text(alphabet='tgw=()":;,@- ?*0123456789abcdefAZ+/\\é\t', max_size=200),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    name=st.sampled_from(
        ["Signature-Input", "Signature", "Signer-Certificate", "Content-Digest", "Message-ID", "Audit-Checkpoint"]
    ),
    value=HEADER_VALUES,
    extra=st.lists(st.tuples(st.text(max_size=20), HEADER_VALUES), max_size=3),
)
def test_random_header_values_are_refused_with_a_reason_never_an_exception(
    thailand: Partner, name: str, value: str, extra: list[tuple[str, str]]
) -> None:
    request = signed(thailand.ec)
    assume(value.strip(" \t") != request.header(name))
    hostile = request.with_header(name, value)

    result = verify(replace(hostile, headers=(*hostile.headers, *extra)), thailand.anchors)

    event(result.reason)  # --hypothesis-show-statistics: how far into verification the values got
    assert not result.ok
    assert result.reason != "verifier-error", result.detail


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(signature_input=HEADER_VALUES, signature=HEADER_VALUES, certificate=HEADER_VALUES)
def test_random_signature_headers_alone_are_refused_never_raised(
    thailand: Partner, signature_input: str, signature: str, certificate: str
) -> None:
    headers = (
        *APPLICATION.items(),
        ("Signature-Input", signature_input),
        ("Signature", signature),
        ("Signer-Certificate", certificate),
    )

    result = verify(Request(headers), thailand.anchors)

    event(result.reason)  # --hypothesis-show-statistics: how far into verification the values got
    assert not result.ok
    assert result.reason != "verifier-error", result.detail


CREATED = int(NOW.timestamp())
STRING_VALUE = st.text(alphabet="abcdef0123456789-/ _=:tgwxyz", max_size=70)


@st.composite
def signature_inputs(draw: st.DrawFn, key_id: str) -> str:
    """Well-formed Signature-Input fields with any components and parameters: they get past the parser."""
    pool = [*ALL_COMPONENTS, "@authority", "@path", "content-length", "Date", "x-absent"]
    # Often the profile's own lists, reordered: the verifier then has to look past the parser and the parameters.
    components = draw(st.one_of(st.permutations(ALL_COMPONENTS), st.lists(st.sampled_from(pool), max_size=14)))
    times = st.one_of(st.sampled_from([CREATED, CREATED + 300, CREATED + 301, CREATED - 1000]), st.integers(-9, 10**12))
    values: dict[str, st.SearchStrategy[int | str | bool]] = {
        "created": st.one_of(st.just(CREATED), times, st.booleans(), STRING_VALUE),
        "expires": st.one_of(st.just(CREATED + 300), times, st.booleans(), STRING_VALUE),
        "keyid": st.one_of(st.just(key_id), STRING_VALUE, st.integers()),
        "alg": st.one_of(st.sampled_from([*ALGORITHMS, "hmac-sha256", "ed25519"]), STRING_VALUE),
        "tag": st.one_of(st.just("trade-gateway/1"), STRING_VALUE),
        "nonce": STRING_VALUE,
    }
    names = draw(
        st.one_of(st.permutations(PARAMETERS), st.lists(st.sampled_from(list(values)), unique=True, max_size=6))
    )
    params = ""
    for name in names:
        value = draw(values[name])
        if isinstance(value, bool):
            params += f";{name}" if value else f";{name}=?0"
        elif isinstance(value, int):
            params += f";{name}={value}"
        else:
            params += f';{name}="{value}"'
    return "tgw=(" + " ".join(f'"{name}"' for name in components) + ")" + params


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), signature=st.one_of(st.none(), st.binary(min_size=1, max_size=600)))
def test_well_formed_but_wrong_signature_inputs_are_refused_never_raised(
    thailand: Partner, data: st.DataObject, signature: bytes | None
) -> None:
    request = signed(thailand.ec)
    signature_input = data.draw(signature_inputs(thailand.ec.key_id))
    assume(signature_input != request.header("Signature-Input"))
    if signature is not None:
        request = request.with_header("Signature", f"tgw=:{_b64(signature)}:")

    result = verify(request.with_header("Signature-Input", signature_input), thailand.anchors)

    event(result.reason)  # --hypothesis-show-statistics: how far into verification the values got
    assert not result.ok
    assert result.reason != "verifier-error", result.detail
