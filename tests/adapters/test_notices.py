"""Wire protocol v1 messages: a receipt (UBL ApplicationResponse) and a status notice (UBL DocumentStatus).

What a gateway does with each — render, sign, validate as its format pack, verify, parse back to the same model —
and what the parse does with anything else: refuse it with an AdapterError that says what is wrong, and nothing
other than an AdapterError, whatever the bytes.
"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from uuid import UUID

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree
from pydantic import ValidationError

from adapters import (
    AdapterError,
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
from adapters.notices import MAX_FINDING_MESSAGE, MAX_RECEIPT_FINDINGS, RECEIPT_FORMAT, STATUS_NOTICE_FORMAT
from schemas import ForbiddenConstruct, ValidationEngine, parse_xml
from signing import SignaturePlacement, SigningKey, TrustAnchors, sign_xml, verify_xml
from tests.adapters.strategies import PROPERTY_SETTINGS, texts, tokens
from tests.conftest import FIXTURES
from tests.pki import make_ca, make_leaf

NS = {
    "ar": "urn:oasis:names:specification:ubl:schema:xsd:ApplicationResponse-2",
    "ds": "urn:oasis:names:specification:ubl:schema:xsd:DocumentStatus-2",
    "cac": "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2",
    "cbc": "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2",
}
DR = "cac:DocumentResponse"
UBL = SignaturePlacement.UBL_EXTENSION
SHA256_METHOD = "http://www.w3.org/2001/04/xmlenc#sha256"

DELIVERED = b"<CertificateOfOrigin>the bytes TH received</CertificateOfOrigin>"
DELIVERED_SHA256 = hashlib.sha256(DELIVERED).hexdigest()
MESSAGE_ID = UUID("6f1c1f0e-3d2a-4c55-9a57-1d0c2b9e8a41")
THAI_REASON = "ยกเลิกหนังสือรับรองถิ่นกำเนิดสินค้า เนื่องจากที่อยู่ของผู้ส่งออกไม่ถูกต้อง"
JAPANESE_REASON = "輸出者の住所に誤りがあったため、原産地証明書を差し替えました。"

RECEIPT = Receipt(
    receipt_id=UUID("0b5e7d3c-8f5a-4e0e-b6a4-2f9d3c1e7a10"),
    issued_at=datetime(2026, 3, 1, 9, 30, tzinfo=UTC),
    sender="TH",
    receiver="JP",
    outcome=ReceiptOutcome.ACCEPTED_WITH_WARNINGS,
    message_id=MESSAGE_ID,
    certificate_number="JP-RCEP-2026-000417",
    document_type="ubl-coo-2.4",
    received_sha256=DELIVERED_SHA256,
    findings=(
        ReceiptFinding(
            severity="warning", code="coo-hs-level", message="RCEP forms state HS codes at 6 digits", line=42
        ),
        ReceiptFinding(severity="info", code="signature", message="issuer signature verified"),
    ),
)
REJECTED_UNREADABLE = RECEIPT.model_copy(
    update={
        "outcome": ReceiptOutcome.REJECTED,
        "certificate_number": None,
        "findings": (ReceiptFinding(severity="error", code="xml", message="not well-formed XML", line=1),),
    }
)
ACCEPTED_PLAIN = RECEIPT.model_copy(update={"outcome": ReceiptOutcome.ACCEPTED, "findings": ()})
WITH_OMISSIONS = RECEIPT.model_copy(update={"outcome": ReceiptOutcome.REJECTED, "findings_omitted": 1234})

WITHDRAWAL = StatusNotice(
    notice_id=UUID("9a4f8e2b-1c3d-4e5f-8a9b-0c1d2e3f4a5b"),
    issued_at=datetime(2026, 3, 2, 1, 15, 30, 250_000, tzinfo=UTC),
    sender="TH",
    receiver="JP",
    certificate_country="TH",
    certificate_number="TH-RCEP-2026-0098",
    certificate_version=1,
    status=NoticeStatus.WITHDRAWN,
    reason=THAI_REASON,
    certificate_sha256=hashlib.sha256(b"the withdrawn certificate").hexdigest(),
)
REPLACEMENT = WITHDRAWAL.model_copy(
    update={
        "status": NoticeStatus.REPLACED,
        "certificate_version": 2,
        "reason": JAPANESE_REASON,
        "replaced_by": "TH-RCEP-2026-0131",
    }
)


# ------------------------------------------------------------------------------------------- helpers
@dataclass(frozen=True)
class Gateway:
    key: SigningKey
    anchors: TrustAnchors


@pytest.fixture(scope="module")
def gateway() -> Gateway:
    """TH's gateway key, and the anchors JP holds for TH."""
    ca = make_ca("TH customs exchange CA")
    leaf = make_leaf(ca, "TH customs gateway")
    return Gateway(
        SigningKey(private_key=leaf.key, certificate=leaf.certificate),
        TrustAnchors("TH", ca_certificates=(ca.certificate,)),
    )


@pytest.fixture(scope="module")
def signed(gateway: Gateway) -> dict[str, bytes]:
    return {
        "receipt": sign_xml(render_receipt(RECEIPT), gateway.key, UBL),
        "status notice": sign_xml(render_status_notice(REPLACEMENT), gateway.key, UBL),
    }


PARSERS: dict[str, Callable[[bytes], Any]] = {"receipt": parse_receipt, "status notice": parse_status_notice}


def values(data: bytes, path: str) -> list[str]:
    """The text of each element (or the value of each attribute) the path selects."""
    found = parse_xml(data).getroot().xpath(path, namespaces=NS)
    assert isinstance(found, list)
    return ["".join(str(t) for t in n.itertext()) if isinstance(n, etree._Element) else str(n) for n in found]


def element(root: etree._Element, path: str) -> etree._Element:
    found = root.xpath(path, namespaces=NS)
    assert isinstance(found, list), path
    assert found, path
    assert isinstance(found[0], etree._Element), path
    return found[0]


Edit = Callable[[bytes], bytes]


def swap(old: str, new: str) -> Edit:
    def run(data: bytes) -> bytes:
        assert old.encode() in data, f"{old!r} is not in the document"
        return data.replace(old.encode(), new.encode(), 1)

    return run


def drop(path: str) -> Edit:
    def run(data: bytes) -> bytes:
        root = parse_xml(data).getroot()
        node = element(root, path)
        parent = node.getparent()
        assert parent is not None
        parent.remove(node)
        return etree.tostring(root)

    return run


def repeat(path: str, times: int = 2) -> Edit:
    def run(data: bytes) -> bytes:
        root = parse_xml(data).getroot()
        node = element(root, path)
        for _ in range(times - 1):
            node.addnext(copy.deepcopy(node))
        return etree.tostring(root)

    return run


def assert_signed_round_trip(
    document: bytes, format_id: str, gateway: Gateway, engine: ValidationEngine, parse: Callable[[bytes], Any]
) -> Any:
    """Sign as the sender does, validate and verify as the receiver does, and return what it parses."""
    signed_document = sign_xml(document, gateway.key, UBL)
    report = engine.validate(signed_document)  # detected, as the receiving gateway detects it
    assert report.format.id == format_id
    assert [f.message for f in report.findings if f.severity == "error"] == []
    assert report.valid
    verification = verify_xml(signed_document, gateway.anchors, UBL)
    assert verification.ok, (verification.integrity, verification.trust, verification.validity)
    assert verification.signed_xml is not None
    parsed = parse(verification.signed_xml)  # what the signature covers: the only bytes a receiver reads
    assert parse(signed_document) == parsed
    return parsed


# ------------------------------------------------------------------------------------------- receipts
@pytest.mark.parametrize(
    "receipt",
    [RECEIPT, REJECTED_UNREADABLE, ACCEPTED_PLAIN, WITH_OMISSIONS],
    ids=["accepted-with-warnings", "rejected-unreadable", "accepted", "findings-omitted"],
)
def test_a_signed_receipt_validates_verifies_and_parses_back_unchanged(
    receipt: Receipt, gateway: Gateway, engine: ValidationEngine
) -> None:
    document = render_receipt(receipt)
    assert values(document, "/ar:ApplicationResponse/*[1]") == ["2.4"]  # no UBLExtensions: sign_xml adds them
    assert assert_signed_round_trip(document, RECEIPT_FORMAT, gateway, engine, parse_receipt) == receipt


def test_a_receipt_quotes_the_delivery_it_answers() -> None:
    document = render_receipt(RECEIPT)
    reference = f"/ar:ApplicationResponse/{DR}/cac:DocumentReference"
    external = f"{reference}/cac:Attachment/cac:ExternalReference"
    assert values(document, f"{external}/cbc:DocumentHash") == [DELIVERED_SHA256]  # the path DESIGN §4 names
    assert values(document, f"{external}/cbc:HashAlgorithmMethod") == [SHA256_METHOD]
    assert values(document, f"{reference}/cbc:UUID") == [str(MESSAGE_ID)]
    assert values(document, f"{reference}/cbc:ID") == ["JP-RCEP-2026-000417"]
    assert values(document, f"{reference}/cbc:ID/@schemeID") == []
    assert values(document, f"{reference}/cbc:DocumentType") == ["ubl-coo-2.4"]
    assert values(document, "/ar:ApplicationResponse/cbc:ID") == ["0b5e7d3c-8f5a-4e0e-b6a4-2f9d3c1e7a10"]
    assert values(document, "/ar:ApplicationResponse/cbc:IssueDate") == ["2026-03-01"]
    assert values(document, "/ar:ApplicationResponse/cbc:IssueTime") == ["09:30:00Z"]


def test_the_receipt_sender_is_the_gateway_that_received_the_delivery() -> None:
    document = render_receipt(RECEIPT)
    identifier = "cac:PartyIdentification/cbc:ID"
    assert values(document, f"/ar:ApplicationResponse/cac:SenderParty/{identifier}") == ["TH"]
    assert values(document, f"/ar:ApplicationResponse/cac:ReceiverParty/{identifier}") == ["JP"]
    assert values(document, f"//{identifier}/@schemeID") == ["trade-gateway", "trade-gateway"]


@pytest.mark.parametrize(
    ("outcome", "code"),
    [(ReceiptOutcome.ACCEPTED, "AP"), (ReceiptOutcome.ACCEPTED_WITH_WARNINGS, "CA"), (ReceiptOutcome.REJECTED, "RE")],
)
def test_outcomes_are_uncl_4343_response_codes(outcome: ReceiptOutcome, code: str) -> None:
    receipt = RECEIPT.model_copy(update={"outcome": outcome})
    document = render_receipt(receipt)
    assert values(document, f"/ar:ApplicationResponse/{DR}/cac:Response/cbc:ResponseCode") == [code]
    assert values(document, f"/ar:ApplicationResponse/{DR}/cac:Response/cbc:ResponseCode/@listID") == ["UNCL4343"]
    assert parse_receipt(document).outcome is outcome


def test_a_receipt_for_an_unreadable_document_names_the_message_id_instead_of_a_certificate() -> None:
    document = render_receipt(REJECTED_UNREADABLE)
    reference = f"/ar:ApplicationResponse/{DR}/cac:DocumentReference"
    assert values(document, f"{reference}/cbc:ID") == [str(MESSAGE_ID)]
    assert values(document, f"{reference}/cbc:ID/@schemeID") == ["message-id"]
    assert parse_receipt(document).certificate_number is None


def test_findings_are_status_entries_in_order_with_the_line_as_a_condition() -> None:
    document = render_receipt(RECEIPT)
    status = f"/ar:ApplicationResponse/{DR}/cac:Response/cac:Status"
    assert values(document, f"{status}/cbc:ConditionCode") == ["warning", "info"]
    assert values(document, f"{status}/cbc:StatusReasonCode") == ["coo-hs-level", "signature"]
    assert values(document, f"{status}/cbc:StatusReason") == [
        "RCEP forms state HS codes at 6 digits",
        "issuer signature verified",
    ]
    assert values(document, f"{status}[1]/cac:Condition/cbc:AttributeID") == ["line"]
    assert values(document, f"{status}[1]/cac:Condition/cbc:Measure") == ["42"]
    assert values(document, f"{status}[2]/cac:Condition") == []  # no line known


def test_a_receipt_keeps_200_findings_errors_first_and_counts_the_rest() -> None:
    # 240 infos with 10 errors and 5 warnings spread among them.
    given_findings = [ReceiptFinding(severity="info", code="note", message=f"info {i}") for i in range(240)]
    for i in range(10):
        given_findings.insert(i * 20, ReceiptFinding(severity="error", code="rule", message=f"error {i}"))
    for i in range(5):
        given_findings.insert(i * 40 + 7, ReceiptFinding(severity="warning", code="rule", message=f"warning {i}"))
    receipt = Receipt.model_validate(
        {**RECEIPT.model_dump(), "outcome": "rejected", "findings": given_findings, "findings_omitted": 3}
    )

    assert len(receipt.findings) == MAX_RECEIPT_FINDINGS
    assert receipt.findings_omitted == 3 + 255 - MAX_RECEIPT_FINDINGS
    assert sum(f.severity == "error" for f in receipt.findings) == 10
    assert sum(f.severity == "warning" for f in receipt.findings) == 5
    assert list(receipt.findings) == [f for f in given_findings if f in receipt.findings]  # the order given
    document = render_receipt(receipt)
    assert len(values(document, f"/ar:ApplicationResponse/{DR}/cac:Response/cac:Status")) == MAX_RECEIPT_FINDINGS
    assert values(document, "/ar:ApplicationResponse/cbc:Note") == ["tradegw:findings_omitted=58"]
    assert parse_receipt(document) == receipt


def test_no_note_is_written_when_nothing_was_omitted() -> None:
    assert values(render_receipt(RECEIPT), "/ar:ApplicationResponse/cbc:Note") == []


def test_a_finding_message_longer_than_the_bound_is_cut_visibly() -> None:
    finding = ReceiptFinding(severity="error", code="schema", message="x" * (MAX_FINDING_MESSAGE + 500))
    assert len(finding.message) == MAX_FINDING_MESSAGE
    assert finding.message.endswith("x…")


def test_issued_at_is_held_in_utc_and_a_naive_time_is_refused() -> None:
    tokyo = timezone(timedelta(hours=9))
    receipt = Receipt.model_validate({**RECEIPT.model_dump(), "issued_at": datetime(2026, 3, 1, 18, 30, tzinfo=tokyo)})
    assert receipt.issued_at.utcoffset() == timedelta(0)
    assert receipt.issued_at == datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
    with pytest.raises(ValidationError, match="timezone"):
        Receipt.model_validate({**RECEIPT.model_dump(), "issued_at": datetime(2026, 3, 1, 9, 30)})
    with pytest.raises(ValidationError, match="cannot be expressed in UTC"):
        Receipt.model_validate({**RECEIPT.model_dump(), "issued_at": datetime.min.replace(tzinfo=tokyo)})


@pytest.mark.parametrize(
    ("written", "moment"),
    [
        ("<cbc:IssueTime>18:30:00+09:00<", datetime(2026, 3, 1, 9, 30, tzinfo=UTC)),
        ("<cbc:IssueTime>02:00:00-07:30<", datetime(2026, 3, 1, 9, 30, tzinfo=UTC)),
        ("<cbc:IssueTime>09:30:00.123456789Z<", datetime(2026, 3, 1, 9, 30, 0, 123456, tzinfo=UTC)),
        ("<cbc:IssueTime>09:30:00.5Z<", datetime(2026, 3, 1, 9, 30, 0, 500000, tzinfo=UTC)),
    ],
    ids=["tokyo", "negative-offset", "nanoseconds-cut", "tenths"],
)
def test_a_partner_may_write_the_issue_time_in_any_zone(written: str, moment: datetime) -> None:
    document = swap("<cbc:IssueTime>09:30:00Z<", written)(render_receipt(RECEIPT))
    assert parse_receipt(document).issued_at == moment


def test_plain_notes_are_remarks_for_people_and_do_not_disturb_the_parse() -> None:
    document = swap("</cbc:IssueTime>", "</cbc:IssueTime><cbc:Note>Received at the Laem Chabang desk</cbc:Note>")(
        render_receipt(RECEIPT)
    )
    assert parse_receipt(document) == RECEIPT


_RECEIPT_ROOT = 'xmlns="urn:oasis:names:specification:ubl:schema:xsd:ApplicationResponse-2"'


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        pytest.param(swap(_RECEIPT_ROOT, _RECEIPT_ROOT[:-2] + '3"'), "root element", id="namespace"),
        pytest.param(swap("wire-protocol:1<", "wire-protocol:2<"), "CustomizationID", id="other-protocol"),
        pytest.param(drop("/ar:ApplicationResponse/cbc:CustomizationID"), "CustomizationID is missing", id="no-proto"),
        pytest.param(swap(">0b5e7d3c-", ">0b5e7d3c"), "not a UUID", id="receipt-id"),
        pytest.param(swap(f"<cbc:UUID>{MESSAGE_ID}", f"<cbc:UUID>{MESSAGE_ID}0"), "not a UUID", id="message-id"),
        pytest.param(swap(">CA<", ">AB<"), "not a receipt outcome", id="response-code"),
        pytest.param(swap('listID="UNCL4343"', 'listID="UNCL1373"'), "listID", id="response-list"),
        pytest.param(swap(DELIVERED_SHA256, DELIVERED_SHA256.upper()), "lowercase hex", id="digest-case"),
        pytest.param(swap(DELIVERED_SHA256, DELIVERED_SHA256[:-1]), "64 digits", id="digest-short"),
        pytest.param(swap(SHA256_METHOD, SHA256_METHOD[:-3] + "512"), "HashAlgorithmMethod", id="digest-method"),
        pytest.param(drop(f"//{DR}/cac:DocumentReference/cac:Attachment"), "Attachment", id="no-digest"),
        pytest.param(drop(f"/ar:ApplicationResponse/{DR}"), "DocumentResponse is missing", id="no-response"),
        pytest.param(repeat(f"/ar:ApplicationResponse/{DR}"), "appears 2 times", id="two-responses"),
        pytest.param(repeat(f"//{DR}/cac:DocumentReference"), "exactly one delivery", id="two-references"),
        pytest.param(drop("//cac:SenderParty/cac:PartyIdentification"), "names 0 gateways", id="no-sender"),
        pytest.param(swap('schemeID="trade-gateway"', 'schemeID="GLN"'), "names 0 gateways", id="sender-scheme"),
        pytest.param(swap(">TH<", ">th<"), "sender", id="sender-code"),
        pytest.param(drop("/ar:ApplicationResponse/cbc:IssueTime"), "IssueTime is missing", id="no-time"),
        pytest.param(swap(">09:30:00Z<", ">09:30:00<"), "no time zone", id="time-without-zone"),
        pytest.param(swap(">2026-03-01<", ">2026-02-30<"), "do not name a moment", id="no-such-day"),
        pytest.param(swap(">09:30:00Z<", ">23:59:60Z<"), "do not name a moment", id="leap-second"),
        pytest.param(swap(">2026-03-01<", ">๒๐๒๖-03-01<"), "not a date", id="thai-digits"),
        pytest.param(
            lambda data: swap(">09:30:00Z<", ">23:00:00-05:00<")(swap(">2026-03-01<", ">9999-12-31<")(data)),
            "do not name a moment",
            id="after-year-9999",
        ),
        pytest.param(
            lambda data: swap(">09:30:00Z<", ">00:00:00+05:00<")(swap(">2026-03-01<", ">0001-01-01<")(data)),
            "do not name a moment",
            id="before-year-1",
        ),
        pytest.param(swap(">warning<", ">fatal<"), "error, warning or info", id="severity"),
        pytest.param(swap('unitCode="C62">42<', 'unitCode="C62">0<'), "line number", id="line-zero"),
        pytest.param(swap('unitCode="C62">42<', 'unitCode="C62">4.5<'), "line number", id="line-decimal"),
        pytest.param(swap(">line<", ">column<"), "only 'line' is known", id="condition"),
        pytest.param(swap(">coo-hs-level<", "><cbc:Note>x</cbc:Note><"), "holds elements", id="nested"),
        pytest.param(swap(">ubl-coo-2.4<", "> <"), "is empty", id="blank-format"),
        pytest.param(swap(">ubl-coo-2.4<", ">ubl coo<"), "document_type", id="format-id"),
        pytest.param(
            swap("</cbc:IssueTime>", "</cbc:IssueTime><cbc:Note>tradegw:outcome=accepted</cbc:Note>"),
            "does not have: 'outcome'",
            id="unknown-note",
        ),
        pytest.param(
            swap("</cbc:IssueTime>", "</cbc:IssueTime><cbc:Note>tradegw:findings_omitted=-1</cbc:Note>"),
            "not a count",
            id="omitted-count",
        ),
        pytest.param(
            repeat(f"//{DR}/cac:Response/cac:Status[1]", MAX_RECEIPT_FINDINGS + 1),
            "over the limit of 200",
            id="too-many-findings",
        ),
    ],
)
def test_parse_receipt_refuses_what_a_receipt_cannot_be(edit: Edit, message: str) -> None:
    with pytest.raises(AdapterError, match=message):
        parse_receipt(edit(render_receipt(RECEIPT)))


def test_the_message_id_stands_for_the_certificate_number_only_when_it_is_the_message_id() -> None:
    document = render_receipt(REJECTED_UNREADABLE)
    other = "00000000-0000-4000-8000-000000000000"
    with pytest.raises(AdapterError, match="is not the cbc:UUID"):
        parse_receipt(swap(f'schemeID="message-id">{MESSAGE_ID}<', f'schemeID="message-id">{other}<')(document))


def test_parse_receipt_refuses_other_documents() -> None:
    with pytest.raises(AdapterError, match=r"expected a UBL ApplicationResponse.*'DocumentStatus'"):
        parse_receipt(render_status_notice(WITHDRAWAL))
    # A valid UBL ApplicationResponse that is not a wire protocol v1 receipt.
    with pytest.raises(AdapterError, match="CustomizationID is missing"):
        parse_receipt((FIXTURES / "signing" / "application-response.xml").read_bytes())


@pytest.mark.parametrize("kind", PARSERS)
def test_parse_refuses_what_the_hardened_parser_refuses_with_the_parser_error_as_cause(kind: str) -> None:
    entity = b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY e "x">]><r>&e;</r>'
    with pytest.raises(AdapterError, match=r"not acceptable XML.*DOCTYPE") as caught:
        PARSERS[kind](entity)
    assert isinstance(caught.value.__cause__, ForbiddenConstruct)
    with pytest.raises(AdapterError, match="not well-formed"):
        PARSERS[kind](b"")


# ------------------------------------------------------------------------------------------- status notices
@pytest.mark.parametrize("notice", [WITHDRAWAL, REPLACEMENT], ids=["withdrawn", "replaced"])
def test_a_signed_status_notice_validates_verifies_and_parses_back_unchanged(
    notice: StatusNotice, gateway: Gateway, engine: ValidationEngine
) -> None:
    document = render_status_notice(notice)
    assert assert_signed_round_trip(document, STATUS_NOTICE_FORMAT, gateway, engine, parse_status_notice) == notice


def test_a_status_notice_names_the_certificate_its_digest_and_its_replacement() -> None:
    document = render_status_notice(REPLACEMENT)
    response = f"/ds:DocumentStatus/{DR}/cac:Response"
    certificate = f"/ds:DocumentStatus/{DR}/cac:DocumentReference[1]"
    assert values(document, f"{response}/cbc:ResponseCode") == ["replaced"]
    assert values(document, f"{response}/cbc:ResponseCode/@listID") == ["trade-gateway-certificate-status"]
    assert values(document, f"{response}/cbc:Description") == [JAPANESE_REASON]
    assert values(document, f"{certificate}/cbc:ID") == ["TH-RCEP-2026-0098"]
    assert values(document, f"{certificate}/cbc:VersionID") == ["2"]
    assert values(document, f"{certificate}/cac:Attachment/cac:ExternalReference/cbc:DocumentHash") == [
        REPLACEMENT.certificate_sha256
    ]
    assert values(document, f"{certificate}/cac:IssuerParty/cac:PostalAddress/cac:Country/cbc:IdentificationCode") == [
        "TH"
    ]
    assert values(document, f"/ds:DocumentStatus/{DR}/cac:DocumentReference[2]/cbc:ID") == ["TH-RCEP-2026-0131"]
    assert values(document, "/ds:DocumentStatus/cbc:IssueTime") == ["01:15:30.250000Z"]
    assert values(document, "/ds:DocumentStatus/cac:SenderParty/cac:PartyIdentification/cbc:ID") == ["TH"]


def test_a_withdrawal_names_no_replacement() -> None:
    document = render_status_notice(WITHDRAWAL)
    assert values(document, f"/ds:DocumentStatus/{DR}/cac:Response/cbc:ResponseCode") == ["withdrawn"]
    assert len(values(document, f"/ds:DocumentStatus/{DR}/cac:DocumentReference")) == 1


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"status": "replaced"}, "names the replacement"),
        ({"replaced_by": "TH-RCEP-2026-0131"}, "only for replaced certificates"),
        ({"reason": "x" * 1001}, "at most 1000 characters"),
        ({"reason": "  \n"}, "more than white space"),
        ({"certificate_version": 0}, "greater than or equal to 1"),
        ({"certificate_country": "THA"}, "ISO 3166-1 alpha-2"),
        ({"certificate_sha256": WITHDRAWAL.certificate_sha256.upper()}, "pattern"),
        ({"sender": "th"}, "pattern"),
        ({"status": "cancelled"}, "withdrawn"),
    ],
)
def test_a_status_notice_must_make_sense(change: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        StatusNotice.model_validate({**WITHDRAWAL.model_dump(), **change})


_NOTICE_REFERENCES = f"/ds:DocumentStatus/{DR}/cac:DocumentReference"


@pytest.mark.parametrize(
    ("notice", "edit", "message"),
    [
        (REPLACEMENT, swap(">replaced<", ">cancelled<"), "not a certificate status"),
        (REPLACEMENT, swap('listID="trade-gateway-certificate-status"', 'listID="UNCL1225"'), "listID"),
        (REPLACEMENT, drop(f"{_NOTICE_REFERENCES}[2]"), "a replaced notice has 2"),
        (WITHDRAWAL, repeat(f"{_NOTICE_REFERENCES}[1]"), "a withdrawn notice has 1"),
        (WITHDRAWAL, swap("<cbc:VersionID>1<", "<cbc:VersionID>01<"), "not a version number"),
        (WITHDRAWAL, swap("<cbc:VersionID>1<", "<cbc:VersionID>1.0<"), "not a version number"),
        (WITHDRAWAL, drop(f"{_NOTICE_REFERENCES}/cbc:VersionID"), "VersionID is missing"),
        (WITHDRAWAL, drop(f"{_NOTICE_REFERENCES}/cac:Attachment"), "Attachment/cac:ExternalReference is missing"),
        (WITHDRAWAL, drop(f"{_NOTICE_REFERENCES}/cac:IssuerParty"), "IssuerParty.* is missing"),
        (WITHDRAWAL, swap('Alpha2">TH<', 'Alpha2">XX<'), "certificate_country"),
        (WITHDRAWAL, swap('listID="ISO3166-1:Alpha2"', 'listID="ISO3166-1:Alpha3"'), "listID"),
        (WITHDRAWAL, drop(f"/ds:DocumentStatus/{DR}/cac:Response/cbc:Description"), "Description is missing"),
        (WITHDRAWAL, drop("/ds:DocumentStatus/cac:ReceiverParty"), "ReceiverParty is missing"),
        (
            WITHDRAWAL,
            swap("</cbc:IssueTime>", "</cbc:IssueTime><cbc:Note>tradegw:findings_omitted=1</cbc:Note>"),
            "does not have",
        ),
    ],
)
def test_parse_status_notice_refuses_what_a_notice_cannot_be(notice: StatusNotice, edit: Edit, message: str) -> None:
    with pytest.raises(AdapterError, match=message):
        parse_status_notice(edit(render_status_notice(notice)))


def test_parse_status_notice_refuses_a_receipt() -> None:
    with pytest.raises(AdapterError, match="expected a UBL DocumentStatus"):
        parse_status_notice(render_receipt(RECEIPT))


# ------------------------------------------------------------------------------------------- properties
CONNECTION_CODES = st.from_regex(r"[A-Z0-9]{2,16}", fullmatch=True)
DIGESTS = st.binary(max_size=32).map(lambda data: hashlib.sha256(data).hexdigest())
# Any fixed offset, to the minute, as partners write them; the models hold the instant in UTC.
ZONES = st.integers(-14 * 60, 14 * 60).map(lambda minutes: timezone(timedelta(minutes=minutes)))
MOMENTS = st.builds(
    lambda moment, zone: moment.replace(tzinfo=UTC).astimezone(zone),
    st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1)),
    ZONES,
)
REASONS = st.one_of(st.sampled_from([THAI_REASON, JAPANESE_REASON]), texts(300))

findings = st.builds(
    ReceiptFinding,
    severity=st.sampled_from(["error", "warning", "info"]),
    code=tokens(),
    message=st.one_of(texts(120), st.sampled_from([THAI_REASON, JAPANESE_REASON])),
    line=st.none() | st.integers(1, 10**6),
)
receipts = st.builds(
    Receipt,
    receipt_id=st.uuids(),
    issued_at=MOMENTS,
    sender=CONNECTION_CODES,
    receiver=CONNECTION_CODES,
    outcome=st.sampled_from(ReceiptOutcome),
    message_id=st.uuids(),
    certificate_number=st.none() | tokens(),
    document_type=st.sampled_from(["ubl-coo-2.4", "ubl-coo-2.1", "edi3-coo-json", "sps-ecert-17"]),
    received_sha256=DIGESTS,
    findings=st.lists(findings, max_size=4).map(tuple),
    findings_omitted=st.integers(0, 10**6),
)
notices = st.one_of(
    st.builds(
        StatusNotice,
        notice_id=st.uuids(),
        issued_at=MOMENTS,
        sender=CONNECTION_CODES,
        receiver=CONNECTION_CODES,
        certificate_country=st.sampled_from(["TH", "JP", "ID", "VN", "MY"]),
        certificate_number=tokens(),
        certificate_version=st.integers(1, 10**6),
        status=st.just(NoticeStatus.WITHDRAWN),
        reason=REASONS,
        replaced_by=st.none(),
        certificate_sha256=DIGESTS,
    ),
    st.builds(
        StatusNotice,
        notice_id=st.uuids(),
        issued_at=MOMENTS,
        sender=CONNECTION_CODES,
        receiver=CONNECTION_CODES,
        certificate_country=st.sampled_from(["TH", "JP", "ID", "VN", "MY"]),
        certificate_number=tokens(),
        certificate_version=st.integers(1, 10**6),
        status=st.just(NoticeStatus.REPLACED),
        reason=REASONS,
        replaced_by=tokens(),
        certificate_sha256=DIGESTS,
    ),
)


@PROPERTY_SETTINGS
@given(receipt=receipts)
def test_every_receipt_renders_valid_and_parses_back_unchanged(receipt: Receipt, engine: ValidationEngine) -> None:
    document = render_receipt(receipt)
    assert [f.message for f in engine.validate(document, RECEIPT_FORMAT).findings if f.severity == "error"] == []
    assert parse_receipt(document) == receipt


@PROPERTY_SETTINGS
@given(notice=notices)
def test_every_status_notice_renders_valid_and_parses_back_unchanged(
    notice: StatusNotice, engine: ValidationEngine
) -> None:
    document = render_status_notice(notice)
    assert [f.message for f in engine.validate(document, STATUS_NOTICE_FORMAT).findings if f.severity == "error"] == []
    parsed = parse_status_notice(document)
    assert parsed == notice
    assert parsed.reason == notice.reason  # Thai and Japanese text kept character for character


HOSTILE = settings(max_examples=150, deadline=None)


@pytest.mark.parametrize("kind", PARSERS)
@HOSTILE
@given(data=st.binary(max_size=400))
def test_random_bytes_are_refused_with_an_adapter_error(kind: str, data: bytes) -> None:
    with pytest.raises(AdapterError):
        PARSERS[kind](data)


@pytest.mark.parametrize("kind", PARSERS)
@HOSTILE
@given(cut=st.integers(min_value=0))
def test_every_truncation_of_a_signed_message_is_refused_with_an_adapter_error(
    kind: str, cut: int, signed: dict[str, bytes]
) -> None:
    document = signed[kind].rstrip()  # a cut that only drops trailing white space leaves a whole document
    with pytest.raises(AdapterError):
        PARSERS[kind](document[: cut % len(document)])


@pytest.mark.parametrize("kind", PARSERS)
@HOSTILE
@given(position=st.integers(min_value=0), byte=st.integers(0, 255), count=st.integers(1, 8))
def test_a_damaged_signed_message_parses_or_is_refused_with_an_adapter_error(
    kind: str, position: int, byte: int, count: int, signed: dict[str, bytes]
) -> None:
    document = bytearray(signed[kind])
    start = position % len(document)
    document[start : start + count] = bytes([byte]) * count
    try:
        parsed = PARSERS[kind](bytes(document))
    except AdapterError:
        return
    assert isinstance(parsed, Receipt | StatusNotice)
