"""Taking a document from an HTTP request: the media types a document route accepts, and refusals kept on record.

Every route that takes a document reads it through :func:`read_document`. The declared ``Content-Type`` must be
XML (``application/xml``, ``text/xml``, ``application/*+xml``) or JSON (``application/json``,
``application/*+json``); any other declared type is 415 (a request without one is examined as it is). The
declaration also decides which parser family may
see the body: a body that is plainly JSON under an XML type (or XML under a JSON type) is refused (400
``media-type-mismatch``) instead of being sniffed into the other parser — what a proxy, a log or a partner thinks
the body is and what the gateway parses must not differ.

A document refused before its content could be judged (malformed, a forbidden construct, over a structural cap,
a wrong media type) is written to the audit log when an API client sent it (``document.refused``: who, which
route, the problem, the size and SHA-256 of what was sent), and counted in ``gateway_documents_refused`` either
way. A submission whose document is refused after intake is recorded as a rejected exchange instead, and the inbox
records the refusals of authenticated partners itself (a partner authenticates by signature, not by API key).
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable
from typing import Any, Final, TypeVar

import anyio
import anyio.to_thread
from fastapi import Request
from starlette.concurrency import run_in_threadpool

from gateway.audit.log import record
from gateway.auth.service import Identity
from gateway.db import unit_of_work
from gateway.errors import PROBLEM_JSON, BadRequest, DocumentRefusal, ProblemError

__all__ = [
    "DOCUMENT_BODY",
    "DOCUMENT_REFUSALS",
    "MediaTypeMismatch",
    "UnsupportedMediaType",
    "document_work",
    "note_refusal",
    "read_document",
]

DOCUMENT_BODY: Final[dict[str, Any]] = {
    "required": True,
    "content": {
        "application/xml": {"schema": {"type": "string", "format": "binary"}},
        "application/json": {"schema": {"type": "string", "format": "binary"}},
    },
}
# The answers every document route may give before judging the document (merged into each route's responses).
DOCUMENT_REFUSALS: Final[dict[int | str, dict[str, Any]]] = {
    415: {
        "description": "Content-Type is not an XML or JSON type",
        "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}},
    },
}
_XML: Final = frozenset({"application/xml", "text/xml"})
_JSON: Final = frozenset({"application/json"})
_AUDITED: Final = "document_refusals_audited"
T = TypeVar("T")


class UnsupportedMediaType(ProblemError, DocumentRefusal):
    status, slug, title = 415, "unsupported-media-type", "Unsupported media type"


class MediaTypeMismatch(BadRequest, DocumentRefusal):
    slug, title = "media-type-mismatch", "The body is not what its Content-Type says"


def media_family(content_type: str | None) -> str | None:
    """``xml``, ``json`` or None for a Content-Type header value (parameters such as charset ignored)."""
    media = (content_type or "").split(";", 1)[0].strip().lower()
    if media in _XML or (media.startswith("application/") and media.endswith("+xml")):
        return "xml"
    if media in _JSON or (media.startswith("application/") and media.endswith("+json")):
        return "json"
    return None


def _looks_like(body: bytes) -> str | None:
    start = body.lstrip(b" \t\r\n")
    if start.startswith(b"\xef\xbb\xbf"):
        start = start[3:].lstrip(b" \t\r\n")
    if start[:1] in (b"{", b"["):
        return "json"
    if start[:1] == b"<":
        return "xml"
    return None  # UTF-16 and other encodings: the parser of the declared family decides


async def read_document(request: Request) -> bytes:
    """The body of a document route, once its declared media type is one a document may have."""
    setattr(request.state, _AUDITED, True)
    content_type = request.headers.get("content-type")
    family = media_family(content_type)
    if family is None and content_type is not None:
        raise UnsupportedMediaType(
            f"Content-Type {content_type!r} is not a document type: send application/xml (or text/xml, "
            "application/*+xml) or application/json (application/*+json)"
        )
    body = await request.body()
    seen = _looks_like(body)
    # Without a Content-Type the body says what it is (RFC 9110 §8.3 lets a recipient examine it); with one, the
    # two must agree.
    if family is not None and seen is not None and seen != family:
        raise MediaTypeMismatch(f"the body is {seen.upper()} but Content-Type says {family.upper()}")
    return body


async def document_work(request: Request, function: Callable[..., T], *args: Any) -> T:
    """Run a document's CPU- and memory-heavy work (parse, validate, translate, sign) in a worker thread, at most
    ``GATEWAY_DOCUMENT_CONCURRENCY`` at a time in this process; the others wait their turn.

    The structural caps bound one document's work (at the 10 MiB default a certificate of origin with 13,000 goods
    items validates in about 2 s and translates in about 10 s, peaking near 0.5 GB); this bound keeps many of them
    at once from exhausting memory or starving every other request of the cores (ADR 0016)."""
    limiter: anyio.CapacityLimiter = request.app.state.document_limiter
    return await anyio.to_thread.run_sync(functools.partial(function, *args), limiter=limiter)


async def note_refusal(request: Request, slug: str) -> None:
    """Record a refused document: a metric always, an audit entry for an authenticated caller of an audited route."""
    route = request.scope.get("route")
    template = getattr(route, "path", "unmatched")
    request.app.state.metrics.documents_refused.labels(route=template, reason=slug).inc()
    identity = getattr(request.state, "client", None)
    if not isinstance(identity, Identity) or not getattr(request.state, _AUDITED, False):
        return
    # The body was read before the refusal (starlette keeps it); hashing it costs what reading it did.
    body = await request.body()
    detail = {"route": template, "bytes": len(body), "sha256": hashlib.sha256(body).hexdigest()}

    def write() -> None:
        with unit_of_work(request.app.state.db, write=True) as session:
            record(
                session,
                actor=identity.actor,
                action="document.refused",
                outcome=slug,
                partner=identity.partner_code,
                detail=detail,
            )

    await run_in_threadpool(write)
