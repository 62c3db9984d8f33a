"""Reader for VEFA ``testSet`` files: rule-level Schematron unit tests (the EN 16931 style).

Each ``test`` holds one small document and says which rule must fire (``error``/``warning``) or must not
(``success``). The CoO rules are tested with files of the same shape.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from lxml import etree

from schemas.xmlparse import parse_pack_file

VEFA = "http://difi.no/xsd/vefa/validator/1.0"


@dataclass(frozen=True)
class RuleTest:
    case_id: str  # "<folder>/<file>#<n>" (n counts from 1 within the file)
    expectation: str  # success | error | warning
    rule: str
    document: bytes


def read_test_sets(folder: Path) -> Iterator[RuleTest]:
    for path in sorted(folder.glob("*.xml")):
        root = parse_pack_file(path).getroot()
        for number, test in enumerate(root.findall(f"{{{VEFA}}}test"), start=1):
            assertion = test.find(f"{{{VEFA}}}assert")
            assert assertion is not None, f"{path}: test {number} has no assert"
            documents = [child for child in test if isinstance(child.tag, str) and child.tag != assertion.tag]
            assert len(documents) == 1, f"{path}: test {number} holds {len(documents)} documents"
            body = etree.tostring(documents[0])
            for expected in assertion:
                kind = etree.QName(expected).localname
                if kind in ("success", "error", "warning"):
                    yield RuleTest(
                        case_id=f"{folder.name}/{path.name}#{number}",
                        expectation=kind,
                        rule=(expected.text or "").strip(),
                        document=body,
                    )
