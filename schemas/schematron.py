"""Schematron execution: ISO Schematron compiled to XSLT 1.0 (lxml) or a precompiled XSLT 2.0 SVRL producer (Saxon).

Both produce SVRL; findings are mapped back onto the caller's lxml tree so that every one carries the line of the
node it is about. SVRL locations are XPath 2.0 (``*:Name[namespace-uri()='…'][1]``) that lxml cannot evaluate;
they are walked step by step over the caller's tree instead.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from lxml import etree, isoschematron  # type: ignore[attr-defined]  # not in lxml-stubs

from schemas.errors import ValidationEngineError
from schemas.report import Finding
from schemas.xmlparse import parse_pack_file, parse_xml, to_saxon_node

if TYPE_CHECKING:
    from saxonche import PySaxonProcessor

__all__ = ["MAX_FINDINGS_PER_STEP", "CompiledSchematron", "IsoXslt1Schematron", "SaxonSchematron"]

SVRL = "http://purl.oclc.org/dsdl/svrl"
XSL = "http://www.w3.org/1999/XSL/Transform"
SCH = "http://purl.oclc.org/dsdl/schematron"
_NS = {"svrl": SVRL}

# One step of an SVRL location, in the forms the two skeletons write:
#   *[local-name()='Name' and namespace-uri()='uri'][k]   (lxml's XSLT 1.0 skeleton)
#   *:Name[namespace-uri()='uri'][k]                      (XPath 2.0, the EN 16931 XSLT under Saxon)
#   Name[k]                                                (no namespace)
# and attribute, text or other node steps, which end the walk at their element. The namespace is matched lazily up
# to "']" so that a URI containing an apostrophe (legal, and unquotable in these strings) still resolves.
_STEP = re.compile(
    r"/(?:\*\[local-name\(\)='(?P<l1>[^']*)' and namespace-uri\(\)='(?P<n1>.*?)'\]"
    r"|\*:(?P<l2>[^\[/]+)\[namespace-uri\(\)='(?P<n2>.*?)'\]"
    r"|(?P<l3>[A-Za-z_][\w.\-]*)"
    r"|(?P<other>@|text\(|comment\(|processing-instruction\(|node\())"
    r"(?:\[(?P<k>\d+)\])?"
)
# More findings than this from one Schematron are summarised: the report stays bounded whatever the document.
MAX_FINDINGS_PER_STEP = 1000


class _Locator:
    """Maps SVRL locations onto the caller's tree by walking child lists (cached), never by compiling XPath."""

    def __init__(self, tree: etree._ElementTree) -> None:
        self.root = tree.getroot()
        self._children: dict[tuple[etree._Element, str], list[etree._Element]] = {}

    def element(self, location: str) -> etree._Element:
        """The deepest element the location reaches (at least the root, so every finding gets a line)."""
        node: etree._Element | None = None
        position = 0
        while position < len(location):
            step = _STEP.match(location, position)
            if step is None or step.group("other"):
                break
            local = step.group("l1") or step.group("l2") or step.group("l3") or ""
            namespace = step.group("n1") or step.group("n2") or ""
            tag = f"{{{namespace}}}{local}" if namespace else local
            if node is None:
                candidates = [self.root] if self.root.tag == tag else []
            else:
                key = (node, tag)
                if key not in self._children:
                    self._children[key] = list(node.iterchildren(tag))
                candidates = self._children[key]
            index = int(step.group("k") or 1) - 1
            if index >= len(candidates):
                break
            node = candidates[index]
            position = step.end()
        return node if node is not None else self.root


def _findings_from_svrl(svrl: etree._ElementTree, tree: etree._ElementTree, source: str) -> list[Finding]:
    findings: list[Finding] = []
    locator = _Locator(tree)
    nodes = svrl.iter(f"{{{SVRL}}}failed-assert", f"{{{SVRL}}}successful-report")
    for node in nodes:
        if len(findings) == MAX_FINDINGS_PER_STEP:
            remaining = 1 + sum(1 for _ in nodes)
            findings.append(
                Finding(
                    area="schematron",
                    severity="info",
                    message=f"{remaining} more finding(s) from {source} not listed (at most {MAX_FINDINGS_PER_STEP})",
                    line=locator.root.sourceline,
                    rule=source,
                )
            )
            break
        is_assert = node.tag == f"{{{SVRL}}}failed-assert"
        text = " ".join("".join(str(t) for t in node.itertext()).split())
        flag = (node.get("flag") or node.get("role") or "").lower()
        severity: Literal["error", "warning", "info"]
        if flag in ("warning", "warn"):
            severity = "warning"
        elif flag in ("info", "information"):
            severity = "info"
        elif is_assert or flag in ("fatal", "error"):
            severity = "error"
        else:
            severity = "info"
        location = node.get("location") or ""
        line = locator.element(location).sourceline
        findings.append(
            Finding(
                area="schematron",
                severity=severity,
                message=text or node.get("test", ""),
                line=line if isinstance(line, int) else None,
                column=None,
                path=location or None,
                rule=node.get("id") or source,
            )
        )
    return findings


class CompiledSchematron:
    """A Schematron ready to run against parsed documents."""

    source: str

    def run(self, tree: etree._ElementTree, parameters: Mapping[str, str]) -> list[Finding]:
        raise NotImplementedError


class IsoXslt1Schematron(CompiledSchematron):
    """An ISO Schematron (queryBinding xslt) compiled once by lxml's bundled skeleton.

    Top-level ``sch:let``s named in ``parameter_names`` become ``xsl:param``s, so the engine can pass code lists
    and today's date at run time. The stylesheet runs with file and network access denied.
    """

    def __init__(self, path: Path, parameter_names: tuple[str, ...]) -> None:
        self.source = path.name
        source = parse_pack_file(path)
        declared = {let.get("name") for let in source.getroot().findall(f"{{{SCH}}}let")}
        missing = set(parameter_names) - declared
        if missing:
            raise ValidationEngineError(f"{path}: no schema-level sch:let for parameters {sorted(missing)}")
        schematron = isoschematron.Schematron(source, store_xslt=True)
        stylesheet = schematron.validator_xslt
        if stylesheet is None:  # pragma: no cover - store_xslt=True guarantees it
            raise ValidationEngineError(f"{path}: Schematron did not compile")
        root = stylesheet.getroot()
        # Declare each run-time parameter exactly once as a global xsl:param, whatever the skeleton emitted for
        # the schema-level let (a param in lxml 6.1's skeleton, a variable in others).
        for node in [*root.findall(f"{{{XSL}}}variable"), *root.findall(f"{{{XSL}}}param")]:
            if node.get("name") in parameter_names:
                root.remove(node)
        for position, name in enumerate(parameter_names):
            root.insert(position, etree.Element(f"{{{XSL}}}param", name=name))
        deny_all = etree.XSLTAccessControl.DENY_ALL  # type: ignore[attr-defined]  # not in lxml-stubs
        self._transform: Any = etree.XSLT(stylesheet, access_control=deny_all)

    def run(self, tree: etree._ElementTree, parameters: Mapping[str, str]) -> list[Finding]:
        params = {name: etree.XSLT.strparam(value) for name, value in parameters.items()}
        try:
            result = self._transform(tree, **params)
        except etree.XSLTApplyError as exc:
            raise ValidationEngineError(f"Schematron {self.source} failed to run: {exc}") from None
        return _findings_from_svrl(result, tree, self.source)


class SaxonSchematron(CompiledSchematron):
    """A precompiled XSLT 2.0 Schematron (e.g. the EN 16931 artefacts) run by Saxon-HE.

    One Saxon processor serves the process; calls are serialised because SaxonC's thread attachment is not
    something to rely on under a thread pool.
    """

    _processor: PySaxonProcessor | None = None
    _lock = threading.Lock()

    def __init__(self, path: Path) -> None:
        from saxonche import PySaxonApiError, PySaxonProcessor

        self.source = path.name
        with SaxonSchematron._lock:
            if SaxonSchematron._processor is None:
                SaxonSchematron._processor = PySaxonProcessor(license=False)
            compiler = SaxonSchematron._processor.new_xslt30_processor()
            try:
                self._executable = compiler.compile_stylesheet(stylesheet_file=str(path))
            except PySaxonApiError as exc:
                raise ValidationEngineError(f"{path}: XSLT 2.0 Schematron did not compile: {exc}") from None

    def run(self, tree: etree._ElementTree, parameters: Mapping[str, str]) -> list[Finding]:
        from saxonche import PySaxonApiError

        processor = SaxonSchematron._processor
        assert processor is not None
        with SaxonSchematron._lock:
            try:
                output = self._executable.transform_to_string(xdm_node=to_saxon_node(processor, tree))
            except PySaxonApiError as exc:
                raise ValidationEngineError(f"Schematron {self.source} failed to run: {exc}") from None
        if not output:
            raise ValidationEngineError(f"Schematron {self.source} produced no SVRL")
        svrl = parse_xml(output.encode("utf-8"))
        return _findings_from_svrl(svrl, tree, self.source)
