"""The project's certificate-of-origin business rules (schemas/resources/coo/coo-rules.sch).

Rule-level unit tests in the EN 16931 style (a rule expected to fire, or to pass), whole fixtures with the exact
findings expected, and the property every Schematron finding must have: a line number in the submitted document.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from schemas.catalog import load_catalog
from schemas.engine import ValidationEngine
from tests.conftest import FIXTURES
from tests.schemas.vefa import RuleTest, read_test_sets

COO = FIXTURES / "coo"
UNIT_TESTS = list(read_test_sets(COO / "unit-tests"))
INVALID = sorted(p for p in (COO / "invalid").glob("*.xml"))


def test_every_rule_has_a_firing_and_a_passing_unit_test() -> None:
    sch = (Path(__file__).parents[2] / "schemas/resources/coo/coo-rules.sch").read_text()
    import re

    rule_ids = set(re.findall(r'\bid="(COO-[A-Z0-9-]+)"', sch))
    assert rule_ids, "no rule ids found in coo-rules.sch"
    firing = {t.rule for t in UNIT_TESTS if t.expectation in ("error", "warning")}
    passing = {t.rule for t in UNIT_TESTS if t.expectation == "success"}
    assert rule_ids <= firing, f"rules without a firing test: {sorted(rule_ids - firing)}"
    assert rule_ids <= passing, f"rules without a passing test: {sorted(rule_ids - passing)}"


@pytest.mark.parametrize("test", UNIT_TESTS, ids=lambda t: f"{t.case_id}-{t.expectation}-{t.rule}")
def test_coo_rule_unit_test(engine: ValidationEngine, test: RuleTest) -> None:
    report = engine.validate(test.document, "ubl-coo-2.4")
    fired = {(f.rule, f.severity) for f in report.findings if f.area == "schematron"}
    if test.expectation == "success":
        assert test.rule not in {rule for rule, _ in fired}
    else:
        assert (test.rule, test.expectation) in fired, sorted(fired)


@pytest.mark.parametrize("items", [10, 200, 2000])
def test_generated_certificates_are_valid(engine: ValidationEngine, items: int) -> None:
    report = engine.validate((COO / f"valid-{items}.xml").read_bytes())
    assert report.format.id == "ubl-coo-2.4"
    assert report.valid, [(f.rule, f.line, f.message) for f in report.findings[:5]]
    assert [s.step for s in report.steps] == [
        "xsd:UBL-CertificateOfOrigin-2.4.xsd",
        "schematron:coo-rules.sch",
    ]


@pytest.mark.parametrize("path", INVALID, ids=lambda p: p.stem)
def test_invalid_certificate_gives_exactly_the_expected_findings(engine: ValidationEngine, path: Path) -> None:
    expected = json.loads(path.with_suffix(".expected.json").read_text())
    report = engine.validate(path.read_bytes())
    actual = sorted((f.rule, f.line, f.severity) for f in report.findings if f.severity in ("error", "warning"))
    assert actual == sorted((e["rule"], e["line"], e["severity"]) for e in expected)
    assert report.valid is not any(e["severity"] == "error" for e in expected)


def test_every_schematron_finding_carries_a_line_number(engine: ValidationEngine) -> None:
    findings = [f for path in INVALID for f in engine.validate(path.read_bytes()).findings if f.area == "schematron"]
    assert findings
    assert all(f.line is not None and f.line > 0 for f in findings), [f for f in findings if not f.line]


def test_an_issue_date_is_judged_by_the_latest_date_on_earth() -> None:
    # 2026-12-01 has begun in Kiribati (UTC+14) at 10:00 UTC on 30 November, but not at 09:59.
    data = (COO / "valid-10.xml").read_bytes()
    import re

    dated = re.sub(
        rb"<cbc:IssueDate>[^<]*</cbc:IssueDate>", b"<cbc:IssueDate>2026-12-01</cbc:IssueDate>", data, count=1
    )
    before = ValidationEngine(load_catalog(), clock=lambda: datetime(2026, 11, 30, 9, 59, tzinfo=UTC))
    after = ValidationEngine(load_catalog(), clock=lambda: datetime(2026, 11, 30, 10, 0, tzinfo=UTC))
    assert not before.validate(dated).valid
    assert after.validate(dated).valid


def test_a_finding_in_a_namespace_with_an_apostrophe_still_has_a_line(engine: ValidationEngine) -> None:
    data = (COO / "valid-10.xml").read_bytes()
    odd = data.replace(b"</cbc:ID>", b'</cbc:ID><x:y xmlns:x="urn:a\'b"><cbc:Note currencyID="ZZZ"/></x:y>', 1)
    report = engine.validate(odd, "ubl-coo-2.4")
    located = [f for f in report.findings if f.area == "schematron"]
    assert [f.rule for f in located] == ["COO-CUR-01"]
    assert located[0].line == data[: data.index(b"</cbc:ID>")].count(b"\n") + 1  # the line of the inserted element


def test_findings_per_schematron_are_bounded(engine: ValidationEngine) -> None:
    data = (COO / "valid-10.xml").read_bytes()
    bad_amounts = b"".join(b'<cbc:Note currencyID="ZZZ"/>' for _ in range(2500))
    flooded = data.replace(b"</cbc:ID>", b"</cbc:ID>" + bad_amounts, 1)
    report = engine.validate(flooded, "ubl-coo-2.4")
    schematron = [f for f in report.findings if f.area == "schematron"]
    assert len(schematron) == 1001
    assert schematron[-1].severity == "info"
    assert "more finding(s)" in schematron[-1].message
    assert not report.valid
