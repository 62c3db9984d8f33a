"""Detection by namespace + root + declared precedence (DESIGN.md §5), and packs as data."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from schemas.catalog import CatalogError, load_catalog
from schemas.engine import ValidationEngine
from schemas.errors import AmbiguousFormat, MalformedDocument, UnknownFormat, UnsupportedFormat
from tests.conftest import CORPUS, FIXTURES

UBL_INVOICE = CORPUS / "ubl-2.4" / "examples" / "UBL-Invoice-2.1-Example.xml"
EN16931_INVOICE = CORPUS / "en16931" / "ubl" / "examples" / "ubl-tc434-example1.xml"


@pytest.mark.usefixtures("corpus")  # skipped, with the reason, where the shared corpus is absent
def test_an_en16931_invoice_selects_the_en16931_pack(engine: ValidationEngine) -> None:
    assert engine.validate(EN16931_INVOICE.read_bytes()).format.id == "ubl-invoice-2.1"


@pytest.mark.usefixtures("corpus")  # skipped, with the reason, where the shared corpus is absent
def test_a_ubl_invoice_without_the_en16931_customisation_is_generic_ubl(engine: ValidationEngine) -> None:
    assert engine.validate(UBL_INVOICE.read_bytes()).format.id == "ubl-2.4"


def test_a_certificate_of_origin_selects_the_document_specific_pack(engine: ValidationEngine) -> None:
    report = engine.validate((FIXTURES / "coo" / "valid-10.xml").read_bytes())
    assert report.format.id == "ubl-coo-2.4"
    assert report.format.detected


def test_the_21_rendering_profile_is_never_detected_but_can_be_named(engine: ValidationEngine) -> None:
    data = (FIXTURES / "coo" / "valid-10.xml").read_bytes()
    report = engine.validate(data, "ubl-coo-2.1")
    assert report.format.id == "ubl-coo-2.1"
    assert not report.format.detected
    assert report.steps[0].step == "xsd:UBL-CertificateOfOrigin-2.1.xsd"


def test_an_unknown_root_is_unsupported_not_invalid(engine: ValidationEngine) -> None:
    with pytest.raises(UnsupportedFormat, match="'Thing' in namespace 'urn:example'"):
        engine.validate(b'<Thing xmlns="urn:example"/>')


def test_a_ubl_namespace_with_no_such_maindoc_is_unsupported(engine: ValidationEngine) -> None:
    with pytest.raises(UnsupportedFormat):
        engine.validate(b'<Nope xmlns="urn:oasis:names:specification:ubl:schema:xsd:Nope-2"/>')


def test_json_that_is_no_known_format_is_unsupported(engine: ValidationEngine) -> None:
    with pytest.raises(UnsupportedFormat):
        engine.validate(b'{"invoice": {"id": 1}}')


@pytest.mark.usefixtures("corpus")  # skipped, with the reason, where the shared corpus is absent
def test_an_unknown_format_id_is_its_own_error(engine: ValidationEngine) -> None:
    with pytest.raises(UnknownFormat) as caught:
        engine.validate(UBL_INVOICE.read_bytes(), "no-such-format")
    assert "ubl-2.4" in caught.value.candidates


@pytest.mark.usefixtures("corpus")  # skipped, with the reason, where the shared corpus is absent
def test_the_named_format_overrides_detection(engine: ValidationEngine) -> None:
    report = engine.validate(EN16931_INVOICE.read_bytes(), "ubl-2.4")
    assert report.format.id == "ubl-2.4"
    assert [s.step for s in report.steps] == ["xsd:UBL-Invoice-2.4.xsd"]


def test_naming_an_xml_format_for_json_is_refused(engine: ValidationEngine) -> None:
    with pytest.raises(MalformedDocument, match="expects XML, got JSON"):
        engine.validate(b'{"a": 1}', "ubl-2.4")


def test_duplicate_json_members_are_refused(engine: ValidationEngine) -> None:
    with pytest.raises(MalformedDocument, match="duplicate JSON member"):
        engine.validate(b'{"supplyChainConsignment": {}, "supplyChainConsignment": {}}')


def _catalog_file(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "extra.toml"
    path.write_text(textwrap.dedent(body))
    return path


ORDER_21_PACK = """
    [[pack]]
    id = "ubl-order-2.1"
    title = "UBL 2.1 Order (validate-only, added by an operator)"
    version = "2.1"
    syntax = "xml"
    precedence = "{precedence}"
    resources = ["order.xsd"]
    xsd = "order.xsd"
    [[pack.match]]
    namespace = "urn:oasis:names:specification:ubl:schema:xsd:Order-2"
    root = "Order"
"""


@pytest.mark.usefixtures("corpus")  # skipped, with the reason, where the shared corpus is absent
def test_a_validate_only_format_is_added_with_data_alone(tmp_path: Path) -> None:
    # A wrapper XSD in the operator's folder that includes the UBL 2.1 Order schema from the corpus.
    (tmp_path / "order.xsd").write_text(
        '<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema">'
        f'<xs:import namespace="urn:oasis:names:specification:ubl:schema:xsd:Order-2" '
        f'schemaLocation="{(CORPUS / "ubl-2.1/xsd/maindoc/UBL-Order-2.1.xsd").as_uri()}"/></xs:schema>'
    )
    catalog = load_catalog(_catalog_file(tmp_path, ORDER_21_PACK.format(precedence="document")))
    engine = ValidationEngine(catalog)
    good = engine.validate((CORPUS / "ubl-2.1/val/order-test-good.xml").read_bytes())
    bad = engine.validate((CORPUS / "ubl-2.1/val/order-test-bad1.xml").read_bytes())
    assert (good.format.id, good.valid) == ("ubl-order-2.1", True)
    assert (bad.format.id, bad.valid) == ("ubl-order-2.1", False)


@pytest.mark.usefixtures("corpus")  # skipped, with the reason, where the shared corpus is absent
def test_two_packs_tied_at_the_top_precedence_are_ambiguous(tmp_path: Path) -> None:
    (tmp_path / "order.xsd").write_text('<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema"/>')
    first = _catalog_file(tmp_path, ORDER_21_PACK.format(precedence="document"))
    second = tmp_path / "second.toml"
    second.write_text(first.read_text().replace('id = "ubl-order-2.1"', 'id = "ubl-order-2.1-copy"'))
    engine = ValidationEngine(load_catalog(first, second))
    with pytest.raises(AmbiguousFormat) as caught:
        engine.validate((CORPUS / "ubl-2.1/val/order-test-good.xml").read_bytes())
    assert caught.value.candidates == ["ubl-order-2.1", "ubl-order-2.1-copy"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('[[pack]]\nid = "x"\n', "missing key"),
        (ORDER_21_PACK.format(precedence="highest"), "precedence must be one of"),
        (ORDER_21_PACK.format(precedence="document").replace('"order.xsd"]', '"missing.xsd"]'), "not found"),
        (
            ORDER_21_PACK.format(precedence="document").replace('id = "ubl-order-2.1"', 'id = "ubl-2.4"'),
            "duplicate",
        ),
    ],
    ids=["missing-key", "bad-precedence", "missing-file", "duplicate-id"],
)
def test_a_broken_catalog_is_refused_at_load(tmp_path: Path, body: str, message: str) -> None:
    (tmp_path / "order.xsd").write_text('<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema"/>')
    with pytest.raises(CatalogError, match=message):
        load_catalog(_catalog_file(tmp_path, body))


@pytest.mark.usefixtures("corpus")  # skipped, with the reason, where the shared corpus is absent
def test_a_named_format_must_cover_the_documents_type(engine: ValidationEngine) -> None:
    order = (CORPUS / "ubl-2.4" / "examples" / "UBL-Order-2.0-Example.xml").read_bytes()
    with pytest.raises(UnsupportedFormat, match="does not cover 'Order'") as caught:
        engine.validate(order, "ubl-invoice-2.1")
    assert caught.value.candidates == ["CreditNote", "Invoice"]
    with pytest.raises(UnsupportedFormat):
        engine.validate(b'<Thing xmlns="urn:example"/>', "ubl-2.4")


def test_a_huge_ubl_family_root_name_is_unsupported_not_a_crash(engine: ValidationEngine) -> None:
    name = "A" * 300
    document = f'<{name} xmlns="urn:oasis:names:specification:ubl:schema:xsd:{name}-2"/>'.encode()
    with pytest.raises(UnsupportedFormat):
        engine.validate(document)


def test_a_json_number_too_long_to_convert_is_malformed(engine: ValidationEngine) -> None:
    with pytest.raises(MalformedDocument, match="JSON value refused"):
        engine.validate(b'{"supplyChainConsignment": ' + b"9" * 5000 + b"}")
