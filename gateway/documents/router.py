"""HTTP surface of validation and of the format catalog."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from starlette.concurrency import run_in_threadpool

from gateway.auth.models import Role
from gateway.deps import MetricsDep, ValidationEngineDep, allow
from gateway.documents.schemas import FormatInfo, FormatList
from schemas.errors import DocumentError
from schemas.report import ValidationReport

router = APIRouter(prefix="/v1", tags=["documents"])

_DOCUMENT_BODY = {
    "required": True,
    "content": {
        "application/xml": {"schema": {"type": "string", "format": "binary"}},
        "application/json": {"schema": {"type": "string", "format": "binary"}},
    },
}
_PROBLEM = {"content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}}


@router.post(
    "/validate",
    operation_id="validateDocument",
    response_model=ValidationReport,
    openapi_extra={"requestBody": _DOCUMENT_BODY},
    responses={
        400: {
            "description": "malformed, refused construct, over a structural cap, or unknown format",
            **_PROBLEM,
        },
        413: {"description": "body over the size limit", **_PROBLEM},
        422: {"description": "unsupported or ambiguous format", **_PROBLEM},
    },
)
async def validate_document(
    request: Request,
    engine: ValidationEngineDep,
    metrics: MetricsDep,
    _identity: Annotated[object, Depends(allow(Role.admin, Role.platform, Role.partner))],
    format: Annotated[
        str | None, Query(description="a format id from GET /v1/formats; overrides detection", max_length=64)
    ] = None,
) -> ValidationReport:
    """Validate an XML or JSON document: 200 with the report whether it is valid or not."""
    body = await request.body()
    try:
        # Validation is CPU-bound (XSD, Schematron): keep it off the event loop.
        report = await run_in_threadpool(engine.validate, body, format)
    except DocumentError as exc:
        metrics.validations.labels(format=format or "detect", outcome=exc.code).inc()
        raise
    metrics.validations.labels(format=report.format.id, outcome="valid" if report.valid else "invalid").inc()
    return report


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
            )
            for p in engine.catalog.packs
        ]
    )
