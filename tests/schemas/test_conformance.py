"""Conformance on real artefacts: the EN 16931 unit tests, and every published sample of each format.

Counts are printed in the test names (pytest -v) and asserted, so a shrinking corpus cannot pass silently.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from schemas.engine import ValidationEngine
from schemas.errors import UnsupportedFormat
from tests.conftest import CORPUS, FIXTURES
from tests.schemas.vefa import RuleTest, read_test_sets

EXPECTED_FAILURES_FILE = Path(__file__).with_name("en16931-expected-failures.toml")


def _rule_outcome(engine: ValidationEngine, test: RuleTest, format_id: str) -> bool:
    """True when the rule fired (error/warning) or stayed silent (success) as the test says."""
    report = engine.validate(test.document, format_id)
    fired = {(f.rule, f.severity) for f in report.findings if f.area == "schematron"}
    rules_fired = {rule for rule, _ in fired}
    if test.expectation == "success":
        return test.rule not in rules_fired
    severity = "warning" if test.expectation == "warning" else "error"
    return (test.rule, severity) in fired


def test_en16931_unit_tests_match_the_expected_failures_file(engine: ValidationEngine, corpus: Path) -> None:
    expected = tomllib.loads(EXPECTED_FAILURES_FILE.read_text())["expected-failures"]
    assert all(reason.strip() for reason in expected.values()), "every expected failure needs a reason"
    failures: set[str] = set()
    count = 0
    for folder in ("Invoice-unit-UBL", "CreditNote-unit-UBL"):
        for test in read_test_sets(corpus / "en16931" / "unit-tests" / folder):
            count += 1
            if not _rule_outcome(engine, test, "ubl-invoice-2.1"):
                failures.add(f"{test.case_id} {test.expectation} {test.rule}")
    assert count == 539, f"the corpus holds 539 rule expectations, found {count}"
    unexpected = failures - {f"{k}" for k in expected}
    now_passing = {k for k in expected} - failures
    assert not unexpected, f"failures not in the expected-failures file: {sorted(unexpected)}"
    assert not now_passing, f"listed as expected failures but now pass: {sorted(now_passing)}"


def _samples(pattern: str) -> list[Path]:
    return sorted(CORPUS.glob(pattern))


@pytest.mark.parametrize("path", _samples("ubl-2.4/examples/*.xml"), ids=lambda p: p.name)
def test_every_ubl_example_is_detected_and_valid(engine: ValidationEngine, path: Path) -> None:
    report = engine.validate(path.read_bytes())
    assert report.format.detected
    assert report.format.id == "ubl-2.4"
    assert report.valid, [f.message for f in report.findings]


def test_the_corpus_has_all_74_ubl_examples(corpus: Path) -> None:
    assert len(_samples("ubl-2.4/examples/*.xml")) == 74


@pytest.mark.parametrize(
    ("name", "valid"),
    [
        ("order-test-good.xml", True),
        ("order-test-bad1.xml", False),
        # bad2 breaks only a code list; the UBL packs validate the XSD, not the genericode code lists.
        ("order-test-bad2.xml", True),
    ],
)
def test_ubl_21_validation_smoke_test_as_labelled(
    engine: ValidationEngine, corpus: Path, name: str, valid: bool
) -> None:
    report = engine.validate((corpus / "ubl-2.1" / "val" / name).read_bytes())
    assert report.format.id == "ubl-2.4"
    assert report.valid is valid
    if not valid:
        assert all(f.area == "schema" and f.line for f in report.findings)


@pytest.mark.parametrize("path", _samples("en16931/ubl/examples/*"), ids=lambda p: p.name)
def test_en16931_ubl_examples_select_the_en16931_pack_and_pass(engine: ValidationEngine, path: Path) -> None:
    report = engine.validate(path.read_bytes())
    assert report.format.id == "ubl-invoice-2.1"
    assert [s.step for s in report.steps] == [
        f"xsd:UBL-{'CreditNote' if 'creditnote' in path.name else 'Invoice'}-2.1.xsd",
        "schematron:EN16931-UBL-validation.xslt",
    ]
    assert report.valid, [(f.rule, f.message) for f in report.findings]


@pytest.mark.parametrize("path", _samples("en16931/cii/examples/*.xml"), ids=lambda p: p.name)
def test_cii_examples_are_valid_with_the_en16931_rules(engine: ValidationEngine, path: Path) -> None:
    report = engine.validate(path.read_bytes())
    assert report.format.id == "cii-d16b"
    assert len(report.steps) == 2
    assert report.valid, [(f.rule, f.message) for f in report.findings]


@pytest.mark.parametrize("path", _samples("sps-ecert-17/samples/*"), ids=lambda p: p.name)
def test_sps_samples_are_valid(engine: ValidationEngine, path: Path) -> None:
    report = engine.validate(path.read_bytes())
    assert report.format.id == "sps-ecert-17"
    assert report.valid, [f.message for f in report.findings]


# The corpus README: of 29 WCO samples 21 are valid; the four DMS notifications have a root without a namespace
# and are invalid as published; one API example is invalid on purpose; three belong to other HMRC APIs.
WCO_NOT_VALID = {
    "Example_DMS_notifications/02_DMSRCV.xml": "unsupported",
    "Example_DMS_notifications/05_DMSCTL.xml": "unsupported",
    "Example_DMS_notifications/07_DMSRES.xml": "unsupported",
    "Example_DMS_notifications/09_DMSCLE.xml": "unsupported",
    "_api_examples/example_submission_declaration_400.xml": "invalid",
    "TT_EX013b/TT_EX013b.xml": "unsupported",
    "TT_IM001c/DIS_Report/TT_IM001c_DIS_Report_Status_By_MRN.xml": "unsupported",
    "_api_examples/FileUploadResponseExample.xml": "unsupported",
}


@pytest.mark.parametrize("path", _samples("wco-dms-3.6/samples/**/*.xml"), ids=lambda p: p.name)
def test_wco_samples_as_the_corpus_labels_them(engine: ValidationEngine, path: Path) -> None:
    key = path.relative_to(CORPUS / "wco-dms-3.6" / "samples").as_posix()
    expected = WCO_NOT_VALID.get(key, "valid")
    if expected == "unsupported":
        with pytest.raises(UnsupportedFormat):
            engine.validate(path.read_bytes())
        return
    report = engine.validate(path.read_bytes())
    assert report.format.id == "wco-dms-3.6"
    assert report.valid is (expected == "valid"), [f.message for f in report.findings[:3]]


def test_wco_sample_counts(corpus: Path) -> None:
    samples = _samples("wco-dms-3.6/samples/**/*.xml")
    assert len(samples) == 29
    assert len(samples) - len(WCO_NOT_VALID) == 21


def test_a_namespace_less_dms_notification_forced_to_wco_is_invalid(engine: ValidationEngine, corpus: Path) -> None:
    data = (corpus / "wco-dms-3.6/samples/Example_DMS_notifications/02_DMSRCV.xml").read_bytes()
    report = engine.validate(data, "wco-dms-3.6")
    assert not report.valid
    assert report.findings[0].area == "schema"


@pytest.mark.parametrize("path", _samples("eco-json/*.json"), ids=lambda p: p.name)
def test_tradetrust_json_samples_are_detected_and_valid(engine: ValidationEngine, path: Path) -> None:
    report = engine.validate(path.read_bytes())
    assert report.format.id == "edi3-coo-json"
    assert report.valid, [(f.path, f.message) for f in report.findings]


INVALID_JSON = sorted((FIXTURES / "edi3-coo-json" / "invalid").glob("*.json"))


@pytest.mark.parametrize(
    "path", [p for p in INVALID_JSON if not p.name.endswith(".expected.json")], ids=lambda p: p.stem
)
def test_invalid_json_coo_reports_exactly_the_expected_paths(engine: ValidationEngine, path: Path) -> None:
    import json

    expected = json.loads(path.with_name(path.stem + ".expected.json").read_text())
    report = engine.validate(path.read_bytes(), "edi3-coo-json")
    assert not report.valid
    assert sorted({f.path or "" for f in report.findings}) == sorted(set(expected))


def test_every_en16931_schematron_finding_carries_a_line_number(engine: ValidationEngine, corpus: Path) -> None:
    findings = [
        finding
        for test in read_test_sets(corpus / "en16931" / "unit-tests" / "Invoice-unit-UBL")
        if test.expectation == "error"
        for finding in engine.validate(test.document, "ubl-invoice-2.1").findings
        if finding.area == "schematron"
    ]
    assert len(findings) > 200
    assert all(f.line is not None and f.line > 0 for f in findings), [f for f in findings if not f.line][:3]
