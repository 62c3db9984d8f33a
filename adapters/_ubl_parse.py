"""UBL CertificateOfOrigin (any 2.x) → canonical certificate, reporting every value the model cannot hold.

How nothing is dropped silently: every element text and attribute the mapping reads is marked *consumed*; after
the mapping, one walk over the whole tree reports each non-blank text and each attribute that was not consumed
as ``dropped``, with its XPath. A value that maps to a canonical field but does not fit its type (a dotted HS
code, an alpha-3 country) is reported under that field's path. Values the renderer itself fills in where UBL
requires an element (ADR 0010) restate canonical values; the parser consumes them only when they are equal to
what the renderer would write, so a foreign document's different value is still reported.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable, Iterable
from datetime import date
from decimal import Decimal, InvalidOperation
from functools import cache, lru_cache
from typing import Any, cast

import pycountry
from lxml import etree
from pydantic import ValidationError

from adapters._ubl_common import (
    APPROVED,
    EXPORTER_ROLE,
    HS_LIST,
    INVOICE_LIST,
    INVOICE_TYPE,
    ISSUER_ROLE,
    LOCODE_SCHEME,
    NON_PREFERENTIAL,
    NOTE_FLAGS,
    NOTE_PREFIX,
    NOTE_PRODUCER,
    NOTE_PRODUCER_LINE,
    NOTE_SCALARS,
    PACKAGE_LIST,
    PREFIXES,
    UBL_NS,
    XSI_NS,
    attachment_id,
    tag,
)
from adapters.base import AdapterError, LossEntry, ParseResult
from adapters.model import (
    CertificateOfOrigin,
    CertificateStatus,
    CountryCode,
    CurrencyCode,
    HsCode,
    LoCode,
    MimeType,
    PackageKind,
    Text,
    Token,
    UnitCode,
    value_check,
)
from schemas.xmlparse import parse_xml

_ROOT_TAG = f"{{{UBL_NS}}}CertificateOfOrigin"
_CHECKS: dict[int, Callable[[str], str]] = {}


def _check(kind: Any) -> Callable[[str], str]:
    # Keyed by identity: hashing an Annotated alias walks its metadata on every call.
    check = _CHECKS.get(id(kind))
    if check is None:
        check = _CHECKS[id(kind)] = value_check(kind)
    return check


def _first(groups: dict[Any, list[etree._Element]], clark: str) -> etree._Element | None:
    group = groups.get(clark)
    return group[0] if group else None


_ITEM, _DESCRIPTION, _CLASSIFICATION, _CLASSIFICATION_CODE = (
    tag("cac:Item"),
    tag("cbc:Description"),
    tag("cac:CommodityClassification"),
    tag("cbc:ItemClassificationCode"),
)
_SHIPMENT_DOCUMENT, _ADDITIONAL_DOCUMENT, _DOCUMENT_TYPE_CODE, _ID, _ISSUE_DATE = (
    tag("cac:ShipmentDocumentReference"),
    tag("cac:AdditionalDocumentReference"),
    tag("cbc:DocumentTypeCode"),
    tag("cbc:ID"),
    tag("cbc:IssueDate"),
)
_ORIGIN_COUNTRY, _IDENTIFICATION_CODE, _MANUFACTURER, _CRITERION = (
    tag("cac:OriginCountry"),
    tag("cbc:IdentificationCode"),
    tag("cac:ManufacturerParty"),
    tag("cbc:PreferenceCriterionCode"),
)
_QUANTITY, _GROSS_WEIGHT, _FOB = tag("cbc:Quantity"), tag("cbc:GrossWeightMeasure"), tag("cbc:FreeOnBoardValueAmount")


@cache
def _steps(path: str) -> tuple[str, ...]:
    return tuple(tag(step) for step in path.split("/"))


@cache
def _country_names(code: str) -> frozenset[str]:
    """Names that merely spell out a country code (cac:Country/cbc:Name next to the code adds nothing)."""
    country = pycountry.countries.get(alpha_2=code)
    if country is None:
        return frozenset()
    names = {getattr(country, attr, None) for attr in ("name", "official_name", "common_name")}
    return frozenset(n.casefold() for n in names if n)


@lru_cache(maxsize=4096)  # bounded: tags come from untrusted documents
def _name(clark: Any) -> str:
    """``{urn:…CommonBasicComponents-2}ID`` → ``cbc:ID``; a namespace without a prefix here stays in Clark form."""
    qname = etree.QName(clark)
    prefix = PREFIXES.get(qname.namespace or "")
    return f"{prefix}:{qname.localname}" if prefix else f"{{{qname.namespace}}}{qname.localname}"


_NOTE = re.compile(r"^tradegw:([a-z_.]+(?:\[(\d+)\])?)=(.*)$", re.S)


class _Invalid(Exception):
    """A source value that does not fit the canonical field it maps to."""


class _Parser:
    def __init__(self, root: etree._Element) -> None:
        self.root = root
        # Proxies of consumed elements are kept alive here, so lxml hands out the same proxy object on every
        # later access and set membership is a node identity test.
        self.consumed: set[etree._Element] = set()
        self.consumed_attrs: set[tuple[etree._Element, str]] = set()
        self.losses: list[LossEntry] = []
        self._positions: dict[etree._Element, dict[etree._Element, str]] = {}
        self._kids: dict[etree._Element, dict[Any, list[etree._Element]]] = {}
        self._checked: dict[tuple[int, str], Any] = {}

    # ----- navigation and bookkeeping ---------------------------------------------------------------------
    # Paths are child steps only (``cac:Item/cbc:Description``). Each element's children are grouped by tag once:
    # ElementPath with a namespace map costs microseconds per call, and a certificate has thousands of goods items.
    def kids(self, el: etree._Element) -> dict[Any, list[etree._Element]]:
        groups = self._kids.get(el)
        if groups is None:
            groups = {}
            for child in el:
                groups.setdefault(child.tag, []).append(child)
            self._kids[el] = groups
        return groups

    def findall(self, parent: etree._Element | None, path: str) -> list[etree._Element]:
        if parent is None:
            return []
        found = [parent]
        for step in _steps(path):
            found = [child for el in found for child in self.kids(el).get(step, ())]
        return found

    def find(self, parent: etree._Element | None, path: str) -> etree._Element | None:
        node = parent
        for step in _steps(path):
            if node is None:
                return None
            group = self.kids(node).get(step)
            node = group[0] if group else None
        return node

    def xpath(self, el: etree._Element) -> str:
        steps: list[str] = []
        node: etree._Element | None = el
        while node is not None:
            parent = node.getparent()
            steps.append(self._step(parent, node))
            node = parent
        return "/" + "/".join(reversed(steps))

    def _step(self, parent: etree._Element | None, el: etree._Element) -> str:
        if parent is None:
            return _name(el.tag)
        positions = self._positions.get(parent)
        if positions is None:
            # One pass over the siblings per parent: paths of many dropped values under one parent stay linear.
            children = list(parent.iterchildren(etree.Element))
            tags = [child.tag for child in children]
            counts: dict[Any, int] = {}
            for name in tags:
                counts[name] = counts.get(name, 0) + 1
            seen: dict[Any, int] = {}
            positions = {}
            for child, name in zip(children, tags, strict=True):
                if counts[name] > 1:
                    seen[name] = seen.get(name, 0) + 1
                    positions[child] = f"{_name(name)}[{seen[name]}]"
                else:
                    positions[child] = _name(name)
            self._positions[parent] = positions
        return positions[el]

    def text(self, el: etree._Element | None, *, token: bool = False) -> str | None:
        """The element's text, consumed; None when absent or blank. Identifiers and codes are trimmed."""
        if el is None:
            return None
        self.consumed.add(el)
        value = el.text
        if value is None or not value.strip():
            return None
        return value.strip() if token else value

    def attr(self, el: etree._Element, name: str) -> str | None:
        value = el.get(name)
        if value is not None:
            self.consumed_attrs.add((el, name))
        return value

    def drop(self, field: str, el: etree._Element, value: str | None, reason: str) -> None:
        self.losses.append(LossEntry("dropped", field, self.xpath(el), value, reason))

    def typed(self, kind: Any, value: str, field: str, el: etree._Element) -> Any:
        # Codes repeat across goods items (one currency, a few units and countries): a value that passed its
        # check once passes again, so it is looked up instead of checked.
        key = (id(kind), value)
        checked = self._checked.get(key)
        if checked is not None:
            return checked
        try:
            checked = self._checked[key] = _check(kind)(value)
        except ValueError as exc:
            self.drop(field, el, value, f"not a valid value for {field}: {exc}")
            raise _Invalid from None
        return checked

    def value(
        self, el: etree._Element | None, field: str, kind: Any = None, convert: Callable[[str], Any] | None = None
    ) -> Any:
        """Read, convert and type-check one value; a misfit is reported under ``field`` and read as None."""
        # text() and typed() inlined: this runs for every value of every goods item.
        if el is None:
            return None
        self.consumed.add(el)
        raw = el.text
        if raw is None:
            return None
        if kind is Text:
            if not raw.strip():
                return None
        else:
            raw = raw.strip()
            if not raw:
                return None
        parsed: Any = raw
        if convert is not None:
            try:
                parsed = convert(raw)
            except (ValueError, ArithmeticError) as exc:
                self.drop(field, el, raw, f"not a valid value for {field}: {exc}")
                return None
        if kind is None:
            return parsed
        checked = self._checked.get((id(kind), parsed))
        if checked is not None:
            return checked
        try:
            return self.typed(kind, parsed, field, el)
        except _Invalid:
            return None

    # ----- shared shapes --------------------------------------------------------------------------------
    def party(self, el: etree._Element | None, field: str) -> dict[str, Any] | None:
        if el is None:
            return None
        name = self.value(self.find(el, "cac:PartyName/cbc:Name"), f"{field}.name", Text)
        if name is None:
            return None  # no name, no party: whatever else it holds is reported by the final walk
        party: dict[str, Any] = {"name": name}
        party_id = self.find(el, "cac:PartyIdentification/cbc:ID")
        party["id"] = self.value(party_id, f"{field}.id", Token)
        postal = self.find(el, "cac:PostalAddress")
        if postal is not None:
            lines = [
                self.value(line, f"{field}.address.lines[]", Text)
                for line in (
                    self.find(postal, "cbc:StreetName"),
                    self.find(postal, "cbc:AdditionalStreetName"),
                    *self.findall(postal, "cac:AddressLine/cbc:Line"),
                )
                if line is not None
            ]
            country_el = self.find(postal, "cac:Country/cbc:IdentificationCode")
            country = self.value(country_el, f"{field}.address.country", CountryCode)
            country_name = self.find(postal, "cac:Country/cbc:Name")
            if (
                country
                and country_name is not None
                and (country_name.text or "").strip().casefold() in (_country_names(country))
            ):
                self.consumed.add(country_name)
            party["address"] = {
                "lines": tuple(line for line in lines if line is not None),
                "city": self.value(self.find(postal, "cbc:CityName"), f"{field}.address.city", Text),
                "postal_code": self.value(self.find(postal, "cbc:PostalZone"), f"{field}.address.postal_code", Token),
                "country": country,
            }
        return party

    def measure(self, el: etree._Element | None, field: str, attribute: str, kind: Any) -> dict[str, Any] | None:
        if el is None:
            return None
        number = self.value(el, f"{field}.value", None, _non_negative)
        if number is None:
            return None
        unit_raw = el.get(attribute)
        if unit_raw is None:
            self.drop(field, el, el.text, f"{field} has no {attribute}: the canonical model keeps no bare numbers")
            return None
        self.consumed_attrs.add((el, attribute))
        key = "currency" if attribute == "currencyID" else "unit"
        unit = unit_raw.strip()
        checked = self._checked.get((id(kind), unit))
        if checked is None:
            try:
                checked = self.typed(kind, unit, f"{field}.{key}", el)
            except _Invalid:
                return None
        return {"value": number, key: checked}

    def location(self, el: etree._Element | None, field: str) -> dict[str, Any] | None:
        if el is None:
            return None
        code_el = self.find(el, "cbc:ID")
        code = self.value(code_el, f"{field}.code", LoCode, lambda s: s.replace(" ", ""))
        if code is not None and code_el is not None and code_el.get("schemeID") == LOCODE_SCHEME:
            self.attr(code_el, "schemeID")
        return {"code": code, "name": self.value(self.find(el, "cbc:Name"), f"{field}.name", Text)}

    def consume_if(self, el: etree._Element | None, expected: Iterable[str | None]) -> None:
        """Consume a value the renderer fills in, when it is one of the values it would have written."""
        if el is None:
            return
        values = {e for e in expected if e is not None}
        text = el.text or ""
        # Names are compared as written (they keep their white space), identifiers and codes also trimmed.
        if text in values or text.strip() in values:
            self.consumed.add(el)

    # ----- the document --------------------------------------------------------------------------------
    def parse(self) -> ParseResult:
        root = self.root
        if root.tag != _ROOT_TAG:
            raise AdapterError(f"not a UBL CertificateOfOrigin: the root element is {root.tag!r}")
        app = self.find(root, "cac:CertificateOfOriginApplication")
        shipment = self.find(app, "cac:Shipment")
        cert: dict[str, Any] = {}

        self.consumed.update(self.findall(root, "cbc:UBLVersionID"))  # the format's version, not the certificate's
        number = self.value(self.find(root, "cbc:ID"), "number", Token)
        if number is None:
            raise AdapterError("the certificate has no number (cbc:ID is missing, empty or not one line)")
        cert["number"] = number
        issue_date = self.value(self.find(root, "cbc:IssueDate"), "issue_date", None, date.fromisoformat)
        if issue_date is None:
            raise AdapterError(f"certificate {number}: no valid issue date (cbc:IssueDate)")
        cert["issue_date"] = issue_date
        cert["version"] = self.value(self.find(root, "cbc:VersionID"), "version", None, _positive_int)
        status_el = self.find(app, "cbc:ApplicationStatusCode")
        cert["status"] = self.value(status_el, "status", None, lambda s: CertificateStatus(s.casefold()))

        country = self.value(
            self.find(app, "cac:IssuingCountry/cbc:IdentificationCode"), "issuing_country", CountryCode
        )
        if country is None:
            raise AdapterError(f"certificate {number}: no valid issuing country (cac:IssuingCountry)")
        cert["issuing_country"] = country
        agreement = self.text(self.find(app, "cbc:CertificateType"), token=True)
        cert["agreement"] = None if agreement in (None, NON_PREFERENTIAL) else agreement

        cert["exporter"] = self.party(self.find(root, "cac:ExporterParty"), "exporter") or self.party(
            self.find(app, "cac:ExporterParty"), "exporter"
        )
        if cert["exporter"] is None:
            raise AdapterError(f"certificate {number}: the exporter is not named (cac:ExporterParty/cac:PartyName)")
        cert["importer"] = self.party(self.find(root, "cac:ImporterParty"), "importer") or self.party(
            self.find(app, "cac:ImporterParty"), "importer"
        )
        consignment = self.find(shipment, "cac:Consignment")
        cert["consignee"] = self.party(self.find(consignment, "cac:ConsigneeParty"), "consignee")
        authority = self.party(self.find(app, "cac:IssuerParty"), "issuing_authority")
        endorsement = self.find(root, "cac:IssuerEndorsement")
        endorser = self.find(endorsement, "cac:EndorserParty")
        if authority is None:
            authority = self.party(self.find(endorser, "cac:Party"), "issuing_authority")
        cert["issuing_authority"] = authority

        remarks = [self.value(el, "remarks[]", Text) for el in self.findall(app, "cbc:Remarks")]
        self.notes(root, cert, remarks)
        remarks += [self.value(el, "remarks[]", Text) for el in self.findall(endorsement, "cbc:Remarks")]
        cert["remarks"] = tuple(r for r in remarks if r is not None)

        self.transport(shipment, cert)
        items = self.goods_items(shipment)
        cert["goods_items"] = tuple(items)
        cert["attachments"] = tuple(self.attachments(app))

        self.consume_fills(app, shipment, consignment, endorsement, endorser, cert)
        self.walk()
        # Values that were not read (None) fall back to the model's defaults.
        cleaned = {key: value for key, value in cert.items() if value is not None}
        try:
            certificate = CertificateOfOrigin.model_validate(cleaned)
        except ValidationError as exc:
            raise AdapterError(f"certificate {number} cannot be mapped: {exc.errors()[0]['msg']}") from exc
        return ParseResult(certificate=certificate, losses=tuple(self.losses))

    def notes(self, root: etree._Element, cert: dict[str, Any], remarks: list[str | None]) -> None:
        producer: dict[str, Any] = {}
        producer_address: dict[str, Any] = {}
        lines: dict[int, str] = {}
        flags: dict[str, bool] = {}
        transport_means: str | None = None
        for el in self.findall(root, "cbc:Note"):
            raw = el.text or ""
            if not raw.startswith(NOTE_PREFIX):
                remarks.append(self.value(el, "remarks[]", Text))
                continue
            match = _NOTE.match(raw)
            key = match.group(1) if match else ""
            base = re.sub(r"\[\d+\]$", "", key)
            known = (
                key in NOTE_SCALARS
                or key in {f"flags.{f}" for f in NOTE_FLAGS}
                or key in {f"producer.{p}" for p in NOTE_PRODUCER}
                or (base == NOTE_PRODUCER_LINE and match is not None and match.group(2) is not None)
            )
            if match is None or not known:
                self.consumed.add(el)
                path = self.xpath(el)
                self.drop(path, el, raw, "a tradegw: note with an unknown key or without '=': not of the convention")
                continue
            self.consumed.add(el)
            value = match.group(3)
            try:
                if key.startswith("flags."):
                    if value not in ("true", "false"):
                        self.drop(key, el, raw, "a flag is 'true' or 'false'")
                        continue
                    flags[key.removeprefix("flags.")] = value == "true"
                elif key in ("replaces",):
                    cert[key] = self.typed(Token, value, key, el)
                elif key == "transport.means":
                    transport_means = self.typed(Text, value, key, el)
                elif key in NOTE_SCALARS:
                    cert[key] = self.typed(Text, value, key, el)
                elif base == NOTE_PRODUCER_LINE:
                    lines[int(match.group(2))] = self.typed(Text, value, "producer.address.lines[]", el)
                elif key in ("producer.name",):
                    producer["name"] = self.typed(Text, value, key, el)
                elif key == "producer.id":
                    producer["id"] = self.typed(Token, value, key, el)
                elif key == "producer.address.postal_code":
                    producer_address["postal_code"] = self.typed(Token, value, key, el)
                elif key == "producer.address.city":
                    producer_address["city"] = self.typed(Text, value, key, el)
                elif key == "producer.address.country":
                    producer_address["country"] = self.typed(CountryCode, value, key, el)
            except _Invalid:
                continue
        if flags:
            cert["flags"] = flags
        if lines:
            producer_address["lines"] = tuple(lines[i] for i in sorted(lines))
        if producer_address:
            producer["address"] = producer_address
        if producer and "name" not in producer:
            for path, value in _flat(producer, "producer"):
                self.losses.append(
                    LossEntry("dropped", path, None, str(value), "the producer has no name note (producer.name)")
                )
        elif producer:
            cert["producer"] = producer
        cert["_means"] = transport_means

    def transport(self, shipment: etree._Element | None, cert: dict[str, Any]) -> None:
        stage = self.find(shipment, "cac:ShipmentStage")
        means = self.find(stage, "cac:TransportMeans")
        vessel = None
        for path in (
            "cac:MaritimeTransport/cbc:VesselName",
            "cac:AirTransport/cbc:AircraftID",
            "cac:RoadTransport/cbc:LicensePlateID",
            "cac:RailTransport/cbc:TrainID",
        ):
            vessel = self.value(self.find(means, path), "transport.vessel", Text)
            if vessel is not None:
                break
        departure = self.value(
            self.find(stage, "cac:PlannedDepartureTransportEvent/cbc:OccurrenceDate"),
            "transport.departure_date",
            None,
            date.fromisoformat,
        )
        cert["transport"] = {
            "departure_date": departure,
            "means": cert.pop("_means"),
            "vessel": vessel,
            "loading_port": self.location(self.find(stage, "cac:LoadingPortLocation"), "transport.loading_port"),
            "discharge_port": self.location(self.find(stage, "cac:UnloadingPortLocation"), "transport.discharge_port"),
        }

    def goods_items(self, shipment: etree._Element | None) -> list[dict[str, Any]]:
        elements = self.findall(shipment, "cac:GoodsItem")
        children = [_goods_children(el) for el in elements]
        ids = [self.text(kids[0].get(_ID), token=True) for kids in children]
        numbers = [_positive_int_or_none(i) for i in ids]
        if None in numbers or len(set(numbers)) != len(numbers):
            # Sequences must be unique positive integers; otherwise the position is the sequence and each
            # identifier that differs from it is reported.
            sequences = list(range(1, len(elements) + 1))
            for kids, raw, seq in zip(children, ids, sequences, strict=True):
                id_el = kids[0].get(_ID)
                if raw is not None and raw != str(seq) and id_el is not None:
                    self.drop("goods_items[].sequence", id_el, raw, "goods item IDs are not unique positive integers")
        else:
            sequences = [n for n in numbers if n is not None]
        by_id: dict[str, int] = {}
        items: list[dict[str, Any]] = []
        for index, seq in enumerate(sequences):
            raw_id = ids[index]
            if raw_id is not None:
                by_id.setdefault(raw_id, index)
            items.append(self.goods_item(children[index], index, seq))
        self.handling_units(shipment, by_id, items)
        return items

    def goods_item(self, children: _GoodsChildren, index: int, sequence: int) -> dict[str, Any]:
        # The hot path of a large certificate, so one pass over the children of the item and of its cac:Item
        # (reading a child's tag builds a string: each is read once) and no per-element bookkeeping beyond the
        # consumed set. Where an element may repeat, the first counts and the walk reports the others.
        f = f"goods_items[{index}]"
        first, own_descriptions, refs = children
        item = first.get(_ITEM)
        item_first: dict[str, etree._Element] = {}
        descriptions: list[etree._Element] = []
        classifications: list[etree._Element] = []
        if item is not None:
            for child in item:
                name = child.tag
                if name == _DESCRIPTION:
                    descriptions.append(child)
                elif name == _CLASSIFICATION:
                    classifications.append(child)
                elif name not in item_first:
                    item_first[name] = child
        texts = [self.value(d, f"{f}.description", Text) for d in descriptions]
        if not any(texts):
            texts = [self.value(d, f"{f}.description", Text) for d in own_descriptions]
        description = "\n".join(d for d in texts if d is not None)
        if not description:
            raise AdapterError(f"goods item {index + 1} has no description (cac:Item/cbc:Description)")
        hs_code = None
        for classification in classifications:
            for code in classification.iterchildren(_CLASSIFICATION_CODE):
                if hs_code is None and code.get("listID") == HS_LIST:
                    self.attr(code, "listID")
                    hs_code = self.value(code, f"{f}.hs_code", HsCode)
        invoice_number = invoice_date = None
        for ref in refs:
            ref_groups = self.kids(ref)
            type_code = _first(ref_groups, _DOCUMENT_TYPE_CODE)
            if type_code is None or (type_code.text or "").strip() != INVOICE_TYPE or invoice_number or invoice_date:
                continue
            self.consumed.add(type_code)
            if type_code.get("listID") == INVOICE_LIST:
                self.attr(type_code, "listID")
            id_el = _first(ref_groups, _ID)
            if id_el is not None:
                self.consumed.add(id_el)
                invoice_number = self.value(id_el, f"{f}.invoice_number", Token)
            invoice_date = self.value(_first(ref_groups, _ISSUE_DATE), f"{f}.invoice_date", None, date.fromisoformat)
        origin = item_first.get(_ORIGIN_COUNTRY)
        origin_code = next(origin.iterchildren(_IDENTIFICATION_CODE), None) if origin is not None else None
        manufacturer = item_first.get(_MANUFACTURER)
        return {
            "sequence": sequence,
            "description": description,
            "hs_code": hs_code,
            "origin_criterion": self.value(first.get(_CRITERION), f"{f}.origin_criterion", Token),
            "origin_country": self.value(origin_code, f"{f}.origin_country", CountryCode),
            "quantity": self.measure(first.get(_QUANTITY), f"{f}.quantity", "unitCode", UnitCode),
            "gross_weight": self.measure(first.get(_GROSS_WEIGHT), f"{f}.gross_weight", "unitCode", UnitCode),
            "fob_value": self.measure(first.get(_FOB), f"{f}.fob_value", "currencyID", CurrencyCode),
            "invoice_number": invoice_number,
            "invoice_date": invoice_date,
            "manufacturer": self.party(manufacturer, f"{f}.manufacturer"),
        }

    def handling_units(
        self, shipment: etree._Element | None, by_id: dict[str, int], items: list[dict[str, Any]]
    ) -> None:
        for unit in self.findall(shipment, "cac:TransportHandlingUnit"):
            refs = self.findall(unit, "cac:GoodsItem")
            ref_id = self.find(refs[0], "cbc:ID") if len(refs) == 1 else None
            index = by_id.get((ref_id.text or "").strip()) if ref_id is not None else None
            # Only a unit that names exactly one goods item, and names it only, carries that item's marks and
            # packages; anything else in it (containers, package ranges) is reported by the walk.
            if index is None or ref_id is None or len(refs[0]) != 1 or "_marks_from" in items[index]:
                continue
            f = f"goods_items[{index}]"
            items[index]["_marks_from"] = True
            self.consumed.add(ref_id)
            marks = self.findall(unit, "cbc:ShippingMarks")
            items[index]["marks"] = self.value(marks[0], f"{f}.marks", Text) if marks else None
            count = self.value(
                self.find(unit, "cbc:TotalPackageQuantity"), f"{f}.packages.count", None, _non_negative_int
            )
            kind_el = self.find(unit, "cac:ActualPackage/cbc:PackagingTypeCode")
            kind = self.value(kind_el, f"{f}.packages.kind", PackageKind)
            if kind is not None and kind_el is not None and kind_el.get("listID") == PACKAGE_LIST:
                self.attr(kind_el, "listID")
            items[index]["packages"] = {"count": count, "kind": kind}
        for item in items:
            item.pop("_marks_from", None)

    def attachments(self, app: etree._Element | None) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = []
        for ref in self.findall(app, "cac:SupportingDocumentReference"):
            binary = self.find(ref, "cac:Attachment/cbc:EmbeddedDocumentBinaryObject")
            if binary is None:
                continue
            index = len(result)
            field = f"attachments[{index}]"
            self.consumed.add(binary)
            try:
                content = base64.b64decode("".join((binary.text or "").split()), validate=True)
                mime = self.typed(MimeType, (binary.get("mimeCode") or "").strip(), f"{field}.mime_type", binary)
                filename_raw = (binary.get("filename") or "").strip()
                filename = self.typed(Token, filename_raw, f"{field}.filename", binary) if filename_raw else None
            except binascii.Error:
                self.drop(field, binary, (binary.text or "")[:80], "the embedded attachment is not valid base64")
                continue
            except _Invalid:
                continue
            self.attr(binary, "mimeCode")
            self.attr(binary, "filename")
            self.consume_if(self.find(ref, "cbc:ID"), (filename, attachment_id(index)))
            result.append({"filename": filename, "mime_type": mime, "content": content})
        return result

    def consume_fills(
        self,
        app: etree._Element | None,
        shipment: etree._Element | None,
        consignment: etree._Element | None,
        endorsement: etree._Element | None,
        endorser: etree._Element | None,
        cert: dict[str, Any],
    ) -> None:
        number = cert["number"]
        exporter = cert["exporter"]["name"]
        authority = cert["issuing_authority"]["name"] if cert["issuing_authority"] else None
        for el in (
            self.find(app, "cbc:ReferenceID"),
            self.find(app, "cbc:OriginalJobID"),
            self.find(shipment, "cbc:ID"),
            self.find(consignment, "cbc:ID"),
            self.find(endorsement, "cbc:DocumentID"),
        ):
            self.consume_if(el, (number,))
        self.consume_if(self.find(shipment, "cbc:TotalGoodsItemQuantity"), (str(len(cert["goods_items"])),))
        self.consume_if(self.find(endorsement, "cbc:ApprovalStatus"), (APPROVED,))
        self.consume_if(self.find(app, "cac:PreparationParty/cac:PartyName/cbc:Name"), (exporter,))
        for role, el, name in (
            (EXPORTER_ROLE, self.find(app, "cac:EndorserParty"), exporter),
            (ISSUER_ROLE, endorser, authority),
        ):
            role_el = self.find(el, "cbc:RoleCode")
            if role_el is None or (role_el.text or "").strip().casefold() != role:
                continue
            # The role restates which canonical party endorses; the sequence only orders endorsements.
            self.consumed.add(role_el)
            self.consumed.update(self.findall(el, "cbc:SequenceNumeric"))
            self.consume_if(self.find(el, "cac:Party/cac:PartyName/cbc:Name"), (name,))

    def walk(self) -> None:
        """Report every non-blank text and every attribute that the mapping did not consume."""
        consumed, consumed_attrs = self.consumed, self.consumed_attrs
        # Counting first, in libxml2, saves creating an element proxy per value when nothing was left over (the
        # common case): each consumed element with non-blank text (Python's strip blanks more than XPath's
        # normalize-space, so it counts no element the selection below would not hold), and each consumed
        # attribute, is one of the selected; equal counts mean every selected one was consumed.
        held = sum(1 for el in consumed if el.text is not None and el.text.strip())
        if held == _COUNT_WITH_TEXT(self.root) and len(consumed_attrs) == _COUNT_ATTRIBUTES(self.root):
            return
        reason = "the canonical certificate has no field for this value"
        # The selections run in libxml2; Python only sees elements that hold text or attributes. An element is
        # selected for any non-blank text node it holds, mixed content included.
        for el in _elements(_WITH_TEXT, self.root):
            if el not in consumed:
                path = self.xpath(el)
                text = el.text if el.text is not None and el.text.strip() else "".join(el.xpath("text()"))  # type: ignore[arg-type]
                self.losses.append(LossEntry("dropped", path, path, text, reason))
        for el in _elements(_WITH_ATTRIBUTES, self.root):
            for key, raw in el.attrib.items():
                # lxml-stubs type attribute names and values as str | bytes; lxml returns str.
                name, value = cast(str, key), cast(str, raw)
                if (el, name) not in consumed_attrs and not name.startswith(_XSI_PREFIX):
                    path = f"{self.xpath(el)}/@{name}"
                    self.losses.append(LossEntry("dropped", path, path, value, reason))


def _elements(selection: etree.XPath, root: etree._Element) -> list[etree._Element]:
    # The selections below select elements only; lxml-stubs type an XPath result as any XPath value.
    return cast(list[etree._Element], selection(root))


_WITH_TEXT = etree.XPath("descendant-or-self::*[text()[normalize-space()]]")
_COUNT_WITH_TEXT = etree.XPath("count(descendant-or-self::*[text()[normalize-space()]])")
_COUNT_ATTRIBUTES = etree.XPath(f"count(descendant-or-self::*/@*[namespace-uri() != '{XSI_NS}'])")
_WITH_ATTRIBUTES = etree.XPath("descendant-or-self::*[@*]")
_XSI_PREFIX = f"{{{XSI_NS}}}"


# A goods item's children: the first of each tag, its own cbc:Description elements, and its document references
# (cac:ShipmentDocumentReference before cac:AdditionalDocumentReference).
_GoodsChildren = tuple[dict[str, etree._Element], list[etree._Element], list[etree._Element]]


def _goods_children(el: etree._Element) -> _GoodsChildren:
    first: dict[str, etree._Element] = {}
    descriptions: list[etree._Element] = []
    refs: list[etree._Element] = []
    additional: list[etree._Element] = []
    for child in el:
        name = child.tag
        if name == _DESCRIPTION:
            descriptions.append(child)
        elif name == _SHIPMENT_DOCUMENT:
            refs.append(child)
        elif name == _ADDITIONAL_DOCUMENT:
            additional.append(child)
        elif name not in first:
            first[name] = child
    return first, descriptions, refs + additional


def _positive_int(raw: str) -> int:
    value = int(raw)
    if value < 1:
        raise ValueError(f"{raw!r} is not a positive integer")
    return value


def _positive_int_or_none(raw: str | None) -> int | None:
    try:
        return None if raw is None else _positive_int(raw)
    except ValueError:
        return None


def _non_negative(raw: str) -> Decimal:
    try:
        value = Decimal(raw)
    except InvalidOperation:
        raise ValueError(f"{raw!r} is not a decimal number") from None
    if not value.is_finite() or value < 0:
        raise ValueError(f"{raw!r} is not a non-negative decimal number")
    return value


def _non_negative_int(raw: str) -> int:
    value = _non_negative(raw)
    if value != value.to_integral_value():
        raise ValueError(f"{raw!r} is not a whole number of packages")
    return int(value)


def _flat(value: Any, prefix: str) -> Iterable[tuple[str, Any]]:
    if isinstance(value, dict):
        for key, inner in value.items():
            yield from _flat(inner, f"{prefix}.{key}")
    elif isinstance(value, tuple):
        for index, inner in enumerate(value):
            yield from _flat(inner, f"{prefix}[{index}]")
    else:
        yield prefix, value


def parse(data: bytes) -> ParseResult:
    return _Parser(parse_xml(data).getroot()).parse()
