"""The one place where XML is parsed: documents from callers, pack files, and XSLT output.

Every other module receives parsed trees from here; a test greps the code base for any other parser.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lxml import etree

from schemas.errors import DepthLimitExceeded, ElementLimitExceeded, ForbiddenConstruct, MalformedDocument

if TYPE_CHECKING:
    from saxonche import PySaxonProcessor, PyXdmNode

__all__ = ["XmlLimits", "parse_pack_file", "parse_xml", "to_saxon_node"]


@dataclass(frozen=True, slots=True)
class XmlLimits:
    """Structural caps checked before any expensive step (XSD, Schematron, signature).

    The byte cap is enforced by the HTTP layer before the body reaches the parser;
    ``max_bytes`` here protects callers that pass bytes directly (CLI, library users).
    """

    max_bytes: int = 20 * 1024 * 1024
    max_depth: int = 256
    max_elements: int = 500_000


# libxml2 refuses nesting deeper than 256 while parsing (without XML_PARSE_HUGE): a cap at that depth costs nothing,
# a lower cap is checked after the parse.
LIBXML2_MAX_DEPTH = 256
# The smallest element is four bytes (``<a/>``): a document shorter than 4 × the cap cannot exceed it.
_MIN_ELEMENT_BYTES = 4


# resolve_entities=False: entity references stay unexpanded, so a billion-laughs payload costs nothing
# before the DOCTYPE check below rejects it. load_dtd/no_network: no external fetch of any kind.
# huge_tree=False keeps libxml2's own hard limits (depth 256, text node size) as a second fence.
def _hardened_parser() -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False,
        load_dtd=False,
        dtd_validation=False,
        no_network=True,
        huge_tree=False,
        remove_blank_text=False,
        # collect_ids stays at its default: with collect_ids=False libxml2 opens an external DTD subset named in
        # a DOCTYPE even though DTD loading is off (measured: a FIFO as the subset blocks the parse).
    )


class _RefuseExternalResources(etree.Resolver):
    """Answer every external load (DTD subset, parameter entity, XInclude) with nothing.

    libxml2 still *opens* an external DTD subset or parameter entity named in a DOCTYPE when DTD loading is off,
    before any check after the parse could refuse it; for documents from callers, no file is ever read.
    """

    def resolve(self, system_url: str, public_id: str, context: object = None) -> Any:
        return self.resolve_empty(context)  # type: ignore[attr-defined]  # lxml-stubs lack resolve_empty


# Documents from callers: nothing external is ever resolved.
_PARSER = _hardened_parser()
_PARSER.resolvers.add(_RefuseExternalResources())
# Pack files (XSD, Schematron, XSLT) are ours: the same settings, but relative xs:import/xs:include must resolve.
_PACK_PARSER = _hardened_parser()


# The prolog: XML declaration, then any whitespace, comments and processing instructions. A DOCTYPE can only
# appear right after it, so looking there refuses every DTD before libxml2 reads (or tries to fetch) anything.
_PROLOG_BYTES = re.compile(rb"(?:\xef\xbb\xbf)?\s*(?:<\?xml\s.*?\?>)?(?:\s+|<!--.*?-->|<\?.*?\?>)*", re.S)
_PROLOG_TEXT = re.compile(r"\ufeff?\s*(?:<\?xml\s.*?\?>)?(?:\s+|<!--.*?-->|<\?.*?\?>)*", re.S)
_UTF16_STARTS = {b"\xff\xfe": "utf-16", b"\xfe\xff": "utf-16", b"<\x00": "utf-16-le", b"\x00<": "utf-16-be"}
# UTF-32 (with or without a BOM) starts like UTF-16 to a two-byte look; trade documents are UTF-8 or UTF-16, so
# UTF-32 is refused rather than scanned.
_UTF32_STARTS = (b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff", b"<\x00\x00\x00", b"\x00\x00\x00<")


def _has_doctype(data: bytes) -> bool:
    codec = _UTF16_STARTS.get(data[:2])
    if codec is None:  # ASCII-compatible encodings: markup characters are single bytes
        end = _PROLOG_BYTES.match(data)
        return data[end.end() if end else 0 :].startswith(b"<!DOCTYPE")
    text = data.decode(codec, errors="replace")
    match = _PROLOG_TEXT.match(text)
    return text[match.end() if match else 0 :].startswith("<!DOCTYPE")


def _depth_probe(depth: int) -> etree.XPath:
    # An element exists at depth > cap iff this path matches; evaluated in C, stops at the first hit.
    return etree.XPath("boolean(/" + "/".join(["*"] * (depth + 1)) + ")")


_DEPTH_PROBES: dict[int, etree.XPath] = {}
_COUNT_ELEMENTS = etree.XPath("count(//*)")


def parse_xml(data: bytes, limits: XmlLimits | None = None) -> etree._ElementTree:
    """Parse untrusted bytes into a tree, or raise a :class:`schemas.errors.DocumentError`.

    Rejects any DOCTYPE (XXE, entity expansion), documents deeper than ``max_depth`` and documents with more
    than ``max_elements`` elements. Line numbers of the returned tree refer to ``data``.
    """
    return _parse(data, limits or XmlLimits(), _PARSER, None)


def _parse(data: bytes, limits: XmlLimits, parser: etree.XMLParser, base_url: str | None) -> etree._ElementTree:
    if len(data) > limits.max_bytes:
        raise MalformedDocument(f"document is {len(data)} bytes, over the {limits.max_bytes}-byte limit")
    if data.startswith(_UTF32_STARTS):
        raise MalformedDocument("UTF-32 documents are not accepted: send UTF-8 or UTF-16")
    if _has_doctype(data):
        raise ForbiddenConstruct("a DOCTYPE declaration is not allowed (DTDs and entities are refused)")
    try:
        root = etree.fromstring(data, parser, base_url=base_url) if base_url else etree.fromstring(data, parser)
    except etree.XMLSyntaxError as exc:
        message = str(exc)
        if "Excessive depth" in message:
            raise DepthLimitExceeded(
                f"element nesting deeper than {min(limits.max_depth, LIBXML2_MAX_DEPTH)}"
            ) from None
        raise MalformedDocument(f"not well-formed XML: {message}", line=exc.lineno or None) from None
    except ValueError as exc:  # e.g. a str with an encoding declaration, or an empty body
        raise MalformedDocument(f"not well-formed XML: {exc}") from None
    if root is None:
        raise MalformedDocument("not well-formed XML: no root element")
    tree = root.getroottree()
    docinfo: Any = tree.docinfo  # lxml-stubs lack DocInfo's DTD attributes
    if docinfo.doctype or docinfo.internalDTD is not None or docinfo.externalDTD is not None:
        # Second fence, for encodings the prolog scan does not decode (e.g. UTF-32, EBCDIC).
        raise ForbiddenConstruct("a DOCTYPE declaration is not allowed (DTDs and entities are refused)")
    if limits.max_depth < LIBXML2_MAX_DEPTH:
        probe = _DEPTH_PROBES.get(limits.max_depth)
        if probe is None:
            probe = _DEPTH_PROBES.setdefault(limits.max_depth, _depth_probe(limits.max_depth))
        if probe(tree):
            raise DepthLimitExceeded(f"element nesting deeper than {limits.max_depth}")
    if len(data) >= _MIN_ELEMENT_BYTES * limits.max_elements:
        counted = _COUNT_ELEMENTS(tree)
        count = int(counted) if isinstance(counted, float) else 0
        if count > limits.max_elements:
            raise ElementLimitExceeded(f"{count} elements, over the limit of {limits.max_elements}")
    return tree


_PACK_LIMITS = XmlLimits(max_bytes=64 * 1024 * 1024, max_depth=200, max_elements=5_000_000)


def parse_pack_file(path: Path) -> etree._ElementTree:
    """Parse a file shipped in a format pack (XSD, Schematron, XSLT) with the same hardened parser.

    The tree keeps the file's URL as its base, so relative ``xs:import``/``xs:include`` resolve.
    """
    return _parse(path.read_bytes(), _PACK_LIMITS, _PACK_PARSER, path.resolve().as_uri())


def to_saxon_node(processor: PySaxonProcessor, tree: etree._ElementTree) -> PyXdmNode:
    """Hand a tree that passed :func:`parse_xml` to Saxon (for XSLT 2.0 Schematron).

    Saxon re-parses the serialised tree; the input carries no DOCTYPE by construction, and line numbers are
    not taken from Saxon (findings are mapped back onto ``tree``).
    """
    text = etree.tostring(tree, encoding="unicode")
    return processor.parse_xml(xml_text=text)
