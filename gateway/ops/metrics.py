"""Prometheus metrics of one gateway process (a registry per app, so tests do not share counters)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

__all__ = ["GatewayMetrics"]


class GatewayMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "gateway_http_requests",
            "HTTP requests by route template, method and status",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.request_seconds = Histogram(
            "gateway_http_request_duration_seconds",
            "HTTP request duration by route template",
            ["route"],
            registry=self.registry,
        )
        self.auth_failures = Counter(
            "gateway_auth_failures",
            "Requests refused by authentication or authorization (unauthenticated junk is counted, not logged)",
            ["reason"],
            registry=self.registry,
        )
        self.validations = Counter(
            "gateway_validations",
            "Documents validated, by format and outcome (valid, invalid, or the problem code)",
            ["format", "outcome"],
            registry=self.registry,
        )
        self.submissions = Counter(
            "gateway_submissions",
            "Documents submitted for a partner, by outcome (queued, or the rejection reason)",
            ["outcome"],
            registry=self.registry,
        )
        self.inbox = Counter(
            "gateway_inbox_deliveries",
            "Deliveries received from partner gateways, by outcome (received, replayed, or the refusal reason)",
            ["outcome"],
            registry=self.registry,
        )
        self.body_too_large = Counter(
            "gateway_request_body_too_large", "Requests refused with 413", registry=self.registry
        )
