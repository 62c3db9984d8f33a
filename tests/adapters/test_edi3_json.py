"""The ``edi3-coo-json`` adapter: the TradeTrust corpus, the loss report, JSON Schema validity, round trips."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from adapters import ADAPTERS, AdapterError, LossEntry, translate
from adapters.edi3_json import CARRIES, EDI3_COO_JSON, NO_GOODS, NOT_STATED
from adapters.model import (
    Address,
    CertificateOfOrigin,
    CertificateStatus,
    Measure,
    Party,
    field_paths,
    generic_path,
    present_values,
)
from schemas.engine import ValidationEngine
from schemas.errors import MalformedDocument
from tests.adapters.strategies import certificates, example_certificate

FORMAT = "edi3-coo-json"
SAMPLES = ("ChaftaCooSampleV2", "ChaftaCooSampleV3", "SimpleCooSampleV2", "SimpleCooSampleV3")
REFERENCE_ONLY = ("ChaftaCooSampleW3C", "ChaftaCooSampleW3C_V2")
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "edi3-coo-json"


# ------------------------------------------------------------------------------------------- helpers
def _sample(corpus: Path, name: str) -> bytes:
    return (corpus / "eco-json" / f"{name}.json").read_bytes()


def _exact(value: Any) -> Any:
    # Decimal("100.10") == Decimal("100.1"): compare the digits as written, so a lost trailing zero or a float shows.
    return str(value) if isinstance(value, Decimal) else value


def _leaves(certificate: CertificateOfOrigin) -> dict[str, Any]:
    return {path: _exact(value) for path, value in present_values(certificate)}


def _named(path: str, fields: set[str]) -> bool:
    """Whether a loss entry names ``path`` itself or a field that contains it (``importer`` ⊃ ``importer.name``)."""
    return path in fields or any(path[:i] in fields for i, ch in enumerate(path) if ch in ".[")


def _names_exactly(fields: list[str], leaves: set[str]) -> bool:
    """Loss entries name exactly ``leaves``: each leaf under one entry, each entry over at least one leaf.

    An entry may name a whole value (``goods_items[2].fob_value`` for its amount and currency).
    """
    covered = [leaf for leaf in leaves for field in fields if _named(leaf, {field})]
    return sorted(covered) == sorted(leaves) and all(any(_named(leaf, {f}) for leaf in leaves) for f in fields)


def _json_leaves(value: Any, pointer: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(value, dict):
        for key, child in value.items():
            yield from _json_leaves(child, f"{pointer}/{key.replace('~', '~0').replace('/', '~1')}")
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from _json_leaves(child, f"{pointer}/{index}")
    else:
        yield pointer, value


def _set(document: Any, pointer: str, value: Any) -> None:
    *parents, last = pointer.lstrip("/").split("/")
    node = document
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node[part.replace("~1", "/").replace("~0", "~")]
    if isinstance(node, list):
        node[int(last)] = value
    else:
        node[last.replace("~1", "/").replace("~0", "~")] = value


def _listed(pointer: str, losses: tuple[LossEntry, ...]) -> bool:
    return any(
        e.source_path is not None and (pointer == e.source_path or pointer.startswith(e.source_path + "/"))
        for e in losses
    )


def _render_valid(engine: ValidationEngine, certificate: CertificateOfOrigin) -> tuple[bytes, tuple[LossEntry, ...]]:
    rendered = EDI3_COO_JSON.render(certificate)
    report = engine.validate(rendered.data, FORMAT)
    assert report.valid, [(f.path, f.message) for f in report.findings[:5]]
    return rendered.data, rendered.losses


def _minimal(**changes: Any) -> dict[str, Any]:
    document: dict[str, Any] = {
        "iD": "AU-1",
        "issueDateTime": "2026-01-05T00:00:00Z",
        "supplyChainConsignment": {
            "exportCountry": {"code": "AU"},
            "exporter": {"name": "Exporter Pty"},
            "importer": {"name": "Importer Co"},
            "includedConsignmentItems": [
                {"tradeLineItems": [{"sequenceNumber": 1, "tradeProduct": {"description": "Wine"}}]}
            ],
        },
    }
    document.update(changes)
    return document


def _parse(document: dict[str, Any]) -> tuple[CertificateOfOrigin, tuple[LossEntry, ...]]:
    result = EDI3_COO_JSON.parse(json.dumps(document).encode())
    return result.certificate, result.losses


# ------------------------------------------------------------------------------------------- registry, catalogue
def test_registered_under_its_format_id() -> None:
    adapter = ADAPTERS[FORMAT]
    assert adapter is EDI3_COO_JSON
    assert (adapter.format_id, adapter.media_type) == (FORMAT, "application/json")


def test_every_canonical_field_is_carried_or_has_a_render_reason() -> None:
    # A field added to the model must be mapped or given a reason, not fall through silently.
    from adapters.edi3_json import _RENDER_REASONS

    assert field_paths() >= CARRIES
    for path in field_paths() - CARRIES:
        assert any(path == key or path.startswith((key + ".", key + "[")) for key in _RENDER_REASONS), path


# ------------------------------------------------------------------------------------------- the corpus
@pytest.mark.parametrize("name", SAMPLES)
def test_every_content_sample_parses(corpus: Path, name: str) -> None:
    result = EDI3_COO_JSON.parse(_sample(corpus, name))
    certificate = result.certificate
    assert certificate.goods_items
    assert all(entry.reason for entry in result.losses)
    if name.startswith("Chafta"):
        assert certificate.number == "wfa.org.au:coo:WBC208897"
        assert certificate.issue_date == date(2020, 6, 3)
        assert (certificate.agreement, certificate.preferential, certificate.issuing_country) == ("CHAFTA", True, "AU")
        assert [g.sequence for g in certificate.goods_items] == [1, 2, 3]
        first = certificate.goods_items[0]
        assert (first.hs_code, first.origin_criterion, first.origin_country) == ("220421", "WP", "AU")
        # two pallets of "450 Kg": the goods item's gross weight is their sum, in the Rec 20 unit
        assert first.gross_weight == Measure(value=Decimal(900), unit="KGM")
        assert first.packages is not None
        assert first.packages.count == 2
        assert certificate.goods_items[2].origin_criterion == "PSR"
        assert certificate.transport is not None
        assert certificate.transport.loading_port is not None
        assert certificate.transport.loading_port.code == "AUMEL"
        assert certificate.importer is not None
        assert certificate.importer.address is not None
        assert certificate.importer.address.country == "CN"
    else:
        assert (certificate.number, certificate.issue_date) == ("IMDA0001", date(2021, 9, 21))
        assert (certificate.agreement, certificate.issuing_country) == (None, "AU")
        assert certificate.goods_items[0].hs_code == "220421"
        assert certificate.goods_items[0].invoice_date == date(2021, 7, 5)
        assert certificate.exporter_declaration is not None
        assert certificate.exporter_declaration.startswith("The undersigned hereby declares")
        filled = {e.field: e.value for e in result.losses if e.kind == "filled"}
        assert filled == {"issuing_country": "AU", "goods_items[0].sequence": "1"}
        issue = next(e for e in result.losses if e.field == "issue_date")
        assert (issue.kind, issue.value) == ("dropped", "21 September 2021, 3:05pm")


@pytest.mark.parametrize("name", REFERENCE_ONLY)
def test_reference_only_credentials_are_refused_with_the_reason(corpus: Path, name: str) -> None:
    with pytest.raises(AdapterError, match="a reference-only credential carries no certificate content"):
        EDI3_COO_JSON.parse(_sample(corpus, name))


def test_wrappers_agree_and_are_reported_once_per_key(corpus: Path) -> None:
    v2 = EDI3_COO_JSON.parse(_sample(corpus, "ChaftaCooSampleV2"))
    v3 = EDI3_COO_JSON.parse(_sample(corpus, "ChaftaCooSampleV3"))
    assert v2.certificate == v3.certificate
    wrapper_v2 = {e.source_path for e in v2.losses if "credential metadata" in e.reason}
    wrapper_v3 = {e.source_path for e in v3.losses if "credential metadata" in e.reason}
    assert wrapper_v2 == {"/$template", "/issuers"}
    assert wrapper_v3 == {"/@context", "/type", "/issuanceDate", "/issuer", "/openAttestationMetadata"}
    # Content losses are the same values, under the v3 subject's pointer.
    content_v2 = {(e.source_path, e.value) for e in v2.losses if e.source_path not in wrapper_v2}
    content_v3 = {
        (e.source_path.removeprefix("/credentialSubject") if e.source_path else None, e.value)
        for e in v3.losses
        if e.source_path not in wrapper_v3
    }
    assert content_v2 == content_v3


@pytest.mark.parametrize("name", ["ChaftaCooSampleV2", "SimpleCooSampleV3"])
def test_no_value_is_dropped_silently(corpus: Path, name: str) -> None:
    """Each leaf the loss report does not list is held: changing it changes the certificate or the report."""
    data = _sample(corpus, name)
    original = EDI3_COO_JSON.parse(data)
    document = json.loads(data)
    unlisted = [(p, v) for p, v in _json_leaves(document) if v not in (None, "") and not _listed(p, original.losses)]
    assert len(unlisted) > 10
    for pointer, value in unlisted:
        changed = json.loads(data)
        if isinstance(value, bool):
            _set(changed, pointer, not value)
        elif isinstance(value, int):
            _set(changed, pointer, value + 1)
        else:
            _set(changed, pointer, str(value) + "7")
        try:
            result = EDI3_COO_JSON.parse(json.dumps(changed).encode())
        except AdapterError:
            continue  # a required value: the change is noticed
        noticed = result.certificate != original.certificate or _listed(pointer, result.losses)
        assert noticed, f"{pointer} ({value!r}) is neither held nor reported"


def test_unknown_keys_are_reported_where_they_are(corpus: Path) -> None:
    document = json.loads(_sample(corpus, "ChaftaCooSampleV3"))
    line = document["credentialSubject"]["supplyChainConsignment"]["includedConsignmentItems"][1]["tradeLineItems"][0]
    line["tradeProduct"]["colour"] = "red"
    line["netWeight"] = {"value": 12.5, "unitCode": "KGM"}
    document["credentialSubject"]["remarks/extra"] = ["a", {"deep": 3}]
    losses = EDI3_COO_JSON.parse(json.dumps(document).encode()).losses
    base = "/credentialSubject/supplyChainConsignment/includedConsignmentItems/1/tradeLineItems/0"
    found = {e.source_path: (e.kind, e.field, e.value) for e in losses}
    assert found[f"{base}/tradeProduct/colour"] == ("dropped", f"{base}/tradeProduct/colour", "red")
    # a measure object is one value, reported whole
    assert found[f"{base}/netWeight"][2] == '{"value":12.5,"unitCode":"KGM"}'
    assert found["/credentialSubject/remarks~1extra/0"][2] == "a"
    assert found["/credentialSubject/remarks~1extra/1/deep"][2] == "3"


def test_long_values_are_shortened_in_the_report(corpus: Path) -> None:
    losses = EDI3_COO_JSON.parse(_sample(corpus, "ChaftaCooSampleV2")).losses
    signature = next(e for e in losses if e.source_path == "/firstSignatoryAuthentication/signature")
    assert signature.value is not None
    assert signature.value.startswith("data:image/jpeg;base64,")
    assert signature.value.endswith("[17447 characters]")
    assert len(signature.value) < 120


@pytest.mark.parametrize("name", SAMPLES)
def test_sample_translates_to_valid_ubl_24(corpus: Path, engine: ValidationEngine, name: str) -> None:
    translation = translate(_sample(corpus, name), FORMAT, "ubl-coo-2.4")
    report = engine.validate(translation.data, "ubl-coo-2.4")
    errors = [(f.rule, f.message) for f in report.findings if f.severity == "error"]
    xsd_errors = [f for f in report.findings if f.area == "schema"]
    assert xsd_errors == []
    # ChAFTA certificates keep their agreement (cbc:CertificateType CHAFTA) and criteria (WP, PSR): the CoO rules
    # know that agreement (ADR 0005, addendum), so nothing is mapped to NON-PREFERENTIAL to pass them.
    assert report.valid, errors


@pytest.mark.parametrize("name", SAMPLES)
def test_sample_keeps_every_unlisted_value_through_ubl_and_back(corpus: Path, name: str) -> None:
    to_ubl = translate(_sample(corpus, name), FORMAT, "ubl-coo-2.4")
    back = translate(to_ubl.data, "ubl-coo-2.4", FORMAT)
    again = EDI3_COO_JSON.parse(back.data)
    lost = {e.field for e in to_ubl.losses + back.losses + again.losses}
    before, after = _leaves(to_ubl.certificate), _leaves(again.certificate)
    kept = {path: value for path, value in before.items() if not _named(path, lost)}
    assert kept == {path: value for path, value in after.items() if path in kept}
    assert set(kept) == {path for path in after if not _named(path, lost)}
    # What was lost on the way back is exactly what edi3 has no element for.
    assert _names_exactly([e.field for e in back.losses], {p for p in before if generic_path(p) not in CARRIES})


def test_measure_dialects(engine: ValidationEngine) -> None:
    fixture = json.loads((FIXTURES / "valid" / "chafta-v3-measure-objects.json").read_bytes())
    certificate = EDI3_COO_JSON.parse(json.dumps(fixture).encode()).certificate
    assert all(g.gross_weight is not None and g.gross_weight.unit == "KGM" for g in certificate.goods_items)
    item = {
        "tradeLineItems": [
            {"tradeProduct": {"description": "a"}, "grossWeight": "0.1 kg"},
            {"tradeProduct": {"description": "b"}, "grossWeight": {"value": 0.3, "unitCode": "TNE"}},
            {"tradeProduct": {"description": "c"}, "grossWeight": "12,50 KGM"},
            {"tradeProduct": {"description": "d"}, "grossWeight": "7 bales"},
        ]
    }
    document = _minimal()
    document["supplyChainConsignment"]["includedConsignmentItems"] = [item]
    certificate, losses = _parse(document)
    weights = [g.gross_weight for g in certificate.goods_items]
    assert weights[:3] == [
        Measure(value=Decimal("0.1"), unit="KGM"),
        Measure(value=Decimal("0.3"), unit="TNE"),
        Measure(value=Decimal("12.50"), unit="KGM"),
    ]
    assert str(weights[0].value if weights[0] else "") == "0.1"  # read from the JSON text, not through a float
    assert weights[3] is None
    unknown = next(e for e in losses if e.field == "goods_items[3].gross_weight")
    assert (unknown.value, unknown.source_path) == (
        "7 bales",
        "/supplyChainConsignment/includedConsignmentItems/0/tradeLineItems/3/grossWeight",
    )
    # Rendered as objects with exact JSON numbers, never strings.
    data, _ = _render_valid(engine, certificate)
    lines = json.loads(data, parse_float=Decimal)["supplyChainConsignment"]["includedConsignmentItems"][0]
    assert [line.get("grossWeight") for line in lines["tradeLineItems"]] == [
        {"value": Decimal("0.1"), "unitCode": "KGM"},
        {"value": Decimal("0.3"), "unitCode": "TNE"},
        {"value": Decimal("12.50"), "unitCode": "KGM"},
        None,
    ]


def test_decimals_keep_every_digit(engine: ValidationEngine) -> None:
    values = ["0.1", "12345678901234.567890", "9007199254740993", "0.000001", "100.10", "0", "1E+3"]
    base = example_certificate(len(values))
    goods = tuple(
        g.model_copy(update={"gross_weight": Measure(value=Decimal(v), unit="KGM")})
        for g, v in zip(base.goods_items, values, strict=True)
    )
    certificate = base.model_copy(update={"goods_items": goods})
    data, _ = _render_valid(engine, certificate)
    text = data.decode()
    for value in values:
        assert f'"value":{value},' in text
    parsed = EDI3_COO_JSON.parse(data).certificate
    assert [str(g.gross_weight.value) for g in parsed.goods_items if g.gross_weight] == values


def test_dates_lose_the_time_of_day_but_not_midnight_utc() -> None:
    certificate, losses = _parse(_minimal(issueDateTime="2020-06-03T23:46:34+10:00"))
    assert certificate.issue_date == date(2020, 6, 3)  # the date as written
    assert [(e.kind, e.field, e.value) for e in losses] == [("dropped", "issue_date", "2020-06-03T23:46:34+10:00")]
    for quiet in ("2020-06-03T00:00:00Z", "2020-06-03T00:00:00.000+00:00", "2020-06-03"):
        certificate, losses = _parse(_minimal(issueDateTime=quiet))
        assert (certificate.issue_date, losses) == (date(2020, 6, 3), ())
    with pytest.raises(AdapterError, match="issueDateTime"):
        _parse(_minimal(issueDateTime="3 o'clock"))


def test_preference_must_name_an_agreement() -> None:
    certificate, losses = _parse(_minimal(isPreferential=True))
    assert (certificate.preferential, certificate.agreement) == (False, None)
    assert [(e.field, e.source_path) for e in losses] == [("preferential", "/isPreferential")]
    certificate, losses = _parse(_minimal(isPreferential=False, freeTradeAgreement="RCEP"))
    assert (certificate.preferential, certificate.agreement) == (False, None)
    assert [(e.field, e.value) for e in losses] == [("agreement", "RCEP")]


def test_invalid_values_are_reported_not_kept() -> None:
    document = _minimal()
    line = document["supplyChainConsignment"]["includedConsignmentItems"][0]["tradeLineItems"][0]
    line["tradeProduct"] |= {"originCountry": {"code": "XX"}, "harmonisedTariffCode": {"classCode": "22.04"}}
    certificate, losses = _parse(document)
    assert (certificate.goods_items[0].origin_country, certificate.goods_items[0].hs_code) == (None, None)
    assert {(e.field, e.value) for e in losses} == {
        ("goods_items[0].origin_country", "XX"),
        ("goods_items[0].hs_code", "22.04"),
    }


def test_missing_sequence_numbers_are_filled_and_reported() -> None:
    document = _minimal()
    document["supplyChainConsignment"]["includedConsignmentItems"] = [
        {"information": "Loose cargo"},
        {"tradeLineItems": [{"sequenceNumber": 4, "tradeProduct": {"description": "a"}}]},
        {"tradeLineItems": [{"sequenceNumber": 4, "tradeProduct": {"description": "b"}}]},
    ]
    certificate, losses = _parse(document)
    assert [(g.sequence, g.description) for g in certificate.goods_items] == [(5, "Loose cargo"), (4, "a"), (6, "b")]
    assert [(e.kind, e.field, e.value) for e in losses] == [
        ("filled", "goods_items[0].sequence", "5"),
        ("filled", "goods_items[2].sequence", "6"),
    ]


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (b'{"iD": "1", "iD": "2"}', MalformedDocument),
        (b'{"iD": NaN}', MalformedDocument),
        (b"[1, 2]", AdapterError),
        (b'{"iD": "x"}', AdapterError),
        (b'{"credentialSubject": {"type": ["Coo"], "supplyChainConsignmentId": "1"}}', AdapterError),
        (json.dumps(_minimal(iD=" ")).encode(), AdapterError),
    ],
)
def test_documents_that_cannot_be_mapped(data: bytes, error: type[Exception]) -> None:
    with pytest.raises(error):
        EDI3_COO_JSON.parse(data)


# ------------------------------------------------------------------------------------------- rendering
def test_render_fills_what_the_schema_requires(engine: ValidationEngine) -> None:
    bare = example_certificate(1, agreement=None).model_copy(
        update={"goods_items": (), "importer": None, "consignee": None}
    )
    data, losses = _render_valid(engine, bare)
    filled = {(e.field, e.value) for e in losses if e.kind == "filled"}
    assert filled == {("importer.name", NOT_STATED), ("goods_items", NO_GOODS)}
    parsed = EDI3_COO_JSON.parse(data).certificate
    assert parsed.importer == Party(name=NOT_STATED)
    assert [g.description for g in parsed.goods_items] == [NO_GOODS]

    consignee = Party(name="บริษัท ตัวอย่าง จำกัด", address=Address(country="TH"))
    with_consignee = bare.model_copy(update={"consignee": consignee})
    data, losses = _render_valid(engine, with_consignee)
    assert ("importer", consignee.name) in {(e.field, e.value) for e in losses if e.kind == "filled"}
    parsed = EDI3_COO_JSON.parse(data).certificate
    assert parsed.importer == parsed.consignee == consignee


def test_unicode_certificate_round_trips_exactly(engine: ValidationEngine) -> None:
    certificate = example_certificate(12)
    data, losses = _render_valid(engine, certificate)
    assert "株式会社星野産業貿易".encode() in data
    assert "แหลมฉบัง".encode() in data
    parsed = EDI3_COO_JSON.parse(data)
    assert parsed.losses == ()
    lost = {e.field for e in losses}
    assert {p: v for p, v in _leaves(parsed.certificate).items()} == {
        p: v for p, v in _leaves(certificate).items() if not _named(p, lost)
    }


@pytest.mark.parametrize("n_goods", [0, 5000])
def test_goods_item_extremes(engine: ValidationEngine, n_goods: int) -> None:
    certificate = example_certificate(max(n_goods, 1))
    if n_goods == 0:
        certificate = certificate.model_copy(update={"goods_items": ()})
    data, losses = _render_valid(engine, certificate)
    parsed = EDI3_COO_JSON.parse(data).certificate
    assert len(parsed.goods_items) == max(n_goods, 1)
    if n_goods:
        lost = {e.field for e in losses}
        assert _leaves(parsed) == {p: v for p, v in _leaves(certificate).items() if not _named(p, lost)}
    else:
        assert [e.field for e in losses if e.kind == "filled"] == ["goods_items"]


def test_translation_from_ubl_names_exactly_what_edi3_cannot_carry() -> None:
    certificate = example_certificate(3)
    ubl = ADAPTERS["ubl-coo-2.4"].render(certificate).data
    translation = translate(ubl, "ubl-coo-2.4", FORMAT)
    expected = {p for p in _leaves(translation.certificate) if generic_path(p) not in CARRIES} | {"remarks[1]"}
    assert _names_exactly([e.field for e in translation.losses if e.kind == "dropped"], expected)
    fob = next(e for e in translation.losses if e.field == "goods_items[1].fob_value")
    assert (fob.value, fob.source_path) == ("1234567.89 USD", None)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(certificate=certificates(min_goods=1, max_goods=4))
def test_round_trip_property(engine: ValidationEngine, certificate: CertificateOfOrigin) -> None:
    """Canonical → edi3 → JSON Schema valid → canonical: equal in every carried field; losses name the rest."""
    data, losses = _render_valid(engine, certificate)
    parsed = EDI3_COO_JSON.parse(data)
    assert parsed.losses == ()

    original = _leaves(certificate)
    not_carried = {
        p for p in original if generic_path(p) not in CARRIES or (p.startswith("remarks[") and p != "remarks[0]")
    }
    dropped = [e.field for e in losses if e.kind == "dropped"]
    assert _names_exactly(dropped, not_carried)
    filled = {e.field for e in losses if e.kind == "filled"}
    if certificate.importer is not None:
        assert filled == set()
    else:  # edi3 requires an importer: the consignee stands in, or a "(not stated)" name
        assert filled == ({"importer"} if certificate.consignee else {"importer.name"})

    carried = {p: v for p, v in original.items() if p not in not_carried}
    back = {p: v for p, v in _leaves(parsed.certificate).items() if not _named(p, filled)}
    assert back == carried
    assert parsed.certificate.status is CertificateStatus(certificate.status)
