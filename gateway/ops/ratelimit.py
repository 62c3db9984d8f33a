"""Per-caller rate limits: a token bucket per API client (and per source address on the public routes).

Each bucket holds up to ``burst`` requests and refills at ``per_second``; a request finding it empty is refused with
429 and ``Retry-After`` (the seconds until a token is back). Buckets live in this process: with N API replicas a
client gets up to N times the rate, which is the intended order of magnitude of protection (flattening floods and
runaway scripts) — a shared limiter would put a network round trip before every request (ADR 0016). The number of
buckets is bounded; the least recently used is forgotten first, so a flood of source addresses cannot grow memory.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable

__all__ = ["RateLimiter"]


class RateLimiter:
    def __init__(
        self,
        per_second: float,
        burst: int,
        *,
        max_keys: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if per_second <= 0 or burst < 1:
            raise ValueError("a rate limit needs a positive rate and a burst of at least 1")
        self.per_second = per_second
        self.burst = burst
        self.max_keys = max_keys
        self.clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # key → (tokens, at)
        self._lock = threading.Lock()

    def take(self, key: str) -> int | None:
        """Spend one request of ``key``'s budget: None when allowed, else the whole seconds to wait."""
        now = self.clock()
        with self._lock:
            tokens, at = self._buckets.pop(key, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - at) * self.per_second)
            if tokens >= 1.0:
                self._buckets[key] = (tokens - 1.0, now)
                allowed = True
            else:
                self._buckets[key] = (tokens, now)
                allowed = False
            while len(self._buckets) > self.max_keys:
                self._buckets.popitem(last=False)
        if allowed:
            return None
        return max(1, math.ceil((1.0 - tokens) / self.per_second))
