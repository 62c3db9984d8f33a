"""Canonical certificate → UBL CertificateOfOrigin (2.4, or the 2.1 profile). Mapping table: ADR 0010.

The document is written as text, element by element, not built as an lxml tree: creating a tree node costs about
ten times writing its markup, and a certificate of 5,000 goods items has some 60,000 elements. Every value is a
canonical one, so it is already XML-safe (the model refuses control characters, lone surrogates and carriage
returns); the writer escapes markup characters and nothing else is needed. Tests validate the output against the
XSD of the version rendered.
"""

from __future__ import annotations

import base64
from decimal import Decimal
from typing import Literal

from adapters._ubl_common import (
    APPROVED,
    CAC_NS,
    CBC_NS,
    EXPORTER_ROLE,
    HS_LIST,
    INVOICE_LIST,
    INVOICE_TYPE,
    ISSUER_ROLE,
    LOCODE_SCHEME,
    NON_PREFERENTIAL,
    NOTE_PREFIX,
    NOTE_PRODUCER_LINE,
    PACKAGE_LIST,
    UBL_NS,
    attachment_id,
)
from adapters.base import LossEntry, RenderResult
from adapters.model import Amount, CertificateOfOrigin, GoodsItem, Location, Measure, Party

UblVersion = Literal["2.4", "2.1"]

_ROOT = "/ubl:CertificateOfOrigin"
_APP = f"{_ROOT}/cac:CertificateOfOriginApplication"
_SHIPMENT = f"{_APP}/cac:Shipment"
_ROOT_START = (
    f'<?xml version="1.0" encoding="UTF-8"?>\n'
    f'<CertificateOfOrigin xmlns="{UBL_NS}" xmlns:cac="{CAC_NS}" xmlns:cbc="{CBC_NS}">\n'
)
_INDENT = tuple("  " * depth for depth in range(32))


def _decimal(value: Decimal) -> str:
    # str() of a Decimal may use an exponent (1E+3); xsd:decimal has none. Fixed notation keeps every digit.
    return format(value, "f")


def _text(value: str) -> str:
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _attribute(value: str) -> str:
    # Attribute values are codes and filenames (canonical tokens: one line, so no tab or line feed to encode).
    return _text(value).replace('"', "&quot;")


class _Renderer:
    def __init__(self, version: UblVersion) -> None:
        self.version = version
        self.losses: list[LossEntry] = []
        self.out: list[str] = [_ROOT_START]
        self.depth = 1

    def fill(self, path: str, value: str, reason: str) -> None:
        self.losses.append(LossEntry("filled", path, None, value, reason))

    # ----- the writer: qualified names as written (the root declares ubl, cac and cbc) -------------------
    def open(self, name: str) -> None:
        self.out.append(f"{_INDENT[self.depth]}<{name}>\n")
        self.depth += 1

    def close(self, name: str) -> None:
        self.depth -= 1
        self.out.append(f"{_INDENT[self.depth]}</{name}>\n")

    def leaf(self, name: str, text: str, attribute: str = "", value: str = "") -> None:
        attr = f' {attribute}="{_attribute(value)}"' if attribute else ""
        self.out.append(f"{_INDENT[self.depth]}<{name}{attr}>{_text(text)}</{name}>\n")

    def empty(self, name: str) -> None:
        self.out.append(f"{_INDENT[self.depth]}<{name}/>\n")

    def nested(self, outer: str, name: str, text: str, attribute: str = "", value: str = "") -> None:
        self.open(outer)
        self.leaf(name, text, attribute, value)
        self.close(outer)

    # ----- building blocks -----------------------------------------------------------------------------
    def party(self, name: str, party: Party) -> None:
        self.open(name)
        if party.id is not None:
            self.nested("cac:PartyIdentification", "cbc:ID", party.id)
        self.nested("cac:PartyName", "cbc:Name", party.name)
        address = party.address
        if address is not None:
            self.open("cac:PostalAddress")
            if address.city is not None:
                self.leaf("cbc:CityName", address.city)
            if address.postal_code is not None:
                self.leaf("cbc:PostalZone", address.postal_code)
            for line in address.lines:
                self.nested("cac:AddressLine", "cbc:Line", line)
            if address.country is not None:
                self.nested("cac:Country", "cbc:IdentificationCode", address.country)
            self.close("cac:PostalAddress")
        self.close(name)

    def amount(self, name: str, amount: Amount) -> None:
        self.leaf(name, _decimal(amount.value), "currencyID", amount.currency)

    def measure(self, name: str, measure: Measure) -> None:
        self.leaf(name, _decimal(measure.value), "unitCode", measure.unit)

    def location(self, name: str, location: Location) -> None:
        self.open(name)
        if location.code is not None:
            self.leaf("cbc:ID", location.code, "schemeID", LOCODE_SCHEME)
        if location.name is not None:
            self.leaf("cbc:Name", location.name)
        self.close(name)

    def endorser(self, role: str, name: str | None, path: str) -> None:
        # cac:EndorserParty requires a role, a sequence number, a party and a signatory contact; the canonical
        # model has no endorsements, so the endorser is the party the role names and the contact stays empty.
        self.open("cac:EndorserParty")
        self.leaf("cbc:RoleCode", role)
        self.leaf("cbc:SequenceNumeric", "1")
        if name is not None:
            self.open("cac:Party")
            self.nested("cac:PartyName", "cbc:Name", name)
            self.close("cac:Party")
        else:
            self.empty("cac:Party")
        self.empty("cac:SignatoryContact")
        self.close("cac:EndorserParty")
        who = f"party named {name!r}" if name is not None else "empty party"
        self.fill(
            f"{path}/cac:EndorserParty",
            f"role {role}, sequence 1, {who}, empty signatory contact",
            "UBL requires an endorser party; the canonical model has no endorsements",
        )

    def notes(self, c: CertificateOfOrigin) -> None:
        def note(key: str, value: str) -> None:
            self.leaf("cbc:Note", f"{NOTE_PREFIX}{key}={value}")

        for key, value in (
            ("issue_place", c.issue_place),
            ("replaces", c.replaces),
            ("exporter_declaration", c.exporter_declaration),
            ("transport.means", c.transport.means if c.transport else None),
        ):
            if value is not None:
                note(key, value)
        for flag, is_set in c.flags:
            if is_set:
                note(f"flags.{flag}", "true")
        producer = c.producer
        if producer is not None:
            note("producer.name", producer.name)
            if producer.id is not None:
                note("producer.id", producer.id)
            address = producer.address
            if address is not None:
                for index, line in enumerate(address.lines):
                    note(f"{NOTE_PRODUCER_LINE}[{index}]", line)
                if address.city is not None:
                    note("producer.address.city", address.city)
                if address.postal_code is not None:
                    note("producer.address.postal_code", address.postal_code)
                if address.country is not None:
                    note("producer.address.country", address.country)

    def goods_item(self, index: int, g: GoodsItem) -> None:
        self.open("cac:GoodsItem")
        self.leaf("cbc:ID", str(g.sequence))
        if g.fob_value is not None:
            self.amount("cbc:FreeOnBoardValueAmount", g.fob_value)
        if g.gross_weight is not None:
            self.measure("cbc:GrossWeightMeasure", g.gross_weight)
        if g.quantity is not None:
            self.measure("cbc:Quantity", g.quantity)
        if g.origin_criterion is not None:
            self.leaf("cbc:PreferenceCriterionCode", g.origin_criterion)
        self.open("cac:Item")
        self.leaf("cbc:Description", g.description)
        if g.origin_country is not None:
            self.nested("cac:OriginCountry", "cbc:IdentificationCode", g.origin_country)
        if g.hs_code is not None:
            self.nested("cac:CommodityClassification", "cbc:ItemClassificationCode", g.hs_code, "listID", HS_LIST)
        if g.manufacturer is not None:
            self.party("cac:ManufacturerParty", g.manufacturer)
        self.close("cac:Item")
        if g.invoice_number is not None or g.invoice_date is not None:
            self.open("cac:ShipmentDocumentReference")
            self.leaf("cbc:ID", g.invoice_number or "")
            if g.invoice_number is None:
                self.fill(
                    f"{_SHIPMENT}/cac:GoodsItem[{index + 1}]/cac:ShipmentDocumentReference/cbc:ID",
                    "",
                    "UBL requires an identifier on a document reference; the invoice has a date but no number",
                )
            if g.invoice_date is not None:
                self.leaf("cbc:IssueDate", g.invoice_date.isoformat())
            self.leaf("cbc:DocumentTypeCode", INVOICE_TYPE, "listID", INVOICE_LIST)
            self.close("cac:ShipmentDocumentReference")
        self.close("cac:GoodsItem")

    def handling_unit(self, g: GoodsItem) -> None:
        # Marks and packages belong to the goods item on the certificate forms; in UBL only a transport handling
        # unit has shipping marks and a package count. One unit per goods item, naming the item by its cbc:ID.
        self.open("cac:TransportHandlingUnit")
        if g.packages is not None and g.packages.count is not None:
            self.leaf("cbc:TotalPackageQuantity", str(g.packages.count))
        if g.marks is not None:
            self.leaf("cbc:ShippingMarks", g.marks)
        if g.packages is not None and g.packages.kind is not None:
            self.nested("cac:ActualPackage", "cbc:PackagingTypeCode", g.packages.kind, "listID", PACKAGE_LIST)
        self.nested("cac:GoodsItem", "cbc:ID", str(g.sequence))
        self.close("cac:TransportHandlingUnit")

    def shipment(self, c: CertificateOfOrigin) -> None:
        self.open("cac:Shipment")
        if self.version == "2.1":
            self.leaf("cbc:ID", c.number)
            self.fill(f"{_SHIPMENT}/cbc:ID", c.number, "UBL 2.1 requires a shipment identifier: the certificate number")
        self.leaf("cbc:TotalGoodsItemQuantity", str(len(c.goods_items)))
        if c.consignee is not None:
            self.open("cac:Consignment")
            self.leaf("cbc:ID", c.number)
            self.fill(
                f"{_SHIPMENT}/cac:Consignment/cbc:ID",
                c.number,
                "UBL requires a consignment identifier: the certificate number",
            )
            self.party("cac:ConsigneeParty", c.consignee)
            self.close("cac:Consignment")
        for index, g in enumerate(c.goods_items):
            self.goods_item(index, g)
        t = c.transport
        if t is not None and (t.vessel or t.loading_port or t.discharge_port or t.departure_date):
            self.open("cac:ShipmentStage")
            if t.vessel is not None:
                self.open("cac:TransportMeans")
                self.nested("cac:MaritimeTransport", "cbc:VesselName", t.vessel)
                self.close("cac:TransportMeans")
            if t.loading_port is not None:
                self.location("cac:LoadingPortLocation", t.loading_port)
            if t.discharge_port is not None:
                self.location("cac:UnloadingPortLocation", t.discharge_port)
            if t.departure_date is not None:
                self.nested("cac:PlannedDepartureTransportEvent", "cbc:OccurrenceDate", t.departure_date.isoformat())
            self.close("cac:ShipmentStage")
        for g in c.goods_items:
            if g.marks is not None or g.packages is not None:
                self.handling_unit(g)
        self.close("cac:Shipment")

    def attachments(self, c: CertificateOfOrigin) -> None:
        for index, attachment in enumerate(c.attachments):
            self.open("cac:SupportingDocumentReference")
            self.leaf("cbc:ID", attachment.filename or attachment_id(index))
            if attachment.filename is None:
                self.fill(
                    f"{_APP}/cac:SupportingDocumentReference[{index + 1}]/cbc:ID",
                    attachment_id(index),
                    "UBL requires an identifier on a document reference; the attachment has no filename",
                )
            filename = f' filename="{_attribute(attachment.filename)}"' if attachment.filename is not None else ""
            content = base64.b64encode(attachment.content).decode("ascii")
            self.open("cac:Attachment")
            self.out.append(
                f'{_INDENT[self.depth]}<cbc:EmbeddedDocumentBinaryObject mimeCode="{_attribute(attachment.mime_type)}"'
                f"{filename}>{content}</cbc:EmbeddedDocumentBinaryObject>\n"
            )
            self.close("cac:Attachment")
            self.close("cac:SupportingDocumentReference")

    # ----- the document ---------------------------------------------------------------------------------
    def render(self, c: CertificateOfOrigin) -> RenderResult:
        self.leaf("cbc:UBLVersionID", self.version)
        self.leaf("cbc:ID", c.number)
        self.leaf("cbc:IssueDate", c.issue_date.isoformat())
        self.notes(c)
        self.leaf("cbc:VersionID", str(c.version))
        self.party("cac:ExporterParty", c.exporter)
        if c.importer is not None:
            self.party("cac:ImporterParty", c.importer)

        self.open("cac:CertificateOfOriginApplication")
        self.leaf("cbc:ReferenceID", c.number)
        self.fill(f"{_APP}/cbc:ReferenceID", c.number, "UBL requires an application reference: the certificate number")
        self.leaf("cbc:CertificateType", c.agreement if c.agreement is not None else NON_PREFERENTIAL)
        self.leaf("cbc:ApplicationStatusCode", c.status.value)
        self.leaf("cbc:OriginalJobID", c.number)
        self.fill(f"{_APP}/cbc:OriginalJobID", c.number, "UBL requires a job identifier: the certificate number")
        for remark in c.remarks:
            self.leaf("cbc:Remarks", remark)
        self.shipment(c)
        self.endorser(EXPORTER_ROLE, c.exporter.name, _APP)
        self.nested_party_name("cac:PreparationParty", c.exporter.name)
        self.fill(f"{_APP}/cac:PreparationParty", c.exporter.name, "UBL requires a preparation party: the exporter")
        if c.issuing_authority is not None:
            self.party("cac:IssuerParty", c.issuing_authority)
        else:
            self.empty("cac:IssuerParty")
            self.fill(f"{_APP}/cac:IssuerParty", "", "UBL requires an issuer party; the issuing authority is unknown")
        self.nested("cac:IssuingCountry", "cbc:IdentificationCode", c.issuing_country)
        self.attachments(c)
        self.close("cac:CertificateOfOriginApplication")

        self.open("cac:IssuerEndorsement")
        self.leaf("cbc:DocumentID", c.number)
        self.leaf("cbc:ApprovalStatus", APPROVED)
        self.fill(
            f"{_ROOT}/cac:IssuerEndorsement",
            f"document {c.number}, status {APPROVED}",
            "UBL requires the issuer's endorsement: the certificate number and the approval an issued certificate has",
        )
        authority = c.issuing_authority.name if c.issuing_authority is not None else None
        self.endorser(ISSUER_ROLE, authority, f"{_ROOT}/cac:IssuerEndorsement")
        self.close("cac:IssuerEndorsement")
        self.out.append("</CertificateOfOrigin>\n")
        return RenderResult(data="".join(self.out).encode("utf-8"), losses=tuple(self.losses))

    def nested_party_name(self, name: str, party_name: str) -> None:
        self.open(name)
        self.nested("cac:PartyName", "cbc:Name", party_name)
        self.close(name)


def render(certificate: CertificateOfOrigin, version: UblVersion) -> RenderResult:
    return _Renderer(version).render(certificate)
