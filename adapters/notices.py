"""The protocol messages of wire protocol v1 (DESIGN §4): receipts and certificate status notices, as UBL 2.4.

A **receipt** (:class:`Receipt`) is the receiving gateway's answer to every delivery, a UBL ApplicationResponse. A
**status notice** (:class:`StatusNotice`) tells a partner that a certificate was withdrawn or replaced, a UBL
DocumentStatus. Both are rendered unsigned; the caller signs them like any UBL document::

    signed = sign_xml(render_receipt(receipt), key, SignaturePlacement.UBL_EXTENSION)

and reads them back, after verification, from the signed bytes (``verify_xml(...).signed_xml``) with
:func:`parse_receipt` / :func:`parse_status_notice`. Those use the one hardened XML parse and raise
:class:`adapters.AdapterError`, and nothing else, for any document they cannot read, including bytes that are not
acceptable XML (the parser's :class:`schemas.DocumentError` is the ``__cause__``): to the delivery worker, every
unreadable receipt is the same event.

Receipt → ``/ApplicationResponse`` (paths relative to it; ``DR`` = ``cac:DocumentResponse``)::

    cbc:UBLVersionID                 "2.4"
    cbc:CustomizationID              PROTOCOL_ID: what makes this a wire protocol v1 receipt, required on parse
    cbc:ID                           receipt_id
    cbc:IssueDate, cbc:IssueTime     issued_at in UTC ("…Z"); on parse any offset is accepted and converted
    cbc:Note                         "tradegw:findings_omitted=<n>", only when n > 0
    cac:SenderParty/cac:PartyIdentification/cbc:ID[@schemeID="trade-gateway"]    sender (the gateway that
                                     received the delivery and answers it)
    cac:ReceiverParty/…              receiver, likewise
    DR/cac:Response/cbc:ResponseCode[@listID="UNCL4343"]     outcome: AP | CA | RE
    DR/cac:Response/cac:Status       one per finding, in order:
        cbc:ConditionCode[@listID="trade-gateway-severity"]  severity: error | warning | info
        cbc:StatusReasonCode         code (the rule id, or the validation area)
        cbc:StatusReason             message
        cac:Condition                line, when known: cbc:AttributeID "line", cbc:Measure[@unitCode="C62"]
    DR/cac:DocumentReference/cbc:ID  certificate_number; when it is None, the Message-ID with
                                     @schemeID="message-id" (UBL requires an ID here)
    DR/cac:DocumentReference/cbc:UUID                message_id (the Message-ID of the delivery answered)
    DR/cac:DocumentReference/cbc:DocumentType        document_type (the format id of the delivered document)
    DR/cac:DocumentReference/cac:Attachment/cac:ExternalReference/cbc:DocumentHash          received_sha256
    DR/cac:DocumentReference/cac:Attachment/cac:ExternalReference/cbc:HashAlgorithmMethod   SHA256_METHOD

Status notice → ``/DocumentStatus`` (``DR`` = ``cac:DocumentResponse``)::

    cbc:UBLVersionID, cbc:CustomizationID, cbc:ID (notice_id), cbc:IssueDate, cbc:IssueTime, cac:SenderParty,
    cac:ReceiverParty                as in a receipt
    DR/cac:Response/cbc:ResponseCode[@listID="trade-gateway-certificate-status"]  status: withdrawn | replaced
    DR/cac:Response/cbc:Description  reason
    DR/cac:DocumentReference[1]      the certificate the notice is about:
        cbc:ID                       certificate_number
        cbc:VersionID                certificate_version
        cac:Attachment/cac:ExternalReference/cbc:DocumentHash (+ cbc:HashAlgorithmMethod)   certificate_sha256
        cac:IssuerParty/cac:PostalAddress/cac:Country/cbc:IdentificationCode                  certificate_country
    DR/cac:DocumentReference[2]      only for ``replaced``: cbc:ID = replaced_by

Digests are lowercase hex, as everywhere in the gateway (``GET /v1/documents/{sha256}``), not base64.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta, timezone
from enum import StrEnum
from typing import Annotated, Any, Final, TypeVar
from uuid import UUID

from lxml import etree
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    model_validator,
)

from adapters._ubl_common import CAC_NS, CBC_NS, NOTE_PREFIX, tag
from adapters.base import AdapterError
from adapters.model import CountryCode, Text, Token, value_check
from schemas.errors import DocumentError
from schemas.report import Severity
from schemas.xmlparse import parse_xml

__all__ = [
    "MAX_FINDING_MESSAGE",
    "MAX_REASON",
    "MAX_RECEIPT_FINDINGS",
    "PROTOCOL_ID",
    "RECEIPT_FORMAT",
    "STATUS_NOTICE_FORMAT",
    "NoticeStatus",
    "Receipt",
    "ReceiptFinding",
    "ReceiptOutcome",
    "StatusNotice",
    "parse_receipt",
    "parse_status_notice",
    "render_receipt",
    "render_status_notice",
]

RECEIPT_FORMAT: Final = "ubl-application-response-2.4"
STATUS_NOTICE_FORMAT: Final = "ubl-document-status-2.4"
PROTOCOL_ID: Final = "urn:trade-gateway:wire-protocol:1"

# A receipt answers a delivery of at most 20 MB, whose validation may report thousands of findings; bounding what
# a receipt carries keeps its size (and the work of checking its signature) small whatever was delivered.
MAX_RECEIPT_FINDINGS: Final = 200
MAX_FINDING_MESSAGE: Final = 2000
MAX_REASON: Final = 1000
# Versions, line numbers and counts are written with at most nine digits, so the parser's bound is the model's.
_MAX_NUMBER: Final = 999_999_999

_AR_NS: Final = "urn:oasis:names:specification:ubl:schema:xsd:ApplicationResponse-2"
_DS_NS: Final = "urn:oasis:names:specification:ubl:schema:xsd:DocumentStatus-2"

GATEWAY_SCHEME: Final = "trade-gateway"
"""schemeID of a party's cbc:ID: the value is a gateway connection code (``TH``, ``JP``), as in the ``From`` and
``To`` headers of the wire protocol."""
MESSAGE_ID_SCHEME: Final = "message-id"
SEVERITY_LIST: Final = "trade-gateway-severity"
STATUS_LIST: Final = "trade-gateway-certificate-status"
COUNTRY_LIST: Final = "ISO3166-1:Alpha2"
# The identifier XML Encryption gives SHA-256, which XMLDSig uses too: a reader of UBL already knows it.
SHA256_METHOD: Final = "http://www.w3.org/2001/04/xmlenc#sha256"
LINE_ATTRIBUTE: Final = "line"
LINE_UNIT: Final = "C62"  # UN/ECE Recommendation 20 "one": a count without a unit
OMITTED_NOTE: Final = "findings_omitted"


# ------------------------------------------------------------------------------------------------- models
class ReceiptOutcome(StrEnum):
    ACCEPTED = "accepted"
    ACCEPTED_WITH_WARNINGS = "accepted_with_warnings"
    REJECTED = "rejected"


# Code list: UN/CEFACT UNCL 4343 "Response type code", the list Peppol's invoice and message level responses use in
# cbc:ResponseCode: AP "Accepted", CA "Conditionally accepted", RE "Rejected". Accepted with warnings is accepted
# on the conditions the findings state.
RESPONSE_LIST: Final = "UNCL4343"
_RESPONSE_CODES: Final = {
    ReceiptOutcome.ACCEPTED: "AP",
    ReceiptOutcome.ACCEPTED_WITH_WARNINGS: "CA",
    ReceiptOutcome.REJECTED: "RE",
}
_OUTCOMES: Final = {code: outcome for outcome, code in _RESPONSE_CODES.items()}


class NoticeStatus(StrEnum):
    """What happened to the certificate a notice names (DESIGN §3, certificate states).

    Rendered as the code itself, from the project's own list (``STATUS_LIST``): UNCL 1225 codes such as
    "Cancellation" and "Replace" describe what a *message* does, not the state of the certificate it names.
    """

    WITHDRAWN = "withdrawn"
    REPLACED = "replaced"


def _utc(value: datetime) -> datetime:
    try:
        return value.astimezone(UTC)
    except OverflowError:  # pydantic reports ValueErrors only; anything else would escape as itself
        raise ValueError(f"{value.isoformat()} cannot be expressed in UTC") from None


def _cut(value: Any) -> Any:
    # One oversized validation message must not make the receipt unbuildable: it is cut, visibly.
    if isinstance(value, str) and len(value) > MAX_FINDING_MESSAGE:
        return value[: MAX_FINDING_MESSAGE - 1] + "…"
    return value


UtcDatetime = Annotated[AwareDatetime, AfterValidator(_utc)]
"""A moment with a time zone, held in UTC (a naive datetime is refused: its instant is unknown)."""
ConnectionCode = Annotated[str, StringConstraints(pattern=r"^[A-Z0-9]{2,16}$")]
FormatId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,99}$")]
Sha256Hex = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
Count = Annotated[int, Field(ge=0, le=_MAX_NUMBER)]
# The length bound goes before the text check: after it, pydantic would report the length in "items".
Reason = Annotated[str, StringConstraints(max_length=MAX_REASON), AfterValidator(value_check(Text))]


class _Message(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ReceiptFinding(_Message):
    severity: Severity
    code: Token
    """The rule that fired, or the validation area (``schema``, ``signature``) when no rule is named."""
    message: Annotated[Text, BeforeValidator(_cut)]
    """At most ``MAX_FINDING_MESSAGE`` characters; a longer message is cut and ends with "…"."""
    line: int | None = Field(default=None, ge=1, le=_MAX_NUMBER)


_SEVERITY_RANK: Final = {"error": 0, "warning": 1, "info": 2}


def _severity_rank(finding: Any) -> int:
    # Runs before validation: a finding may still be a dict; an unknown severity ranks last and fails validation.
    severity = finding.get("severity") if isinstance(finding, dict) else getattr(finding, "severity", None)
    return _SEVERITY_RANK.get(str(severity), len(_SEVERITY_RANK))


class Receipt(_Message):
    """A receiving gateway's signed answer to one delivery."""

    receipt_id: UUID
    issued_at: UtcDatetime
    sender: ConnectionCode
    """The gateway that received the delivery and issues this receipt."""
    receiver: ConnectionCode
    """The gateway that made the delivery."""
    outcome: ReceiptOutcome
    message_id: UUID
    """The ``Message-ID`` of the delivery answered."""
    certificate_number: Token | None
    """None when the delivered document could not be read far enough to find its number."""
    document_type: FormatId
    received_sha256: Sha256Hex
    """SHA-256 of the exact bytes received, lowercase hex."""
    findings: tuple[ReceiptFinding, ...] = ()
    """At most ``MAX_RECEIPT_FINDINGS``. Given more, the receipt keeps the most severe ones (errors, then warnings,
    then infos, each in the order given) in their original order and counts the rest in ``findings_omitted``."""
    findings_omitted: Count = 0

    @model_validator(mode="before")
    @classmethod
    def _bound_findings(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        findings = data.get("findings")
        if not isinstance(findings, list | tuple) or len(findings) <= MAX_RECEIPT_FINDINGS:
            return data
        # A rejection must still show why: errors are kept before anything less severe.
        ranked = sorted(range(len(findings)), key=lambda i: (_severity_rank(findings[i]), i))
        kept = sorted(ranked[:MAX_RECEIPT_FINDINGS])
        omitted = data.get("findings_omitted", 0)
        extra = len(findings) - MAX_RECEIPT_FINDINGS
        return {
            **data,
            "findings": tuple(findings[i] for i in kept),
            "findings_omitted": omitted + extra if isinstance(omitted, int) else omitted,
        }


class StatusNotice(_Message):
    """A signed notice that a certificate exchanged earlier was withdrawn or replaced."""

    notice_id: UUID
    issued_at: UtcDatetime
    sender: ConnectionCode
    receiver: ConnectionCode
    certificate_country: CountryCode
    """Issuing country of the certificate: with the number, what names it across partners."""
    certificate_number: Token
    certificate_version: int = Field(ge=1, le=_MAX_NUMBER)
    status: NoticeStatus
    reason: Reason
    replaced_by: Token | None = None
    """Number of the certificate that replaces this one: required when ``status`` is ``replaced``, else None."""
    certificate_sha256: Sha256Hex
    """SHA-256 of the certificate document the notice is about, lowercase hex."""

    @model_validator(mode="after")
    def _replacement_named(self) -> StatusNotice:
        if self.status is NoticeStatus.REPLACED and self.replaced_by is None:
            raise ValueError("a replaced certificate's notice names the replacement (replaced_by)")
        if self.status is not NoticeStatus.REPLACED and self.replaced_by is not None:
            raise ValueError(f"replaced_by is only for replaced certificates, not {self.status.value} ones")
        return self


# ------------------------------------------------------------------------------------------------- rendering
def _sub(parent: etree._Element, qname: str, text: str | None = None, **attributes: str) -> etree._Element:
    element = etree.SubElement(parent, tag(qname), attributes)
    if text is not None:
        element.text = text
    return element


def _issue_time(moment: datetime) -> str:
    micro = f".{moment.microsecond:06d}" if moment.microsecond else ""
    return f"{moment:%H:%M:%S}{micro}Z"


def _start(namespace: str, local: str, identifier: UUID, issued_at: datetime) -> etree._Element:
    # lxml-stubs type nsmap keys as str; the None key declares the default namespace.
    nsmap: dict[Any, str] = {None: namespace, "cac": CAC_NS, "cbc": CBC_NS}
    root = etree.Element(f"{{{namespace}}}{local}", nsmap=nsmap)
    _sub(root, "cbc:UBLVersionID", "2.4")
    _sub(root, "cbc:CustomizationID", PROTOCOL_ID)
    _sub(root, "cbc:ID", str(identifier))
    _sub(root, "cbc:IssueDate", issued_at.date().isoformat())
    _sub(root, "cbc:IssueTime", _issue_time(issued_at))
    return root


def _parties(root: etree._Element, sender: str, receiver: str) -> None:
    for qname, code in (("cac:SenderParty", sender), ("cac:ReceiverParty", receiver)):
        _sub(_sub(_sub(root, qname), "cac:PartyIdentification"), "cbc:ID", code, schemeID=GATEWAY_SCHEME)


def _digest(reference: etree._Element, sha256: str) -> None:
    external = _sub(_sub(reference, "cac:Attachment"), "cac:ExternalReference")
    _sub(external, "cbc:DocumentHash", sha256)
    _sub(external, "cbc:HashAlgorithmMethod", SHA256_METHOD)


def _bytes(root: etree._Element) -> bytes:
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)


def render_receipt(receipt: Receipt) -> bytes:
    """The receipt as an unsigned UBL 2.4 ApplicationResponse (UTF-8); sign it before sending."""
    root = _start(_AR_NS, "ApplicationResponse", receipt.receipt_id, receipt.issued_at)
    if receipt.findings_omitted:
        _sub(root, "cbc:Note", f"{NOTE_PREFIX}{OMITTED_NOTE}={receipt.findings_omitted}")
    _parties(root, receipt.sender, receipt.receiver)
    document_response = _sub(root, "cac:DocumentResponse")
    response = _sub(document_response, "cac:Response")
    _sub(response, "cbc:ResponseCode", _RESPONSE_CODES[receipt.outcome], listID=RESPONSE_LIST)
    for finding in receipt.findings:
        status = _sub(response, "cac:Status")
        _sub(status, "cbc:ConditionCode", finding.severity, listID=SEVERITY_LIST)
        _sub(status, "cbc:StatusReasonCode", finding.code)
        _sub(status, "cbc:StatusReason", finding.message)
        if finding.line is not None:
            condition = _sub(status, "cac:Condition")
            _sub(condition, "cbc:AttributeID", LINE_ATTRIBUTE)
            _sub(condition, "cbc:Measure", str(finding.line), unitCode=LINE_UNIT)
    reference = _sub(document_response, "cac:DocumentReference")
    if receipt.certificate_number is not None:
        _sub(reference, "cbc:ID", receipt.certificate_number)
    else:
        _sub(reference, "cbc:ID", str(receipt.message_id), schemeID=MESSAGE_ID_SCHEME)
    _sub(reference, "cbc:UUID", str(receipt.message_id))
    _sub(reference, "cbc:DocumentType", receipt.document_type)
    _digest(reference, receipt.received_sha256)
    return _bytes(root)


def render_status_notice(notice: StatusNotice) -> bytes:
    """The notice as an unsigned UBL 2.4 DocumentStatus (UTF-8); sign it before sending."""
    root = _start(_DS_NS, "DocumentStatus", notice.notice_id, notice.issued_at)
    _parties(root, notice.sender, notice.receiver)
    document_response = _sub(root, "cac:DocumentResponse")
    response = _sub(document_response, "cac:Response")
    _sub(response, "cbc:ResponseCode", notice.status.value, listID=STATUS_LIST)
    _sub(response, "cbc:Description", notice.reason)
    reference = _sub(document_response, "cac:DocumentReference")
    _sub(reference, "cbc:ID", notice.certificate_number)
    _sub(reference, "cbc:VersionID", str(notice.certificate_version))
    _digest(reference, notice.certificate_sha256)
    address = _sub(_sub(reference, "cac:IssuerParty"), "cac:PostalAddress")
    _sub(_sub(address, "cac:Country"), "cbc:IdentificationCode", notice.certificate_country, listID=COUNTRY_LIST)
    if notice.replaced_by is not None:
        _sub(_sub(document_response, "cac:DocumentReference"), "cbc:ID", notice.replaced_by)
    return _bytes(root)


# ------------------------------------------------------------------------------------------------- parsing
# [0-9], never \d: \d also matches Thai and other digits, which int() would then read.
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_DATE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})")
_TIME = re.compile(r"([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]+))?(Z|[+-][0-9]{2}:[0-9]{2})?")
_NUMBER = re.compile(r"[1-9][0-9]{0,8}")
_COUNT = re.compile(r"0|[1-9][0-9]{0,8}")
_SHA256 = re.compile(r"[0-9a-f]{64}")
_NOTE = re.compile(re.escape(NOTE_PREFIX) + r"([a-z_]+)=(.*)", re.S)


def _explain(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'value'}: {e['msg']}" for e in exc.errors())


class _Reader:
    """Child-step navigation that refuses what is missing or repeated, with messages that give the path."""

    def __init__(self, data: bytes, namespace: str, local: str, what: str) -> None:
        self.what = what
        try:
            self.root = parse_xml(data).getroot()
        except DocumentError as exc:
            raise AdapterError(f"{what}: not acceptable XML: {exc.message}") from exc
        if self.root.tag != f"{{{namespace}}}{local}":
            qname = etree.QName(self.root)
            raise AdapterError(
                f"{what}: expected a UBL {local} ({{{namespace}}}); the root element is "
                f"{qname.localname!r} in namespace {qname.namespace!r}"
            )
        # Proxies are kept alive by the dict, so lxml hands out the same object again and identity lookups hold.
        self._paths: dict[etree._Element, str] = {self.root: f"/{local}"}

    def fail(self, message: str) -> AdapterError:
        return AdapterError(f"{self.what}: {message}")

    def path(self, element: etree._Element) -> str:
        return self._paths.get(element, "?")

    def all(self, parent: etree._Element, qname: str) -> list[etree._Element]:
        found = parent.findall(tag(qname))
        base = self.path(parent)
        for index, element in enumerate(found):
            self._paths[element] = f"{base}/{qname}" + (f"[{index + 1}]" if len(found) > 1 else "")
        return found

    def maybe(self, parent: etree._Element, path: str) -> etree._Element | None:
        node = parent
        for step in path.split("/"):
            found = self.all(node, step)
            if not found:
                return None
            if len(found) > 1:
                raise self.fail(f"{self.path(node)}/{step} appears {len(found)} times; one is expected")
            node = found[0]
        return node

    def one(self, parent: etree._Element, path: str) -> etree._Element:
        node = self.maybe(parent, path)
        if node is None:
            raise self.fail(f"{self.path(parent)}/{path} is missing")
        return node

    def text(self, element: etree._Element, *, token: bool = True) -> str:
        if next(element.iterchildren(etree.Element), None) is not None:
            raise self.fail(f"{self.path(element)} holds elements; a value is expected")
        # itertext joins the text around comments, as the exclusive C14N a signature covers does; .text alone would
        # stop at the first comment and read less than what was signed.
        value = "".join(str(part) for part in element.itertext())
        if token:
            value = value.strip()
        if not value.strip():
            raise self.fail(f"{self.path(element)} is empty")
        return value

    def value(self, parent: etree._Element, path: str, *, token: bool = True) -> str:
        return self.text(self.one(parent, path), token=token)

    def matching(self, parent: etree._Element, path: str, pattern: re.Pattern[str], what: str) -> str:
        element = self.one(parent, path)
        value = self.text(element)
        if not pattern.fullmatch(value):
            shown = value if len(value) <= 80 else value[:77] + "..."
            raise self.fail(f"{self.path(element)} is {shown!r}, not {what}")
        return value

    def uuid(self, parent: etree._Element, path: str) -> UUID:
        return UUID(self.matching(parent, path, _UUID, "a UUID (8-4-4-4-12 hexadecimal digits)"))

    def attribute(self, element: etree._Element, name: str, allowed: str | None) -> None:
        """Refuse an attribute whose value would change what the element means; absent is fine."""
        value = element.get(name)
        if value is not None and value != allowed:
            raise self.fail(f"{self.path(element)}/@{name} is {value!r}; expected {allowed!r} or nothing")

    # ----- the parts both documents share -----------------------------------------------------------------
    def header(self) -> dict[str, Any]:
        root = self.root
        customization = self.value(root, "cbc:CustomizationID")
        if customization != PROTOCOL_ID:
            raise self.fail(f"cbc:CustomizationID is {customization!r}; wire protocol v1 messages say {PROTOCOL_ID!r}")
        return {
            "id": self.uuid(root, "cbc:ID"),
            "issued_at": self.issued_at(),
            "sender": self.party("cac:SenderParty"),
            "receiver": self.party("cac:ReceiverParty"),
        }

    def issued_at(self) -> datetime:
        day = _DATE.fullmatch(self.value(self.root, "cbc:IssueDate"))
        if day is None:
            raise self.fail("cbc:IssueDate is not a date (YYYY-MM-DD)")
        clock = _TIME.fullmatch(self.value(self.root, "cbc:IssueTime"))
        if clock is None:
            raise self.fail("cbc:IssueTime is not a time (hh:mm:ss, optional fraction, then Z or ±hh:mm)")
        hours, minutes, seconds, fraction, zone = clock.groups()
        if zone is None:
            raise self.fail("cbc:IssueTime has no time zone, so the moment it names is unknown")
        # Finer than microseconds (Java writes nanoseconds) is cut: datetime holds no more.
        micro = int((fraction or "0")[:6].ljust(6, "0"))
        try:
            offset = (
                timedelta(0)
                if zone == "Z"
                else int(zone[0] + "1") * timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6]))
            )
            moment = datetime.combine(
                date(int(day[1]), int(day[2]), int(day[3])),
                time(int(hours), int(minutes), int(seconds), micro),
                tzinfo=timezone(offset),
            )
            return moment.astimezone(UTC)
        # OverflowError: a time zone pushes the first or the last day of year 1 or 9999 out of the calendar.
        except (ValueError, OverflowError) as exc:
            raise self.fail(f"cbc:IssueDate and cbc:IssueTime do not name a moment: {exc}") from None

    def party(self, qname: str) -> str:
        identifiers = [
            element
            for identification in self.all(self.one(self.root, qname), "cac:PartyIdentification")
            for element in self.all(identification, "cbc:ID")
            if element.get("schemeID") == GATEWAY_SCHEME
        ]
        if len(identifiers) != 1:
            raise self.fail(
                f"{qname} names {len(identifiers)} gateways; exactly one "
                f"cac:PartyIdentification/cbc:ID with schemeID {GATEWAY_SCHEME!r} is expected"
            )
        return self.text(identifiers[0])

    def notes(self, allowed: frozenset[str]) -> dict[str, str]:
        """The ``tradegw:`` notes; other notes are remarks for people and carry nothing the models hold."""
        found: dict[str, str] = {}
        for note in self.all(self.root, "cbc:Note"):
            match = _NOTE.fullmatch(self.text(note, token=False))
            if match is None:
                continue
            key, value = match.groups()
            if key not in allowed:
                raise self.fail(f"{self.path(note)} is a {NOTE_PREFIX} note this message does not have: {key!r}")
            if key in found:
                raise self.fail(f"the {NOTE_PREFIX}{key} note appears twice")
            found[key] = value
        return found

    def digest(self, reference: etree._Element) -> str:
        external = self.one(reference, "cac:Attachment/cac:ExternalReference")
        method = self.value(external, "cbc:HashAlgorithmMethod")
        if method != SHA256_METHOD:
            raise self.fail(f"{self.path(external)}/cbc:HashAlgorithmMethod is {method!r}; expected {SHA256_METHOD!r}")
        return self.matching(external, "cbc:DocumentHash", _SHA256, "a SHA-256 digest in lowercase hex (64 digits)")

    def response(self) -> tuple[etree._Element, etree._Element, etree._Element]:
        """cac:DocumentResponse, its cac:Response and the cbc:ResponseCode in it."""
        document_response = self.one(self.root, "cac:DocumentResponse")
        response = self.one(document_response, "cac:Response")
        return document_response, response, self.one(response, "cbc:ResponseCode")


_M = TypeVar("_M", bound=BaseModel)


def _build(reader: _Reader, model: type[_M], fields: dict[str, Any]) -> _M:
    try:
        return model.model_validate(fields)
    except ValidationError as exc:
        raise reader.fail(_explain(exc)) from None


def parse_receipt(data: bytes) -> Receipt:
    """A wire protocol v1 receipt back into its model; :class:`AdapterError` for anything else."""
    reader = _Reader(data, _AR_NS, "ApplicationResponse", "receipt")
    header = reader.header()
    notes = reader.notes(frozenset({OMITTED_NOTE}))
    omitted = notes.get(OMITTED_NOTE, "0")
    if not _COUNT.fullmatch(omitted):
        raise reader.fail(f"the {NOTE_PREFIX}{OMITTED_NOTE} note holds {omitted[:40]!r}, not a count")

    document_response, response, code_element = reader.response()
    reader.attribute(code_element, "listID", RESPONSE_LIST)
    code = reader.text(code_element)
    if code not in _OUTCOMES:
        raise reader.fail(
            f"cbc:ResponseCode {code[:40]!r} is not a receipt outcome; UNCL 4343 AP, CA or RE are expected"
        )
    statuses = reader.all(response, "cac:Status")
    if len(statuses) > MAX_RECEIPT_FINDINGS:
        raise reader.fail(f"{len(statuses)} findings, over the limit of {MAX_RECEIPT_FINDINGS} a receipt may list")
    findings = [_finding(reader, status) for status in statuses]

    references = reader.all(document_response, "cac:DocumentReference")
    if len(references) != 1:
        raise reader.fail(f"{len(references)} cac:DocumentReference elements; a receipt names exactly one delivery")
    reference = references[0]
    message_id = reader.uuid(reference, "cbc:UUID")
    id_element = reader.one(reference, "cbc:ID")
    number: str | None = reader.text(id_element)
    if id_element.get("schemeID") == MESSAGE_ID_SCHEME:
        # No certificate number was found: UBL still requires an ID, and the renderer wrote the Message-ID there.
        if number != str(message_id):
            raise reader.fail(f"{reader.path(id_element)} with schemeID {MESSAGE_ID_SCHEME!r} is not the cbc:UUID")
        number = None
    return _build(
        reader,
        Receipt,
        {
            "receipt_id": header["id"],
            "issued_at": header["issued_at"],
            "sender": header["sender"],
            "receiver": header["receiver"],
            "outcome": _OUTCOMES[code],
            "message_id": message_id,
            "certificate_number": number,
            "document_type": reader.value(reference, "cbc:DocumentType"),
            "received_sha256": reader.digest(reference),
            "findings": findings,
            "findings_omitted": int(omitted),
        },
    )


def _finding(reader: _Reader, status: etree._Element) -> ReceiptFinding:
    severity_element = reader.one(status, "cbc:ConditionCode")
    reader.attribute(severity_element, "listID", SEVERITY_LIST)
    severity = reader.text(severity_element)
    if severity not in _SEVERITY_RANK:
        raise reader.fail(f"{reader.path(severity_element)} is {severity[:40]!r}; error, warning or info expected")
    line: int | None = None
    condition = reader.maybe(status, "cac:Condition")
    if condition is not None:
        attribute = reader.value(condition, "cbc:AttributeID")
        if attribute != LINE_ATTRIBUTE:
            raise reader.fail(f"{reader.path(condition)} is about {attribute[:40]!r}; only {LINE_ATTRIBUTE!r} is known")
        line = int(reader.matching(condition, "cbc:Measure", _NUMBER, "a line number (1 to 999999999)"))
    return _build(
        reader,
        ReceiptFinding,
        {
            "severity": severity,
            "code": reader.value(status, "cbc:StatusReasonCode"),
            # Free text is taken as written: its white space is part of the message.
            "message": reader.value(status, "cbc:StatusReason", token=False),
            "line": line,
        },
    )


def parse_status_notice(data: bytes) -> StatusNotice:
    """A wire protocol v1 status notice back into its model; :class:`AdapterError` for anything else."""
    reader = _Reader(data, _DS_NS, "DocumentStatus", "status notice")
    header = reader.header()
    reader.notes(frozenset())
    document_response, response, code_element = reader.response()
    reader.attribute(code_element, "listID", STATUS_LIST)
    code = reader.text(code_element)
    if code not in {status.value for status in NoticeStatus}:
        raise reader.fail(f"cbc:ResponseCode {code[:40]!r} is not a certificate status; withdrawn or replaced expected")
    status = NoticeStatus(code)
    references = reader.all(document_response, "cac:DocumentReference")
    expected = 2 if status is NoticeStatus.REPLACED else 1
    if len(references) != expected:
        raise reader.fail(
            f"{len(references)} cac:DocumentReference elements; a {status.value} notice has {expected}: the "
            "certificate" + (", then its replacement" if expected == 2 else "")
        )
    certificate = references[0]
    country_element = reader.one(certificate, "cac:IssuerParty/cac:PostalAddress/cac:Country/cbc:IdentificationCode")
    reader.attribute(country_element, "listID", COUNTRY_LIST)
    return _build(
        reader,
        StatusNotice,
        {
            "notice_id": header["id"],
            "issued_at": header["issued_at"],
            "sender": header["sender"],
            "receiver": header["receiver"],
            "certificate_country": reader.text(country_element),
            "certificate_number": reader.value(certificate, "cbc:ID"),
            "certificate_version": int(reader.matching(certificate, "cbc:VersionID", _NUMBER, "a version number")),
            "status": status,
            "reason": reader.value(response, "cbc:Description", token=False),
            "replaced_by": reader.value(references[1], "cbc:ID") if len(references) == 2 else None,
            "certificate_sha256": reader.digest(certificate),
        },
    )
