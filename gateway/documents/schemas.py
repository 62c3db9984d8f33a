"""Response models of the documents API."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, Field

from schemas.report import ValidationReport

if TYPE_CHECKING:
    from gateway.documents.service import Verification


class FormatInfo(BaseModel):
    id: str
    title: str
    version: str
    syntax: str
    detected: bool = Field(description="false for rendering profiles, which are only used when named")
    precedence: int
    profile_of: str | None
    document_types: list[str]
    digest: str
    translates_to: list[str] = Field(description="formats POST /v1/translate renders a document of this format into")


class FormatList(BaseModel):
    formats: list[FormatInfo]


class CheckOut(BaseModel):
    status: Literal["VALID", "INVALID", "ERROR"]
    reason: str = Field(description="a stable code (ADR 0009), e.g. ok, digest-mismatch, untrusted-signer, expired")
    detail: str


class TrustCheckOut(CheckOut):
    anchor: str | None = Field(description="<partner>:<SHA-256 of the anchor certificate> that the signer chains to")


class SignerOut(BaseModel):
    subject: str
    issuer: str
    serial: str = Field(description="hexadecimal")
    sha256: str
    not_before: str
    not_after: str


class VerificationOut(BaseModel):
    valid: bool = Field(description="true only when integrity, trust and validity are all VALID")
    partner: str
    format: str
    integrity: CheckOut
    trust: TrustCheckOut
    validity: CheckOut
    signer: SignerOut | None
    verified_at: str
    report: ValidationReport | None = Field(description="validation of the signed content (when integrity held)")

    @classmethod
    def from_verification(cls, outcome: Verification, partner: str) -> VerificationOut:
        answer = outcome.result.as_dict()
        return cls(valid=outcome.result.ok, partner=partner, format=outcome.format_id, report=outcome.report, **answer)


class LossEntryOut(BaseModel):
    kind: Literal["dropped", "filled"] = Field(
        description="dropped: a source value the target cannot carry; filled: a target-required value the source lacked"
    )
    field: str = Field(description="canonical field path, e.g. goods_items[3].invoice_date")
    source_path: str | None = Field(description="XPath or JSON Pointer in the source, when known")
    value: str | None
    reason: str


class TranslationOut(BaseModel):
    source_format: str
    target_format: str
    media_type: str
    document: str = Field(description="the translated document, exactly as rendered (UTF-8 text)")
    losses: list[LossEntryOut] = Field(description="every value dropped or filled; empty means nothing was lost")
    report: ValidationReport = Field(description="validation of the translated document in its format")
