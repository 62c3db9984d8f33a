"""Translating a certificate between partner formats through the canonical model, with its loss report."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from adapters import ADAPTERS, AdapterError, LossEntry, translate
from gateway.documents.service import InvalidDocument
from gateway.errors import ProblemError, Unprocessable
from schemas.engine import ValidationEngine
from schemas.errors import UnknownFormat
from schemas.report import ValidationReport

__all__ = ["TranslationDefect", "TranslationOutcome", "TranslationRefused", "translate_document", "translation_targets"]


class TranslationDefect(ProblemError):
    """The adapter produced a document its format's schema refuses: a bug in the gateway, never sent anywhere."""

    status, slug, title = 500, "translation-defect", "The translation is not valid in the target format"


class TranslationRefused(Unprocessable):
    """The translation is well-formed for the target schema but breaks its business rules (e.g. an agreement the
    target's rules do not know): the certificate cannot be expressed there; the problem carries the report."""

    slug = "translation-invalid"
    title = "The certificate cannot be expressed validly in the target format"


@dataclass(frozen=True)
class TranslationOutcome:
    data: bytes
    media_type: str
    source_format: str
    target_format: str
    losses: tuple[LossEntry, ...]
    report: ValidationReport


def translation_targets(format_id: str) -> list[str]:
    """Formats a document of ``format_id`` translates to (every other adapter), empty when it has no adapter."""
    if format_id not in ADAPTERS:
        return []
    return [target for target in ADAPTERS if target != format_id]


def loss_entry_dict(entry: LossEntry) -> dict[str, Any]:
    return {
        "kind": entry.kind,
        "field": entry.field,
        "source_path": entry.source_path,
        "value": entry.value,
        "reason": entry.reason,
    }


def translate_document(
    engine: ValidationEngine, data: bytes, target: str, source: str | None = None
) -> TranslationOutcome:
    """Validate the source, translate it, and validate the result: an invalid source is refused (422 + report);
    a translation its target format refuses is a :class:`TranslationDefect`, never returned as if it were fine."""
    if target not in ADAPTERS:
        if engine.catalog.get(target) is None:
            raise UnknownFormat(f"unknown format {target!r}", candidates=sorted(ADAPTERS))
        raise Unprocessable(f"no adapter renders {target}; translatable formats: {', '.join(sorted(ADAPTERS))}")
    parsed = engine.parse(data, source)
    if parsed.pack.id not in ADAPTERS:
        raise Unprocessable(f"no adapter reads {parsed.pack.id}; translatable formats: {', '.join(sorted(ADAPTERS))}")
    source_report = engine.validate_parsed(parsed)
    if not source_report.valid:
        raise InvalidDocument(source_report)
    try:
        translation = translate(data, parsed.pack.id, target)
    except AdapterError as exc:
        raise Unprocessable(f"cannot translate from {parsed.pack.id}: {exc}") from None
    report = engine.validate(translation.data, target)
    if not report.valid:
        errors = [f for f in report.findings if f.severity == "error"]
        if any(f.area != "schematron" for f in errors):
            raise TranslationDefect(f"the {target} rendering failed its schema: {errors[0].message}")
        raise TranslationRefused(
            f"the {target} rendering breaks {len(errors)} business rule(s): {errors[0].message}",
            report=report.model_dump(mode="json"),
        )
    return TranslationOutcome(
        translation.data, translation.media_type, parsed.pack.id, target, translation.losses, report
    )
