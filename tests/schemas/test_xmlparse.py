"""The one hardened XML parse (THREATS.md rows 1–3): refused at the DOCTYPE, before any expansion or fetch."""

from __future__ import annotations

import os
import subprocess
import sys
import tracemalloc
from pathlib import Path

import pytest

from schemas.errors import DepthLimitExceeded, ElementLimitExceeded, ForbiddenConstruct, MalformedDocument
from schemas.xmlparse import XmlLimits, parse_xml

XXE_FILE = b"""<?xml version="1.0"?>
<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/hostname">]>
<r>&x;</r>"""
XXE_HTTP = b"""<?xml version="1.0"?>
<!DOCTYPE r SYSTEM "http://127.0.0.1:9/evil.dtd">
<r/>"""
BILLION_LAUGHS = (
    b'<?xml version="1.0"?>\n<!DOCTYPE lolz [<!ENTITY lol "lol">'
    + b"".join(
        f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">'.encode() for i in range(1, 10)
    )
    + b"]>\n<lolz>&lol9;</lolz>"
)
QUADRATIC = b'<?xml version="1.0"?><!DOCTYPE q [<!ENTITY a "' + b"x" * 50_000 + b'">]><q>' + b"&a;" * 50_000 + b"</q>"


def nested(depth: int) -> bytes:
    return b"<a>" * depth + b"</a>" * depth


@pytest.mark.parametrize("payload", [XXE_FILE, XXE_HTTP], ids=["file-entity", "http-dtd"])
def test_external_entities_and_dtds_are_refused_at_the_doctype(payload: bytes) -> None:
    with pytest.raises(ForbiddenConstruct, match="DOCTYPE"):
        parse_xml(payload)


@pytest.mark.parametrize("payload", [BILLION_LAUGHS, QUADRATIC], ids=["billion-laughs", "quadratic-blowup"])
def test_entity_expansion_bombs_are_refused_without_expanding(payload: bytes) -> None:
    tracemalloc.start()
    try:
        with pytest.raises(ForbiddenConstruct):
            parse_xml(payload)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # Expanded, billion laughs is ~3 GB and the quadratic payload 2.5 GB; refusing before expansion stays tiny.
    assert peak < 5 * 1024 * 1024


def test_a_document_nested_300_deep_is_refused() -> None:
    with pytest.raises(DepthLimitExceeded):
        parse_xml(nested(300))


def test_the_default_depth_cap_is_libxml2s_256_enforced_while_parsing() -> None:
    parse_xml(nested(256))
    with pytest.raises(DepthLimitExceeded, match="deeper than 256"):
        parse_xml(nested(257))


def test_a_lower_depth_cap_is_checked_after_the_parse() -> None:
    parse_xml(nested(10), XmlLimits(max_depth=10))
    with pytest.raises(DepthLimitExceeded, match="deeper than 10"):
        parse_xml(nested(11), XmlLimits(max_depth=10))


def test_too_many_elements_are_refused() -> None:
    document = b"<r>" + b"<e/>" * 1001 + b"</r>"
    parse_xml(document, XmlLimits(max_elements=1002))
    with pytest.raises(ElementLimitExceeded):
        parse_xml(document, XmlLimits(max_elements=1001))


def test_the_densest_document_under_the_count_shortcut_fits_the_cap() -> None:
    # 4 bytes per element is the densest XML can be, so shorter documents skip the count safely.
    cap = 250
    densest = b"<r>" + b"<e/>" * (cap - 2) + b"</r>"  # cap - 1 elements in 4*cap - 1 bytes
    assert len(densest) < 4 * cap
    parse_xml(densest, XmlLimits(max_elements=cap))
    with pytest.raises(ElementLimitExceeded):
        parse_xml(b"<r>" + b"<e/>" * cap + b"</r>", XmlLimits(max_elements=cap))


def test_a_byte_over_the_size_cap_is_refused() -> None:
    document = b"<r>" + b"x" * 93 + b"</r>"
    assert len(document) == 100
    parse_xml(document, XmlLimits(max_bytes=100))
    with pytest.raises(MalformedDocument, match="100-byte limit"):
        parse_xml(document + b" ", XmlLimits(max_bytes=100))


@pytest.mark.parametrize(
    "payload", [b"", b"<a>", b"<a></b>", b"not xml"], ids=["empty", "unclosed", "mismatch", "text"]
)
def test_malformed_xml_is_malformed(payload: bytes) -> None:
    with pytest.raises(MalformedDocument):
        parse_xml(payload)


def test_line_numbers_refer_to_the_submitted_bytes() -> None:
    tree = parse_xml(b"<?xml version='1.0'?>\n<a>\n  <b/>\n</a>")
    line: object = tree.getroot()[0].sourceline  # lxml-stubs type it oddly
    assert line == 3


def test_utf16_documents_are_parsed_and_their_doctype_refused() -> None:
    assert parse_xml("<a>ü</a>".encode("utf-16")).getroot().text == "ü"
    with pytest.raises(ForbiddenConstruct):
        parse_xml(XXE_FILE.decode().replace('version="1.0"', 'version="1.0" encoding="UTF-16"').encode("utf-16"))


@pytest.mark.parametrize(
    "payload",
    [
        b'<?xml version="1.0"?>\n<!-- a comment first -->\n<!DOCTYPE r SYSTEM "file:///etc/hostname"><r/>',
        b'<?xml version="1.0"?><?pi x?><!DOCTYPE r SYSTEM "http://127.0.0.1:9/x.dtd"><r/>',
        b'\xef\xbb\xbf<!DOCTYPE r [<!ENTITY x "y">]><r>&x;</r>',
    ],
    ids=["after-comment", "after-pi", "after-bom"],
)
def test_the_doctype_is_refused_before_libxml2_sees_the_document(payload: bytes) -> None:
    # libxml2 itself would answer "failed to load external entity"; our message proves it never ran.
    with pytest.raises(ForbiddenConstruct, match=r"^a DOCTYPE declaration is not allowed"):
        parse_xml(payload)


@pytest.mark.parametrize("bom", [b"", b"\xff\xfe\x00\x00"], ids=["no-bom", "bom"])
def test_utf32_documents_are_refused_before_parsing(tmp_path: object, bom: bytes) -> None:
    # A UTF-32-LE DOCTYPE looks like UTF-16 to a two-byte check; libxml2 would open the named file.
    payload = bom + '<!DOCTYPE r SYSTEM "file:///etc/hostname"><r/>'.encode("utf-32-le")[len(bom) and 4 :]
    with pytest.raises(MalformedDocument, match="UTF-32"):
        parse_xml(payload)


_OPEN_PROBE = """
import sys
from lxml import etree
from schemas import xmlparse
parser = xmlparse._PARSER if sys.argv[2] == "document" else etree.XMLParser(
    resolve_entities=False, load_dtd=False, no_network=True, collect_ids=False
)
document = ('<!DOCTYPE r SYSTEM "file://' + sys.argv[1] + '"><r/>').encode()
try:
    etree.fromstring(document, parser)
except etree.XMLSyntaxError:
    pass
print("finished")
"""


@pytest.mark.parametrize(("parser", "opens"), [("document", False), ("collect-ids-off", True)])
def test_the_document_parser_never_opens_an_external_subset(tmp_path: Path, parser: str, opens: bool) -> None:
    # Second fence behind the prolog scan, exercised on the parser itself: the DTD named is a FIFO, so a parser
    # that tries to open it blocks (and the child times out). The control is a parser configured with
    # collect_ids=False, which does open it: the probe can see an open.
    fifo = tmp_path / "subset.dtd"
    os.mkfifo(fifo)
    try:
        result = subprocess.run(
            [sys.executable, "-c", _OPEN_PROBE, str(fifo), parser], capture_output=True, text=True, timeout=5
        )
        blocked = False
    except subprocess.TimeoutExpired:
        blocked = True
    assert blocked is opens
    if not opens:
        assert result.stdout.strip() == "finished", result.stderr
