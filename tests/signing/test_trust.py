"""THREATS rows 9 and 10: who may sign for a partner, and whether the certificate is usable at the time asked.

Each case signs correctly (integrity VALID), so the reason reported is the trust or validity problem alone.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from lxml import etree

from signing import (
    CheckStatus,
    SignaturePlacement,
    SignatureVerification,
    SigningKey,
    TrustAnchors,
    sign_xml,
    verify_xml,
)
from signing.trust import assess_signer, pick_leaf
from tests.signing.conftest import (
    COO,
    NOW,
    Pki,
    edit_signed,
    find_signature,
    issue_leaf,
    make_ca,
    make_crl,
    replace_certificates,
    signing_key,
)

UBL = SignaturePlacement.UBL_EXTENSION


def _verify(key: SigningKey, anchors: TrustAnchors, *, at: datetime) -> SignatureVerification:
    signed = sign_xml(COO.read_bytes(), key, UBL)
    result = verify_xml(signed, anchors, UBL, at=at)
    assert result.integrity.status is CheckStatus.VALID, "the signature itself is intact in every trust test"
    return result


def _at_now(key: SigningKey, anchors: TrustAnchors) -> SignatureVerification:
    return _verify(key, anchors, at=NOW)


# --- row 9: whose certificate ---------------------------------------------------------------------------------------


def test_a_self_made_ca_is_untrusted(pki: Pki) -> None:
    result = _at_now(pki.self_made, pki.anchors)
    assert result.trust.status is CheckStatus.INVALID
    assert result.trust.reason == "untrusted-root"
    assert result.anchor is None
    assert not result.ok


def test_a_self_made_ca_copying_our_ca_name_is_a_forged_issuer(pki: Pki) -> None:
    assert pki.impostor.certificate.issuer == pki.ours.certificate.subject
    result = _at_now(pki.impostor, pki.anchors)
    assert result.trust.reason == "forged-issuer"
    assert not result.ok


def test_another_partners_valid_certificate_is_untrusted_here(pki: Pki) -> None:
    result = _at_now(pki.partner_b, pki.anchors)
    assert result.trust.status is CheckStatus.INVALID
    assert result.trust.reason == "untrusted-signer"
    assert result.validity.status is CheckStatus.VALID, "the certificate is fine, it just is not this partner's"
    # On its own partner's channel the same signature is accepted.
    theirs = TrustAnchors("ID", ca_certificates=(pki.partner_b_ca,))
    accepted = _at_now(pki.partner_b, theirs)
    assert accepted.ok
    assert accepted.anchor is not None
    assert accepted.anchor.startswith("ID:")


def test_the_untrusted_cases_have_distinct_reasons(pki: Pki) -> None:
    reasons = {_at_now(key, pki.anchors).trust.reason for key in (pki.self_made, pki.impostor, pki.partner_b)}
    assert reasons == {"untrusted-root", "forged-issuer", "untrusted-signer"}


def test_no_anchors_trust_nobody(pki: Pki) -> None:
    result = _at_now(pki.ec, TrustAnchors("TH"))
    assert result.trust.reason == "no-anchors"


def test_a_chain_through_a_ca_that_may_not_issue_cas_is_invalid(pki: Pki) -> None:
    result = _at_now(pki.path_too_long, pki.anchors)
    assert result.trust.reason == "chain-invalid"
    assert "path length" in result.trust.detail


def test_certificates_in_any_order_in_keyinfo(pki: Pki) -> None:
    signed = sign_xml(COO.read_bytes(), pki.intermediate_signed, UBL)

    def reverse(root: etree._Element) -> None:
        replace_certificates(
            find_signature(root), [*pki.intermediate_signed.chain, pki.intermediate_signed.certificate]
        )

    result = verify_xml(edit_signed(signed, reverse), pki.anchors, UBL, at=NOW)
    assert result.ok, result.as_dict()
    assert result.signer == pki.intermediate_signed.certificate


def test_pick_leaf_finds_the_end_entity() -> None:
    root = make_ca(x509.Name.from_rfc4514_string("CN=r"))
    intermediate = make_ca(x509.Name.from_rfc4514_string("CN=i"), issuer=root)
    _, leaf = issue_leaf(intermediate, "leaf")
    assert pick_leaf([root.certificate, leaf, intermediate.certificate])[0] == leaf
    assert pick_leaf([leaf])[0] == leaf
    with pytest.raises(ValueError, match="no certificate"):
        pick_leaf([])


# --- pinned certificates -----------------------------------------------------------------------------------------


def test_a_pinned_certificate_is_trusted_without_its_ca(pki: Pki) -> None:
    anchors = TrustAnchors("TH", pinned_certificates=(pki.ec.certificate,))
    result = _at_now(pki.ec, anchors)
    assert result.ok
    assert result.anchor == f"TH:{pki.ec.key_id}"
    assert result.chain == (pki.ec.certificate,)


def test_a_pinned_certificate_does_not_extend_to_others(pki: Pki) -> None:
    anchors = TrustAnchors("TH", pinned_certificates=(pki.ec.certificate,))
    assert _at_now(pki.rsa, anchors).trust.reason == "untrusted-signer"


@pytest.mark.parametrize(
    ("which", "reason"),
    [("expired", "expired"), ("not_yet_valid", "not-yet-valid"), ("no_digital_signature", "key-usage")],
)
def test_pinned_certificates_get_the_window_and_key_usage_checks(pki: Pki, which: str, reason: str) -> None:
    # signxml skips these checks for a pinned x509_cert; the project's own code must not.
    key: SigningKey = getattr(pki, which)
    result = _at_now(key, TrustAnchors("TH", pinned_certificates=(key.certificate,)))
    assert result.trust.status is CheckStatus.VALID
    assert result.validity.status is CheckStatus.INVALID
    assert result.validity.reason == reason


# --- row 10: usable at the time asked ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("which", "reason"),
    [
        ("expired", "expired"),
        ("not_yet_valid", "not-yet-valid"),
        ("no_digital_signature", "key-usage"),
        ("revoked", "revoked"),
    ],
)
def test_each_validity_problem_has_its_own_reason(pki: Pki, which: str, reason: str) -> None:
    result = _at_now(getattr(pki, which), pki.anchors_with_crl)
    assert result.trust.status is CheckStatus.VALID, "the certificate does chain to the partner's CA"
    assert result.validity.status is CheckStatus.INVALID
    assert result.validity.reason == reason
    assert not result.ok


def test_the_validity_reasons_are_distinct(pki: Pki) -> None:
    keys = (pki.expired, pki.not_yet_valid, pki.no_digital_signature, pki.revoked)
    reasons = [_at_now(key, pki.anchors_with_crl).validity.reason for key in keys]
    assert len(set(reasons)) == 4


def test_an_expired_certificate_verifies_as_of_a_time_it_was_valid(pki: Pki) -> None:
    # Re-checking a stored document: the verification time is when it was received, not today.
    at = pki.expired.certificate.not_valid_after_utc - timedelta(days=10)
    assert _verify(pki.expired, pki.anchors, at=at).ok


def test_a_revocation_after_the_verification_time_does_not_count(pki: Pki) -> None:
    before = pki.revoked_at - timedelta(hours=1)
    assert _verify(pki.revoked, pki.anchors_with_crl, at=before).ok
    assert _verify(pki.revoked, pki.anchors_with_crl, at=pki.revoked_at).validity.reason == "revoked"


def test_without_a_crl_the_revoked_certificate_is_not_known_to_be_revoked(pki: Pki) -> None:
    assert _at_now(pki.revoked, pki.anchors).ok


def test_a_crl_past_its_next_update_is_unavailable(pki: Pki) -> None:
    next_update = pki.crl.next_update_utc
    assert next_update is not None
    result = _verify(pki.ec, pki.anchors_with_crl, at=next_update + timedelta(days=1))
    assert result.validity.reason == "crl-unavailable"


def test_a_crl_signed_by_another_key_is_unavailable(pki: Pki) -> None:
    forged = make_crl(
        pki.ours,
        [],
        last_update=NOW - timedelta(days=1),
        next_update=NOW + timedelta(days=6),
        signer=ec.generate_private_key(ec.SECP256R1()),
    )
    anchors = TrustAnchors("TH", ca_certificates=(pki.ours.certificate,), crls=(forged,))
    result = _at_now(pki.revoked, anchors)
    assert result.validity.reason == "crl-unavailable"


def test_a_signer_whose_issuer_has_no_crl_is_unavailable_once_crls_are_configured(pki: Pki) -> None:
    result = _at_now(pki.intermediate_signed, pki.anchors_with_crl)
    assert result.validity.reason == "crl-unavailable"


def test_an_issuer_outside_its_window_makes_the_signer_invalid() -> None:
    old_ca = make_ca(x509.Name.from_rfc4514_string("CN=TH old CA"), not_after=NOW + timedelta(days=5))
    key = signing_key(old_ca, "TH signer", not_before=NOW - timedelta(days=20), not_after=NOW + timedelta(days=20))
    anchors = TrustAnchors("TH", ca_certificates=(old_ca.certificate,))
    at = NOW + timedelta(days=10)  # the leaf is still valid, its CA expired on NOW + 5 days
    result = _verify(key, anchors, at=at)
    assert result.validity.reason == "expired"
    assert "issuer" in result.validity.detail


# --- rotation ----------------------------------------------------------------------------------------------------


def test_a_document_signed_with_the_previous_key_still_verifies(pki: Pki) -> None:
    assert pki.previous.certificate.issuer == pki.ec.certificate.issuer
    assert pki.previous.certificate.not_valid_before_utc < pki.ec.certificate.not_valid_before_utc
    old = _at_now(pki.previous, pki.anchors)
    new = _at_now(pki.ec, pki.anchors)
    assert old.ok
    assert new.ok
    assert old.anchor == new.anchor, "both chain to the same CA"
    assert old.signer != new.signer


# --- the shared assessment, as the JWS verifier uses it ------------------------------------------------------------


def test_assess_signer_answers_without_any_signature(pki: Pki) -> None:
    assessment = assess_signer([pki.rsa.certificate], pki.anchors, NOW)
    assert assessment.trust.status is CheckStatus.VALID
    assert assessment.validity.status is CheckStatus.VALID
    assert assessment.anchor == f"TH:{pki.ours.certificate.fingerprint(hashes.SHA256()).hex()}"
    empty = assess_signer([], pki.anchors, NOW)
    assert empty.trust.reason == "no-certificate"
    assert empty.signer is None


def test_the_key_that_verifies_is_the_certificate_judged_for_trust(pki: Pki) -> None:
    """A trusted certificate swapped into KeyInfo cannot vouch for a signature made by another (untrusted) key."""
    signed = sign_xml(COO.read_bytes(), pki.partner_b, UBL)

    def swap(root: etree._Element) -> None:
        replace_certificates(find_signature(root), [pki.ec.certificate])

    result = verify_xml(edit_signed(signed, swap), pki.anchors, UBL, at=NOW)
    assert result.trust.status is CheckStatus.VALID, "the swapped-in certificate is ours"
    assert result.integrity.reason == "bad-signature", "but it did not make this signature"
    assert not result.ok
