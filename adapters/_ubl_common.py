"""Names and conventions shared by the UBL CertificateOfOrigin renderer and parser (see ADR 0010)."""

from __future__ import annotations

from typing import Any, Final

UBL_NS: Final = "urn:oasis:names:specification:ubl:schema:xsd:CertificateOfOrigin-2"
CAC_NS: Final = "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2"
CBC_NS: Final = "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2"
XSI_NS: Final = "http://www.w3.org/2001/XMLSchema-instance"
PREFIXES: Final = {UBL_NS: "ubl", CAC_NS: "cac", CBC_NS: "cbc"}
# lxml-stubs type nsmap keys as str; the None key declares the default namespace.
NSMAP: Final[dict[Any, str]] = {None: UBL_NS, "cac": CAC_NS, "cbc": CBC_NS}
NS: Final = {"ubl": UBL_NS, "cac": CAC_NS, "cbc": CBC_NS}


def tag(qname: str) -> str:
    """``cbc:ID`` → ``{urn:…CommonBasicComponents-2}ID``."""
    prefix, local = qname.split(":")
    return f"{{{NS[prefix]}}}{local}"


# cac:CertificateOfOriginApplication/cbc:CertificateType of a certificate without an agreement (ADR 0005).
NON_PREFERENTIAL: Final = "NON-PREFERENTIAL"

# The one convention for canonical values UBL has no element for: a root cbc:Note
#     tradegw:<canonical field path>=<value>
# e.g. "tradegw:flags.back_to_back=true", "tradegw:producer.address.lines[1]=Moo 5". The path is the one loss
# reports use, so a reader who knows one knows the other.
NOTE_PREFIX: Final = "tradegw:"
NOTE_SCALARS: Final = (
    "issue_place",
    "replaces",
    "exporter_declaration",
    "transport.means",
)
NOTE_FLAGS: Final = ("back_to_back", "third_party_invoicing", "issued_retroactively", "exhibition")
NOTE_PRODUCER: Final = ("name", "id", "address.city", "address.postal_code", "address.country")
NOTE_PRODUCER_LINE: Final = "producer.address.lines"

# Values written where UBL requires an element the canonical model has no value for. The parser recognises each
# one as carrying no information (it restates a canonical value or is this constant) and consumes it silently.
APPROVED: Final = "Approved"
EXPORTER_ROLE: Final = "exporter"
ISSUER_ROLE: Final = "issuer"
INVOICE_TYPE: Final = "380"  # UNCL 1001 "Commercial invoice"
INVOICE_LIST: Final = "UNCL1001"
LOCODE_SCHEME: Final = "UN/LOCODE"
HS_LIST: Final = "HS"
PACKAGE_LIST: Final = "UNECERec21"


def attachment_id(index: int) -> str:
    """cbc:ID of the document reference of an attachment without a filename (1-based, in document order)."""
    return f"attachment-{index + 1}"
