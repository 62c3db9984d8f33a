"""The one shape of a validation report, shared by the HTTP API, the CLI and the library."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

__all__ = ["Area", "Finding", "FormatRef", "Severity", "StepResult", "ValidationReport"]

Area = Literal["xml", "schema", "schematron", "signature", "business"]
Severity = Literal["error", "warning", "info"]


class Finding(BaseModel):
    """One problem (or note) about the document, located as precisely as the step allows."""

    area: Area
    severity: Severity
    message: str
    line: int | None = Field(default=None, description="1-based line in the submitted document (XML only)")
    column: int | None = None
    path: str | None = Field(default=None, description="XPath (XML) or JSON Pointer (JSON) of the node")
    rule: str | None = Field(default=None, description="Schematron rule id, or the schema step that reported")


class FormatRef(BaseModel):
    """Which pack validated the document: id, version and the SHA-256 over the pack's files."""

    id: str
    version: str
    digest: str
    detected: bool = Field(description="false when the caller named the format")


class StepResult(BaseModel):
    """A validation step that ran, so a report shows what was checked and not only what failed."""

    step: str
    errors: int
    warnings: int


class ValidationReport(BaseModel):
    valid: bool = Field(description="true only when every step ran and none reported an error")
    format: FormatRef
    sha256: str = Field(description="SHA-256 of the exact bytes validated, lowercase hex")
    steps: list[StepResult]
    findings: list[Finding]
