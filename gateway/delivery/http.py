"""HTTP to partner gateways: one client per TLS trust bundle, and answers read with a size cap and one deadline."""

from __future__ import annotations

import hashlib
import ssl
import threading
import time
from dataclasses import dataclass
from typing import Any

import httpx

__all__ = ["Answer", "AnswerRefused", "PartnerClients", "read_capped"]


class AnswerRefused(Exception):
    """The partner's answer was larger than the cap or slower than the deadline; ``status`` is its HTTP status."""

    def __init__(self, reason: str, status: int) -> None:
        super().__init__(reason)
        self.status = status


@dataclass(frozen=True)
class Answer:
    status: int
    headers: httpx.Headers
    body: bytes


def read_capped(client: httpx.Client, method: str, url: str, *, max_bytes: int, seconds: float, **kw: Any) -> Answer:
    """One request whose answer is read in chunks up to ``max_bytes`` and within ``seconds`` for the whole exchange:
    a partner streaming without end, or a byte at a time, can hold neither the thread nor the memory.

    Raises :class:`AnswerRefused` for a too large or too slow answer, and httpx errors for the transport."""
    deadline = time.monotonic() + seconds
    with client.stream(method, url, **kw) as response:
        received = bytearray()
        for chunk in response.iter_bytes():
            received += chunk
            if len(received) > max_bytes:
                raise AnswerRefused("answer too large", response.status_code)
            if time.monotonic() > deadline:
                raise AnswerRefused("answer too slow", response.status_code)
        return Answer(response.status_code, response.headers, bytes(received))


class PartnerClients:
    """httpx clients for partners: a shared one for the system's CA store, one per partner TLS bundle."""

    def __init__(self, timeout: float, client: httpx.Client | None = None) -> None:
        self.timeout = timeout
        self.default = client or httpx.Client(timeout=timeout, follow_redirects=False)
        self._by_bundle: dict[str, httpx.Client] = {}
        self._lock = threading.Lock()

    def get(self, partner_code: str, tls_ca: str | None) -> httpx.Client:
        if tls_ca is None:
            return self.default
        # Keyed by the bundle's digest too: replacing a partner's TLS trust takes effect at the next request.
        key = f"{partner_code}:{hashlib.sha256(tls_ca.encode()).hexdigest()}"
        with self._lock:
            client = self._by_bundle.get(key)
            if client is None:
                context = ssl.create_default_context(cadata=tls_ca)
                client = httpx.Client(timeout=self.timeout, follow_redirects=False, verify=context)
                self._by_bundle[key] = client
            return client

    def close(self) -> None:
        self.default.close()
        with self._lock:
            for client in self._by_bundle.values():
                client.close()
            self._by_bundle.clear()
