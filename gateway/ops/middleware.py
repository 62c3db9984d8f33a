"""ASGI middleware: request ids, access logs and metrics, and the request-body cap (413 from the app itself)."""

from __future__ import annotations

import re
import time
import uuid
from typing import Any

import structlog
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.errors import PayloadTooLarge, problem_response
from gateway.ops.metrics import GatewayMetrics

__all__ = ["BodySizeLimit", "RequestContext"]

_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{8,64}$")
log = structlog.get_logger("gateway.access")


class BodySizeLimit:
    """Refuse request bodies over ``max_bytes``: at once by Content-Length, or while streaming without one."""

    def __init__(self, app: ASGIApp, max_bytes: int, metrics: GatewayMetrics) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            self.metrics.body_too_large.inc()
            response = problem_response(
                Request(scope),
                status=413,
                slug=PayloadTooLarge.slug,
                title=PayloadTooLarge.title,
                detail=f"request bodies are limited to {self.max_bytes} bytes",
                limit=self.max_bytes,
            )
            await response(scope, receive, send)
            return
        received = 0

        async def capped_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    self.metrics.body_too_large.inc()
                    raise PayloadTooLarge(f"request bodies are limited to {self.max_bytes} bytes", limit=self.max_bytes)
            return message

        await self.app(scope, capped_receive, send)


def _route_template(scope: Scope) -> str:
    # The router records the matched route in the scope; its template keeps metric labels bounded.
    route: Any = scope.get("route")
    return str(getattr(route, "path", "unmatched"))


class RequestContext:
    """Give every request an id (``X-Request-ID``), bind it to the logs, log and count the request."""

    def __init__(self, app: ASGIApp, metrics: GatewayMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = dict(scope.get("headers", [])).get(b"x-request-id", b"").decode("latin-1")
        request_id = incoming if _SAFE_REQUEST_ID.match(incoming) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        structlog.contextvars.bind_contextvars(request_id=request_id)
        status = 500
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", []).append((b"x-request-id", request_id.encode()))
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            route = _route_template(scope)
            self.metrics.requests.labels(method=scope["method"], route=route, status=str(status)).inc()
            self.metrics.request_seconds.labels(route=route).observe(elapsed)
            client = scope.get("state", {}).get("client")
            log.info(
                "request",
                method=scope["method"],
                path=scope["path"],
                route=route,
                status=status,
                duration_ms=round(elapsed * 1000, 2),
                client=str(client.client_id) if client is not None else None,
            )
            structlog.contextvars.unbind_contextvars("request_id")
