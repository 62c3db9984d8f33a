"""The shape of a verification answer, shared by the XMLDSig and JWS verifiers."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

__all__ = ["Check", "CheckStatus", "SignatureVerification", "certificate_sha256", "not_checked"]


class CheckStatus(StrEnum):
    VALID = "VALID"
    INVALID = "INVALID"
    ERROR = "ERROR"


@dataclass(frozen=True)
class Check:
    """One answer: ``reason`` is a stable code (see ADR 0009) that callers may branch on; ``detail`` is for people."""

    status: CheckStatus
    reason: str
    detail: str = ""

    @classmethod
    def valid(cls, detail: str = "") -> Check:
        return cls(CheckStatus.VALID, "ok", detail)

    @classmethod
    def invalid(cls, reason: str, detail: str = "") -> Check:
        return cls(CheckStatus.INVALID, reason, detail)

    @classmethod
    def error(cls, reason: str, detail: str = "") -> Check:
        return cls(CheckStatus.ERROR, reason, detail)

    def as_dict(self) -> dict[str, str]:
        return {"status": self.status.value, "reason": self.reason, "detail": self.detail}


def not_checked(why: str) -> Check:
    """A check that could not run because an earlier step rejected the input: never VALID, and says why."""
    return Check.invalid("not-checked", why)


def certificate_sha256(certificate: x509.Certificate) -> str:
    return hashlib.sha256(certificate.public_bytes(serialization.Encoding.DER)).hexdigest()


@dataclass(frozen=True)
class SignatureVerification:
    """Three independent answers about one signature, plus what is needed to re-check it later.

    ``signed_xml`` holds only the bytes the signature covers (the canonical form that was digested); data must be
    read from it, never from the submitted document, which may carry unsigned content beside the signed data.
    """

    integrity: Check
    trust: Check
    validity: Check
    signer: x509.Certificate | None
    anchor: str | None
    signed_xml: bytes | None
    chain: tuple[x509.Certificate, ...]
    verified_at: datetime

    @property
    def failure(self) -> Check | None:
        """The first check that does not hold, in the order integrity, trust, validity; None when all hold."""
        return next((c for c in (self.integrity, self.trust, self.validity) if c.status is not CheckStatus.VALID), None)

    @property
    def ok(self) -> bool:
        return self.failure is None

    def as_dict(self) -> dict[str, Any]:
        signer: dict[str, str] | None = None
        if self.signer is not None:
            signer = {
                "subject": self.signer.subject.rfc4514_string(),
                "issuer": self.signer.issuer.rfc4514_string(),
                # Hex, not a JSON number: serials are up to 20 bytes and would lose precision in JavaScript clients.
                "serial": format(self.signer.serial_number, "x"),
                "sha256": certificate_sha256(self.signer),
                "not_before": self.signer.not_valid_before_utc.isoformat(),
                "not_after": self.signer.not_valid_after_utc.isoformat(),
            }
        return {
            "integrity": self.integrity.as_dict(),
            "trust": {**self.trust.as_dict(), "anchor": self.anchor},
            "validity": self.validity.as_dict(),
            "signer": signer,
            "verified_at": self.verified_at.isoformat(),
        }
