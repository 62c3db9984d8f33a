"""Why a document could not be validated.

DocumentError
├── MalformedDocument        not well-formed XML or JSON
├── ForbiddenConstruct       well-formed but refused by policy (a DOCTYPE)
├── LimitExceeded            over a structural cap
│   ├── DepthLimitExceeded
│   └── ElementLimitExceeded
├── UnsupportedFormat        no format pack matches the document
├── AmbiguousFormat          several packs match with the same top precedence
└── UnknownFormat            a format id that the catalog does not hold
ValidationEngineError        a validation step could not run (an internal failure, never "valid")

Each carries a stable ``code`` that the HTTP layer and the CLI turn into a problem type or an exit status.
"""

from __future__ import annotations

__all__ = [
    "AmbiguousFormat",
    "DepthLimitExceeded",
    "DocumentError",
    "ElementLimitExceeded",
    "ForbiddenConstruct",
    "LimitExceeded",
    "MalformedDocument",
    "UnknownFormat",
    "UnsupportedFormat",
    "ValidationEngineError",
]


class DocumentError(Exception):
    """A document that cannot be validated as given."""

    code = "document-error"

    def __init__(self, message: str, *, line: int | None = None, candidates: list[str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.candidates = candidates or []


class MalformedDocument(DocumentError):
    code = "malformed"


class ForbiddenConstruct(DocumentError):
    code = "forbidden-construct"


class LimitExceeded(DocumentError):
    code = "limit-exceeded"


class DepthLimitExceeded(LimitExceeded):
    code = "depth-limit-exceeded"


class ElementLimitExceeded(LimitExceeded):
    code = "element-limit-exceeded"


class UnsupportedFormat(DocumentError):
    code = "unsupported-format"


class AmbiguousFormat(DocumentError):
    code = "ambiguous-format"


class UnknownFormat(DocumentError):
    code = "unknown-format"


class ValidationEngineError(Exception):
    """A validation step failed to run; the document's validity is unknown."""

    code = "validation-engine-error"
