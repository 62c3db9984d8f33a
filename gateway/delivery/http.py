"""HTTP to partner gateways: one client per TLS trust bundle, and answers read with a size cap and one deadline."""

from __future__ import annotations

import hashlib
import ssl
import threading
import time
from dataclasses import dataclass
from pathlib import Path
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
    """httpx clients for partners: a shared one for the system's CA store, one per partner TLS bundle.

    ``identity`` (certificate and key files, PEM) is the client certificate this gateway presents to partners whose
    servers ask for one (a partner running ``tradegw serve --client-ca``, or behind a proxy verifying clients)."""

    def __init__(
        self, timeout: float, client: httpx.Client | None = None, identity: tuple[Path, Path] | None = None
    ) -> None:
        self.timeout = timeout
        self.identity = identity
        self.default = client or httpx.Client(timeout=timeout, follow_redirects=False, verify=self._context(None))
        self._by_bundle: dict[str, httpx.Client] = {}
        self._lock = threading.Lock()

    def _context(self, tls_ca: str | None) -> ssl.SSLContext:
        context = ssl.create_default_context(cadata=tls_ca) if tls_ca is not None else ssl.create_default_context()
        if self.identity is not None:
            context.load_cert_chain(*self.identity)
        return context

    def get(self, partner_code: str, tls_ca: str | None) -> httpx.Client:
        if tls_ca is None:
            return self.default
        # Keyed by the bundle's digest too: replacing a partner's TLS trust takes effect at the next request.
        key = f"{partner_code}:{hashlib.sha256(tls_ca.encode()).hexdigest()}"
        with self._lock:
            client = self._by_bundle.get(key)
            if client is None:
                client = httpx.Client(timeout=self.timeout, follow_redirects=False, verify=self._context(tls_ca))
                self._by_bundle[key] = client
            return client

    def close(self) -> None:
        self.default.close()
        with self._lock:
            for client in self._by_bundle.values():
                client.close()
            self._by_bundle.clear()
