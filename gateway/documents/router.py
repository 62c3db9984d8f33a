"""HTTP surface of validation and of the format catalog."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response

from gateway.auth.models import Role
from gateway.auth.service import Identity
from gateway.db import unit_of_work, utcnow
from gateway.deps import DbEngineDep, MetricsDep, ValidationEngineDep, allow
from gateway.documents.intake import DOCUMENT_BODY, DOCUMENT_REFUSALS, document_work, read_document
from gateway.documents.schemas import FormatInfo, FormatList, LossEntryOut, TranslationOut, VerificationOut
from gateway.documents.service import current_key, partner_trust, prepare_signing, sign_prepared, verify_document
from gateway.documents.translation import loss_entry_dict, translate_document, translation_targets
from gateway.errors import BadRequest, NotFound
from gateway.inputs import in_utc
from schemas.errors import DocumentError
from schemas.report import ValidationReport
from signing.trust import TrustAnchors

router = APIRouter(prefix="/v1", tags=["documents"])

_PROBLEM = {"content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}}


FormatQuery = Annotated[
    str | None, Query(description="a format id from GET /v1/formats; overrides detection", max_length=64)
]


@router.post(
    "/validate",
    operation_id="validateDocument",
    response_model=ValidationReport,
    openapi_extra={"requestBody": DOCUMENT_BODY},
    responses={
        400: {
            "description": "malformed, refused construct, over a structural cap, or unknown format",
            **_PROBLEM,
        },
        413: {"description": "body over the size limit", **_PROBLEM},
        422: {"description": "unsupported or ambiguous format", **_PROBLEM},
        **DOCUMENT_REFUSALS,
    },
)
async def validate_document(
    request: Request,
    engine: ValidationEngineDep,
    metrics: MetricsDep,
    _identity: Annotated[object, Depends(allow(Role.admin, Role.platform, Role.partner))],
    format: FormatQuery = None,
) -> ValidationReport:
    """Validate an XML or JSON document: 200 with the report whether it is valid or not."""
    body = await read_document(request)
    try:
        # Validation is CPU-bound (XSD, Schematron): keep it off the event loop.
        report = await document_work(request, engine.validate, body, format)
    except DocumentError as exc:
        # Labels only from the catalog: a caller-chosen string would grow the metric without bound.
        label = "detect" if format is None else format if engine.catalog.get(format) is not None else "unknown"
        metrics.validations.labels(format=label, outcome=exc.code).inc()
        raise
    metrics.validations.labels(format=report.format.id, outcome="valid" if report.valid else "invalid").inc()
    return report


@router.post(
    "/sign",
    operation_id="signDocument",
    openapi_extra={"requestBody": DOCUMENT_BODY},
    response_class=Response,
    responses={
        200: {
            "description": "the signed document: XML with its enveloped signature, or JSON "
            '{"document": ..., "signature": "<detached JWS>"}',
            "content": {"application/xml": {}, "application/json": {}},
        },
        400: {"description": "malformed, refused construct, over a cap, or unknown format", **_PROBLEM},
        413: {"description": "body over the size limit", **_PROBLEM},
        422: {"description": "invalid (the problem carries the report), unsupported, or not signable", **_PROBLEM},
        503: {"description": "no signing key in force", **_PROBLEM},
        **DOCUMENT_REFUSALS,
    },
)
async def sign(
    request: Request,
    engine: ValidationEngineDep,
    _identity: Annotated[object, Depends(allow(Role.admin, Role.platform))],
    format: FormatQuery = None,
) -> Response:
    """Validate, then sign with the gateway's current key; an invalid document is not signed (422 + report)."""
    body = await read_document(request)
    prepared = await document_work(request, prepare_signing, engine, body, format)
    key = current_key(request.app.state.keyring, utcnow())
    signed = await document_work(request, sign_prepared, prepared, key)
    return Response(
        signed.body,
        media_type=signed.media_type,
        headers={"X-Format": signed.format_id, "X-Signing-Key": signed.key_id},
    )


@router.post(
    "/verify",
    operation_id="verifyDocument",
    response_model=VerificationOut,
    openapi_extra={"requestBody": DOCUMENT_BODY},
    responses={
        400: {
            "description": "malformed, refused construct, unknown format, no partner named, or a time without a zone "
            "or out of range",
            **_PROBLEM,
        },
        404: {"description": "no such partner (or not the caller's own)", **_PROBLEM},
        422: {"description": "unsupported format, or one the gateway does not verify", **_PROBLEM},
        **DOCUMENT_REFUSALS,
    },
)
async def verify(
    request: Request,
    engine: ValidationEngineDep,
    db: DbEngineDep,
    identity: Annotated[Identity, Depends(allow(Role.admin, Role.platform, Role.partner, Role.auditor))],
    partner: Annotated[
        str | None,
        Query(pattern=r"^[A-Z0-9]{2,16}$", description="whose trust anchors apply (a partner key: its own, implied)"),
    ] = None,
    at: Annotated[datetime | None, Query(description="verification time (ISO 8601 with zone); default now")] = None,
    format: FormatQuery = None,
) -> VerificationOut:
    """Verify a signed document against a partner's trust anchors: integrity, trust and validity, each with a reason."""
    body = await read_document(request)
    if identity.role is Role.partner:
        if partner is not None and partner != identity.partner_code:
            raise NotFound(f"no partner {partner}")
        partner = identity.partner_code
    if partner is None:
        raise BadRequest("name the partner whose trust anchors apply: ?partner=CODE")
    try:
        moment = utcnow() if at is None else in_utc(at)
    except ValueError as exc:
        raise BadRequest(f"at must carry a time zone, e.g. 2026-11-30T12:00:00Z: {exc}") from None
    code = partner

    def trust() -> tuple[TrustAnchors, bool]:
        with unit_of_work(db) as session:
            return partner_trust(session, code, moment)

    outcome = await document_work(request, verify_document, engine, trust, body, format, moment)
    return VerificationOut.from_verification(outcome, partner)


@router.post(
    "/translate",
    operation_id="translateDocument",
    response_model=TranslationOut,
    openapi_extra={"requestBody": DOCUMENT_BODY},
    responses={
        400: {"description": "malformed, refused construct, over a cap, or unknown format", **_PROBLEM},
        413: {"description": "body over the size limit", **_PROBLEM},
        422: {"description": "invalid source (the problem carries the report), or no adapter", **_PROBLEM},
        **DOCUMENT_REFUSALS,
    },
)
async def translate(
    request: Request,
    engine: ValidationEngineDep,
    _identity: Annotated[object, Depends(allow(Role.admin, Role.platform))],
    to: Annotated[str, Query(description="the target format id", max_length=64)],
    from_: Annotated[str | None, Query(alias="from", description="the source format id (default: detected)")] = None,
) -> TranslationOut:
    """Translate a certificate into another format through the canonical model, with the loss report."""
    body = await read_document(request)
    outcome = await document_work(request, translate_document, engine, body, to, from_)
    return TranslationOut(
        source_format=outcome.source_format,
        target_format=outcome.target_format,
        media_type=outcome.media_type,
        document=outcome.data.decode("utf-8"),
        losses=[LossEntryOut(**loss_entry_dict(entry)) for entry in outcome.losses],
        report=outcome.report,
    )


@router.get("/formats", operation_id="listFormats", response_model=FormatList)
def list_formats(
    engine: ValidationEngineDep,
    _identity: Annotated[object, Depends(allow(Role.admin, Role.platform, Role.partner, Role.auditor))],
) -> FormatList:
    """The format packs this gateway validates, with the digest of each pack's files."""
    return FormatList(
        formats=[
            FormatInfo(
                id=p.id,
                title=p.title,
                version=p.version,
                syntax=p.syntax,
                detected=p.detect,
                precedence=p.precedence,
                profile_of=p.profile_of,
                document_types=list(p.document_types),
                digest=p.digest,
                translates_to=translation_targets(p.id),
            )
            for p in engine.catalog.packs
        ]
    )
