"""The validation engine: bytes in, a :class:`ValidationReport` out.

Order of work: structural caps and the hardened parse, then detection (or the caller's format), then XSD or JSON
Schema, then each Schematron. Compiled artefacts are built once per process and cached.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import pycountry
from jsonschema import Draft202012Validator
from lxml import etree

from schemas.catalog import FormatCatalog, FormatPack, MatchRule
from schemas.errors import (
    AmbiguousFormat,
    DepthLimitExceeded,
    MalformedDocument,
    UnknownFormat,
    UnsupportedFormat,
    ValidationEngineError,
)
from schemas.report import Finding, FormatRef, StepResult, ValidationReport
from schemas.schematron import CompiledSchematron, IsoXslt1Schematron, SaxonSchematron
from schemas.xmlparse import XmlLimits, parse_pack_file, parse_xml

__all__ = ["ParsedDocument", "ValidationEngine", "parse_json", "sniff_syntax"]

Clock = Callable[[], datetime]
# The calendar date can be ahead of UTC by up to 14 hours (UTC+14, Line Islands): a certificate issued "today"
# somewhere on Earth must not be called future-dated.
_LATEST_UTC_OFFSET = timedelta(hours=14)


_LEADING_BLANKS = re.compile(rb"[\xef\xbb\xbf \t\r\n]*")


def sniff_syntax(data: bytes) -> str:
    """``xml`` or ``json`` from the first significant byte; anything else is malformed."""
    # A match instead of lstrip: lstrip copies the whole body, and this runs on every document.
    start = _LEADING_BLANKS.match(data)
    offset = start.end() if start else 0
    head = data[offset : offset + 1]
    if head == b"<" or data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "xml"
    if head in (b"{", b"["):
        return "json"
    if not head:
        raise MalformedDocument("empty document")
    raise MalformedDocument("neither XML nor JSON: the document must start with '<' or '{'")


class ParsedDocument:
    """A parsed document and the pack it is validated against."""

    def __init__(self, data: bytes, pack: FormatPack, detected: bool, tree: Any) -> None:
        self.data = data
        self.pack = pack
        self.detected = detected
        self.tree = tree  # lxml ElementTree for XML, the decoded value for JSON


def _reject_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj: dict[str, Any] = {}
    for key, value in pairs:
        if key in obj:
            # Two parsers would disagree on which value counts; refuse rather than guess.
            raise MalformedDocument(f"duplicate JSON member {key!r}")
        obj[key] = value
    return obj


def _json_depth_ok(value: Any, max_depth: int) -> bool:
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > max_depth:
            return False
        if isinstance(node, dict):
            stack.extend((v, depth + 1) for v in node.values())
        elif isinstance(node, list):
            stack.extend((v, depth + 1) for v in node)
    return True


def _refuse_constant(name: str) -> Any:
    raise MalformedDocument(f"not well-formed JSON: {name} is not a JSON number")


def parse_json(data: bytes, limits: XmlLimits, *, exact_numbers: bool = False) -> Any:
    """The one JSON parse: size and depth caps, duplicate members refused.

    ``exact_numbers`` (adapters): fractions become ``Decimal`` and NaN/Infinity are refused, so no value is rounded
    on its way into a certificate.
    """
    if len(data) > limits.max_bytes:
        raise MalformedDocument(f"document is {len(data)} bytes, over the {limits.max_bytes}-byte limit")
    numbers: dict[str, Any] = {"parse_float": Decimal, "parse_constant": _refuse_constant} if exact_numbers else {}
    try:
        value = json.loads(data.decode("utf-8-sig"), object_pairs_hook=_reject_duplicate_keys, **numbers)
    except RecursionError:
        raise DepthLimitExceeded(f"JSON nesting deeper than {limits.max_depth}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        line = getattr(exc, "lineno", None)
        raise MalformedDocument(f"not well-formed JSON: {exc}", line=line) from None
    except (ValueError, InvalidOperation) as exc:  # e.g. an integer over Python's 4300-digit conversion limit
        raise MalformedDocument(f"JSON value refused: {exc}") from None
    if not _json_depth_ok(value, limits.max_depth):
        raise DepthLimitExceeded(f"JSON nesting deeper than {limits.max_depth}")
    return value


def _json_pointer_exists(document: Any, pointer: str) -> bool:
    node = document
    for token in pointer.lstrip("/").split("/"):
        token = token.replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict) and token in node:
            node = node[token]
        elif isinstance(node, list) and token.isdigit() and int(token) < len(node):
            node = node[int(token)]
        else:
            return False
    return True


def _json_pointer(parts: Iterable[object]) -> str:
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


class ValidationEngine:
    """Validates documents against a :class:`FormatCatalog`; thread-safe, one per process."""

    def __init__(
        self,
        catalog: FormatCatalog,
        limits: XmlLimits | None = None,
        clock: Clock = lambda: datetime.now(UTC),
    ) -> None:
        self.catalog = catalog
        self.limits = limits or XmlLimits()
        self._clock = clock
        self._compile_lock = threading.Lock()
        self._schemas: dict[Path, tuple[etree.XMLSchema, threading.Lock]] = {}
        self._schematrons: dict[Path, CompiledSchematron] = {}
        self._json_validators: dict[Path, Draft202012Validator] = {}
        self._static_params: dict[tuple[Path, str], str] = {}
        self._family_roots: dict[str, set[str]] = {}
        # Detection index: exact (namespace, root) rules by key; family rules (root "*") are tried for every root.
        self._by_root: dict[tuple[str, str], list[tuple[FormatPack, MatchRule]]] = {}
        self._families: list[tuple[FormatPack, MatchRule]] = []
        for pack in catalog.packs:
            if not pack.detect or pack.syntax != "xml":
                continue
            for rule in pack.match:
                if rule.root == "*":
                    self._families.append((pack, rule))
                else:
                    self._by_root.setdefault((rule.namespace or "", rule.root or ""), []).append((pack, rule))

    # ----- compilation (once per artefact) -------------------------------------------------------------

    def _xsd(self, path: Path) -> tuple[etree.XMLSchema, threading.Lock]:
        cached = self._schemas.get(path)
        if cached is None:
            with self._compile_lock:
                cached = self._schemas.get(path)
                if cached is None:
                    try:
                        schema = etree.XMLSchema(parse_pack_file(path))
                    except etree.XMLSchemaParseError as exc:
                        raise ValidationEngineError(f"schema {path.name} did not compile: {exc}") from None
                    cached = self._schemas[path] = (schema, threading.Lock())
        return cached

    def _schematron(self, pack: FormatPack, index: int) -> CompiledSchematron:
        spec = pack.schematron[index]
        path = pack.base_dir / spec.file
        compiled = self._schematrons.get(path)
        if compiled is None:
            with self._compile_lock:
                compiled = self._schematrons.get(path)
                if compiled is None:
                    if spec.engine == "iso-xslt1":
                        names = tuple(name for name, _ in spec.parameters)
                        compiled = IsoXslt1Schematron(path, names)
                    else:
                        compiled = SaxonSchematron(path)
                    self._schematrons[path] = compiled
        return compiled

    def _json_validator(self, pack: FormatPack) -> Draft202012Validator:
        assert pack.json_schema is not None
        path = pack.base_dir / pack.json_schema
        validator = self._json_validators.get(path)
        if validator is None:
            schema = json.loads(path.read_text(encoding="utf-8"))
            Draft202012Validator.check_schema(schema)
            validator = Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
            self._json_validators[path] = validator
        return validator

    def _parameter(self, pack: FormatPack, source: str) -> str:
        if source == "clock:latest-date":
            return (self._clock().astimezone(UTC) + _LATEST_UTC_OFFSET).date().isoformat()
        key = (pack.base_dir, source)
        value = self._static_params.get(key)
        if value is None:
            if source == "pycountry:countries":
                codes = [c.alpha_2 for c in pycountry.countries]
            elif source == "pycountry:currencies":
                codes = [c.alpha_3 for c in pycountry.currencies]
            elif source.startswith("file:"):
                lines = (pack.base_dir / source[5:]).read_text(encoding="utf-8").splitlines()
                codes = [ln.strip() for ln in lines if ln.strip() and not ln.lstrip().startswith("#")]
            else:
                raise ValidationEngineError(f"pack {pack.id}: unknown parameter source {source!r}")
            # Space-delimited on both ends, so `contains($LIST, concat(' ', code, ' '))` is an exact test.
            value = self._static_params[key] = " " + " ".join(sorted(set(codes))) + " "
        return value

    def warm_up(self, pack_ids: Iterable[str] | None = None) -> None:
        """Compile the artefacts of the named packs (default: every pack with a fixed XSD) ahead of traffic."""
        for pack in self.catalog.packs:
            if pack_ids is not None and pack.id not in pack_ids:
                continue
            if pack.xsd is not None and "{root}" not in pack.xsd:
                self._xsd(pack.base_dir / pack.xsd)
            for index in range(len(pack.schematron)):
                self._schematron(pack, index)
            if pack.json_schema is not None:
                self._json_validator(pack)

    # ----- detection -------------------------------------------------------------------------------------

    def _xsd_for(self, pack: FormatPack, root_name: str) -> Path | None:
        """The pack's XSD for this root, or None when the pack has no schema for it.

        Families list their schema files once at start-up, so a caller-chosen root name never reaches the file
        system and never grows a cache.
        """
        if pack.xsd is None:
            return None
        if "{root}" not in pack.xsd:
            return pack.base_dir / pack.xsd
        roots = self._family_roots.get(pack.id)
        if roots is None:
            pattern = pack.xsd.replace("{root}", "*")
            prefix, suffix = pack.xsd.split("{root}")
            roots = self._family_roots.setdefault(
                pack.id,
                {
                    p.relative_to(pack.base_dir).as_posix()[len(prefix) : -len(suffix) or None]
                    for p in pack.base_dir.glob(pattern)
                },
            )
        return pack.xsd_path(root_name) if root_name in roots else None

    def _xml_rule_matches(
        self, pack: FormatPack, rule: MatchRule, root: etree._Element, namespace: str, name: str
    ) -> bool:
        if rule.root == "*":
            # A family (every UBL maindoc): the namespace names the root, and the pack must hold its schema.
            assert rule.namespace is not None
            if rule.namespace.replace("{root}", name) != namespace or self._xsd_for(pack, name) is None:
                return False
        if rule.customization_element is not None:
            child = root.find(rule.customization_element)
            text = (child.text or "").strip() if child is not None else ""
            return text.startswith(rule.customization_prefix or "")
        return True

    def _choose(self, candidates: list[FormatPack], describe: str) -> FormatPack:
        if not candidates:
            raise UnsupportedFormat(f"no format pack matches {describe}")
        top = max(p.precedence for p in candidates)
        best = [p for p in candidates if p.precedence == top]
        if len(best) > 1:
            ids = sorted(p.id for p in best)
            raise AmbiguousFormat(f"{describe} matches several formats equally: {', '.join(ids)}", candidates=ids)
        return best[0]

    def detect_xml(self, tree: etree._ElementTree) -> FormatPack:
        root = tree.getroot()
        qname = etree.QName(root)
        namespace, name = qname.namespace or "", qname.localname
        candidates = self._by_root.get((namespace, name), []) + self._families
        matched = list(
            dict.fromkeys(
                pack for pack, rule in candidates if self._xml_rule_matches(pack, rule, root, namespace, name)
            )
        )
        return self._choose(matched, f"root element {name!r} in namespace {namespace or '(none)'!r}")

    def _check_forced_root(self, pack: FormatPack, tree: etree._ElementTree) -> None:
        """A named format still has to be about this kind of document: its root must be one the pack covers.

        The namespace is left to the schema (a document of the right type in the wrong namespace is *invalid*,
        which the report then says); a different document type altogether is unsupported by that format.
        """
        rules = pack.match
        if not rules and pack.profile_of is not None:
            parent = self.catalog.get(pack.profile_of)
            rules = parent.match if parent is not None else ()
        name = etree.QName(tree.getroot()).localname
        roots = {rule.root for rule in rules if rule.root is not None}
        if "*" in roots:
            if self._xsd_for(pack, name) is not None:
                return
        elif not roots or name in roots:
            return
        raise UnsupportedFormat(f"format {pack.id} does not cover {name!r} documents", candidates=sorted(roots - {"*"}))

    def detect_json(self, document: Any) -> FormatPack:
        matched = [
            pack
            for pack in self.catalog.packs
            if pack.detect
            and pack.syntax == "json"
            and any(r.json_pointer is not None and _json_pointer_exists(document, r.json_pointer) for r in pack.match)
        ]
        return self._choose(matched, "this JSON document")

    # ----- validation ------------------------------------------------------------------------------------

    def parse(self, data: bytes, format_id: str | None = None) -> ParsedDocument:
        """Parse under the caps and pick the pack: the caller's ``format_id`` or detection."""
        forced: FormatPack | None = None
        if format_id is not None:
            forced = self.catalog.get(format_id)
            if forced is None:
                raise UnknownFormat(f"unknown format {format_id!r}", candidates=self.catalog.ids)
        syntax = sniff_syntax(data)
        if forced is not None and forced.syntax != syntax:
            raise MalformedDocument(f"format {forced.id} expects {forced.syntax.upper()}, got {syntax.upper()}")
        if syntax == "xml":
            tree = parse_xml(data, self.limits)
            if forced is None:
                return ParsedDocument(data, self.detect_xml(tree), True, tree)
            self._check_forced_root(forced, tree)
            return ParsedDocument(data, forced, False, tree)
        value = parse_json(data, self.limits)
        return ParsedDocument(data, forced or self.detect_json(value), forced is None, value)

    def validate(self, data: bytes, format_id: str | None = None) -> ValidationReport:
        return self.validate_parsed(self.parse(data, format_id))

    def validate_parsed(self, document: ParsedDocument) -> ValidationReport:
        pack = document.pack
        steps: list[tuple[str, list[Finding]]] = []
        if pack.syntax == "xml":
            root_name = etree.QName(document.tree.getroot()).localname
            if pack.xsd is not None:
                xsd_path = self._xsd_for(pack, root_name)
                if xsd_path is None:
                    raise UnsupportedFormat(f"format {pack.id} has no schema for root element {root_name!r}")
                steps.append((f"xsd:{xsd_path.name}", self._run_xsd(xsd_path, document.tree)))
            for index, spec in enumerate(pack.schematron):
                compiled = self._schematron(pack, index)
                params = {name: self._parameter(pack, source) for name, source in spec.parameters}
                steps.append((f"schematron:{Path(spec.file).name}", compiled.run(document.tree, params)))
        else:
            assert pack.json_schema is not None
            steps.append((f"json-schema:{Path(pack.json_schema).name}", self._run_json_schema(pack, document.tree)))
        return self._report(document, steps)

    def _run_xsd(self, path: Path, tree: etree._ElementTree) -> list[Finding]:
        schema, lock = self._xsd(path)
        with lock:  # the schema object's error_log is per object, not per call
            if schema.validate(tree):
                return []
            entries: list[Any] = list(schema.error_log)  # type: ignore[call-overload]
        return [
            Finding(
                area="schema",
                severity="error",
                message=entry.message,
                line=entry.line or None,
                column=entry.column or None,
                path=entry.path or None,
                rule=path.name,
            )
            for entry in entries
        ]

    def _run_json_schema(self, pack: FormatPack, value: Any) -> list[Finding]:
        validator = self._json_validator(pack)
        return [
            Finding(
                area="schema",
                severity="error",
                message=error.message,
                path=_json_pointer(error.absolute_path),
                rule=str(error.validator),
            )
            for error in sorted(validator.iter_errors(value), key=lambda e: list(map(str, e.absolute_path)))
        ]

    def _report(self, document: ParsedDocument, steps: list[tuple[str, list[Finding]]]) -> ValidationReport:
        # model_construct: every value here is built by the engine itself, so re-validating it is pure overhead
        # (measured: most of the engine's cost over raw lxml on small XSD-only documents).
        findings = [finding for _, step_findings in steps for finding in step_findings]
        pack = document.pack
        return ValidationReport.model_construct(
            valid=all(f.severity != "error" for f in findings),
            format=FormatRef.model_construct(
                id=pack.id, version=pack.version, digest=pack.digest, detected=document.detected
            ),
            sha256=hashlib.sha256(document.data).hexdigest(),
            steps=[
                StepResult.model_construct(
                    step=name,
                    errors=sum(f.severity == "error" for f in fs),
                    warnings=sum(f.severity == "warning" for f in fs),
                )
                for name, fs in steps
            ],
            findings=findings,
        )
