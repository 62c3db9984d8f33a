"""Translation between partner certificate-of-origin formats through one canonical model.

A library: pydantic models and pure functions (bytes in, result out); no web framework, no database.

    from adapters import ADAPTERS, translate
    result = translate(data, "ubl-coo-2.4", "ubl-coo-2.1")   # result.data, result.losses

Each adapter module registers its adapters when imported (see :mod:`adapters.base`); the imports at the end of this
file are the list of formats. A new format is one more import line there.

The messages of wire protocol v1 (:mod:`adapters.notices`) are not adapters: a receipt (UBL ApplicationResponse) and
a certificate status notice (UBL DocumentStatus), each with ``render_…`` (unsigned bytes) and ``parse_…``.
"""

# Adapter modules: importing one registers its format ids in ADAPTERS.
from adapters import edi3_json as edi3_json  # "edi3-coo-json"
from adapters import ubl as ubl  # "ubl-coo-2.4", "ubl-coo-2.1"
from adapters.base import (
    ADAPTERS,
    Adapter,
    AdapterError,
    AdapterNotFound,
    LossEntry,
    ParseResult,
    RenderResult,
    Translation,
    register,
    translate,
)
from adapters.model import (
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
)
from adapters.notices import (
    NoticeStatus,
    Receipt,
    ReceiptFinding,
    ReceiptOutcome,
    StatusNotice,
    parse_receipt,
    parse_status_notice,
    render_receipt,
    render_status_notice,
)

__all__ = [
    "ADAPTERS",
    "Adapter",
    "AdapterError",
    "AdapterNotFound",
    "Address",
    "Amount",
    "Attachment",
    "CertificateOfOrigin",
    "CertificateStatus",
    "GoodsItem",
    "Location",
    "LossEntry",
    "Measure",
    "NoticeStatus",
    "Packages",
    "ParseResult",
    "Party",
    "Receipt",
    "ReceiptFinding",
    "ReceiptOutcome",
    "RenderResult",
    "SpecialFlags",
    "StatusNotice",
    "Translation",
    "Transport",
    "parse_receipt",
    "parse_status_notice",
    "register",
    "render_receipt",
    "render_status_notice",
    "translate",
]
