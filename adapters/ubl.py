"""UBL CertificateOfOrigin adapters: ``ubl-coo-2.4`` and the ``ubl-coo-2.1`` rendering profile.

Both parse any UBL 2.x CertificateOfOrigin (2.1 documents are valid 2.4 documents, DESIGN.md §5); they differ in
what they render: 2.4, or 2.1 with the elements 2.1 requires and 2.4 does not (cac:Shipment/cbc:ID), filled and
reported. The mapping, the ``tradegw:`` note convention for what UBL has no element for, and the values filled where
UBL requires an element are in docs/adr/0010-canonical-coo-and-ubl-mapping.md.
"""

from __future__ import annotations

from adapters import _ubl_parse, _ubl_render
from adapters._ubl_render import UblVersion
from adapters.base import ParseResult, RenderResult, register
from adapters.model import CertificateOfOrigin, field_paths

__all__ = ["UBL_COO_21", "UBL_COO_24", "UblCooAdapter"]


class UblCooAdapter:
    media_type = "application/xml"

    def __init__(self, format_id: str, version: UblVersion) -> None:
        self.format_id = format_id
        self.version = version

    def parse(self, data: bytes) -> ParseResult:
        """Any UBL 2.x CertificateOfOrigin → canonical; every value the model cannot hold is in the losses.

        Raises :class:`adapters.AdapterError` for a certificate without a number, issue date, issuing country,
        named exporter or goods descriptions, and :class:`schemas.DocumentError` for bytes that are not
        acceptable XML.
        """
        return _ubl_parse.parse(data)

    def render(self, certificate: CertificateOfOrigin) -> RenderResult:
        return _ubl_render.render(certificate, self.version)

    def carries(self) -> frozenset[str]:
        # Every canonical field has a UBL element or a tradegw: note (ADR 0010), in 2.1 as in 2.4.
        return field_paths()


UBL_COO_24 = register(UblCooAdapter("ubl-coo-2.4", "2.4"))
UBL_COO_21 = register(UblCooAdapter("ubl-coo-2.1", "2.1"))
