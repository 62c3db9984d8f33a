"""THREATS.md row 4: one parse function. Any other XML parser in the product code fails this test."""

from __future__ import annotations

import re
from pathlib import Path

from tests.conftest import ROOT

PRODUCT_PACKAGES = ("gateway", "schemas", "adapters", "signing", "migrations")
# The only module allowed to call a parser: it holds the hardened configuration.
PARSE_MODULE = ROOT / "schemas" / "xmlparse.py"
FORBIDDEN = re.compile(
    r"""
    \betree\.(fromstring|parse|XML|iterparse|XMLParser|HTMLParser|XMLPullParser|fromstringlist|XMLID)\b
  | \bfrom\s+lxml\.etree\s+import\b.*\b(fromstring|parse|XML|iterparse|XMLParser)\b
  | \bimport\s+xml\.(etree|dom|sax|parsers)
  | \bfrom\s+xml\.(etree|dom|sax|parsers)
  | \bminidom\b | \bexpat\b | \bdefusedxml\b
  | \bxmlschema\.(XMLSchema\w*|to_dict|to_json|validate|iter_errors|XMLResource)\b
  | \bparse_xml\s*\(\s*xml_(text|file_name)
  | \.parse_xml\s*\(
  | \bXMLSchema\s*\(\s*file\s*=
  | \bXSLT\s*\(\s*etree\.parse
    """,
    re.VERBOSE,
)


def _product_sources() -> list[Path]:
    return [p for package in PRODUCT_PACKAGES if (ROOT / package).is_dir() for p in (ROOT / package).rglob("*.py")]


def test_no_xml_parser_outside_the_parse_module() -> None:
    offenders = []
    for path in _product_sources():
        if path == PARSE_MODULE:
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if FORBIDDEN.search(line):
                offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert not offenders, "XML parsed outside schemas/xmlparse.py:\n" + "\n".join(offenders)


def test_the_scan_would_catch_the_usual_parsers() -> None:
    for line in [
        "root = etree.fromstring(data)",
        "tree = etree.parse(path)",
        "from xml.etree import ElementTree",
        "import xml.dom.minidom",
        "for event, el in etree.iterparse(f):",
        "schema = xmlschema.XMLSchema('x.xsd')",
        "node = proc.parse_xml(xml_text=s)",
    ]:
        assert FORBIDDEN.search(line), line


def test_the_parse_module_is_the_one_that_configures_the_parser() -> None:
    text = PARSE_MODULE.read_text()
    for setting in ("resolve_entities=False", "load_dtd=False", "no_network=True", "huge_tree=False"):
        assert setting in text
