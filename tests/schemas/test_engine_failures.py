"""A validation step that cannot run makes the whole validation fail loudly: never a "valid" report."""

from __future__ import annotations

from pathlib import Path

import pytest

from schemas.catalog import load_catalog
from schemas.engine import ValidationEngine
from schemas.errors import ValidationEngineError

BROKEN_PACK = """
[[pack]]
id = "broken"
title = "A pack whose schema cannot compile"
version = "1"
syntax = "xml"
resources = ["Doc.xsd"]
xsd = "{xsd}"
[[pack.match]]
namespace = "urn:example:broken"
root = "Doc"
"""


def broken_catalog(folder: Path, *, per_root: bool = False) -> Path:
    """A catalog with one broken pack; ``per_root`` names the XSD by root, so start-up warm-up skips it."""
    (folder / "Doc.xsd").write_text(
        '<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema">'
        '<xs:element name="Doc" type="nope:Missing"/></xs:schema>'
    )
    catalog = folder / "broken.toml"
    catalog.write_text(BROKEN_PACK.replace("{xsd}", "{root}.xsd" if per_root else "Doc.xsd"))
    return catalog


def test_a_schema_that_cannot_compile_is_an_engine_error_not_a_verdict(tmp_path: Path) -> None:
    engine = ValidationEngine(load_catalog(broken_catalog(tmp_path)))
    with pytest.raises(ValidationEngineError, match="did not compile"):
        engine.validate(b'<Doc xmlns="urn:example:broken"/>')
