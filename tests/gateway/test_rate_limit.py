"""THREATS row 19 (floods): each API client, and each source address on the public routes, has a token bucket;
over it the answer is 429 with Retry-After, and nobody else is slowed down. Probes are never limited."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.auth.client_certificates import caller_address
from gateway.ops.ratelimit import RateLimiter
from schemas.engine import ValidationEngine
from tests.gateway.conftest import Gateway, running_gateway


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_bucket_allows_its_burst_then_says_how_long_to_wait() -> None:
    clock = Clock()
    limiter = RateLimiter(per_second=2, burst=3, clock=clock)
    assert [limiter.take("a") for _ in range(3)] == [None, None, None]
    assert limiter.take("a") == 1  # half a second until the next token: whole seconds, rounded up
    assert limiter.take("b") is None, "another caller has its own bucket"
    clock.now += 0.5
    assert limiter.take("a") is None
    assert limiter.take("a") == 1
    clock.now += 60
    assert [limiter.take("a") for _ in range(4)] == [None, None, None, 1], "refilled to the burst, not beyond"


def test_slow_refill_asks_for_a_long_wait() -> None:
    clock = Clock()
    limiter = RateLimiter(per_second=0.1, burst=1, clock=clock)
    assert limiter.take("a") is None
    assert limiter.take("a") == 10


def test_the_number_of_buckets_is_bounded_forgetting_the_least_recent() -> None:
    clock = Clock()
    limiter = RateLimiter(per_second=1, burst=1, max_keys=2, clock=clock)
    for key in ("a", "b", "c"):  # "a" is forgotten when "c" arrives: a flood of addresses cannot grow memory
        assert limiter.take(key) is None
    assert limiter.take("a") is None, "a forgotten bucket starts full again"
    assert limiter.take("c") == 1


def test_a_rate_limit_needs_a_rate_and_a_burst() -> None:
    with pytest.raises(ValueError, match="positive rate"):
        RateLimiter(per_second=0, burst=1)


@pytest.fixture
def limited(database_url: str, tmp_path: Path, engine: ValidationEngine) -> Iterator[Gateway]:
    # One request every 100 s after a burst of 3: however slow the machine, no token comes back during the test.
    with running_gateway(database_url, tmp_path, engine, rate_limit_per_second=0.01, rate_limit_burst=3) as gateway:
        yield gateway


def test_a_client_over_its_rate_gets_429_with_retry_after_and_others_do_not(limited: Gateway) -> None:
    platform = limited.headers("platform")
    assert [limited.client.get("/v1/me", headers=platform).status_code for _ in range(3)] == [200, 200, 200]
    refused = limited.client.get("/v1/me", headers=platform)
    assert refused.status_code == 429
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["type"] == "urn:trade-gateway:problem:too-many-requests"
    assert 90 < refused.json()["retry_after"] <= 100
    assert refused.headers["retry-after"] == str(refused.json()["retry_after"])
    assert limited.client.get("/v1/me", headers=limited.headers("auditor")).status_code == 200
    metrics = limited.client.get("/metrics", headers=limited.headers("admin")).text
    assert 'gateway_rate_limited_total{kind="client"} 1.0' in metrics


def test_public_routes_are_limited_per_source_address_and_probes_never(limited: Gateway) -> None:
    assert all(limited.client.get("/healthz").status_code == 200 for _ in range(10))
    statuses = [limited.client.get("/v1/audit/consistency?first=0&second=0").status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    # An API client is limited by its key, not by the address it shares with the anonymous caller above.
    assert limited.client.get("/v1/me", headers=limited.headers("platform")).status_code == 200


def test_behind_a_trusted_proxy_the_caller_is_the_address_the_proxy_appended() -> None:
    proxy = [ipaddress.ip_network("10.0.0.5/32")]
    forwarded = {"client": ("10.0.0.5", 443), "headers": [(b"x-forwarded-for", b"198.51.100.1, 203.0.113.7")]}
    assert caller_address(forwarded, proxy) == "203.0.113.7", "the hop the trusted proxy added, not the client's claim"
    assert caller_address({**forwarded, "client": ("192.0.2.9", 443)}, proxy) == "192.0.2.9", "others: the peer"
    assert caller_address({"client": ("10.0.0.5", 443), "headers": []}, proxy) == "10.0.0.5"
