"""Throughput of certificate translation: UBL 2.4 → canonical → UBL 2.1 and → edi3 JSON, next to parse + XSD.

For each UBL 2.4 CertificateOfOrigin fixture (10, 200 and 2,000 goods items) the bench times, in one run and in
alternating rounds:

- the reference: lxml parse (the hardened parser's options) plus ``XMLSchema.validate`` against the UBL 2.4
  CertificateOfOrigin XSD compiled beforehand — what reading and checking the same document costs at the least;
- ``adapters.translate(data, "ubl-coo-2.4", "ubl-coo-2.1")``: hardened parse, UBL → canonical with the loss
  report, canonical → UBL 2.1 built with lxml, serialised;
- ``adapters.translate(data, "ubl-coo-2.4", "edi3-coo-json")``: the same parse, canonical → edi3 JSON.

Targets: a translation costs at most twice the reference for the same document (``meets_2x_target``), and it
grows linearly with goods items: time(2,000 items) / time(200 items) ≤ 11 (``meets_linear_target``). Where a
target is missed, a cProfile run of that translation says where its time goes (``profile``). Before timing, every
translation's output must validate against its target format (XSD and CoO rules, or JSON Schema), so no figure
comes from an error path. Prints one JSON object on stdout, progress on stderr. See bench/README.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from lxml import etree

from adapters import translate
from bench._common import BenchError, bench_arguments, check_arguments, print_result, profile, rate
from schemas.catalog import load_catalog
from schemas.engine import ValidationEngine
from schemas.xmlparse import parse_pack_file

ROOT = Path(__file__).resolve().parent.parent
COO = ROOT / "tests" / "fixtures" / "coo"
SOURCE_FORMAT = "ubl-coo-2.4"
XSD = ROOT / "schemas" / "resources" / "ubl-2.4" / "xsd" / "maindoc" / "UBL-CertificateOfOrigin-2.4.xsd"

TARGET_RATIO = 2.0
TARGET_LINEAR = 11.0  # time(2000 items) / time(200 items): 10x the items, 10 % slack
PROFILE_TOP = 10
REFERENCE = "reference"


@dataclass(frozen=True, slots=True)
class BenchDocument:
    name: str
    path: Path
    goods_items: int


DOCUMENTS = [
    BenchDocument("coo-10", COO / "valid-10.xml", 10),
    BenchDocument("coo-200", COO / "valid-200.xml", 200),
    BenchDocument("coo-2000", COO / "valid-2000.xml", 2000),
]
LINEAR_PAIR = ("coo-200", "coo-2000")

# name in the output → target format of the translation from UBL 2.4
TRANSLATIONS = {"to-ubl-2.1": "ubl-coo-2.1", "to-edi3-json": "edi3-coo-json"}


def _log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


# ----- timing: time-bounded loops, alternating rounds, best round kept --------------------------------------


def _measure(calls: dict[str, Callable[[], object]], seconds: float, rounds: int) -> dict[str, list[float]]:
    """Each call's rate in every round; the order rotates per round so no call always runs first or last."""
    for call in calls.values():
        rate(call, min(0.5, seconds / 4))  # warm-up: compiled schemas, caches, the allocator
    names = list(calls)
    samples: dict[str, list[float]] = {name: [] for name in names}
    for index in range(rounds):
        shift = index % len(names)
        for name in names[shift:] + names[:shift]:
            samples[name].append(rate(calls[name], seconds))
    return samples


# ----- the reference ------------------------------------------------------------------------------------------


class RawLxmlReference:
    """Parse + XSD validation with nothing else: the parser options of ``schemas.xmlparse``, a precompiled schema."""

    def __init__(self, xsd: Path) -> None:
        self.schema = etree.XMLSchema(parse_pack_file(xsd))
        self.parser = etree.XMLParser(
            resolve_entities=False,
            load_dtd=False,
            dtd_validation=False,
            no_network=True,
            huge_tree=False,
            remove_blank_text=False,
        )

    def validate(self, data: bytes) -> bool:
        return self.schema.validate(etree.fromstring(data, self.parser).getroottree())


# ----- profile of a translation that misses a target ----------------------------------------------------------

_AREAS = ("adapters", "pydantic_core", "pydantic", "lxml", "json", "schemas", "re", "bench")


def _where(function: tuple[str, int, str]) -> str:
    filename, line, name = function
    if filename == "~":
        return name
    path = Path(filename)
    if "site-packages" in path.parts:
        shown = "/".join(path.parts[path.parts.index("site-packages") + 1 :])
    elif path.is_relative_to(ROOT):
        shown = path.relative_to(ROOT).as_posix()
    else:
        shown = "/".join(path.parts[-2:])
    return f"{shown}:{line}({name})"


def _area(function: tuple[str, int, str]) -> str:
    filename, _, name = function
    if filename == "~":  # C functions: the repr names the type or module (e.g. <method 'sub' of 're.Pattern'>)
        return next((f"{area} (C)" for area in _AREAS if f"'{area}" in name or f"{area}." in name), "builtins (C)")
    path = Path(filename)
    if "adapters" in path.parts:  # one area per adapter module: whose code the time is in
        return f"adapters/{path.stem}"
    return next(
        (area for area in _AREAS if area in path.parts), "stdlib" if "site-packages" not in path.parts else "other"
    )


def _profile(call: Callable[[], object], seconds: float) -> dict[str, Any]:
    """Per-call self time by function and by area. cProfile slows Python more than C: read shares, not times."""
    run = profile(call, seconds)
    # The two halves of a translation: the source adapter's parse and the target adapter's render (cumulative).
    stages = {
        f"{Path(filename).stem}.{name}": run.ms_per_call(entry[3])
        for (filename, _, name), entry in run.stats.items()
        if Path(filename).parent.name == "adapters"
        and Path(filename).stem in ("ubl", "edi3_json")
        and name in ("parse", "render")
    }
    return {
        "profiled_calls": run.calls,
        "profiled_ms_per_call": run.ms_per_call(run.total),
        "stages_cumulative_ms_per_call": stages,
        "self_time_share_by_area": run.area_shares(_area),
        "top_self_time": run.top_self_time(_where, PROFILE_TOP),
    }


# ----- driver ---------------------------------------------------------------------------------------------------


def _check(
    engine: ValidationEngine, reference: RawLxmlReference, document: BenchDocument, data: bytes
) -> dict[str, Any]:
    """Everything timed must succeed: the source validates, and so does each translation's output."""
    if not reference.validate(data):
        raise BenchError(f"{document.name}: raw lxml says the fixture is invalid against {XSD.name}")
    source = engine.validate(data, SOURCE_FORMAT)
    if not source.valid:
        raise BenchError(f"{document.name}: the fixture is not a valid {SOURCE_FORMAT} document")
    checked: dict[str, Any] = {}
    for name, target in TRANSLATIONS.items():
        translation = translate(data, SOURCE_FORMAT, target)
        report = engine.validate(translation.data, target)
        if not report.valid:
            first = report.findings[0].message if report.findings else "?"
            raise BenchError(f"{document.name} {name}: the output is not valid {target} ({first})")
        if len(translation.certificate.goods_items) != document.goods_items:
            raise BenchError(f"{document.name}: {len(translation.certificate.goods_items)} goods items parsed")
        checked[name] = {
            "output_bytes": len(translation.data),
            "output_valid": True,
            "losses": dict(sorted(Counter(entry.kind for entry in translation.losses).items())),
        }
    return checked


def _parse_args(argv: list[str] | None, known: list[str]) -> argparse.Namespace:
    parser = bench_arguments(__doc__.splitlines()[0] if __doc__ else None, known)
    return check_arguments(parser, parser.parse_args(argv), known)


def run(argv: list[str] | None = None) -> dict[str, Any]:
    args = _parse_args(argv, [d.name for d in DOCUMENTS])
    selected = [d for d in DOCUMENTS if args.docs is None or d.name in args.docs]
    started = time.perf_counter()
    engine = ValidationEngine(load_catalog())
    reference = RawLxmlReference(XSD)
    results: dict[str, dict[str, Any]] = {}
    best_ms: dict[tuple[str, str], float] = {}
    profiles: dict[str, Any] = {}
    calls_by_document: dict[str, dict[str, Callable[[], object]]] = {}
    for document in selected:
        if not document.path.is_file():
            raise BenchError(f"{document.name}: {document.path} not found")
        data = document.path.read_bytes()
        checked = _check(engine, reference, document, data)
        calls: dict[str, Callable[[], object]] = {REFERENCE: lambda data=data: reference.validate(data)}  # type: ignore[misc]
        for name, target in TRANSLATIONS.items():
            calls[name] = lambda data=data, target=target: translate(data, SOURCE_FORMAT, target)  # type: ignore[misc]
        calls_by_document[document.name] = calls
        samples = _measure(calls, args.seconds, args.rounds)
        reference_rate = max(samples[REFERENCE])
        best_ms[(document.name, REFERENCE)] = 1000 / reference_rate
        entry: dict[str, Any] = {
            "path": document.path.relative_to(ROOT).as_posix(),
            "bytes": len(data),
            "goods_items": document.goods_items,
            REFERENCE: {
                "what": "lxml parse + XMLSchema.validate (UBL 2.4 CertificateOfOrigin XSD, precompiled)",
                "per_s": round(reference_rate, 1),
                "ms": round(1000 / reference_rate, 3),
                "rounds_per_s": [round(v, 1) for v in samples[REFERENCE]],
            },
        }
        for name in TRANSLATIONS:
            rate = max(samples[name])
            best_ms[(document.name, name)] = 1000 / rate
            ratio = reference_rate / rate  # = translation time per call / reference time per call
            entry[name] = {
                **checked[name],
                "per_s": round(rate, 1),
                "ms": round(1000 / rate, 3),
                "rounds_per_s": [round(v, 1) for v in samples[name]],
                "ratio_to_reference": round(ratio, 3),
                "meets_2x_target": ratio <= TARGET_RATIO,
            }
            _log(
                f"{document.name} {name}: {entry[name]['ms']} ms against {entry[REFERENCE]['ms']} ms "
                f"(ratio {entry[name]['ratio_to_reference']})"
            )
            if ratio > TARGET_RATIO:
                profiles[f"{document.name}/{name}"] = _profile(calls[name], args.seconds)
        results[document.name] = entry

    linearity: dict[str, Any] = {}
    small, large = LINEAR_PAIR
    if small in results and large in results:
        for name in (REFERENCE, *TRANSLATIONS):
            growth = best_ms[(large, name)] / best_ms[(small, name)]
            linearity[name] = {"time_2000_over_200": round(growth, 3)}
            if name != REFERENCE:
                linearity[name]["meets_linear_target"] = growth <= TARGET_LINEAR
                if growth > TARGET_LINEAR and f"{large}/{name}" not in profiles:
                    profiles[f"{large}/{name}"] = _profile(calls_by_document[large][name], args.seconds)

    return {
        "benchmark": "translate",
        "python": platform.python_version(),
        "lxml": ".".join(map(str, etree.LXML_VERSION)),
        "libxml2": ".".join(map(str, etree.LIBXML_VERSION)),
        "pydantic": metadata.version("pydantic"),
        "cpu_count": os.cpu_count(),
        "load_average_1m": round(os.getloadavg()[0], 2),
        "rounds": args.rounds,
        "seconds_per_measure": args.seconds,
        "target_ratio": TARGET_RATIO,
        "target_linear": TARGET_LINEAR,
        "elapsed_s": round(time.perf_counter() - started, 1),
        "documents": results,
        "linearity": linearity,
        "profile": profiles,
    }


def main() -> int:
    return print_result(run)


if __name__ == "__main__":
    sys.exit(main())
