"""Format packs and the validation engine: bytes in, a validation report out. No web framework, no database.

catalog = load_catalog()                  # built-in packs (+ operator catalog files)
engine = ValidationEngine(catalog)        # compiles schemas lazily, once per process
report = engine.validate(data)            # detection, hardened parse, XSD/JSON Schema, Schematron
"""

from schemas.catalog import CatalogError, FormatCatalog, FormatPack, load_catalog
from schemas.engine import ValidationEngine
from schemas.errors import (
    AmbiguousFormat,
    DepthLimitExceeded,
    DocumentError,
    ElementLimitExceeded,
    ForbiddenConstruct,
    LimitExceeded,
    MalformedDocument,
    UnknownFormat,
    UnsupportedFormat,
    ValidationEngineError,
)
from schemas.report import Finding, FormatRef, StepResult, ValidationReport
from schemas.xmlparse import XmlLimits, parse_xml

__all__ = [
    "AmbiguousFormat",
    "CatalogError",
    "DepthLimitExceeded",
    "DocumentError",
    "ElementLimitExceeded",
    "Finding",
    "ForbiddenConstruct",
    "FormatCatalog",
    "FormatPack",
    "FormatRef",
    "LimitExceeded",
    "MalformedDocument",
    "StepResult",
    "UnknownFormat",
    "UnsupportedFormat",
    "ValidationEngine",
    "ValidationEngineError",
    "ValidationReport",
    "XmlLimits",
    "load_catalog",
    "parse_xml",
]
