"""UBL CertificateOfOrigin adapters: round trips through the canonical model, validity of every rendering
(XSD + CoO business rules), and an honest loss report in both directions."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given

from adapters import ADAPTERS, AdapterError, CertificateOfOrigin, LossEntry, translate
from adapters._ubl_common import attachment_id
from adapters.model import field_paths, generic_path, present_values
from schemas import DocumentError, ForbiddenConstruct, MalformedDocument
from tests.adapters.conftest import Validate
from tests.adapters.strategies import FLOAT_TRAPS, PROPERTY_SETTINGS, certificates, example_certificate
from tests.conftest import FIXTURES

FORMATS = ("ubl-coo-2.4", "ubl-coo-2.1")
VERSION = {"ubl-coo-2.4": "2.4", "ubl-coo-2.1": "2.1"}
_ROOT = "/ubl:CertificateOfOrigin"
_APP = f"{_ROOT}/cac:CertificateOfOriginApplication"


def expected_fills(certificate: CertificateOfOrigin, format_id: str) -> set[str]:
    """Where the renderer must fill an element UBL requires, for this certificate (ADR 0010, "Filled")."""
    fills = {
        f"{_APP}/cbc:ReferenceID",
        f"{_APP}/cbc:OriginalJobID",
        f"{_APP}/cac:EndorserParty",
        f"{_APP}/cac:PreparationParty",
        f"{_ROOT}/cac:IssuerEndorsement",
        f"{_ROOT}/cac:IssuerEndorsement/cac:EndorserParty",
    }
    if certificate.issuing_authority is None:
        fills.add(f"{_APP}/cac:IssuerParty")
    if certificate.consignee is not None:
        fills.add(f"{_APP}/cac:Shipment/cac:Consignment/cbc:ID")
    if format_id == "ubl-coo-2.1":
        fills.add(f"{_APP}/cac:Shipment/cbc:ID")
    for index, item in enumerate(certificate.goods_items):
        if item.invoice_number is None and item.invoice_date is not None:
            fills.add(f"{_APP}/cac:Shipment/cac:GoodsItem[{index + 1}]/cac:ShipmentDocumentReference/cbc:ID")
    for index, attachment in enumerate(certificate.attachments):
        if attachment.filename is None:
            fills.add(f"{_APP}/cac:SupportingDocumentReference[{index + 1}]/cbc:ID")
    return fills


def carried(certificate: CertificateOfOrigin, carries: frozenset[str]) -> dict[str, Any]:
    return {path: value for path, value in present_values(certificate) if generic_path(path) in carries}


def assert_round_trip(
    certificate: CertificateOfOrigin, format_id: str, error_findings: Validate
) -> tuple[bytes, CertificateOfOrigin]:
    """Render, validate (XSD + business rules), parse back; check both loss reports. Returns data and parse."""
    adapter = ADAPTERS[format_id]
    rendered = adapter.render(certificate)
    assert error_findings(rendered.data, format_id) == []
    carries = adapter.carries()
    dropped = {loss.field for loss in rendered.losses if loss.kind == "dropped"}
    assert dropped == {p for p, _ in present_values(certificate) if generic_path(p) not in carries}
    assert {loss.field for loss in rendered.losses if loss.kind == "filled"} == expected_fills(certificate, format_id)
    parsed = adapter.parse(rendered.data)
    assert parsed.losses == ()  # the renderer's fills are recognised, nothing else is in the document
    assert carried(parsed.certificate, carries) == carried(certificate, carries)
    return rendered.data, parsed.certificate


# ------------------------------------------------------------------------------------------- properties
def test_ubl_carries_every_canonical_field() -> None:
    # Elements where UBL has them, tradegw: notes where it does not (ADR 0010): nothing is lost on rendering.
    for format_id in FORMATS:
        assert ADAPTERS[format_id].carries() == field_paths()


@pytest.mark.parametrize("format_id", FORMATS)
@PROPERTY_SETTINGS
@given(certificate=certificates())
def test_generated_certificates_round_trip(
    format_id: str, certificate: CertificateOfOrigin, error_findings: Validate
) -> None:
    _, parsed = assert_round_trip(certificate, format_id, error_findings)
    assert parsed == certificate  # everything is carried, so the certificate comes back whole


@PROPERTY_SETTINGS
@given(certificate=certificates(max_goods=2))
def test_24_and_21_renderings_translate_into_each_other(certificate: CertificateOfOrigin) -> None:
    data = ADAPTERS["ubl-coo-2.4"].render(certificate).data
    to_21 = translate(data, "ubl-coo-2.4", "ubl-coo-2.1")
    back = translate(to_21.data, "ubl-coo-2.1", "ubl-coo-2.4")
    assert to_21.certificate == back.certificate == certificate
    assert all(loss.kind == "filled" for loss in to_21.losses + back.losses)


# ------------------------------------------------------------------------------------------- explicit examples
@pytest.mark.parametrize("format_id", FORMATS)
def test_full_example_round_trips(format_id: str, error_findings: Validate) -> None:
    certificate = example_certificate(3)
    assert assert_round_trip(certificate, format_id, error_findings)[1] == certificate


@pytest.mark.parametrize("format_id", FORMATS)
def test_zero_goods_items(format_id: str, engine: Any) -> None:
    """No goods: the rendering is XSD-valid; the only error is the business rule that wants a goods item."""
    certificate = example_certificate(0)
    rendered = ADAPTERS[format_id].render(certificate)
    report = engine.validate(rendered.data, format_id)
    errors = [(f.area, f.rule) for f in report.findings if f.severity == "error"]
    # COO-GI-01 (at least one goods item) fires; COO-GI-02 does not: TotalGoodsItemQuantity says 0, truthfully.
    assert errors == [("schematron", "COO-GI-01")]
    assert b"<cbc:TotalGoodsItemQuantity>0</cbc:TotalGoodsItemQuantity>" in rendered.data
    parsed = ADAPTERS[format_id].parse(rendered.data)
    assert parsed.certificate == certificate
    assert parsed.losses == ()


@pytest.mark.parametrize("format_id", FORMATS)
def test_5000_goods_items(format_id: str, error_findings: Validate) -> None:
    certificate = example_certificate(5000)
    data, parsed = assert_round_trip(certificate, format_id, error_findings)
    assert data.count(b"<cac:GoodsItem>") == 2 * 5000  # each item, and its reference in a handling unit
    assert parsed == certificate


@pytest.mark.parametrize("format_id", FORMATS)
def test_japanese_and_thai_text_survives(format_id: str) -> None:
    certificate = example_certificate(2)
    data = ADAPTERS[format_id].render(certificate).data
    assert "株式会社星野産業貿易".encode() in data
    assert "บริษัท เจ้าพระยา อินดัสเทรียล ซัพพลาย จำกัด".encode() in data
    parsed = ADAPTERS[format_id].parse(data).certificate
    assert parsed.exporter.name == "株式会社星野産業貿易"
    assert parsed.importer is not None
    assert parsed.importer.name == "บริษัท เจ้าพระยา อินดัสเทรียล ซัพพลาย จำกัด"
    assert parsed.transport is not None
    assert parsed.transport.discharge_port is not None
    assert parsed.transport.discharge_port.name == "แหลมฉบัง"


@pytest.mark.parametrize("format_id", FORMATS)
def test_decimals_binary_floats_would_round(format_id: str) -> None:
    certificate = example_certificate(len(FLOAT_TRAPS))
    data = ADAPTERS[format_id].render(certificate).data
    for expected in ("0.3", "1234567.89", "9007199254740993", "12345678901234.567890", "0.000001", "100.10"):
        assert f'currencyID="USD">{expected}</cbc:FreeOnBoardValueAmount>'.encode() in data
    parsed = ADAPTERS[format_id].parse(data).certificate
    for original, back in zip(certificate.goods_items, parsed.goods_items, strict=True):
        assert original.fob_value is not None
        assert back.fob_value is not None
        assert isinstance(back.fob_value.value, Decimal)
        assert str(back.fob_value.value) == str(original.fob_value.value)  # same digits, trailing zeros too
    assert parsed.goods_items[0].fob_value is not None
    assert parsed.goods_items[0].fob_value.value == Decimal("0.1") + Decimal("0.2")


def test_decimal_exponents_are_written_out() -> None:
    # Decimal("1E+3") prints with an exponent; xsd:decimal has none.
    certificate = example_certificate(1)
    item = certificate.goods_items[0]
    assert item.gross_weight is not None
    heavy = item.model_copy(update={"gross_weight": item.gross_weight.model_copy(update={"value": Decimal("1E+3")})})
    data = ADAPTERS["ubl-coo-2.4"].render(certificate.model_copy(update={"goods_items": (heavy,)})).data
    assert b'unitCode="KGM">1000</cbc:GrossWeightMeasure>' in data


def test_21_profile_fills_the_shipment_id_24_omits_it(engine: Any) -> None:
    certificate = example_certificate(1)
    r24 = ADAPTERS["ubl-coo-2.4"].render(certificate)
    r21 = ADAPTERS["ubl-coo-2.1"].render(certificate)
    shipment_id = f"{_APP}/cac:Shipment/cbc:ID"
    [fill] = [loss for loss in r21.losses if loss.field == shipment_id]
    assert fill == LossEntry("filled", shipment_id, None, certificate.number, fill.reason)
    assert "2.1 requires a shipment identifier" in fill.reason
    assert shipment_id not in {loss.field for loss in r24.losses}
    # Without the fill, the 2.4 rendering is not a valid 2.1 document: the profile exists for this.
    schema_errors = [f for f in engine.validate(r24.data, "ubl-coo-2.1").findings if f.area == "schema"]
    assert schema_errors
    assert any("ID" in f.message for f in schema_errors)


def test_fills_say_what_was_put_there() -> None:
    certificate = example_certificate(1).model_copy(update={"issuing_authority": None})
    losses = {loss.field: loss for loss in ADAPTERS["ubl-coo-2.4"].render(certificate).losses}
    assert losses[f"{_APP}/cbc:ReferenceID"].value == certificate.number
    assert losses[f"{_APP}/cac:PreparationParty"].value == certificate.exporter.name
    assert losses[f"{_APP}/cac:IssuerParty"].value == ""
    assert all(loss.kind == "filled" and loss.source_path is None and loss.reason for loss in losses.values())


def test_conventions_in_the_document() -> None:
    data = ADAPTERS["ubl-coo-2.4"].render(example_certificate(1)).data.decode()
    assert "<cbc:Note>tradegw:flags.third_party_invoicing=true</cbc:Note>" in data
    assert "<cbc:Note>tradegw:flags.issued_retroactively=true</cbc:Note>" in data
    assert "flags.back_to_back" not in data  # false flags are not written
    assert "<cbc:Note>tradegw:issue_place=東京</cbc:Note>" in data
    assert "<cbc:Note>tradegw:producer.address.lines[0]=みなとみらい二丁目3番1号</cbc:Note>" in data
    assert "<cbc:VersionID>2</cbc:VersionID>" in data
    assert "<cbc:ApplicationStatusCode>replacement</cbc:ApplicationStatusCode>" in data
    assert re.search(r'<cbc:EmbeddedDocumentBinaryObject mimeCode="application/pdf" filename="invoice.pdf">', data)


def test_a_plain_certificate_has_no_convention_notes() -> None:
    certificate = example_certificate(1).model_copy(
        update={
            "issue_place": None,
            "replaces": None,
            "exporter_declaration": None,
            "transport": None,
            "producer": None,
            "flags": example_certificate(1).flags.model_copy(
                update={"third_party_invoicing": False, "issued_retroactively": False}
            ),
        }
    )
    assert b"tradegw:" not in ADAPTERS["ubl-coo-2.4"].render(certificate).data


def test_rendering_is_deterministic() -> None:
    certificate = example_certificate(4)
    assert ADAPTERS["ubl-coo-2.4"].render(certificate) == ADAPTERS["ubl-coo-2.4"].render(certificate)


# ------------------------------------------------------------------------------------------- the fixtures
# What the canonical model cannot hold from tests/fixtures/coo/valid-*.xml (generic XPaths), and why:
FIXTURE_DROPS = {
    # document metadata: a UUID and a title for the form
    "/ubl:CertificateOfOrigin/cbc:UUID",
    "/ubl:CertificateOfOrigin/cbc:Description",
    # party identifier schemes (TH:TIN …) and the province: Party and Address have no such fields
    "/ubl:CertificateOfOrigin/cac:ExporterParty/cac:PartyIdentification/cbc:ID/@schemeID",
    "/ubl:CertificateOfOrigin/cac:ExporterParty/cac:PostalAddress/cbc:CountrySubentity",
    "/ubl:CertificateOfOrigin/cac:ImporterParty/cac:PartyIdentification/cbc:ID/@schemeID",
    "/ubl:CertificateOfOrigin/cac:ImporterParty/cac:PostalAddress/cbc:CountrySubentity",
    f"{_APP}/cac:IssuerParty/cac:PartyIdentification/cbc:ID/@schemeID",
    f"{_APP}/cac:IssuerParty/cac:PostalAddress/cbc:CountrySubentity",
    # the application's and shipment's own references, different from the certificate number
    f"{_APP}/cbc:ReferenceID",
    f"{_APP}/cbc:OriginalJobID",
    f"{_APP}/cac:Shipment/cbc:ID",
    f"{_ROOT}/cac:IssuerEndorsement/cbc:DocumentID",
    # shipment totals (weights, FOB, container count): the model keeps per-item values only
    f"{_APP}/cac:Shipment/cbc:GrossWeightMeasure",
    f"{_APP}/cac:Shipment/cbc:GrossWeightMeasure/@unitCode",
    f"{_APP}/cac:Shipment/cbc:NetWeightMeasure",
    f"{_APP}/cac:Shipment/cbc:NetWeightMeasure/@unitCode",
    f"{_APP}/cac:Shipment/cbc:TotalTransportHandlingUnitQuantity",
    f"{_APP}/cac:Shipment/cbc:FreeOnBoardValueAmount",
    f"{_APP}/cac:Shipment/cbc:FreeOnBoardValueAmount/@currencyID",
    # transport mode code and voyage number: Transport has free-text means and a vessel name
    f"{_APP}/cac:Shipment/cac:ShipmentStage/cbc:TransportModeCode",
    f"{_APP}/cac:Shipment/cac:ShipmentStage/cbc:TransportModeCode/@listID",
    f"{_APP}/cac:Shipment/cac:ShipmentStage/cac:TransportMeans/cbc:JourneyID",
    # containers: their numbers, sizes and the marks for a range of packages across many goods items
    f"{_APP}/cac:Shipment/cac:TransportHandlingUnit/cbc:ID",
    f"{_APP}/cac:Shipment/cac:TransportHandlingUnit/cbc:ShippingMarks",
    f"{_APP}/cac:Shipment/cac:TransportHandlingUnit/cac:TransportEquipment/cbc:ID",
    f"{_APP}/cac:Shipment/cac:TransportHandlingUnit/cac:TransportEquipment/cbc:ID/@schemeID",
    f"{_APP}/cac:Shipment/cac:TransportHandlingUnit/cac:TransportEquipment/cbc:SizeTypeCode",
    f"{_APP}/cac:Shipment/cac:ExportCountry/cbc:IdentificationCode",
    # signatories (person and job title): the model has no signatures
    f"{_APP}/cac:EndorserParty/cac:SignatoryContact/cbc:Name",
    f"{_APP}/cac:EndorserParty/cac:SignatoryContact/cbc:JobTitle",
    f"{_ROOT}/cac:IssuerEndorsement/cac:EndorserParty/cac:SignatoryContact/cbc:Name",
    f"{_ROOT}/cac:IssuerEndorsement/cac:EndorserParty/cac:SignatoryContact/cbc:JobTitle",
    # invoices listed for the whole certificate, not linked to goods items (the model links them per item)
    f"{_APP}/cac:SupportingDocumentReference/cbc:ID",
    f"{_APP}/cac:SupportingDocumentReference/cbc:IssueDate",
    f"{_APP}/cac:SupportingDocumentReference/cbc:DocumentTypeCode",
    f"{_APP}/cac:SupportingDocumentReference/cbc:DocumentTypeCode/@listID",
    f"{_APP}/cac:SupportingDocumentReference/cbc:DocumentType",
}


@pytest.mark.parametrize("name", ["valid-10", "valid-200", "valid-2000"])
def test_fixtures_drop_only_what_the_model_cannot_hold(name: str, error_findings: Validate) -> None:
    data = (FIXTURES / "coo" / f"{name}.xml").read_bytes()
    parsed = ADAPTERS["ubl-coo-2.4"].parse(data)
    for loss in parsed.losses:
        # No canonical field is dropped: every value that maps to one fits it.
        assert loss.kind == "dropped"
        assert loss.field == loss.source_path
        assert loss.value
    assert {re.sub(r"\[\d+\]", "", loss.field) for loss in parsed.losses} == FIXTURE_DROPS
    # …and what is kept can be sent on in either profile.
    for format_id in FORMATS:
        assert error_findings(ADAPTERS[format_id].render(parsed.certificate).data, format_id) == []


def test_fixture_values_arrive_in_their_fields() -> None:
    c = ADAPTERS["ubl-coo-2.4"].parse((FIXTURES / "coo" / "valid-10.xml").read_bytes()).certificate
    assert (c.number, c.agreement, c.preferential, c.issuing_country) == ("TH-D-2026-0014873", "ATIGA", True, "TH")
    assert c.exporter.id == "0105559123457"
    assert c.exporter.address is not None
    assert c.exporter.address.lines == ("1788 Rama IV Road, Khlong Toei",)
    assert c.importer is not None
    assert c.importer.name == "PT Nusantara Niaga Sejahtera"
    assert c.issuing_authority is not None
    assert c.issuing_authority.name == "Department of Foreign Trade, Ministry of Commerce"
    assert c.remarks == ("Origin of the goods verified against the exporter's declaration.",)
    assert c.transport is not None
    assert c.transport.vessel == "SIAM PEARL"
    assert c.transport.loading_port is not None
    assert c.transport.loading_port.code == "THLCH"
    assert str(c.transport.departure_date) == "2026-02-14"
    item = c.goods_items[5]
    assert (item.sequence, item.hs_code, item.origin_criterion, item.origin_country) == (
        6,
        "841510",
        "CTSH + 35%",
        "TH",
    )
    assert item.fob_value is not None
    assert item.fob_value.value == Decimal("11025.00")
    assert item.quantity is not None
    assert (item.quantity.value, item.quantity.unit) == (Decimal(45), "H87")


def test_translating_a_fixture_into_21_reports_both_steps(error_findings: Validate) -> None:
    data = (FIXTURES / "coo" / "valid-200.xml").read_bytes()
    result = translate(data, "ubl-coo-2.4", "ubl-coo-2.1")
    assert (result.source_format, result.target_format, result.media_type) == (
        "ubl-coo-2.4",
        "ubl-coo-2.1",
        "application/xml",
    )
    assert error_findings(result.data, "ubl-coo-2.1") == []
    parse_losses = ADAPTERS["ubl-coo-2.4"].parse(data).losses
    assert result.losses[: len(parse_losses)] == parse_losses
    assert {loss.kind for loss in result.losses[len(parse_losses) :]} == {"filled"}
    assert ADAPTERS["ubl-coo-2.1"].parse(result.data).certificate == result.certificate


# ------------------------------------------------------------------------------------------- foreign documents
def edited(certificate: CertificateOfOrigin, *replacements: tuple[str, str]) -> bytes:
    """A rendering with text edits applied: documents from other producers, built without a parser."""
    data = ADAPTERS["ubl-coo-2.4"].render(certificate).data.decode()
    for old, new in replacements:
        assert old in data, old
        data = data.replace(old, new, 1)
    return data.encode()


def losses_by_field(data: bytes) -> dict[str, LossEntry]:
    return {loss.field: loss for loss in ADAPTERS["ubl-coo-2.4"].parse(data).losses}


def test_values_that_do_not_fit_their_field_are_dropped_under_that_field() -> None:
    certificate = example_certificate(2)
    data = edited(
        certificate,
        ('listID="HS">870840<', 'listID="HS">8708.40<'),
        ("<cbc:IdentificationCode>TH</cbc:IdentificationCode>", "<cbc:IdentificationCode>THA</cbc:IdentificationCode>"),
        ('unitCode="KGM">78.125<', 'unitCode="KG">78.125<'),
        ("<cbc:VersionID>2</cbc:VersionID>", "<cbc:VersionID>1.0</cbc:VersionID>"),
        (">replacement</cbc:ApplicationStatusCode>", ">Revised</cbc:ApplicationStatusCode>"),
    )
    parsed = ADAPTERS["ubl-coo-2.4"].parse(data)
    losses = {loss.field: loss for loss in parsed.losses}
    assert losses["goods_items[0].hs_code"].value == "8708.40"
    assert losses["goods_items[0].hs_code"].source_path == (
        f"{_APP}/cac:Shipment/cac:GoodsItem[1]/cac:Item/cac:CommodityClassification/cbc:ItemClassificationCode"
    )
    assert losses["importer.address.country"].value == "THA"
    assert losses["goods_items[0].gross_weight.unit"].value == "KG"
    assert losses["version"].value == "1.0"
    assert losses["status"].value == "Revised"
    c = parsed.certificate
    assert c.goods_items[0].hs_code is None
    assert c.goods_items[0].gross_weight is None
    assert c.importer is not None
    assert c.importer.address is not None
    assert c.importer.address.country is None
    assert (c.version, c.status) == (1, "issued")


def test_unknown_elements_and_attributes_are_reported_with_their_path() -> None:
    data = edited(
        example_certificate(1),
        ("<cbc:IssueDate>", "<cbc:UUID>6f1d4a52-0c3e-4a8e-9d57-2b7a1e9c0f11</cbc:UUID>\n  <cbc:IssueDate>"),
        ("<cbc:Name>株式会社星野産業貿易</cbc:Name>", '<cbc:Name languageID="ja">株式会社星野産業貿易</cbc:Name>'),
        (
            "<cbc:Quantity unitCode=",
            '<cbc:NetWeightMeasure unitCode="KGM">70</cbc:NetWeightMeasure>\n<cbc:Quantity unitCode=',
        ),
    )
    losses = losses_by_field(data)
    assert losses[f"{_ROOT}/cbc:UUID"].value == "6f1d4a52-0c3e-4a8e-9d57-2b7a1e9c0f11"
    assert losses[f"{_ROOT}/cac:ExporterParty/cac:PartyName/cbc:Name/@languageID"].value == "ja"
    item = f"{_APP}/cac:Shipment/cac:GoodsItem/cbc:NetWeightMeasure"
    assert losses[item].value == "70"
    assert losses[f"{item}/@unitCode"].value == "KGM"
    assert all(loss.kind == "dropped" for loss in losses.values())


def test_notes_outside_the_convention() -> None:
    data = edited(
        example_certificate(1),
        (
            "<cbc:Note>tradegw:issue_place",
            "<cbc:Note>Handle with care</cbc:Note>\n  <cbc:Note>tradegw:colour=red</cbc:Note>\n"
            "  <cbc:Note>tradegw:flags.exhibition=yes</cbc:Note>\n  <cbc:Note>tradegw:issue_place",
        ),
    )
    parsed = ADAPTERS["ubl-coo-2.4"].parse(data)
    losses = {loss.field: loss for loss in parsed.losses}
    assert "Handle with care" in parsed.certificate.remarks  # a plain note is a remark
    assert losses[f"{_ROOT}/cbc:Note[2]"].value == "tradegw:colour=red"
    assert losses["flags.exhibition"].value == "tradegw:flags.exhibition=yes"
    assert parsed.certificate.flags.exhibition is False


def test_goods_item_ids_that_are_not_sequences() -> None:
    certificate = example_certificate(2)
    data = edited(
        certificate,
        ("<cac:GoodsItem>\n        <cbc:ID>1</cbc:ID>", "<cac:GoodsItem>\n        <cbc:ID>A</cbc:ID>"),
        ("<cac:GoodsItem>\n        <cbc:ID>2</cbc:ID>", "<cac:GoodsItem>\n        <cbc:ID>B</cbc:ID>"),
    )
    parsed = ADAPTERS["ubl-coo-2.4"].parse(data)
    assert [g.sequence for g in parsed.certificate.goods_items] == [1, 2]
    dropped = [loss.value for loss in parsed.losses if loss.field == "goods_items[].sequence"]
    assert dropped == ["A", "B"]


def test_a_quantity_without_unit_is_dropped_not_guessed() -> None:
    data = edited(
        example_certificate(1), ('<cbc:Quantity unitCode="H87">1</cbc:Quantity>', "<cbc:Quantity>1</cbc:Quantity>")
    )
    parsed = ADAPTERS["ubl-coo-2.4"].parse(data)
    assert parsed.certificate.goods_items[0].quantity is None
    assert {loss.field for loss in parsed.losses} == {"goods_items[0].quantity"}


def test_fill_values_of_other_producers_are_reported() -> None:
    # A reference id equal to the certificate number restates it; any other value is information, reported.
    certificate = example_certificate(1)
    data = edited(certificate, (f"<cbc:ReferenceID>{certificate.number}<", "<cbc:ReferenceID>APP-77<"))
    assert losses_by_field(data)[f"{_APP}/cbc:ReferenceID"].value == "APP-77"


def test_attachment_without_filename_round_trips() -> None:
    certificate = example_certificate(1)
    attachment = certificate.attachments[0].model_copy(update={"filename": None})
    certificate = certificate.model_copy(update={"attachments": (attachment, attachment)})
    rendered = ADAPTERS["ubl-coo-2.4"].render(certificate)
    assert f"<cbc:ID>{attachment_id(1)}</cbc:ID>".encode() in rendered.data
    assert ADAPTERS["ubl-coo-2.4"].parse(rendered.data).certificate == certificate


_EXPORTER_NAME = "<cbc:Name>株式会社星野産業貿易</cbc:Name>\n    </cac:PartyName>\n    <cac:PostalAddress>"
UNMAPPABLE = {
    "no number": [(">JP-RCEP-2026-0000001</cbc:ID>\n  <cbc:IssueDate>", "></cbc:ID>\n  <cbc:IssueDate>")],
    "no valid issue date": [("<cbc:IssueDate>", "<cbc:IssueTime>"), ("</cbc:IssueDate>", "</cbc:IssueTime>")],
    "exporter is not named": [(_EXPORTER_NAME, _EXPORTER_NAME.replace("株式会社星野産業貿易", " "))],
    "no description": [("<cbc:Description>自動変速機", "<cbc:Note>自動変速機"), ("</cbc:Description>", "</cbc:Note>")],
}


@pytest.mark.parametrize("message", UNMAPPABLE)
def test_certificates_the_model_cannot_hold(message: str) -> None:
    data = edited(example_certificate(1), *UNMAPPABLE[message])
    with pytest.raises(AdapterError, match=message):
        ADAPTERS["ubl-coo-2.4"].parse(data)


def test_other_documents_are_refused() -> None:
    with pytest.raises(AdapterError, match="not a UBL CertificateOfOrigin"):
        ADAPTERS["ubl-coo-2.4"].parse(b"<Invoice xmlns='urn:oasis:names:specification:ubl:schema:xsd:Invoice-2'/>")
    with pytest.raises(MalformedDocument):
        ADAPTERS["ubl-coo-2.4"].parse(b"<CertificateOfOrigin")
    with pytest.raises(ForbiddenConstruct):
        ADAPTERS["ubl-coo-2.4"].parse(b'<!DOCTYPE x [<!ENTITY e "x">]><x>&e;</x>')
    assert issubclass(MalformedDocument, DocumentError)
