"""The application factory: settings in, a FastAPI app out; all expensive objects are built in the lifespan."""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import anyio
import structlog
from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from gateway import __version__
from gateway.audit.checkpoints import CheckpointSigner, PublishedCheckpoint
from gateway.audit.router import router as audit_router
from gateway.audit.witness import alert_counts
from gateway.auth.router import router as clients_router
from gateway.background import Background
from gateway.certificates.router import router as certificates_router
from gateway.db import make_engine, unit_of_work
from gateway.directory.keyring import KEYRING_FILE, KeyRing
from gateway.directory.router import router as directory_router
from gateway.documents.intake import note_refusal
from gateway.documents.router import router as documents_router
from gateway.errors import install_problem_handlers
from gateway.exchanges.router import router as exchanges_router
from gateway.migrate import head_revision
from gateway.ops.logging import configure_logging
from gateway.ops.metrics import GatewayMetrics
from gateway.ops.middleware import BodySizeLimit, RequestContext
from gateway.ops.ratelimit import RateLimiter
from gateway.ops.router import router as ops_router
from gateway.partners.router import router as partners_router
from gateway.settings import Settings
from schemas.catalog import load_catalog
from schemas.engine import ValidationEngine

__all__ = ["ROUTERS", "create_app"]

# Every router of the API, in the order they are mounted (the authorization matrix test walks them).
ROUTERS = (
    ops_router,
    documents_router,
    clients_router,
    partners_router,
    directory_router,
    exchanges_router,
    certificates_router,
    audit_router,
)

log = structlog.get_logger("gateway")


class Problem(BaseModel):
    """RFC 9457 problem details, as every error of this API is reported."""

    type: str = Field(description="urn:trade-gateway:problem:<code>")
    title: str
    status: int
    detail: str
    instance: str | None = Field(default=None, description="urn:trade-gateway:request:<request id>")


RATE_LIMITED: dict[str, Any] = {
    "description": "over the caller's rate limit; Retry-After says when to try again",
    "headers": {"Retry-After": {"description": "seconds", "schema": {"type": "integer"}}},
    "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}},
}


def create_app(settings: Settings | None = None, *, validation: ValidationEngine | None = None) -> FastAPI:
    """Build the app. ``validation`` lets several apps in one process (tests) share compiled schemas."""
    settings = settings or Settings()
    metrics = GatewayMetrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        configure_logging(settings.log_level)
        app.state.db = make_engine(
            settings.resolved_database_url,
            pool_size=settings.db_pool_size,
            max_overflow=settings.db_max_overflow,
        )
        app.state.schema_head = head_revision(settings.resolved_database_url)
        engine = validation or ValidationEngine(load_catalog(*settings.format_catalogs), settings.xml_limits)
        # Compile the fixed schemas and Schematrons before the first request, not during it.
        await run_in_threadpool(engine.warm_up)
        app.state.validation = engine
        app.state.document_limiter = anyio.CapacityLimiter(settings.document_concurrency)
        # Keys are parsed once here (a PEM parse costs tens of milliseconds; a signature a few).
        keys_dir = settings.resolved_keys_dir
        if (keys_dir / KEYRING_FILE).exists():
            app.state.keyring = KeyRing.load(keys_dir, timedelta(days=settings.key_publication_days))
        else:
            app.state.keyring = None
            log.warning("no keyring: signing and the capability document are unavailable", keys_dir=str(keys_dir))
        app.state.audit_signer = CheckpointSigner.load(keys_dir)
        app.state.published_checkpoint = PublishedCheckpoint(app.state.db, settings.audit_checkpoint_seconds)
        background = None
        if settings.run_worker:
            background = Background(settings, app.state.db, app.state.keyring)
            background.start()
        app.state.worker = background.delivery if background is not None else None
        log.info("gateway started", env=settings.env, database=app.state.db.dialect.name, version=__version__)
        try:
            yield
        finally:
            if background is not None:
                await run_in_threadpool(background.stop)
            app.state.db.dispose()
            log.info("gateway stopped")

    app = FastAPI(
        title="trade-gateway",
        version=__version__,
        summary="Exchange of certificates of origin and other trade documents between customs administrations",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.metrics = metrics
    app.state.rate_limiter = (
        RateLimiter(settings.rate_limit_per_second, settings.rate_limit_burst)
        if settings.rate_limit_per_second > 0
        else None
    )

    def witness_alerts() -> dict[str, int]:
        db = getattr(app.state, "db", None)
        if db is None:
            return {}
        with unit_of_work(db) as session:
            return alert_counts(session)

    metrics.watch_witness_alerts(witness_alerts)
    app.state.keyring = None
    app.state.worker = None
    app.state.audit_signer = None
    install_problem_handlers(app, note_refusal)
    for router in ROUTERS:
        app.include_router(router)
    # Outermost first: the request id exists before the body cap can refuse a request.
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes, metrics=metrics)
    app.add_middleware(RequestContext, metrics=metrics)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, summary=app.summary, routes=app.routes)
            schema.setdefault("components", {}).setdefault("schemas", {})["Problem"] = Problem.model_json_schema()
            # Every operation but the probes may answer 429 (gateway.ops.ratelimit): said once here, not per route.
            for path, operations in schema["paths"].items():
                if path in ("/healthz", "/readyz"):
                    continue
                for operation in operations.values():
                    operation["responses"].setdefault("429", copy.deepcopy(RATE_LIMITED))
            _document_request_validation_as_problems(schema)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


_FASTAPI_VALIDATION_ERROR = "#/components/schemas/HTTPValidationError"
_REQUEST_PROBLEM = {
    "description": "the request does not match the operation's parameters (type invalid-request; `errors` lists "
    "each one: location, message)",
    "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}},
}


def _document_request_validation_as_problems(schema: dict[str, Any]) -> None:
    """FastAPI documents its parameter validation 422 as JSON ``HTTPValidationError``; this app answers it with
    problem+json (``install_problem_handlers``), so the document says that instead."""
    for item in schema.get("paths", {}).values():
        for operation in item.values():
            response = operation.get("responses", {}).get("422", {})
            media = response.get("content", {}).get("application/json", {})
            if media.get("schema", {}).get("$ref") == _FASTAPI_VALIDATION_ERROR:
                operation["responses"]["422"] = copy.deepcopy(_REQUEST_PROBLEM)  # no YAML aliases in the dump
    components = schema["components"]["schemas"]
    for name in ("HTTPValidationError", "ValidationError"):
        components.pop(name, None)
