"""Prometheus metrics of one gateway process (a registry per app, so tests do not share counters)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

__all__ = ["GatewayMetrics"]


class _FromDatabase(Collector):
    """A gauge per label value read at scrape time: the database, not one process's memory, holds the truth when
    several processes share it (the witness may run in a ``tradegw worker`` that serves no metrics)."""

    def __init__(self, name: str, documentation: str, label: str, read: Callable[[], dict[str, int]]) -> None:
        self.name, self.documentation, self.label, self.read = name, documentation, label, read

    def collect(self) -> Iterator[Metric]:
        gauge = GaugeMetricFamily(self.name, self.documentation, labels=[self.label])
        for value, count in sorted(self.read().items()):
            gauge.add_metric([value], count)
        yield gauge


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
        self.client_cert_headers_ignored = Counter(
            "gateway_client_cert_headers_ignored",
            "Client certificate headers not believed: from a peer that is not a trusted proxy (spoofed), or malformed",
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
        self.rate_limited = Counter(
            "gateway_rate_limited",
            "Requests refused with 429, by the kind of bucket (API client, or source address on public routes)",
            ["kind"],
            registry=self.registry,
        )
        self.documents_refused = Counter(
            "gateway_documents_refused",
            "Documents refused before their content could be judged, by route template and problem",
            ["route", "reason"],
            registry=self.registry,
        )
        self.body_too_large = Counter(
            "gateway_request_body_too_large", "Requests refused with 413", registry=self.registry
        )

    def watch_witness_alerts(self, read: Callable[[], dict[str, int]]) -> None:
        """``gateway_audit_witness_alerts{partner}``: checkpoints of the partner's log found inconsistent."""
        self.registry.register(
            _FromDatabase(
                "gateway_audit_witness_alerts",
                "Partner audit checkpoints found inconsistent with the partner's earlier history (forks, rewrites)",
                "partner",
                read,
            )
        )
