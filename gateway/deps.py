"""FastAPI dependencies: the process-wide objects built in the lifespan, and per-route access declarations."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

import structlog
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.engine import Engine
from sqlmodel import Session

from gateway.auth.client_certificates import caller_address, check_binding, presented_certificate
from gateway.auth.models import Role
from gateway.auth.service import Identity, authenticate
from gateway.db import unit_of_work, utcnow
from gateway.errors import Forbidden, TooManyRequests, Unauthorized
from gateway.ops.metrics import GatewayMetrics
from gateway.ops.ratelimit import RateLimiter
from gateway.partners.models import Partner
from gateway.settings import Settings
from schemas.engine import ValidationEngine
from signing._result import CheckStatus

__all__ = [
    "PROBE",
    "PUBLIC",
    "Access",
    "DbEngineDep",
    "MetricsDep",
    "ReadSessionDep",
    "SettingsDep",
    "ValidationEngineDep",
    "WriteSessionDep",
    "allow",
]


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _db_engine(request: Request) -> Engine:
    engine: Engine = request.app.state.db
    return engine


def _validation_engine(request: Request) -> ValidationEngine:
    engine: ValidationEngine = request.app.state.validation
    return engine


def _metrics(request: Request) -> GatewayMetrics:
    metrics: GatewayMetrics = request.app.state.metrics
    return metrics


SettingsDep = Annotated[Settings, Depends(_settings)]
DbEngineDep = Annotated[Engine, Depends(_db_engine)]
ValidationEngineDep = Annotated[ValidationEngine, Depends(_validation_engine)]
MetricsDep = Annotated[GatewayMetrics, Depends(_metrics)]


def _read_session(engine: DbEngineDep) -> Iterator[Session]:
    with unit_of_work(engine) as session:
        yield session


def _write_session(engine: DbEngineDep) -> Iterator[Session]:
    with unit_of_work(engine, write=True) as session:
        yield session


ReadSessionDep = Annotated[Session, Depends(_read_session)]
WriteSessionDep = Annotated[Session, Depends(_write_session)]

log = structlog.get_logger("gateway.auth")
_bearer = HTTPBearer(auto_error=False, description="An API key issued by `tradegw clients add`")


class Access:
    """Who may call a route. Every route declares one; the authorization matrix test reads ``roles``."""

    def __init__(self, *roles: Role, public: bool = False, limited: bool = True) -> None:
        if public == bool(roles):
            raise ValueError("a route is either public or names the roles allowed")
        self.roles = frozenset(roles)
        self.public = public
        # Rate limited per API client, or per source address on public routes; probes (health, readiness) are not.
        self.limited = limited

    def __repr__(self) -> str:
        return "Access(public)" if self.public else f"Access({', '.join(sorted(self.roles))})"

    def __call__(
        self,
        request: Request,
        engine: DbEngineDep,
        metrics: MetricsDep,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> Identity | None:
        if self.public:
            address = caller_address(request.scope, request.app.state.settings.trusted_proxies)
            if self.limited and address is not None:
                _within_rate(request, metrics, f"address:{address}", "address")
            return None
        if credentials is None or credentials.scheme.lower() != "bearer":
            metrics.auth_failures.labels(reason="missing").inc()
            raise Unauthorized("send an API key as 'Authorization: Bearer <key>'")
        with unit_of_work(engine) as session:
            identity = authenticate(session, credentials.credentials)
            partner = (
                session.get(Partner, identity.partner_code)
                if identity is not None and identity.role is Role.partner and identity.partner_code
                else None
            )
        if identity is None:
            metrics.auth_failures.labels(reason="invalid").inc()
            raise Unauthorized("the API key is not valid (unknown, malformed or revoked)")
        if partner is not None:
            # A partner that binds client certificates is authenticated by its key *and* its certificate (ADR 0015).
            binding = check_binding(partner, presented_certificate(request), utcnow())
            if binding.status is not CheckStatus.VALID:
                metrics.auth_failures.labels(reason=binding.reason).inc()
                # A valid key with the wrong certificate is a stolen key or a misconfigured client: worth a line.
                log.warning(
                    "client certificate refused",
                    client=str(identity.client_id),
                    partner=partner.code,
                    reason=binding.reason,
                    detail=binding.detail,
                )
                raise Unauthorized(f"{binding.reason}: {binding.detail}")
        request.state.client = identity
        if self.limited:
            _within_rate(request, metrics, f"client:{identity.client_id}", "client")
        if identity.role not in self.roles:
            metrics.auth_failures.labels(reason="forbidden").inc()
            raise Forbidden(f"role {identity.role.value} may not use this operation")
        return identity


def _within_rate(request: Request, metrics: GatewayMetrics, key: str, kind: str) -> None:
    limiter: RateLimiter | None = request.app.state.rate_limiter
    if limiter is None:
        return
    wait = limiter.take(key)
    if wait is not None:
        metrics.rate_limited.labels(kind=kind).inc()
        raise TooManyRequests(f"over the rate limit of this {kind}; retry after {wait} s", wait)


PUBLIC = Access(public=True)
# Liveness and readiness probes: public and never rate limited (an orchestrator polls them).
PROBE = Access(public=True, limited=False)


def allow(*roles: Role) -> Access:
    return Access(*roles)
