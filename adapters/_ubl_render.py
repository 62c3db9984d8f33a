"""Canonical certificate → UBL CertificateOfOrigin (2.4, or the 2.1 profile). Mapping table: ADR 0010."""

from __future__ import annotations

import base64
from decimal import Decimal
from typing import Literal

from lxml import etree

from adapters._ubl_common import (
    APPROVED,
    EXPORTER_ROLE,
    HS_LIST,
    INVOICE_LIST,
    INVOICE_TYPE,
    ISSUER_ROLE,
    LOCODE_SCHEME,
    NON_PREFERENTIAL,
    NOTE_PREFIX,
    NOTE_PRODUCER_LINE,
    NSMAP,
    PACKAGE_LIST,
    UBL_NS,
    attachment_id,
    tag,
)
from adapters.base import LossEntry, RenderResult
from adapters.model import Amount, CertificateOfOrigin, GoodsItem, Location, Measure, Party

UblVersion = Literal["2.4", "2.1"]

_ROOT = "/ubl:CertificateOfOrigin"
_APP = f"{_ROOT}/cac:CertificateOfOriginApplication"
_SHIPMENT = f"{_APP}/cac:Shipment"

# Clark names of every element the renderer writes, computed once: rendering 5000 goods items calls these a lot.
_T = {
    q: tag(q)
    for q in [
        "cbc:UBLVersionID",
        "cbc:ID",
        "cbc:IssueDate",
        "cbc:Note",
        "cbc:VersionID",
        "cac:ExporterParty",
        "cac:ImporterParty",
        "cac:CertificateOfOriginApplication",
        "cbc:ReferenceID",
        "cbc:CertificateType",
        "cbc:ApplicationStatusCode",
        "cbc:OriginalJobID",
        "cbc:Remarks",
        "cac:Shipment",
        "cbc:TotalGoodsItemQuantity",
        "cac:Consignment",
        "cac:ConsigneeParty",
        "cac:GoodsItem",
        "cbc:FreeOnBoardValueAmount",
        "cbc:GrossWeightMeasure",
        "cbc:Quantity",
        "cbc:PreferenceCriterionCode",
        "cac:Item",
        "cbc:Description",
        "cac:OriginCountry",
        "cbc:IdentificationCode",
        "cac:CommodityClassification",
        "cbc:ItemClassificationCode",
        "cac:ManufacturerParty",
        "cac:ShipmentDocumentReference",
        "cbc:DocumentTypeCode",
        "cac:ShipmentStage",
        "cac:TransportMeans",
        "cac:MaritimeTransport",
        "cbc:VesselName",
        "cac:LoadingPortLocation",
        "cac:UnloadingPortLocation",
        "cbc:Name",
        "cac:PlannedDepartureTransportEvent",
        "cbc:OccurrenceDate",
        "cac:TransportHandlingUnit",
        "cbc:TotalPackageQuantity",
        "cbc:ShippingMarks",
        "cac:ActualPackage",
        "cbc:PackagingTypeCode",
        "cac:EndorserParty",
        "cbc:RoleCode",
        "cbc:SequenceNumeric",
        "cac:Party",
        "cac:SignatoryContact",
        "cac:PreparationParty",
        "cac:IssuerParty",
        "cac:IssuingCountry",
        "cac:SupportingDocumentReference",
        "cac:Attachment",
        "cbc:EmbeddedDocumentBinaryObject",
        "cac:IssuerEndorsement",
        "cbc:DocumentID",
        "cbc:ApprovalStatus",
        "cac:PartyIdentification",
        "cac:PartyName",
        "cac:PostalAddress",
        "cbc:CityName",
        "cbc:PostalZone",
        "cac:AddressLine",
        "cbc:Line",
        "cac:Country",
    ]
}


def _decimal(value: Decimal) -> str:
    # str() of a Decimal may use an exponent (1E+3); xsd:decimal has none. Fixed notation keeps every digit.
    return format(value, "f")


class _Renderer:
    def __init__(self, version: UblVersion) -> None:
        self.version = version
        self.losses: list[LossEntry] = []

    def fill(self, path: str, value: str, reason: str) -> None:
        self.losses.append(LossEntry("filled", path, None, value, reason))

    def sub(self, parent: etree._Element, qname: str, text: str | None = None) -> etree._Element:
        el = etree.SubElement(parent, _T[qname])
        if text is not None:
            el.text = text
        return el

    # ----- building blocks -----------------------------------------------------------------------------
    def party(self, parent: etree._Element, qname: str, party: Party) -> etree._Element:
        el = self.sub(parent, qname)
        if party.id is not None:
            self.sub(self.sub(el, "cac:PartyIdentification"), "cbc:ID", party.id)
        self.sub(self.sub(el, "cac:PartyName"), "cbc:Name", party.name)
        address = party.address
        if address is not None:
            postal = self.sub(el, "cac:PostalAddress")
            if address.city is not None:
                self.sub(postal, "cbc:CityName", address.city)
            if address.postal_code is not None:
                self.sub(postal, "cbc:PostalZone", address.postal_code)
            for line in address.lines:
                self.sub(self.sub(postal, "cac:AddressLine"), "cbc:Line", line)
            if address.country is not None:
                self.sub(self.sub(postal, "cac:Country"), "cbc:IdentificationCode", address.country)
        return el

    def amount(self, parent: etree._Element, qname: str, amount: Amount) -> None:
        self.sub(parent, qname, _decimal(amount.value)).set("currencyID", amount.currency)

    def measure(self, parent: etree._Element, qname: str, measure: Measure) -> None:
        self.sub(parent, qname, _decimal(measure.value)).set("unitCode", measure.unit)

    def location(self, parent: etree._Element, qname: str, location: Location) -> None:
        el = self.sub(parent, qname)
        if location.code is not None:
            self.sub(el, "cbc:ID", location.code).set("schemeID", LOCODE_SCHEME)
        if location.name is not None:
            self.sub(el, "cbc:Name", location.name)

    def endorser(self, parent: etree._Element, role: str, name: str | None, path: str) -> None:
        # cac:EndorserParty requires a role, a sequence number, a party and a signatory contact; the canonical
        # model has no endorsements, so the endorser is the party the role names and the contact stays empty.
        el = self.sub(parent, "cac:EndorserParty")
        self.sub(el, "cbc:RoleCode", role)
        self.sub(el, "cbc:SequenceNumeric", "1")
        party = self.sub(el, "cac:Party")
        if name is not None:
            self.sub(self.sub(party, "cac:PartyName"), "cbc:Name", name)
        self.sub(el, "cac:SignatoryContact")
        who = f"party named {name!r}" if name is not None else "empty party"
        self.fill(
            f"{path}/cac:EndorserParty",
            f"role {role}, sequence 1, {who}, empty signatory contact",
            "UBL requires an endorser party; the canonical model has no endorsements",
        )

    def notes(self, root: etree._Element, c: CertificateOfOrigin) -> None:
        def note(key: str, value: str) -> None:
            self.sub(root, "cbc:Note", f"{NOTE_PREFIX}{key}={value}")

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

    def goods_item(self, shipment: etree._Element, index: int, g: GoodsItem) -> None:
        el = self.sub(shipment, "cac:GoodsItem")
        self.sub(el, "cbc:ID", str(g.sequence))
        if g.fob_value is not None:
            self.amount(el, "cbc:FreeOnBoardValueAmount", g.fob_value)
        if g.gross_weight is not None:
            self.measure(el, "cbc:GrossWeightMeasure", g.gross_weight)
        if g.quantity is not None:
            self.measure(el, "cbc:Quantity", g.quantity)
        if g.origin_criterion is not None:
            self.sub(el, "cbc:PreferenceCriterionCode", g.origin_criterion)
        item = self.sub(el, "cac:Item")
        self.sub(item, "cbc:Description", g.description)
        if g.origin_country is not None:
            self.sub(self.sub(item, "cac:OriginCountry"), "cbc:IdentificationCode", g.origin_country)
        if g.hs_code is not None:
            code = self.sub(self.sub(item, "cac:CommodityClassification"), "cbc:ItemClassificationCode", g.hs_code)
            code.set("listID", HS_LIST)
        if g.manufacturer is not None:
            self.party(item, "cac:ManufacturerParty", g.manufacturer)
        if g.invoice_number is not None or g.invoice_date is not None:
            ref = self.sub(el, "cac:ShipmentDocumentReference")
            self.sub(ref, "cbc:ID", g.invoice_number or "")
            if g.invoice_number is None:
                self.fill(
                    f"{_SHIPMENT}/cac:GoodsItem[{index + 1}]/cac:ShipmentDocumentReference/cbc:ID",
                    "",
                    "UBL requires an identifier on a document reference; the invoice has a date but no number",
                )
            if g.invoice_date is not None:
                self.sub(ref, "cbc:IssueDate", g.invoice_date.isoformat())
            self.sub(ref, "cbc:DocumentTypeCode", INVOICE_TYPE).set("listID", INVOICE_LIST)

    def handling_unit(self, shipment: etree._Element, g: GoodsItem) -> None:
        # Marks and packages belong to the goods item on the certificate forms; in UBL only a transport handling
        # unit has shipping marks and a package count. One unit per goods item, naming the item by its cbc:ID.
        unit = self.sub(shipment, "cac:TransportHandlingUnit")
        if g.packages is not None and g.packages.count is not None:
            self.sub(unit, "cbc:TotalPackageQuantity", str(g.packages.count))
        if g.marks is not None:
            self.sub(unit, "cbc:ShippingMarks", g.marks)
        if g.packages is not None and g.packages.kind is not None:
            package = self.sub(unit, "cac:ActualPackage")
            self.sub(package, "cbc:PackagingTypeCode", g.packages.kind).set("listID", PACKAGE_LIST)
        self.sub(self.sub(unit, "cac:GoodsItem"), "cbc:ID", str(g.sequence))

    # ----- the document ---------------------------------------------------------------------------------
    def render(self, c: CertificateOfOrigin) -> RenderResult:
        root = etree.Element(f"{{{UBL_NS}}}CertificateOfOrigin", nsmap=NSMAP)
        self.sub(root, "cbc:UBLVersionID", self.version)
        self.sub(root, "cbc:ID", c.number)
        self.sub(root, "cbc:IssueDate", c.issue_date.isoformat())
        self.notes(root, c)
        self.sub(root, "cbc:VersionID", str(c.version))
        self.party(root, "cac:ExporterParty", c.exporter)
        if c.importer is not None:
            self.party(root, "cac:ImporterParty", c.importer)

        app = self.sub(root, "cac:CertificateOfOriginApplication")
        self.sub(app, "cbc:ReferenceID", c.number)
        self.fill(f"{_APP}/cbc:ReferenceID", c.number, "UBL requires an application reference: the certificate number")
        self.sub(app, "cbc:CertificateType", c.agreement if c.agreement is not None else NON_PREFERENTIAL)
        self.sub(app, "cbc:ApplicationStatusCode", c.status.value)
        self.sub(app, "cbc:OriginalJobID", c.number)
        self.fill(f"{_APP}/cbc:OriginalJobID", c.number, "UBL requires a job identifier: the certificate number")
        for remark in c.remarks:
            self.sub(app, "cbc:Remarks", remark)

        shipment = self.sub(app, "cac:Shipment")
        if self.version == "2.1":
            self.sub(shipment, "cbc:ID", c.number)
            self.fill(f"{_SHIPMENT}/cbc:ID", c.number, "UBL 2.1 requires a shipment identifier: the certificate number")
        self.sub(shipment, "cbc:TotalGoodsItemQuantity", str(len(c.goods_items)))
        if c.consignee is not None:
            consignment = self.sub(shipment, "cac:Consignment")
            self.sub(consignment, "cbc:ID", c.number)
            self.fill(
                f"{_SHIPMENT}/cac:Consignment/cbc:ID",
                c.number,
                "UBL requires a consignment identifier: the certificate number",
            )
            self.party(consignment, "cac:ConsigneeParty", c.consignee)
        for index, g in enumerate(c.goods_items):
            self.goods_item(shipment, index, g)
        t = c.transport
        if t is not None and (t.vessel or t.loading_port or t.discharge_port or t.departure_date):
            stage = self.sub(shipment, "cac:ShipmentStage")
            if t.vessel is not None:
                means = self.sub(stage, "cac:TransportMeans")
                self.sub(self.sub(means, "cac:MaritimeTransport"), "cbc:VesselName", t.vessel)
            if t.loading_port is not None:
                self.location(stage, "cac:LoadingPortLocation", t.loading_port)
            if t.discharge_port is not None:
                self.location(stage, "cac:UnloadingPortLocation", t.discharge_port)
            if t.departure_date is not None:
                event = self.sub(stage, "cac:PlannedDepartureTransportEvent")
                self.sub(event, "cbc:OccurrenceDate", t.departure_date.isoformat())
        for g in c.goods_items:
            if g.marks is not None or g.packages is not None:
                self.handling_unit(shipment, g)

        self.endorser(app, EXPORTER_ROLE, c.exporter.name, _APP)
        preparation = self.sub(app, "cac:PreparationParty")
        self.sub(self.sub(preparation, "cac:PartyName"), "cbc:Name", c.exporter.name)
        self.fill(f"{_APP}/cac:PreparationParty", c.exporter.name, "UBL requires a preparation party: the exporter")
        if c.issuing_authority is not None:
            self.party(app, "cac:IssuerParty", c.issuing_authority)
        else:
            self.sub(app, "cac:IssuerParty")
            self.fill(f"{_APP}/cac:IssuerParty", "", "UBL requires an issuer party; the issuing authority is unknown")
        self.sub(self.sub(app, "cac:IssuingCountry"), "cbc:IdentificationCode", c.issuing_country)
        for index, attachment in enumerate(c.attachments):
            ref = self.sub(app, "cac:SupportingDocumentReference")
            self.sub(ref, "cbc:ID", attachment.filename or attachment_id(index))
            if attachment.filename is None:
                self.fill(
                    f"{_APP}/cac:SupportingDocumentReference[{index + 1}]/cbc:ID",
                    attachment_id(index),
                    "UBL requires an identifier on a document reference; the attachment has no filename",
                )
            binary = self.sub(
                self.sub(ref, "cac:Attachment"),
                "cbc:EmbeddedDocumentBinaryObject",
                base64.b64encode(attachment.content).decode("ascii"),
            )
            binary.set("mimeCode", attachment.mime_type)
            if attachment.filename is not None:
                binary.set("filename", attachment.filename)

        endorsement = self.sub(root, "cac:IssuerEndorsement")
        self.sub(endorsement, "cbc:DocumentID", c.number)
        self.sub(endorsement, "cbc:ApprovalStatus", APPROVED)
        self.fill(
            f"{_ROOT}/cac:IssuerEndorsement",
            f"document {c.number}, status {APPROVED}",
            "UBL requires the issuer's endorsement: the certificate number and the approval an issued certificate has",
        )
        authority = c.issuing_authority.name if c.issuing_authority is not None else None
        self.endorser(endorsement, ISSUER_ROLE, authority, f"{_ROOT}/cac:IssuerEndorsement")

        data = etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)
        return RenderResult(data=data, losses=tuple(self.losses))


def render(certificate: CertificateOfOrigin, version: UblVersion) -> RenderResult:
    return _Renderer(version).render(certificate)
