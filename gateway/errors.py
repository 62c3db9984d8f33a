"""Errors as RFC 9457 problem details: one exception tree, one handler.

ProblemError                   (status, type slug, title)
├── BadRequest                 400 bad-request
├── Unauthorized               401 unauthorized        (WWW-Authenticate: Bearer)
├── Forbidden                  403 forbidden
├── NotFound                   404 not-found
├── PayloadTooLarge            413 payload-too-large
├── Unprocessable              422 (slug set per case, e.g. invalid-document)
├── ServiceUnavailable         503 service-unavailable
└── DocumentProblem            a schemas.DocumentError as a problem (400 or 422, see _DOCUMENT_STATUS)

Every response body is ``application/problem+json`` with ``type``, ``title``, ``status``, ``detail``,
``instance`` (the request id) and, where there is more to say, extension members.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from http import HTTPStatus
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from schemas.errors import DocumentError, ValidationEngineError

__all__ = [
    "PROBLEM_BASE",
    "BadRequest",
    "DocumentProblem",
    "Forbidden",
    "NotFound",
    "PayloadTooLarge",
    "ProblemError",
    "ServiceUnavailable",
    "Unauthorized",
    "Unprocessable",
    "install_problem_handlers",
    "problem_response",
]

PROBLEM_BASE = "urn:trade-gateway:problem:"
PROBLEM_JSON = "application/problem+json"
log = structlog.get_logger("gateway.errors")


class ProblemError(Exception):
    status = 500
    slug = "internal-error"
    title = "Internal error"

    def __init__(self, detail: str, **extensions: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extensions = extensions
        self.headers: dict[str, str] = {}


class DocumentRefusal:
    """Marks the problems that refuse a document before its content could be judged (see gateway.documents.intake)."""


class BadRequest(ProblemError):
    status, slug, title = 400, "bad-request", "Bad request"


class Unauthorized(ProblemError):
    status, slug, title = 401, "unauthorized", "Authentication required"

    def __init__(self, detail: str, **extensions: Any) -> None:
        super().__init__(detail, **extensions)
        self.headers = {"WWW-Authenticate": 'Bearer realm="trade-gateway"'}


class Forbidden(ProblemError):
    status, slug, title = 403, "forbidden", "Not allowed for this client's role"


class NotFound(ProblemError):
    status, slug, title = 404, "not-found", "Not found"


class PayloadTooLarge(ProblemError):
    status, slug, title = 413, "payload-too-large", "Request body too large"


class TooManyRequests(ProblemError):
    status, slug, title = 429, "too-many-requests", "Too many requests"

    def __init__(self, detail: str, retry_after: int) -> None:
        super().__init__(detail, retry_after=retry_after)
        self.headers = {"Retry-After": str(retry_after)}


class Unprocessable(ProblemError):
    status, slug, title = 422, "unprocessable", "The request cannot be carried out for this document"


class ServiceUnavailable(ProblemError):
    status, slug, title = 503, "service-unavailable", "Not available"


# Malformed or refused input is the caller's syntax problem (400); a well-formed document the gateway has no
# pack for, or cannot choose a pack for, is a semantic one (422).
_DOCUMENT_STATUS: dict[str, tuple[int, str]] = {
    "malformed": (400, "Malformed document"),
    "forbidden-construct": (400, "Forbidden XML construct"),
    "depth-limit-exceeded": (400, "Document nested too deeply"),
    "element-limit-exceeded": (400, "Document has too many elements"),
    "unknown-format": (400, "Unknown format"),
    "unsupported-format": (422, "Unsupported document format"),
    "ambiguous-format": (422, "Ambiguous document format"),
}


class DocumentProblem(ProblemError, DocumentRefusal):
    def __init__(self, error: DocumentError) -> None:
        extensions: dict[str, Any] = {}
        if error.line is not None:
            extensions["line"] = error.line
        if error.candidates:
            extensions["candidates"] = error.candidates
        super().__init__(error.message, **extensions)
        self.status, self.title = _DOCUMENT_STATUS.get(error.code, (400, "Document refused"))
        self.slug = error.code


def problem_response(
    request: Request | None,
    *,
    status: int,
    slug: str,
    title: str,
    detail: str,
    headers: dict[str, str] | None = None,
    **extensions: Any,
) -> JSONResponse:
    body: dict[str, Any] = {"type": PROBLEM_BASE + slug, "title": title, "status": status, "detail": detail}
    request_id = getattr(request.state, "request_id", None) if request is not None else None
    if request_id:
        body["instance"] = f"urn:trade-gateway:request:{request_id}"
    body.update(extensions)
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def install_problem_handlers(
    app: FastAPI, on_document_refused: Callable[[Request, str], Awaitable[None]] | None = None
) -> None:
    """Route every error the app can raise through one problem+json renderer; ``on_document_refused`` is told about
    each refused document (its problem slug)."""

    async def on_problem(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ProblemError)
        if isinstance(exc, DocumentRefusal) and on_document_refused is not None:
            await on_document_refused(request, exc.slug)
        return problem_response(
            request,
            status=exc.status,
            slug=exc.slug,
            title=exc.title,
            detail=exc.detail,
            headers=exc.headers,
            **exc.extensions,
        )

    async def on_document_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, DocumentError)
        return await on_problem(request, DocumentProblem(exc))

    async def on_engine_error(request: Request, exc: Exception) -> JSONResponse:
        log.error("validation engine failure", error=str(exc))
        return problem_response(
            request,
            status=500,
            slug=ValidationEngineError.code,
            title="Validation could not run",
            detail="a validation step failed to run; the document's validity is unknown",
        )

    async def on_request_validation(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        errors = [
            {"location": "/".join(str(p) for p in e.get("loc", ())), "message": e.get("msg", "")} for e in exc.errors()
        ]
        return problem_response(
            request,
            status=422,
            slug="invalid-request",
            title="Invalid request",
            detail="the request does not match the operation's parameters",
            errors=errors,
        )

    async def on_http_exception(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        phrase = HTTPStatus(exc.status_code).phrase
        return problem_response(
            request,
            status=exc.status_code,
            slug=phrase.lower().replace(" ", "-"),
            title=phrase,
            detail=str(exc.detail),
            headers=dict(exc.headers or {}),
        )

    async def on_unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", error_type=type(exc).__name__)
        return problem_response(
            request,
            status=500,
            slug="internal-error",
            title="Internal error",
            detail="an unexpected error occurred",
        )

    app.add_exception_handler(ProblemError, on_problem)
    app.add_exception_handler(DocumentError, on_document_error)
    app.add_exception_handler(ValidationEngineError, on_engine_error)
    app.add_exception_handler(RequestValidationError, on_request_validation)
    app.add_exception_handler(StarletteHTTPException, on_http_exception)
    app.add_exception_handler(Exception, on_unexpected)
