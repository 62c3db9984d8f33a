"""Detached JWS over RFC 8785 JSON: round trips, the canonical form, and every way a header can lie.

Forged JWS are built here by hand (base64url, JSON, ``cryptography`` signatures), independently of joserfc, so the
tests also show that a JWS made by another implementation of the same profile verifies.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.hazmat.primitives.serialization import Encoding

from signing import (
    CheckStatus,
    SignaturePlacement,
    SignatureVerification,
    SigningKey,
    TrustAnchors,
    sign_json,
    sign_xml,
    verify_json,
    verify_xml,
)
from tests.signing.conftest import COO, NOW, Pki

VALID = CheckStatus.VALID
INVALID = CheckStatus.INVALID

CERTIFICATE: dict[str, Any] = {
    "id": "TH-D-2026-0014873",
    "issueDate": "2026-02-12",
    "exporter": {"name": "Siam Riverside Export Co., Ltd.", "country": "TH", "tin": "0105559123457"},
    "importer": {"name": "PT Nusantara Niaga Sejahtera", "country": "ID"},
    "items": [
        {"hs": "0803.90", "description": "Bananas, fresh — Cavendish", "grossKg": 62815.7, "quantity": 10},
        {"hs": "0804.50", "description": "Mangoes 🥭", "grossKg": 1.5e3, "quantity": 2, "origin": None},
    ],
    "cumulation": False,
}


@dataclass(frozen=True)
class Partner:
    anchors: TrustAnchors
    rsa: SigningKey
    ec: SigningKey


@pytest.fixture(scope="module")
def thailand(pki: Pki) -> Partner:
    """The partner whose JSON we verify: the development PKI's RSA-3072 and P-256 keys under its CA."""
    return Partner(anchors=pki.anchors, rsa=pki.rsa, ec=pki.ec)


@dataclass(frozen=True)
class OtherPartner:
    anchors: TrustAnchors
    key: SigningKey  # P-256


@pytest.fixture(scope="module")
def indonesia(pki: Pki) -> OtherPartner:
    """Another partner with a perfectly valid key of its own, under its own CA."""
    return OtherPartner(anchors=TrustAnchors("ID", ca_certificates=(pki.partner_b_ca,)), key=pki.partner_b)


def verify(value: object, jws: str, anchors: TrustAnchors) -> SignatureVerification:
    # A fixed verification time inside every fixture certificate's window: results do not age with the calendar.
    return verify_json(value, jws, anchors, at=NOW)


# ----- building JWS by hand --------------------------------------------------------------------------------


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _x5c(*certificates: x509.Certificate) -> list[str]:
    return [base64.b64encode(c.public_bytes(Encoding.DER)).decode("ascii") for c in certificates]


def _kid(certificate: x509.Certificate) -> str:
    return hashlib.sha256(certificate.public_bytes(Encoding.DER)).hexdigest()


def _header(key: SigningKey, **changes: Any) -> dict[str, Any]:
    header: dict[str, Any] = {"alg": key.algorithm, "kid": key.key_id, "x5c": _x5c(key.certificate, *key.chain)}
    header.update(changes)
    return header


def _raw_signature(private_key: object, algorithm: str, signing_input: bytes) -> bytes:
    if algorithm == "none":
        return b""
    if isinstance(private_key, bytes):  # an HMAC secret
        return hmac.new(private_key, signing_input, hashlib.sha256).digest()
    if isinstance(private_key, rsa.RSAPrivateKey):
        return private_key.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
    assert isinstance(private_key, ec.EllipticCurvePrivateKey)
    r, s = decode_dss_signature(private_key.sign(signing_input, ec.ECDSA(hashes.SHA256())))
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")  # JWS carries ECDSA as raw r || s (RFC 7518 §3.4)


def _forge(header: dict[str, Any] | str, value: object, private_key: object, *, detached: bool = True) -> str:
    """A compact JWS over the RFC 8785 bytes of ``value``; a str header is used verbatim (e.g. duplicate members)."""
    header_text = header if isinstance(header, str) else json.dumps(header)
    header_segment = _b64url(header_text.encode("utf-8"))
    payload_segment = _b64url(_jcs(value))
    algorithm = json.loads(header_text)["alg"]
    signature = _raw_signature(private_key, algorithm, f"{header_segment}.{payload_segment}".encode("ascii"))
    return f"{header_segment}.{'' if detached else payload_segment}.{_b64url(signature)}"


def _jcs(value: object) -> bytes:
    import rfc8785

    json_value: Any = value
    return rfc8785.dumps(json_value)


def _decode_header(jws: str) -> dict[str, Any]:
    segment = jws.split(".")[0]
    decoded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    return decoded


def _statuses(result: SignatureVerification) -> tuple[str, str, str]:
    return result.integrity.status.value, result.trust.status.value, result.validity.status.value


# ----- round trips -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["rsa", "ec"])
def test_a_signed_value_verifies_on_all_three_checks(thailand: Partner, kind: str) -> None:
    key: SigningKey = getattr(thailand, kind)
    jws = sign_json(CERTIFICATE, key)

    result = verify(CERTIFICATE, jws, thailand.anchors)

    assert result.ok, result.as_dict()
    assert result.integrity.reason == result.trust.reason == result.validity.reason == "ok"
    assert result.signer == key.certificate
    assert result.anchor == f"TH:{_kid(thailand.anchors.ca_certificates[0])}"
    assert result.chain == (key.certificate, thailand.anchors.ca_certificates[0])
    assert result.signed_xml == _jcs(CERTIFICATE)  # what the signature covers: the canonical JSON bytes


@pytest.mark.parametrize(("kind", "algorithm"), [("rsa", "RS256"), ("ec", "ES256")])
def test_the_jws_is_detached_with_exactly_alg_kid_and_x5c(thailand: Partner, kind: str, algorithm: str) -> None:
    key: SigningKey = getattr(thailand, kind)
    jws = sign_json(CERTIFICATE, key)

    header_segment, payload_segment, signature_segment = jws.split(".")
    assert payload_segment == ""
    assert header_segment
    assert signature_segment
    assert _decode_header(jws) == {"alg": algorithm, "kid": key.key_id, "x5c": _x5c(key.certificate, *key.chain)}


@pytest.mark.parametrize("kind", ["rsa", "ec"])
def test_a_jws_made_by_another_implementation_of_the_profile_verifies(thailand: Partner, kind: str) -> None:
    key: SigningKey = getattr(thailand, kind)
    jws = _forge(_header(key), CERTIFICATE, key.private_key)

    assert verify(CERTIFICATE, jws, thailand.anchors).ok


def test_member_order_and_whitespace_of_the_received_json_do_not_matter(thailand: Partner) -> None:
    jws = sign_json(CERTIFICATE, thailand.ec)
    # The receiver parses JSON text laid out differently: keys reversed, indented, numbers written another way.
    text = json.dumps(CERTIFICATE, indent=3, ensure_ascii=True).replace("62815.7", "6.28157E4")
    received = json.loads(text, object_pairs_hook=lambda pairs: dict(reversed(pairs)))
    assert list(received) != list(CERTIFICATE)

    result = verify(received, jws, thailand.anchors)

    assert result.ok, result.as_dict()


def test_one_changed_member_breaks_integrity_but_not_trust(thailand: Partner) -> None:
    jws = sign_json(CERTIFICATE, thailand.rsa)
    changed = copy.deepcopy(CERTIFICATE)
    changed["items"][0]["quantity"] = 11

    result = verify(changed, jws, thailand.anchors)

    assert _statuses(result) == ("INVALID", "VALID", "VALID")
    assert result.integrity.reason == "bad-signature"
    assert result.signed_xml is None
    assert not result.ok


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda v: v.update(cumulation=0), id="false-becomes-0"),
        pytest.param(lambda v: v["items"][1].pop("origin"), id="null-member-dropped"),
        pytest.param(lambda v: v.update(extra=None), id="member-added"),
        pytest.param(lambda v: v["items"].reverse(), id="array-reordered"),
    ],
)
def test_changes_of_meaning_are_not_normalised_away(thailand: Partner, change: Callable[[Any], object]) -> None:
    jws = sign_json(CERTIFICATE, thailand.ec)
    changed = copy.deepcopy(CERTIFICATE)
    change(changed)

    assert verify(changed, jws, thailand.anchors).integrity.reason == "bad-signature"


# ----- refused headers: each with its own reason -----------------------------------------------------------


def _alg_none(th: Partner, other: OtherPartner) -> str:
    return _forge(_header(th.rsa, alg="none"), CERTIFICATE, None)


def _hs256_with_the_public_certificate(th: Partner, other: OtherPartner) -> str:
    # Algorithm confusion: the verifier's "public key" used as an HMAC secret.
    secret = th.rsa.certificate.public_bytes(Encoding.PEM)
    return _forge(_header(th.rsa, alg="HS256"), CERTIFICATE, secret)


def _kid_of_another_key(th: Partner, other: OtherPartner) -> str:
    return _forge(_header(th.rsa, kid=th.ec.key_id), CERTIFICATE, th.rsa.private_key)


def _x5c_of_the_partner_signed_by_another_key(th: Partner, other: OtherPartner) -> str:
    # Another partner's key signs, but the header claims the Thai certificate (kid consistent with it).
    return _forge(_header(th.ec), CERTIFICATE, other.key.private_key)


def _alg_not_matching_the_key(th: Partner, other: OtherPartner) -> str:
    return _forge(
        _header(th.ec, alg="RS256", x5c=_x5c(th.ec.certificate), kid=th.ec.key_id), CERTIFICATE, th.rsa.private_key
    )


def _crit_extension(th: Partner, other: OtherPartner) -> str:
    return _forge(_header(th.ec, crit=["exp"], exp=1), CERTIFICATE, th.ec.private_key)


def _b64_false(th: Partner, other: OtherPartner) -> str:
    return _forge(_header(th.ec, b64=False), CERTIFICATE, th.ec.private_key)


def _embedded_jwk(th: Partner, other: OtherPartner) -> str:
    return _forge(_header(th.ec, jwk={"kty": "EC"}), CERTIFICATE, th.ec.private_key)


def _payload_attached(th: Partner, other: OtherPartner) -> str:
    return _forge(_header(th.ec), CERTIFICATE, th.ec.private_key, detached=False)


def _duplicate_alg(th: Partner, other: OtherPartner) -> str:
    header = json.dumps(_header(th.ec))
    return _forge('{"alg":"none",' + header[1:], CERTIFICATE, th.ec.private_key)


def _ca_first_in_x5c(th: Partner, other: OtherPartner) -> str:
    ca = th.anchors.ca_certificates[0]
    return _forge(_header(th.ec, x5c=_x5c(ca, th.ec.certificate)), CERTIFICATE, th.ec.private_key)


def _five_certificates(th: Partner, other: OtherPartner) -> str:
    leaf = th.ec.certificate
    return _forge(_header(th.ec, x5c=_x5c(leaf, leaf, leaf, leaf, leaf)), CERTIFICATE, th.ec.private_key)


def _no_x5c(th: Partner, other: OtherPartner) -> str:
    header = _header(th.ec)
    del header["x5c"]
    return _forge(header, CERTIFICATE, th.ec.private_key)


REFUSALS: list[tuple[Callable[[Partner, OtherPartner], str], str]] = [
    (_alg_none, "algorithm-none"),
    (_hs256_with_the_public_certificate, "algorithm-not-allowed"),
    (_kid_of_another_key, "kid-mismatch"),
    (_x5c_of_the_partner_signed_by_another_key, "bad-signature"),
    (_alg_not_matching_the_key, "algorithm-key-mismatch"),
    (_crit_extension, "crit-not-understood"),
    (_b64_false, "header-not-allowed"),
    (_embedded_jwk, "header-not-allowed"),
    (_payload_attached, "payload-not-detached"),
    (_duplicate_alg, "malformed"),
    (_ca_first_in_x5c, "x5c-order"),
    (_five_certificates, "keyinfo-too-large"),
    (_no_x5c, "no-certificate"),
]


@pytest.mark.parametrize(("forge", "reason"), REFUSALS, ids=[forge.__name__.strip("_") for forge, _ in REFUSALS])
def test_a_header_outside_the_profile_fails_integrity_with_its_reason(
    thailand: Partner, indonesia: OtherPartner, forge: Callable[[Partner, OtherPartner], str], reason: str
) -> None:
    result = verify(CERTIFICATE, forge(thailand, indonesia), thailand.anchors)

    assert result.integrity.status is INVALID
    assert result.integrity.reason == reason, result.integrity.detail
    assert result.signed_xml is None
    assert not result.ok


def test_alg_none_hs256_kid_swap_and_a_foreign_x5c_are_told_apart(thailand: Partner, indonesia: OtherPartner) -> None:
    foreign = verify(CERTIFICATE, sign_json(CERTIFICATE, indonesia.key), thailand.anchors)
    reasons = [
        verify(CERTIFICATE, forge(thailand, indonesia), thailand.anchors).integrity.reason
        for forge in (_alg_none, _hs256_with_the_public_certificate, _kid_of_another_key)
    ]

    assert [*reasons, foreign.trust.reason] == [
        "algorithm-none",
        "algorithm-not-allowed",
        "kid-mismatch",
        "untrusted-signer",
    ]


def test_a_kid_edited_after_signing_is_refused_before_the_signature(thailand: Partner) -> None:
    jws = sign_json(CERTIFICATE, thailand.rsa)
    header = _decode_header(jws) | {"kid": thailand.ec.key_id}
    edited = _b64url(json.dumps(header).encode()) + "." + jws.split(".", 1)[1]

    assert verify(CERTIFICATE, edited, thailand.anchors).integrity.reason == "kid-mismatch"


def test_another_partners_intact_signature_is_intact_but_untrusted(thailand: Partner, indonesia: OtherPartner) -> None:
    jws = sign_json(CERTIFICATE, indonesia.key)

    result = verify(CERTIFICATE, jws, thailand.anchors)

    assert _statuses(result) == ("VALID", "INVALID", "VALID")
    assert result.trust.reason == "untrusted-signer"
    assert result.anchor is None
    assert result.signer == indonesia.key.certificate
    assert verify(CERTIFICATE, jws, indonesia.anchors).ok


# ----- validity at the verification time -------------------------------------------------------------------


def test_validity_is_judged_at_the_given_time(thailand: Partner) -> None:
    jws = sign_json(CERTIFICATE, thailand.ec)
    leaf = thailand.ec.certificate

    later = verify_json(CERTIFICATE, jws, thailand.anchors, at=leaf.not_valid_after_utc + timedelta(days=1))
    earlier = verify_json(CERTIFICATE, jws, thailand.anchors, at=leaf.not_valid_before_utc - timedelta(days=1))

    assert _statuses(later) == ("VALID", "VALID", "INVALID")
    assert later.validity.reason == "expired"
    assert _statuses(earlier) == ("VALID", "VALID", "INVALID")
    assert earlier.validity.reason == "not-yet-valid"
    assert later.verified_at == leaf.not_valid_after_utc + timedelta(days=1)


def test_the_verification_time_defaults_to_now(thailand: Partner) -> None:
    before = datetime.now(UTC)
    result = verify_json(CERTIFICATE, sign_json(CERTIFICATE, thailand.ec), thailand.anchors)

    assert before <= result.verified_at <= datetime.now(UTC)


SIGNERS = [
    # (Pki attribute, the anchors to use, the expected (trust, validity) reasons)
    ("intermediate_signed", "anchors", ("ok", "ok")),
    ("previous", "anchors", ("ok", "ok")),
    ("partner_b", "anchors", ("untrusted-signer", "ok")),
    ("self_made", "anchors", ("untrusted-root", "ok")),
    ("impostor", "anchors", ("forged-issuer", "ok")),
    ("path_too_long", "anchors", ("chain-invalid", "ok")),
    ("expired", "anchors", ("ok", "expired")),
    ("not_yet_valid", "anchors", ("ok", "not-yet-valid")),
    ("no_digital_signature", "anchors", ("ok", "key-usage")),
    ("revoked", "anchors_with_crl", ("ok", "revoked")),
    ("ec", "anchors_with_crl", ("ok", "ok")),
]


@pytest.mark.parametrize(("signer", "anchors_name", "reasons"), SIGNERS, ids=[s[0] for s in SIGNERS])
def test_trust_and_validity_answer_as_for_an_xml_signature_by_the_same_key(
    pki: Pki, signer: str, anchors_name: str, reasons: tuple[str, str]
) -> None:
    key: SigningKey = getattr(pki, signer)
    anchors: TrustAnchors = getattr(pki, anchors_name)
    placement = SignaturePlacement.UBL_EXTENSION

    as_json = verify_json(CERTIFICATE, sign_json(CERTIFICATE, key), anchors, at=NOW)
    as_xml = verify_xml(sign_xml(COO.read_bytes(), key, placement), anchors, placement, at=NOW)

    assert as_json.integrity.status is VALID
    assert (as_json.trust.reason, as_json.validity.reason) == reasons, as_json.as_dict()
    for field in ("trust", "validity"):
        assert getattr(as_json, field) == getattr(as_xml, field)
    assert (as_json.signer, as_json.anchor, as_json.chain) == (as_xml.signer, as_xml.anchor, as_xml.chain)


# ----- inputs that are not JSON or not a JWS ---------------------------------------------------------------


@pytest.mark.parametrize("value", [float("nan"), 2**60, {1: "non-string key"}, b"bytes"])
def test_a_value_without_a_canonical_form_cannot_be_signed(thailand: Partner, value: object) -> None:
    with pytest.raises(ValueError, match=r"."):
        sign_json(value, thailand.ec)


def test_a_value_without_a_canonical_form_fails_integrity(thailand: Partner) -> None:
    jws = sign_json(CERTIFICATE, thailand.ec)

    result = verify({"weight": float("inf")}, jws, thailand.anchors)

    assert result.integrity.reason == "not-canonicalizable"


@pytest.mark.parametrize(
    "jws", ["", "..", "a.b", "a.b.c.d", "!!!..sig", "e30..", "W10..AAAA", "eyJhbGciOiJFUzI1NiJ9..%"]
)
def test_garbage_is_malformed_and_never_raises(thailand: Partner, jws: str) -> None:
    result = verify(CERTIFICATE, jws, thailand.anchors)

    assert result.integrity.status is INVALID
    assert result.integrity.reason == "malformed"
    assert result.trust.status is INVALID
    assert result.trust.reason == "not-checked"
    assert result.signer is None


def test_an_oversized_header_is_refused_before_decoding(thailand: Partner) -> None:
    result = verify(CERTIFICATE, "e" * 200_000 + "..AAAA", thailand.anchors)

    assert result.integrity.reason == "keyinfo-too-large"
