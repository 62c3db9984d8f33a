"""Fixtures of the adapter tests: the registered adapters and a validator that returns the error findings."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from adapters import ADAPTERS, Adapter
from schemas import Finding, ValidationEngine

Validate = Callable[[bytes, str], list[Finding]]


@pytest.fixture(scope="session")
def ubl24() -> Adapter:
    return ADAPTERS["ubl-coo-2.4"]


@pytest.fixture(scope="session")
def ubl21() -> Adapter:
    return ADAPTERS["ubl-coo-2.1"]


@pytest.fixture(scope="session")
def error_findings(engine: ValidationEngine) -> Validate:
    """Validate against a format pack (XSD, Schematron or JSON Schema) and return the error findings only.

    Warnings stay out: a certificate may earn one (an 8-digit HS code on RCEP) and still be valid.
    """

    def run(data: bytes, format_id: str) -> list[Finding]:
        report = engine.validate(data, format_id)
        return [f for f in report.findings if f.severity == "error"]

    return run
