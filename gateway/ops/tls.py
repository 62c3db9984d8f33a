"""HTTPS in ``tradegw serve``: uvicorn's TLS options, and the verified client certificate in each request's scope.

uvicorn terminates TLS (and, with a client CA, refuses a handshake without a valid client certificate) but does not
tell the application which certificate the client presented. :class:`TlsH11Protocol` reports it the way the ASGI
TLS extension describes (``scope["extensions"]["tls"]["client_cert_chain"]``, PEM strings, the client's certificate
first), so the application reads it the same way whichever ASGI server runs it.
"""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from cryptography import x509
from uvicorn._types import ASGI3Application, ASGIReceiveCallable, ASGISendCallable, Scope
from uvicorn.protocols.http.h11_impl import H11Protocol

__all__ = ["ServerTls", "ServerTlsError", "TlsH11Protocol", "tls_extension"]

# TLS versions as the extension reports them: the protocol's own version numbers (RFC 8446 §4.2.1).
_TLS_VERSIONS = {"TLSv1": 0x0301, "TLSv1.1": 0x0302, "TLSv1.2": 0x0303, "TLSv1.3": 0x0304}


class ServerTlsError(ValueError):
    """The TLS files cannot serve: missing, unreadable, or a certificate that does not match its key."""


@dataclass(frozen=True)
class ServerTls:
    """What ``tradegw serve`` terminates TLS with."""

    certificate: Path
    key: Path
    client_ca: Path | None = None

    @classmethod
    def of(cls, certificate: Path | None, key: Path | None, client_ca: Path | None) -> ServerTls | None:
        """None for plain HTTP; ``ServerTlsError`` for an incomplete combination."""
        if certificate is None and key is None:
            if client_ca is not None:
                raise ServerTlsError("a client CA needs TLS: give the server certificate and key as well")
            return None
        if certificate is None or key is None:
            raise ServerTlsError("the TLS certificate and its key go together")
        return cls(certificate, key, client_ca)

    def check(self) -> None:
        """Load the files once before uvicorn does, so an operator's mistake is one line, not a traceback."""
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        try:
            context.load_cert_chain(self.certificate, self.key)
        except (OSError, ssl.SSLError) as exc:
            raise ServerTlsError(f"cannot serve TLS with {self.certificate} and {self.key}: {exc}") from None
        if self.client_ca is not None:
            try:
                context.load_verify_locations(cafile=self.client_ca)
            except (OSError, ssl.SSLError) as exc:
                raise ServerTlsError(f"cannot read the client CA bundle {self.client_ca}: {exc}") from None

    def uvicorn_options(self) -> dict[str, Any]:
        return {
            "ssl_certfile": str(self.certificate),
            "ssl_keyfile": str(self.key),
            "ssl_ca_certs": str(self.client_ca) if self.client_ca is not None else None,
            # Required, not optional: a client without a certificate from the CA never reaches the application.
            "ssl_cert_reqs": ssl.CERT_REQUIRED if self.client_ca is not None else ssl.CERT_NONE,
            # The protocol class is named by value, so it is picklable for uvicorn's worker processes.
            "http": TlsH11Protocol,
        }


def tls_extension(ssl_object: ssl.SSLObject) -> dict[str, Any]:
    """The ASGI TLS extension's entry for one connection (asgiref ``specs/tls.rst``, version 0.2)."""
    der = ssl_object.getpeercert(binary_form=True)
    chain: list[str] = []
    name: str | None = None
    if der:
        # Python's ssl module gives the client's own certificate only, not the intermediates it sent.
        chain.append(ssl.DER_cert_to_PEM_cert(der))
        name = x509.load_der_x509_certificate(der).subject.rfc4514_string()
    return {
        "server_cert": None,
        "client_cert_chain": chain,
        "client_cert_name": name,
        # The handshake fails on a certificate that does not verify, so an application never sees an error here.
        "client_cert_error": None,
        "tls_version": _TLS_VERSIONS.get(ssl_object.version() or ""),
        # Python names cipher suites the OpenSSL way; the extension wants the IANA number, which it does not give.
        "cipher_suite": None,
    }


class _ReportingTls:
    """The application, called with the connection's TLS extension in every request's scope."""

    def __init__(self, app: ASGI3Application, extension: dict[str, Any]) -> None:
        self.app = app
        self.extension = extension

    async def __call__(self, scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable) -> None:
        # The application gets its own scope: the extension is fresh for each request, and uvicorn's scope stays its.
        extended: dict[str, Any] = dict(scope)
        extended["extensions"] = {**(extended.get("extensions") or {}), "tls": dict(self.extension)}
        await self.app(cast("Scope", extended), receive, send)


class TlsH11Protocol(H11Protocol):
    """uvicorn's h11 protocol, adding the ASGI TLS extension to the scope of every request on a TLS connection.

    asyncio calls ``connection_made`` once the TLS handshake is complete, so the peer certificate is known there;
    the connection's application is wrapped once, and every request on the connection carries the extension. h11,
    not httptools: the gateway does not depend on httptools, and one protocol class is one code path to test.
    """

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        ssl_object = transport.get_extra_info("ssl_object")
        if isinstance(ssl_object, ssl.SSLObject):
            self.app = _ReportingTls(self.app, tls_extension(ssl_object))
