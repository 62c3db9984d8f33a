"""The canonical model: typed values, the invariants it keeps, field paths, and the adapter registry."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from pydantic import ValidationError

import adapters
from adapters import (
    ADAPTERS,
    Adapter,
    AdapterError,
    AdapterNotFound,
    Address,
    Amount,
    Attachment,
    CertificateOfOrigin,
    CertificateStatus,
    GoodsItem,
    Location,
    Measure,
    Packages,
    Party,
    SpecialFlags,
    Transport,
    register,
    translate,
)
from adapters.model import field_paths, generic_path, present_values
from tests.adapters.strategies import PROPERTY_SETTINGS, certificates, example_certificate


def minimal(**changes: Any) -> CertificateOfOrigin:
    fields: dict[str, Any] = {
        "number": "TH-2026-1",
        "issue_date": date(2026, 1, 5),
        "issuing_country": "TH",
        "exporter": Party(name="Siam Export"),
    }
    return CertificateOfOrigin(**{**fields, **changes})


# ------------------------------------------------------------------------------------------- typed values
@pytest.mark.parametrize("code", ["TH", "JP", "ID"])
def test_country_codes_are_iso_3166_alpha_2(code: str) -> None:
    assert minimal(issuing_country=code).issuing_country == code


@pytest.mark.parametrize("code", ["THA", "th", "UK", "", "XX"])
def test_other_country_spellings_are_refused(code: str) -> None:
    with pytest.raises(ValidationError, match="ISO 3166"):
        minimal(issuing_country=code)


def test_currency_and_unit_come_from_iso_4217_and_rec_20() -> None:
    assert Amount(value=Decimal("1.10"), currency="USD").currency == "USD"
    assert Measure(value=Decimal(3), unit="KGM").unit == "KGM"
    with pytest.raises(ValidationError, match="ISO 4217"):
        Amount(value=Decimal(1), currency="RMB")
    with pytest.raises(ValidationError, match="Recommendation 20"):
        Measure(value=Decimal(1), unit="KG")


@pytest.mark.parametrize("value", [Decimal(-1), Decimal("NaN"), Decimal("Infinity")])
def test_amounts_and_measures_are_finite_and_not_negative(value: Decimal) -> None:
    with pytest.raises(ValidationError):
        Amount(value=value, currency="USD")
    with pytest.raises(ValidationError):
        Measure(value=value, unit="KGM")


def test_decimals_keep_every_digit() -> None:
    amount = Amount(value=Decimal("0.1") + Decimal("0.2"), currency="USD")
    assert amount.value == Decimal("0.3")
    assert str(Amount(value=Decimal("1234567.89"), currency="USD").value) == "1234567.89"
    # From JSON the digits arrive as text, never through a float.
    assert Amount.model_validate_json('{"value": "0.30", "currency": "USD"}').value == Decimal("0.30")


@pytest.mark.parametrize("hs", ["401110", "40111000", "4011100010"])
def test_hs_codes_are_6_to_10_digits(hs: str) -> None:
    assert GoodsItem(sequence=1, description="Tyres", hs_code=hs).hs_code == hs


@pytest.mark.parametrize("hs", ["40111", "4011.10", "40111000100", "4011 10", "ABCDEF"])
def test_other_hs_shapes_are_refused(hs: str) -> None:
    with pytest.raises(ValidationError):
        GoodsItem(sequence=1, description="Tyres", hs_code=hs)


@pytest.mark.parametrize("text", ["", "   ", "\n\t", "bell\x07", "cr\r", "\ufffe"])
def test_text_is_not_blank_and_xml_safe(text: str) -> None:
    with pytest.raises(ValidationError):
        Party(name=text)


@pytest.mark.parametrize("token", [" X", "X ", "A\nB", "A\tB", ""])
def test_identifiers_are_one_trimmed_line(token: str) -> None:
    with pytest.raises(ValidationError):
        minimal(number=token)


@pytest.mark.parametrize(
    ("fits", "too_large"),
    [
        ({"number": "N" * 128}, {"number": "N" * 129}),
        (
            {"status": CertificateStatus.REPLACEMENT, "replaces": "N" * 128},
            {"status": CertificateStatus.REPLACEMENT, "replaces": "N" * 129},
        ),
        ({"version": 999_999_999}, {"version": 1_000_000_000}),
    ],
    ids=["number", "replaced-number", "version"],
)
def test_numbers_and_versions_fit_the_registry(fits: dict[str, Any], too_large: dict[str, Any]) -> None:
    # The gateway's registry stores numbers of up to 128 characters and INTEGER versions (a notice writes nine
    # digits); a larger one was a server error on PostgreSQL, which refuses what SQLite stores.
    minimal(**fits)
    with pytest.raises(ValidationError):
        minimal(**too_large)


def test_unicode_text_is_kept_as_given() -> None:
    party = Party(name="株式会社星野産業貿易", address=Address(lines=("บริษัท สยาม\nชั้น 5",), city="横浜市"))
    assert party.name == "株式会社星野産業貿易"
    assert party.address is not None
    assert party.address.lines == ("บริษัท สยาม\nชั้น 5",)


def test_codes_of_packages_ports_and_attachments() -> None:
    assert Packages(count=3, kind="CT").kind == "CT"
    assert Location(code="THLCH").code == "THLCH"
    assert Attachment(mime_type="application/pdf", content=b"%PDF").mime_type == "application/pdf"
    with pytest.raises(ValidationError):
        Packages(kind="carton")
    with pytest.raises(ValidationError):
        Location(code="TH LCH")
    with pytest.raises(ValidationError):
        Attachment(mime_type="pdf", content=b"")


# ------------------------------------------------------------------------------------------- invariants
def test_preferential_follows_the_agreement() -> None:
    assert minimal(agreement="RCEP").preferential is True
    assert minimal().preferential is False
    assert minimal(agreement="ATIGA", preferential=True).preferential is True
    with pytest.raises(ValidationError, match="preferential must be true exactly when"):
        minimal(agreement="RCEP", preferential=False)
    with pytest.raises(ValidationError, match="preferential must be true exactly when"):
        minimal(preferential=True)
    with pytest.raises(ValidationError, match="agreement None"):
        minimal(agreement="NON-PREFERENTIAL")


def test_goods_item_sequences_are_unique() -> None:
    items = (GoodsItem(sequence=2, description="A"), GoodsItem(sequence=2, description="B"))
    with pytest.raises(ValidationError, match="sequence 2 appears twice"):
        minimal(goods_items=items)
    with pytest.raises(ValidationError):
        GoodsItem(sequence=0, description="A")


def test_an_empty_optional_part_is_absent() -> None:
    certificate = minimal(
        exporter=Party(name="X", address=Address()),
        transport=Transport(loading_port=Location()),
        goods_items=(GoodsItem(sequence=1, description="A", packages=Packages()),),
    )
    assert certificate.exporter.address is None
    assert certificate.transport is None
    assert certificate.goods_items[0].packages is None


def test_the_model_is_frozen_and_closed() -> None:
    certificate = minimal()
    with pytest.raises(ValidationError):
        certificate.number = "other"  # type: ignore[misc]
    with pytest.raises(ValidationError, match="Extra inputs"):
        CertificateOfOrigin.model_validate({**certificate.model_dump(), "colour": "red"})


def test_status_values() -> None:
    assert [s.value for s in CertificateStatus] == ["issued", "replacement", "withdrawn"]
    assert minimal().status is CertificateStatus.ISSUED
    assert minimal(status="replacement", replaces="TH-2025-9").status is CertificateStatus.REPLACEMENT


@PROPERTY_SETTINGS
@given(certificates(min_goods=0))
def test_json_round_trip_keeps_everything(certificate: CertificateOfOrigin) -> None:
    # Attachments travel as base64 in JSON; decimals as text.
    assert CertificateOfOrigin.model_validate_json(certificate.model_dump_json()) == certificate


# ------------------------------------------------------------------------------------------- field paths
def test_field_paths_cover_the_contract() -> None:
    paths = field_paths()
    for path in (
        "number",
        "version",
        "status",
        "replaces",
        "issuing_authority.address.lines[]",
        "goods_items[].hs_code",
        "goods_items[].fob_value.currency",
        "goods_items[].packages.kind",
        "goods_items[].manufacturer.name",
        "transport.loading_port.code",
        "remarks[]",
        "flags.exhibition",
        "attachments[].content",
    ):
        assert path in paths
    assert all("[" not in p or "[]" in p for p in paths)


def test_present_values_skip_defaults_and_index_lists() -> None:
    certificate = minimal(
        goods_items=(GoodsItem(sequence=7, description="A", hs_code="401110"),),
        remarks=("one", "two"),
        flags=SpecialFlags(exhibition=True),
    )
    present = dict(present_values(certificate))
    assert present["goods_items[0].sequence"] == 7
    assert present["goods_items[0].hs_code"] == "401110"
    assert present["remarks[1]"] == "two"
    assert present["flags.exhibition"] is True
    assert "flags.back_to_back" not in present  # false is the default: nothing to carry
    assert "version" not in present
    assert "preferential" not in present  # false, the default, on a non-preferential certificate
    assert dict(present_values(minimal(agreement="RCEP")))["preferential"] is True
    assert generic_path("goods_items[12].manufacturer.address.lines[3]") == "goods_items[].manufacturer.address.lines[]"
    assert {generic_path(p) for p in present} <= field_paths()


def test_every_field_is_present_in_the_full_example() -> None:
    # The explicit example fills every field but two flags, so the explicit tests exercise every mapping.
    present = {generic_path(p) for p, _ in present_values(example_certificate(2))}
    missing = field_paths() - present
    assert missing == {"flags.back_to_back", "flags.exhibition"}


# ------------------------------------------------------------------------------------------- registry
def test_the_ubl_adapters_are_registered() -> None:
    assert {"ubl-coo-2.4", "ubl-coo-2.1"} <= set(ADAPTERS)
    for format_id, adapter in ADAPTERS.items():
        assert isinstance(adapter, Adapter)
        assert adapter.format_id == format_id
        assert adapter.carries() <= field_paths()


def test_registry_is_read_only_and_ids_are_unique() -> None:
    with pytest.raises(TypeError):
        ADAPTERS["x"] = ADAPTERS["ubl-coo-2.4"]  # type: ignore[index]
    other = adapters.ubl.UblCooAdapter("ubl-coo-2.4", "2.4")
    with pytest.raises(RuntimeError, match="already registered"):
        register(other)
    assert register(ADAPTERS["ubl-coo-2.4"]) is ADAPTERS["ubl-coo-2.4"]  # the same object again is harmless


def test_translate_names_unknown_formats() -> None:
    with pytest.raises(AdapterNotFound, match="no adapter for format 'nope'"):
        translate(b"<x/>", "nope", "ubl-coo-2.4")
    assert issubclass(AdapterNotFound, AdapterError)
    assert issubclass(AdapterError, ValueError)


def test_the_library_has_no_web_or_database_imports() -> None:
    source = "\n".join(p.read_text(encoding="utf-8") for p in Path(adapters.__file__).parent.glob("*.py"))
    for forbidden in ("fastapi", "sqlmodel", "sqlalchemy", "starlette", "gateway"):
        assert f"import {forbidden}" not in source
        assert f"from {forbidden}" not in source
