"""Client certificates (ADR 0015): the certificate a request presents, and the check against a partner's binding.

One source per request, decided by who is at the other end of the TCP connection:

- a **trusted proxy** (its address in ``GATEWAY_TRUSTED_PROXIES``): the certificate is the one in its header
  (``GATEWAY_CLIENT_CERT_HEADER``, URL-escaped PEM as nginx's ``$ssl_client_escaped_cert``), or none; the proxy's
  own TLS certificate is never taken for its client's;
- **anyone else**: the certificate of the TLS connection itself (``tradegw serve --client-ca``, reported through the
  ASGI TLS extension), or none. The header from such a peer is ignored and counted: anyone can send a header.

A partner binds client certificates by SHA-256 fingerprint, by CA, or both; a partner with no binding is not asked
for one. Both its API clients and its deliveries to the inbox are checked by :func:`check_binding`.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any
from urllib.parse import unquote

from cryptography import x509
from starlette.requests import Request

from gateway.ops.metrics import GatewayMetrics
from gateway.partners.models import Partner
from gateway.settings import Settings
from signing._result import Check, CheckStatus, certificate_sha256
from signing.trust import TrustAnchors, assess_signer, load_pem_certificates, utc

__all__ = ["Presented", "bound_cas", "caller_address", "check_binding", "presented_certificate", "read_presented"]

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
_CACHE_KEY = "client_certificate"


@dataclass(frozen=True)
class Presented:
    """What one request presents: its certificate (or None), where it came from, and why a header was not used."""

    certificate: x509.Certificate | None
    source: str  # "tls", "proxy" or "none"
    ignored: str | None = None  # "untrusted-peer" or "malformed": a header that was there and was not believed


def _is_trusted(host: str | None, trusted: Sequence[Network]) -> bool:
    if host is None or not trusted:
        return False
    try:
        address = ipaddress.ip_address(host)
    except ValueError:  # a Unix socket path, or a test client's name: not an address anyone configured
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped  # a dual-stack listener reports IPv4 peers as ::ffff:a.b.c.d
    return any(address in network for network in trusted)


def _from_header(value: bytes) -> x509.Certificate | None:
    try:
        return x509.load_pem_x509_certificate(unquote(value.decode("latin-1")).encode("ascii"))
    except (ValueError, UnicodeEncodeError):
        return None


def read_presented(scope: Mapping[str, Any], header: str, trusted: Sequence[Network]) -> Presented:
    """The client certificate of the request ``scope`` (pure: the caller counts what was ignored)."""
    name = header.lower().encode("latin-1")
    values = [value for key, value in scope.get("headers", ()) if key == name]
    client = scope.get("client")
    if _is_trusted(client[0] if client else None, trusted):
        if not values:
            return Presented(None, "proxy")
        # Two values are two claims; picking one would let a client's own header ride along with the proxy's.
        certificate = _from_header(values[0]) if len(values) == 1 else None
        return Presented(certificate, "proxy", None if certificate is not None else "malformed")
    ignored = "untrusted-peer" if values else None
    chain = ((scope.get("extensions") or {}).get("tls") or {}).get("client_cert_chain") or ()
    if chain:
        try:
            return Presented(x509.load_pem_x509_certificate(str(chain[0]).encode("ascii")), "tls", ignored)
        except (ValueError, UnicodeEncodeError):
            pass  # not what the extension promises: no certificate, rather than a server error
    return Presented(None, "none", ignored)


def caller_address(scope: Mapping[str, Any], trusted: Sequence[Network]) -> str | None:
    """The address a request came from: the TCP peer, or — from a trusted proxy only — the last address the proxy
    appended to ``X-Forwarded-For`` (the rate limit of public routes is per caller, not per proxy)."""
    client = scope.get("client")
    peer = client[0] if client else None
    if not _is_trusted(peer, trusted):
        return peer
    values = [value for key, value in scope.get("headers", ()) if key == b"x-forwarded-for"]
    hops = [hop.strip() for hop in b",".join(values).decode("latin-1").split(",") if hop.strip()]
    return hops[-1] if hops else peer


def presented_certificate(request: Request) -> x509.Certificate | None:
    """The client certificate of this request (computed once per request; ignored headers are counted)."""
    cached = request.scope.get("state", {}).get(_CACHE_KEY)
    if isinstance(cached, Presented):
        return cached.certificate
    settings: Settings = request.app.state.settings
    presented = read_presented(request.scope, settings.client_cert_header, settings.trusted_proxies)
    if presented.ignored is not None:
        metrics: GatewayMetrics = request.app.state.metrics
        metrics.client_cert_headers_ignored.labels(reason=presented.ignored).inc()
    request.scope.setdefault("state", {})[_CACHE_KEY] = presented
    return presented.certificate


@lru_cache(maxsize=256)
def bound_cas(pem: str) -> tuple[x509.Certificate, ...]:
    """The CA certificates of a binding (parsed once per distinct bundle, not on every request)."""
    return tuple(load_pem_certificates(pem.encode("ascii")))


def _window(certificate: x509.Certificate, at: datetime) -> Check | None:
    if at < certificate.not_valid_before_utc:
        return Check.invalid("client-certificate-not-yet-valid", f"valid from {certificate.not_valid_before_utc}")
    if at > certificate.not_valid_after_utc:
        return Check.invalid("client-certificate-expired", f"expired {certificate.not_valid_after_utc}")
    return None


def check_binding(partner: Partner, certificate: x509.Certificate | None, at: datetime) -> Check:
    """Whether ``certificate`` may act for ``partner``: VALID when the partner binds none, or it matches a pinned
    fingerprint, or it chains to a bound CA, inside its validity window."""
    pinned = frozenset(partner.client_cert_sha256 or ())
    cas = bound_cas(partner.client_ca_pem) if partner.client_ca_pem else ()
    if not pinned and not cas:
        return Check.valid(f"partner {partner.code} binds no client certificate")
    if certificate is None:
        return Check.invalid(
            "client-certificate-missing", f"partner {partner.code} must present its TLS client certificate"
        )
    at = utc(at)
    expired = _window(certificate, at)
    if expired is not None:
        return expired
    fingerprint = certificate_sha256(certificate)
    if fingerprint in pinned:
        return Check.valid(f"client certificate {fingerprint} is pinned for {partner.code}")
    if cas:
        # The same chain building as for document signers; only the trust answer counts here, since the document
        # signers' rules for key usage do not apply to a TLS client certificate.
        trust = assess_signer([certificate], TrustAnchors(f"{partner.code} client CA", ca_certificates=cas), at).trust
        if trust.status is CheckStatus.VALID:
            return Check.valid(f"client certificate {fingerprint} {trust.detail}")
    return Check.invalid(
        "client-certificate-mismatch",
        f"the client certificate {certificate.subject.rfc4514_string()} (sha256 {fingerprint}) is not bound to "
        f"partner {partner.code}",
    )
