"""Liveness, readiness and metrics."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from gateway.auth.models import Role
from gateway.deps import PROBE, DbEngineDep, MetricsDep, allow
from gateway.errors import problem_response
from gateway.migrate import current_revision

router = APIRouter(tags=["operations"])


@router.get("/healthz", operation_id="health", dependencies=[Depends(PROBE)])
def healthz() -> dict[str, str]:
    """The process is up (no dependency is checked)."""
    return {"status": "ok"}


@router.get(
    "/readyz",
    operation_id="readiness",
    dependencies=[Depends(PROBE)],
    responses={503: {"description": "database unreachable or schema not at the expected revision"}},
)
def readyz(request: Request, engine: DbEngineDep) -> JSONResponse:
    """Ready for traffic: the database answers and its schema is at the revision this release expects."""
    expected: str | None = request.app.state.schema_head
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        current = current_revision(engine)
    except SQLAlchemyError as exc:
        return problem_response(
            request,
            status=503,
            slug="not-ready",
            title="Not ready",
            detail=f"database unreachable: {type(exc).__name__}",
        )
    if current != expected:
        return problem_response(
            request,
            status=503,
            slug="not-ready",
            title="Not ready",
            detail=f"database schema is at {current or 'no revision'}, expected {expected}: run `tradegw db upgrade`",
        )
    return JSONResponse({"status": "ready", "database": engine.dialect.name, "schema_revision": current})


@router.get(
    "/metrics",
    operation_id="metrics",
    response_class=PlainTextResponse,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {}}}},
)
def metrics(
    metrics: MetricsDep, _identity: Annotated[object, Depends(allow(Role.admin, Role.auditor))]
) -> PlainTextResponse:
    """Prometheus metrics of this process (admin and auditor keys; scrapers send a bearer key)."""
    return PlainTextResponse(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)
